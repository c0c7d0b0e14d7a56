"""Data-quality checks for ``manage.py check_data_quality``: phones that stopped syncing, days
missing from metrics that normally arrive all day, and stored values that are plausible enough to
pass ingest validation but suspicious.

Each check is a plain function returning ``Finding``s, bounded in cost: it looks at a time window
only and returns at most ``limit`` findings. The heavy lifting (grouping by day, comparing a
sample with the previous one) happens in the database.

A finding's ``detail`` may hold a health value: it is for the operator's terminal, never for a
log line or a Prometheus label (the gauge carries counts per ``kind`` only).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q, Window
from django.db.models.functions import Abs, Lag, TruncDate
from django.utils import timezone

from healthexport.lib.cache import cache_get, cache_set
from ingest.instrumentation import DATA_QUALITY_KINDS, set_data_quality_findings
from ingest.models import DataQualityFinding, DataQualityRun
from ingest.queries import users_by_last_sync
from metrics.catalog import BOUNDS
from metrics.models import MetricType, Sample

# The gauge's label values are the finding kinds: one list, in instrumentation.
STALE, GAP, WEIGHT_JUMP, RESTING_HEART_RATE, VALUE_AT_BOUND = DATA_QUALITY_KINDS

WARNING = "warning"
INFO = "info"

DEFAULT_STALE_HOURS = 24
DEFAULT_DAYS = 7
DEFAULT_LIMIT = 100  # findings per check: enough to act on, cheap to compute

# Metrics a watch or phone records around the clock: a whole day without any is a gap.
DENSE_METRICS = ("heart_rate", "step_count", "active_energy")
WEIGHT_METRIC = "weight_body_mass"
WEIGHT_JUMP_RATIO = 0.10
WEIGHT_JUMP_WITHIN = dt.timedelta(hours=24)
RESTING_HEART_RATE_RANGE = (30, 120)
# "At the edge" of a catalog bound: within this share of the bound's range from either end.
EDGE_SHARE = 0.005
# Bounds real devices do reach: an oxygen saturation of 100 % is a normal reading.
NATURAL_HIGHS = frozenset({"blood_oxygen_saturation"})

# The last run's counts per kind, for the web processes' gauge (the command runs elsewhere).
COUNTS_CACHE_KEY = "data_quality:v1:counts"
COUNTS_CACHE_SECONDS = 25 * 3600  # outlives a daily schedule; the hourly CronJob refreshes it
# Runs (their counts) kept in the database; only the latest keeps its findings.
RUNS_KEPT_DAYS = 90


@dataclass(frozen=True)
class Finding:
    kind: str
    user: str  # username
    detail: str
    severity: str


def _day_window(days: int, now: dt.datetime | None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=days)


# --- Stale users --------------------------------------------------------------------------------


def stale_user_count(*, stale_hours: int = DEFAULT_STALE_HOURS) -> int:
    cutoff = timezone.now() - dt.timedelta(hours=stale_hours)
    return users_by_last_sync().filter(last_sync__lt=cutoff).count()


def stale_users(
    *, stale_hours: int = DEFAULT_STALE_HOURS, limit: int = DEFAULT_LIMIT, now: dt.datetime | None = None
) -> list[Finding]:
    """Users who have synced before but not within ``stale_hours`` (users who never synced are not
    stale: they have not set the app up yet)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=stale_hours)
    rows = users_by_last_sync().filter(last_sync__lt=cutoff).order_by("last_sync").values_list("username", "last_sync")
    return [
        Finding(STALE, username, f"last sync {last:%Y-%m-%d %H:%M} UTC ({_age(now - last)} ago)", WARNING)
        for username, last in rows[:limit]
    ]


