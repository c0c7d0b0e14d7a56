from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import api_key_create
from audit.models import AuditEvent
from ingest.models import AppleImport
from metrics.models import Sample
from tests.ingest.apple_helpers import SMALL_ZIP, adds_up, expected, run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path / "imports"


def upload(client, body: bytes, content_type: str = "application/zip"):
    return client.post("/v1/imports", data=body, content_type=content_type)


# The worker commits and reads what was committed, as in production: these tests commit too.
@pytest.mark.django_db(transaction=True)
def test_an_upload_is_queued_then_imported_by_a_worker(alice, alice_client, settings):
    answer = upload(alice_client, SMALL_ZIP.read_bytes())
    assert answer.status_code == 202
    import_id = answer.json()["import_id"]
    assert answer.json() == {"import_id": import_id, "status": "queued"}
    assert answer["Location"] == f"/v1/imports/{import_id}"
    stored = list(settings.IMPORT_DIR.iterdir())
    assert [path.stat().st_size for path in stored] == [SMALL_ZIP.stat().st_size]
    assert alice_client.get(f"/v1/imports/{import_id}").json()["status"] == "queued"
    assert not Sample.objects.filter(user=alice).exists()  # the request imports nothing itself

    run_queued_tasks()

    status = alice_client.get(f"/v1/imports/{import_id}").json()
    assert status["status"] == "done" and status["progress"] == 1 and status["error"] is None
    received = {kind: counts["received"] for kind, counts in status["counts"]["records"].items()}
    assert received == expected()["records_by_type"]
    assert all(adds_up(counts) for counts in status["counts"]["records"].values())
    assert Sample.objects.filter(user=alice).exists()
    assert list(settings.IMPORT_DIR.iterdir()) == []  # the archive is dropped once imported
    actions = set(AuditEvent.objects.filter(action__startswith="import.").values_list("action", flat=True))
    assert {"import.queued", "import.started", "import.finished"} <= actions
    listed = alice_client.get("/v1/imports").json()["imports"]
    assert [item["import_id"] for item in listed] == [import_id]


def test_a_hostile_upload_is_refused_at_once_and_not_kept(alice_client, settings):
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("../../etc/cron.d/evil", b"* * * * * root true")
    answer = upload(alice_client, packed.getvalue())
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "unsafe_entry"
    assert not AppleImport.objects.exists()
    assert list(settings.IMPORT_DIR.iterdir()) == []


def test_it_wants_a_zip(alice_client):
    answer = upload(alice_client, b"{}", content_type="application/json")
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"
    assert not AppleImport.objects.exists()


def test_a_few_imports_a_day_per_key(alice_client, settings):
    settings.IMPORTS_PER_DAY = 1
    assert upload(alice_client, SMALL_ZIP.read_bytes()).status_code == 202
    answer = upload(alice_client, SMALL_ZIP.read_bytes())
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limited"
    assert 0 < int(answer["Retry-After"]) <= 86400
    assert AppleImport.objects.count() == 1


def test_its_own_size_cap_and_not_the_hourly_byte_budget(alice_client, settings):
    settings.RATELIMIT_BYTES_PER_HOUR = 1000  # far less than the archive: uploads do not count
    assert upload(alice_client, SMALL_ZIP.read_bytes()).status_code == 202
    settings.IMPORT_MAX_BODY_BYTES = 1000
    answer = upload(alice_client, SMALL_ZIP.read_bytes())
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"
    assert AppleImport.objects.count() == 1


def test_uploading_needs_the_ingest_scope(alice, fast_key_hashing, api_client):
    _, plaintext = api_key_create(owner=alice, name="reader", scopes=[ApiKey.Scope.READ], created_by=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert upload(api_client, SMALL_ZIP.read_bytes()).status_code == 403
    assert api_client.get("/v1/imports").status_code == 200


def test_bob_never_sees_alices_imports(alice_client, bob_client):
    import_id = upload(alice_client, SMALL_ZIP.read_bytes()).json()["import_id"]
    answer = bob_client.get(f"/v1/imports/{import_id}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert bob_client.get("/v1/imports").json() == {"imports": []}


def test_the_imports_page_asks_to_sign_in(client):
    answer = client.get(reverse("apple-imports-page"))
    assert answer.status_code == 302
    assert "next=/imports" in answer["Location"]


@pytest.mark.django_db(transaction=True)
def test_the_imports_page_uploads_and_lists(alice, client, settings):
    client.force_login(alice)
    with SMALL_ZIP.open("rb") as archive:
        answer = client.post(reverse("apple-imports-page"), {"archive": archive})
    assert answer.status_code == 302
    apple_import = AppleImport.objects.get(user=alice)
    assert apple_import.status == "queued" and apple_import.api_key is None
    run_queued_tasks()
    page = client.get(reverse("apple-imports-page"))
    assert page.status_code == 200
    assert b"<td>done</td>" in page.content
