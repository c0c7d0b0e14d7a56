"""Every change of who may do what goes to the audit trail, wherever it is made.

Admin forms, ``manage.py shell``, ``createsuperuser`` and data fixes all save through the ORM, so
model signals catch them where admin hooks would not. The actor comes from ``audit.context``: the
signed-in user of the request being served, or the command line. Events hold the changed fields
before and after (``{"changed": {"is_staff": [false, true]}}``), never a password hash: a new
password is only ``"password_changed": true``.

Saves of a user or key commit before their ``post_save`` event when no transaction is open (the
admin opens one around every change, so there they commit together); deletions are recorded in
``pre_delete``, inside the deletion's own transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import models
from django.db.models.signals import m2m_changed, post_save, pre_delete, pre_save
from django.dispatch import receiver

from accounts.models import ApiKey, User
from audit.context import current_request
from audit.services import record_event

USER_FIELDS = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser")
KEY_FIELDS = ("name", "scopes", "expires_at", "ratelimit_requests_per_hour", "ratelimit_bytes_per_hour")
# Saves that only move these are bookkeeping, not a change of rights (every sign-in sets last_login).
BOOKKEEPING_FIELDS = frozenset({"last_login", "last_used_at", "last_used_ip", "hashed_key"})
MEMBERS_MAX = 100


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _values(instance: models.Model, fields: tuple[str, ...]) -> dict[str, Any]:
    return {field: _plain(getattr(instance, field)) for field in fields}


def _record(action: str, target: models.Model, metadata: dict[str, Any]) -> None:
    record_event(action=action, request=current_request(), target=target, metadata=metadata)


def _is_bookkeeping(update_fields: Any) -> bool:
    return update_fields is not None and set(update_fields) <= BOOKKEEPING_FIELDS


# --- Users and keys: created, changed, deleted ------------------------------------------------------


@receiver(pre_save, sender=User, dispatch_uid="accounts_audit_user_before")
@receiver(pre_save, sender=ApiKey, dispatch_uid="accounts_audit_key_before")
def remember_before(
    sender: type[models.Model], instance: models.Model, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """Read the stored row before it is overwritten: the diff needs the values it replaces."""
    instance._audit_before = None
    if raw or instance._state.adding or _is_bookkeeping(update_fields):
        return
    fields = (*USER_FIELDS, "password") if sender is User else KEY_FIELDS
    stored = sender._default_manager.filter(pk=instance.pk).first()
    if stored is not None:
        instance._audit_before = _values(stored, fields)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {field: [before[field], value] for field, value in after.items() if before.get(field) != value}


@receiver(post_save, sender=User, dispatch_uid="accounts_audit_user_saved")
def audit_user_saved(sender: type[User], instance: User, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    after = _values(instance, USER_FIELDS)
    if created:
        _record("user.created", instance, {"changed": {field: [None, value] for field, value in after.items()}})
        return
    before = getattr(instance, "_audit_before", None)
    if before is None:
        return
    metadata: dict[str, Any] = {"changed": _diff(before, after)}
    if before["password"] != instance.password:
        metadata["password_changed"] = True
    if metadata["changed"] or "password_changed" in metadata:
        _record("user.changed", instance, metadata)


@receiver(post_save, sender=ApiKey, dispatch_uid="accounts_audit_key_saved")
def audit_key_saved(sender: type[ApiKey], instance: ApiKey, created: bool, raw: bool = False, **kwargs: Any) -> None:
    # Creation and revocation are recorded by the services (apikey.created, apikey.revoked).
    before = getattr(instance, "_audit_before", None)
    if raw or created or before is None:
        return
    changed = _diff(before, _values(instance, KEY_FIELDS))
    if changed:
        _record("apikey.changed", instance, {"changed": changed, "owner": str(instance.owner.public_id)})


@receiver(pre_delete, sender=User, dispatch_uid="accounts_audit_user_deleted")
def audit_user_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    groups = sorted(instance.groups.values_list("name", flat=True))
    before = {**_values(instance, USER_FIELDS), "groups": groups}
    _record("user.deleted", instance, {"changed": {field: [value, None] for field, value in before.items()}})


# --- Groups: created, renamed, deleted --------------------------------------------------------------


@receiver(post_save, sender=Group, dispatch_uid="accounts_audit_group_saved")
def audit_group_saved(sender: type[Group], instance: Group, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    if created:
        _record("group.created", instance, {"changed": {"name": [None, instance.name]}})
    elif (before := getattr(instance, "_audit_name", None)) is not None and before != instance.name:
        _record("group.changed", instance, {"changed": {"name": [before, instance.name]}})


@receiver(pre_save, sender=Group, dispatch_uid="accounts_audit_group_before")
def remember_group_name(sender: type[Group], instance: Group, raw: bool = False, **kwargs: Any) -> None:
    instance._audit_name = None
    if not raw and not instance._state.adding:
        instance._audit_name = sender.objects.filter(pk=instance.pk).values_list("name", flat=True).first()


@receiver(pre_delete, sender=Group, dispatch_uid="accounts_audit_group_deleted")
def audit_group_deleted(sender: type[Group], instance: Group, **kwargs: Any) -> None:
    members = list(instance.user_set.order_by("username").values_list("username", flat=True)[:MEMBERS_MAX])
    permissions = _permission_names(instance.permissions.values_list("pk", flat=True))
    _record(
        "group.deleted",
        instance,
        {"changed": {"name": [instance.name, None], "permissions": [permissions, []]}, "members": members},
    )


# --- Memberships and permissions (many-to-many) -----------------------------------------------------


def _group_names(pks: Any) -> list[str]:
    return sorted(Group.objects.filter(pk__in=list(pks)).values_list("name", flat=True))


def _permission_names(pks: Any) -> list[str]:
    rows = Permission.objects.filter(pk__in=list(pks)).values_list("content_type__app_label", "codename")
    return sorted(f"{app}.{codename}" for app, codename in rows)


class _Relation:
    """One audited many-to-many: how to name its items and which event a change of it is."""

    def __init__(self, action: str, field: str, names: Any, current: Any) -> None:
        self.action, self.field, self.names, self.current = action, field, names, current


RELATIONS = {
    User.groups.through: _Relation(
        "user.groups_changed", "groups", _group_names, lambda user: user.groups.values_list("pk", flat=True)
    ),
    User.user_permissions.through: _Relation(
        "user.permissions_changed",
        "permissions",
        _permission_names,
        lambda user: user.user_permissions.values_list("pk", flat=True),
    ),
    Group.permissions.through: _Relation(
        "group.permissions_changed",
        "permissions",
        _permission_names,
        lambda group: group.permissions.values_list("pk", flat=True),
    ),
}


def _owner_model(through: type[models.Model]) -> type[models.Model]:
    return Group if through is Group.permissions.through else User


@receiver(m2m_changed, dispatch_uid="accounts_audit_m2m")
def audit_m2m_changed(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    model: type[models.Model],
    pk_set: set[int] | None,
    **kwargs: Any,
) -> None:
    """user.groups / user.user_permissions / group.permissions, changed from either side.

    ``pk_set`` holds the other side's ids; a ``clear()`` has none, so ``pre_clear`` notes what
    is about to go. Changed from the other side (``group.user_set.add(alice)``), one event per
    user (or group) whose rights changed.
    """
    relation = RELATIONS.get(sender)
    if relation is None:
        return
    if action == "pre_clear":
        instance._audit_cleared = _cleared(sender, instance, reverse)
        return
    if action == "post_clear":
        removing, cleared = True, instance._audit_cleared
        if reverse:
            changes = [(owner, {instance.pk}) for owner in cleared]
        else:
            changes = [(instance, set(cleared))] if cleared else []
    elif action in ("post_add", "post_remove") and pk_set:
        removing = action == "post_remove"
        owners = _owner_model(sender).objects.filter(pk__in=pk_set).order_by("pk") if reverse else [instance]
        changes = [(owner, {instance.pk}) for owner in owners] if reverse else [(instance, set(pk_set))]
    else:
        return
    for owner, item_pks in changes:
        after = set(relation.current(owner))
        before = after | item_pks if removing else after - item_pks
        _record(
            relation.action,
            owner,
            {
                "changed": {relation.field: [relation.names(before), relation.names(after)]},
                "removed" if removing else "added": relation.names(item_pks),
            },
        )


def _cleared(through: type[models.Model], instance: models.Model, reverse: bool) -> list[Any]:
    """Before a clear(): the item ids about to go (forward), or the owners about to lose ``instance``."""
    relation = RELATIONS[through]
    if not reverse:
        return list(relation.current(instance))
    owner_model = _owner_model(through)
    owner_field = "group_id" if owner_model is Group else "user_id"
    item_field = next(f.attname for f in through._meta.fields if f.attname not in ("id", owner_field))
    owner_pks = through.objects.filter(**{item_field: instance.pk}).values_list(owner_field, flat=True)
    return list(owner_model.objects.filter(pk__in=list(owner_pks)).order_by("pk"))
