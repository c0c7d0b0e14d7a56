"""Opening an uploaded export.zip (or a bare export.xml) without trusting it.

Nothing is extracted to disk: members are streamed out of the zip by name. Before any member is
read, the central directory is checked whole: entry count, names (no absolute path, no ``..``,
no NUL, no symlink), duplicates, encryption, compression methods, overlapping entries, each
entry's declared size and inflation ratio, and the total declared size. While a member is read,
its bytes are counted again: a size that lies stops at the cap, not at the end of the memory.

The health export is found by content, not by name (``exportar.xml``, ``导出.xml``, …): the one
``.xml`` whose first KiB declares ``HealthData``.
"""

from __future__ import annotations

import io
import posixpath
import stat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ingest.apple.errors import ImportRefused

MAX_ENTRIES = 100_000
# An export compresses 5-25x; deflate can reach ~1000x on a bomb. Small entries may compress
# better than large ones (a short header), so the ratio is only checked from 1 MiB up.
MAX_RATIO = 100
RATIO_CHECKED_FROM = 1024 * 1024
SNIFF_BYTES = 1024
READ_CHUNK = 1024 * 1024
HEALTH_MARKERS = (b"<!DOCTYPE HealthData", b"<HealthData")
EXPORT_FOLDER = "apple_health_export"


@dataclass
class Member:
    """One entry of the archive (or the bare XML file) that can be read as a capped stream."""

    name: str
    size: int  # declared uncompressed size
    _opener: Callable[[], BinaryIO] = field(repr=False)


@dataclass
class Export:
    """An opened archive: its health XML, and the other members by role."""

    xml: Member
    folder: str  # the folder holding the XML inside the zip ("" at the root, or for a bare file)
    members: dict[str, Member]  # every file entry by name
    max_bytes: int

    def open(self, member: Member) -> BinaryIO:
        """The member's bytes, refused once more than its declared size (or the cap) come out."""
        return CappedReader(member._opener(), limit=min(member.size, self.max_bytes), name=member.name)

    def resolve(self, reference: str) -> Member | None:
        """The member a ``FileReference path`` names, relative to the XML's folder despite its
        leading slash; None when it is missing or normalises outside that folder."""
        relative = posixpath.normpath(reference.replace("\\", "/").lstrip("/"))
        if relative.startswith("..") or relative.startswith("/"):
            return None
        return self.members.get(posixpath.join(self.folder, relative) if self.folder else relative)

    def ecg_members(self) -> list[Member]:
        """The electrocardiogram CSVs beside the XML, in name order."""
        prefix = posixpath.join(self.folder, "electrocardiograms/") if self.folder else "electrocardiograms/"
        return sorted(
            (m for name, m in self.members.items() if name.startswith(prefix) and name.lower().endswith(".csv")),
            key=lambda m: m.name,
        )


class CappedReader(io.RawIOBase):
    """A read-only stream that refuses to give more than ``limit`` bytes (a lying zip entry)."""

    def __init__(self, raw: BinaryIO, *, limit: int, name: str):
        self._raw, self._limit, self._name, self.consumed = raw, limit, name, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = READ_CHUNK if size is None or size < 0 else size
        data = self._raw.read(min(size, READ_CHUNK))
        self.consumed += len(data)
        if self.consumed > self._limit:
            raise ImportRefused("zip_bomb", f"{self._name} inflates beyond {self._limit} bytes")
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _sniff_is_health(head: bytes) -> bool:
    return any(marker in head for marker in HEALTH_MARKERS)


@contextmanager
def open_export(path: Path, *, max_bytes: int) -> Iterator[Export]:
    """The export in ``path`` (an export.zip or a bare export.xml), checked; ``ImportRefused`` else.

    ``max_bytes`` caps the total uncompressed size (and each member's).
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.startswith(b"PK"):
        if not _sniff_is_health(head):
            raise ImportRefused("not_a_zip", "The file is neither a zip archive nor an Apple Health export.xml.")
        size = path.stat().st_size
        if size > max_bytes:
            raise ImportRefused("zip_bomb", f"The XML is larger than the {max_bytes}-byte cap.")
        xml = Member(path.name, size, lambda: path.open("rb"))
        yield Export(xml=xml, folder="", members={}, max_bytes=max_bytes)
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRefused("not_a_zip", f"The file is not a readable zip archive ({exc}).") from None
    with archive:
        members = _checked_members(archive, max_bytes)
        xml = _find_health_xml(archive, members)
        folder = posixpath.dirname(xml.name)
        yield Export(xml=xml, folder=folder, members=members, max_bytes=max_bytes)


def _checked_members(archive: zipfile.ZipFile, max_bytes: int) -> dict[str, Member]:
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ImportRefused("too_many_entries", f"The archive has {len(infos)} entries; an export has far fewer.")
    members: dict[str, Member] = {}
    total = 0
    for info in infos:
        name = info.filename
        _check_name(name, info)
        if info.flag_bits & 0x1:
            raise ImportRefused("encrypted_entry", f"{_shown(name)} is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ImportRefused("unsupported_compression", f"{_shown(name)} uses compression {info.compress_type}.")
        if info.is_dir():
            continue
        if name in members:
            raise ImportRefused("duplicate_entry", f"{_shown(name)} appears twice in the archive.")
        if info.file_size > RATIO_CHECKED_FROM and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise ImportRefused("zip_bomb", f"{_shown(name)} would inflate {ratio}x; exports compress ~5-25x.")
        total += info.file_size
        if total > max_bytes:
            raise ImportRefused("zip_bomb", f"The archive inflates to more than the {max_bytes}-byte cap.")
        members[name] = Member(name, info.file_size, _opener(archive, info))
    _check_no_overlap(infos)
    return members


def _opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], BinaryIO]:
    return lambda: archive.open(info)


def _shown(name: str) -> str:
    return repr(name[:120])


def _check_name(name: str, info: zipfile.ZipInfo) -> None:
    normalised = name.replace("\\", "/")
    parts = normalised.split("/")
    if "\x00" in name or normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in parts:
        raise ImportRefused("unsafe_entry", f"The entry {_shown(name)} points outside the archive.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ImportRefused("unsafe_entry", f"The entry {_shown(name)} is a symbolic link.")


def _check_no_overlap(infos: list[zipfile.ZipInfo]) -> None:
    """Entries sharing compressed bytes (a bomb trick zipfile does not detect) are refused."""
    end = -1
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset < end:
            raise ImportRefused("zip_bomb", f"The entry {_shown(info.filename)} overlaps another one.")
        end = info.header_offset + 30 + len(info.orig_filename.encode("utf-8", "replace")) + info.compress_size


def _find_health_xml(archive: zipfile.ZipFile, members: dict[str, Member]) -> Member:
    found = []
    for name, member in members.items():
        parts = name.split("/")
        if not name.lower().endswith(".xml") or "__MACOSX" in parts or parts[-1].startswith("._") or len(parts) > 4:
            continue
        with archive.open(name) as stream:
            head = stream.read(SNIFF_BYTES)
        if _sniff_is_health(head):
            found.append(member)
    if not found:
        raise ImportRefused(
            "not_health_export", "The archive holds no Apple Health export.xml (an .xml declaring HealthData)."
        )
    if len(found) > 1:
        names = ", ".join(_shown(m.name) for m in found[:3])
        raise ImportRefused("several_health_exports", f"The archive holds several Apple Health exports: {names}.")
    return found[0]
