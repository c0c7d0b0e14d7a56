"""Keyset pagination: an opaque cursor after the sort key of the last row given out."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

from healthexport.lib.errors import InvalidPayload


def encode_cursor(start: dt.datetime, tiebreak: int | str) -> str:
    """An opaque position after (``start``, ``tiebreak``): the sort key of the last row given out."""
    return base64.urlsafe_b64encode(f"{start.isoformat()}|{tiebreak}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, tiebreak: type[int] | type[str] = int) -> tuple[dt.datetime, int | str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start, after = text.split("|", 1)
        return dt.datetime.fromisoformat(start).astimezone(dt.UTC), tiebreak(after)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise InvalidPayload("The cursor is not one this API gave out.", details=[{"field": "cursor"}]) from None


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
