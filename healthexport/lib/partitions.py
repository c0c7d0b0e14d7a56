"""Range partitions on PostgreSQL, for the tables partitioned by time: samples, workouts, raw
ingestions and the audit trail.

A table partitioned here is ``PARTITION BY RANGE (<a timestamptz column>)`` with this layout, every
bound at midnight UTC:

- ``<table>_before_2014``: everything before 2014-01 (HealthKit's first year), in one partition.
  Dates that old are rare (a watch whose clock was reset, an import of old records) and a
  partition per old month would let one export create hundreds.
- ``<table>_pYYYY``: one partition per past year from 2014 on.
- ``<table>_pYYYY_MM``: one partition per month from January of the current year to
  ``AHEAD_MONTHS`` months ahead. A year keeps its monthly partitions once it is past (about
  twelve more partitions a year).

There is no DEFAULT partition (rows parked there would make creating their range's partition
fail later) and no partition is ever created while a request is served: the web role owns no
table (see the README's "Database roles"), and the whole window is bounded and known in
advance. ``ensure_window`` creates what is missing of it after every ``migrate`` (post_migrate)
and from the daily ``manage.py ensure_partitions``; both run as the owner. Ingest validation
refuses dates before 1970 and after tomorrow, so every valid row has a partition as long as
``ensure_partitions`` ran within the last ``AHEAD_MONTHS`` months (an alert watches that). A row
outside the window fails its insert (an integrity error, not retried), it is never a reason to
create a partition.

A model declares its table partitioned by subclassing ``PartitionedModel``; its
``first_partition_month()`` says where the window starts (2014-01, or later for a table whose
old partitions are purged).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from django.apps import apps
from django.db import connections, migrations, models, transaction

# HealthKit's first year: before it, one partition; from it on, one per year or month.
DENSE_FROM = date(2014, 1, 1)
AHEAD_MONTHS = 3
# Partitions created per transaction: each one takes a handful of locks (table, indexes, TOAST)
# until commit, and PostgreSQL's lock table is shared by all sessions.
CREATE_BATCH = 12


class Partition(NamedTuple):
    name: str
    start: date | None  # None: from MINVALUE (the "before" partition)
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


def year_partition_name(table: str, year: int) -> str:
    return f"{table}_p{year}"


def before_partition_name(table: str) -> str:
    return f"{table}_before_{DENSE_FROM.year}"


def _is_postgres(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def _bound(day: date | None) -> str:
    # Formatted from dates (no user input); '+00' pins them to UTC.
    return "MINVALUE" if day is None else f"'{day:%Y-%m-%d} 00:00:00+00'"


def _create(table: str, wanted: list[Partition], using: str) -> list[str]:
    """Create and attach ``wanted`` (those not there yet), a batch per transaction.

    A partition is created as a plain table and then ATTACHed: ``ATTACH PARTITION`` takes a SHARE
    UPDATE EXCLUSIVE lock on the parent, which lets other sessions keep inserting and reading,
    whereas ``CREATE TABLE … PARTITION OF`` would take ACCESS EXCLUSIVE. A transaction-scoped
    advisory lock per table serialises creators (two cron runs, or migrate and a cron run).
    PostgreSQL clones row triggers onto a new partition but not statement triggers: the
    parent's TRUNCATE guards are copied here, so truncating a partition directly is refused too.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    created = []
    for offset in range(0, len(wanted), CREATE_BATCH):
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
            existing = {partition.name for partition in list_partitions(table, using=using)}
            guards = _truncate_guards(cursor, table)
            for name, start, end in wanted[offset : offset + CREATE_BATCH]:
                if name in existing:
                    continue
                cursor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(table)} INCLUDING CONSTRAINTS)")
                cursor.execute(
                    f"ALTER TABLE {quote(table)} ATTACH PARTITION {quote(name)}"
                    f" FOR VALUES FROM ({_bound(start)}) TO ({_bound(end)})"
                )
                for trigger, function in guards:
                    cursor.execute(
                        f"CREATE TRIGGER {quote(trigger)} BEFORE TRUNCATE ON {quote(name)}"
                        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                    )
                created.append(name)
    return created


def _truncate_guards(cursor: Any, table: str) -> list[tuple[str, str]]:
    """(trigger name, function) of the parent's own BEFORE TRUNCATE statement triggers."""
    cursor.execute(
        "SELECT tgname, tgfoid::regproc::text FROM pg_trigger"
        " WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal AND tgtype & 32 = 32 AND tgtype & 1 = 0",
        [table],
    )
    return cursor.fetchall()


def _overlaps(start: date | None, end: date, partitions: Iterable[Partition]) -> bool:
    return any((p.start is None or p.start < end) and (start is None or start < p.end) for p in partitions)


