"""Uploaded import files: size-checked, written to a temporary directory, zips unpacked safely."""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from fastapi import UploadFile
from sqlalchemy.orm import Session

from api.errors import PayloadTooLarge
from api.limits import MAX_UPLOAD_BYTES
from kb.errors import ImportRejected, Problem
from kb.transfer.bundle import ImportReport
from kb.transfer.importer import apply_bundle, read_path

SUFFIXES = {".csv", ".xlsx", ".zip"}
MAX_ZIP_ENTRIES = 2000


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
    """Write the upload under ``workdir``; returns what to import (a file or a directory)."""
    name = PurePosixPath(upload.filename or "upload").name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise _refuse(name, "upload a .csv, an .xlsx, or a .zip of a YAML content directory")
    data = read_limited(upload)
    if suffix != ".zip":
        target = workdir / name
        target.write_bytes(data)
        return target
    return _unzip(name, data, workdir / "content")


def _unzip(name: str, data: bytes, root: Path) -> Path:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _refuse(name, "the file is not a valid zip archive") from None
    entries = archive.infolist()
    if len(entries) > MAX_ZIP_ENTRIES:
        raise _refuse(name, f"the archive has over {MAX_ZIP_ENTRIES} entries")
    if sum(e.file_size for e in entries) > 10 * MAX_UPLOAD_BYTES:
        raise _refuse(name, "the archive unpacks to more than the upload limit allows")
    root.mkdir(parents=True)
    for entry in entries:
        parts = PurePosixPath(entry.filename).parts
        if entry.filename.startswith("/") or ".." in parts:
            raise _refuse(name, f"unsafe path in archive: {entry.filename}")
        if entry.is_dir() or parts[0] == "__MACOSX":
            continue
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(entry))
    # A zip of the folder itself (content/…) rather than of its contents: import the folder.
    children = [p for p in root.iterdir() if not p.name.startswith((".", "_"))]
    if len(children) == 1 and children[0].is_dir() and not any(root.glob("*.yaml")):
        inner = children[0]
        if any(p.is_dir() for p in inner.iterdir()):
            return inner
    return root


def zip_files(files: dict[Path, str]) -> bytes:
    """A zip archive of relative path → text (UTF-8)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(files.items()):
            archive.writestr(path.as_posix(), text.encode("utf-8"))
    return buffer.getvalue()


def import_upload(
    session: Session, upload: UploadFile, *, actor: str, draft: bool, zone: ZoneInfo
) -> ImportReport:
    """Apply an uploaded file all or nothing; problems point at the uploaded name, not a temp path."""
    name = PurePosixPath(upload.filename or "upload").name
    with tempfile.TemporaryDirectory(prefix="zhiku-import-") as tmp:
        try:
            bundle = read_path(save_upload(upload, Path(tmp)))
            return apply_bundle(session, bundle, actor=actor, draft=draft, zone=zone)
        except ImportRejected as err:
            raise _relocated(err, tmp, name) from None


def _relocated(err: ImportRejected, tmp: str, name: str) -> ImportRejected:
    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        text = text.replace(f"{tmp}/content/", "").replace(f"{tmp}/content", name)
        return text.replace(f"{tmp}/", "")

    problems = [replace(p, location=fix(p.location)) for p in err.problems]
    return ImportRejected(fix(err.message) or err.message, problems=problems)
