from django.db import migrations, models


def keep_latest_session(apps, schema_editor):
    """Reverse only: the old key holds one session per night and source, the latest one."""
    SleepNight = apps.get_model("metrics", "SleepNight")
    rows = SleepNight.objects.order_by("user_id", "night", "source", "-session_start")
    seen, extra = None, []
    for pk, *key in rows.values_list("pk", "user_id", "night", "source").iterator(1000):
        if key == seen:
            extra.append(pk)
        seen = key
    for start in range(0, len(extra), 1000):
        SleepNight.objects.filter(pk__in=extra[start : start + 1000]).delete()


class Migration(migrations.Migration):
    dependencies = [("metrics", "0012_sleep_sessions_keyed_and_stages_moved")]

    operations = [
        migrations.RemoveConstraint(
            model_name="sleepnight",
            name="metrics_sleepnight_natural_key",
        ),
        migrations.RunPython(migrations.RunPython.noop, keep_latest_session),
        migrations.AlterField(
            model_name="sleepnight",
            name="session_start",
            field=models.DateTimeField(
                help_text="Part of the key: sleepStart, else inBedStart, else the night's date at 00:00 UTC "
                "(older app versions send one item per night without times)."
            ),
        ),
        migrations.AddConstraint(
            model_name="sleepnight",
            constraint=models.UniqueConstraint(
                fields=("user", "night", "source", "session_start"), name="metrics_sleepnight_natural_key"
            ),
        ),
    ]