def _age(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 48 else f"{hours} h"


# --- Gaps ---------------------------------------------------------------------------------------


def suspicious_gaps(
    *, days: int = DEFAULT_DAYS, limit: int = DEFAULT_LIMIT, now: dt.datetime | None = None
) -> list[Finding]:
    """UTC days without a single sample of a dense metric, between days of the window that have them.

    The database returns one row per (user, metric, day with samples), at most users x 3 x ``days``
    rows; missing days at the end of the window are not gaps (the stale check covers them).
    """
    metrics = dict(MetricType.objects.filter(name__in=DENSE_METRICS).values_list("id", "name"))
    if not metrics:
        return []
    rows = (
        Sample.objects.filter(metric_id__in=metrics, start__gte=_day_window(days, now))
        .annotate(day=TruncDate("start"))
        .values_list("user_id", "metric_id", "day")
        .annotate(samples=Count("start"))
        .order_by("user_id", "metric_id", "day")
    )
    days_with_samples: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for user_id, metric_id, day, _samples in rows:
        days_with_samples[(user_id, metric_id)].append(day)
    gaps = [
        (user_id, metrics[metric_id], before, after)
        for (user_id, metric_id), seen in days_with_samples.items()
        for before, after in pairwise(seen)
        if (after - before).days > 1
    ][:limit]
    usernames = _usernames(user_id for user_id, *_ in gaps)
    return [
        Finding(GAP, usernames[user_id], _gap_detail(metric, before, after), INFO)
        for user_id, metric, before, after in gaps
    ]


def _gap_detail(metric: str, before: dt.date, after: dt.date) -> str:
    first, last = before + dt.timedelta(days=1), after - dt.timedelta(days=1)
    missing = (last - first).days + 1
    span = f"{first}" if missing == 1 else f"{first} to {last}"
    return f"{metric}: no samples on {span} ({missing} day(s), UTC), but on {before} and {after}"


def _usernames(user_ids: Iterable[int]) -> dict[int, str]:
    return dict(get_user_model().objects.filter(pk__in=set(user_ids)).values_list("pk", "username"))


# --- Implausible stored values ------------------------------------------------------------------


def weight_jumps(
    *, days: int = DEFAULT_DAYS, limit: int = DEFAULT_LIMIT, now: dt.datetime | None = None
) -> list[Finding]:
    """Consecutive weight samples of one user, less than 24 h apart, differing by more than 10 %."""
    order = [F("start").asc(), F("source").asc()]
    previous = {"partition_by": [F("user_id")], "order_by": order}
    jumps = (
        Sample.objects.filter(metric__name=WEIGHT_METRIC, start__gte=_day_window(days, now))
        .annotate(
            previous_qty=Window(Lag("qty"), **previous),
            previous_start=Window(Lag("start"), **previous),
        )
        .annotate(change=Abs(F("qty") - F("previous_qty")))
        .filter(
            previous_qty__gt=0,
            start__lte=F("previous_start") + WEIGHT_JUMP_WITHIN,
            change__gt=F("previous_qty") * WEIGHT_JUMP_RATIO,
        )
        .order_by("user_id", "start")
        .values_list("user__username", "start", "previous_start", "previous_qty", "qty", "unit")
    )
    return [
        Finding(
            WEIGHT_JUMP,
            username,
            f"{previous_qty:g} → {qty:g} {unit} between {previous_start:%Y-%m-%d %H:%M} and {start:%Y-%m-%d %H:%M} UTC",
            WARNING,
        )
        for username, start, previous_start, previous_qty, qty, unit in jumps[:limit]
    ]


def resting_heart_rate_out_of_range(
    *, days: int = DEFAULT_DAYS, limit: int = DEFAULT_LIMIT, now: dt.datetime | None = None
) -> list[Finding]:
    low, high = RESTING_HEART_RATE_RANGE
    rows = (
        Sample.objects.filter(metric__name="resting_heart_rate", start__gte=_day_window(days, now))
        .filter(Q(qty__lt=low) | Q(qty__gt=high))
        .order_by("user_id", "start")
        .values_list("user__username", "start", "qty", "unit")
    )
    return [
        Finding(
            RESTING_HEART_RATE,
            username,
            f"{qty:g} {unit} at {start:%Y-%m-%d %H:%M} UTC, outside {low}–{high}",
            WARNING,
        )
        for username, start, qty, unit in rows[:limit]
    ]


def values_at_bounds(
    *, days: int = DEFAULT_DAYS, limit: int = DEFAULT_LIMIT, now: dt.datetime | None = None
) -> list[Finding]:
    """Samples within 0.5 % of the range from a bound of ``metrics.catalog.BOUNDS``: ingest accepted
    them, but a heart rate of 299 or a weight of 0.6 kg is more likely a sensor or typing error."""
    edges: dict[str, tuple[float, float]] = {}
    condition = Q()
    for metric_id, name, unit in MetricType.objects.filter(name__in=BOUNDS).values_list("id", "name", "unit"):
        bound_unit, low, high = BOUNDS[name]
        if unit != bound_unit:  # bounds only apply in their unit, as in ingest validation
            continue
        margin = (high - low) * EDGE_SHARE
        near = Q(qty__lte=low + margin)
        if name not in NATURAL_HIGHS:
            near |= Q(qty__gte=high - margin)
        condition |= Q(metric_id=metric_id) & near
        edges[name] = (low, high)
    if not edges:
        return []
    rows = (
        Sample.objects.filter(condition, start__gte=_day_window(days, now))
        .order_by("user_id", "start")
        .values_list("user__username", "metric__name", "start", "qty", "unit")
    )
    findings = []
    for username, metric, start, qty, unit in rows[:limit]:
        low, high = edges[metric]
        detail = f"{metric}: {qty:g} {unit} at {start:%Y-%m-%d %H:%M} UTC, at the edge of {low:g}–{high:g}"
        findings.append(Finding(VALUE_AT_BOUND, username, detail, INFO))
    return findings


# --- All checks, and the gauge -------------------------------------------------------------------


def data_quality_check(
    *,
    stale_hours: int = DEFAULT_STALE_HOURS,
    days: int = DEFAULT_DAYS,
    limit: int = DEFAULT_LIMIT,
    now: dt.datetime | None = None,
) -> list[Finding]:
    """Every check, in a stable order (stale users first: they are the most actionable)."""
    window: dict[str, Any] = {"days": days, "limit": limit, "now": now}
    return [
        *stale_users(stale_hours=stale_hours, limit=limit, now=now),
        *suspicious_gaps(**window),
        *weight_jumps(**window),
        *resting_heart_rate_out_of_range(**window),
        *values_at_bounds(**window),
    ]


def finding_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Count per kind, every kind present (0 when none)."""
    counted = Counter(finding.kind for finding in findings)
    return {kind: counted[kind] for kind in DATA_QUALITY_KINDS}


def data_quality_publish(counts: dict[str, int]) -> None:
    """Set this process's gauge and hand the counts to the web processes through the cache
    (the CronJob's process is never scraped)."""
    set_data_quality_findings(counts)
    cache_set(COUNTS_CACHE_KEY, counts, COUNTS_CACHE_SECONDS)


def data_quality_store(
    *, findings: list[Finding], counts: dict[str, int], stale_hours: int, days: int, limit: int
) -> DataQualityRun:
    """Keep a run for the staff dashboard: its findings replace the previous run's (one atomic
    swap, so the dashboard never shows half a run); runs older than 90 days go."""
    with transaction.atomic():
        run = DataQualityRun.objects.create(stale_hours=stale_hours, days=days, limit=limit, counts=counts)
        DataQualityFinding.objects.bulk_create(
            DataQualityFinding(run=run, kind=f.kind, severity=f.severity, username=f.user[:150], detail=f.detail[:500])
            for f in findings
        )
        DataQualityFinding.objects.exclude(run=run).delete()
        DataQualityRun.objects.filter(ran_at__lt=run.ran_at - dt.timedelta(days=RUNS_KEPT_DAYS)).delete()
    return run


def refresh_data_quality_gauge() -> None:
    """Gauge refresher: stale users counted live (one index probe per user), the other kinds as
    the last command run left them in the cache."""
    set_data_quality_findings({STALE: stale_user_count()})
    last_run = cache_get(COUNTS_CACHE_KEY) or {}
    set_data_quality_findings({kind: count for kind, count in last_run.items() if kind != STALE})
