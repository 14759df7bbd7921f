"""Zip archives an import reads: a zipped content directory, and XLSX workbooks (zips of XML).

Both are unpacked within :mod:`kb.transfer.limits`: members are counted, and their sizes are
counted while they are decompressed (a zip's headers can lie), so a zip bomb stops at the
limit. A zipped directory may hold only plain files at safe relative paths: no absolute paths,
no ``..``, no symbolic links. An XLSX workbook's XML may not declare a DTD: without one, XML
has no entities to expand (billion laughs) and no external entities to fetch, which is all
that Python's XML parsers would otherwise do with it.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from kb.errors import ImportRejected, Problem
from kb.transfer.limits import ImportLimits, over

_CHUNK = 1024 * 1024
_RATIO_FROM = 1024 * 1024  # a member smaller than this cannot be a bomb worth refusing
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")
# What zipfile raises for a damaged, encrypted or oddly compressed member.
_DAMAGED = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError)


class ArchiveRefused(Exception):
    """A member breaks a rule; ``message`` says which and why (for a Problem)."""

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.member = member


def _is_link(entry: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(entry.external_attr >> 16)


def _unsafe_path(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        not parts
        or name.startswith(("/", "\\"))
        or "\\" in name
        or "\x00" in name
        or ".." in parts
        or ":" in parts[0]  # C:foo, a Windows drive
    )


class _Meter:
    """Counts what the members of one archive decompress to."""

    def __init__(self, limits: ImportLimits) -> None:
        self.limits = limits
        self.total = 0

    def chunks(self, archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> Iterator[bytes]:
        if entry.file_size > self.limits.file_bytes:
            raise ArchiveRefused(
                over("its size in bytes", entry.file_size, self.limits, "file_bytes"),
                entry.filename,
            )
        size = 0
        with archive.open(entry) as member:
            while chunk := member.read(_CHUNK):
                size += len(chunk)
                self.total += len(chunk)
                if size > self.limits.file_bytes:
                    raise ArchiveRefused(
                        over("its size in bytes", size, self.limits, "file_bytes"),
                        entry.filename,
                    )
                if self.total > self.limits.total_bytes:
                    raise ArchiveRefused(
                        over("the bytes unpacked", self.total, self.limits, "total_bytes")
                    )
                ratio = size // max(entry.compress_size, 1)
                if size > _RATIO_FROM and ratio > self.limits.zip_ratio:
                    raise ArchiveRefused(
                        over("its compression ratio", f"{ratio}:1", self.limits, "zip_ratio")
                        + " (a zip bomb?)",
                        entry.filename,
                    )
                yield chunk


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ArchiveRefused(f"not a readable zip archive ({err})") from None


def _entries(archive: zipfile.ZipFile, limits: ImportLimits) -> list[zipfile.ZipInfo]:
    entries = archive.infolist()
    if len(entries) > limits.files:
        raise ArchiveRefused(over("the number of members", len(entries), limits, "files"))
    return entries


def unzip(path: Path, root: Path, limits: ImportLimits) -> Path:
    """Unpack the zipped content directory ``path`` under ``root``; returns the directory to read.

    Raises ImportRejected (naming ``path``'s file name and the member) for an archive that
    breaks a rule; nothing outside ``root`` is ever written.
    """
    name = path.name
    try:
        with _open(path) as archive:
            meter = _Meter(limits)
            root.mkdir(parents=True, exist_ok=True)
            for entry in _entries(archive, limits):
                _unpack(archive, entry, root, meter)
    except ArchiveRefused as err:
        where = f"{name}: {err.member}" if err.member else name
        raise ImportRejected(
            f"Cannot import {name}: {err.member + ': ' if err.member else ''}{err.message}.",
            problems=[Problem(err.message, "file", err.member or name, where)],
        ) from None
    return _content_root(root)


def _unpack(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, root: Path, meter: _Meter) -> None:
    if _unsafe_path(entry.filename):
        raise ArchiveRefused(
            "unsafe path in archive (absolute, '..', a drive or a backslash); zip the "
            "content directory's files with relative paths",
            entry.filename,
        )
    if _is_link(entry):
        raise ArchiveRefused(
            "a symbolic link; imports read only plain files (zip the file itself)",
            entry.filename,
        )
    parts = PurePosixPath(entry.filename).parts
    if entry.is_dir() or parts[0] == "__MACOSX":
        return
    target = root.joinpath(*parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as out:  # "x": a second member of the same name is refused
            for chunk in meter.chunks(archive, entry):
                out.write(chunk)
    except FileExistsError:
        raise ArchiveRefused("appears twice in the archive", entry.filename) from None
    except _DAMAGED as err:
        raise ArchiveRefused(f"cannot be unpacked ({err})", entry.filename) from None


def _content_root(root: Path) -> Path:
    # A zip of the folder itself (content/…) rather than of its contents: import the folder.
    children = [p for p in root.iterdir() if not p.name.startswith((".", "_"))]
    if len(children) == 1 and children[0].is_dir() and not any(root.glob("*.yaml")):
        inner = children[0]
        if any(p.is_dir() for p in inner.iterdir()):
            return inner
    return root


def check_workbook(path: Path, limits: ImportLimits) -> list[Problem]:
    """Problems that make an XLSX workbook unsafe to hand to openpyxl; empty when it is fine.

    Every member is decompressed once, within the limits, and its XML checked for a DTD.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            meter = _Meter(limits)
            for entry in _entries(archive, limits):
                _check_xml(entry, meter.chunks(archive, entry))
    except ArchiveRefused as err:
        what = f"{err.member}: " if err.member else ""
        return [Problem(f"{what}{err.message}", None, None, str(path))]
    except (*_DAMAGED, OSError) as err:
        return [
            Problem(
                f"not a readable Excel .xlsx workbook ({err}); open it in Excel and save it as "
                "'Excel Workbook (.xlsx)'",
                None,
                None,
                str(path),
            )
        ]
    return []


def _check_xml(entry: zipfile.ZipInfo, chunks: Iterator[bytes]) -> None:
    tail = b""
    first = True
    for chunk in chunks:
        if first:
            first = False
            start = chunk.removeprefix(b"\xef\xbb\xbf").lstrip()
            if start.startswith(_UTF16_STARTS):
                raise ArchiveRefused(
                    "XML in UTF-16 is refused (Excel writes UTF-8); save the workbook in Excel",
                    entry.filename,
                )
            if not start.startswith(b"<"):
                for _ in chunks:  # not XML (an image): only its size matters
                    pass
                return
        window = tail + chunk
        if b"\x00" in window:
            raise ArchiveRefused(
                "the XML holds NUL bytes; save the workbook in Excel", entry.filename
            )
        if any(marker in window for marker in _DTD_MARKERS):
            raise ArchiveRefused(
                "the XML declares a DTD or entities (<!DOCTYPE, <!ENTITY), which Excel never "
                "writes and which can expand into gigabytes; save the workbook in Excel",
                entry.filename,
            )
        tail = window[-16:]
