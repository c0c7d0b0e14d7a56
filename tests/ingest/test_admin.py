from __future__ import annotations

import html

import pytest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from healthexport.lib.errors import ApiError
from ingest.models import Ingestion
from ingest.services import ingest_export
from tests.ingest.helpers import fixture_bytes, store_unprocessed

pytestmark = pytest.mark.django_db


def test_staff_see_exports_with_counts_but_no_values(client, staff, alice):
    ingest_export(user=alice, api_key=None, body=fixture_bytes("bad/heart_rate_out_of_range.json"))
    client.force_login(staff)
    response = client.get("/admin/ingest/ingestion/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "2 / 1 / 0 / 0 / 1" in content
    # Neither the rejected value nor the error message quoting it (ids may contain "900" by chance).
    assert "Avg 900" not in content
    assert "is outside" not in content


def test_the_reprocess_action_finishes_an_unfinished_export(client, staff, alice):
    ingestion = store_unprocessed(alice)
    client.force_login(staff)
    response = client.post(
        "/admin/ingest/ingestion/", {"action": "reprocess", "_selected_action": [ingestion.pk]}, follow=True
    )
    assert "Reprocessed 1 export(s); 0 failed again." in response.content.decode()
    ingestion.refresh_from_db()
    assert ingestion.status == Ingestion.Status.PROCESSED


def test_exports_cannot_be_added_or_deleted_in_the_admin(client, staff, alice):
    ingestion = ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"))
    client.force_login(staff)
    pk = Ingestion.objects.get(public_id=ingestion["ingestion_id"]).pk
    assert client.get("/admin/ingest/ingestion/add/").status_code == 403
    assert client.get(f"/admin/ingest/ingestion/{pk}/delete/").status_code == 403


def test_an_export_opens_read_only(client, staff, alice):
    answer = ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"))
    client.force_login(staff)
    pk = Ingestion.objects.get(public_id=answer["ingestion_id"]).pk
    page = client.get(f"/admin/ingest/ingestion/{pk}/change/")
    assert page.status_code == 200
    assert "View ingestion" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/ingest/ingestion/{pk}/change/", {"status": "failed"}).status_code == 403


def _page(client, ingestion: Ingestion):
    return client.get(reverse("admin:ingest_ingestion_change", args=[ingestion.pk]))


def _ingested(answer) -> Ingestion:
    return Ingestion.objects.get(public_id=answer["ingestion_id"])


def test_an_exports_page_lists_its_item_errors_and_the_list_counts_them(client, staff, alice):
    ingestion = _ingested(
        ingest_export(user=alice, api_key=None, body=fixture_bytes("bad/heart_rate_out_of_range.json"))
    )
    client.force_login(staff)

    page = _page(client, ingestion)
    listed = client.get(reverse("admin:ingest_ingestion_changelist"))

    [error] = ingestion.result["errors"]
    assert "1 error(s)." in page.text
    assert f"<td>{error['code']}</td>" in page.text
    assert html.escape(error["message"]) in page.text
    assert "metrics / heart_rate / #1 / Avg" in page.text
    assert '<td class="field-errors">1</td>' in listed.text


def test_a_rejected_exports_page_says_why(client, staff, alice):
    with pytest.raises(ApiError):
        ingest_export(user=alice, api_key=None, body=fixture_bytes("bad/no_data_key.json"))
    ingestion = Ingestion.objects.get(status=Ingestion.Status.REJECTED)
    client.force_login(staff)

    page = _page(client, ingestion)

    message = ingestion.result["error"]["message"]
    assert message and f"{ingestion.error}: {html.escape(message)}" in page.text


def test_a_duplicate_shows_its_original_and_nothing_stored(client, staff, alice):
    first = _ingested(ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json")))
    again = _ingested(ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json")))
    client.force_login(staff)

    listed = client.get(reverse("admin:ingest_ingestion_changelist"))
    page = _page(client, again)

    assert f"duplicate of {first.public_id}: nothing stored" in listed.text
    assert reverse("admin:ingest_ingestion_change", args=[first.pk]) in page.text
    assert "nothing stored again" in page.text


def test_sizes_are_human_and_the_app_headers_a_table(client, staff, alice):
    automation = {"name": "Hourly sync", "id": "A1B2", "aggregation": "minutes", "period": "Since last sync"}
    ingestion = _ingested(
        ingest_export(user=alice, api_key=None, body=fixture_bytes("full_day.json"), automation=automation)
    )
    client.force_login(staff)

    listed = client.get(reverse("admin:ingest_ingestion_changelist"))
    page = _page(client, ingestion)

    assert filesizeformat(ingestion.body_size) in listed.text and "KB" in filesizeformat(ingestion.body_size)
    assert "<tr><th>automation-name</th><td>Hourly sync</td></tr>" in page.text
    assert "<tr><th>automation-period</th><td>Since last sync</td></tr>" in page.text


def test_the_list_filters_by_user(client, staff, alice, bob):
    ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"))
    ingest_export(user=bob, api_key=None, body=fixture_bytes("small.json"))
    client.force_login(staff)

    listed = client.get(reverse("admin:ingest_ingestion_changelist"), {"user__id__exact": bob.pk})

    assert [i.user for i in listed.context["cl"].result_list] == [bob]
