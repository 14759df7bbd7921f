from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from kb.db import open_database
from kb.models import Category
from kb.settings import Settings
from tests.kb.content_files import GAIHAO, demo_dir, write
from tests.kb.hostile_files import alias_bomb, deep_yaml, dtd_workbook, entity_bomb_workbook


class FakeIndexer:
    """Stands in for indexer.service so that these tests neither need nor build an index."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[set[int]] = []
        self.fail = fail

    def sync_after_commit(self, settings: Any, db: Any, changed_ids: set[int]) -> None:
        if self.fail:
            raise RuntimeError("index directory is locked")
        self.calls.append(set(changed_ids))


def _install(monkeypatch: pytest.MonkeyPatch, fake: FakeIndexer) -> None:
    module = types.ModuleType("indexer.service")
    module.__spec__ = importlib.machinery.ModuleSpec("indexer.service", None)
    module.sync_after_commit = fake.sync_after_commit  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "indexer.service", module)


@pytest.fixture
def indexer(monkeypatch: pytest.MonkeyPatch) -> FakeIndexer:
    fake = FakeIndexer()
    _install(monkeypatch, fake)
    return fake


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indexer: FakeIndexer) -> CliRunner:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.setenv("ZHIKU_TIMEZONE", "Asia/Shanghai")
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    return runner


def _stats(runner: CliRunner) -> dict[str, Any]:
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_import_then_stats(runner: CliRunner, tmp_path: Path, indexer: FakeIndexer) -> None:
    content = demo_dir(tmp_path / "content")
    result = runner.invoke(app, ["import", str(content)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Imported {content} (published): tables 2 created, 0 revised, 0 updated, 0 unchanged; "
        "1 categories and 1 packages created or changed; dictionary replaced.\n"
    )
    stats = _stats(runner)
    assert (stats["categories"], stats["packages"], stats["tables"], stats["live_tables"]) == (
        1,
        1,
        2,
        2,
    )
    assert (stats["synonym_groups"], stats["domain_terms"]) == (1, 2)
    assert indexer.calls == [{1, 2}]


def test_import_json_and_idempotent_reimport(
    runner: CliRunner, tmp_path: Path, indexer: FakeIndexer
) -> None:
    content = demo_dir(tmp_path / "content")
    assert runner.invoke(app, ["import", str(content)]).exit_code == 0
    result = runner.invoke(app, ["import", str(content), "--json", "--actor", "王芳"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data == {
        "ok": True,
        "source": str(content),
        "created": 0,
        "revised": 0,
        "updated": 0,
        "unchanged": 2,
        "categories": 0,
        "packages": 0,
        "dictionary_changed": False,
        "proposed": 0,
        "codes": {"created": [], "revised": [], "updated": [], "proposed": []},
    }
    # Nothing changed the second time; the index is still asked to repair any drift.
    assert indexer.calls == [{1, 2}, set()]


def test_bad_import_lists_every_problem_and_changes_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    content = demo_dir(tmp_path / "content")
    assert runner.invoke(app, ["import", str(content)]).exit_code == 0
    before = _stats(runner)
    path = write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("valid_until: 2027-06-30", "valid_until: 2027-13-01").replace(
            "      answer: 携带", "      answr: 携带"
        ),
    )
    result = runner.invoke(app, ["import", str(content)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"错误 error: Nothing was imported: 3 problems in {content}; fix them and import again.",
        f"  - {path}:21: valid_until: not a valid date: write a date (2026-06-30) or an ISO "
        "date-time with offset (2026-06-30T18:00:00+08:00) (got '2027-13-01')",
        f"  - {path}:34: answer: 标准答复 is required by package 通信业务/改号业务 (template v1)",
        f"  - {path}:39: answr: not in the template of package 通信业务/改号业务 (v1); known "
        "fields: question (问题描述), answer (标准答复), steps (操作步骤), internal_note (内部备注)",
    ]
    assert "Traceback" not in result.output
    assert _stats(runner) == before


def test_bad_import_as_json(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("category,package,code,title\n通信业务,改号业务,X-1,标题\n".encode("gbk"))
    result = runner.invoke(app, ["import", str(path), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert [(p["location"], p["field"]) for p in data["problems"]] == [(str(path), None)]
    assert "Re-save it as UTF-8" in data["problems"][0]["message"]
    assert _stats(runner)["tables"] == 0


def test_csv_import_after_yaml(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    rows = write(
        tmp_path / "rows.csv",
        "\ufeffcategory,package,code,title,标准答复\n通信业务,改号业务,TX-GH-003,改号要多久,即时生效\n",
    )
    result = runner.invoke(app, ["import", str(rows), "--draft"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Imported {rows} (draft revisions): tables 1 created")
    stats = _stats(runner)
    assert (stats["tables"], stats["live_tables"], stats["revision_states"]) == (
        3,
        2,
        {"draft": 1, "published": 2},
    )


def test_export_and_reimport_into_a_fresh_database(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    out = tmp_path / "exported"
    result = runner.invoke(app, ["export", str(out)])
    assert result.exit_code == 0
    assert result.stdout == f"Exported 2 tables in 1 packages and 1 categories to {out}\n"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == [
        "_dictionary.yaml",
        "通信业务/_category.yaml",
        "通信业务/改号业务.yaml",
    ]
    again = runner.invoke(app, ["import", str(out)])
    assert "tables 0 created, 0 revised, 0 updated, 2 unchanged" in again.stdout
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "fresh"))
    assert runner.invoke(app, ["init"]).exit_code == 0
    fresh = runner.invoke(app, ["import", str(out)])
    assert "tables 2 created" in fresh.stdout
    assert _stats(runner)["tables"] == 2


def test_export_refuses_a_non_empty_directory_unless_forced(
    runner: CliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    out = tmp_path / "exported"
    stale = write(out / "旧类" / "旧包.yaml", "package: 旧包\n")
    notes = write(out / "NOTES.md", "keep me")
    refused = runner.invoke(app, ["export", str(out)])
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"错误 error: {out} is not empty; choose a new directory or pass --force to overwrite "
        "the content files in it.\n"
    )
    forced = runner.invoke(app, ["export", str(out), "--force"])
    assert forced.exit_code == 0
    assert not stale.exists() and not stale.parent.exists()
    assert notes.read_text(encoding="utf-8") == "keep me"
    assert (out / "通信业务" / "改号业务.yaml").exists()


def test_demo_load_if_empty(runner: CliRunner, tmp_path: Path) -> None:
    content = demo_dir(tmp_path / "content")
    first = runner.invoke(app, ["demo-load", "--if-empty", str(content)])
    assert first.exit_code == 0
    assert "tables 2 created" in first.stdout
    second = runner.invoke(app, ["demo-load", "--if-empty", str(content)])
    assert second.exit_code == 0
    assert second.stdout == "The database already holds 2 tables; demo content not loaded.\n"


def test_index_failure_is_a_warning_not_a_failed_import(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(monkeypatch, FakeIndexer(fail=True))
    result = runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))])
    assert result.exit_code == 0
    assert result.stderr == (
        "警告 warning: the import is saved but the search index was not updated (index directory "
        "is locked); it catches up on its next sync.\n"
    )
    assert _stats(runner)["tables"] == 2


def test_import_of_unsupported_file(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path / "old.xls", "x")
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"错误 error: Cannot import {path}: use a content directory (or a .zip of one), a .csv "
        "or an .xlsx file (save it as .xlsx).",
        f"  - {path}: unsupported file type .xls",
    ]


def _add_bad_category(name: str) -> None:
    """A category with a name today's rules refuse, as an older database may hold."""
    db = open_database(Settings().resolved_database_url)
    with db.transaction() as session:
        session.add(Category(name=name))
    db.dispose()


