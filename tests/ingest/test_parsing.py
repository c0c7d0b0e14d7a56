"""Reading dates and numbers in every form the app writes."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from ingest.parsing import ItemError, _recent_dates, parse_instant, parse_local_date, parse_number

UTC = dt.UTC

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize(
    ("text", "instant", "offset"),
    [
        ("2024-09-03 06:15:00 -0700", dt.datetime(2024, 9, 3, 13, 15, tzinfo=UTC), -420),
        ("2024-09-03 6:15:00 AM -0700", dt.datetime(2024, 9, 3, 13, 15, tzinfo=UTC), -420),
        ("2024-09-03 6:15:00\u202fPM -0700", dt.datetime(2024, 9, 4, 1, 15, tzinfo=UTC), -420),
        ("2024-09-03 12:05:00\u202fAM +0200", dt.datetime(2024, 9, 2, 22, 5, tzinfo=UTC), 120),
        ("2024-09-03 12:05:00 PM +0530", dt.datetime(2024, 9, 3, 6, 35, tzinfo=UTC), 330),
        ("2024-10-08T20:30:00Z", dt.datetime(2024, 10, 8, 20, 30, tzinfo=UTC), 0),
        ("2024-10-08 00:00:00 -0400", dt.datetime(2024, 10, 8, 4, 0, tzinfo=UTC), -240),
        (" 2024-10-08 00:00:00 -0400\n", dt.datetime(2024, 10, 8, 4, 0, tzinfo=UTC), -240),
        ("2024-10-08 00:00:00 -0930", dt.datetime(2024, 10, 8, 9, 30, tzinfo=UTC), -570),
    ],
)
def test_every_date_form_the_app_writes_is_an_instant_with_its_offset(text, instant, offset):
    assert parse_instant(text, "date") == (instant, offset)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("14/05/2024 08:00", "invalid_date"),
        ("2024-09-03", "invalid_date"),  # a bare date is no instant
        ("2024-09-03 06:15:00", "invalid_date"),  # no zone
        (1725369300, "invalid_date"),
        ("1969-12-31 23:00:00 +0000", "out_of_range"),
        ("2999-01-01 00:00:00 +0000", "out_of_range"),
        ("0001-01-01 00:00:00 +0100", "invalid_date"),  # has no instant in UTC at all
    ],
)
def test_a_date_that_is_not_a_plausible_instant_is_rejected_naming_the_field(value, code):
    with pytest.raises(ItemError) as raised:
        parse_instant(value, "date")
    assert raised.value.code == code
    assert raised.value.field == "date"


@pytest.mark.parametrize(
    ("text", "night", "offset"),
    [
        ("2024-10-08", dt.date(2024, 10, 8), None),
        ("2024-10-08 00:00:00 -0400", dt.date(2024, 10, 8), -240),
        ("2024-10-08 11:30:00 PM +1300", dt.date(2024, 10, 8), 780),
    ],
)
def test_a_sleep_night_is_the_local_date_the_app_gave(text, night, offset):
    assert parse_local_date(text, "date") == (night, offset)


@pytest.mark.parametrize("value", ["12", True, None, float("nan"), float("inf"), [1], 10**400])
def test_only_finite_numbers_are_quantities(value):
    with pytest.raises(ItemError) as raised:
        parse_number(value, "qty")
    assert raised.value.field == "qty"


def test_integers_and_floats_are_quantities():
    assert parse_number(7, "qty") == 7.0
    assert parse_number(64.91, "qty") == 64.91


def test_tomorrow_follows_the_clock_both_ways():
    soon = (dt.datetime.now(UTC) + dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S +0000")
    assert parse_instant(soon, "date")[0] > dt.datetime.now(UTC)
    with time_machine.travel(dt.datetime.now(UTC) - dt.timedelta(days=3), tick=False):
        with pytest.raises(ItemError) as raised:
            parse_instant(soon, "date")
        assert raised.value.code == "out_of_range"
    assert parse_instant(soon, "date")[1] == 0


def test_a_date_is_remembered_only_while_it_is_as_short_as_a_date():
    padded = " " * 100_000 + "2024-09-03 06:15:00 -0700"
    plain = "2024-09-03 06:15:01 -0700"

    assert parse_instant(padded, "date") == (dt.datetime(2024, 9, 3, 13, 15, tzinfo=dt.UTC), -420)
    assert parse_instant(plain, "date")[0] == dt.datetime(2024, 9, 3, 13, 15, 1, tzinfo=dt.UTC)
    assert padded not in _recent_dates and plain in _recent_dates
