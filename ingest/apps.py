from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingestion"

    def ready(self) -> None:
        from healthexport.lib.prometheus import register_gauge_refresher
        from ingest import instrumentation, openapi  # noqa: F401  (openapi registers schema extensions)
        from ingest.quality import refresh_data_quality_gauge
        from ingest.queries import active_user_count

        def refresh_active_users() -> None:
            instrumentation.ACTIVE_USERS.set(active_user_count())

        register_gauge_refresher(refresh_active_users)
        register_gauge_refresher(refresh_data_quality_gauge)
