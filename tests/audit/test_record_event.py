from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.test import RequestFactory, override_settings

from audit.models import AuditEvent
from audit.services import USER_AGENT_MAX, record_event
from healthexport.lib.http import client_ip

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def _request(**meta: str):
    request = RequestFactory().get("/v1/ingest", **meta)
    request.request_id = "req-12345678"
    return request


def test_it_records_who_what_and_from_where(alice):
    request = _request(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Health Auto Export/7.2")
    request.user = alice

    event = record_event(action="data.deleted", request=request, target=("ingestion", "7d4c"), metadata={"samples": 12})

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "data.deleted"
    assert stored.actor_user_id == alice.pk and stored.actor_username == alice.username
    assert stored.outcome == AuditEvent.Outcome.SUCCESS
    assert (stored.target_type, stored.target_id) == ("ingestion", "7d4c")
    assert stored.ip == "203.0.113.9"
    assert stored.user_agent == "Health Auto Export/7.2"
    assert stored.request_id == "req-12345678"
    assert stored.metadata == {"samples": 12}


def test_it_names_a_model_target_by_its_public_id(alice):
    event = record_event(action="user.viewed", target=alice)

    assert (event.target_type, event.target_id) == ("accounts.user", str(alice.public_id))


def test_it_truncates_the_user_agent():
    event = record_event(action="auth.failed", request=_request(HTTP_USER_AGENT="x" * 1000))

    assert len(AuditEvent.objects.get(pk=event.pk).user_agent) == USER_AGENT_MAX


def test_it_rolls_back_with_the_change_it_describes(alice):
    def audited_change_that_fails() -> None:
        with transaction.atomic():
            record_event(action="test.renamed", actor=alice, target=("user", "alice"))
            get_user_model().objects.create_user(username="alice")  # duplicate: the change fails

    with pytest.raises(IntegrityError):
        audited_change_that_fails()

    assert not AuditEvent.objects.filter(action="test.renamed").exists()


def test_it_commits_with_the_change_it_describes(alice):
    with transaction.atomic():
        user = get_user_model().objects.create_user(username="dave")
        record_event(action="test.welcomed", actor=alice, target=user)

    assert AuditEvent.objects.filter(action="test.welcomed", target_id=str(user.public_id)).count() == 1


def test_client_ip_ignores_forwarded_for_from_an_untrusted_peer():
    request = _request(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.9.9.9")

    assert client_ip(request) == "198.51.100.7"


@override_settings(TRUSTED_PROXIES=["10.0.0.1"])
def test_client_ip_takes_the_last_untrusted_hop_behind_a_trusted_proxy():
    request = _request(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.0.0.1")

    assert client_ip(request) == "203.0.113.5"
    assert record_event(action="auth.failed", request=request).ip == "203.0.113.5"


@override_settings(TRUSTED_PROXIES=["172.31.250.0/24", "fd00::/8"])
def test_client_ip_trusts_every_proxy_of_a_trusted_network():
    request = _request(REMOTE_ADDR="172.31.250.10", HTTP_X_FORWARDED_FOR="203.0.113.5, 172.31.250.77")
    behind_v6 = _request(REMOTE_ADDR="fd00::1", HTTP_X_FORWARDED_FOR="2001:db8::5")
    outside = _request(REMOTE_ADDR="172.31.251.10", HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert client_ip(request) == "203.0.113.5"
    assert client_ip(behind_v6) == "2001:db8::5"
    assert client_ip(outside) == "172.31.251.10"


@override_settings(TRUSTED_PROXIES=["10.0.0.1"])
def test_client_ip_drops_a_forged_address():
    request = _request(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="not-an-ip")

    assert client_ip(request) is None


def test_a_failed_audit_write_is_counted_and_raised(alice):
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("healthexport_audit_write_failures_total") or 0
    with pytest.raises(TypeError):
        record_event(action="apikey.created", actor=alice, metadata={"not json": object()})
    assert REGISTRY.get_sample_value("healthexport_audit_write_failures_total") == before + 1
