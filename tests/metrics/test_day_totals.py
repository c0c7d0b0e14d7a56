from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from metrics.day_totals import day_totals, merged_total
from metrics.models import HealthRecord, MetricType, SourcePriority
from tests.ingest.apple_helpers import SMALL_ZIP, expected

pytestmark = pytest.mark.django_db
UTC = dt.UTC
FIRST, LAST = dt.date(2023, 11, 4), dt.date(2023, 11, 5)


@pytest.fixture
def imported(alice):
    call_command("import_apple_health", str(SMALL_ZIP), "--user", "alice", stdout=StringIO(), stderr=StringIO())
    return alice


def totals(user, name: str, **kwargs) -> dict[str, float]:
    metric = MetricType.objects.get(name=name, owner=None)
    return {
        day.isoformat(): total
        for day, total in day_totals(user=user, metric=metric, first=FIRST, last=LAST, **kwargs).items()
    }


@pytest.mark.embedded
def test_a_days_energy_and_exercise_match_that_days_activity_summary(imported):
    summaries = {
        r.natural_key: r.payload for r in HealthRecord.objects.filter(user=imported, section="activity_summary")
    }
    assert set(summaries) == {"2023-11-04", "2023-11-05"}
    energy, exercise = totals(imported, "active_energy"), totals(imported, "apple_exercise_time")
    for day, summary in summaries.items():
        assert energy[day] == pytest.approx(summary["active_energy_kcal"], abs=0.01)
        assert exercise[day] == pytest.approx(summary["exercise_minutes"])


def test_steps_of_watch_and_iphone_over_the_same_walk_count_once(imported):
    per_source = expected()["steps_by_local_day_and_source"]
    steps = totals(imported, "step_count")
    for day, sources in per_source.items():
        watch = next(count for source, count in sources.items() if "Watch" in source)
        assert steps[day] == pytest.approx(watch)  # the watch covers every walk the phone counted
        assert steps[day] < sum(sources.values())


def test_the_owner_may_rank_the_iphone_first(imported):
    SourcePriority.objects.create(user=imported, order=["iphone", "watch"])
    by_default = totals(imported, "step_count", priority=["watch", "iphone"])
    iphone_first = totals(imported, "step_count")
    assert iphone_first != by_default
    assert all(
        iphone_first[day] >= min(expected()["steps_by_local_day_and_source"][day].values()) for day in iphone_first
    )


def test_a_lower_ranked_sample_counts_for_the_part_not_covered():
    at = dt.datetime(2024, 1, 1, 8, tzinfo=UTC)
    minutes = dt.timedelta(minutes=1)
    watch = (0, at, at + 10 * minutes, 100.0)
    phone_half_covered = (1, at + 5 * minutes, at + 15 * minutes, 80.0)
    phone_alone = (1, at + 20 * minutes, at + 30 * minutes, 50.0)
    assert merged_total([phone_half_covered, watch, phone_alone]) == pytest.approx(100 + 40 + 50)
