"""The ingest pipeline, top to bottom, one step a function:

    answer a re-sent body → store the raw body → parse → metric types → (one transaction, per-user
    lock) validate per item and bulk write per table → record the outcome → audit

The format is ``ingest.hae``'s to know: it splits the body and turns items into typed rows
(``ingest.rows``). Tables are ``ingest.writers``' to know: it compares and writes those rows.
This module only passes rows from one to the other, in one direction.

The raw body is committed before anything is parsed, so a body answered 200 is never lost and
one whose processing never finished (crash, database outage) is kept as ``failed`` for
``manage.py reprocess`` or the app's retry. The samples of one export commit all together or
not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import Length
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record_event
from healthexport.lib.errors import ApiError, IdempotencyKeyReused, InvalidJson, InvalidPayload
from healthexport.lib.statements import execute_prepared, insert_new, server_bound_cursor
from healthexport.lib.text import printable
from ingest.body import Body, body_size, held, taken
from ingest.hae.document import (
    MetricHeader,
    MetricPart,
    Payload,
    decode_section,
    metric_time_span,
    parse_payload,
)
from ingest.hae.items import metric_rows, record_rows, workout_rows, yields_samples_only
from ingest.models import Ingestion
from ingest.parsing import ItemError
from ingest.queries import first_processed_with_body, invalidate_user_stats
from ingest.report import IngestReport, Progress
from ingest.writers import (
    SAMPLES,
    RowBatch,
    RowSink,
    WrittenSpans,
    new_row_stream,
    statements_in_background,
    unstored_spans,
    write_workouts,
)
from metrics import catalog
from metrics.models import ROLLUP_STEP, MetricType, SampleRollup
from metrics.services import health_data_delete

logger = logging.getLogger(__name__)

# Items of one metric validated at a time between two progress reports.
ITEMS_PER_CHUNK = 10_000
# Items a metric needs before it may stream into a COPY (when nothing is stored in its span): a
# smaller one (an hourly sync) is compared with the table with the others, which costs less
# than asking whether its span holds anything.
STREAM_MIN_ITEMS = 1000
# pg_advisory_xact_lock(namespace, user id): one export per user at a time.
INGEST_LOCK_NAMESPACE = 72_011


def ingest_export(
    *,
    user: Any,
    api_key: Any,
    body: Body,
    digest: str | None = None,
    content_encoding: str = "",
    idempotency_key: str = "",
    automation: dict[str, str] | None = None,
    request: HttpRequest | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Store and process one export; returns the answer README "Sending data" describes.

    ``digest`` is the body's SHA-256 when the caller computed it while reading the body. Given
    in a list (``ingest.body``), the body is taken out of it once parsed, so that it can be
    freed as soon as no part of it is needed.
    """
    digest = digest or hashlib.sha256(held(body)).hexdigest()
    first = find_processed_duplicate(user=user, digest=digest, idempotency_key=idempotency_key)
    if first is not None:
        return ingestion_record_duplicate(
            user=user,
            api_key=api_key,
            first=first,
            digest=digest,
            size=body_size(body),
            automation=automation or {},
            request=request,
        )
    ingestion = ingestion_store_raw(
        user=user,
        api_key=api_key,
        body=body,
        digest=digest,
        content_encoding=content_encoding,
        idempotency_key=idempotency_key,
        automation=automation or {},
        request=request,
    )
    return ingestion_process(ingestion=ingestion, body=body, request=request, progress=progress)


def find_processed_duplicate(*, user: Any, digest: str, idempotency_key: str = "") -> Ingestion | None:
    """The first export of this user with the same body that was answered 200.

    Raises ``IdempotencyKeyReused`` (422) when no such body exists but ``idempotency_key`` was
    used by an export answered 200 with another body: as payment APIs do, a reused key with new
    data is an error, not a duplicate whose data would be dropped.
    """
    first = first_processed_with_body(user_id=user.pk, digest=digest)
    if first is None and idempotency_key:
        processed = Ingestion.objects.filter(user=user, status__in=Ingestion.ANSWERED_OK).defer("body")
        earlier = processed.filter(idempotency_key=idempotency_key).order_by("received_at").first()
        if earlier is not None:
            raise IdempotencyKeyReused(
                f"This Idempotency-Key was already used for export {earlier.public_id} with a different body; "
                "send new data with a new key."
            )
    return first


