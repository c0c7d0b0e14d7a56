from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import key_epoch, keys, verify_cache
from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from audit.models import AuditEvent

CONTRACT_HASH_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.mark.embedded
@pytest.mark.django_db
def test_it_stores_only_the_prefix_and_an_argon2id_hash_with_the_contract_parameters(alice, staff):
    api_key, plaintext = api_key_create(owner=alice, name="phone", scopes=["ingest"], created_by=staff)

    api_key.refresh_from_db()
    assert keys.KEY_PATTERN.match(plaintext)
    assert plaintext.startswith(f"hx_{api_key.prefix}_")
    assert api_key.hashed_key.startswith(CONTRACT_HASH_PREFIX)
    assert plaintext not in api_key.hashed_key
    assert keys.verify_key(api_key.hashed_key, plaintext)
    assert plaintext not in str(api_key) and api_key.prefix in str(api_key)


@pytest.mark.django_db
def test_creating_a_key_is_audited_in_the_same_transaction(alice, staff, fast_key_hashing):
    api_key, plaintext = api_key_create(owner=alice, name="phone", scopes=["read", "ingest"], created_by=staff)

    event = AuditEvent.objects.get(action="apikey.created")
    assert event.actor_user_id == staff.pk
    assert event.target_id == str(api_key.public_id)
    assert event.metadata["prefix"] == api_key.prefix
    assert event.metadata["scopes"] == ["ingest", "read"]
    assert plaintext not in str(event.metadata)


@pytest.mark.django_db
def test_it_refuses_unknown_or_no_scopes_and_past_expiries(alice, fast_key_hashing):
    with pytest.raises(ValidationError):
        api_key_create(owner=alice, name="phone", scopes=["admin"], created_by=None)
    with pytest.raises(ValidationError):
        api_key_create(owner=alice, name="phone", scopes=[], created_by=None)
    with pytest.raises(ValidationError):
        api_key_create(
            owner=alice, name="phone", scopes=["read"], created_by=None, expires_at=timezone.now() - timedelta(days=1)
        )
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="apikey.").exists()


@pytest.mark.django_db
def test_it_draws_another_prefix_on_a_collision(alice, fast_key_hashing, monkeypatch):
    existing, _ = api_key_create(owner=alice, name="first", scopes=["read"], created_by=None)
    # The prefix is random; force one collision with the existing key, then a fresh draw.
    draws = iter([existing.prefix, "zz99zz99"])
    monkeypatch.setattr(keys, "new_prefix", lambda: next(draws))

    api_key, plaintext = api_key_create(owner=alice, name="second", scopes=["read"], created_by=None)

    assert api_key.prefix == "zz99zz99" and plaintext.startswith("hx_zz99zz99_")
    assert ApiKey.objects.count() == 2
    assert AuditEvent.objects.filter(action="apikey.created").count() == 2


@pytest.mark.django_db
def test_revoking_is_audited_once_drops_the_cache_entries_and_moves_the_epoch(alice_key, staff):
    api_key, plaintext = alice_key
    digest = keys.key_digest(plaintext)
    until = time.time() + 60
    verify_cache.remember(digest, key_id=api_key.pk, until=until)
    verify_cache.keep(digest, api_key=api_key, epoch=key_epoch.current_epoch(), until=until)
    epoch = key_epoch.current_epoch()
    assert verify_cache.lookup(digest) == (api_key.pk, until)

    assert api_key_revoke(api_key=api_key, revoked_by=staff) is True
    assert api_key_revoke(api_key=api_key, revoked_by=None) is False

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by == staff
    assert verify_cache.lookup(digest) is None
    assert verify_cache.local_lookup(digest) is None
    assert key_epoch.current_epoch() not in {epoch, None}
    event = AuditEvent.objects.get(action="apikey.revoked")
    assert event.actor_user_id == staff.pk and event.metadata["prefix"] == api_key.prefix
