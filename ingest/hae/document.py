"""Decoding an export lazily: the body is checked and split into items without building them.

A plain-dict parse of a 30 MB export costs ~6.5x the body in memory (docs/performance.md). Here the
document is decoded into ``msgspec.Raw`` slices of the body (no copies): ``parse_payload`` splits
it once into its metrics (name, unit, undecoded items), workouts and other sections, and each
item is decoded only while it is validated (``ingest.hae.items``), then dropped.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from healthexport.lib.errors import InvalidJson, InvalidPayload
from healthexport.lib.text import printable
from ingest.parsing import EARLIEST, ItemError, latest_plausible

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
class MetricPart:
    """One element of ``data.metrics``: ``header`` is None when it is not an object with a text
    ``name``, ``count`` (of its items) None when its ``data`` is not a list; ``raw`` is the
    whole element."""

    index: int
    header: MetricHeader | None
    count: int | None
    raw: msgspec.Raw

    @property
    def items(self) -> list[msgspec.Raw] | None:
        """The undecoded items, split out of ``raw`` each time they are asked for: an export's
        parts do not hold all its items at once (237k of them for a year, ~15 MB), only the
        metric being validated does."""
        return None if self.count is None else _metric_items_of(self.raw)


@dataclass
class Payload:
    metrics: list[MetricPart] = field(default_factory=list)
    workouts: list[msgspec.Raw] = field(default_factory=list)
    other: dict[str, msgspec.Raw] = field(default_factory=dict)

    def metric_names(self) -> list[str]:
        """The names of the export's metrics (malformed elements left out)."""
        return [part.header.name for part in self.metrics if part.header is not None]


_raw_list = msgspec.json.Decoder(list[msgspec.Raw] | None)
_metric_header = msgspec.json.Decoder(MetricHeader)
_metric_entry = msgspec.json.Decoder(MetricEntry)
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_any = msgspec.json.Decoder()


def parse_payload(body: bytes) -> Payload:
    """The sections of an export, or 400 ``invalid_json`` / ``invalid_payload``."""
    if body.startswith(UTF8_BOM):  # RFC 8259 lets a parser ignore it; some HTTP clients add one
        body = body[len(UTF8_BOM) :]
    _require_utf8(body)
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
    except RecursionError:
        raise _too_deep() from None
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
    payload.metrics = [_metric_part(index, raw) for index, raw in enumerate(payload.metrics)]
    return payload


def _metric_part(index: int, raw: msgspec.Raw) -> MetricPart:
    header = _metric_header_of(raw)
    items = None if header is None else _metric_items_of(raw)
    return MetricPart(index, header, None if items is None else len(items), raw)