def duplicate_answer(*, ingestion: Ingestion, first: Ingestion) -> dict[str, Any]:
    return {
        **(first.result or {}),
        "ingestion_id": str(ingestion.public_id),
        "status": Ingestion.Status.DUPLICATE,
        "duplicate_of": str(first.public_id),
    }


def ingestion_record_duplicate(
    *,
    user: Any,
    api_key: Any,
    first: Ingestion,
    digest: str,
    size: int,
    automation: dict[str, str],
    request: HttpRequest | None,
) -> dict[str, Any]:
    """A re-sent export: recorded and audited, no sample touched, the first answer repeated."""
    with transaction.atomic():
        ingestion = Ingestion(
            user=user,
            api_key=api_key,
            body_sha256=digest,
            body_size=size,
            automation=automation,
            request_id=getattr(request, "request_id", ""),
        )
        insert_new(ingestion)
        return _finish_as_duplicate(ingestion, first, request)


def ingestion_store_raw(
    *,
    user: Any,
    api_key: Any,
    body: Body,
    digest: str,
    content_encoding: str,
    idempotency_key: str,
    request: HttpRequest | None,
    automation: dict[str, str] | None = None,
) -> Ingestion:
    """Commit the raw body before processing (compressed outside any transaction: it is slow).

    The instance does not keep the bytes (a deferred field: read back if asked for), so they are
    not held in memory while the export is processed."""
    compressed = zlib.compress(held(body), 1)
    ingestion = Ingestion(
        user=user,
        api_key=api_key,
        body=compressed,
        body_sha256=digest,
        body_size=body_size(body),
        content_encoding=content_encoding,
        idempotency_key=idempotency_key[:255],
        automation=automation or {},
        request_id=getattr(request, "request_id", ""),
    )
    insert_new(ingestion)
    del ingestion.body
    return ingestion


def ingestion_process(
    *,
    ingestion: Ingestion,
    body: Body | None = None,
    request: HttpRequest | None = None,
    progress: Progress | None = None,
) -> dict:
    """Parse, validate and store a stored export; idempotent (safe to re-run on any status).

    ``body`` is that export's body, when the caller still has it (see ``ingest_export``)."""
    if body is None:
        if ingestion.body is None:
            raise RawBodyPurged(ingestion)
        body = zlib.decompress(ingestion.body)
    export = parse_export(ingestion=ingestion, body=taken(body), request=request)
    try:
        types = metric_types_for(user_id=ingestion.user_id, names=export.metric_names())
        # One transaction per export: a failure leaves none of its samples behind.
        with transaction.atomic():
            user_write_lock(ingestion.user_id)
            first = find_processed_duplicate(
                user=ingestion.user, digest=ingestion.body_sha256, idempotency_key=ingestion.idempotency_key
            )
            if first is not None and first.pk != ingestion.pk:
                return _finish_as_duplicate(ingestion, first, request)
            report = IngestReport(progress=progress)
            write_export(
                user_id=ingestion.user_id, ingestion_id=ingestion.pk, export=export, types=types, report=report
            )
            answer = record_outcome(ingestion=ingestion, report=report)
            _audit(ingestion, "ingest.accepted", request, _audit_counts(report, ingestion))
    except IdempotencyKeyReused as exc:
        # A concurrent request with the same key and another body was processed first.
        _finish_rejected(ingestion, exc, request)
        raise
    except Exception as exc:
        _finish_failed(ingestion, exc)
        raise
    invalidate_user_stats(ingestion.user_id)
    return answer


def parse_export(*, ingestion: Ingestion, body: bytes | bytearray, request: HttpRequest | None) -> Payload:
    """The export split into its parts; a body that is no export is recorded as rejected (400)."""
    try:
        return parse_payload(body)
    except (InvalidJson, InvalidPayload) as exc:
        _finish_rejected(ingestion, exc, request)
        raise


def record_outcome(*, ingestion: Ingestion, report: IngestReport) -> dict[str, Any]:
    """The answer, kept with the export (a re-send gets it again)."""
    answer = {"ingestion_id": str(ingestion.public_id), "duplicate_of": None, **report.as_dict()}
    ingestion.status = report.status
    ingestion.result = answer
    ingestion.processed_at = timezone.now()
    ingestion.error = ""
    _save(ingestion, "status", "result", "processed_at", "error")
    return answer


