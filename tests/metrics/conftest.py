from __future__ import annotations

import pytest

from ingest.services import ingest_export
from tests.ingest.helpers import fixture_bytes


@pytest.fixture
def load(db):
    """Ingest a fixture for a user, as the app would."""

    def _load(user, name: str = "small.json") -> dict:
        return ingest_export(user=user, api_key=None, body=fixture_bytes(name))

    return _load
