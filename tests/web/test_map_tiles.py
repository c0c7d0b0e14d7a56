"""MAP_TILE_URL: no tiles by default; when set, its host (only) may serve images. Settings are read
once per process, so each case runs in a fresh interpreter."""

from __future__ import annotations

import json

import pytest

from tests.healthexport.test_startup import run_django

SHOW_IMG_SRC = (
    "import json; from django.conf import settings; "
    "print(json.dumps([settings.MAP_TILE_URL, settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']]))"
)


def img_sources(**env: str) -> tuple[str, list[str]]:
    result = run_django(SHOW_IMG_SRC, SECRET_KEY="t", DOTENV_PATH="", **env)
    assert result.returncode == 0, result.stderr
    tiles, sources = json.loads(result.stdout)
    return tiles, sources


def test_by_default_there_are_no_tiles_and_images_come_from_this_host_only():
    assert img_sources() == ("", ["'self'", "data:"])


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tiles.example.org/base/{z}/{x}/{y}.png", "https://*.tiles.example.org"),
    ],
)
def test_a_tile_server_is_allowed_for_images(url, allowed):
    tiles, sources = img_sources(MAP_TILE_URL=url)

    assert tiles == url
    assert sources == ["'self'", "data:", allowed]


@pytest.mark.parametrize("url", ["tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/tile.png"])
def test_a_tile_url_without_scheme_or_placeholders_stops_startup(url):
    result = run_django("", SECRET_KEY="t", DOTENV_PATH="", MAP_TILE_URL=url)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "healthexport: configuration error: MAP_TILE_URL must be an http(s) URL with {z}, {x} and {y} in it."
    ]