class RawBodyPurged(Exception):
    """The export's raw body was dropped by ``purge_raw_bodies``: there is nothing to reprocess."""

    def __init__(self, ingestion: Ingestion):
        when = f"{ingestion.body_purged_at:%Y-%m-%d}" if ingestion.body_purged_at else "earlier"
        super().__init__(
            f"The raw body of ingestion {ingestion.public_id} is gone: it was purged {when} "
            "(RAW_BODY_RETENTION_DAYS). Only its counts, hash and status remain; the phone would have to send it again."
        )


def write_export(
    *, user_id: int, ingestion_id: int, export: Payload, types: dict[str, MetricType | ItemError], report: IngestReport
) -> None:
    """Validate every item and write the valid ones: samples, other sections, rollups, workouts.

    ``types`` comes from ``metric_types_for``. Either way below, memory holds the body plus one
    batch of rows at most, not the whole export as Python objects. Each part of the export is
    dropped once validated, and a body passed in a list (``ingest_export``) is freed before the
    workouts are written.
    """
    metrics = _metrics_of(export, types, report)
    export.metrics.clear()  # now in ``metrics``, dropped with it
    samples_written = WrittenSpans()
    write_fresh_samples(
        user_id=user_id, ingestion_id=ingestion_id, metrics=metrics, report=report, written=samples_written
    )
    write_compared_rows(
        user_id=user_id, ingestion_id=ingestion_id, metrics=metrics, report=report, written=samples_written
    )
    metrics.clear()  # their parts are slices of the body
    write_other_sections(user_id=user_id, ingestion_id=ingestion_id, export=export, report=report)
    # The database computes the rollups while Python validates the workouts (no statement):
    # the rollups' statements are sent first, and their results read once both are done. The
    # workouts are validated where they lie in the body (half of it, for a year), into rows
    # that hold their routes compactly (``RoutePoints``); dropping their slices then frees the
    # body before the rows are written.
    with statements_in_background():
        rollups_refresh(user_id=user_id, spans=samples_written)
        workouts = workout_rows(export.workouts, report)
    count, export.workouts = len(export.workouts), []
    write_workouts(user_id=user_id, ingestion_id=ingestion_id, workouts=workouts, counts=report.workouts)
    if report.progress is not None:
        report.progress("workouts", count, count)


def write_fresh_samples(
    *, user_id: int, ingestion_id: int, metrics: list[_Metric], report: IngestReport, written: WrittenSpans
) -> None:
    """The samples of metrics with nothing stored in their time range yet (a first upload, a
    backfill) stream into one COPY as they are validated, with nothing to compare: the
    database inserts behind the rows sent."""
    spans = WrittenSpans()  # the same metric twice in one export: one span
    for metric in metrics:
        if metric.span is not None:
            spans.add((metric.type.id,), *metric.span)
    fresh = unstored_spans(SAMPLES, user_id=user_id, spans=spans.spans)
    with new_row_stream(SAMPLES, user_id=user_id, ingestion_id=ingestion_id, spans=fresh) as stream:
        for metric in metrics:
            if (metric.type.id,) in fresh:
                _validate_metric(metric, report, stream)
                stream.close_range((metric.type.id,))
                metric.done = True
    for prefix, span in fresh.items():
        written.add(prefix, *span)
    written.add_rows(SAMPLES, stream.outside_written)


def write_compared_rows(
    *, user_id: int, ingestion_id: int, metrics: list[_Metric], report: IngestReport, written: WrittenSpans
) -> None:
    """The other metrics' rows, compared with what is stored for the same keys, a batch at a
    time (rows of many metrics together); a batch sees the earlier ones' rows (written in this
    transaction), so repeats across batches count as duplicates."""
    batch = RowBatch(user_id=user_id, ingestion_id=ingestion_id, samples_written=written)
    for metric in metrics:
        if not metric.done:
            _validate_metric(metric, report, batch)
    batch.flush()


def rollups_refresh(*, user_id: int, spans: WrittenSpans) -> None:
    """The 15-minute rollups of the spans each metric's new and changed samples cover."""
    SampleRollup.objects.refresh_spans(
        user_id=user_id,
        spans={metric_id: (first, last + ROLLUP_STEP) for (metric_id,), (first, last) in spans.spans.items()},
    )


