"""Every GET route of the URLconf (the admin aside) with paths and query strings hypothesis makes:
random segments, NUL characters, %-escapes (broken ones too), huge numbers, dates that are not
dates or overflow, cursors and units and resolutions and time zones nobody gave out.

Whatever the URL, the answer is never a 5xx, and an API error has the one error shape. This
reaches what tests/test_schemathesis.py does not: URLs the schema does not describe. The same
examples every run (see ``tests/fuzzing.py``); on PostgreSQL more than embedded.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote

import pytest
from django.db import connection
from django.urls import URLResolver, get_resolver
from hypothesis import given
from hypothesis import strategies as st

from ingest.models import Ingestion
from ingest.services import ingest_export
from metrics.models import Workout
from tests.fuzzing import fuzz_settings
from tests.ingest.helpers import fixture_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

EXAMPLES = 200 if connection.vendor == "postgresql" else 60
HOLE = re.compile(r"<(?:(\w+):)?(\w+)>")


def get_routes(patterns: list | None = None, prefix: str = "") -> list[str]:
    """Every route outside the admin, as written in the URLconf (``v1/metrics/<str:name>``)."""
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith("admin/"):
            continue
        if isinstance(pattern, URLResolver):
            routes += get_routes(pattern.url_patterns, route)
        else:
            routes.append(route)
    return sorted(routes)


ROUTES = get_routes()
# Drawn more often: where the data and the query parameters are.
API_ROUTES = [route for route in ROUTES if route.startswith("v1/")]
ROUTES_WITH_IDS = [route for route in ROUTES if HOLE.search(route)]

# --- Pieces of a URL, already %-escaped where they are text ---------------------------------------

escaped_text = st.text(max_size=30).map(lambda text: quote(text, safe=""))
raw_escapes = st.sampled_from(
    ["%00", "a%00b", "%", "%zz", "%ff", "%c0%af", "%ed%a0%80", "%2F", "%2e%2e", "..", "%ef%bb%bf", "%25", "+", "%20"]
)
huge_numbers = st.sampled_from(["9" * 40, "-1", "0", "1e308", "1e999", "NaN", str(2**64), "-" + "9" * 400])
uuids = st.uuids().map(str)
dates = st.one_of(
    st.sampled_from(
        [
            "2024-09-03",
            "2024-09-03T06:15:00-07:00",
            "2024-09-03T06:15:00 07:00",
            "2024-13-45",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:59:59.999999-23:59",
            "2024-09-03T25:00:00Z",
            "T",
            "",
        ]
    ),
    st.datetimes().map(lambda moment: moment.isoformat()),
)


def as_cursor(data: bytes) -> str:
    """Encoded as the API encodes its cursors (``healthexport.lib.cursors``)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


cursors = st.one_of(
    st.sampled_from(
        [b"9999-12-31T23:59:59+00:00|x", b"0001-01-01T00:00:00-23:59|1", b"2024-09-03T06:00:00+00:00|", b"|", b"0"]
    ).map(as_cursor),
    st.sampled_from(["=", "....", "%3D%3D"]),
    st.binary(max_size=40).map(as_cursor),
)
units = st.sampled_from(["kJ", "kcal", "mi", "km", "count", "count/min", "degF", "mmol/L", "%", "x" * 40, "mcg", "d"])
resolutions = st.sampled_from(["raw", "hour", "day", "week", "month", "year", "", "HOUR"])
zones = st.sampled_from(["Europe/Berlin", "UTC", "Pacific/Kiritimati", "../../etc/passwd", "Not/AZone", "/", "EST5EDT"])
formats = st.sampled_from(["json", "gpx", "hae", "ndjson", "csv", "xml", "api", ""])
METRIC_NAMES = ("step_count", "heart_rate", "active_energy", "blood_pressure", "sleep_analysis")
metric_names = st.sampled_from(METRIC_NAMES)
any_value = st.one_of(escaped_text, raw_escapes, huge_numbers, dates.map(quote), cursors, units.map(quote))

