"""Browser tests: Playwright for Python driving Debian's chromium against a live server.

They are marked ``browser``: ``make test`` runs them, ``make test PYTEST_ARGS='-m "not browser"'``
skips them. Every page a test opens is screenshotted under ``test-artifacts/screenshots/`` (not
committed); every console error and every request to a host other than the live server is
recorded, and a test fails on either unless it says otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# Playwright's sync API runs an event loop in this thread; the ORM calls a test makes around it
# (creating users, reading what the browser changed) are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@dataclass
class Watched:
    """What the browser did that a test may assert on."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: make test installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture
def watched(live_server) -> Watched:
    return Watched(origin=live_server.url)


@contextlib.contextmanager
def _page(browser, watched: Watched, *, width: int, height: int) -> Iterator:
    """A page of this size whose requests to other hosts are blocked and recorded (failing the test)."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
    page = context.new_page()
    host = urlsplit(watched.origin).netloc
    page.on("console", lambda message: message.type == "error" and watched.console_errors.append(message.text))
    page.on("pageerror", lambda error: watched.console_errors.append(str(error)))

    def guard(route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc != host:
            watched.foreign_requests.append(url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", guard)
    yield page
    context.close()
    assert not watched.foreign_requests, f"requests left the server: {watched.foreign_requests}"


@pytest.fixture
def page(browser, watched: Watched) -> Iterator:
    """A 1280 px wide page."""
    with _page(browser, watched, width=1280, height=900) as page:
        yield page


@pytest.fixture
def phone_page(browser, watched: Watched) -> Iterator:
    """A 390 px wide page (a phone)."""
    with _page(browser, watched, width=390, height=844) as page:
        yield page


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def admin_login(page, origin: str, username: str, password: str) -> None:
    page.goto(f"{origin}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