def write_other_sections(*, user_id: int, ingestion_id: int, export: Payload, report: IngestReport) -> None:
    """symptoms, ecg, medications, … and any section the app adds later, each item kept whole."""
    batch = RowBatch(user_id=user_id, ingestion_id=ingestion_id, samples_written=WrittenSpans())
    for section, raw in export.other.items():
        if "\x00" in section:  # a name PostgreSQL cannot store: its items are not read
            name = printable(section)
            report.error("invalid_text", f"the section name {name!r} holds a NUL character", section=name)
            continue
        section_items = decode_section(raw)
        if section_items is None:
            report.error("invalid_item", f"data.{section} must be a list", section=section)
            continue
        if not section_items:
            continue
        counts = report.section(section[:64])
        for row in record_rows(section[:64], section_items, report):
            batch.add(row, counts)
    export.other.clear()  # what still held the body, but for the workouts
    batch.flush()


@dataclass
class _Metric:
    """One element of ``data.metrics`` with its type; its items are split out when validated."""

    header: MetricHeader
    type: MetricType
    part: MetricPart
    span: tuple[dt.datetime, dt.datetime] | None  # of its samples, when it has only samples
    done: bool = False


def _metrics_of(export: Payload, types: dict[str, MetricType | ItemError], report: IngestReport) -> list[_Metric]:
    """The export's metrics with their types; malformed ones, and the items of names that
    cannot be stored, reported."""
    metrics = []
    for part in export.metrics:
        if part.header is None:
            report.error("invalid_item", "a metric must be an object with a name", section="metrics", index=part.index)
            continue
        if part.count is None:
            report.error("invalid_item", "a metric's data must be a list", section="metrics", index=part.index)
            continue
        header = part.header
        name = _shown_name(header.name)
        counts = report.metric(name)
        counts.received += part.count
        metric_type = types[header.name]
        if isinstance(metric_type, ItemError):
            for item_index in range(part.count):
                report.reject(
                    counts,
                    metric_type.code,
                    metric_type.message,
                    section="metrics",
                    metric=name,
                    index=item_index,
                    field=metric_type.field,
                )
            continue
        streams = part.count >= STREAM_MIN_ITEMS and yields_samples_only(header.name)
        span = metric_time_span(part) if streams else None
        metrics.append(_Metric(header, metric_type, part, span))
    return metrics


def _shown_name(name: str) -> str:
    """A metric name as the answer shows it: an invalid one cut short and without control
    characters (PostgreSQL's JSON cannot hold a NUL)."""
    return "".join("\ufffd" if unicodedata.category(char) == "Cc" else char for char in name[:100])


def _validate_metric(metric: _Metric, report: IngestReport, sink: RowSink) -> None:
    """The metric's items validated a chunk at a time into ``sink``; each chunk's undecoded items
    are released once it is done, while the sink's memory of the keys seen grows."""
    name, items = metric.header.name, metric.part.items or []
    counts = report.metric(name)
    total = len(items)
    for offset in range(0, total, ITEMS_PER_CHUNK):
        chunk = items[:ITEMS_PER_CHUNK]
        del items[:ITEMS_PER_CHUNK]
        for row in metric_rows(
            name=name,
            units=metric.header.units or "",
            items=chunk,
            first_index=offset,
            metric_id=metric.type.id,
            metric_unit=metric.type.unit,
            report=report,
        ):
            sink.add(row, counts)
        if report.progress is not None:
            report.progress(name, min(offset + ITEMS_PER_CHUNK, total), total)


# Unknown metric names (not in the catalog) an owner may have, and may add in one export: each
# is a row and an id of its own, so one user cannot fill the table or use up ids.
UNKNOWN_METRICS_PER_USER = 200
NEW_METRICS_PER_EXPORT = 100
METRIC_NAME_MAX_LENGTH = 64
# What Health Auto Export names metrics with (``heart_rate``, ``vo2_max``, ``dietary_water``).
METRIC_NAME = re.compile(r"[A-Za-z0-9_]+")


def metric_name_error(name: str) -> ItemError | None:
    """Why a metric name cannot be stored, or None."""
    if len(name) > METRIC_NAME_MAX_LENGTH:
        return ItemError("invalid_name", f"a metric name is at most {METRIC_NAME_MAX_LENGTH} characters", "name")
    if not METRIC_NAME.fullmatch(name):
        return ItemError(
            "invalid_name", "a metric name has only letters, digits and _ (no spaces or control characters)", "name"
        )
    return None


