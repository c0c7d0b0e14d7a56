from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from healthexport.lib.prometheus import refresh_database_gauges
from ingest.models import DataQualityFinding, DataQualityRun, Ingestion
from ingest.quality import Finding, data_quality_check, suspicious_gaps
from ingest.services import ingest_export
from metrics.models import Sample

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 5, 17, 12, 0, tzinfo=dt.UTC)
UNITS = {
    "weight_body_mass": "kg",
    "resting_heart_rate": "count/min",
    "heart_rate": "count/min",
    "blood_oxygen_saturation": "%",
}


def export(**metrics: list[tuple[str, float]]) -> bytes:
    """A minimal HAE export: ``step_count=[("2024-05-14 08:00", 374)]`` (times in UTC)."""
    return json.dumps(
        {
            "data": {
                "metrics": [
                    {
                        "name": name,
                        "units": UNITS.get(name, "count"),
                        "data": [{"date": f"{when}:00 +0000", "qty": qty, "source": "iPhone"} for when, qty in items],
                    }
                    for name, items in metrics.items()
                ]
            }
        }
    ).encode()


def ingest(user, body: bytes, *, at: dt.datetime = NOW) -> None:
    with time_machine.travel(at, tick=False):
        answer = ingest_export(user=user, api_key=None, body=body)
    assert answer["status"] == "processed", answer


def run(*args: str, at: dt.datetime = NOW) -> str:
    out = StringIO()
    with time_machine.travel(at, tick=False):
        call_command("check_data_quality", *args, stdout=out)
    return out.getvalue()


def daily_steps(*days: int) -> bytes:
    return export(step_count=[(f"2024-05-{day:02d} {hour:02d}:00", 500) for day in days for hour in (8, 12, 18)])


def gauge(kind: str) -> float | None:
    return REGISTRY.get_sample_value("healthexport_data_quality_findings", {"kind": kind})


@pytest.mark.embedded
def test_it_finds_a_day_without_steps_between_days_with_steps(alice):
    ingest(alice, daily_steps(14, 16))

    findings = suspicious_gaps(now=NOW)

    assert Sample.objects.filter(user=alice).count() == 6
    assert findings == [
        Finding(
            "gap",
            "alice",
            "step_count: no samples on 2024-05-15 (1 day(s), UTC), but on 2024-05-14 and 2024-05-16",
            "info",
        )
    ]


@pytest.mark.embedded
def test_the_command_prints_the_gap_and_a_summary(alice):
    ingest(alice, daily_steps(13, 16, 17))

    output = run()

    lines = output.strip().splitlines()
    assert lines[0].split() == ["severity", "kind", "user", "detail"]
    assert "alice" in lines[2] and "2024-05-14 to 2024-05-15 (2 day(s), UTC)" in lines[2]
    assert lines[-1] == "Data quality: 1 gap (stale after 24 h, last 7 day(s))"


@pytest.mark.embedded
def test_days_outside_the_window_and_missing_at_the_end_are_not_gaps(alice):
    ingest(alice, daily_steps(1, 14, 15))  # the 1st is before the 7-day window; nothing after the 15th
    assert suspicious_gaps(now=NOW) == []
    assert len(suspicious_gaps(days=30, now=NOW)) == 1


@pytest.mark.embedded
def test_it_finds_a_user_who_stopped_syncing_but_not_one_who_never_did(alice, bob):
    ingest(alice, daily_steps(14, 15, 16), at=NOW - dt.timedelta(hours=30))

    findings = data_quality_check(now=NOW)

    assert [(f.kind, f.user, f.severity) for f in findings] == [("stale_user", "alice", "warning")]
    assert findings[0].detail == "last sync 2024-05-16 06:00 UTC (30 h ago)"
    assert data_quality_check(stale_hours=48, now=NOW) == []
    assert not Ingestion.objects.filter(user=bob).exists()


@pytest.mark.embedded
def test_a_duplicate_export_counts_as_a_sync(alice):
    body = daily_steps(15, 16)
    ingest(alice, body, at=NOW - dt.timedelta(hours=30))
    with time_machine.travel(NOW - dt.timedelta(hours=1), tick=False):
        assert ingest_export(user=alice, api_key=None, body=body)["status"] == "duplicate"
    assert data_quality_check(now=NOW) == []


