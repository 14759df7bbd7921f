"""Every imported document is bounded while it is read: YAML, CSV, XLSX, zip, directories."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from kb.errors import ImportRejected
from kb.settings import Settings
from kb.transfer.importer import read_path
from kb.transfer.limits import ImportLimits
from tests.kb.content_files import demo_dir, write
from tests.kb.hostile_files import (
    CSV_HEADER,
    ROWS,
    alias_bomb,
    deep_yaml,
    dtd_workbook,
    entity_bomb_workbook,
    workbook_bytes,
    zip_of,
)


def _messages(path: Path, limits: ImportLimits | None = None) -> list[tuple[str | None, str]]:
    return [(p.location, p.message) for p in read_path(path, limits).problems]


def test_limits_are_named_settings() -> None:
    config = Settings(import_max_rows=5, import_max_yaml_depth=8, import_max_cell_chars=10)
    limits = ImportLimits.from_settings(config)
    assert (limits.rows, limits.yaml_depth, limits.cell_chars) == (5, 8, 10)
    assert ImportLimits.from_settings(Settings()) == ImportLimits()


def test_yaml_alias_bomb_is_refused_in_little_memory(tmp_path: Path) -> None:
    text = alias_bomb()
    assert len(text.encode()) < 500  # expands to 9**9 = 387,420,489 values
    path = write(tmp_path / "c" / "通信业务" / "炸弹.yaml", text)
    tracemalloc.start()
    try:
        problems = _messages(tmp_path / "c")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems == [
        (
            f"{path}:1",
            "with its aliases (*name) expanded the document holds more than 1,000,000 values, "
            "the limit (ZHIKU_IMPORT_MAX_YAML_NODES); write the values out instead of repeating "
            "them through aliases",
        )
    ]
    assert peak < 20 * 1024 * 1024


def test_deep_yaml_is_refused_before_python_recursion_breaks(tmp_path: Path) -> None:
    path = write(tmp_path / "c" / "通信业务" / "深.yaml", deep_yaml(5000))
    assert _messages(tmp_path / "c") == [
        (
            f"{path}:2",
            "lists and mappings are nested more than 40 deep, the limit "
            "(ZHIKU_IMPORT_MAX_YAML_DEPTH)",
        )
    ]


def test_recursive_and_too_many_aliases(tmp_path: Path) -> None:
    loop = write(tmp_path / "c" / "通信业务" / "环.yaml", "package: 环\nx: &a [1, *a]\n")
    many = write(
        tmp_path / "c" / "通信业务" / "多.yaml",
        "package: 多\nx: &a 1\ny: [" + ", ".join(["*a"] * 4) + "]\n",
    )
    limits = ImportLimits(yaml_aliases=3)
    assert _messages(tmp_path / "c", limits) == [
        (
            f"{many}:3",
            "more than 3 aliases (*name), the limit (ZHIKU_IMPORT_MAX_YAML_ALIASES); write the "
            "values out instead",
        ),
        (
            f"{loop}:2",
            "alias *a refers to a list or mapping that contains it (a recursive alias); write "
            "the values out instead",
        ),
    ]


def test_symlinked_yaml_is_refused_without_reading_it(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "root:x:0:0:the secret line\n")
    root = demo_dir(tmp_path / "c")
    link = root / "通信业务" / "链接.yaml"
    link.symlink_to(secret)
    (root / "另一类").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    problems = read_path(root).problems
    assert [(p.location, p.message) for p in problems] == [
        (
            str(root / "另一类"),
            "a symbolic link; imports read only plain files and directories (copy the file in "
            "instead of linking it)",
        ),
        (
            str(link),
            "a symbolic link; imports read only plain files and directories (copy the file in "
            "instead of linking it)",
        ),
    ]
    assert "secret" not in repr(problems)


def test_directory_file_count_and_sizes(tmp_path: Path) -> None:
    root = demo_dir(tmp_path / "c")
    write(root / "通信业务" / "宽带报修.yaml", "package: 宽带报修\ntemplate: [{key: answer}]\n")
    big = root / "通信业务" / "改号业务.yaml"
    size = big.stat().st_size
    assert _messages(root, ImportLimits(file_bytes=size - 1)) == [
        (
            str(big),
            f"the file's size in bytes ({size:,}) is over the limit of {size - 1:,} "
            "(ZHIKU_IMPORT_MAX_FILE_BYTES)",
        )
    ]
    assert _messages(root, ImportLimits(files=2)) == [
        (
            str(root / "通信业务" / "宽带报修.yaml"),
            "the number of files (3) is over the limit of 2 (ZHIKU_IMPORT_MAX_FILES); nothing "
            "further was read",
        )
    ]


def test_csv_cell_over_the_csv_module_limit_is_a_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path / "big.csv",
        CSV_HEADER
        + "通信业务,改号业务,X-1,标题,短\n"
        + "通信业务,改号业务,X-2,长,"
        + "长" * 131_073
        + "\n",
    )
    assert _messages(path) == [
        (
            f"{path} row 3",
            "a cell is longer than 65,536 characters, the limit (ZHIKU_IMPORT_MAX_CELL_CHARS)",
        )
    ]


def test_csv_rows_and_columns(tmp_path: Path) -> None:
    rows = "".join(f"通信业务,改号业务,X-{i},标题,答复\n" for i in range(4))
    path = write(tmp_path / "rows.csv", CSV_HEADER + rows)
    assert _messages(path, ImportLimits(rows=3)) == [
        (
            f"{path} row 5",
            "the number of rows (4) is over the limit of 3 (ZHIKU_IMPORT_MAX_ROWS); split the file",
        )
    ]
    assert _messages(path, ImportLimits(columns=4)) == [
        (
            f"{path} row 1",
            "the number of columns (5) is over the limit of 4 (ZHIKU_IMPORT_MAX_COLUMNS)",
        )
    ]


@pytest.mark.parametrize("maker", [entity_bomb_workbook, dtd_workbook])
def test_xlsx_with_a_dtd_is_refused_before_parsing(tmp_path: Path, maker: object) -> None:
    path = maker(tmp_path / "book.xlsx")  # type: ignore[operator]
    assert _messages(path) == [
        (
            str(path),
            "xl/worksheets/sheet1.xml: the XML declares a DTD or entities (<!DOCTYPE, "
            "<!ENTITY), which Excel never writes and which can expand into gigabytes; save "
            "the workbook in Excel",
        )
    ]


def test_xlsx_rows_cells_and_unpacked_size(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(workbook_bytes([*ROWS, ["通信业务", "改号业务", "X-2", "长" * 40, "答复"]]))
    assert _messages(path, ImportLimits(cell_chars=30)) == [
        (
            f"{path} row 3",
            "column 4: the cell's length in characters (40) is over the limit of 30 "
            "(ZHIKU_IMPORT_MAX_CELL_CHARS)",
        )
    ]
    assert _messages(path, ImportLimits(rows=1)) == [
        (
            f"{path} row 3",
            "the number of rows (2) is over the limit of 1 (ZHIKU_IMPORT_MAX_ROWS); split the file",
        )
    ]
    [(location, message)] = _messages(path, ImportLimits(total_bytes=1000))
    assert location == str(path)
    assert "the bytes unpacked" in message and "(ZHIKU_IMPORT_MAX_TOTAL_BYTES)" in message


def test_zip_bomb_traversal_links_and_counts(tmp_path: Path) -> None:
    bomb = zip_of(tmp_path / "bomb.zip", {"通信业务/改号业务.yaml": b" " * (3 * 1024 * 1024)})
    with pytest.raises(ImportRejected) as caught:
        read_path(bomb)
    assert caught.value.message.startswith("Cannot import bomb.zip: 通信业务/改号业务.yaml: its ")
    assert "compression ratio" in caught.value.message
    assert "(ZHIKU_IMPORT_MAX_ZIP_RATIO) (a zip bomb?)" in caught.value.message

    for members, link, expected in (
        ({"../evil.yaml": b"x: 1"}, None, "../evil.yaml: unsafe path in archive"),
        ({"a\\..\\b.yaml": b"x: 1"}, None, "a\\..\\b.yaml: unsafe path in archive"),
        ({}, "通信业务/链接.yaml", "通信业务/链接.yaml: a symbolic link"),
    ):
        path = zip_of(tmp_path / "bad.zip", members, link=link)
        with pytest.raises(ImportRejected) as caught:
            read_path(path)
        assert caught.value.message.startswith(f"Cannot import bad.zip: {expected}")

    many = zip_of(tmp_path / "many.zip", {f"通信业务/{i}.yaml": b"" for i in range(4)})
    with pytest.raises(ImportRejected) as caught:
        read_path(many, ImportLimits(files=3))
    assert caught.value.message == (
        "Cannot import many.zip: the number of members (4) is over the limit of 3 "
        "(ZHIKU_IMPORT_MAX_FILES)."
    )


def test_zip_of_a_content_directory_reads_with_locations_in_the_zip(tmp_path: Path) -> None:
    root = demo_dir(tmp_path / "c")
    members = {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
    members["通信业务/改号业务.yaml"] = members["通信业务/改号业务.yaml"].replace(
        b"2027-06-30", b"2027-13-45"
    )
    path = zip_of(tmp_path / "content.zip", members)
    bundle = read_path(path)
    assert [t.code for p in bundle.packages for t in p.tables] == ["TX-GH-001", "TX-GH-002"]
    assert bundle.packages[0].location == f"{path}/通信业务/改号业务.yaml:1"
    assert bundle.packages[0].tables[0].where("valid_until") == f"{path}/通信业务/改号业务.yaml:21"