def metric_types_for(*, user_id: int, names: list[str]) -> dict[str, MetricType | ItemError]:
    """The MetricType of every metric name of an export, or why its items cannot be stored.

    A catalog name gets its one shared type (created with its canonical unit on first sight).
    Any other name gets the type this user owns, created unless that would pass the user's or
    the export's cap, or one created before names were owned. Types are created in their own
    short transaction, under the user's ingest lock (so concurrent exports cannot pass the cap),
    before the export's transaction: an export rolled back and retried creates nothing twice.
    """
    answer: dict[str, MetricType | ItemError] = {}
    for name in dict.fromkeys(names):
        error = metric_name_error(name)
        if error is not None:
            answer[name] = error
    valid = [name for name in dict.fromkeys(names) if name not in answer]
    if not valid:
        return answer
    # Nearly every export names only types that exist (an hourly sync): one read, no lock.
    stored = _stored_types(user_id, valid)
    if len(stored) == len(valid):
        return answer | stored
    known = [name for name in valid if catalog.unit_of(name) is not None]
    refused: list[str] = []
    with transaction.atomic():
        user_write_lock(user_id)
        shared = {t.name: t for t in MetricType.objects.filter(owner=None, name__in=valid)}
        missing = [name for name in known if name not in shared]
        if missing:
            # Another user's export may create the same type concurrently: ignore, then read back.
            MetricType.objects.bulk_create([_new_type(name) for name in missing], ignore_conflicts=True)
            shared |= {t.name: t for t in MetricType.objects.filter(owner=None, name__in=missing)}
        unknown = [name for name in valid if name not in shared]
        owned = {t.name: t for t in MetricType.objects.filter(owner_id=user_id, name__in=unknown)}
        new = [name for name in unknown if name not in owned]
        if new:
            room = UNKNOWN_METRICS_PER_USER - MetricType.objects.filter(owner_id=user_id).count()
            room = max(min(room, NEW_METRICS_PER_EXPORT), 0)
            created, refused = new[:room], new[room:]
            if created:
                MetricType.objects.bulk_create([_new_type(name, owner_id=user_id) for name in created])
                owned |= {t.name: t for t in MetricType.objects.filter(owner_id=user_id, name__in=created)}
    too_many = ItemError(
        "too_many_metrics",
        f"at most {NEW_METRICS_PER_EXPORT} new metric names per export and {UNKNOWN_METRICS_PER_USER} "
        "in all are kept per user beyond the ones we know",
        "name",
    )
    answer |= dict.fromkeys(refused, too_many)
    return answer | shared | owned


_TYPE_COLUMNS = ("id", "name", "owner_id", "unit", "aggregation")


def _stored_types(user_id: int, names: list[str]) -> dict[str, MetricType]:
    """The types these names have already, as ``metric_types_for`` would choose them: the shared
    one, else (for a name outside the catalog) the user's own.

    Written out: every export asks this, and compiling the ORM's filter cost more than running
    it. On PostgreSQL the names go as one array, so that the statement is the same for any
    number of names and is prepared once per connection."""
    table = connection.ops.quote_name(MetricType._meta.db_table)
    select = f"SELECT {', '.join(_TYPE_COLUMNS)} FROM {table}"  # noqa: S608 (our own names)
    if connection.vendor == "postgresql":
        with server_bound_cursor() as cursor:
            records = cursor.execute(
                f"{select} WHERE (owner_id IS NULL OR owner_id = %s) AND name = ANY(%s)",
                [user_id, names],
                prepare=True,
            )
            types = [MetricType.from_db(connection.alias, _TYPE_COLUMNS, record) for record in records]
    else:
        types = MetricType.objects.raw(
            f"{select} WHERE (owner_id IS NULL OR owner_id = %s) AND name IN ({', '.join(['%s'] * len(names))})",
            [user_id, *names],
        )
    shared, owned = {}, {}
    for metric_type in types:
        (shared if metric_type.owner_id is None else owned)[metric_type.name] = metric_type
    return {
        name: shared.get(name) or owned[name]
        for name in names
        if name in shared or (name in owned and catalog.unit_of(name) is None)
    }


