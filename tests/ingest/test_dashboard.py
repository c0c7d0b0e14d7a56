"""The staff dashboard on the admin index: syncs, failed exports, data-quality findings, expiring keys."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_key_create
from healthexport.lib.errors import ApiError
from ingest.models import Ingestion
from ingest.services import ingest_export
from tests.ingest.helpers import fixture_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

INDEX = reverse("admin:index")


def panels(response) -> dict[str, object]:
    return dict(response.context["dashboard_panels"])


def rows(panel) -> list[tuple[str, ...]]:
    return [tuple(str(cell) for cell in row.cells) for row in panel.rows]


def test_staff_see_last_syncs_with_stale_users_flagged(client, staff, alice, bob, alice_key, bob_key):
    with time_machine.travel(timezone.now() - dt.timedelta(hours=72)):
        ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"))
    ingest_export(user=bob, api_key=None, body=fixture_bytes("small.json"))
    api_key_create(owner=staff, name="never used", scopes=["ingest"], created_by=None)
    client.force_login(staff)

    panel = panels(client.get(INDEX))["Last sync per user"]

    assert [(r[0].split(">")[1].split("<")[0], "stale" in r[2]) for r in rows(panel)] == [
        ("alice", True),
        ("bob", False),
        ("staff", False),
    ]
    assert [row.flagged for row in panel.rows] == [True, False, False]
    assert "3 d 0 h ago" in rows(panel)[0][1] and rows(panel)[2][1] == "never"


def test_staff_see_recent_failed_rejected_and_partial_exports(client, staff, alice):
    ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"))
    partial = ingest_export(user=alice, api_key=None, body=fixture_bytes("bad/heart_rate_out_of_range.json"))
    with pytest.raises(ApiError):
        ingest_export(user=alice, api_key=None, body=fixture_bytes("bad/no_data_key.json"))
    client.force_login(staff)

    response = client.get(INDEX)

    listed = rows(panels(response)["Recent failed and partial exports"])
    assert [(r[2], r[4]) for r in listed] == [("rejected", "invalid_payload"), ("partial", "1 item error(s)")]
    assert partial["ingestion_id"] in listed[1][0]
    assert Ingestion.objects.count() == 3


def test_staff_see_the_latest_data_quality_findings(client, staff, alice):
    client.force_login(staff)
    assert "has not run yet" in client.get(INDEX).text
    with time_machine.travel(timezone.now() - dt.timedelta(hours=30)):
        ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"))
    call_command("check_data_quality", stdout=StringIO())

    panel = panels(client.get(INDEX))["Latest data-quality findings"]

    assert [(r[1], r[2]) for r in rows(panel)] == [("stale_user", "alice")]
    assert "1 stale_user" in panel.note


def test_staff_see_keys_expiring_within_30_days(client, staff, alice, fast_key_hashing):
    now = timezone.now()
    soon, _ = api_key_create(
        owner=alice, name="soon", scopes=["ingest"], created_by=None, expires_at=now + dt.timedelta(days=3)
    )
    api_key_create(
        owner=alice, name="later", scopes=["ingest"], created_by=None, expires_at=now + dt.timedelta(days=90)
    )
    api_key_create(owner=alice, name="never", scopes=["ingest"], created_by=None)
    client.force_login(staff)

    panel = panels(client.get(INDEX))["Keys expiring within 30 days"]

    assert [(r[1], r[2]) for r in rows(panel)] == [("alice", f"hx_{soon.prefix}_…")]
    assert panel.rows[0].flagged


def test_the_dashboard_links_the_api_docs_and_metrics(client, staff):
    client.force_login(staff)

    page = client.get(INDEX)

    assert 'href="/v1/docs"' in page.text and 'href="/metrics"' in page.text


def test_each_panel_needs_its_permission(client, key_manager, compliance_officer):
    client.force_login(key_manager)
    assert list(panels(client.get(INDEX))) == ["Keys expiring within 30 days"]

    client.force_login(compliance_officer)
    assert list(panels(client.get(INDEX))) == []
