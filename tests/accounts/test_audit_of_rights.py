"""Every change of who may do what is on the audit trail, with the fields before and after:
made in the admin (the signed-in user acts), in the shell or a command (cli:<os user> acts)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import ApiKey, User
from audit.context import command_line
from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-id").first()


@pytest.fixture
def editors():
    return Group.objects.create(name="Editors")


def _perm(codename: str) -> Permission:
    return Permission.objects.get(codename=codename)


# --- users -------------------------------------------------------------------------------------


def test_creating_a_user_is_recorded_without_the_password(db):
    user = User.objects.create_user(username="dora", email="dora@example.org", password="dora-password-1")

    event = last("user.created")
    assert (event.target_type, event.target_id, event.target_label) == ("accounts.user", str(user.public_id), "dora")
    assert event.metadata["changed"]["username"] == [None, "dora"]
    assert event.metadata["changed"]["is_staff"] == [None, False]
    assert "password" not in str(event.metadata) and user.password not in str(event.metadata)


def test_making_a_user_staff_records_before_and_after(alice):
    alice.is_staff = True
    alice.is_superuser = True
    alice.save()

    event = last("user.changed")
    assert event.metadata["changed"] == {"is_staff": [False, True], "is_superuser": [False, True]}
    assert event.target_label == "alice"


def test_a_new_password_is_recorded_as_changed_not_as_a_hash(alice):
    old_hash = alice.password
    alice.set_password("another-password-2")
    alice.save()

    event = last("user.changed")
    assert event.metadata == {"changed": {}, "password_changed": True}
    assert old_hash not in str(event.metadata) and alice.password not in str(event.metadata)


def test_a_sign_in_is_not_a_change_of_rights(client, alice):
    client.login(username="alice", password="alice-password-1")

    assert not AuditEvent.objects.filter(action="user.changed").exists()


def test_deleting_a_user_records_what_they_could_do(alice, editors):
    alice.groups.add(editors)

    alice.delete()

    event = last("user.deleted")
    assert event.target_label == "alice"
    assert event.metadata["changed"]["groups"] == [["Editors"], None]
    assert event.metadata["changed"]["is_active"] == [True, None]


def test_staff_deactivating_a_user_in_the_admin_is_the_actor(staff_client, staff, alice):
    page = staff_client.get(reverse("admin:accounts_user_change", args=[alice.pk]))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(is_active="", date_joined_0="2026-01-01", date_joined_1="00:00:00", groups=[], user_permissions=[])
    data.update({"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"})  # the read-only keys inline
    data.pop("date_joined", None)
    data.pop("last_login", None)

    response = staff_client.post(reverse("admin:accounts_user_change", args=[alice.pk]), data)

    assert response.status_code == 302
    event = last("user.changed")
    assert event.metadata["changed"]["is_active"] == [True, False]
    assert (event.actor_user_id, event.actor_username) == (staff.pk, "staff")
    assert event.request_id and event.ip == "127.0.0.1"


# --- groups and permissions ---------------------------------------------------------------------


def test_adding_and_removing_a_group_membership(alice, editors):
    alice.groups.add(editors)
    added = last("user.groups_changed")
    alice.groups.remove(editors)
    removed = last("user.groups_changed")

    assert added.metadata == {"changed": {"groups": [[], ["Editors"]]}, "added": ["Editors"]}
    assert removed.metadata == {"changed": {"groups": [["Editors"], []]}, "removed": ["Editors"]}
    assert added.target_id == str(alice.public_id)


def test_a_membership_changed_from_the_group_side_is_recorded_per_user(alice, bob, editors):
    editors.user_set.add(alice, bob)
    editors.user_set.clear()

    events = AuditEvent.objects.filter(action="user.groups_changed").order_by("id")
    assert [(e.target_label, e.metadata.get("added"), e.metadata.get("removed")) for e in events] == [
        ("alice", ["Editors"], None),
        ("bob", ["Editors"], None),
        ("alice", None, ["Editors"]),
        ("bob", None, ["Editors"]),
    ]
    assert events[3].metadata["changed"] == {"groups": [["Editors"], []]}


def test_clearing_a_users_groups_is_recorded(alice, editors):
    alice.groups.add(editors, Group.objects.get(name="Compliance"))

    alice.groups.clear()

    event = last("user.groups_changed")
    assert event.metadata == {
        "changed": {"groups": [["Compliance", "Editors"], []]},
        "removed": ["Compliance", "Editors"],
    }


def test_granting_a_user_a_permission(alice):
    alice.user_permissions.add(_perm("view_auditevent"))

    event = last("user.permissions_changed")
    assert event.metadata == {
        "changed": {"permissions": [[], ["audit.view_auditevent"]]},
        "added": ["audit.view_auditevent"],
    }


def test_granting_a_group_a_permission(editors):
    editors.permissions.add(_perm("add_apikey"))
    editors.permissions.set([_perm("view_apikey")])

    events = AuditEvent.objects.filter(action="group.permissions_changed", target_label="Editors").order_by("id")
    assert [e.metadata["changed"]["permissions"] for e in events] == [
        [[], ["accounts.add_apikey"]],
        [["accounts.add_apikey"], []],
        [[], ["accounts.view_apikey"]],
    ]


def test_groups_created_renamed_and_deleted(db):
    group = Group.objects.create(name="Night shift")
    group.name = "Day shift"
    group.save()
    group.permissions.add(_perm("view_user"))
    group.delete()

    assert last("group.created").metadata["changed"] == {"name": [None, "Night shift"]}
    assert last("group.changed").metadata["changed"] == {"name": ["Night shift", "Day shift"]}
    assert last("group.deleted").metadata["changed"] == {
        "name": ["Day shift", None],
        "permissions": [["accounts.view_user"], []],
    }


# --- API keys -----------------------------------------------------------------------------------


def test_raising_a_keys_limits_renaming_it_and_changing_its_scopes_and_expiry(alice_key):
    api_key, _ = alice_key
    api_key.ratelimit_requests_per_hour = 1000
    api_key.ratelimit_bytes_per_hour = 50 * 1024 * 1024
    api_key.name = "Backfill"
    api_key.scopes = ["ingest"]
    api_key.save()

    event = last("apikey.changed")
    assert event.metadata["changed"] == {
        "name": ["Alice's iPhone", "Backfill"],
        "scopes": [["ingest", "read", "delete"], ["ingest"]],
        "ratelimit_requests_per_hour": [None, 1000],
        "ratelimit_bytes_per_hour": [None, 52428800],
    }
    assert event.key_prefix == api_key.prefix and event.target_label == f"Backfill (hx_{api_key.prefix}_…)"


def test_changing_a_keys_limits_in_the_admin_in_mib(staff_client, staff, alice_key):
    api_key, plaintext = alice_key

    response = staff_client.post(
        reverse("admin:accounts_apikey_change", args=[api_key.pk]),
        {"name": api_key.name, "ratelimit_requests_per_hour": "500", "ratelimit_bytes_per_hour": "25.5"},
    )

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert (api_key.ratelimit_requests_per_hour, api_key.ratelimit_bytes_per_hour) == (500, int(25.5 * 1024 * 1024))
    event = last("apikey.changed")
    assert event.metadata["changed"]["ratelimit_bytes_per_hour"] == [None, 26738688]
    assert event.actor_username == "staff"
    assert plaintext not in str(event.metadata)


def test_recording_use_of_a_key_is_not_a_change(alice_client):
    alice_client.get("/v1/metrics")

    assert not AuditEvent.objects.filter(action="apikey.changed").exists()


# --- the command line ---------------------------------------------------------------------------


def test_a_change_in_the_shell_names_the_command_and_the_os_user(alice):
    with command_line("shell", user="root"):
        alice.is_superuser = True
        alice.save()

    event = last("user.changed")
    assert event.actor_username == "cli:root" and event.actor_user_id is None
    assert (event.metadata["command"], event.metadata["os_user"]) == ("shell", "root")


def test_the_admin_shows_a_command_line_actor(client, compliance_officer, alice):
    with command_line("createsuperuser", user="ops"):
        User.objects.create_user(username="root-admin", is_staff=True, is_superuser=True)
    client.force_login(compliance_officer)

    page = client.get(reverse("admin:audit_auditevent_changelist"), {"q": "cli:ops"})

    [event] = page.context["cl"].result_list
    assert event.action == "user.created"
    assert "cli:ops / manage.py createsuperuser" in page.text


def test_api_key_changes_are_no_audit_of_creation(alice, fast_key_hashing):
    from accounts.services import api_key_create

    api_key_create(owner=alice, name="phone", scopes=["ingest"], created_by=None)

    assert AuditEvent.objects.filter(action="apikey.created").count() == 1
    assert not AuditEvent.objects.filter(action="apikey.changed").exists()
    assert ApiKey.objects.count() == 1