def _new_type(name: str, owner_id: int | None = None) -> MetricType:
    """A metric type: with its canonical unit when the catalog knows the name, else with none."""
    aggregation = MetricType.Aggregation.SUM if catalog.is_cumulative(name) else MetricType.Aggregation.AVERAGE
    return MetricType(name=name, owner_id=owner_id, unit=catalog.unit_of(name) or "", aggregation=aggregation)


def user_write_lock(user_id: int) -> None:
    """Serialise one user's writes (exports, imports, deletions), so classifying rows as new/changed cannot race.

    SQLite needs nothing: its IMMEDIATE transactions already serialise every writer.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [INGEST_LOCK_NAMESPACE, user_id])


def _save(ingestion: Ingestion, *fields: str) -> None:
    """Write these fields of the export, naming its partition: an UPDATE by id alone would look
    for the row in every partition of the table. Written out, as every export ends with it:
    compiling the ORM's UPDATE cost more than running it."""
    quote, options = connection.ops.quote_name, Ingestion._meta
    changed = [options.get_field(name) for name in fields]
    received_at = options.get_field("received_at").get_db_prep_value(ingestion.received_at, connection)
    values = [field.get_db_prep_save(getattr(ingestion, field.attname), connection) for field in changed]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in changed)
    where = f"{quote('id')} = %s AND {quote('received_at')} = %s"
    execute_prepared(
        f"UPDATE {quote(options.db_table)} SET {assignments} WHERE {where}",  # noqa: S608 (our own names)
        [*values, ingestion.pk, received_at],
    )


def _finish_as_duplicate(ingestion: Ingestion, first: Ingestion, request: HttpRequest | None) -> dict[str, Any]:
    """Mark an export a duplicate of ``first`` (whose answer it repeats) and audit it."""
    answer = duplicate_answer(ingestion=ingestion, first=first)
    ingestion.status = Ingestion.Status.DUPLICATE
    ingestion.duplicate_of = first
    ingestion.result = answer
    ingestion.processed_at = timezone.now()
    _save(ingestion, "status", "duplicate_of", "result", "processed_at")
    _audit(ingestion, "ingest.duplicate", request, {"duplicate_of": str(first.public_id), "bytes": ingestion.body_size})
    return answer


def _finish_rejected(ingestion: Ingestion, exc: ApiError, request: HttpRequest | None) -> None:
    with transaction.atomic():
        ingestion.status = Ingestion.Status.REJECTED
        ingestion.error = exc.code
        # The answer sent, as for every other outcome: the admin shows the message.
        ingestion.result = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        ingestion.processed_at = timezone.now()
        _save(ingestion, "status", "error", "result", "processed_at")
        _audit(ingestion, "ingest.rejected", request, {"code": exc.code, "bytes": ingestion.body_size}, "failure")


def _finish_failed(ingestion: Ingestion, exc: Exception) -> None:
    """Mark the raw body failed, if the database lets us: it stays for reprocessing either way."""
    logger.error("ingestion %s failed: %s", ingestion.public_id, exc.__class__.__name__)
    try:
        Ingestion.objects.filter(pk=ingestion.pk).update(
            status=Ingestion.Status.FAILED, error=exc.__class__.__name__[:255]
        )
    except Exception:  # the database may be the thing that failed; the row stays "received"
        logger.warning("could not mark ingestion %s failed", ingestion.public_id)


def _audit_counts(report: IngestReport, ingestion: Ingestion) -> dict[str, Any]:
    """Counts only: never a value."""
    totals = dict.fromkeys(("received", "stored", "updated", "duplicates", "rejected"), 0)
    for counts in [*report.metrics.values(), report.workouts, *report.other.values()]:
        for field in totals:
            totals[field] += getattr(counts, field)
    return {**totals, "metrics": len(report.metrics), "bytes": ingestion.body_size, "status": report.status}


def _audit(
    ingestion: Ingestion, action: str, request: HttpRequest | None, metadata: dict, outcome: str = "success"
) -> None:
    record_event(
        action=action,
        request=request,
        actor=ingestion.user,
        api_key=ingestion.api_key,
        target=ingestion,
        outcome=outcome,
        metadata=metadata,
    )


DELETE_ALL_CONFIRMATION = "delete all my data"


