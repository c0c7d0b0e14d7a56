"""Getting a web worker ready before its first request."""

from __future__ import annotations

import gc

from django.urls import get_resolver


def warm_and_freeze() -> None:
    """Import every view (the URLconf loads lazily, on the first request), then move every
    object alive now out of the garbage collector's sight.

    A full collection walks every tracked object: in a worker that is Django, DRF, psycopg and
    our apps, ~130k objects and ~65 ms during which none of the worker's threads runs, adding
    that much to whichever requests are in flight (an hourly sync takes ~20 ms). Objects that
    live as long as the process never become garbage, so the collector need not look at them
    again (``gc.freeze``); a full collection then walks only what requests left behind (~4 ms).
    """
    get_resolver().url_patterns  # noqa: B018 (imports the views and what they import)
    gc.collect()
    gc.freeze()
