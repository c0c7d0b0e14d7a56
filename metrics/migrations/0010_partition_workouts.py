"""PostgreSQL: metrics_workout becomes range-partitioned by month on ``start``, like samples.

Re-created partitioned with its rows, indexes (the route's spatial one included) and
constraints by ``healthexport.lib.partitions.rebuild_table``; the primary key becomes
``(id, start)`` and Django keeps ``id`` as the primary key (one identity sequence keeps it
unique). 0009 dropped what a partitioned table cannot enforce. SQLite keeps the plain table.
"""

from django.db import migrations

from healthexport.lib.partitions import rebuild_table


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        rebuild_table(schema_editor, "metrics_workout", partition_column="start", primary_key=["id", "start"])


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        rebuild_table(schema_editor, "metrics_workout", partition_column=None, primary_key=["id"])


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0009_workout_uniqueness_for_partitions"),
    ]

    operations = [migrations.RunPython(partition, unpartition)]
