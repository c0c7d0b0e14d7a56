"""PostgreSQL: samples and workouts keep dates before 2014 in one ``<table>_before_2014`` partition.

An older layout created a partition for every month written to (one export with a sample a month
since 1970 added hundreds); their rows move into the one "before" partition, every row kept
(healthexport.lib.partitions). post_migrate completes the yearly and monthly partitions.
"""

from django.db import migrations

from healthexport.lib.partitions import merge_into_before_operation


class Migration(migrations.Migration):
    dependencies = [("metrics", "0015_units_from_the_catalog")]

    operations = [merge_into_before_operation("metrics_sample", "metrics_workout")]
