from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _partitions_and_grants(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """After migrate, every partitioned table has its whole window of partitions (lib.partitions),
    and the app role, when it is not the owner, its privileges on every table (lib.roles)."""
    from django.conf import settings

    from healthexport.lib import partitions, roles

    partitions.ensure_all(using=using)
    if settings.DATABASE_APP_ROLE:
        roles.grant_app_role(settings.DATABASE_APP_ROLE, using=using)


class HealthexportConfig(AppConfig):
    name = "healthexport"
    verbose_name = "healthexport"

    def ready(self) -> None:
        from healthexport import checks, instrumentation  # noqa: F401  (checks registers the system checks)
        from healthexport.lib import partitions
        from healthexport.lib.prometheus import register_gauge_refresher

        # post_migrate is sent once per app with models; the check is one cheap query per table.
        post_migrate.connect(_partitions_and_grants, dispatch_uid="healthexport_partitions_and_grants")

        def refresh_partitions_ahead() -> None:
            for table in partitions.partitioned_tables():
                instrumentation.PARTITIONS_AHEAD.labels(table).set(partitions.months_ahead(table))

        register_gauge_refresher(refresh_partitions_ahead)
