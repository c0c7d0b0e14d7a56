"""Two plain columns: ``target_label`` (what people call the target) and ``key_prefix`` (the API
key an event is about, acting or acted on), with indexes for the admin's searches.

``key_prefix`` is back-filled for the events written before: the acting key's prefix, else the
prefix that ``apikey.created``/``apikey.revoked``/``auth.failed`` kept in their metadata. On
PostgreSQL the append-only trigger is disabled for the back-fill only, inside this migration's
transaction, as in 0003; the indexes are built after it. On a large trail this rewrites every
row that names a key: run it in a maintenance window.
"""

from django.db import migrations, models

POSTGRES_BACKFILL = """
UPDATE audit_auditevent
SET key_prefix = CASE WHEN actor_key_prefix <> '' THEN actor_key_prefix ELSE metadata->>'prefix' END
WHERE actor_key_prefix <> '' OR metadata->>'prefix' ~ '^[a-z0-9]{8}$'
"""
SQLITE_BACKFILL = """
UPDATE audit_auditevent
SET key_prefix = CASE WHEN actor_key_prefix <> '' THEN actor_key_prefix ELSE json_extract(metadata, '$.prefix') END
WHERE actor_key_prefix <> ''
   OR (length(json_extract(metadata, '$.prefix')) = 8 AND json_extract(metadata, '$.prefix') NOT GLOB '*[^a-z0-9]*')
"""


def backfill_key_prefix(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        schema_editor.execute(POSTGRES_BACKFILL)
        schema_editor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")
    else:
        schema_editor.execute(SQLITE_BACKFILL)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0005_refuse_truncate'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='key_prefix',
            field=models.CharField(blank=True, default='', max_length=16),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='target_label',
            field=models.CharField(blank=True, default='', max_length=200),
        ),
        migrations.RunPython(backfill_key_prefix, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['key_prefix', 'occurred_at'], name='audit_event_key_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['target_id'], name='audit_event_target_id_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['actor_username'], name='audit_event_actor_name_idx'),
        ),
    ]