def _require_json(body: bytes) -> None:
    try:
        msgspec.json.decode(body, type=msgspec.Raw)
    except msgspec.DecodeError as exc:
        raise InvalidJson(f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> InvalidJson:
    return InvalidJson("The body is not valid JSON: its arrays or objects are nested too deeply to read.")


# Bytes checked for UTF-8 at a time: small enough to stay in the CPU's cache (a 35 MB export
# takes ~10 ms), and no decoded copy of the body is ever held.
UTF8_CHUNK = 64 * 1024
UTF8_BOM = b"\xef\xbb\xbf"


def _require_utf8(body: bytes) -> None:
    """JSON is UTF-8 (RFC 8259). msgspec checks it only in the strings it decodes, not in the
    items it skips as raw slices: without this, a bad byte would surface in a later step."""
    if body.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    for start in range(0, len(view), UTF8_CHUNK):
        pending = len(decoder.getstate()[0])  # the start of a character cut by the last chunk
        try:
            decoder.decode(view[start : start + UTF8_CHUNK], final=start + UTF8_CHUNK >= len(view))
        except UnicodeDecodeError as exc:
            position = start - pending + exc.start
            raise InvalidJson(
                f"The body is not valid JSON: it must be UTF-8, and byte {position} "
                f"(0x{body[position]:02x}) is not ({exc.reason})."
            ) from None


def _metric_header_of(raw: msgspec.Raw) -> MetricHeader | None:
    """A metric's name and unit, or None when it is not an object with a text ``name``."""
    try:
        header = _metric_header.decode(raw)
    except (msgspec.ValidationError, RecursionError):
        return None
    return header if header.name else None


def _metric_items_of(raw: msgspec.Raw) -> list[msgspec.Raw] | None:
    """A metric's items, undecoded (``[]`` when ``data`` is missing, None when it is not a list)."""
    try:
        return _metric_entry.decode(raw).data or []
    except (msgspec.ValidationError, RecursionError):
        return None


def decode_item(raw: msgspec.Raw) -> Any:
    """One item as Python values, or ``ItemError`` for what nothing downstream could hold: a
    number no float or 64-bit integer can hold (which JSON allows: it could not be hashed,
    stored as JSON everywhere, or exported), a NUL character (PostgreSQL's text and jsonb
    refuse it), or nesting too deep to decode (the body is read with less on the stack)."""
    try:
        try:
            item = _any.decode(raw)
        except msgspec.ValidationError:  # a float too large: the standard library reads it as infinity
            item = json.loads(bytes(raw), parse_int=_integer)
        else:
            data = bytes(raw)
            if _LONG_DIGIT_RUN not in data.translate(_DIGITS_AS_ZERO) and _NUL_ESCAPE not in data:
                return item
    except RecursionError:
        raise ItemError("invalid_item", "the item is nested too deeply to read", None) from None
    problem = _unstorable(item)
    if problem is not None:
        raise problem
    return item


# A run of 20 digits: an integer that may not fit in 64 bits (or only text that looks like one).
# Found by mapping every digit to "0" and searching for 20 of them: ~13x faster than a regex.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 20
# The only way JSON can spell a NUL character (a raw NUL byte is not valid JSON).
_NUL_ESCAPE = b"\\u0000"
INTEGER_RANGE = range(-(2**63), 2**64)


def _integer(digits: str) -> int | float:
    """An integer as the standard library reads it, but one too long for 64 bits is infinity, as a
    float too large is: Python refuses to convert more than 4300 digits (ValueError)."""
    return int(digits) if len(digits) <= 20 else math.inf


def _unstorable(item: Any) -> ItemError | None:
    """The first value inside ``item`` that could not be stored, named by its path (``a.b[2]``).

    Iterative, not recursive: the item may be nested as deeply as the decoder allowed.
    """
    pending: list[tuple[Any, str]] = [(item, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, float) and math.isinf(value):
            return ItemError("invalid_number", f"{path or 'a number'} is too large for a number", path or None)
        if isinstance(value, int) and not isinstance(value, bool) and value not in INTEGER_RANGE:
            return ItemError("invalid_number", f"{path or 'a number'} is too large for a number", path or None)
        if isinstance(value, str) and "\x00" in value:
            return _nul_error(path)
        if isinstance(value, dict):
            for key in value:
                if "\x00" in key:
                    return _nul_error(f"{path}.{printable(key)}".lstrip("."))
            children = [(child, f"{path}.{key}".lstrip(".")) for key, child in value.items()]
        elif isinstance(value, list):
            children = [(child, f"{path}[{index}]") for index, child in enumerate(value)]
        else:
            continue
        pending.extend(reversed(children))  # the first child is looked at first
    return None


def _nul_error(path: str) -> ItemError:
    where = path or "the item"
    return ItemError("invalid_text", f"{where} holds a NUL character (\\u0000), which cannot be stored", path or None)


def decode_section(raw: msgspec.Raw) -> list[msgspec.Raw] | None:
    """The items of one of the other sections, undecoded: a list's elements, a lone object as
    one item, none for null or an empty value; None when it is any other value (or nested too
    deeply to read)."""
    try:
        return _raw_list.decode(raw) or []
    except msgspec.ValidationError:
        pass
    except RecursionError:
        return None
    try:
        return [raw] if _raw_object.decode(raw) else []
    except msgspec.ValidationError:
        pass
    except RecursionError:
        return None
    try:
        return None if _any.decode(raw) else []
    except (msgspec.ValidationError, RecursionError):
        return None


# The calendar day an item's time starts with, read from the undecoded metric.
_ITEM_DAY = re.compile(rb'"(?:date|startDate)"\s*:\s*"(\d{4}-\d\d-\d\d)')
# Any UTC offset moves an instant less than a day away from its local calendar day.
_DAY = dt.timedelta(days=1)


def metric_time_span(part: MetricPart) -> tuple[dt.datetime, dt.datetime] | None:
    """An estimate of the instants the metric's items cover, read from their dates' text.

    It bounds every plausible item time (the days found, a day wider on each side) without
    parsing one; an item found outside it later is simply compared with the table.
    """
    earliest, latest = EARLIEST.date(), latest_plausible().date()
    days = set()
    for text in set(_ITEM_DAY.findall(memoryview(part.raw))):
        try:
            day = dt.date.fromisoformat(text.decode())
        except ValueError:
            continue
        if earliest <= day <= latest:
            days.add(day)
    if not days:
        return None
    first, last = min(days) - _DAY, max(days) + 2 * _DAY
    return (
        dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC),
        dt.datetime.combine(last, dt.time(), tzinfo=dt.UTC),
    )
