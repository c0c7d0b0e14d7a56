"""The answer to one export: counts per metric / workouts / other section, and item errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# (metric name or "workouts", items of it done, items of it in all): how import_export draws its progress bar.
Progress = Callable[[str, int, int], None]

MAX_ERRORS = 100


@dataclass
class Counts:
    received: int = 0
    stored: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        # Not dataclasses.asdict, which deep-copies each value: a tenth of a millisecond per
        # metric, for every export's answer.
        return dict(vars(self))


@dataclass
class WorkoutCounts(Counts):
    route_points: int = 0


@dataclass
class IngestReport:
    metrics: dict[str, Counts] = field(default_factory=dict)
    workouts: WorkoutCounts = field(default_factory=WorkoutCounts)
    other: dict[str, Counts] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    progress: Progress | None = None

    def metric(self, name: str) -> Counts:
        return self.metrics.setdefault(name, Counts())

    def section(self, name: str) -> Counts:
        return self.other.setdefault(name, Counts())

    def error(self, code: str, message: str, **where: Any) -> None:
        """Record a problem; the list is bounded, the count is not."""
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"code": code, "message": message, "where": where})

    def reject(self, counts: Counts, code: str, message: str, **where: Any) -> None:
        counts.rejected += 1
        self.error(code, message, **where)

    @property
    def status(self) -> str:
        return "partial" if self.error_count else "processed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "metrics": {name: counts.as_dict() for name, counts in self.metrics.items()},
            "workouts": self.workouts.as_dict(),
            "other": {name: counts.as_dict() for name, counts in self.other.items()},
            "errors": self.errors,
            "errors_truncated": self.error_count > len(self.errors),
        }
