from __future__ import annotations

import pytest


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client
