"""Apple Health imports, top to bottom:

    upload streamed to disk → AppleImport queued → a worker claims it → the archive is checked →
    export.xml streamed, a chunk of elements at a time, each chunk's rows and the import's
    progress committed together → ECGs, a batch at a time, likewise → blood pressure pairs,
    "done" → audit.

Attempts and take-overs: a worker that claims an import also enqueues a watchdog run of the same
task for when the claim would go stale. A worker killed mid-import (kill -9, lost node) stops
refreshing ``heartbeat_at``; the watchdog, or any later run, finds the claim stale and takes
the import over, resuming after the last committed chunk. Natural keys make re-writing a chunk
harmless anyway. An import fails (with a reason) only once ``IMPORT_MAX_ATTEMPTS`` attempts
were made, or at once when the archive is refused: retrying cannot make a hostile file safe.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record_event
from healthexport.lib.errors import RateLimited
from ingest import instrumentation
from ingest.apple import tasks
from ingest.apple.archive import Export, Member, open_export
from ingest.apple.errors import ImportRefused
from ingest.apple.load import ImportReport, Loader
from ingest.apple.parse import Node, first_value, iter_elements, parse_date, read_ecg, read_gpx
from ingest.apple.rows import (
    ACTIVITY_SUMMARIES,
    Record,
    Refusal,
    Rows,
    UnreadableRoute,
    add_activity_summary,
    add_correlation,
    add_other,
    add_record,
    add_workout,
    latest_plausible,
)
from ingest.apple.upload import Upload
from ingest.models import AppleImport

logger = logging.getLogger(__name__)

# While skipping what is committed, the claim is refreshed every so many elements.
HEARTBEAT_EVERY = 100_000
# The collector's thresholds while an import runs (Python's default: 700, 10, 10); see ``_rare_collections``.
IMPORT_GC_THRESHOLDS = (100_000, 20, 100)
Progress = Callable[[float], None]


class ImportLost(Exception):
    """Another attempt took this import over (ours looked dead): stop without writing."""


# --- Creating ------------------------------------------------------------------------------


def import_create(
    *,
    user: Any,
    path: Path,
    size: int,
    sha256: str,
    api_key: Any = None,
    owns_file: bool = True,
    request: HttpRequest | None = None,
    enqueue: bool = True,
) -> AppleImport:
    """Record an archive to import and queue it (after commit: the worker must see the row)."""
    with transaction.atomic():
        apple_import = AppleImport.objects.create(
            user=user,
            api_key=api_key,
            path=str(path),
            owns_file=owns_file,
            size=size,
            sha256=sha256,
            request_id=getattr(request, "request_id", ""),
        )
        if enqueue:
            tasks.enqueue(apple_import.pk)
    return apple_import


def import_submit(*, user: Any, api_key: Any, upload: Upload, request: HttpRequest | None = None) -> AppleImport:
    """An uploaded archive, checked (zip entries, an export.xml inside) and queued; the file is
    removed when it is refused. The daily limit is checked again under a lock on the user's row,
    so concurrent uploads cannot pass it together."""
    try:
        with open_export(upload.path, max_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES):
            pass
        with transaction.atomic():
            get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
            check_daily_limit(user=user, api_key=api_key)
            apple_import = import_create(
                user=user, api_key=api_key, path=upload.path, size=upload.size, sha256=upload.sha256, request=request
            )
            _audit(apple_import, "import.queued", {})
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    return apple_import


def check_daily_limit(*, user: Any, api_key: Any) -> None:
    """``IMPORTS_PER_DAY`` uploads per API key (per user from the web page) in any 24 hours; 429 beyond."""
    since = timezone.now() - dt.timedelta(days=1)
    recent = AppleImport.objects.filter(created_at__gte=since, owns_file=True)
    recent = recent.filter(api_key=api_key) if api_key is not None else recent.filter(user=user, api_key=None)
    times = list(recent.order_by("created_at").values_list("created_at", flat=True)[: settings.IMPORTS_PER_DAY])
    if len(times) < settings.IMPORTS_PER_DAY:
        return
    wait = max(1, int((times[0] + dt.timedelta(days=1) - timezone.now()).total_seconds()) + 1)
    error = RateLimited(
        f"At most {settings.IMPORTS_PER_DAY} imports a day (IMPORTS_PER_DAY); retry after {wait} seconds."
    )
    error.wait = wait
    raise error


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


# --- Running -------------------------------------------------------------------------------


def import_attempt(*, import_id: int, progress: Progress | None = None, watchdog: bool = True) -> str:
    """Claim the import and run it to its end; returns what happened (``done``, ``failed``,
    ``busy``: another live attempt holds it, ``ended``: nothing left to do, ``lost``, ``retry``).

    ``watchdog``: enqueue the run that takes over if this process dies (off for the command,
    which is re-run by hand).
    """
    token = secrets.token_hex(16)
    outcome, apple_import = _claim(import_id, token, watchdog)
    if outcome != "claimed":
        return outcome
    try:
        with _rare_collections():
            _process(apple_import, token, progress)
    except ImportLost:
        logger.warning("apple import %s was taken over by another attempt", apple_import.public_id)
        return "lost"
    except ImportRefused as exc:
        _fail(apple_import, token, exc.code, exc.message)
        return "failed"
    except Exception as exc:
        logger.exception("apple import %s failed (attempt %d)", apple_import.public_id, apple_import.attempts)
        return _retry_or_fail(apple_import, token, exc, watchdog)
    return "done"


def _stale_before() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.IMPORT_STALE_AFTER_SECONDS)


def _claim(import_id: int, token: str, watchdog: bool) -> tuple[str, AppleImport | None]:
    # Row-locked: two workers running the same import at once both read it; one claims it.
    with transaction.atomic():
        apple_import = AppleImport.objects.select_for_update().filter(pk=import_id).first()
        if apple_import is None or apple_import.status in (AppleImport.Status.DONE, AppleImport.Status.FAILED):
            return "ended", None
        heartbeat = apple_import.heartbeat_at
        if apple_import.status == AppleImport.Status.RUNNING and heartbeat and heartbeat > _stale_before():
            if watchdog:  # look again when this claim would go stale
                tasks.enqueue(import_id, after=heartbeat + dt.timedelta(seconds=settings.IMPORT_STALE_AFTER_SECONDS))
            return "busy", None
        if apple_import.attempts >= settings.IMPORT_MAX_ATTEMPTS:
            _mark_failed(
                apple_import,
                "worker_lost",
                f"The import's worker stopped {apple_import.attempts} time(s) without finishing it.",
            )
            return "failed", None
        now = timezone.now()
        apple_import.attempts += 1
        apple_import.status = AppleImport.Status.RUNNING
        apple_import.worker = token
        apple_import.heartbeat_at = now
        apple_import.started_at = apple_import.started_at or now
        apple_import.save(update_fields=["attempts", "status", "worker", "heartbeat_at", "started_at"])
        _audit(
            apple_import, "import.started", {"attempt": apple_import.attempts, "resume_at": apple_import.elements_done}
        )
        if watchdog:
            tasks.enqueue(import_id, after=now + dt.timedelta(seconds=settings.IMPORT_STALE_AFTER_SECONDS))
    instrumentation.IMPORT_ATTEMPTS.inc()
    return "claimed", apple_import


@contextmanager
def _rare_collections() -> Iterator[None]:
    """The cyclic garbage collector runs rarely while an import runs. An import makes millions of
    short-lived objects (elements, rows) and no reference cycles of its own; at Python's default
    thresholds a 60-day export set off ~1,500 collections, eleven of them full ones over the
    worker's whole heap (~75 ms each): a fifth of the import's CPU time. Cycles made meanwhile
    (by the ORM, say) are still collected, only later."""
    thresholds = gc.get_threshold()
    gc.set_threshold(*IMPORT_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _process(apple_import: AppleImport, token: str, progress: Progress | None) -> None:
    report = ImportReport.from_dict(apple_import.counts)
    loader = Loader(user_id=apple_import.user_id, import_id=apple_import.pk, report=report)
    latest = latest_plausible()
    done = apple_import.elements_done
    with (
        open_export(Path(apple_import.path), max_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES) as export,
        export.open(export.xml) as stream,
    ):
        size = max(export.xml.size, 1)
        rows, pressure, pending, index = Rows(), [], 0, 0
        chunk_elements = settings.IMPORT_CHUNK_ELEMENTS  # read once: a settings lookup per element costs

        def read_route(reference: str) -> list | None:
            member = export.resolve(reference)
            if member is None:
                return None
            with export.open(member) as gpx:
                try:
                    return read_gpx(gpx)
                except ImportRefused as exc:
                    if exc.code != "invalid_xml":  # entities, a bomb: the archive is hostile
                        raise
                    raise UnreadableRoute(f"the route file is not well-formed XML ({exc.message})") from None

        with ChunkWriter(_commit) as writer:
            for index, node in enumerate(iter_elements(stream), start=1):
                if index <= done:  # committed by an earlier attempt: only what is paired at the end
                    _collect_pressure(node, pressure, latest)
                    if index % HEARTBEAT_EVERY == 0:
                        _save(apple_import, token, fraction=min(stream.consumed / size, 0.99))
                    continue
                _convert(node, rows, latest, read_route)
                pending += 1
                # A route point or heartbeat weighs as an element: the workouts or HRV records
                # of years (each kind in a row in export.xml) are not held at once.
                if pending + rows.held >= chunk_elements:
                    pressure += rows.pressure
                    rows.pressure = []
                    writer.submit(apple_import, token, loader, rows, index, min(stream.consumed / size, 0.99))
                    if progress is not None:
                        progress(stream.consumed / size)
                    rows, pending = Rows(), 0
            pressure += rows.pressure
            rows.pressure = []
            writer.submit(apple_import, token, loader, rows, max(index, done), 0.99)
        _write_ecgs(apple_import, token, loader, export)
    with transaction.atomic():
        loader.lock()
        loader.write_pressure(pressure)
        _finish(apple_import, token, report)
    if progress is not None:
        progress(1.0)


def _convert(node: Node, rows: Rows, latest: dt.datetime, read_route: Callable) -> None:
    """One top-level element into ``rows``; a refused one is noted there, under its type."""
    tag = node.tag
    try:
        if tag == "Record":
            add_record(node, rows, latest)
        elif tag == "Workout":
            add_workout(node, rows, latest, read_route)
        elif tag == "ActivitySummary":
            add_activity_summary(node, rows)
        elif tag == "Correlation":
            add_correlation(node, rows, latest)
        else:
            add_other(node, rows)
    except Refusal as exc:
        kind = {"Record": node.attrs.get("type", "")[:100], "Workout": "workouts"}.get(tag, ACTIVITY_SUMMARIES)
        rows.refused.append((kind, exc, node.attrs.get("startDate", "")[:40]))


class ChunkWriter:
    """Commits chunks in a thread of its own while the next chunk is read: the database stores
    one (COPY, rollups, commit: a third of an import's time) while this thread parses the next.

    The thread works on this thread's database connection, never both at once: ``submit`` waits
    for the chunk before, and the caller touches no database until the ``with`` block ends,
    which waits for the last one. Only this writer changes the loader and its report. At most
    one chunk is being written while the next is read: memory holds two chunks.
    """

    def __init__(self, commit: Callable[..., None]):
        self._commit = commit
        self._connection = connections[DEFAULT_DB_ALIAS]
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        # Leaving on an error of the reader: the chunk being written ends first, its own error aside.
        self._wait(raise_error=kind is None)

    def submit(self, *args: Any) -> None:
        """Write a chunk (``commit(*args)``) once the one before is written; its error is raised here."""
        self._wait(raise_error=True)
        self._connection.inc_thread_sharing()
        self._thread = threading.Thread(target=self._run, args=args, name="apple-import-writer")
        self._thread.start()

    def _run(self, *args: Any) -> None:
        connections[DEFAULT_DB_ALIAS] = self._connection
        try:
            self._commit(*args)
        except BaseException as exc:  # raised in the reader's thread, by the next submit or the end
            self._error = exc

    def _wait(self, *, raise_error: bool) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._connection.dec_thread_sharing()
        error, self._error = self._error, None
        if error is not None and raise_error:
            raise error


def _collect_pressure(node: Node, pressure: list, latest: dt.datetime) -> None:
    if node.tag not in ("Record", "Correlation"):
        return
    rows = Rows()
    try:
        (add_record if node.tag == "Record" else add_correlation)(node, rows, latest)
    except Refusal:
        return
    pressure += rows.pressure


def _commit(apple_import: AppleImport, token: str, loader: Loader, rows: Rows, done: int, fraction: float) -> None:
    """The chunk's rows and the import's progress, in one transaction: a resumed attempt
    starts exactly after what is stored, and counts what it finds from there."""
    loader.prepare(rows)
    with transaction.atomic():
        loader.lock()
        loader.write(rows)
        _save(apple_import, token, fraction=fraction, elements_done=done, counts=loader.report.as_dict())


def _save(apple_import: AppleImport, token: str, *, fraction: float, **fields: Any) -> None:
    """Progress and heartbeat, only while this attempt still holds the import."""
    updated = AppleImport.objects.filter(pk=apple_import.pk, worker=token, status=AppleImport.Status.RUNNING).update(
        progress=fraction, heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise ImportLost


def _write_ecgs(apple_import: AppleImport, token: str, loader: Loader, export: Export) -> None:
    """The ECG CSVs (after export.xml: the writer thread has ended), a batch of about
    ``IMPORT_ECG_BATCH_SAMPLES`` voltage samples at a time: an archive holds hundreds of ECGs of
    up to 200,000 samples each, and memory must not grow with their number. Each batch commits
    with ``ecgs_done`` and the counts, as a chunk of export.xml does, so a resumed attempt skips
    the files stored. Refused files count in the batch they are read with; the samples of a
    refused file weigh in the batch too, so a heartbeat is never far off."""
    members = export.ecg_members()
    budget = settings.IMPORT_ECG_BATCH_SAMPLES
    batch: list[Record] = []
    held = 0
    for number, member in enumerate(members[apple_import.ecgs_done :], start=apple_import.ecgs_done + 1):
        held += _read_ecg(export, member, batch, loader.report)
        if held >= budget:
            _commit_ecgs(apple_import, token, loader, batch, number)
            batch, held = [], 0
    # Files refused after the last batch count in the report committed with "done" (a resumed
    # attempt reads them again from ``ecgs_done``).
    if batch:
        _commit_ecgs(apple_import, token, loader, batch, len(members))


def _read_ecg(export: Export, member: Member, batch: list[Record], report: ImportReport) -> int:
    """One ECG CSV as a record added to ``batch`` (or refused in ``report``); its sample count."""
    with export.open(member) as stream:
        ecg = read_ecg(stream)
    recorded = first_value(ecg.header, "Recorded Date", where=lambda v: _is_date(v))
    try:
        start, _ = parse_date(recorded)
    except (ValueError, OverflowError):
        report.counts("ecg").received += 1
        report.reject("ecg", "invalid_date", "the ECG has no readable recorded date", file=member.name[-80:])
        return len(ecg.samples)
    payload = {
        "start": recorded,
        "file": member.name.rsplit("/", 1)[-1],
        "classification": first_value(ecg.header, "Classification"),
        "header": ecg.header,
        "sampleCount": len(ecg.samples),
        "voltageMeasurements": ecg.samples,
    }
    batch.append(Record("ecg", "ecg", f"apple:{start.isoformat()}", start, payload))
    return len(ecg.samples)


def _commit_ecgs(apple_import: AppleImport, token: str, loader: Loader, batch: list[Record], done: int) -> None:
    """A batch of ECG records and the import's progress through the ECG files, in one transaction."""
    with transaction.atomic():
        loader.lock()
        loader.write_records(batch)
        _save(apple_import, token, fraction=0.99, ecgs_done=done, counts=loader.report.as_dict())


def _is_date(value: str) -> bool:
    try:
        parse_date(value)
    except (ValueError, OverflowError):
        return False
    return True


def _finish(apple_import: AppleImport, token: str, report: ImportReport) -> None:
    now = timezone.now()
    counts = report.as_dict()
    updated = AppleImport.objects.filter(pk=apple_import.pk, worker=token, status=AppleImport.Status.RUNNING).update(
        status=AppleImport.Status.DONE, progress=1.0, counts=counts, finished_at=now, heartbeat_at=now, worker=""
    )
    if not updated:
        raise ImportLost
    apple_import.refresh_from_db()
    _audit(apple_import, "import.finished", count_totals(counts))
    transaction.on_commit(lambda: _ended(apple_import, "done", counts))


def _retry_or_fail(apple_import: AppleImport, token: str, exc: Exception, watchdog: bool) -> str:
    """An unexpected error (a database outage, a bug): retried later while attempts remain."""
    if apple_import.attempts >= settings.IMPORT_MAX_ATTEMPTS or not watchdog:
        _fail(apple_import, token, "import_error", f"The import stopped on an error: {exc.__class__.__name__}.")
        return "failed"
    delay = settings.IMPORT_RETRY_SECONDS * apple_import.attempts
    with transaction.atomic():
        released = AppleImport.objects.filter(pk=apple_import.pk, worker=token).update(
            status=AppleImport.Status.QUEUED, worker="", error_message=f"attempt failed: {exc.__class__.__name__}"
        )
        if released:
            tasks.enqueue(apple_import.pk, after=timezone.now() + dt.timedelta(seconds=delay))
    return "retry"


def _fail(apple_import: AppleImport, token: str, code: str, message: str) -> None:
    with transaction.atomic():
        locked = AppleImport.objects.select_for_update().filter(pk=apple_import.pk, worker=token).first()
        if locked is not None:
            _mark_failed(locked, code, message)


def _mark_failed(apple_import: AppleImport, code: str, message: str) -> None:
    """Failed for good, with a reason (in the caller's transaction), audited."""
    apple_import.status = AppleImport.Status.FAILED
    apple_import.error_code = code
    apple_import.error_message = message[:500]
    apple_import.finished_at = timezone.now()
    apple_import.worker = ""
    apple_import.save(update_fields=["status", "error_code", "error_message", "finished_at", "worker"])
    _audit(apple_import, "import.failed", {"code": code, "attempts": apple_import.attempts}, outcome="failure")
    transaction.on_commit(lambda: _ended(apple_import, "failed", apple_import.counts))


def _ended(apple_import: AppleImport, outcome: str, counts: dict[str, Any]) -> None:
    """Once committed: count it, and drop an uploaded archive (the rows are what is kept)."""
    per_type = [*counts.get("records", {}).values(), counts.get("workouts", {}), *counts.get("other", {}).values()]
    instrumentation.record_import_end(outcome=outcome, counts=per_type if outcome == "done" else None)
    if apple_import.owns_file:
        Path(apple_import.path).unlink(missing_ok=True)


def count_totals(counts: dict[str, Any]) -> dict[str, int]:
    """An import's counts summed over its types (what the audit trail keeps: counts, never values)."""
    per_type = [*counts.get("records", {}).values(), counts.get("workouts", {}), *counts.get("other", {}).values()]
    totals = {
        name: sum(c.get(name, 0) for c in per_type)
        for name in ("received", "stored", "updated", "duplicates", "rejected")
    }
    return {**totals, "route_points": counts.get("workouts", {}).get("route_points", 0)}


def _audit(apple_import: AppleImport, action: str, metadata: dict[str, Any], outcome: str = "success") -> None:
    record_event(
        action=action,
        actor=apple_import.user,
        api_key=apple_import.api_key,
        target=apple_import,
        outcome=outcome,
        metadata={"import_id": str(apple_import.public_id), "bytes": apple_import.size, **metadata},
    )
