"""Reading CSV and Excel (.xlsx) files, one row per table (content/README.md), into a Bundle.

The first row names the columns. Lists inside a cell put one item per line. Columns other than
the standard ones are field values, headed by a template key or label; the package's template
(from the database) decides which, so the importer maps them. A spreadsheet need not give every
column: a column left out keeps the stored value of an existing table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from kb.errors import Problem
from kb.transfer.bundle import Bundle, PackageDoc, TableDoc

REQUIRED = ("category", "package", "code", "title")
OPTIONAL = (
    "questions",
    "tags",
    "audience",
    "author",
    "source",
    "valid_from",
    "valid_until",
    "last_verified",
    "related",
)
STANDARD = REQUIRED + OPTIONAL


def read_csv(path: Path) -> Bundle:
    """Rows of a UTF-8 CSV file (a BOM is fine)."""
    bundle = Bundle(source=str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bundle.problems.append(_not_utf8(path, raw, err))
        return bundle
    _read_rows(path, csv.reader(io.StringIO(text, newline="")), bundle)
    return bundle


def _not_utf8(path: Path, raw: bytes, err: UnicodeDecodeError) -> Problem:
    line = raw[: err.start].count(b"\n") + 1
    guess = ""
    try:
        raw.decode("gb18030")
        guess = " It looks like GBK/GB18030, which Excel on Chinese Windows writes by default."
    except UnicodeDecodeError:
        pass
    return Problem(
        f"the file is not UTF-8 (first bad byte on line {line}).{guess} Re-save it as UTF-8 "
        "(in Excel: Save As → 'CSV UTF-8 (Comma delimited)'), or import the .xlsx instead",
        None,
        None,
        str(path),
    )


def read_xlsx(path: Path) -> Bundle:
    """Rows of the first sheet of an Excel workbook."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    bundle = Bundle(source=str(path))
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as err:
        bundle.problems.append(
            Problem(
                f"not a readable Excel .xlsx workbook ({err}); open it in Excel and save it as "
                "'Excel Workbook (.xlsx)'",
                None,
                None,
                str(path),
            )
        )
        return bundle
    try:
        sheet = workbook.worksheets[0]
        rows = ([_cell_value(c) for c in row] for row in sheet.iter_rows())
        _read_rows(path, rows, bundle)
    finally:
        workbook.close()
    return bundle


def _cell_value(cell: Any) -> Any:
    value = cell.value
    if isinstance(value, datetime):
        # A date-formatted cell comes back as a midnight datetime; keep it a date so that
        # valid_until means the end of that day, as in YAML.
        fmt = (getattr(cell, "number_format", "") or "").lower()
        if "h" not in fmt and "s" not in fmt:
            return value.date()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # Excel stores 1001 as 1001.0
    return value


def _read_rows(path: Path, rows: Iterable[list[Any]], bundle: Bundle) -> None:
    iterator = iter(rows)
    header = next(iterator, None)
    if header is None:
        bundle.problems.append(
            Problem(
                f"the file is empty; its first row must name the columns {', '.join(REQUIRED)}",
                None,
                None,
                str(path),
            )
        )
        return
    names = [_text(h) for h in header]
    columns = _columns(path, names, bundle)
    if columns is None:
        return
    packages: dict[tuple[str, str], PackageDoc] = {}
    for number, row in _numbered(iterator):
        cells = {name: row[i] if i < len(row) else None for i, name in columns.items()}
        if all(_text(v) == "" for v in cells.values()):
            continue
        where = f"{path} row {number}"
        category, package = _text(cells["category"]), _text(cells["package"])
        doc = TableDoc(
            code=_text(cells["code"]),
            title=_text(cells["title"]),
            questions=_lines(cells.get("questions")),
            tags=_lines(cells.get("tags")),
            fields={k: _field(v) for k, v in cells.items() if k not in STANDARD},
            audience=_text(cells.get("audience")) or "public",
            author=_text(cells.get("author")),
            source=_text(cells.get("source")),
            valid_from=_when(cells.get("valid_from")),
            valid_until=_when(cells.get("valid_until")),
            last_verified=_when(cells.get("last_verified")),
            related=_lines(cells.get("related")),
            location=where,
            present=frozenset(k for k in cells if k in STANDARD),
        )
        key = (category, package)
        if key not in packages:
            packages[key] = PackageDoc(category=category, name=package, location=where)
            bundle.packages.append(packages[key])
        packages[key].tables.append(doc)


def _columns(path: Path, names: list[str], bundle: Bundle) -> dict[int, str] | None:
    """Column index → name (standard names lower-cased); None when a required one is missing."""
    columns: dict[int, str] = {}
    seen: set[str] = set()
    ok = True
    for index, name in enumerate(names):
        if not name:
            continue
        canonical = name.lower() if name.lower() in STANDARD else name
        if canonical in seen:
            bundle.problems.append(
                Problem(f"column {name!r} appears twice; keep one", name, name, f"{path} row 1")
            )
            ok = False
        seen.add(canonical)
        columns[index] = canonical
    for required in REQUIRED:
        if required not in seen:
            bundle.problems.append(
                Problem(
                    f"column {required!r} is missing; the first row must name the columns "
                    f"{', '.join(REQUIRED)} (found: {', '.join(n for n in names if n) or 'none'})",
                    required,
                    None,
                    f"{path} row 1",
                )
            )
            ok = False
    return columns if ok else None


def _numbered(rows: Iterator[list[Any]]) -> Iterator[tuple[int, list[Any]]]:
    # Row numbers as the spreadsheet shows them: the header is row 1.
    for offset, row in enumerate(rows):
        yield offset + 2, row


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _lines(value: Any) -> list[str]:
    return [line.strip() for line in _text(value).splitlines() if line.strip()]


def _field(value: Any) -> str:
    # Keep inner line breaks: a list field splits them into items, markdown keeps them.
    return _text(value)


def _when(value: Any) -> Any:
    return value if isinstance(value, datetime | date) else _text(value)
