"""Reading CSV and Excel (.xlsx) files, one row per table (content/README.md), into a Bundle.

The first row names the columns. Lists inside a cell put one item per line. Columns other than
the standard ones are field values, headed by a template key or label; the package's template
(from the database) decides which, so the importer maps them. A spreadsheet need not give every
column: a column left out keeps the stored value of an existing table.

Reading is bounded (:mod:`kb.transfer.limits`): file size, rows, columns and cell length; an
XLSX workbook is checked member by member before openpyxl parses it
(:func:`kb.transfer.archive.check_workbook`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from kb.errors import Problem
from kb.transfer.archive import check_workbook
from kb.transfer.bundle import Bundle, PackageDoc, TableDoc
from kb.transfer.limits import SETTING, ImportLimits, over

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


def _too_big(path: Path, limits: ImportLimits) -> Problem | None:
    size = path.stat().st_size
    if size <= limits.file_bytes:
        return None
    return Problem(
        over("the file's size in bytes", size, limits, "file_bytes"), None, None, str(path)
    )


def read_csv(path: Path, limits: ImportLimits | None = None) -> Bundle:
    """Rows of a UTF-8 CSV file (a BOM is fine)."""
    limits = limits or ImportLimits.from_settings()
    bundle = Bundle(source=str(path))
    too_big = _too_big(path, limits)
    if too_big is not None:
        bundle.problems.append(too_big)
        return bundle
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bundle.problems.append(_not_utf8(path, raw, err))
        return bundle
    _read_rows(path, _csv_rows(path, text, limits, bundle), bundle, limits)
    return bundle


def _csv_rows(path: Path, text: str, limits: ImportLimits, bundle: Bundle) -> Iterator[list[Any]]:
    """The rows; a cell over the limit ends the file with a problem (the csv module's error)."""
    # The csv module's own bound (131,072 characters by default) is process-wide; set it to
    # ours, so that an oversized cell is its error, which is caught here.
    csv.field_size_limit(limits.cell_chars)
    reader = csv.reader(io.StringIO(text, newline=""))
    row = 0
    try:
        for cells in reader:
            row += 1
            yield cells
    except csv.Error as err:
        message = (
            f"a cell is longer than {limits.cell_chars:,} characters, the limit "
            f"({SETTING['cell_chars']})"
            if "field larger than field limit" in str(err)
            else f"not valid CSV ({err})"
        )
        bundle.problems.append(Problem(message, None, None, f"{path} row {row + 1}"))


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


def read_xlsx(path: Path, limits: ImportLimits | None = None) -> Bundle:
    """Rows of the first sheet of an Excel workbook."""
    import zipfile
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    limits = limits or ImportLimits.from_settings()
    bundle = Bundle(source=str(path))
    unsafe = [p for p in (_too_big(path, limits),) if p] or check_workbook(path, limits)
    if unsafe:
        bundle.problems.extend(unsafe)
        return bundle
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ParseError) as err:
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
        # Columns past the limit are not even materialized (a cell in column XFD would pad
        # every row to 16,384 cells); _read_rows reports a header that long.
        rows = (
            [_cell_value(c) for c in row] for row in sheet.iter_rows(max_col=limits.columns + 1)
        )
        _read_rows(path, rows, bundle, limits)
    except (ParseError, ValueError, TypeError, KeyError) as err:
        bundle.problems.append(
            Problem(
                f"the sheet cannot be read ({err}); open it in Excel and save it again",
                None,
                None,
                str(path),
            )
        )
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


def _read_rows(path: Path, rows: Iterable[list[Any]], bundle: Bundle, limits: ImportLimits) -> None:
    known = len(bundle.problems)
    iterator = _bounded(path, rows, bundle, limits)
    header = next(iterator, None)
    if header is None and len(bundle.problems) > known:
        return  # the first row is already refused
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


def _bounded(
    path: Path, rows: Iterable[list[Any]], bundle: Bundle, limits: ImportLimits
) -> Iterator[list[Any]]:
    """The rows while they stay within the row, column and cell limits; then one problem."""
    for number, row in enumerate(rows, start=1):
        where = f"{path} row {number}"
        if number > limits.rows + 1:  # the header is not a table
            problem = over("the number of rows", number - 1, limits, "rows")
            bundle.problems.append(Problem(f"{problem}; split the file", None, None, where))
            return
        width = len(row)
        while width and row[width - 1] in (None, ""):
            width -= 1
        if width > limits.columns:
            problem = over("the number of columns", width, limits, "columns")
            bundle.problems.append(Problem(problem, None, None, where))
            return
        for index, value in enumerate(row[:width]):
            if isinstance(value, str) and len(value) > limits.cell_chars:
                problem = over("the cell's length in characters", len(value), limits, "cell_chars")
                bundle.problems.append(Problem(f"column {index + 1}: {problem}", None, None, where))
                return
        yield row[:width] if width < len(row) else row


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
