"""Decoding an export lazily: the body is checked and split into items without building them.

A plain-dict parse of a 30 MB export costs ~6.5x the body in memory (docs/performance.md). Here the
document is decoded into ``msgspec.Raw`` slices of the body (no copies), and each metric's
items are decoded one at a time while they are validated, then dropped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

from healthexport.lib.errors import InvalidJson, InvalidPayload
from ingest.parsing import ItemError

LIST_SECTIONS = ("metrics", "workouts")


class _Export(msgspec.Struct):
    data: dict[str, msgspec.Raw]


class MetricHeader(msgspec.Struct):
    """The name and unit of one element of ``data.metrics`` (its items are skipped, not built)."""

    name: str
    units: str | None = None


class MetricEntry(MetricHeader):
    """One element of ``data.metrics``; its items stay undecoded until validated."""

    data: list[msgspec.Raw] | None = None


@dataclass
class Payload:
    metrics: list[msgspec.Raw] = field(default_factory=list)
    workouts: list[msgspec.Raw] = field(default_factory=list)
    other: dict[str, msgspec.Raw] = field(default_factory=dict)


_raw_list = msgspec.json.Decoder(list[msgspec.Raw] | None)
_metric_header = msgspec.json.Decoder(MetricHeader)
_metric_entry = msgspec.json.Decoder(MetricEntry)
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_any = msgspec.json.Decoder()


def parse_payload(body: bytes) -> Payload:
    """The sections of an export, or 400 ``invalid_json`` / ``invalid_payload``."""
    try:
        export = msgspec.json.decode(body, type=_Export)
    except msgspec.ValidationError as exc:
        _require_json(body)  # a type error found before a syntax error is still invalid JSON
        raise InvalidPayload(
            'The body must be a JSON object like {"data": {"metrics": [...]}}: ' + str(exc),
            details=[{"field": "data", "reason": "invalid"}],
        ) from None
    except msgspec.DecodeError as exc:
        raise InvalidJson(f"The body is not valid JSON: {exc}") from None
    payload = Payload()
    for section, raw in export.data.items():
        if section in LIST_SECTIONS:
            try:
                setattr(payload, section, _raw_list.decode(raw) or [])
            except msgspec.ValidationError:
                raise InvalidPayload(
                    f"data.{section} must be a list.",
                    details=[{"field": f"data.{section}", "reason": "not_a_list"}],
                ) from None
        else:
            payload.other[section] = raw
    return payload


def _require_json(body: bytes) -> None:
    try:
        msgspec.json.decode(body, type=msgspec.Raw)
    except msgspec.DecodeError as exc:
        raise InvalidJson(f"The body is not valid JSON: {exc}") from None


def decode_metric_header(raw: msgspec.Raw) -> MetricHeader | None:
    """A metric's name and unit, or None when it is not an object with a text ``name``."""
    try:
        header = _metric_header.decode(raw)
    except msgspec.ValidationError:
        return None
    return header if header.name else None


def decode_metric_items(raw: msgspec.Raw) -> list[msgspec.Raw] | None:
    """A metric's items, undecoded (``[]`` when ``data`` is missing, None when it is not a list)."""
    try:
        return _metric_entry.decode(raw).data or []
    except msgspec.ValidationError:
        return None


def decode_item(raw: msgspec.Raw) -> Any:
    """One item as Python values. A number no float or 64-bit integer can hold (which JSON allows)
    is that item's error: it could not be hashed, stored as JSON everywhere, or exported."""
    try:
        item = _any.decode(raw)
    except msgspec.ValidationError:  # a float too large: the standard library reads it as infinity
        item = json.loads(bytes(raw))
    else:
        if _LONG_DIGIT_RUN not in bytes(raw).translate(_DIGITS_AS_ZERO):
            return item
    path = _unrepresentable_number_path(item)
    if path is not None:
        raise ItemError("invalid_number", f"{path or 'a number'} is too large for a number", path or None)
    return item


# A run of 20 digits: an integer that may not fit in 64 bits (or only text that looks like one).
# Found by mapping every digit to "0" and searching for 20 of them: ~13x faster than a regex.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 20
INTEGER_RANGE = range(-(2**63), 2**64)


def _unrepresentable_number_path(value: Any, path: str = "") -> str | None:
    """Where the first infinite float or too-long integer is inside ``value`` (``a.b[2]``)."""
    if isinstance(value, float) and math.isinf(value):
        return path
    if isinstance(value, int) and not isinstance(value, bool) and value not in INTEGER_RANGE:
        return path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _unrepresentable_number_path(
            child, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip(".")
        )
        if found is not None:
            return found
    return None


def decode_section(raw: msgspec.Raw) -> list[msgspec.Raw] | None:
    """The items of one of the other sections, undecoded: a list's elements, a lone object as
    one item, none for null or an empty value; None when it is any other value."""
    try:
        return _raw_list.decode(raw) or []
    except msgspec.ValidationError:
        pass
    try:
        return [raw] if _raw_object.decode(raw) else []
    except msgspec.ValidationError:
        pass
    try:
        return None if _any.decode(raw) else []
    except msgspec.ValidationError:
        return None
