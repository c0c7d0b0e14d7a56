from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def revoke(prefix: str) -> str:
    out = StringIO()
    call_command("revokeapikey", prefix, stdout=out)
    return out.getvalue()


@pytest.mark.embedded
def test_it_revokes_the_key_with_that_prefix(alice_key, bob_key):
    api_key, _ = alice_key
    assert revoke(api_key.prefix).startswith("Revoked 1 key(s)")

    api_key.refresh_from_db()
    bob_key[0].refresh_from_db()
    assert api_key.is_revoked and api_key.revoked_by is None
    assert not bob_key[0].is_revoked
    assert AuditEvent.objects.filter(action="apikey.revoked").count() == 1


def test_it_accepts_the_hx_form_and_reports_an_already_revoked_key(alice_key):
    api_key, plaintext = alice_key
    revoke(f"hx_{api_key.prefix}_")
    assert revoke(plaintext).startswith("Revoked 0 key(s)")
    assert AuditEvent.objects.filter(action="apikey.revoked").count() == 1


def test_an_unknown_prefix_is_an_error(db):
    with pytest.raises(CommandError, match="No API key"):
        revoke("zzzzzzzz")
