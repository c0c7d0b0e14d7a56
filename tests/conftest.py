"""The fixture graph: alice → alice_client; bob never sees Alice's data; staff; compliance_officer."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(username="alice", password="alice-password-1")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user(username="bob", password="bob-password-1")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        username="staff", password="staff-password-1", is_staff=True, is_superuser=True
    )


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
