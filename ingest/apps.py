from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingestion"

    def ready(self) -> None:
        from healthexport import instrumentation
        from ingest.quality import refresh_data_quality_gauge
        from ingest.queries import active_user_count

        def refresh_active_users() -> None:
            instrumentation.ACTIVE_USERS.set(active_user_count())

        instrumentation.register_gauge_refresher(refresh_active_users)
        instrumentation.register_gauge_refresher(refresh_data_quality_gauge)
