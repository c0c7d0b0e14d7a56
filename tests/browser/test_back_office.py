"""The back office in a real browser: a key manager issues a key (shown once, with a QR code),
reloads, revokes it; a compliance officer finds the key's life in the trail and exports it.

Screenshots of every page go to test-artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import csv
import importlib
import io

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from accounts.models import ApiKey
from audit.models import AuditEvent
from ingest.services import ingest_export
from tests.browser.conftest import admin_login, screenshot
from tests.ingest.helpers import fixture_bytes

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC_URL = "https://health.example.org"
ROLE_MIGRATIONS = (("accounts", "0002_key_managers_group"), ("audit", "0002_compliance_group"))


@pytest.fixture(autouse=True)
def _role_groups(transactional_db):
    """The groups the data migrations create, again: a transactional test before this one may have
    flushed them. Each migration's own function runs, on the models as of that migration."""
    loader = MigrationExecutor(connection).loader
    for app_label, name in ROLE_MIGRATIONS:
        migration = importlib.import_module(f"{app_label}.migrations.{name}")
        with connection.schema_editor() as editor:
            migration.create_group(loader.project_state((app_label, name)).apps, editor)


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_URL = PUBLIC_URL


def fits(page, width: int) -> bool:
    """No horizontal scrolling at this width: not the page, nor a list's own scroller."""
    return page.evaluate(
        """width => document.documentElement.scrollWidth <= width
            && [...document.querySelectorAll(".results")].every(el => el.scrollWidth <= el.clientWidth)""",
        width,
    )


def issue_key(page, origin: str, owner) -> str:
    """From the owner's user page: Add a key for this user → save; returns the key shown."""
    page.goto(f"{origin}{reverse('admin:accounts_user_change', args=[owner.pk])}")
    page.get_by_role("link", name="Add a key for this user").click()
    page.wait_for_selector("#id_name")
    page.fill("#id_name", "Alice's iPhone")
    page.click("input[name=_save]")
    page.wait_for_selector("#api-key-plaintext")
    return page.input_value("#api-key-plaintext")


def test_a_key_is_issued_shown_once_revoked_and_traced(page, browser, watched, key_manager, compliance_officer, alice):
    origin = watched.origin
    admin_login(page, origin, "kim", "kim-password-1")
    page.wait_for_selector("#dashboard")
    assert page.locator("#dashboard caption").all_text_contents() == ["Keys expiring within 30 days"]
    screenshot(page, "key-manager-index")

    page.goto(f"{origin}{reverse('admin:accounts_user_change', args=[alice.pk])}")
    screenshot(page, "user-page-with-add-key-link")
    plaintext = issue_key(page, origin, alice)

    # Shown once, with the app's settings and a QR code that rendered.
    api_key = ApiKey.objects.get()
    assert plaintext.startswith(f"hx_{api_key.prefix}_")
    assert page.locator("#ingest-url").inner_text() == f"{PUBLIC_URL}/v1/ingest"
    assert page.locator("#api-key-qr").evaluate("img => img.complete && img.naturalWidth > 100")
    assert "Version 2" in page.locator("table.app-settings").inner_text()
    assert screenshot(page, "key-created").stat().st_size > 10_000

    # A reload shows no key and creates none.
    page.reload()
    assert "This key can no longer be displayed" in page.locator("#content-main").inner_text()
    assert page.locator("#api-key-plaintext").count() == 0
    assert plaintext not in page.content()
    assert ApiKey.objects.count() == 1
    assert AuditEvent.objects.filter(action="apikey.created").count() == 1
    screenshot(page, "key-created-reloaded")

    # Revoke it from its page.
    page.get_by_role("link", name="Go to the key").click()
    page.wait_for_selector("#apikey_form")
    screenshot(page, "key-change")
    page.get_by_role("link", name="Revoke").click()
    screenshot(page, "key-revoke-confirmation")
    page.click("input[value='Yes, revoke']")
    page.wait_for_selector(".messagelist")
    assert "Revoked 1 key(s)." in page.locator(".messagelist").inner_text()
    assert page.locator("td.field-status .key-status-revoked").inner_text() == "revoked"
    assert fits(page, 1280)
    screenshot(page, "key-list-after-revoke")
    api_key.refresh_from_db()
    assert api_key.is_revoked and api_key.revoked_by == key_manager

    # The compliance officer finds both events by the prefix and exports them.
    officer = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    trail = officer.new_page()
    admin_login(trail, origin, "carol", "carol-password-1")
    trail.goto(f"{origin}{reverse('admin:audit_auditevent_changelist')}")
    trail.fill("#searchbar", api_key.prefix)
    trail.press("#searchbar", "Enter")
    trail.wait_for_selector("#result_list")
    actions = trail.locator("#result_list td.field-action").all_inner_texts()
    assert sorted(actions) == ["apikey.created", "apikey.revoked"]
    assert "kim" in trail.locator("#result_list td.field-actor").first.inner_text()
    assert "UTC" in trail.locator("#result_list th.field-occurred, #result_list td.field-occurred").first.inner_text()
    assert fits(trail, 1280)
    screenshot(trail, "audit-search-by-prefix")

    trail.check("#action-toggle")
    trail.select_option("select[name=action]", "export_csv")
    with trail.expect_download() as download:
        trail.click("button[name=index]")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert sorted(row["action"] for row in rows) == ["apikey.created", "apikey.revoked"]
    assert {row["key_prefix"] for row in rows} == {api_key.prefix}
    assert AuditEvent.objects.filter(action="audit.exported", actor_username="carol").count() == 1
    officer.close()
    assert watched.console_errors == []


def test_the_key_created_page_works_on_a_phone(phone_page, watched, key_manager, alice):
    admin_login(phone_page, watched.origin, "kim", "kim-password-1")

    plaintext = issue_key(phone_page, watched.origin, alice)

    assert phone_page.locator("#api-key-qr").is_visible()
    assert phone_page.locator("#api-key-qr").bounding_box()["width"] <= 390
    assert phone_page.input_value("#api-key-plaintext") == plaintext
    assert fits(phone_page, 390)
    screenshot(phone_page, "key-created-phone")
    assert watched.console_errors == []


def test_staff_read_the_dashboard_and_an_exports_errors(page, watched, staff, alice, alice_key):
    ingest_export(user=alice, api_key=alice_key[0], body=fixture_bytes("bad/heart_rate_out_of_range.json"))
    ingest_export(user=alice, api_key=alice_key[0], body=fixture_bytes("small.json"), automation={"name": "Hourly"})
    admin_login(page, watched.origin, "staff", "staff-password-1")

    page.wait_for_selector("#dashboard")
    captions = page.locator("#dashboard caption").all_text_contents()
    assert captions[:2] == ["Last sync per user", "Recent failed and partial exports"]
    assert fits(page, 1280)
    screenshot(page, "staff-dashboard")

    page.goto(f"{watched.origin}{reverse('admin:ingest_ingestion_changelist')}")
    screenshot(page, "ingestion-list")
    assert fits(page, 1280)
    page.locator("#result_list td.field-errors", has_text="1").first.locator("xpath=..").locator("th a").click()
    page.wait_for_selector("table.item-errors")
    assert "out_of_range" in page.locator("table.item-errors").inner_text()
    screenshot(page, "ingestion-with-item-errors")

    page.goto(f"{watched.origin}{reverse('admin:accounts_apikey_changelist')}")
    assert page.locator("td.field-status .key-status-active").count() == 1
    assert fits(page, 1280)
    screenshot(page, "key-list")
    assert watched.console_errors == []
