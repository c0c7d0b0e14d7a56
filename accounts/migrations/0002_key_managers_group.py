"""The Key managers group: may issue and revoke API keys and see users, nothing more (no audit
trail, no user changes, no superuser rights)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Key managers"
PERMISSIONS = (
    ("accounts", "add_apikey"),  # issue
    ("accounts", "change_apikey"),  # revoke, raise a key's rate limits, rename
    ("accounts", "view_apikey"),
    ("accounts", "view_user"),  # pick the owner; see a user's keys
)


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create accounts' now.
    db = schema_editor.connection.alias
    app_config = apps.get_app_config("accounts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=db)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(db).get_or_create(name=GROUP)
    group.permissions.set(
        [
            Permission.objects.using(db).get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in PERMISSIONS
        ]
    )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_group, delete_group),
    ]
