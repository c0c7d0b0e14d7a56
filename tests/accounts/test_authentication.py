from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from argon2 import PasswordHasher, Type
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import key_epoch, keys, verify_cache
from accounts.instrumentation import AUTH_FAILURES
from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

WHOAMI = "/v1/test/whoami"
WWW_AUTHENTICATE = 'Bearer realm="healthexport"'
# A closed port: a real, unreachable Redis.
DEAD_CACHE = {
    "default": {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def bearer(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def assert_401(response, code: str) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["details"] == [] and body["error"]["message"]


def failures(reason: str):
    return AuditEvent.objects.filter(action="auth.failed", metadata__reason=reason)


@pytest.mark.embedded
def test_a_valid_key_authenticates_as_its_owner(alice_key, alice_client):
    api_key, _ = alice_key
    response = alice_client.get(WHOAMI)
    assert response.status_code == 200
    assert response.json() == {"username": "alice", "prefix": api_key.prefix}


def test_the_x_api_key_header_works_too(alice_key, api_client):
    response = api_client.get(WHOAMI, HTTP_X_API_KEY=alice_key[1])
    assert response.status_code == 200


@pytest.mark.embedded
def test_no_key_is_not_authenticated_and_not_audited(api_client):
    assert_401(api_client.get(WHOAMI), "not_authenticated")
    assert not AuditEvent.objects.exists()


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("presented", "prefix"),
    [
        ("hx_abc", ""),
        ("hx_abcd1234_tooshort", "abcd1234"),
        ("hx_ABCD1234_" + "a" * 43, ""),
        ("sk_abcd1234_" + "a" * 43, ""),
    ],
)
def test_it_rejects_a_malformed_key_before_any_query(api_client, presented, prefix):
    # Only the auth.failed audit row is written (and its partition ensured): no lookup of the key.
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(WHOAMI, **bearer(presented))
    assert not [q["sql"] for q in queries.captured_queries if "accounts_apikey" in q["sql"]]
    assert_401(response, "invalid_api_key")
    event = failures("malformed").get()
    assert event.metadata["prefix"] == prefix and event.actor_api_key_id is None
    assert event.ip == "127.0.0.1"


@pytest.mark.embedded
def test_it_rejects_an_unknown_key_and_audits_and_counts_it_without_a_key(api_client, fast_key_hashing):
    counted = AUTH_FAILURES.labels(reason="unknown_key")._value.get()
    presented = keys.new_key("abcd1234")
    assert_401(api_client.get(WHOAMI, **bearer(presented)), "invalid_api_key")
    assert AUTH_FAILURES.labels(reason="unknown_key")._value.get() == counted + 1
    event = failures("unknown_key").get()
    assert event.actor_api_key_id is None and event.metadata["prefix"] == "abcd1234"
    assert event.outcome == AuditEvent.Outcome.DENIED


def test_it_rejects_a_wrong_secret_for_a_known_prefix(alice_key, api_client):
    api_key, _ = alice_key
    assert_401(api_client.get(WHOAMI, **bearer(keys.new_key(api_key.prefix))), "invalid_api_key")
    assert failures("wrong_secret").get().metadata["prefix"] == api_key.prefix


@pytest.mark.embedded
def test_it_rejects_a_revoked_key(alice_key, alice_client):
    api_key, _ = alice_key
    api_key_revoke(api_key=api_key, revoked_by=None)
    assert_401(alice_client.get(WHOAMI), "invalid_api_key")
    assert failures("revoked").get().actor_api_key_id == api_key.pk


@pytest.mark.embedded
def test_revocation_is_effective_on_the_very_next_request_with_a_warm_cache(alice_key, alice_client):
    api_key, plaintext = alice_key
    assert alice_client.get(WHOAMI).status_code == 200
    assert verify_cache.lookup(keys.key_digest(plaintext))[0] == api_key.pk
    assert verify_cache.local_lookup(keys.key_digest(plaintext)).api_key.pk == api_key.pk

    api_key_revoke(api_key=api_key, revoked_by=None)

    assert_401(alice_client.get(WHOAMI), "invalid_api_key")


def test_a_key_saved_through_the_orm_is_read_again_on_its_next_request(alice_key, alice_client):
    api_key, plaintext = alice_key
    assert alice_client.post("/v1/test/ingest").status_code == 200
    # As the admin's change form does: a plain save, no service.
    api_key.scopes = ["read"]
    api_key.save()

    assert alice_client.post("/v1/test/ingest").status_code == 403
    api_key.revoked_at = timezone.now()
    api_key.save()
    assert_401(alice_client.get(WHOAMI), "invalid_api_key")
    assert verify_cache.local_lookup(keys.key_digest(plaintext)) is None


def test_a_write_that_bypasses_save_is_seen_once_the_epoch_moves(alice_key, alice_client):
    api_key, _ = alice_key
    assert alice_client.get(WHOAMI).status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    assert alice_client.get(WHOAMI).status_code == 200  # the documented gap: QuerySet.update skips signals

    key_epoch.keys_changed()

    assert_401(alice_client.get(WHOAMI), "invalid_api_key")


@pytest.mark.embedded
def test_it_rejects_an_expired_key_even_with_a_warm_cache(alice, fast_key_hashing, api_client):
    api_key, plaintext = api_key_create(
        owner=alice, name="phone", scopes=["read"], created_by=None, expires_at=timezone.now() + timedelta(hours=1)
    )
    assert api_client.get(WHOAMI, **bearer(plaintext)).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert_401(api_client.get(WHOAMI, **bearer(plaintext)), "invalid_api_key")
    assert failures("expired").get().actor_api_key_id == api_key.pk


def test_it_rejects_the_key_of_an_inactive_owner(alice, alice_key, alice_client):
    assert alice_client.get(WHOAMI).status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert_401(alice_client.get(WHOAMI), "invalid_api_key")
    assert failures("owner_inactive").exists()


@pytest.mark.embedded
def test_a_key_without_the_scope_gets_403(alice, fast_key_hashing, api_client):
    _, plaintext = api_key_create(owner=alice, name="reader", scopes=["read"], created_by=None)
    assert api_client.get("/v1/test/read", **bearer(plaintext)).status_code == 200

    response = api_client.post("/v1/test/ingest", **bearer(plaintext))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert api_client.delete("/v1/test/delete", **bearer(plaintext)).status_code == 403


def test_a_scoped_endpoint_without_a_key_is_401_not_403(api_client):
    assert_401(api_client.post("/v1/test/ingest"), "not_authenticated")


def test_a_warm_request_costs_no_query(alice_key, alice_client, django_assert_num_queries):
    assert alice_client.get(WHOAMI).status_code == 200  # cold: Argon2, cache filled, last_used_at set
    with django_assert_num_queries(0):
        assert alice_client.get(WHOAMI).status_code == 200


def test_after_another_key_changed_a_warm_request_reads_its_row_once(
    alice_key, alice_client, bob_key, django_assert_num_queries
):
    assert alice_client.get(WHOAMI).status_code == 200
    api_key_revoke(api_key=bob_key[0], revoked_by=None)  # moves the epoch

    with django_assert_num_queries(1):
        assert alice_client.get(WHOAMI).status_code == 200
    with django_assert_num_queries(0):
        assert alice_client.get(WHOAMI).status_code == 200


def test_last_used_is_recorded_at_most_once_a_minute(alice_key, alice_client):
    api_key, _ = alice_key
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alice_client.get(WHOAMI, REMOTE_ADDR="10.0.0.1")
    api_key.refresh_from_db()
    assert api_key.last_used_at == start and api_key.last_used_ip == "10.0.0.1"

    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        alice_client.get(WHOAMI, REMOTE_ADDR="10.0.0.2")
    api_key.refresh_from_db()
    assert api_key.last_used_at == start and api_key.last_used_ip == "10.0.0.1"

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        alice_client.get(WHOAMI, REMOTE_ADDR="10.0.0.2")
    api_key.refresh_from_db()
    assert api_key.last_used_at == start + timedelta(seconds=61) and api_key.last_used_ip == "10.0.0.2"


def test_a_hash_with_other_parameters_is_upgraded_on_the_next_success(alice, api_client):
    api_key, plaintext = api_key_create(owner=alice, name="phone", scopes=["read"], created_by=None)
    old_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    ApiKey.objects.filter(pk=api_key.pk).update(hashed_key=old_hasher.hash(plaintext))

    assert api_client.get(WHOAMI, **bearer(plaintext)).status_code == 200

    api_key.refresh_from_db()
    assert api_key.hashed_key.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert keys.verify_key(api_key.hashed_key, plaintext)


def test_with_the_cache_down_it_verifies_against_the_database_and_never_fails_open(
    alice_key, alice_client, api_client, settings, caplog
):
    api_key, _ = alice_key
    settings.CACHES = DEAD_CACHE

    assert alice_client.get(WHOAMI).status_code == 200
    assert_401(api_client.get(WHOAMI, **bearer(keys.new_key(api_key.prefix))), "invalid_api_key")
    api_key_revoke(api_key=api_key, revoked_by=None)
    assert_401(alice_client.get(WHOAMI), "invalid_api_key")
    assert "verify cache unreachable" in caplog.text


def test_repeated_failures_from_one_ip_are_throttled(alice_key, api_client, settings, fast_key_hashing):
    settings.AUTH_FAILURES_PER_IP = "3/m"
    _, plaintext = alice_key
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(3):
            assert_401(api_client.get(WHOAMI, **bearer(keys.new_key("abcd1234"))), "invalid_api_key")
        for _ in range(2):
            response = api_client.get(WHOAMI, **bearer(keys.new_key("abcd1234")))
            assert response.status_code == 429
            assert response.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(response["Retry-After"]) <= 60
            assert response["RateLimit-Limit"] == "3"
            assert response["RateLimit-Remaining"] == "0"
            assert response["RateLimit-Reset"] == response["Retry-After"]
            assert response["RateLimit-Policy"] == '"failed-auth";q=3;w=60'
        # Even a valid key is throttled from that address until the window ends (it was never cached).
        assert api_client.get(WHOAMI, **bearer(plaintext)).status_code == 429
        # Another address is not.
        assert api_client.get(WHOAMI, REMOTE_ADDR="10.9.9.9", **bearer(plaintext)).status_code == 200

    assert failures("unknown_key").count() == 3
    assert AuditEvent.objects.filter(action="ratelimit.exceeded").count() == 1
