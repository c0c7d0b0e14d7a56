"""PostgreSQL: the audit trail refuses TRUNCATE too, even from its owner.

The row trigger of 0001 refuses UPDATE and DELETE; TRUNCATE fires no row trigger. A BEFORE
TRUNCATE statement trigger on the table refuses it, and one on each partition refuses truncating a
partition directly (PostgreSQL does not clone statement triggers onto partitions: those created
later get theirs from ``healthexport.lib.partitions``). Only ``purge_audit`` removes events, by
dropping whole expired partitions. (A superuser can still bypass triggers on purpose:
``session_replication_role = replica``; the app role cannot TRUNCATE at all, it lacks the privilege.)
"""

from django.db import migrations

FORWARD = """
CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_refuse_change();
DO $$
DECLARE partition regclass;
BEGIN
    FOR partition IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit_auditevent'::regclass LOOP
        EXECUTE format('CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_refuse_change()', partition);
    END LOOP;
END
$$;
"""

REVERSE = """
DO $$
DECLARE partition regclass;
BEGIN
    FOR partition IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit_auditevent'::regclass LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON %s', partition);
    END LOOP;
END
$$;
DROP TRIGGER audit_auditevent_no_truncate ON audit_auditevent;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_partitions_before_2014")]

    operations = [migrations.RunPython(forward, reverse)]
