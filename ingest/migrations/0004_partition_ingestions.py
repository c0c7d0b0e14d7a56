"""PostgreSQL: ingest_ingestion becomes range-partitioned by month on ``received_at``.

Raw bodies are most of the bytes this service stores; monthly partitions keep each month's
indexes small, give a BRIN index on the receiving time, and let old months go whole. The
table is re-created partitioned with its rows, indexes and constraints
(``healthexport.lib.partitions.rebuild_table``); its primary key becomes ``(id, received_at)``, as
a partitioned table's must contain the partition key, and Django keeps ``id`` as the primary
key (one identity sequence keeps it unique). 0003 dropped what a partitioned table cannot
enforce. SQLite keeps the plain table.
"""

from django.db import migrations

from healthexport.lib.partitions import rebuild_table


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        rebuild_table(schema_editor, "ingest_ingestion", partition_column="received_at", primary_key=["id", "received_at"])


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        rebuild_table(schema_editor, "ingest_ingestion", partition_column=None, primary_key=["id"])


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0003_ingestion_uniqueness_for_partitions"),
    ]

    operations = [migrations.RunPython(partition, unpartition)]
