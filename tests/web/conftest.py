from __future__ import annotations

import pytest

from tests.web.owner_data import make_owner_data


@pytest.fixture
def alice_data(alice) -> dict:
    return make_owner_data(alice, days=40)


@pytest.fixture
def bob_data(bob) -> dict:
    return make_owner_data(bob, days=10, hourly=False)


@pytest.fixture
def alice_browser(client, alice):
    """A browser session signed in as Alice."""
    client.force_login(alice)
    return client
