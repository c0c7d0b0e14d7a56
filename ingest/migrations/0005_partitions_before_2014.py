"""PostgreSQL: raw ingestions move to the partition layout of 2014 on (as metrics 0011 explains)."""

from django.db import migrations

from healthexport.lib.partitions import merge_into_before_operation


class Migration(migrations.Migration):
    dependencies = [("ingest", "0004_partition_ingestions")]

    operations = [merge_into_before_operation("ingest_ingestion")]
