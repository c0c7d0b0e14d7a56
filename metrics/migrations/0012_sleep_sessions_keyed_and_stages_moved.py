"""Sleep data stored before sessions and stages had their own keys keeps every row:

- each stored night gets its ``session_start`` (sleepStart, else inBedStart, else the night's
  date at 00:00 UTC), exactly as the ingest pipeline now works it out for a re-sent item;
- sleep stage segments move from ``metrics_sample`` (metric ``sleep_analysis``, the stage in
  ``context``) to ``metrics_sleepstage``, and their unused rollups go.

The reverse moves the segments back; of segments starting at the same instant from the same
source only one fits the samples' key, as before.
"""

import datetime as dt

from django.db import migrations

from healthexport.lib.partitions import DENSE_FROM, ensure_window, month_floor

BATCH = 1000
STAGE_COLUMNS = 'user_id, start, "end", stage, source, qty, unit, utc_offset, ingestion_id'
SAMPLE_COLUMNS = 'user_id, start, "end", context, source, qty, unit, utc_offset, ingestion_id'


def key_sessions(apps, schema_editor):
    SleepNight = apps.get_model("metrics", "SleepNight")
    rows = SleepNight.objects.filter(session_start__isnull=True).only("night", "sleep_start", "in_bed_start")
    batch = []
    for row in rows.iterator(BATCH):
        midnight = dt.datetime.combine(row.night, dt.time(), tzinfo=dt.UTC)
        row.session_start = row.sleep_start or row.in_bed_start or midnight
        batch.append(row)
        if len(batch) >= BATCH:
            SleepNight.objects.bulk_update(batch, ["session_start"])
            batch = []
    SleepNight.objects.bulk_update(batch, ["session_start"])


def _sleep_metric_id(apps):
    MetricType = apps.get_model("metrics", "MetricType")
    return MetricType.objects.filter(name="sleep_analysis").values_list("id", flat=True).first()


def stages_out_of_samples(apps, schema_editor):
    metric_id = _sleep_metric_id(apps)
    if metric_id is None:
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO metrics_sleepstage ({STAGE_COLUMNS}) "  # noqa: S608 (constant columns)
            'SELECT user_id, start, COALESCE("end", start), context, source, qty, unit, utc_offset, ingestion_id '
            "FROM metrics_sample WHERE metric_id = %s",
            [metric_id],
        )
        cursor.execute("DELETE FROM metrics_sample WHERE metric_id = %s", [metric_id])
        cursor.execute("DELETE FROM metrics_samplerollup WHERE metric_id = %s", [metric_id])


def stages_into_samples(apps, schema_editor):
    """Rollups are not rebuilt: nothing reads those of sleep_analysis (its buckets are refused)."""
    metric_id = _sleep_metric_id(apps)
    SleepStage = apps.get_model("metrics", "SleepStage")
    if metric_id is None or not SleepStage.objects.exists():
        return
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        first = SleepStage.objects.order_by("start").values_list("start", flat=True).first()
        last = SleepStage.objects.order_by("-start").values_list("start", flat=True).first()
        ensure_window("metrics_sample", first_month=max(DENSE_FROM, min(month_floor(first), month_floor(last))))
        insert, conflict = "INSERT INTO", " ON CONFLICT DO NOTHING"
    else:
        insert, conflict = "INSERT OR IGNORE INTO", ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"{insert} metrics_sample (metric_id, {SAMPLE_COLUMNS}) "  # noqa: S608 (constant columns)
            f"SELECT %s, {STAGE_COLUMNS} FROM metrics_sleepstage ORDER BY id{conflict}",
            [metric_id],
        )
        cursor.execute("DELETE FROM metrics_sleepstage")


class Migration(migrations.Migration):
    dependencies = [("metrics", "0011_sleepstage_sleepnight_session_start")]

    operations = [
        migrations.RunPython(key_sessions, migrations.RunPython.noop),
        migrations.RunPython(stages_out_of_samples, stages_into_samples),
    ]
