"""The task queue's side of imports: one task, run by ``manage.py db_worker`` (django-tasks'
database backend: the queue is a table, so workers on any number of machines share it and no
other service is needed)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django_tasks import task


@task()
def run_import(import_id: int) -> str:
    """Claim and run one import, or take it over when its worker died (ingest.apple.services)."""
    from ingest.apple.services import import_attempt  # services enqueues this task: import late

    return import_attempt(import_id=import_id)


def enqueue(import_id: int, *, after: dt.datetime | None = None) -> None:
    """Queue a run of the import once the caller's transaction commits (the worker must see it)."""
    task_ = run_import.using(run_after=after) if after is not None else run_import
    transaction.on_commit(lambda: task_.enqueue(import_id))
