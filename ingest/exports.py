"""GET /v1/export: everything a user has (``metrics.export``) as the app's own items, in three
formats: ``hae`` (a JSON export that ``POST /v1/ingest`` accepts, so export → wipe → import
reproduces the same rows), ``ndjson`` (one item per line with its section, metric name and unit)
and ``csv`` (flat columns; non-scalar items as JSON). Each is written as the rows are read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import orjson

from ingest.hae.render import ExportItem, export_items, render_hae
from metrics.export import stored_items

FORMATS = ("hae", "ndjson", "csv")
CONTENT_TYPES = {"hae": "application/json", "ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = ("section", "name", "units", "date", "end", "qty", "min", "max", "source", "context", "item")


def export_render(
    *, user: Any, fmt: str, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> Iterator[bytes | str]:
    """The user's data in ``fmt`` (one of ``FORMATS``), piece by piece."""
    return RENDERERS[fmt](export_items(stored_items(user=user, start=start, end=end)))


def render_ndjson(items: Iterator[ExportItem]) -> Iterator[bytes]:
    for entry in items:
        yield orjson.dumps(entry._asdict()) + b"\n"


def render_csv(items: Iterator[ExportItem]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in items:
        item = entry.item
        scalar = entry.section == "metrics" and ("qty" in item or "Avg" in item)
        writer.writerow(
            (
                entry.section,
                entry.name,
                entry.units,
                item.get("date") or item.get("startDate") or item.get("start") or "",
                item.get("endDate") or "",
                item.get("qty", item.get("Avg", "")) if scalar else "",
                item.get("Min", "") if scalar else "",
                item.get("Max", "") if scalar else "",
                item.get("source", "") if scalar else "",
                next((item[k] for k in ("mealTime", "reason", "value") if k in item), "") if scalar else "",
                "" if scalar else orjson.dumps(item).decode(),
            )
        )
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


RENDERERS = {"hae": render_hae, "ndjson": render_ndjson, "csv": render_csv}
