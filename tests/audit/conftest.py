"""Audit fixtures: staff outside the Compliance group (the compliance officer is in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.fixture
def plain_staff(db):
    return get_user_model().objects.create_user(username="sam", password="sam-password-1", is_staff=True)


@pytest.fixture
def back_to_the_latest_schema():
    """A test that migrates backwards leaves the schema as every later test expects it."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres_only") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (partitions, triggers)")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
