"""Who is acting, for events recorded away from the code that knows it.

Model signals (a user made staff, a group given a permission) know the row, not who changed it.
Two context variables tell them:

- the request being served, set by ``audit.middleware.AuditRequestMiddleware``: its signed-in
  user is the actor;
- the command line, set by ``manage.py`` around every command (``createapikey``, ``shell``,
  ``purge_audit``…): events written without a request name the command and the operating-system
  user, as ``actor_username = "cli:<os user>"`` when nobody else acted, and always as
  ``metadata["command"]`` and ``metadata["os_user"]``.

This module imports nothing of Django's models, so ``manage.py`` can use it before set-up.
"""

from __future__ import annotations

import contextvars
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

CLI_ACTOR_PREFIX = "cli:"


@dataclass(frozen=True)
class CommandLine:
    command: str
    os_user: str

    @property
    def actor_username(self) -> str:
        return f"{CLI_ACTOR_PREFIX}{self.os_user}"


_request: contextvars.ContextVar[Any] = contextvars.ContextVar("audit_request", default=None)
_command: contextvars.ContextVar[CommandLine | None] = contextvars.ContextVar("audit_command", default=None)


def os_user() -> str:
    """The login name, or ``uid<n>`` in a container whose user has no passwd entry."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


@contextmanager
def command_line(command: str, *, user: str | None = None) -> Iterator[CommandLine]:
    """Attribute what happens inside to ``command`` run by ``user`` (default: this process's)."""
    token = _command.set(CommandLine(command=command, os_user=user or os_user()))
    try:
        yield _command.get()  # type: ignore[misc]
    finally:
        _command.reset(token)


def current_command() -> CommandLine | None:
    return _command.get()


@contextmanager
def serving(request: Any) -> Iterator[None]:
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


def current_request() -> Any:
    """The request this thread is serving (None outside one, e.g. in a command)."""
    return _request.get()
