"""healthexport.lib.statements: one new row written as Model.save() writes it, by a statement built once."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from healthexport.lib.statements import insert_new
from ingest.models import Ingestion
from metrics.models import SampleRollup

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_a_new_row_reads_back_as_the_orm_would_have_written_it():
    owner = get_user_model().objects.create(username="inserted")
    written = Ingestion(user=owner, body=b"\x00raw", body_sha256="a" * 64, body_size=4, automation={"name": "hourly"})

    insert_new(written)
    again = Ingestion(user=owner, body_sha256="b" * 64, body_size=0)
    insert_new(again)

    stored = Ingestion.objects.get(pk=written.pk)
    assert written.pk is not None and again.pk != written.pk and not written._state.adding
    assert (stored.public_id, stored.received_at, stored.user_id) == (written.public_id, written.received_at, owner.pk)
    assert (bytes(stored.body), stored.automation, stored.status) == (b"\x00raw", {"name": "hourly"}, "received")


def test_a_model_with_database_defaults_is_refused():
    with pytest.raises(ValueError, match="database defaults"):
        insert_new(SampleRollup())
