"""Exports with random damage (seeded): whatever is wrong with an item, the export is answered
with counts that add up and the errors named, never a crash. The acceptance checks post exports
nobody here has seen; this is the cheap way to meet some of their surprises first."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator

import pytest

from healthexport.lib.errors import InvalidJson, InvalidPayload
from ingest.services import ingest_export
from tests.ingest.helpers import counts_add_up, fixture_json

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

ODD_VALUES = [
    None, "", "abc", True, [], {}, [{"a": 1}], {"qty": "x"}, -1, 0, -0.0, 3.5, 1e308, -1e308, 10**30,
    "2024-13-45 25:00:00 +0000", "2024-02-30 10:00:00 +0000", "9999-12-31 23:59:59 +1400",
    "0001-01-01 00:00:00 -1400", "2024-09-03", "2024-09-03 6:15:00\u202fPM +0000", "\u202f", "x" * 300,
]  # fmt: skip


def paths(node: object, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*path, index))
    if path:
        yield path


def damaged(document: dict, rng: random.Random) -> dict:
    document = copy.deepcopy(document)
    places = list(paths(document))
    for path in rng.sample(places, k=min(len(places), rng.randint(1, 6))):
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            roll = rng.random()
            if roll < 0.6:
                parent[path[-1]] = rng.choice(ODD_VALUES)
            elif roll < 0.8 and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[path[-1]]))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this place
    return document


@pytest.mark.parametrize("seed", range(4))
def test_a_damaged_export_is_answered_never_crashed(alice, seed):
    rng = random.Random(seed)
    sources = [fixture_json(name) for name in ("small.json", "full_day.json", "real_shapes.json")]
    for _ in range(15):
        body = json.dumps(damaged(rng.choice(sources), rng)).encode()
        try:
            answer = ingest_export(user=alice, api_key=None, body=body)
        except (InvalidJson, InvalidPayload):
            continue  # damage to the body's frame (no "data" object left): a clear 400
        assert counts_add_up(answer), answer
        assert all({"code", "message", "where"} <= error.keys() for error in answer["errors"])
