"""Reading the values of a Health Auto Export item: dates, numbers and text, strictly.

Every problem raises ``ItemError`` naming the field, so the pipeline can reject that one item
and keep its neighbours.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from functools import lru_cache

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_AHEAD_SECONDS = 86400  # "tomorrow": a phone's clock may run ahead, a day further is an error
# Typographic spaces recent iOS versions put before AM/PM (narrow no-break space) or elsewhere.
ODD_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})
TWELVE_HOUR_FORMATS = ("%Y-%m-%d %I:%M:%S %p %z", "%Y-%m-%d %I:%M %p %z")


class ItemError(ValueError):
    """One item is invalid; ``field`` says where inside the item."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@lru_cache(maxsize=65536)
def _parse_datetime_text(text: str) -> tuple[dt.datetime, int] | None:
    """The aware instant and its UTC offset in minutes, or None for a bare date or junk.

    Cached: an export repeats the same timestamps across metrics (PERF_NOTES: fromisoformat
    is ~50x strptime, and a cache hit is cheaper still).
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = None
        normalised = text.translate(ODD_SPACES)
        for fmt in TWELVE_HOUR_FORMATS:
            try:
                value = dt.datetime.strptime(normalised, fmt)
                break
            except ValueError:
                continue
        if value is None:
            return None
    offset = value.utcoffset()
    if offset is None:
        return None  # a bare date or a naive time: no instant without a zone
    try:
        return value.astimezone(dt.UTC), int(offset.total_seconds() // 60)
    except OverflowError:
        return None  # 0001-01-01 00:00 +0100 and the like: no instant in UTC


def instant_or_none(text: str) -> dt.datetime | None:
    """The UTC instant of a date string, or None: for looking ahead, never for validating."""
    parsed = _parse_datetime_text(text)
    return parsed[0] if parsed is not None else None


def parse_instant(value: object, field: str) -> tuple[dt.datetime, int]:
    """``2024-09-03 06:15:00 -0700``, 12-hour forms, ISO-8601 → (UTC instant, offset minutes)."""
    if not isinstance(value, str):
        raise ItemError("invalid_date", f"{field} must be a date string, got {type(value).__name__}", field)
    parsed = _parse_datetime_text(value.strip())
    if parsed is None:
        raise ItemError("invalid_date", f"{field} {value[:40]!r} is not a date like '2024-09-03 06:15:00 -0700'", field)
    instant = parsed[0]
    if instant < EARLIEST or instant.timestamp() > time.time() + LATEST_AHEAD_SECONDS:
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
        if math.isfinite(value):
            return value
        raise ItemError("invalid_number", f"{field} must be a finite number", field)
    # bool is an int subclass: true/false is not a quantity.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ItemError("invalid_number", f"{field} must be a number, got {str(value)[:40]!r}", field)
    number = float(value)
    if not math.isfinite(number):
        raise ItemError("invalid_number", f"{field} must be a finite number", field)
    return number


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
    return value


def check_range(value: float | None, low: float, high: float, field: str, unit: str) -> None:
    if value is not None and not low <= value <= high:
        raise ItemError("out_of_range", f"{field} {value:g} is outside {low:g}–{high:g} {unit}", field)
