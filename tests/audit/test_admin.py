from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.admin import ProbedDatesQuerySet
from audit.models import AuditEvent
from tests.audit.conftest import utc

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

CHANGELIST = "/admin/audit/auditevent/"


@pytest.fixture
def events(alice):
    return [
        AuditEvent.objects.create(
            action="apikey.created",
            actor_user_id=alice.pk,
            actor_username=alice.username,
            actor_key_prefix="abcd1234",
            target_type="apikey",
            target_id="k1",
            ip="203.0.113.7",
            request_id="req-aaaaaaaa",
            user_agent="=HYPERLINK(evil)",
            occurred_at=utc(2025, 3, 4, 5, 6),
        ),
        AuditEvent.objects.create(
            action="auth.failed",
            outcome=AuditEvent.Outcome.FAILURE,
            ip="198.51.100.1",
            request_id="req-bbbbbbbb",
            occurred_at=utc(2026, 1, 2),
        ),
    ]


@pytest.fixture
def officer_client(client, compliance_officer):
    client.force_login(compliance_officer)
    return client


# Creating the fixtures' users is audited too (user.created, user.groups_changed): left out here.
ACCOUNT_EVENTS = ("user.", "group.")


def _listed_actions(response) -> list[str]:
    return [event.action for event in response.context["cl"].result_list if not event.action.startswith(ACCOUNT_EVENTS)]


@pytest.mark.usefixtures("events")
def test_compliance_sees_the_trail_newest_first(officer_client):
    response = officer_client.get(CHANGELIST)

    assert response.status_code == 200
    assert _listed_actions(response) == ["auth.failed", "apikey.created"]
    assert "hx_abcd1234_…" in response.text
    assert "delete_selected" not in response.text
    assert 'href="/admin/audit/auditevent/add/"' not in response.text


@pytest.mark.usefixtures("events")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "auth.failed"}, ["auth.failed"]),
        ({"outcome__exact": "failure"}, ["auth.failed"]),
        ({"occurred_at__year": "2025"}, ["apikey.created"]),
        ({"q": "abcd1234"}, ["apikey.created"]),
        ({"q": "hx_abcd1234_"}, ["apikey.created"]),
        ({"q": "alice"}, ["apikey.created"]),
        ({"q": "req-bbbbbbbb"}, ["auth.failed"]),
        ({"q": "198.51.100.1"}, ["auth.failed"]),
        ({"q": "nobody"}, []),
    ],
)
def test_compliance_can_filter_and_search(officer_client, query, expected):
    response = officer_client.get(CHANGELIST, query)

    assert response.status_code == 200
    assert _listed_actions(response) == expected


@pytest.mark.usefixtures("events")
def test_the_action_filter_offers_every_action(officer_client):
    response = officer_client.get(CHANGELIST)

    assert '?action=apikey.created"' in response.text
    assert '?action=auth.failed"' in response.text


@pytest.mark.usefixtures("events")
def test_the_list_never_counts_the_whole_table(officer_client):
    with CaptureQueriesContext(connection) as queries:
        officer_client.get(CHANGELIST)

    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)


def test_compliance_exports_the_selected_events_and_the_export_is_audited(officer_client, compliance_officer, events):
    response = officer_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [events[0].pk], "index": 0})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["occurred_at", "action", "outcome"]
    assert [row[1] for row in rows[1:]] == ["apikey.created"]
    assert rows[1][3] == "alice"
    assert rows[1][8] == "'=HYPERLINK(evil)"  # a formula is defused for spreadsheets
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor_user_id == compliance_officer.pk
    assert exported.metadata["events"] == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "add/"),
        ("post", "add/"),
        ("post", "{pk}/change/"),
        ("get", "{pk}/delete/"),
        ("post", "{pk}/delete/"),
    ],
)
@pytest.mark.parametrize("who", ["compliance_officer", "staff"])
def test_nobody_may_add_change_or_delete(client, request, events, who, method, path):
    client.force_login(request.getfixturevalue(who))
    url = CHANGELIST + path.format(pk=events[0].pk)

    response = getattr(client, method)(url, {"action": "hacked"} if method == "post" else None)

    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=events[0].pk).action == "apikey.created"
    assert AuditEvent.objects.filter(action__in=["apikey.created", "auth.failed"]).count() == 2
    assert not AuditEvent.objects.filter(action="hacked").exists()


def test_the_change_page_is_a_read_only_view(officer_client, events):
    response = officer_client.get(f"{CHANGELIST}{events[0].pk}/change/")

    assert response.status_code == 200
    assert 'name="_save"' not in response.text


def test_the_bulk_delete_action_is_refused_even_to_a_superuser(client, staff, events):
    client.force_login(staff)

    response = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [e.pk for e in events], "post": "yes"}
    )

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action__in=["apikey.created", "auth.failed"]).count() == 2


@pytest.mark.usefixtures("events")
def test_staff_without_the_compliance_group_cannot_see_the_trail(client, plain_staff):
    client.force_login(plain_staff)

    assert client.get(CHANGELIST).status_code == 403
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "/admin/audit/" not in index.text


@pytest.mark.usefixtures("events")
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("year", [utc(2025, 1, 1), utc(2026, 1, 1)]),
        ("month", [utc(2025, 3, 1), utc(2026, 1, 1)]),
        ("day", [utc(2025, 3, 4), utc(2026, 1, 2)]),
    ],
)
def test_the_date_hierarchy_finds_the_periods_holding_events(kind, expected):
    fixture_events = ProbedDatesQuerySet(model=AuditEvent).filter(action__in=["apikey.created", "auth.failed"])
    assert fixture_events.datetimes("occurred_at", kind) == expected


@pytest.mark.usefixtures("events")
def test_the_date_hierarchy_drills_down_by_year(officer_client):
    response = officer_client.get(CHANGELIST, {"occurred_at__year": "2025"})

    assert response.status_code == 200
    assert "March 2025" in response.text
    assert "January 2026" not in response.text
