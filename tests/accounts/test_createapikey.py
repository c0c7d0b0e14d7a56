from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts import keys
from accounts.models import ApiKey, User
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def create(*args: str) -> list[str]:
    out = StringIO()
    call_command("createapikey", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.embedded
def test_it_prints_the_key_alone_on_the_last_line(alice):
    lines = create("alice")

    plaintext = lines[-1]
    assert keys.KEY_PATTERN.match(plaintext)
    api_key = ApiKey.objects.get()
    assert lines[0].startswith(f"Created 1 key(s) hx_{api_key.prefix}_")
    assert api_key.owner == alice and api_key.scopes == ["ingest", "read"] and api_key.expires_at is None
    assert api_key.hashed_key.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert keys.verify_key(api_key.hashed_key, plaintext)
    assert AuditEvent.objects.filter(action="apikey.created", target_id=str(api_key.public_id)).exists()


def test_it_takes_name_scopes_and_expiry(alice, fast_key_hashing):
    create("alice", "--name", "backfill", "--scopes", "read, delete", "--expires-in-days", "7")
    api_key = ApiKey.objects.get()
    assert api_key.name == "backfill" and api_key.scopes == ["read", "delete"]
    assert abs(api_key.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


def test_it_creates_the_user_only_when_asked(db, fast_key_hashing):
    with pytest.raises(CommandError, match="--create-user"):
        create("carol")
    assert not User.objects.filter(username="carol").exists()

    lines = create("carol", "--create-user")
    carol = User.objects.get(username="carol")
    assert not carol.has_usable_password()
    assert ApiKey.objects.get().owner == carol and "(new user)" in lines[0]


def test_it_refuses_unknown_scopes_and_non_positive_expiry(alice, fast_key_hashing):
    with pytest.raises(CommandError, match="Unknown scope"):
        create("alice", "--scopes", "ingest,admin")
    with pytest.raises(CommandError, match="positive"):
        create("alice", "--expires-in-days", "0")
    assert not ApiKey.objects.exists()
