"""Reading the audit trail, written for a table of tens of millions of rows."""

from __future__ import annotations

import contextlib
import ipaddress
import re

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q

from audit.models import AuditEvent

KEY_PREFIX = re.compile(r"^(?:hx_)?([a-z0-9]{8})(?:_.*)?$")


def distinct_actions() -> list[str]:
    """Every action name in the trail, by a loose index scan: one index probe per name (and per
    partition), where ``SELECT DISTINCT action`` would read every row."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE names(action) AS ("  # noqa: S608  (table name from the model, no input)
            f"  SELECT min(action) FROM {table}"
            f"  UNION ALL"
            f"  SELECT (SELECT min(action) FROM {table} WHERE action > names.action) FROM names"
            f"  WHERE names.action IS NOT NULL"
            f") SELECT action FROM names WHERE action IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]


def search_q(term: str) -> Q:
    """Exact matches on what a compliance officer pastes: a key prefix (or key), a username, a
    request id or an IP address. Each alternative hits its own index; no LIKE over the table."""
    term = term.strip()
    query = Q(request_id=term)
    # Resolved to ids first, so the OR below stays a bitmap of index scans instead of a sub-plan.
    user_ids = list(get_user_model().objects.filter(username__iexact=term).values_list("pk", flat=True))
    if user_ids:
        query |= Q(actor_user_id__in=user_ids)
    if match := KEY_PREFIX.match(term):
        query |= Q(actor_key_prefix=match[1])
    with contextlib.suppress(ValueError):  # not an IP address: no IP alternative
        query |= Q(ip=str(ipaddress.ip_address(term)))
    return query
