"""Failed admin sign-ins are throttled per username and per client IP, and audited."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
LOGIN = "/admin/login/"
RIGHT = "staff-password-1"


def sign_in(client, username: str, password: str, ip: str = "192.0.2.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_after_ten_failures_for_a_username_even_the_right_password_is_refused(client, staff):
    for attempt in range(10):
        assert sign_in(client, "staff", f"wrong-{attempt}", ip=f"192.0.2.{attempt + 1}").status_code == 200

    response = sign_in(client, "staff", RIGHT, ip="198.51.100.9")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many failed sign-ins for this username" in response.content
    assert not signed_in(client)
    assert AuditEvent.objects.filter(action="admin.login_failed").count() == 10
    event = AuditEvent.objects.get(action="auth.login_throttled")
    assert event.outcome == AuditEvent.Outcome.DENIED
    assert event.metadata == {"username": "staff", "limit": "username", "rate": "10/15m"}
    assert event.ip == "198.51.100.9"
    assert RIGHT not in str(AuditEvent.objects.values().get(pk=event.pk))


def test_a_throttled_flood_is_audited_once(client, staff):
    for attempt in range(15):
        sign_in(client, "staff", f"wrong-{attempt}", ip=f"192.0.2.{attempt + 1}")

    assert AuditEvent.objects.filter(action="auth.login_throttled").count() == 1
    # Refused attempts check no password, so they are not failed logins either.
    assert AuditEvent.objects.filter(action="admin.login_failed").count() == 10


def test_after_thirty_failures_from_one_address_any_username_is_refused_there_only(client, staff):
    for attempt in range(30):
        assert sign_in(client, f"guess-{attempt % 5}", "wrong").status_code == 200

    refused = sign_in(client, "staff", RIGHT)
    assert refused.status_code == 429
    assert b"Too many failed sign-ins from this address" in refused.content
    assert AuditEvent.objects.get(action="auth.login_throttled").metadata["limit"] == "ip"

    assert sign_in(client, "staff", RIGHT, ip="198.51.100.9").status_code == 302
    assert signed_in(client)


def test_usernames_are_counted_regardless_of_case(client, staff):
    for attempt in range(10):
        sign_in(client, "Staff" if attempt % 2 else "STAFF", "wrong", ip=f"192.0.2.{attempt + 1}")

    assert sign_in(client, "staff", RIGHT, ip="198.51.100.9").status_code == 429


def test_the_throttle_lifts_when_its_window_ends(client, staff, time_machine):
    # Frozen clock (its audit events need this month's partition, which migrate created).
    time_machine.move_to(dt.datetime.now(dt.UTC), tick=False)
    for attempt in range(10):
        sign_in(client, "staff", "wrong", ip=f"192.0.2.{attempt + 1}")
    assert sign_in(client, "staff", RIGHT).status_code == 429

    time_machine.shift(dt.timedelta(minutes=16))

    assert sign_in(client, "staff", RIGHT).status_code == 302
    assert signed_in(client)


def test_a_few_failures_do_not_stand_in_the_way(client, staff):
    for _ in range(3):
        sign_in(client, "staff", "wrong")

    assert sign_in(client, "staff", RIGHT).status_code == 302
    assert not AuditEvent.objects.filter(action="auth.login_throttled").exists()


def test_with_the_cache_down_passwords_are_still_checked(client, staff, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # a closed port: a real, unreachable Redis
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    assert sign_in(client, "staff", "wrong").status_code == 200
    assert not signed_in(client)
    assert sign_in(client, "staff", RIGHT).status_code == 302
    assert "login throttle unavailable" in caplog.text


@pytest.mark.parametrize(
    ("login", "audited"),
    [(LOGIN, []), ("/login", [("owner.login_failed", "st\\u0000aff")])],
    ids=["admin", "owner pages"],
)
def test_a_username_typed_with_a_nul_is_refused_not_a_server_error(client, staff, login, audited):
    # The owner pages audit a failed sign-in with the username in jsonb, which refuses a NUL:
    # 500. The admin's form refuses the NUL before any password is checked.
    response = client.post(login, {"username": "st\x00aff", "password": "x\x00"}, REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 200 and not signed_in(client)
    failed = AuditEvent.objects.exclude(outcome=AuditEvent.Outcome.SUCCESS)
    assert [(event.action, event.metadata["username"]) for event in failed] == audited
