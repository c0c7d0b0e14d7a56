"""Audit fixtures: a compliance officer (staff, in the Compliance group) and staff without it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection


@pytest.fixture
def compliance_officer(db):
    user = get_user_model().objects.create_user(username="carol", password="carol-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance"))
    return user


@pytest.fixture
def plain_staff(db):
    return get_user_model().objects.create_user(username="sam", password="sam-password-1", is_staff=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres_only") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (partitions, triggers)")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
