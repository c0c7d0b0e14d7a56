from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.quality import (
    DEFAULT_DAYS,
    DEFAULT_LIMIT,
    DEFAULT_STALE_HOURS,
    Finding,
    data_quality_check,
    data_quality_publish,
    data_quality_store,
    finding_counts,
)

COLUMNS = ("severity", "kind", "user", "detail")


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Look for data problems: users whose last sync is older than --stale-hours, days missing from "
        "metrics that arrive all day (heart rate, steps, active energy), and stored values that are "
        "implausible (weight jumps, resting heart rate outside 30-120, values at a catalog bound). "
        "Prints a table and a summary, keeps the findings for the admin's dashboard, sets the "
        "healthexport_data_quality_findings gauge, and with --fail-on-findings exits 1 when anything was found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-hours",
            type=_positive,
            default=DEFAULT_STALE_HOURS,
            help=f"a user is stale when their last sync is older than this (default {DEFAULT_STALE_HOURS})",
        )
        parser.add_argument(
            "--days",
            type=_positive,
            default=DEFAULT_DAYS,
            help=f"look for gaps and implausible values this many days back (default {DEFAULT_DAYS})",
        )
        parser.add_argument(
            "--limit",
            type=_positive,
            default=DEFAULT_LIMIT,
            help=f"at most this many findings per check (default {DEFAULT_LIMIT})",
        )
        parser.add_argument(
            "--fail-on-findings", action="store_true", help="exit with status 1 when anything was found"
        )

    def handle(
        self, *args: Any, stale_hours: int, days: int, limit: int, fail_on_findings: bool, **options: Any
    ) -> None:
        findings = data_quality_check(stale_hours=stale_hours, days=days, limit=limit)
        counts = finding_counts(findings)
        data_quality_publish(counts)
        data_quality_store(findings=findings, counts=counts, stale_hours=stale_hours, days=days, limit=limit)
        if findings:
            self.stdout.write(_table(findings))
        found = {kind: count for kind, count in counts.items() if count}
        capped = [kind for kind, count in found.items() if count >= limit]
        summary = ", ".join(f"{count} {kind}" for kind, count in found.items()) or "no findings"
        self.stdout.write(
            f"Data quality: {summary} (stale after {stale_hours} h, last {days} day(s))"
            + (f"; {', '.join(capped)} capped at {limit}" if capped else "")
        )
        if findings and fail_on_findings:
            raise CommandError(f"{len(findings)} data-quality finding(s)", returncode=1)


def _table(findings: list[Finding]) -> str:
    """Columns padded to their widest cell; the last (detail) is left ragged."""
    rows = [COLUMNS, *((f.severity, f.kind, f.user, f.detail) for f in findings)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS) - 1)]
    rule = tuple(
        "-" * len(heading) if column == len(widths) else "-" * widths[column] for column, heading in enumerate(COLUMNS)
    )
    rows.insert(1, rule)
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]) for row in rows
    )
