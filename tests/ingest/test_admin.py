from __future__ import annotations

import pytest

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
