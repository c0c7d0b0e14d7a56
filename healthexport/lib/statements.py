"""Statements every request makes, cheaper than through the ORM and Django's cursor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection, models
from django.db.models import NOT_PROVIDED

# (model, database vendor) → (INSERT statement, the fields it writes, in order)
_statements: dict[tuple[type[models.Model], str], tuple[str, list[models.Field]]] = {}


def insert_new(instance: models.Model) -> None:
    """INSERT ``instance`` as a new row and set its primary key, as ``save()`` would for a model
    with no ``save()`` logic and no signal receivers of its own (neither runs here).

    For the rows every request writes (an export's, its audit event): Django compiles a model's
    INSERT anew at each save, which cost ~0.6 ms of CPU, six times running it.
    """
    model = type(instance)
    statement = _statements.get((model, connection.vendor))
    if statement is None:
        statement = _statements[(model, connection.vendor)] = _insert_statement(model)
    sql, fields = statement
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    instance.pk = execute_prepared(sql, values)[0]
    instance._state.adding = False
    instance._state.db = connection.alias


def _insert_statement(model: type[models.Model]) -> tuple[str, list[models.Field]]:
    meta, quote = model._meta, connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field and not field.generated]
    if meta.auto_field is None or any(field.db_default is not NOT_PROVIDED for field in fields):
        raise ValueError(f"{meta.label}: insert_new writes models with an automatic key and no database defaults")
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"  # noqa: S608 (model names)
        f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.auto_field.column)}"
    )
    return sql, fields


def execute_prepared(sql: str, params: Sequence[Any]) -> tuple | None:
    """Run a statement every request makes and return its first row, if any.

    On PostgreSQL the server binds the parameters and the statement is prepared once per
    connection: Django binds them into the SQL text itself, which escaped an export's compressed
    body as text (~10 KB for an hourly sync, megabytes for a backfill) at more CPU than the
    statement took to run, and had it parsed and planned each time.
    """
    if connection.vendor == "postgresql":
        with server_bound_cursor() as cursor:
            found = cursor.execute(sql, params, prepare=True)
            return found.fetchone() if found.description else None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


@contextmanager
def server_bound_cursor() -> Iterator[psycopg.Cursor]:
    """psycopg's own cursor on Django's connection (PostgreSQL only): the server binds the
    parameters, a statement can be prepared (``prepare=True``) and rows fetched in binary
    (``binary=True``). Its errors are raised as Django's, as from Django's cursor."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        yield psycopg.Cursor(cursor.connection)