PARAMETERS = {
    "start": dates.map(quote),
    "end": dates.map(quote),
    "cursor": cursors,
    "unit": units.map(quote),
    "resolution": resolutions,
    "tz": zones.map(quote),
    "type": st.sampled_from(["Outdoor%20Run", "Run", "%00"]),
    "format": formats,
    "kind": st.sampled_from(["nights", "stages", "x"]),
    "limit": huge_numbers,
}
query_pairs = st.lists(
    st.one_of(
        st.sampled_from(sorted(PARAMETERS)).flatmap(lambda key: st.tuples(st.just(key), PARAMETERS[key] | any_value)),
        st.tuples(st.one_of(escaped_text, raw_escapes), any_value),
    ),
    max_size=5,
)


@pytest.fixture
def real_ids(alice) -> dict[str, list[str]]:
    """Alice's data, so that routes answer more than 404, and the ids that reach it."""
    for name in ("small.json", "full_day.json"):
        ingest_export(user=alice, api_key=None, body=fixture_bytes(name))
    at_the_bound = [{"date": f"2024-09-03 06:0{minute}:00 +0000", "qty": 1e15} for minute in range(3)]
    body = {"data": {"metrics": [{"name": "active_energy", "units": "kcal", "data": at_the_bound}]}}
    ingest_export(user=alice, api_key=None, body=json.dumps(body).encode())
    return {
        "uuid": [
            *map(str, Workout.objects.filter(user=alice).values_list("public_id", flat=True)[:3]),
            *map(str, Ingestion.objects.filter(user=alice).values_list("public_id", flat=True)[:3]),
        ]
    }


@st.composite
def urls(draw: st.DrawFn, real_ids: dict[str, list[str]]) -> str:
    route = draw(st.sampled_from(ROUTES) | st.sampled_from(API_ROUTES) | st.sampled_from(ROUTES_WITH_IDS))

    def fill(hole: re.Match) -> str:
        converter = hole.group(1) or "str"
        known = st.sampled_from(real_ids.get(converter) or ["x"])
        typical = {"uuid": st.one_of(known, uuids), "str": metric_names}.get(converter, escaped_text)
        return draw(st.one_of(typical, typical, escaped_text, raw_escapes, huge_numbers))

    path = "/" + HOLE.sub(fill, route)
    path += draw(st.sampled_from(["", "", "", "", "", "/", "//", "/%00", "/x", "%00"]))
    pairs = draw(query_pairs)
    return path + ("?" + "&".join(f"{key}={value}" for key, value in pairs) if pairs else "")


# Where the data is, with the parameters those views read: drawn from apart, so that most
# examples get past routing and authentication to the queries.
DATA_PATHS = [
    *(f"/v1/metrics/{name}" for name in METRIC_NAMES),
    "/v1/workouts",
    "/v1/export",
    "/v1/ingestions",
]
typed_query_pairs = st.lists(
    st.sampled_from(sorted(PARAMETERS)).flatmap(lambda key: st.tuples(st.just(key), PARAMETERS[key])), max_size=4
)


DESCRIPTIONS = ("/v1/schema", "/v1/docs")


def assert_answered(client, url: str) -> None:
    response = client.get(url)
    if response.streaming:  # an export: its rows are read as it is sent
        b"".join(response.streaming_content)

    assert response.status_code < 500, (url, response.content[:500])
    path = response.request["PATH_INFO"]
    # The schema and the docs answer in their own formats (YAML, HTML), their errors too.
    if response.status_code >= 400 and path.startswith("/v1/") and not path.startswith(DESCRIPTIONS):
        assert set(response.json()["error"]) == {"code", "message", "details"}


@given(data=st.data())
@fuzz_settings(EXAMPLES)
def test_no_url_of_any_get_route_is_a_server_error(unlimited_alice_client, real_ids, data):
    assert_answered(unlimited_alice_client, data.draw(urls(real_ids), label="url"))


@given(path=st.sampled_from(DATA_PATHS), pairs=typed_query_pairs)
@fuzz_settings(EXAMPLES)
def test_no_query_string_of_a_data_route_is_a_server_error(unlimited_alice_client, real_ids, path, pairs):
    assert_answered(unlimited_alice_client, path + "?" + "&".join(f"{key}={value}" for key, value in pairs))


def test_every_read_route_is_fuzzed():
    assert {"v1/metrics/<str:name>", "v1/workouts/<uuid:public_id>", "v1/stats", "v1/export", "health"} <= set(ROUTES)
