"""POST /v1/ingest with bodies hypothesis makes: random bytes, real exports damaged byte by byte
or value by value, deep nesting, odd encodings (UTF-16, UTF-32, byte order marks, lone and
encoded surrogates, overlong UTF-8), huge and tiny numbers, NUL characters everywhere.

Whatever the body, the answer is never a 5xx; a 200's counts add up and its export is stored as
answered; a 400 is ``invalid_json``/``invalid_payload`` with its raw body kept as ``rejected``.
The same examples every run (see ``tests/fuzzing.py``); on PostgreSQL more than embedded.
"""

from __future__ import annotations

import codecs
import json
import zlib
from typing import Any

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from ingest.models import Ingestion
from tests.fuzzing import fuzz_settings
from tests.ingest.helpers import counts_add_up, fixture_bytes, fixture_json

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

EXAMPLES = 200 if connection.vendor == "postgresql" else 40
# Exports in the app's format to damage; full_day.json (150 kB) is left to test_pipeline: each
# example here processes its body, and many small ones find more than a few large ones.
SOURCES = ("small.json", "real_shapes.json")
DEPTHS = (1, 64, 254, 255, 300, 900, 990, 1000, 5_000, 200_000)

# --- Values -------------------------------------------------------------------------------------

numbers = st.one_of(
    st.sampled_from([1e15, -1e15, 1e16, 1.7e308, -1.7e308, 5e-324, -0.0, 0, 2**63, 2**64, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(),
)
texts = st.one_of(
    st.sampled_from(["\u0000", "a\u0000b", "\ufeff", "\u202f", "\U0001f600", "2024-09-03 06:15:00 -0700", ""]),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(["\u0000", "a", "\\", '"', "\u00e9"]), max_size=12),
    st.just("x" * 300),
)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for level in range(min(depth, 400)):  # deeper nesting is tried as raw bytes (deep_bodies)
        value = [value] if level % 2 else {"k": value}
    return value


values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts, st.sampled_from(DEPTHS).map(nested)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.one_of(texts, st.just("date")), children, max_size=4)
    ),
    max_leaves=8,
)


# --- Whole bodies -------------------------------------------------------------------------------


def places(node: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a document (dict key or list index path), the document itself excluded."""
    found = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.append((*path, key))
        found.extend(places(child, (*path, key)))
    return found


@st.composite
def damaged_values(draw: st.DrawFn) -> bytes:
    """A real export with a few values replaced, keys renamed or elements repeated."""
    document = fixture_json(draw(st.sampled_from(SOURCES)))
    spots = places(document)
    for path in draw(st.lists(st.sampled_from(spots), min_size=1, max_size=6)):
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            action = draw(st.sampled_from(["replace", "replace", "rename", "repeat"]))
            if action == "replace":
                parent[path[-1]] = draw(values)
            elif action == "rename" and isinstance(parent, dict):
                parent[draw(texts)] = parent.pop(path[-1])
            elif action == "repeat" and isinstance(parent, list):
                parent.append(draw(values))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this place
    ascii_only = draw(st.booleans())
    # Non-ASCII as raw UTF-8, lone surrogates included (as the bytes no UTF-8 decoder accepts).
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


HOSTILE_BYTES = [
    b"\x00", b"\\u0000", b"\\ud800", b"\\udc00", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf8\x88\x80\x80\x80",
    b"\xff\xfe", b"\xef\xbb\xbf", b"[" * 300, b"{" * 50, b"1e999", b"-1e999", b"NaN", b"Infinity", b"1" * 400,
    b"9" * 5000, b'"', b"\\", b",", b"]", b"}", b'"data":', b"null", b"\xe2\x80\xaf",
]  # fmt: skip


@st.composite
def damaged_bytes(draw: st.DrawFn) -> bytes:
    """A real export with bytes inserted, replaced or cut, anywhere."""
    body = bytearray(fixture_bytes(draw(st.sampled_from(SOURCES))))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        patch = draw(st.one_of(st.sampled_from(HOSTILE_BYTES), st.binary(min_size=1, max_size=8)))
        action = draw(st.sampled_from(["insert", "replace", "cut"]))
        if action == "insert":
            body[at:at] = patch
        elif action == "replace":
            body[at : at + len(patch)] = patch
        else:
            del body[at : at + draw(st.integers(1, 64))]
    return bytes(body)


@st.composite
def odd_encodings(draw: st.DrawFn) -> bytes:
    """A real (small) export in another encoding, or with a byte order mark."""
    text = fixture_bytes("small.json").decode()
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig", "latin-1"]))
    return text.encode(encoding, "replace")


@st.composite
def deep_bodies(draw: st.DrawFn) -> bytes:
    """Nesting at the top, inside ``data``, inside a section or inside one item."""
    depth = draw(st.sampled_from(DEPTHS))
    opening, closing = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"date":', b"}]")]))
    inner = opening * depth + b"1" + closing * depth * draw(st.sampled_from([0, 1]))
    frame = draw(
        st.sampled_from(
            [
                b"%s",
                b'{"data": %s}',
                b'{"data": {"metrics": %s}}',
                b'{"data": {"symptoms": [%s]}}',
                b'{"data": {"workouts": [{"name": "Run", "start": "2024-09-03 06:00:00 +0000", '
                b'"end": "2024-09-03 07:00:00 +0000", "heartRateData": [%s]}]}}',
                b'{"data": {"metrics": [{"name": "step_count", "units": "count", "data": '
                b'[{"date": "2024-09-03 06:00:00 +0000", "qty": 1, "x": %s}]}]}}',
            ]
        )
    )
    return frame % inner


bodies = st.one_of(
    st.binary(max_size=512),
    damaged_values(),
    damaged_values(),
    damaged_bytes(),
    odd_encodings(),
    deep_bodies(),
)


@given(body=bodies)
@fuzz_settings(EXAMPLES)
def test_no_body_is_ever_a_server_error(unlimited_alice_client, body):
    response = unlimited_alice_client.generic("POST", "/v1/ingest", body, content_type="application/json")

    assert response.status_code in (200, 400), response.content[:500]
    if response.status_code == 200:
        answer = response.json()
        assert counts_add_up(answer), answer
        assert all({"code", "message", "where"} <= error.keys() for error in answer["errors"])
        ingestion = Ingestion.objects.get(public_id=answer["ingestion_id"])
        assert ingestion.status == answer["status"]
    else:
        error = response.json()["error"]
        assert error["code"] in ("invalid_json", "invalid_payload") and error["message"]
        ingestion = Ingestion.objects.order_by("-id").first()
        assert ingestion.status == Ingestion.Status.REJECTED
        assert zlib.decompress(ingestion.body) == body


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_body_in_another_encoding_is_invalid_json(alice_client, encoding):
    body = codecs.encode(fixture_bytes("small.json").decode(), encoding)
    response = alice_client.generic("POST", "/v1/ingest", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert Ingestion.objects.get().status == Ingestion.Status.REJECTED
