"""Samples and their rollups are identified by their natural keys: those become the primary keys.

The surrogate ``id`` of these two tables was never referenced, yet every inserted row paid for
it: an identity sequence and a second unique index (a fifth of the database's work when a large
export is ingested, bench/ingest.py). Django 5.2 models the natural key as a
``CompositePrimaryKey``; on PostgreSQL the unique constraint is swapped for the primary key and
``id`` dropped (partitions follow their parent).

SQLite (the embedded default) keeps its tables as they are: Django cannot rebuild a table into a
composite primary key, and it need not. Inserts leave ``id`` to SQLite, nothing reads it, and the
natural key's unique constraint still guards each row.
"""

from django.db import migrations, models

TABLES = {
    "metrics_sample": ("metrics_sample_natural_key", "user_id, metric_id, start, source"),
    "metrics_samplerollup": ("metrics_samplerollup_natural_key", "user_id, metric_id, bucket_start, utc_offset"),
}
# The old primary keys: a partitioned table's must contain its partition key.
OLD_PRIMARY_KEYS = {"metrics_sample": "id, start", "metrics_samplerollup": "id"}


def to_natural_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, (unique_name, columns) in TABLES.items():
        schema_editor.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, DROP COLUMN id, DROP CONSTRAINT {unique_name};"
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({columns})"
        )


def to_surrogate_ids(apps, schema_editor):
    """Back to an ``id`` filled from a sequence (a partitioned table cannot get an identity column)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, (unique_name, columns) in TABLES.items():
        schema_editor.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey;"
            f"CREATE SEQUENCE {table}_id_seq;"
            f"ALTER TABLE {table} ADD COLUMN id bigint NOT NULL DEFAULT nextval('{table}_id_seq');"
            f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id;"
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({OLD_PRIMARY_KEYS[table]}),"
            f" ADD CONSTRAINT {unique_name} UNIQUE ({columns})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0005_backfill_sample_rollups"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(to_natural_keys, to_surrogate_ids)],
            state_operations=[
                migrations.RemoveConstraint(model_name="sample", name="metrics_sample_natural_key"),
                migrations.RemoveConstraint(model_name="samplerollup", name="metrics_samplerollup_natural_key"),
                migrations.RemoveField(model_name="sample", name="id"),
                migrations.RemoveField(model_name="samplerollup", name="id"),
                migrations.AddField(
                    model_name="sample",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "user",
                        "metric",
                        "start",
                        "source",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                migrations.AddField(
                    model_name="samplerollup",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "user",
                        "metric",
                        "bucket_start",
                        "utc_offset",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
        )
    ]
