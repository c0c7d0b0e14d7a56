"""Receiving an export.zip: streamed to a file under IMPORT_DIR, capped, hashed, never held in memory."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest

from healthexport.lib.errors import BodyTooLarge
from healthexport.lib.http import body_reader, declared_length

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    path: Path
    size: int
    sha256: str


def _too_large() -> BodyTooLarge:
    limit = settings.IMPORT_MAX_BODY_BYTES
    return BodyTooLarge(f"The archive is larger than {limit} bytes (IMPORT_MAX_BODY_BYTES).")


def receive_request_body(request: HttpRequest) -> Upload:
    """The request body as an archive file; 413 from Content-Length, or as soon as it passes the cap."""
    if declared_length(request) > settings.IMPORT_MAX_BODY_BYTES:
        raise _too_large()
    read = body_reader(request)
    return receive_chunks(iter(lambda: read(CHUNK), b""))


def receive_chunks(chunks: Iterable[bytes]) -> Upload:
    """Write ``chunks`` to a new file under IMPORT_DIR; the partial file is removed on any error."""
    directory = Path(settings.IMPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{secrets.token_hex(16)}.zip"
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("xb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > settings.IMPORT_MAX_BODY_BYTES:
                    raise _too_large()
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Upload(path, size, digest.hexdigest())
