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


@override_settings(PUBLIC_URL="")
def test_an_unset_public_url_is_a_warning():
    [warning] = [message for message in run_checks() if message.id == "healthexport.W002"]
    assert "PUBLIC_URL" in warning.msg


@override_settings(PUBLIC_URL="https://health.example.org")
def test_a_public_url_is_accepted():
    assert not {"healthexport.W002", "healthexport.E004"} & check_ids()


@override_settings(PUBLIC_URL="health.example.org")
def test_a_public_url_without_a_scheme_is_an_error():
    assert "healthexport.E004" in check_ids()
