"""PostgreSQL: the audit trail move to the partition layout of 2014 on (as metrics 0011 explains)."""

from django.db import migrations

from healthexport.lib.partitions import merge_into_before_operation


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_actors_as_plain_columns")]

    operations = [merge_into_before_operation("audit_auditevent")]
