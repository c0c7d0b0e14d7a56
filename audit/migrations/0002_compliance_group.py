"""The Compliance group: may view the audit trail in the admin, and nothing else."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Compliance"


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create audit's now.
    app_config = apps.get_app_config("audit")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=GROUP)
    group.permissions.set(
        [Permission.objects.using(schema_editor.connection.alias).get(content_type__app_label="audit", codename="view_auditevent")]
    )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.RunPython(create_group, delete_group),
    ]
