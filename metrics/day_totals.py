"""Daily totals of a cumulative metric, each step counted once across overlapping sources.

iPhone and Apple Watch both count the steps (distance, energy, …) of the same walk; adding every
sample counts them twice. As the Health app does, sources are ranked (Apple Watch, then iPhone,
then the others by name, unless the owner set an order) and each sample counts only for the part
of its time no higher-ranked sample of that day covers yet: a lower-ranked sample half covered
adds half its value. Days are local days: each sample's own UTC offset, as the phone sent it.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from metrics.models import MetricType, Sample, SourcePriority

# Matched case-insensitively inside source names ("Anna's Apple Watch", "Anna's iPhone").
DEFAULT_PRIORITY = ("watch", "iphone")


def source_priority(*, user: Any) -> list[str]:
    """The owner's order of sources (name fragments, best first), else the default."""
    stored = SourcePriority.objects.filter(user=user).values_list("order", flat=True).first()
    return list(stored) if stored else list(DEFAULT_PRIORITY)


def day_totals(
    *, user: Any, metric: MetricType, first: dt.date, last: dt.date, priority: Sequence[str] | None = None
) -> dict[dt.date, float]:
    """Local day → the metric's total that day, overlapping sources merged by ``priority``."""
    order = [fragment.casefold() for fragment in (priority or source_priority(user=user))]
    # Any offset keeps an instant within a day of its local date: read one day more each side.
    since = dt.datetime.combine(first - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    until = dt.datetime.combine(last + dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC)
    rows = Sample.objects.filter(user=user, metric=metric, start__gte=since, start__lt=until).values_list(
        "start", "end", "source", "qty", "utc_offset"
    )
    by_day: dict[dt.date, list[tuple]] = defaultdict(list)
    for start, end, source, qty, offset in rows.order_by():
        day = (start + dt.timedelta(minutes=offset)).date()
        if first <= day <= last:
            by_day[day].append((_rank(source, order), start, end or start, qty))
    return {day: merged_total(samples) for day, samples in sorted(by_day.items())}


def _rank(source: str, order: list[str]) -> tuple[int, str]:
    folded = source.casefold()
    for position, fragment in enumerate(order):
        if fragment in folded:
            return position, source
    return len(order), source


def ranked_sources(sources: Iterable[str], *, user: Any) -> list[str]:
    """These source names, best first, in the owner's order (the ranking day totals use)."""
    order = [fragment.casefold() for fragment in source_priority(user=user)]
    return sorted(sources, key=lambda source: _rank(source, order))


def merged_total(samples: Iterable[tuple]) -> float:
    """The total of ``(rank, start, end, qty)`` samples, each counting for the part of its
    interval that no better-ranked (or earlier, same-ranked) sample covers."""
    covered: list[list[dt.datetime]] = []  # disjoint [start, end] intervals, sorted
    total = 0.0
    for _rank_key, start, end, qty in sorted(samples, key=lambda s: (s[0], s[1])):
        if end <= start:  # an instant: counted unless inside what is covered
            at = bisect.bisect_right(covered, [start, dt.datetime.max.replace(tzinfo=dt.UTC)]) - 1
            if at < 0 or not covered[at][0] <= start <= covered[at][1]:
                total += qty
            continue
        overlap = _overlap(covered, start, end)
        total += qty * (1 - overlap / (end - start))
        _cover(covered, start, end)
    return total


def _overlap(covered: list[list[dt.datetime]], start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    overlap = dt.timedelta()
    at = max(bisect.bisect_left(covered, [start, start]) - 1, 0)
    while at < len(covered) and covered[at][0] < end:
        low, high = max(covered[at][0], start), min(covered[at][1], end)
        if high > low:
            overlap += high - low
        at += 1
    return overlap


def _cover(covered: list[list[dt.datetime]], start: dt.datetime, end: dt.datetime) -> None:
    """Add [start, end] to the disjoint intervals, merging what it touches."""
    at = bisect.bisect_left(covered, [start, start])
    if at > 0 and covered[at - 1][1] >= start:
        at -= 1
    merged = [start, end]
    while at < len(covered) and covered[at][0] <= merged[1]:
        merged = [min(merged[0], covered[at][0]), max(merged[1], covered[at][1])]
        del covered[at]
    covered.insert(at, merged)
