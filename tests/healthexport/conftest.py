from __future__ import annotations

import io
import json
import logging

import pytest


@pytest.fixture
def log_lines():
    """What the configured stdout handler writes (with its real filters and formatter), as dicts."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "stdout")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    lines.text = buffer.getvalue
    try:
        yield lines
    finally:
        handler.setStream(previous)
