"""The configuration checks registered in healthexport/checks.py."""

from __future__ import annotations

from django.core.checks import run_checks
from django.test import override_settings


def check_ids() -> set[str]:
    return {message.id for message in run_checks()}


@override_settings(TRUSTED_PROXIES=["10.0.0.7", "172.31.250.0/24", "fd00::/8"])
def test_addresses_and_networks_are_valid_trusted_proxies():
    assert "healthexport.E003" not in check_ids()


@override_settings(TRUSTED_PROXIES=["10.0.0.7", "proxy.internal"])
def test_a_host_name_in_trusted_proxies_is_an_error():
    [error] = [message for message in run_checks() if message.id == "healthexport.E003"]
    assert "'proxy.internal'" in error.msg
