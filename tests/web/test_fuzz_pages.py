"""The owner's pages answer any query string without a server error (hypothesis, as the API's
read routes in tests/test_fuzz_reads.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz_settings
from tests.test_fuzz_reads import any_value, dates, units

pytestmark = pytest.mark.django_db

PAGES = (
    "/",
    "/metrics/heart_rate",
    "/metrics/step_count",
    "/metrics/weight_body_mass",
    "/sleep",
    "/workouts",
    "/syncs",
)
PARAMETERS = {
    "range": st.sampled_from(["7d", "30d", "90d", "1y", "all", "", "x", "%00"]),
    "resolution": st.sampled_from(["hour", "day", "week", "month", "raw", "year", ""]),
    "unit": units,
    "days": st.sampled_from(["7", "30", "0", "-1", "9" * 40]),
    "night": dates,
    "type": st.sampled_from(["Outdoor%20Run", "Run", ""]),
    "format": st.sampled_from(["csv", "json", ""]),
    "cursor": any_value,
}
pairs = st.lists(
    st.sampled_from(sorted(PARAMETERS)).flatmap(lambda key: st.tuples(st.just(key), PARAMETERS[key] | any_value)),
    max_size=4,
)


@given(path=st.sampled_from(PAGES), query=pairs)
@fuzz_settings(150)
def test_no_query_string_of_a_page_is_a_server_error(alice_browser, alice_data, path, query):
    url = path + "?" + "&".join(f"{key}={value}" for key, value in query)

    response = alice_browser.get(url)

    assert response.status_code < 500, url
