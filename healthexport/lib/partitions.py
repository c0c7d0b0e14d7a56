"""Monthly range partitions on PostgreSQL, for the audit trail and any other table partitioned by time.

A table partitioned here is ``PARTITION BY RANGE (<a timestamptz or date column>)`` and its partitions
are named ``<table>_pYYYY_MM``, each holding ``[first of the month, first of the next month)`` in UTC.

How a partition comes to exist. There is no DEFAULT partition: rows parked there would make
creating that month's real partition fail later, and a forgotten DEFAULT grows forever.
- Ahead of time: ``ensure_partitions(table, this month, this month + AHEAD_MONTHS)`` runs after every
  ``migrate`` (post_migrate, see ``audit.apps``) and on every ``purge_audit`` run (the daily cron).
- On demand, for any month written: every ORM write of an ``AuditEvent`` calls
  ``ensure_partitions_for`` with its time (a back-dated event of 2015 gets a 2015 partition). A
  per-process cache of months known to exist makes this free after the first write of a month. A
  month enters the cache only after the transaction that saw or created it has committed, so a
  creation that rolled back with its caller is never trusted. (Another process's ``purge_audit``
  may drop a cached month, but only one past retention, which nothing writes to.)

A partition is created as a plain table and then ATTACHed, because on-demand creation runs inside
the caller's transaction: ``ATTACH PARTITION`` takes a SHARE UPDATE EXCLUSIVE lock on the parent,
which lets other sessions keep inserting and reading until that transaction ends, whereas
``CREATE TABLE … PARTITION OF`` would hold ACCESS EXCLUSIVE on the parent as long. A
transaction-scoped advisory lock per table serialises creators, so two processes writing the first
event of a month do not race each other to the same name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, ClassVar, NamedTuple

from django.db import connections, models, router, transaction

AHEAD_MONTHS = 3

_known_months: set[tuple[str, str, date]] = set()


class Partition(NamedTuple):
    name: str
    start: date
    end: date


def month_floor(moment: date | datetime) -> date:
    """The first day of the (UTC) month holding ``moment``."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y_%m}"


def _is_postgres(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def _create_missing(table: str, months: Iterable[date], using: str) -> list[str]:
    connection = connections[using]
    quote = connection.ops.quote_name
    created = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
        existing = {partition.name for partition in list_partitions(table, using=using)}
        for month in sorted(set(months)):
            name = partition_name(table, month)
            if name in existing:
                continue
            # The bounds are formatted from dates (no user input); '+00' pins them to UTC.
            start, end = f"{month:%Y-%m-%d} 00:00:00+00", f"{add_months(month, 1):%Y-%m-%d} 00:00:00+00"
            cursor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(table)} INCLUDING CONSTRAINTS)")
            cursor.execute(
                f"ALTER TABLE {quote(table)} ATTACH PARTITION {quote(name)} FOR VALUES FROM ('{start}') TO ('{end}')"
            )
            created.append(name)
    return created


def ensure_partitions(table: str, first_month: date, last_month: date, *, using: str = "default") -> list[str]:
    """Create the missing monthly partitions of ``table`` from ``first_month`` to ``last_month`` inclusive.

    Returns the names created. Does nothing off PostgreSQL (the embedded SQLite table is plain).
    """
    if not _is_postgres(using):
        return []
    first, last = month_floor(first_month), month_floor(last_month)
    months = []
    while first <= last:
        months.append(first)
        first = add_months(first, 1)
    return _create_missing(table, months, using)


def ensure_partitions_ahead(table: str, *, using: str = "default") -> list[str]:
    """This month and the next ``AHEAD_MONTHS``, so ordinary writes never create a partition themselves."""
    this_month = month_floor(datetime.now(UTC))
    return ensure_partitions(table, this_month, add_months(this_month, AHEAD_MONTHS), using=using)


def ensure_partitions_for(table: str, moments: Iterable[date | datetime | None], *, using: str = "default") -> None:
    """Make sure a partition exists for the month of each moment about to be written (see module doc)."""
    if not _is_postgres(using):
        return
    missing = {month_floor(m) for m in moments if m is not None} - {
        month for alias, name, month in _known_months if alias == using and name == table
    }
    if not missing:
        return
    _create_missing(table, missing, using)
    transaction.on_commit(lambda: _known_months.update((using, table, month) for month in missing), using=using)


def list_partitions(table: str, *, using: str = "default") -> list[Partition]:
    """The monthly partitions of ``table`` that follow our naming, oldest first."""
    if not _is_postgres(using):
        return []
    pattern = re.compile(rf"^{re.escape(table)}_p(\d{{4}})_(\d{{2}})$")
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = to_regclass(%s)",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    partitions = []
    for name in names:
        if match := pattern.match(name):
            start = date(int(match[1]), int(match[2]), 1)
            partitions.append(Partition(name, start, add_months(start, 1)))
    return sorted(partitions, key=lambda partition: partition.start)


def count_rows(partition: str, *, using: str = "default") -> int:
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {connections[using].ops.quote_name(partition)}")  # noqa: S608
        return cursor.fetchone()[0]