def window(table: str, first_month: date, existing: list[Partition], today: date) -> list[Partition]:
    """The partitions of the layout (module doc) from ``first_month`` on that ``existing`` lacks.

    A past year gets one partition, unless some of its months are partitioned already (a year
    that was the current one, or an older layout): then its missing months get one each.
    """
    this_month = month_floor(today)
    last = add_months(this_month, AHEAD_MONTHS)
    first = max(month_floor(first_month), DENSE_FROM)
    wanted = []
    if not _overlaps(None, DENSE_FROM, existing):
        wanted.append(Partition(before_partition_name(table), None, DENSE_FROM))
    for year in range(first.year, last.year + 1):
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
        if year < this_month.year and not _overlaps(start, end, existing):
            wanted.append(Partition(year_partition_name(table, year), start, end))
            continue
        month = max(start, first)
        while month < end and month <= last:
            following = add_months(month, 1)
            if not _overlaps(month, following, existing):
                wanted.append(Partition(partition_name(table, month), month, following))
            month = following
    return wanted


def ensure_window(table: str, *, first_month: date | None = None, using: str = "default") -> list[str]:
    """Create what is missing of ``table``'s layout from ``first_month`` (default: this month) to
    ``AHEAD_MONTHS`` ahead, and its "before" partition. Returns the names created; nothing off
    PostgreSQL (the embedded SQLite tables are plain)."""
    if not _is_postgres(using):
        return []
    today = datetime.now(UTC).date()
    wanted = window(table, first_month or today, list_partitions(table, using=using), today)
    return _create(table, wanted, using)


def list_partitions(table: str, *, using: str = "default") -> list[Partition]:
    """The partitions of ``table`` that follow our naming, oldest first (the "before" one first)."""
    if not _is_postgres(using):
        return []
    pattern = re.compile(rf"^{re.escape(table)}_p(\d{{4}})(?:_(\d{{2}}))?$")
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = to_regclass(%s)",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    partitions = []
    for name in names:
        if name == before_partition_name(table):
            partitions.append(Partition(name, None, DENSE_FROM))
        elif match := pattern.match(name):
            if match[2]:
                start = date(int(match[1]), int(match[2]), 1)
                partitions.append(Partition(name, start, add_months(start, 1)))
            else:
                partitions.append(Partition(name, date(int(match[1]), 1, 1), date(int(match[1]) + 1, 1, 1)))
    return sorted(partitions, key=lambda partition: partition.start or date.min)


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
    return sum(1 for p in list_partitions(table, using=using) if p.start is not None and p.start > this_month)


def ensure_all(*, using: str = "default") -> dict[str, list[str]]:
    """``ensure_window`` for every partitioned model's table, from its first partition month;
    returns what was created per table."""
    tables = set(partitioned_tables(using=using))
    partitioned = [m for m in apps.get_models() if issubclass(m, PartitionedModel) and m._meta.db_table in tables]
    return {
        (table := model._meta.db_table): ensure_window(table, first_month=model.first_partition_month(), using=using)
        for model in partitioned
    }


class PartitionedModel(models.Model):
    """A model whose table is range-partitioned by time on PostgreSQL (the module doc's layout;
    the table itself is created by a migration)."""

    class Meta:
        abstract = True

    @classmethod
    def first_partition_month(cls) -> date:
        """Where the window of yearly and monthly partitions starts (earlier: the "before" one)."""
        return DENSE_FROM


# --- Converting a table (migrations) --------------------------------------------------------------


def merge_into_before_operation(*tables: str) -> migrations.RunPython:
    """The migration operation moving ``tables`` to this layout (``merge_into_before`` each). Its
    reverse does nothing: the older layout takes a "before" partition as it is."""

    def merge(apps: Any, schema_editor: Any) -> None:
        for table in tables:
            merge_into_before(schema_editor, table)

    return migrations.RunPython(merge, migrations.RunPython.noop)


def merge_into_before(schema_editor: Any, table: str) -> None:
    """For migrations: move the rows of partitions starting before 2014 (an older layout created
    one per month written) into the one ``<table>_before_2014`` partition, and drop them."""
    using = schema_editor.connection.alias
    if not _is_postgres(using):
        return
    quote = schema_editor.quote_name
    old = [p.name for p in list_partitions(table, using=using) if p.start is not None and p.start < DENSE_FROM]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
            " ORDER BY attnum",
            [table],
        )
        columns = ", ".join(quote(row[0]) for row in cursor.fetchall())
        # Deferred foreign-key checks of rows written earlier in this transaction would block DETACH.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name in old:
            cursor.execute(f"ALTER TABLE {quote(table)} DETACH PARTITION {quote(name)}")
    _create(table, [Partition(before_partition_name(table), None, DENSE_FROM)], using)
    for name in old:
        schema_editor.execute(f"INSERT INTO {quote(table)} ({columns}) SELECT {columns} FROM {quote(name)}")  # noqa: S608
        schema_editor.execute(f"DROP TABLE {quote(name)}")


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
            cursor.execute(f"SELECT min({quote(partition_column)}) FROM {old}")  # noqa: S608
            oldest = cursor.fetchone()[0]
        ensure_window(table, first_month=oldest, using=schema_editor.connection.alias)
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
