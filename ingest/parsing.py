"""Reading the values of a Health Auto Export item: dates, numbers and text, strictly.

Every problem raises ``ItemError`` naming the field, so the pipeline can reject that one item
and keep its neighbours.
"""

from __future__ import annotations

import datetime as dt
import math
import time

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_AHEAD_SECONDS = 86400  # "tomorrow": a phone's clock may run ahead, a day further is an error
# Typographic spaces recent iOS versions put before AM/PM (narrow no-break space) or elsewhere.
ODD_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})
TWELVE_HOUR_FORMATS = ("%Y-%m-%d %I:%M:%S %p %z", "%Y-%m-%d %I:%M %p %z")
# The largest magnitude of any number read: far beyond any measurement (1e15 steps, kcal or km),
# yet a billion of them still sum and convert to finite floats. Near float's own limit (1.7e308)
# two values in one rollup would sum to infinity, which neither PostgreSQL nor JSON can hold.
MAX_MAGNITUDE = 1e15
# Looked up once: these run for every item of an export (hundreds of thousands).
_fromisoformat = dt.datetime.fromisoformat
_UTC = dt.UTC


class ItemError(ValueError):
    """One item is invalid; ``field`` says where inside the item."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _parse_datetime_text(text: str) -> tuple[dt.datetime, int] | None:
    """The aware instant and its UTC offset in minutes, or None for a bare date or junk.

    ``fromisoformat`` first: it reads the app's usual form and is ~50x faster than ``strptime``
    (docs/performance.md), which only the other forms need.
    """
    try:
        value = _fromisoformat(text)
    except ValueError:
        value = _parse_other_forms(text)
        if value is None:
            return None
    offset = value.utcoffset()
    if offset is None:
        return None  # a bare date or a naive time: no instant without a zone
    try:
        return value.astimezone(_UTC), (offset.days * 86400 + offset.seconds) // 60
    except OverflowError:
        return None  # 0001-01-01 00:00 +0100 and the like: no instant in UTC


def _parse_other_forms(text: str) -> dt.datetime | None:
    """Surrounding spaces, typographic spaces and the 12-hour forms."""
    normalised = text.strip().translate(ODD_SPACES)
    try:
        return dt.datetime.fromisoformat(normalised)
    except ValueError:
        pass
    for fmt in TWELVE_HOUR_FORMATS:
        try:
            return dt.datetime.strptime(normalised, fmt)
        except ValueError:
            continue
    return None


# (when it was worked out, "tomorrow" then): read per item, worked out again each second.
_horizon = (-math.inf, EARLIEST)


def latest_plausible() -> dt.datetime:
    """The latest instant an item may have: a phone's clock may run ahead, a day further is an error."""
    global _horizon
    now = time.time()
    worked_out_at, latest = _horizon
    if not worked_out_at <= now < worked_out_at + 1:
        latest = dt.datetime.fromtimestamp(now + LATEST_AHEAD_SECONDS, dt.UTC)
        _horizon = (now, latest)
    return latest


# Date texts read lately → (instant, offset): the metrics of an export mostly share their items'
# times (each minute or hour of the day), so most texts are read once, not once per metric.
# Emptied when full; shared by the threads of a worker (one dict operation at a time). Only
# texts as long as a date is are kept: one padded with a megabyte of spaces still parses, and
# 4096 of them would stay in the worker between requests.
RECENT_DATES = 4096
RECENT_DATE_MAX_LENGTH = 40
_recent_dates: dict[str, tuple[dt.datetime, int]] = {}


def parse_instant(value: object, field: str) -> tuple[dt.datetime, int]:
    """``2024-09-03 06:15:00 -0700``, 12-hour forms, ISO-8601 → (UTC instant, offset minutes)."""
    if not isinstance(value, str):
        raise ItemError("invalid_date", f"{field} must be a date string, got {type(value).__name__}", field)
    parsed = _recent_dates.get(value)
    if parsed is None:
        parsed = _parse_datetime_text(value)
        if parsed is None:
            raise ItemError(
                "invalid_date", f"{field} {value[:40]!r} is not a date like '2024-09-03 06:15:00 -0700'", field
            )
        if len(value) <= RECENT_DATE_MAX_LENGTH:
            if len(_recent_dates) >= RECENT_DATES:
                _recent_dates.clear()
            _recent_dates[value] = parsed
    if not EARLIEST <= parsed[0] <= latest_plausible():
        raise ItemError("out_of_range", f"{field} {value[:40]!r} is before 1970 or after tomorrow", field)
    return parsed


def parse_optional_instant(value: object, field: str) -> tuple[dt.datetime | None, int | None]:
    if value is None or value == "":
        return None, None
    return parse_instant(value, field)


def parse_local_date(value: object, field: str) -> tuple[dt.date, int | None]:
    """A night's date: a bare ``2024-09-03`` or a datetime (its local date), with its offset if any."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            try:
                return dt.date.fromisoformat(text), None
            except ValueError:
                pass
        parsed = _parse_datetime_text(text)
        if parsed is not None:
            instant, offset = parsed
            return (instant + dt.timedelta(minutes=offset)).date(), offset
    raise ItemError("invalid_date", f"{field} {str(value)[:40]!r} is not a date", field)


def parse_number(value: object, field: str) -> float:
    if type(value) is float:  # the common case, first
        if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return value
        if math.isfinite(value):
            raise _beyond_magnitude(value, field)
        raise ItemError("invalid_number", f"{field} must be a finite number", field)
    # bool is an int subclass: true/false is not a quantity.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ItemError("invalid_number", f"{field} must be a number, got {str(value)[:40]!r}", field)
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise ItemError("invalid_number", f"{field} must be a finite number", field)
    if not -MAX_MAGNITUDE <= number <= MAX_MAGNITUDE:
        raise _beyond_magnitude(number, field)
    return number


def _beyond_magnitude(value: float, field: str) -> ItemError:
    return ItemError("out_of_range", f"{field} {value:g} is beyond ±{MAX_MAGNITUDE:g}", field)


def parse_optional_number(value: object, field: str) -> float | None:
    return None if value is None else parse_number(value, field)


def parse_text(value: object, field: str, max_length: int = 255) -> str:
    """Free text such as a source name; a missing value is ``""`` so unique keys hold."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ItemError("invalid_text", f"{field} must be text", field)
    if len(value) > max_length:
        raise ItemError("invalid_text", f"{field} is longer than {max_length} characters", field)
    if "\x00" in value:  # PostgreSQL's text cannot hold it
        raise ItemError("invalid_text", f"{field} holds a NUL character (\\u0000), which cannot be stored", field)
    return value


def check_range(value: float | None, low: float, high: float, field: str, unit: str) -> None:
    if value is not None and not low <= value <= high:
        raise ItemError("out_of_range", f"{field} {value:g} is outside {low:g}–{high:g} {unit}", field)
