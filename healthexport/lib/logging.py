"""JSON log lines carrying the request context; nothing secret or health-related is ever logged.

Every line of a request carries its request id, and once the API key is verified, the user id and
the key prefix. ``RedactingFilter`` runs on the handler, after every other filter, and removes
API keys, Authorization / X-API-Key values and fields named like a body, password, secret or token
from the message, its arguments, ``extra=`` fields and exception text.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

UNSET = "-"
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default=UNSET)
user_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("user_id", default=UNSET)
key_prefix_var: contextvars.ContextVar[str] = contextvars.ContextVar("key_prefix", default=UNSET)

CONTEXT_FIELDS = ("request_id", "user_id", "key_prefix")
STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", *CONTEXT_FIELDS}


@contextmanager
def log_context(request_id: str) -> Iterator[None]:
    """The context of one request: its id, and no user or key until authentication binds them.

    Resetting matters with threaded workers, where a thread serves many requests in turn.
    """
    tokens = [(request_id_var, request_id_var.set(request_id))]
    tokens += [(var, var.set(UNSET)) for var in (user_id_var, key_prefix_var)]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind_log_context(*, user_id: object | None = None, key_prefix: str | None = None) -> None:
    """Add the authenticated user (its public id) and key prefix to every later line of this request.

    Authentication classes call this as soon as a key is verified: DRF authenticates inside the
    view, after every middleware has run, so no middleware could do it in time.
    """
    if user_id is not None:
        user_id_var.set(str(user_id))
    if key_prefix is not None:
        key_prefix_var.set(key_prefix)


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        record.key_prefix = key_prefix_var.get()
        return True


# --- Redaction ---------------------------------------------------------------------------------

REDACTED = "[REDACTED]"
# An API key (or anything shaped like one, truncated or too long): keep the lookup prefix, which
# the admin shows and is no secret, drop the rest.
API_KEY_PATTERN = re.compile(r"(?<![A-Za-z0-9])hx_([a-z0-9]{8})_[A-Za-z0-9_-]+")
# "Authorization: Bearer x", "'x-api-key': 'x'", "api_key=x" — the value, whatever it is.
CREDENTIAL_FIELD_PATTERN = re.compile(
    r"""(?ix)
    \b(authorization|x[-_]api[-_]key|api[-_]key)\b
    (["']?\s*[:=]\s*["']?)
    (?>(?:(?:bearer|basic|token)\s+)?)  # atomic: never give the scheme back to match it as the value
    (?!hx_[a-z0-9]{8}_\[REDACTED\])
    [^\s"',;&}]+
    """
)
BEARER_PATTERN = re.compile(r"(?i)\b(bearer)\s+(?!hx_[a-z0-9]{8}_\[REDACTED\])[^\s\"',;&}]+")
SENSITIVE_NAME_PARTS = frozenset({"body", "password", "passwd", "secret", "token", "authorization", "cookie", "key"})
# A field that only measures a sensitive thing ("body_bytes") is kept.
MEASURE_NAME_PARTS = frozenset({"bytes", "size", "length", "len", "count"})
NAME_SPLIT = re.compile(r"[^a-z0-9]+")


def redact_text(text: str) -> str:
    text = API_KEY_PATTERN.sub(r"hx_\1_" + REDACTED, text)
    text = CREDENTIAL_FIELD_PATTERN.sub(r"\1\2" + REDACTED, text)
    return BEARER_PATTERN.sub(r"\1 " + REDACTED, text)


def is_sensitive_name(name: str) -> bool:
    """``body``, ``raw_body``, ``password``, ``X-API-Key``, ``api_key``, ``Authorization``… but not
    ``key_prefix``, ``body_bytes``: a name whose last part is ``key`` or that names a secret thing."""
    parts = [part for part in NAME_SPLIT.split(name.lower()) if part]
    if not parts or parts[-1] in MEASURE_NAME_PARTS:
        return False
    if parts[-1] == "key":
        return True
    return any(part in SENSITIVE_NAME_PARTS - {"key"} for part in parts)


def redact_value(value: Any) -> Any:
    """Redact strings, and containers recursively (their sensitive keys whatever the value)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return REDACTED  # raw bytes are bodies or worse
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive_name(str(k)) else redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


class RedactingFilter(logging.Filter):
    """Remove keys and credentials from a record before any formatter sees it.

    Install it last on the handler. The record is rewritten in place (message rendered, args
    dropped, exception text rendered and redacted), so every later handler sees the safe form.
    """

    _exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak its arguments through handleError
            message = f"{record.msg} (unformattable arguments dropped)"
        record.msg, record.args = redact_text(str(message)), ()
        for name, value in list(vars(record).items()):
            if name in STANDARD_ATTRS:
                continue
            setattr(record, name, REDACTED if is_sensitive_name(name) else redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields are included as they are."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{field: getattr(record, field, UNSET) for field in CONTEXT_FIELDS},
        }
        entry.update({k: v for k, v in vars(record).items() if k not in STANDARD_ATTRS})
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry, default=str).decode()
