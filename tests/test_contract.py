"""An external acceptance checker run end to end against a live server.

The checker is not part of this repository: ``CONTRACT_CHECK_SCRIPT`` names it (it takes the server
URL and a key and exits 0 when every check passed). Without it the test skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.models import ApiKey
from accounts.services import api_key_create
from ingest.models import Ingestion
from tests.conftest import ALL_SCOPES

SCRIPT = Path(os.environ.get("CONTRACT_CHECK_SCRIPT", "/nonexistent"))
# The script posts ~25 requests and ~0.5 MB; per-key limits must not be what it measures.
UNLIMITED = 10**9


@pytest.mark.postgres_only
@pytest.mark.skipif(not SCRIPT.is_file(), reason=f"no contract check at {SCRIPT} (set CONTRACT_CHECK_SCRIPT)")
def test_a_live_server_passes_the_contract_check(live_server, settings):
    if connection.vendor != "postgresql":
        pytest.skip("a live server's threads need a server database")
    settings.RATELIMIT_REQUESTS_PER_HOUR = settings.RATELIMIT_BYTES_PER_HOUR = UNLIMITED
    settings.RATELIMIT_READ_REQUESTS_PER_HOUR = UNLIMITED
    # A fresh user, as the script asks: its data must not hold the fixtures yet.
    owner = get_user_model().objects.create_user(username="contract", password="contract-password-1")
    api_key, plaintext = api_key_create(owner=owner, name="contract check", scopes=ALL_SCOPES, created_by=None)
    ApiKey.objects.filter(pk=api_key.pk).update(
        ratelimit_requests_per_hour=UNLIMITED, ratelimit_bytes_per_hour=UNLIMITED
    )

    result = subprocess.run(
        [sys.executable, str(SCRIPT), live_server.url, plaintext],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, f"contract check failed:\n{result.stdout}\n{result.stderr}"
    assert "all contract checks passed" in result.stdout
    # small.json and full_day.json stored once each; nothing crashed on the way.
    ingestions = Ingestion.objects.filter(user=owner)
    assert ingestions.filter(status=Ingestion.Status.PROCESSED).count() == 2
    assert not ingestions.filter(status=Ingestion.Status.FAILED).exists()
