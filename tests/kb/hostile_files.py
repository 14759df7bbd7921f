"""Hostile import files for the bounds tests: YAML and XML bombs, zips that lie, deep nesting."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from openpyxl import Workbook

CSV_HEADER = "category,package,code,title,标准答复\n"


def alias_bomb(levels: int = 9) -> str:
    """A package file whose ``tables`` nests ``levels`` levels of nine aliases ("billion laughs")."""
    lines = ["package: 炸弹", "template: [{key: answer, required: true}]", "x:"]
    lines.append('  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        refs = ",".join(f"*{previous}" for _ in range(9))
        lines.append(f"  {name}: &{name} [{refs}]")
        previous = name
    lines.append(f"tables: *{previous}")
    return "\n".join(lines) + "\n"


def deep_yaml(depth: int) -> str:
    return "package: 深\ntables: " + "[" * depth + "]" * depth + "\n"


def workbook_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


SHEET = "xl/worksheets/sheet1.xml"
TITLE = "标题"
ROWS: list[list[object]] = [
    ["category", "package", "code", "title", "标准答复"],
    ["通信业务", "改号业务", "TX-GH-901", TITLE, "答复"],
]


def patched_workbook(path: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    """A real workbook with one member rewritten by ``change``."""
    source = zipfile.ZipFile(io.BytesIO(workbook_bytes(ROWS)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            body = source.read(info)
            out.writestr(info, change(body) if info.filename == member else body)
    return path


def entity_bomb_workbook(path: Path, levels: int = 5) -> Path:
    """The title cell holds &e; — 10**levels characters once expanded (10**9 at levels=9)."""
    names = "abcdefghij"
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {names[i + 1]} "{f"&{names[i]};" * 10}">' for i in range(levels - 1)
    )
    doctype = f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]>'.encode()
    ref = f"&{names[levels - 1]};".encode()
    return patched_workbook(path, SHEET, lambda b: doctype + b.replace(TITLE.encode(), ref, 1))


def dtd_workbook(path: Path) -> Path:
    """A sheet with an external DTD (an XXE probe)."""
    doctype = b'<?xml version="1.0"?><!DOCTYPE worksheet SYSTEM "file:///etc/passwd">'
    return patched_workbook(path, SHEET, lambda b: doctype + b)


def zip_of(path: Path, members: dict[str, bytes], *, link: str | None = None) -> Path:
    """A zip of ``members``; ``link`` adds a member of that name that is a symbolic link."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (0o120777 << 16) | 0
            archive.writestr(info, "/etc/passwd")
    return path
