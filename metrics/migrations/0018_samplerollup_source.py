"""Rollups keep each source apart, so buckets of a cumulative metric can count one device per quarter hour.

``source`` joins the rollups' natural key, and the rollups are recomputed from the samples with
the SQL ``SampleRollup.objects.refresh`` runs (written out here, as in 0005). On PostgreSQL the
primary key is swapped for the wider one; SQLite (which still has 0004's ``id`` and unique
constraint, see 0006) gets the table created afresh, as the model now declares it. The column
defaults to the empty source, so rows written without it (by 0012 and 0015) still fit.
"""

from django.db import migrations, models

BUCKET = {
    "postgresql": "date_bin('15 minutes', start, timestamptz '2000-01-01 00:00:00+00')",
    "sqlite": "datetime(CAST(strftime('%s', start) AS INTEGER) / 900 * 900, 'unixepoch')",
}
KEY = "user_id, metric_id, bucket_start, utc_offset"


def rebuild(apps, schema_editor, *, with_source: bool) -> None:
    connection = schema_editor.connection
    SampleRollup = apps.get_model("metrics", "SampleRollup")
    if connection.vendor == "postgresql":
        if with_source:
            schema_editor.execute(
                "ALTER TABLE metrics_samplerollup ADD COLUMN source varchar(255) NOT NULL DEFAULT '',"
                " DROP CONSTRAINT metrics_samplerollup_pkey,"
                f" ADD CONSTRAINT metrics_samplerollup_pkey PRIMARY KEY ({KEY}, source)"
            )
        else:
            schema_editor.execute(
                "DELETE FROM metrics_samplerollup;"
                "ALTER TABLE metrics_samplerollup DROP CONSTRAINT metrics_samplerollup_pkey, DROP COLUMN source;"
                f"ALTER TABLE metrics_samplerollup ADD CONSTRAINT metrics_samplerollup_pkey PRIMARY KEY ({KEY})"
            )
    else:
        schema_editor.execute("DROP TABLE metrics_samplerollup")
        if with_source:
            schema_editor.create_model(SampleRollup)
        else:  # as 0006's state declares it (``apps`` here still has the source)
            schema_editor.execute(
                "CREATE TABLE metrics_samplerollup (user_id integer NOT NULL, metric_id bigint NOT NULL,"
                " bucket_start datetime NOT NULL, utc_offset smallint NOT NULL,"
                ' "count" integer NOT NULL CHECK ("count" > 0), total real NOT NULL, low real NOT NULL,'
                f" high real NOT NULL, PRIMARY KEY ({KEY}))"
            )
    source = ", source" if with_source else ""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM metrics_samplerollup")
        cursor.execute(
            f"INSERT INTO metrics_samplerollup ({KEY}{source}, count, total, low, high) "  # noqa: S608
            f"SELECT user_id, metric_id, {BUCKET[connection.vendor]}, utc_offset{source}, COUNT(*), SUM(qty), "
            'MIN(COALESCE("min", qty)), MAX(COALESCE("max", qty)) '
            f"FROM metrics_sample WHERE start >= '1980-01-01 00:00:00' GROUP BY 1, 2, 3, 4{', 5' if with_source else ''}"
        )


def forwards(apps, schema_editor):
    rebuild(apps, schema_editor, with_source=True)


def backwards(apps, schema_editor):
    rebuild(apps, schema_editor, with_source=False)


class Migration(migrations.Migration):
    dependencies = [("metrics", "0017_sourcepriority")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="samplerollup",
                    name="source",
                    field=models.CharField(db_default="", max_length=255),
                ),
                migrations.AlterField(
                    model_name="samplerollup",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "user",
                        "metric",
                        "bucket_start",
                        "utc_offset",
                        "source",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
