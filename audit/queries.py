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
# A search for "a" must not turn into an IN list of every user.
USERS_MATCHED_MAX = 100


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
    """What a compliance officer types or pastes: a key prefix (or key) finds every event about
    that key; a username, or part of one, the events of users acting or acted on; also a recorded
    actor name (a deleted user, ``cli:root``), a target id, a request id, an IP address.

    Each alternative hits its own index; partial usernames are resolved in the (small) users table
    first, so the OR below stays a bitmap of index scans, never a LIKE over the trail.
    """
    term = term.strip()
    query = Q(request_id=term) | Q(target_id=term) | Q(actor_username=term)
    users = get_user_model().objects.filter(username__icontains=term).values_list("pk", "public_id")
    matched = list(users[:USERS_MATCHED_MAX])
    if matched:
        query |= Q(actor_user_id__in=[pk for pk, _ in matched])
        query |= Q(target_id__in=[str(public_id) for _, public_id in matched])
    if match := KEY_PREFIX.match(term):
        query |= Q(key_prefix=match[1])
    with contextlib.suppress(ValueError):  # not an IP address: no IP alternative
        query |= Q(ip=str(ipaddress.ip_address(term)))
    return query
