"""Text PostgreSQL can store: its text and jsonb types refuse the NUL character."""

from __future__ import annotations

from typing import Any


def printable(text: str) -> str:
    """``text`` with its NUL characters spelled ``\\u0000``: fit to name a place in an answer
    that is itself stored."""
    return text.replace("\x00", "\\u0000")


def storable(value: Any) -> Any:
    """A JSON value with the NUL characters of its strings and keys spelled ``\\u0000``: what a
    client sent (a username typed with a NUL), kept recognisably in a jsonb column."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value
