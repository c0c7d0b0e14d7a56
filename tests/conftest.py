"""The fixture graph: alice → alice_key → alice_client; bob never sees Alice's data; staff (a superuser);
compliance_officer (staff in the Compliance group); key_manager (staff in the Key managers group)."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create

ALL_SCOPES = [ApiKey.Scope.INGEST, ApiKey.Scope.READ, ApiKey.Scope.DELETE]


@pytest.fixture(autouse=True, scope="session")
def _flush_past_the_truncate_guard():
    """Tests that commit (``transaction=True``, ``live_server``) are cleaned up with one TRUNCATE of
    every table, which the audit trail's trigger refuses, as it must in production. The test
    database's superuser runs that one statement in replica mode, where ordinary triggers do not fire."""
    original = PostgresOperations.execute_sql_flush

    def execute_sql_flush(self: PostgresOperations, sql_list: list[str]) -> None:
        original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, a test database in a file, as in production: the in-memory one Django uses by
    default shares its cache between connections, whose table locks ignore the busy timeout, so
    concurrent tests would fail with "database table is locked" where a file waits its turn."""
    database = django_settings.DATABASES["default"]
    if not database["ENGINE"].endswith("postgis"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(autouse=True)
def _empty_cache(request):
    """Each test starts with an empty cache: verify cache, failed-auth throttle and rate-limit counters.

    On the embedded default the cache is a database table: a test without the database cannot
    reach it (nor clear it).
    """
    uses_database = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if uses_database or not isinstance(caches["default"], DatabaseCache):
        cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """User passwords are not under test; Django's Argon2 defaults cost ~130 ms per user created."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fast_key_hashing(settings):
    """Cheap Argon2 parameters for tests that are not about hashing (the real ones cost ~25 ms a hash).

    Tests about key hashing must not use this (nor alice_key/bob_key, which do).
    """
    settings.API_KEY_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(username="alice", password="alice-password-1")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user(username="bob", password="bob-password-1")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        username="staff", password="staff-password-1", is_staff=True, is_superuser=True
    )


@pytest.fixture
def compliance_officer(db):
    user = get_user_model().objects.create_user(username="carol", password="carol-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance"))
    return user


@pytest.fixture
def key_manager(db):
    user = get_user_model().objects.create_user(username="kim", password="kim-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Key managers"))
    return user


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def _client_for(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@pytest.fixture
def alice_key(alice, fast_key_hashing) -> tuple[ApiKey, str]:
    """(ApiKey, plaintext) for Alice with every scope."""
    return api_key_create(owner=alice, name="Alice's iPhone", scopes=ALL_SCOPES, created_by=None)


@pytest.fixture
def alice_client(alice_key) -> APIClient:
    return _client_for(alice_key[1])


UNLIMITED = 10**9


@pytest.fixture
def unlimited_alice_key(alice_key, settings) -> tuple[ApiKey, str]:
    """Alice's key with no rate limit worth the name: for tests that send hundreds of requests."""
    settings.RATELIMIT_REQUESTS_PER_HOUR = settings.RATELIMIT_BYTES_PER_HOUR = UNLIMITED
    settings.RATELIMIT_READ_REQUESTS_PER_HOUR = UNLIMITED
    ApiKey.objects.filter(pk=alice_key[0].pk).update(
        ratelimit_requests_per_hour=UNLIMITED, ratelimit_bytes_per_hour=UNLIMITED
    )
    return alice_key


@pytest.fixture
def unlimited_alice_client(unlimited_alice_key) -> APIClient:
    return _client_for(unlimited_alice_key[1])


@pytest.fixture
def bob_key(bob, fast_key_hashing) -> tuple[ApiKey, str]:
    """(ApiKey, plaintext) for Bob with every scope."""
    return api_key_create(owner=bob, name="Bob's iPhone", scopes=ALL_SCOPES, created_by=None)


@pytest.fixture
def bob_client(bob_key) -> APIClient:
    return _client_for(bob_key[1])
