"""Streaming reads of the export's files: export.xml, workout-routes/*.gpx, electrocardiograms/*.csv.

export.xml is read by expat a megabyte at a time, and only the element being read is held (a
top-level element of ``HealthData`` with its children): memory does not grow with the file.
The XML is untrusted, so before expat sees it:

- the DOCTYPE is cut out of the first bytes (Apple's internal subset only declares elements,
  and iOS 16 wrote a malformed one that expat refuses); a subset that declares an entity, or
  that does not end within 64 KiB, refuses the file. Without it no entity can be expanded or
  fetched: an ``&name;`` left in the document is an error;
- C0 control characters other than tab, LF and CR are dropped (iOS 16 wrote U+000B);
- no token may run for more than ``MAX_TOKEN_BYTES`` without a ``<`` (which cannot occur inside
  an attribute or text): a gigabyte-long attribute is refused, not buffered;
- nesting depth and the children of one element are bounded.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import pyexpat
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ingest.apple.errors import ImportRefused

CHUNK_BYTES = 1024 * 1024
PROLOG_BYTES = 64 * 1024
MAX_TOKEN_BYTES = 1024 * 1024
MAX_DEPTH = 8
MAX_CHILDREN = 200_000
CONTROLS = bytes([*range(0, 9), 11, 12, *range(14, 32)])
_DOCTYPE_END = re.compile(rb"\]\s*>")


@dataclass(slots=True)
class Node:
    """An element: its tag, attributes and child elements (text is not kept: the export has none)."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)

    def metadata(self) -> dict[str, str]:
        """Its MetadataEntry children as a dict (a repeated key keeps its last value)."""
        return {c.attrs.get("key", ""): c.attrs.get("value", "") for c in self.children if c.tag == "MetadataEntry"}


@functools.lru_cache(maxsize=1024)
def parse_date(text: str) -> tuple[dt.datetime, int]:
    """``2023-11-04 07:53:00 -0700`` → (the instant in UTC, the offset in minutes). ValueError else.

    Remembered for recent texts: in export.xml a record very often starts when the one before it
    ended, or ends when it starts (a year: 1.8 M dates, half of them seen just before).
    """
    if len(text) == 25 and text[19] == " " and text[20] in "+-":
        minutes = _offset_minutes(text[20:])  # checked first: what follows the space is an offset
        return dt.datetime.fromisoformat(text[:19] + text[20:]).astimezone(dt.UTC), minutes
    local = dt.datetime.fromisoformat(text.strip())
    offset = local.utcoffset()
    if offset is None:
        raise ValueError(f"{text[:40]!r} has no UTC offset")
    return local.astimezone(dt.UTC), int(offset.total_seconds()) // 60


@functools.lru_cache(maxsize=64)
def _offset_minutes(text: str) -> int:
    """``-0700`` → -420; ValueError for anything else."""
    offset = dt.datetime.fromisoformat(f"2000-01-01T00:00:00{text}").utcoffset()
    if offset is None:
        raise ValueError(f"{text!r} is not a UTC offset")
    return int(offset.total_seconds()) // 60


def _strip_doctype(head: bytes) -> bytes:
    """The prolog without its DOCTYPE; refuses entity declarations and a DOCTYPE that never ends."""
    root = head.find(b"<HealthData")
    prolog = head if root < 0 else head[:root]
    if b"<!ENTITY" in prolog:
        raise ImportRefused("xml_entities", "The XML declares entities; an Apple Health export never does.")
    start = prolog.find(b"<!DOCTYPE")
    if start < 0:
        return head
    bracket, close = prolog.find(b"[", start), prolog.find(b">", start)
    if close < 0 and bracket < 0:
        raise ImportRefused("invalid_xml", f"The DOCTYPE does not end within the first {PROLOG_BYTES} bytes.")
    if bracket >= 0 and (close < 0 or bracket < close):
        match = _DOCTYPE_END.search(prolog, bracket)
        if match is None:
            raise ImportRefused("invalid_xml", f"The DOCTYPE does not end within the first {PROLOG_BYTES} bytes.")
        end = match.end()
    else:
        end = close + 1
    if b"<!DOCTYPE" in head[end:]:
        raise ImportRefused("invalid_xml", "The XML has a second DOCTYPE.")
    return head[:start] + head[end:]


