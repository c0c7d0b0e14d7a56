"""Fills ``metrics_samplerollup`` from the samples stored before rollups existed.

The SQL is the one ``SampleRollup.objects.refresh`` runs, over all users and metrics at once,
written out here so that later changes to that function cannot change this migration.
"""

from django.db import migrations

BUCKET = {
    "postgresql": "date_bin('15 minutes', start, timestamptz '2000-01-01 00:00:00+00')",
    "sqlite": "datetime(CAST(strftime('%s', start) AS INTEGER) / 900 * 900, 'unixepoch')",
}


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM metrics_samplerollup")
        cursor.execute(
            "INSERT INTO metrics_samplerollup "
            "(user_id, metric_id, bucket_start, utc_offset, count, total, low, high) "
            f"SELECT user_id, metric_id, {BUCKET[connection.vendor]}, utc_offset, COUNT(*), SUM(qty), "  # noqa: S608
            'MIN(COALESCE("min", qty)), MAX(COALESCE("max", qty)) '
            "FROM metrics_sample WHERE start >= '1980-01-01 00:00:00' GROUP BY 1, 2, 3, 4"
        )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0004_samplerollup")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
