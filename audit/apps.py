from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _partitions_ahead(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """After every migrate, this month and the next ones have their audit partition (PostgreSQL)."""
    from audit import partitions
    from audit.models import AuditEvent

    table = AuditEvent._meta.db_table
    if table in connections[using].introspection.table_names():
        partitions.ensure_partitions_ahead(table, using=using)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (connects the admin login receivers)

        post_migrate.connect(_partitions_ahead, sender=self, dispatch_uid="audit_partitions_ahead")