def test_export_of_an_unexportable_name_writes_nothing_until_renamed(
    runner: CliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    assert runner.invoke(app, ["user", "add", "admin1", "--role", "admin"]).exit_code == 0
    _add_bad_category("坏\x00名")
    out = tmp_path / "exported"
    refused = runner.invoke(app, ["export", str(out)])
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "错误 error: category '坏\\x00名' cannot be exported: category name contains control or "
        "invisible characters (U+0000)"
    )
    assert "Traceback" not in refused.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".export-" in p.name] == []
    renamed = runner.invoke(app, ["category", "rename", "坏\x00名", "好名", "--as", "admin1"])
    assert renamed.exit_code == 0, renamed.output
    assert renamed.stdout == "Category '坏\\x00名' is now '好名'.\n"
    exported = runner.invoke(app, ["export", str(out)])
    assert exported.exit_code == 0, exported.output
    assert (out / "好名" / "_category.yaml").exists()


def test_export_that_fails_half_way_leaves_no_directory(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    written: list[Path] = []
    real = Path.write_text

    def failing(self: Path, *args: Any, **kwargs: Any) -> int:
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    out = tmp_path / "exported"
    result = runner.invoke(app, ["export", str(out)])
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr and "Traceback" not in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "data"]


@pytest.mark.parametrize("command", [("export",), ("golden", "export")])
def test_an_export_to_a_place_that_cannot_be_made_names_it(
    runner: CliRunner, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A parent that is a file ended in a FileExistsError / NotADirectoryError traceback."""
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    blocker = write(tmp_path / "a-file", "x")
    for target in (blocker / "out", blocker):
        result = runner.invoke(app, [*command, str(target)])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and str(tmp_path) in result.stderr
        assert result.stderr.startswith("错误 error: ")
    assert blocker.read_text() == "x"


def test_rename_package_needs_the_hierarchy_right(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    assert runner.invoke(app, ["user", "add", "editor1", "--role", "editor"]).exit_code == 0
    refused = runner.invoke(
        app, ["package", "rename", "通信业务/改号业务", "改号", "--as", "editor1"]
    )
    assert refused.exit_code == 1
    assert refused.stderr.startswith("错误 error: editor1 (editor) may not manage_hierarchy")


def _hostile(tmp_path: Path, kind: str) -> Path:
    if kind == "xlsx entity bomb":
        return entity_bomb_workbook(tmp_path / "bomb.xlsx", levels=9)
    if kind == "xlsx with a DTD":
        return dtd_workbook(tmp_path / "dtd.xlsx")
    if kind == "csv cell over 131,072 characters":
        return write(
            tmp_path / "big.csv",
            "category,package,code,title\n通信业务,改号业务,TX-GH-009," + "长" * 131_073 + "\n",
        )
    if kind == "5,000-deep yaml":
        root = tmp_path / "deep"
        write(root / "通信业务" / "深.yaml", deep_yaml(5000))
        return root
    if kind == "yaml alias bomb":
        root = tmp_path / "bomb"
        write(root / "通信业务" / "炸弹.yaml", alias_bomb())
        return root
    root = demo_dir(tmp_path / "linked")
    secret = write(tmp_path / "passwd", "root:x:0:0:root:/root:/bin/bash\n")
    (root / "通信业务" / "链接.yaml").symlink_to(secret)
    return root


HOSTILE = [
    ("xlsx entity bomb", "xl/worksheets/sheet1.xml: the XML declares a DTD or entities"),
    ("xlsx with a DTD", "xl/worksheets/sheet1.xml: the XML declares a DTD or entities"),
    ("csv cell over 131,072 characters", "row 2: a cell is longer than 65,536 characters"),
    ("5,000-deep yaml", "深.yaml:2: lists and mappings are nested more than 40 deep"),
    ("yaml alias bomb", "炸弹.yaml:1: with its aliases (*name) expanded the document holds"),
    ("symlinked yaml", "链接.yaml: a symbolic link; imports read only plain files"),
]


@pytest.mark.parametrize(("kind", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_get_a_clear_error_and_change_nothing(
    runner: CliRunner, tmp_path: Path, kind: str, expected: str
) -> None:
    assert runner.invoke(app, ["import", str(demo_dir(tmp_path / "content"))]).exit_code == 0
    before = _stats(runner)
    result = runner.invoke(app, ["import", str(_hostile(tmp_path, kind))])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("错误 error: Nothing was imported: 1 problem in ")
    assert len(lines) == 2 and expected in lines[1]
    assert "root:x:0:0" not in result.output
    assert _stats(runner) == before


def test_import_as_a_user_checks_their_rights(runner: CliRunner, tmp_path: Path) -> None:
    content = demo_dir(tmp_path / "content")
    assert runner.invoke(app, ["import", str(content)]).exit_code == 0
    for name, role, scope in (("card_editor", "editor", "银行服务"), ("editor1", "editor", "")):
        args = ["user", "add", name, "--role", role] + (["--scope", scope] if scope else [])
        if scope:
            write(
                tmp_path / "bank" / "银行服务" / "信用卡.yaml",
                GAIHAO.replace("package: 改号业务", "package: 信用卡").replace("TX-GH-", "YH-"),
            )
            assert runner.invoke(app, ["import", str(tmp_path / "bank")]).exit_code == 0
        assert runner.invoke(app, args).exit_code == 0, args
    rows = write(
        tmp_path / "rows.csv",
        "category,package,code,title,audience,标准答复\n"
        "通信业务,改号业务,TX-GH-002,改号需要带什么证件,public,携带机主本人有效身份证件原件到营业厅办理。\n",
    )
    refused = runner.invoke(app, ["import", str(rows), "--draft", "--as", "card_editor"])
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        f"错误 error: Nothing was imported: card_editor (editor) may not make 1 of the change "
        f"in {rows}; leave them out, or ask someone who may.",
        f"  - {rows} row 2: package: table TX-GH-002: card_editor (editor) may not draft in "
        "通信业务/改号业务: their scope is 银行服务; ask a editor of that package or an admin.",
    ]
    published = runner.invoke(app, ["import", str(rows), "--as", "editor1"])
    assert published.exit_code == 1
    assert "may not publish" in published.stderr
    drafted = runner.invoke(app, ["import", str(rows), "--draft", "--as", "editor1"])
    assert drafted.exit_code == 0, drafted.output
    assert drafted.stdout.endswith("; audience or validity changes of 1 wait for review.\n")


VERSIONED = """\
package: 改号业务
template_version: 2
template:
  - {key: answer, label: 标准答复, required: true}
earlier_templates:
  - version: 1
    template:
      - {key: answer, label: 标准答复, required: true}
      - {key: internal_note, label: 内部备注, audience: internal}
tables:
  - code: TX-GH-001
    title: 改号后原号码是否还会产生话费
    template_version: 1
    fields: {answer: 原号码停止计费。, internal_note: 转计费组核查。}
"""


def test_export_reset_import_keeps_the_template_each_table_was_written_under(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A table holding a field the current template dropped: the import refused it."""
    write(tmp_path / "content" / "通信业务" / "改号业务.yaml", VERSIONED)
    assert runner.invoke(app, ["import", str(tmp_path / "content")]).exit_code == 0
    first, second = tmp_path / "first", tmp_path / "second"
    assert runner.invoke(app, ["export", str(first)]).exit_code == 0
    assert runner.invoke(app, ["init", "--reset"]).exit_code == 0
    result = runner.invoke(app, ["import", str(first)])
    assert result.exit_code == 0, result.output
    assert "tables 1 created" in result.stdout
    assert runner.invoke(app, ["export", str(second)]).exit_code == 0
    exported = (second / "通信业务" / "改号业务.yaml").read_text(encoding="utf-8")
    assert exported == (first / "通信业务" / "改号业务.yaml").read_text(encoding="utf-8")
    assert "    template_version: 1\n    fields:\n      answer: 原号码停止计费。\n" in exported
    assert "      internal_note: 转计费组核查。\n" in exported