def ingestion_delete(*, user: Any, ingestion: Ingestion, request: HttpRequest | None = None) -> dict[str, int]:
    """Delete one export of ``user`` and the rows it last stored or changed, audited with counts.

    One transaction under the user's ingest lock: an export being processed cannot interleave.
    """
    with transaction.atomic():
        user_write_lock(user.pk)
        counts = health_data_delete(user_id=user.pk, ingestion_id=ingestion.pk)
        counts["ingestions"] = Ingestion.objects.filter(user=user, pk=ingestion.pk).delete()[0]
        record_event(
            action="data.deleted",
            request=request,
            actor=user,
            target=ingestion,
            metadata={"scope": "ingestion", **counts},
        )
    invalidate_user_stats(user.pk)
    return counts


def user_data_delete(*, user: Any, request: HttpRequest | None = None) -> dict[str, int]:
    """Erase all of this user's health data and raw exports (keys and audit events stay)."""
    with transaction.atomic():
        user_write_lock(user.pk)
        counts = health_data_delete(user_id=user.pk)
        counts["ingestions"] = Ingestion.objects.filter(user=user).delete()[0]
        record_event(
            action="data.deleted", request=request, actor=user, target=user, metadata={"scope": "all", **counts}
        )
    invalidate_user_stats(user.pk)
    return counts


def ingestions_mark_stale(*, older_than: dt.timedelta) -> int:
    """Mark failed the exports still ``received`` after ``older_than``: their worker died (a crash,
    an out-of-memory kill, a timeout) before processing could mark them, so only this finds them
    for ``reprocess --status failed`` and the admin. Returns how many."""
    stale = Ingestion.objects.filter(status=Ingestion.Status.RECEIVED, received_at__lt=timezone.now() - older_than)
    marked = stale.update(status=Ingestion.Status.FAILED, error="stale: processing never finished")
    if marked:
        logger.warning("marked %d stale ingestion(s) failed", marked)
    return marked


# Bodies whose processing ended: a failed (or still received) one waits for reprocessing.
PURGEABLE = (
    Ingestion.Status.PROCESSED,
    Ingestion.Status.PARTIAL,
    Ingestion.Status.DUPLICATE,
    Ingestion.Status.REJECTED,
)
PURGE_BATCH = 500


@dataclass(frozen=True)
class RawBodyPurge:
    cutoff: dt.datetime
    ingestions: int
    bytes: int


def raw_bodies_purge(*, retention_days: int, include_failed: bool = False, dry_run: bool = False) -> RawBodyPurge:
    """Drop the raw bodies of exports received before the cutoff, keeping their rows.

    The bytes are nulled in place, ``PURGE_BATCH`` rows per transaction, each batch audited
    (``ingest.bodies_purged``) with its counts in the same transaction. Rows must stay (their
    hash recognises a re-send, the owner API lists them), so the ingestion partitions cannot be
    dropped whole; the TOAST space the bytes held is reused by later bodies once vacuumed.
    """
    cutoff = timezone.now() - dt.timedelta(days=retention_days)
    statuses = (*PURGEABLE, Ingestion.Status.FAILED) if include_failed else PURGEABLE
    expired = Ingestion.objects.filter(received_at__lt=cutoff, status__in=statuses, body__isnull=False)
    if dry_run:
        totals = expired.aggregate(ingestions=Count("pk"), bytes=Sum(Length("body")))
        return RawBodyPurge(cutoff, totals["ingestions"], totals["bytes"] or 0)
    ingestions = purged_bytes = 0
    while True:
        with transaction.atomic():
            batch = list(expired.order_by("received_at").values_list("pk", Length("body"))[:PURGE_BATCH])
            if not batch:
                break
            ids = [pk for pk, _ in batch]
            size = sum(length for _, length in batch)
            expired.filter(pk__in=ids).update(body=None, body_purged_at=timezone.now())
            record_event(
                action="ingest.bodies_purged",
                metadata={
                    "ingestions": len(ids),
                    "bytes": size,
                    "retention_days": retention_days,
                    "cutoff": cutoff.isoformat(),
                    "include_failed": include_failed,
                },
            )
        ingestions, purged_bytes = ingestions + len(ids), purged_bytes + size
    logger.info("purged %d raw bod(ies), %d bytes", ingestions, purged_bytes)
    return RawBodyPurge(cutoff, ingestions, purged_bytes)
