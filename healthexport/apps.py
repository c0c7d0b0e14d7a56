from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _partitions_ahead(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """After migrate, every partitioned table has this month's partition and the next ones."""
    from healthexport.lib import partitions

    partitions.ensure_all_ahead(using=using)


class HealthexportConfig(AppConfig):
    name = "healthexport"
    verbose_name = "healthexport"

    def ready(self) -> None:
        from healthexport import checks, instrumentation  # noqa: F401  (checks registers the system checks)
        from healthexport.lib import partitions
        from healthexport.lib.prometheus import register_gauge_refresher

        # post_migrate is sent once per app with models; the check is one cheap query per table.
        post_migrate.connect(_partitions_ahead, dispatch_uid="healthexport_partitions_ahead")

        def refresh_partitions_ahead() -> None:
            for table in partitions.partitioned_tables():
                instrumentation.PARTITIONS_AHEAD.labels(table).set(partitions.months_ahead(table))

        register_gauge_refresher(refresh_partitions_ahead)
