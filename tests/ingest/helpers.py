from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hae"
FIELDS = ("stored", "updated", "duplicates", "rejected")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


def metric_item_counts(document: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for metric in document["data"].get("metrics") or []:
        counts[metric["name"]] = counts.get(metric["name"], 0) + len(metric.get("data") or [])
    return counts


def all_counts(answer: dict[str, Any]) -> list[dict[str, int]]:
    return [*answer["metrics"].values(), answer["workouts"], *answer["other"].values()]


def counts_add_up(answer: dict[str, Any]) -> bool:
    return all(c["received"] == sum(c[f] for f in FIELDS) for c in all_counts(answer))


def store_unprocessed(user: Any, name: str = "small.json") -> Any:
    """A body stored and never processed, as when the worker dies mid-ingest."""
    from ingest.services import ingestion_store_raw

    return ingestion_store_raw(
        user=user,
        api_key=None,
        body=fixture_bytes(name),
        digest="e" * 64,
        content_encoding="",
        idempotency_key="",
        request=None,
    )
