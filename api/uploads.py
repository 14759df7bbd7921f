"""Uploaded import files: size-checked, written to a temporary directory, then read like `kb import`.

Reading (zips unpacked, XML and YAML parsed) is bounded by kb.transfer.limits, as for files
on the server.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TypeVar
from zoneinfo import ZoneInfo

from fastapi import UploadFile
from sqlalchemy.orm import Session

from api.errors import PayloadTooLarge
from api.limits import MAX_UPLOAD_BYTES
from kb.errors import ImportRefused, ImportRejected, Problem, ZhikuError
from kb.models import User
from kb.transfer.bundle import ImportReport
from kb.transfer.importer import apply_bundle, read_path

SUFFIXES = {".csv", ".xlsx", ".zip"}
SAVED_AS = "upload"  # the uploaded file's name on disk, before its suffix
E = TypeVar("E", bound=ZhikuError)


def read_limited(upload: UploadFile, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The upload's bytes; PayloadTooLarge past ``limit`` (read in chunks, never all at once)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := upload.file.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"The file is over the upload limit of {limit // (1024 * 1024)} MiB; "
                "split it, or import it with `kb import` on the server.",
                problems=[Problem("file too large", "file", upload.filename, "body")],
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(name: str, message: str) -> ImportRejected:
    return ImportRejected(
        f"Cannot import {name}: {message}.", problems=[Problem(message, "file", name, name)]
    )


def save_upload(upload: UploadFile, workdir: Path) -> Path:
    """Write the upload under ``workdir``; returns the file to import (a zip is read in place).

    On disk it is ``upload`` with the name's suffix: the client's name is only for messages
    (one over the file system's 255 bytes, or with characters it refuses, would fail the write).
    """
    name = PurePosixPath(upload.filename or "upload").name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise _refuse(name, "upload a .csv, an .xlsx, or a .zip of a YAML content directory")
    target = workdir / f"{SAVED_AS}{suffix}"
    target.write_bytes(read_limited(upload))
    return target


def zip_files(files: dict[Path, str]) -> bytes:
    """A zip archive of relative path → text (UTF-8)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(files.items()):
            archive.writestr(path.as_posix(), text.encode("utf-8"))
    return buffer.getvalue()


def import_upload(
    session: Session, upload: UploadFile, *, user: User, draft: bool, zone: ZoneInfo
) -> ImportReport:
    """Apply an uploaded file all or nothing, checked against ``user``'s rights; problems point
    at the uploaded name, not a temp path."""
    name = PurePosixPath(upload.filename or "upload").name
    with tempfile.TemporaryDirectory(prefix="zhiku-import-") as tmp:
        try:
            bundle = read_path(save_upload(upload, Path(tmp)))
            return apply_bundle(session, bundle, actor=user, draft=draft, zone=zone)
        except (ImportRejected, ImportRefused) as err:
            raise _relocated(err, tmp, name) from None


def _relocated(err: E, tmp: str, name: str) -> E:
    saved = f"{tmp}/{SAVED_AS}{PurePosixPath(name).suffix.lower()}"

    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        return text.replace(saved, name).replace(f"{tmp}/", "")

    problems = [replace(p, location=fix(p.location)) for p in err.problems]
    return type(err)(fix(err.message) or err.message, problems=problems)