class _Reader:
    """Builds top-level elements from expat's callbacks, with the bounds of the module docstring."""

    def __init__(self) -> None:
        self.stack: list[Node] = []
        self.done: list[Node] = []
        self.root_seen = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        stack = self.stack
        if not stack:
            if self.root_seen or tag != "HealthData":
                raise ImportRefused("not_health_export", f"The XML's root element is {tag[:40]!r}, not HealthData.")
            self.root_seen = True
            stack.append(Node(tag, {}))
            return
        node = Node(tag, attrs)
        if len(stack) > 1:
            parent = stack[-1]
            if len(parent.children) >= MAX_CHILDREN or len(stack) >= MAX_DEPTH:
                raise ImportRefused("element_too_large", f"A {stack[1].tag[:40]} element has too many children.")
            parent.children.append(node)
        stack.append(node)

    def end(self, tag: str) -> None:
        node = self.stack.pop()
        if len(self.stack) == 1:
            self.done.append(node)


def _refuse_entity(*args: object) -> None:
    raise ImportRefused("xml_entities", "The XML declares entities; an Apple Health export never does.")


def iter_elements(stream: BinaryIO) -> Iterator[Node]:
    """The top-level elements of ``HealthData`` (ExportDate, Me, Record, Correlation, Workout,
    ActivitySummary, …) one by one, each with its children; ``ImportRefused`` on bad XML."""
    reader = _Reader()
    parser = pyexpat.ParserCreate()
    parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    head = stream.read(PROLOG_BYTES)
    while len(head) < PROLOG_BYTES and (more := stream.read(PROLOG_BYTES - len(head))):
        head += more
    chunk = _strip_doctype(head)
    since_tag = 0
    while chunk:
        chunk = chunk.translate(None, CONTROLS)
        last = chunk.rfind(b"<")
        since_tag = since_tag + len(chunk) if last < 0 else len(chunk) - last
        if since_tag > MAX_TOKEN_BYTES:
            raise ImportRefused("element_too_large", f"An XML element runs for more than {MAX_TOKEN_BYTES} bytes.")
        _feed(parser, chunk, False)
        if reader.done:
            yield from reader.done
            reader.done.clear()
        chunk = stream.read(CHUNK_BYTES)
    _feed(parser, b"", True)
    yield from reader.done
    if not reader.root_seen:
        raise ImportRefused("not_health_export", "The XML has no HealthData element.")


def _feed(parser: pyexpat.XMLParserType, data: bytes, final: bool) -> None:
    try:
        parser.Parse(data, final)
    except pyexpat.ExpatError as exc:
        message = pyexpat.ErrorString(exc.code)
        code = "xml_entities" if "entity" in message else "invalid_xml"
        raise ImportRefused(code, f"The XML is not well-formed: {message} (line {exc.lineno}).") from None


# --- workout-routes/*.gpx ------------------------------------------------------------------------

MAX_ROUTE_POINTS = 500_000
RoutePoint = tuple  # (time, latitude, longitude, elevation, speed, course, hAcc, vAcc)
# The field of a point each element of it fills, by local name (a trkpt is the point itself).
_GPX_FIELDS = {"time": 0, "ele": 3, "speed": 4, "course": 5, "hAcc": 6, "vAcc": 7, "trkpt": -1}
_GPX_OTHER = -2


