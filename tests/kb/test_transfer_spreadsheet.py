from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook

from kb.errors import Problem
from kb.transfer.spreadsheet import read_csv, read_xlsx

HEADER = "category,package,code,title,questions,tags,valid_until,标准答复,steps"
ROW = '通信业务,改号业务,TX-GH-009,改号进度怎么查,"改号进度\n改號進度",改号,2027-06-30,在 App 查看,"打开 App\n查看进度"'


def test_csv_rows_become_tables_grouped_by_package(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    other = "银行服务,信用卡,YH-XYK-001,信用卡年费,,,,免年费,"
    path.write_text(f"{HEADER}\n{ROW}\n,,,,,,,,\n{other}\n", encoding="utf-8")
    bundle = read_csv(path)
    assert bundle.problems == []
    assert [(p.category, p.name, p.template) for p in bundle.packages] == [
        ("通信业务", "改号业务", None),
        ("银行服务", "信用卡", None),
    ]
    doc = bundle.packages[0].tables[0]
    assert (doc.code, doc.title, doc.location) == ("TX-GH-009", "改号进度怎么查", f"{path} row 2")
    assert doc.questions == ["改号进度", "改號進度"]
    assert doc.tags == ["改号"]
    assert doc.valid_until == "2027-06-30"
    assert doc.fields == {"标准答复": "在 App 查看", "steps": "打开 App\n查看进度"}
    assert doc.present == frozenset(
        {"category", "package", "code", "title", "questions", "tags", "valid_until"}
    )
    # The multi-line cells of row 2 do not shift the numbering; the blank row 3 is skipped.
    assert bundle.packages[1].tables[0].location == f"{path} row 4"


def test_csv_with_bom_and_upper_case_headers(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffCategory,Package,Code,Title\n通信业务,改号业务,A-1,标题\n".encode())
    bundle = read_csv(path)
    assert bundle.problems == []
    assert bundle.packages[0].tables[0].code == "A-1"


def test_non_utf8_csv_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(f"{HEADER}\n{ROW}\n".encode("gb18030"))
    bundle = read_csv(path)
    assert bundle.packages == []
    assert bundle.problems == [
        Problem(
            "the file is not UTF-8 (first bad byte on line 1). It looks like GBK/GB18030, which "
            "Excel on Chinese Windows writes by default. Re-save it as UTF-8 (in Excel: Save As "
            "→ 'CSV UTF-8 (Comma delimited)'), or import the .xlsx instead",
            None,
            None,
            str(path),
        )
    ]


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("category,package,title\n通信业务,改号业务,标题\n", encoding="utf-8")
    bundle = read_csv(path)
    assert bundle.packages == []
    assert bundle.problems == [
        Problem(
            "column 'code' is missing; the first row must name the columns category, package, "
            "code, title (found: category, package, title)",
            "code",
            None,
            f"{path} row 1",
        )
    ]


def test_duplicate_column_and_empty_file(tmp_path: Path) -> None:
    twice = tmp_path / "twice.csv"
    twice.write_text("category,package,code,title,Code\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert [p.message for p in read_csv(twice).problems] == [
        "column 'Code' appears twice; keep one"
    ]
    assert [p.message for p in read_csv(empty).problems] == [
        "the file is empty; its first row must name the columns category, package, code, title"
    ]


def _workbook(path: Path, rows: list[list[object]], date_format: str = "yyyy-mm-dd") -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = date_format
    book.create_sheet("ignored").append(["category"])
    book.save(path)
    return path


def test_xlsx_first_sheet_with_date_cells_and_numbers(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "rows.xlsx",
        [
            ["category", "package", "code", "title", "valid_until", "answer", "related"],
            ["通信业务", "改号业务", 1001, "改号", datetime(2027, 6, 30), 10086, "A-1\nA-2"],
        ],
    )
    bundle = read_xlsx(path)
    assert bundle.problems == []
    doc = bundle.packages[0].tables[0]
    assert (doc.code, doc.valid_until, doc.fields, doc.related) == (
        "1001",
        date(2027, 6, 30),  # a date cell: end of that day, as in YAML
        {"answer": "10086"},
        ["A-1", "A-2"],
    )
    assert doc.location == f"{path} row 2"


def test_xlsx_datetime_cell_keeps_its_time(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "t.xlsx",
        [
            ["category", "package", "code", "title", "valid_from"],
            ["c", "p", "X", "t", datetime(2027, 1, 2, 9, 30)],
        ],
        date_format="yyyy-mm-dd hh:mm",
    )
    assert read_xlsx(path).packages[0].tables[0].valid_from == datetime(2027, 1, 2, 9, 30)


def test_xlsx_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "short.xlsx", [["category", "code", "title"], ["c", "X", "t"]])
    bundle = read_xlsx(path)
    assert bundle.packages == []
    assert [(p.location, p.field) for p in bundle.problems] == [(f"{path} row 1", "package")]
    assert bundle.problems[0].message.startswith("column 'package' is missing")


def test_file_that_is_not_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "old.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0 an old .xls file")
    [problem] = read_xlsx(path).problems
    assert problem.location == str(path)
    assert problem.message.startswith("not a readable Excel .xlsx workbook")
    assert problem.message.endswith("save it as 'Excel Workbook (.xlsx)'")
