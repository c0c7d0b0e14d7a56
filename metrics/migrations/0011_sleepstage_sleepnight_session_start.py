import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0010_partition_workouts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SleepStage",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("start", models.DateTimeField()),
                ("end", models.DateTimeField()),
                ("stage", models.CharField(blank=True, default="", max_length=64)),
                ("source", models.CharField(blank=True, default="", max_length=255)),
                ("qty", models.FloatField()),
                ("unit", models.CharField(max_length=32)),
                ("utc_offset", models.SmallIntegerField(help_text="Minutes east of UTC, as the phone sent it.")),
                ("ingestion_id", models.BigIntegerField()),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "start", "source", "stage"), name="metrics_sleepstage_natural_key"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("end__gte", models.F("start"))), name="metrics_sleepstage_end_after_start"
                    ),
                ],
            },
        ),
        migrations.AlterModelOptions(
            name="sleepnight",
            options={"verbose_name": "sleep session"},
        ),
        migrations.AddField(
            model_name="sleepnight",
            name="session_start",
            field=models.DateTimeField(null=True),
        ),
    ]
