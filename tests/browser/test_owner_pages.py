"""The owner's pages in a real browser, at 1280 px and on a phone (390 px): sign in, open every
page on a user with a few months of data, the charts and the route drawn with data, no console
error, no request to another host, nothing wider than the screen."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.services import api_key_create
from tests.browser.conftest import screenshot
from tests.web.owner_data import make_owner_data

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "owner-password-1"


@pytest.fixture
def owner(fast_key_hashing):
    user = get_user_model().objects.create_user(username="olivia", password=PASSWORD)
    made = make_owner_data(user, days=75)
    api_key_create(owner=user, name="Olivia's iPhone", scopes=["ingest", "read"], created_by=None)
    return {"user": user, "workout": made["workouts"][-1]}


def pages_of(owner) -> dict[str, str]:
    """Page name → path, and how many drawn things (charts, route) it must have."""
    return {
        "overview": "/",
        "metric-heart-rate": "/metrics/heart_rate?range=30d",
        "metric-steps": "/metrics/step_count?range=90d&resolution=week",
        "sleep": "/sleep",
        "workouts": "/workouts",
        "workout": f"/workouts/{owner['workout'].public_id}",
        "syncs": "/syncs",
        "keys": "/keys",
    }


DRAWN = {"overview": 6, "metric-heart-rate": 1, "metric-steps": 1, "sleep": 2, "workout": 3}


def sign_in(page, origin: str) -> None:
    page.goto(f"{origin}/login")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{origin}/")


def drawn_points(page) -> list[int]:
    """data-points of every chart and map, once each has drawn."""
    page.wait_for_function(
        "Array.from(document.querySelectorAll('[data-chart],[data-route]')).every(e => e.dataset.points)"
    )
    return page.eval_on_selector_all("[data-chart],[data-route]", "els => els.map(e => Number(e.dataset.points))")


def blank_canvases(page) -> int:
    """Canvases on which nothing was painted (every pixel transparent)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-chart] canvas')).filter(c => {
            const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) return false;
            return true;
        }).length"""
    )


def visit_every_page(page, watched, owner, suffix: str) -> None:
    sign_in(page, watched.origin)
    for name, path in pages_of(owner).items():
        response = page.goto(watched.origin + path)
        assert response.status == 200, path
        points = drawn_points(page)
        assert len(points) == DRAWN.get(name, 0), (path, points)
        assert all(count > 0 for count in points), (path, points)
        assert blank_canvases(page) == 0, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], (path, width)  # wide tables scroll inside their box
        assert screenshot(page, f"owner-{name}-{suffix}").stat().st_size > 5_000
    assert watched.console_errors == []


def test_every_page_draws_its_data_at_1280_px(page, watched, owner):
    visit_every_page(page, watched, owner, "1280")


def test_every_page_fits_a_phone(phone_page, watched, owner):
    visit_every_page(phone_page, watched, owner, "390")


def test_the_route_is_drawn_with_every_point_and_a_scale(page, watched, owner):
    sign_in(page, watched.origin)
    page.goto(f"{watched.origin}/workouts/{owner['workout'].public_id}")
    page.wait_for_selector("svg.route polyline")

    points = page.get_attribute("svg.route polyline", "points").split(" ")
    assert len(points) == owner["workout"].route_points.count()
    assert page.text_content("svg.route .route-scale text").endswith(("m", "km"))
    assert page.locator("svg.route image").count() == 0  # no tiles without MAP_TILE_URL


def test_anonymous_visitors_are_sent_to_sign_in(page, watched):
    page.goto(f"{watched.origin}/sleep")

    assert page.url == f"{watched.origin}/login?next=/sleep"
    assert page.locator("#id_username").is_visible()


def test_the_pages_work_from_the_keyboard(page, watched, owner):
    page.goto(f"{watched.origin}/login")
    assert page.evaluate("document.activeElement.id") == "id_username"  # the form has the focus
    page.keyboard.type("olivia")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{watched.origin}/")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Overview", "Sleep", "Workouts", "Syncs", "Keys", "Sign out"} <= set(focused)
    assert watched.console_errors == []
