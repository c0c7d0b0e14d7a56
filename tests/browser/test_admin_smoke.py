"""The admin works in a real browser: sign in, see the apps, nothing loaded from elsewhere."""

from __future__ import annotations

import pytest

from tests.browser.conftest import admin_login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_signs_in_and_sees_keys_and_the_audit_trail(page, watched, staff):
    admin_login(page, watched.origin, "staff", "staff-password-1")

    page.wait_for_selector("#content-main")
    assert page.title().startswith("Health data service")
    assert screenshot(page, "admin-index").stat().st_size > 10_000
    main = page.locator("#content-main")
    assert main.get_by_role("link", name="API keys", exact=True).is_visible()
    assert main.get_by_role("link", name="Audit events", exact=True).is_visible()
    assert watched.console_errors == []


def test_a_wrong_password_is_refused(page, watched, staff):
    admin_login(page, watched.origin, "staff", "not-the-password")

    page.wait_for_selector(".errornote")
    assert "correct username and password" in page.locator(".errornote").inner_text()
    assert "/admin/login/" in page.url