def read_gpx(stream: BinaryIO) -> list[RoutePoint]:
    """The track points of a GPX route, in file order; ``ImportRefused`` on bad XML.

    GPX has no DOCTYPE; one is refused like any entity declaration. Elements are read by their
    local name (the file uses the GPX 1.1 default namespace, its extensions none). A point has
    eight elements: the handlers do little more than look their tag up (a year's routes: 1.7 M
    elements).
    """
    points: list[list] = []
    text: list[str] = []
    current: list | None = None
    fields: dict[str, int] = {}  # tag as expat names it → what it fills

    def field_of(tag: str) -> int:
        field = fields[tag] = _GPX_FIELDS.get(tag.rsplit("}", 1)[-1], _GPX_OTHER)
        return field

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal current
        text.clear()
        field = fields.get(tag)
        if field is None:
            field = field_of(tag)
        if field == -1:
            if len(points) >= MAX_ROUTE_POINTS:
                raise ImportRefused("element_too_large", f"A route has more than {MAX_ROUTE_POINTS} points.")
            current = [
                None,
                finite_number(attrs.get("lat")),
                finite_number(attrs.get("lon")),
                None,
                None,
                None,
                None,
                None,
            ]

    def end(tag: str) -> None:
        nonlocal current
        if current is None:
            return
        field = fields[tag]
        if field > 0:
            current[field] = finite_number("".join(text))
        elif field == 0:
            try:
                current[0] = dt.datetime.fromisoformat("".join(text).strip().replace("Z", "+00:00"))
            except ValueError:
                current[0] = None
        elif field == -1:
            points.append(current)
            current = None

    def chars(data: str) -> None:
        if len(text) < 64:
            text.append(data)

    parser = pyexpat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True  # one call per run of text, not one per line or entity
    parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    parser.EntityDeclHandler = parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartDoctypeDeclHandler = _refuse_entity
    while data := stream.read(CHUNK_BYTES):
        _feed(parser, data.translate(None, CONTROLS), False)
    _feed(parser, b"", True)
    return [tuple(point) for point in points]


def finite_number(text: str | None) -> float | None:
    """The number ``text`` holds, or None: also for NaN, infinities and beyond ±1e15, which no
    column or JSON value we write can hold."""
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value and abs(value) < 1e15 else None


# --- electrocardiograms/*.csv --------------------------------------------------------------------

MAX_ECG_SAMPLES = 200_000
MAX_ECG_HEADER_LINES = 40
_SAMPLE = re.compile(r"^\s*-?\d+(?:[.,]\d+)?\s*$")


@dataclass
class Ecg:
    header: dict[str, str]
    samples: list[float]


def read_ecg(stream: BinaryIO) -> Ecg:
    """An ECG CSV: its header lines (localised keys kept as written) and voltage samples.

    Header lines run until the first purely numeric line; a decimal comma is read as a point.
    """
    lines = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    header: dict[str, str] = {}
    samples: list[float] = []
    for number, line in enumerate(lines):
        if samples or _SAMPLE.match(line):
            if not line.strip():
                continue
            if len(samples) >= MAX_ECG_SAMPLES:
                raise ImportRefused("element_too_large", f"An ECG has more than {MAX_ECG_SAMPLES} samples.")
            value = finite_number(line.strip().replace(",", "."))
            if value is not None:
                samples.append(value)
        elif number < MAX_ECG_HEADER_LINES and line.strip():
            row = next(csv.reader([line[:4096]]), [])
            if row and row[0]:
                header[row[0].strip()[:64]] = ",".join(row[1:]).strip()[:256]
    return Ecg(header=header, samples=samples)


def first_value(header: dict[str, str], *names: str, where: Callable[[str], bool] | None = None) -> str:
    """The value of the first header key among ``names`` (case-insensitive), else of the first
    value ``where`` accepts, else ""."""
    folded = {key.casefold(): value for key, value in header.items()}
    for name in names:
        if name.casefold() in folded:
            return folded[name.casefold()]
    if where is not None:
        for value in header.values():
            if where(value):
                return value
    return ""
