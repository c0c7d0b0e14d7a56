"""Two database roles on PostgreSQL: the *owner* of the tables, and the *app role* the web and
worker processes connect as, which owns nothing.

Whoever owns a table can TRUNCATE it, DETACH and DROP its partitions and disable its triggers:
the audit trail's append-only guard means little against its owner. So the application runs as
a role with only the privileges it needs (on the audit table INSERT and SELECT, nothing else),
and only migrations and maintenance (``migrate``, ``ensure_partitions``, ``purge_audit``,
``grant_app_role``) connect as the owner, given by ``DATABASE_OWNER_URL``. With the app role
owning nothing, it cannot create partitions either: the whole window is made ahead of time
(healthexport.lib.partitions).

Privileges are granted on the tables the models name (and SELECT on ``django_migrations`` for
``/ready``), never on partitions: rows reach those through their parent, whose privileges
PostgreSQL checks, and addressing a partition directly is refused. A model may narrow its own
with a ``database_privileges`` class attribute.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db import connections

DML = ("SELECT", "INSERT", "UPDATE", "DELETE")


class RoleError(Exception):
    """The role cannot be the app role (missing, a superuser, the owner, or owning tables)."""


def connect_as_owner(using: str = "default") -> None:
    """Point this process's connection at the owner role of ``DATABASE_OWNER_URL`` (no-op when
    unset: one role does everything, as in the embedded default)."""
    if settings.DATABASE_OWNER is None:
        return
    connection = connections[using]
    connection.close()
    connection.settings_dict.update(settings.DATABASE_OWNER)


def table_privileges() -> dict[str, tuple[str, ...]]:
    """Table → the privileges the app role gets on it."""
    privileges = {"django_migrations": ("SELECT",)}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            privileges[model._meta.db_table] = getattr(model, "database_privileges", DML)
    return privileges


def grant_app_role(role: str, *, using: str = "default") -> int:
    """Give ``role`` exactly the privileges of ``table_privileges`` (earlier grants on those tables
    are revoked first, so narrowing one takes effect). Returns the number of tables."""
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            raise RoleError(f"There is no role {role!r}: create it first (CREATE ROLE … LOGIN PASSWORD '…').")
        if found[0]:
            raise RoleError(f"{role!r} is a superuser: it bypasses every privilege. Use a plain role.")
        cursor.execute("SELECT current_user, current_schema(), current_database()")
        owner, schema, database = cursor.fetchone()
        if role == owner:
            raise RoleError(f"{role!r} is the owner this command runs as; the app role must be another one.")
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)"
            " AND relnamespace = current_schema()::regnamespace",
            [role],
        )
        if owned := cursor.fetchone()[0]:
            raise RoleError(f"{role!r} owns {owned} relation(s) here; the app role must own nothing.")
        existing = set(connection.introspection.table_names(cursor))
        granted = {table: privileges for table, privileges in table_privileges().items() if table in existing}
        cursor.execute(f"GRANT CONNECT ON DATABASE {quote(database)} TO {quote(role)}")
        cursor.execute(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(role)}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {quote(role)}")
        for table, privileges in sorted(granted.items()):
            cursor.execute(f"REVOKE ALL ON {quote(table)} FROM {quote(role)}")
            cursor.execute(f"GRANT {', '.join(privileges)} ON {quote(table)} TO {quote(role)}")
    return len(granted)
