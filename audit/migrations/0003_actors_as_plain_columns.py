"""The trail depends on no other app: actors become plain columns.

``actor_user_id`` and ``actor_api_key_id`` keep their values but lose their foreign keys (a user or
key row may go; the event stays as written), and ``actor_username`` records the name the actor had,
back-filled from the users table for events written before. On PostgreSQL the append-only trigger
is disabled for the back-fill only, inside this migration's transaction (ALTER TABLE on the
partitioned parent recurses to every partition).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BACKFILL = (
    "UPDATE audit_auditevent SET actor_username = "
    "(SELECT username FROM accounts_user WHERE accounts_user.id = audit_auditevent.actor_user_id) "
    "WHERE actor_user_id IS NOT NULL"
)


def backfill_usernames(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
    schema_editor.execute(BACKFILL)
    if postgres:
        schema_editor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_compliance_group"),
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # First the database loses its foreign keys (the columns stay)...
        migrations.AlterField(
            model_name="auditevent",
            name="actor_user",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor_api_key",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="accounts.apikey",
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_username",
            field=models.CharField(blank=True, default="", max_length=150),
        ),
        migrations.RunPython(backfill_usernames, migrations.RunPython.noop),
        # ...then the model sees the same columns as plain integers.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="auditevent", name="actor_user"),
                migrations.RemoveField(model_name="auditevent", name="actor_api_key"),
                migrations.AddField(
                    model_name="auditevent",
                    name="actor_user_id",
                    field=models.BigIntegerField(blank=True, db_index=True, null=True),
                ),
                migrations.AddField(
                    model_name="auditevent",
                    name="actor_api_key_id",
                    field=models.BigIntegerField(blank=True, db_index=True, null=True),
                ),
            ],
        ),
    ]