def drop_partition(table: str, partition: str, *, using: str = "default") -> None:
    """Detach and drop one whole partition: how expired rows leave a partitioned table (no DELETE)."""
    quote = connections[using].ops.quote_name
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # Deferred foreign-key checks of rows written earlier in this transaction would block the DROP.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {quote(table)} DETACH PARTITION {quote(partition)}")
        cursor.execute(f"DROP TABLE {quote(partition)}")
    _known_months.difference_update({key for key in _known_months if key[0] == using and key[1] == table})


def partitioned_tables(*, using: str = "default") -> list[str]:
    """Every range-partitioned table of the current schema (none off PostgreSQL)."""
    if not _is_postgres(using):
        return []
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace ORDER BY c.relname"
        )
        return [row[0] for row in cursor.fetchall()]


def months_ahead(table: str, *, using: str = "default") -> int:
    """How many monthly partitions exist after the current month (alerts fire below 2)."""
    this_month = month_floor(datetime.now(UTC))
    return sum(1 for partition in list_partitions(table, using=using) if partition.start > this_month)


def ensure_all_ahead(*, using: str = "default") -> dict[str, list[str]]:
    """``ensure_partitions_ahead`` for every partitioned table; returns what was created."""
    return {table: ensure_partitions_ahead(table, using=using) for table in partitioned_tables(using=using)}


# --- Models whose table is partitioned -----------------------------------------------------------


class PartitionedQuerySet(models.QuerySet):
    """Bulk inserts make sure the months they write have partitions (see the module doc)."""

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        column = self.model.partition_column
        ensure_partitions_for(self.model._meta.db_table, [getattr(obj, column) for obj in objs], using=self.db)
        return super().bulk_create(objs, *args, **kwargs)


class PartitionedModel(models.Model):
    """A model whose table is range-partitioned by month on ``partition_column`` (on PostgreSQL):
    every ORM write makes sure the month of the row has a partition first."""

    partition_column: ClassVar[str]

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        ensure_partitions_for(self._meta.db_table, [getattr(self, self.partition_column)], using=using)
        super().save(*args, **kwargs)


# --- Converting a table (migrations) --------------------------------------------------------------


def rebuild_table(schema_editor: Any, table: str, *, partition_column: str | None, primary_key: list[str]) -> None:
    """Re-create ``table`` partitioned by month on ``partition_column`` (or plain, for None), with
    its rows, columns, defaults, identity, constraints, indexes and the given primary key; a
    partitioned one also gets a BRIN index on ``partition_column``.

    For migrations on PostgreSQL, on a table with an identity ``id`` (its sequence is carried on
    past the copied rows). A partitioned table can only enforce uniqueness that includes
    its partition key, so the migration must have dropped other unique constraints (and foreign
    keys pointing at the table) before. Rows are copied, so it takes as long as the table is big.
    """
    quote = schema_editor.quote_name
    old, new = quote(f"{table}__old"), quote(f"{table}__new")
    with schema_editor.connection.cursor() as cursor:
        # Indexes of their own; those behind constraints come back with their constraints.
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND c.relname <> %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            [table, f"{table}_{partition_column}_brin"],
        )
        indexes = [row[0] for row in cursor.fetchall()]
        # Foreign keys and unique constraints (check constraints come with LIKE, below).
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('f', 'u', 'x')",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(f"SELECT max(id) FROM {quote(table)}")  # noqa: S608
        last_id = cursor.fetchone()[0]
    partitioning = f" PARTITION BY RANGE ({quote(partition_column)})" if partition_column else ""
    schema_editor.execute(
        f"CREATE TABLE {new} (LIKE {quote(table)} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS"
        f" INCLUDING STORAGE INCLUDING COMPRESSION){partitioning}"
    )
    schema_editor.execute(f"ALTER TABLE {quote(table)} RENAME TO {old}")
    schema_editor.execute(f"ALTER TABLE {new} RENAME TO {quote(table)}")
    if partition_column:
        with schema_editor.connection.cursor() as cursor:
            month = f"date_trunc('month', {quote(partition_column)} AT TIME ZONE 'UTC')"
            cursor.execute(f"SELECT DISTINCT {month} FROM {old}")  # noqa: S608
            months = [row[0].date() for row in cursor.fetchall()]
        this_month = month_floor(datetime.now(UTC))
        months += [add_months(this_month, ahead) for ahead in range(AHEAD_MONTHS + 1)]
        _create_missing(table, months, schema_editor.connection.alias)
    schema_editor.execute(f"INSERT INTO {quote(table)} SELECT * FROM {old}")  # noqa: S608
    schema_editor.execute(f"DROP TABLE {old}")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
    schema_editor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {quote(f'{table}_id_seq')}")
    if last_id is not None:
        schema_editor.execute(f"SELECT setval('{table}_id_seq', {int(last_id)})")
    columns = ", ".join(quote(column) for column in primary_key)
    schema_editor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(f'{table}_pkey')} PRIMARY KEY ({columns})")
    for definition in indexes:
        schema_editor.execute(definition)
    if partition_column:
        schema_editor.execute(
            f"CREATE INDEX {quote(f'{table}_{partition_column}_brin')} ON {quote(table)}"
            f" USING brin ({quote(partition_column)})"
        )
    for name, definition in constraints:
        schema_editor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