@pytest.mark.embedded
def test_it_finds_a_weight_jump_within_a_day_but_not_a_slow_change(alice):
    ingest(
        alice,
        export(
            weight_body_mass=[
                ("2024-05-11 07:00", 80.0),
                ("2024-05-13 07:00", 70.0),  # -12.5 % over two days: a diet, not a finding
                ("2024-05-15 07:00", 70.5),
                ("2024-05-15 19:00", 79.0),  # +12 % in 12 h
            ]
        ),
    )

    findings = data_quality_check(now=NOW)

    assert findings == [
        Finding("weight_jump", "alice", "70.5 → 79 kg between 2024-05-15 07:00 and 2024-05-15 19:00 UTC", "warning")
    ]


@pytest.mark.embedded
def test_it_finds_implausible_resting_heart_rates_and_values_at_a_bound(alice):
    ingest(
        alice,
        export(
            resting_heart_rate=[("2024-05-15 07:00", 25), ("2024-05-16 07:00", 55)],
            heart_rate=[("2024-05-16 08:00", 299.5), ("2024-05-16 09:00", 72)],
            blood_oxygen_saturation=[("2024-05-16 08:00", 100)],
        ),
    )

    findings = data_quality_check(now=NOW)

    assert [(f.kind, f.detail) for f in findings] == [
        ("resting_heart_rate", "25 count/min at 2024-05-15 07:00 UTC, outside 30–120"),
        ("value_at_bound", "heart_rate: 299.5 count/min at 2024-05-16 08:00 UTC, at the edge of 20–300"),
    ]


def test_fail_on_findings_exits_non_zero_and_sets_the_gauge(alice):
    ingest(alice, daily_steps(14, 16))

    with pytest.raises(CommandError, match="1 data-quality finding") as raised:
        run("--fail-on-findings")

    assert raised.value.returncode == 1
    assert gauge("gap") == 1
    assert gauge("weight_jump") == 0


@pytest.mark.embedded
def test_clean_data_exits_zero_with_no_findings(alice):
    ingest(alice, daily_steps(14, 15, 16))

    output = run("--fail-on-findings", "--stale-hours", "12", "--days", "3")

    assert output == "Data quality: no findings (stale after 12 h, last 3 day(s))\n"


def test_the_gauge_refresher_counts_stale_users_live_and_takes_the_rest_from_the_last_run(alice, bob):
    ingest(alice, daily_steps(14, 16), at=NOW - dt.timedelta(hours=30))
    ingest(bob, daily_steps(17), at=NOW)
    run()  # 1 stale_user, 1 gap; the counts go to the (Redis) cache for the web processes

    with time_machine.travel(NOW + dt.timedelta(hours=30), tick=False):
        refresh_database_gauges(force=True)

    assert gauge("stale_user") == 2
    assert gauge("gap") == 1


def test_the_limit_caps_each_check_and_says_so(alice):
    ingest(alice, export(step_count=[(f"2024-05-{day:02d} 08:00", 500) for day in (10, 12, 14, 16)]))

    output = run("--limit", "2")

    assert output.strip().splitlines()[-1] == "Data quality: 2 gap (stale after 24 h, last 7 day(s)); gap capped at 2"


@pytest.mark.embedded
def test_each_run_is_kept_and_its_findings_replace_the_previous_ones(alice):
    ingest(alice, daily_steps(14, 16))
    run()
    ingest(alice, daily_steps(15))

    run("--days", "3")

    first, latest = DataQualityRun.objects.order_by("ran_at", "id")
    assert first.counts["gap"] == 1 and latest.counts["gap"] == 0
    assert (latest.stale_hours, latest.days, latest.limit) == (24, 3, 100)
    assert not DataQualityFinding.objects.filter(run=first).exists()
    assert list(DataQualityFinding.objects.values_list("run", "kind")) == [
        (latest.pk, kind) for kind, count in latest.counts.items() for _ in range(count)
    ]


def test_a_finding_is_stored_as_printed(alice):
    ingest(alice, daily_steps(14, 16))

    run()

    [finding] = DataQualityFinding.objects.all()
    assert (finding.kind, finding.severity, finding.username) == ("gap", "info", "alice")
    assert finding.detail.startswith("step_count: no samples on 2024-05-15")
