"""Export → import after a template change: the imported KB serves what the source served.

A revision is read through the template version it was written under (which fields it has,
which are internal). An export that wrote only the current template refused to import when the
current template had dropped a field a live table still holds, and showed customers a field
made public since a table was written (or hid one made internal since).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy.orm import Session

from kb import agent_view, hierarchy, portal, repository
from kb.clock import utcnow
from kb.db import Database, open_database
from kb.errors import ImportRefused, ImportRejected
from kb.models import Package
from kb.transfer.exporter import export_files, write_directory
from kb.transfer.importer import import_path
from kb.users import create_user
from tests.factories import TEMPLATE, make_package, make_table
from tests.kb.content_files import snapshot, write

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIELDS = {
    "question": "客户办理改号后担心原号码继续扣费。",
    "answer": "改号完成后原号码停止计费。",
    "steps": ["登录营业厅 App", "查看改号状态"],
    "internal_note": "如客户坚持仍扣费，转计费组核查。",
}


def _without(key: str) -> list[dict[str, Any]]:
    return [spec for spec in TEMPLATE if spec["key"] != key]


def _with_audience(key: str, audience: str) -> list[dict[str, Any]]:
    return [spec | {"audience": audience} if spec["key"] == key else spec for spec in TEMPLATE]


def _retemplate(session: Session, template: list[dict[str, Any]]) -> Package:
    category = hierarchy.ensure_category(session, "通信业务")
    return hierarchy.ensure_package(session, category, "改号业务", template=template)


def _views(session: Session) -> dict[str, Any]:
    """What each live table shows to agents and to customers, and the fields it holds."""
    now = utcnow()
    views: dict[str, Any] = {}
    for table in repository.all_tables(session):
        live = table.live_revision
        assert live is not None
        agent = agent_view.live_table(session, table.code, now)
        views[table.code] = {
            "held": dict(live.fields),
            "agent": [asdict(f) for f in agent.fields],
            "customer": [asdict(f) for f in portal.public_table(session, table.code, now).fields],
        }
    return views


@pytest.fixture
def databases() -> Iterator[tuple[Database, Database]]:
    source, target = (
        open_database("sqlite://", create=True),
        open_database("sqlite://", create=True),
    )
    yield source, target
    source.dispose()
    target.dispose()


def _migrate(databases: tuple[Database, Database], out: Path) -> dict[str, Any]:
    """Export the source, import it into the empty target; the source's views."""
    source, target = databases
    with source.session() as session:
        write_directory(session, out)
        expected = _views(session)
    with target.transaction() as session:
        import_path(session, out, actor="t", zone=SHANGHAI)
    return expected


def test_a_table_holding_a_field_the_template_dropped_imports_as_it_reads(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    source, target = databases
    with source.transaction() as session:
        package = make_package(session)
        make_table(session, package, "OLD-1", fields=FIELDS)
        _retemplate(session, _without("internal_note"))
        make_table(session, package, "NEW-1", fields={"answer": "写于新模板。"})
    expected = _migrate(databases, tmp_path / "export")
    assert expected["OLD-1"]["held"] == FIELDS  # still held, and shown to agents
    assert [f["key"] for f in expected["OLD-1"]["agent"]] == list(FIELDS)
    with target.session() as session:
        assert _views(session) == expected


@pytest.mark.parametrize(("then", "now"), [("internal", "public"), ("public", "internal")])
def test_a_field_whose_audience_changed_shows_as_the_tables_template_said(
    databases: tuple[Database, Database], tmp_path: Path, then: str, now: str
) -> None:
    source, target = databases
    with source.transaction() as session:
        package = _retemplate(session, _with_audience("internal_note", then))
        make_table(session, package, "OLD-1", fields=FIELDS)
        _retemplate(session, _with_audience("internal_note", now))
        make_table(session, package, "NEW-1", fields=FIELDS)
    expected = _migrate(databases, tmp_path / "export")
    shown = {code: [f["key"] for f in view["customer"]] for code, view in expected.items()}
    public = ["question", "answer", "steps"]
    assert shown == {
        "OLD-1": public + (["internal_note"] if then == "public" else []),
        "NEW-1": public + (["internal_note"] if now == "public" else []),
    }
    with target.session() as session:
        assert _views(session) == expected


def test_an_export_of_the_import_is_the_same_and_reimporting_it_writes_nothing(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    source, target = databases
    with source.transaction() as session:
        package = make_package(session)
        make_table(session, package, "OLD-1", fields=FIELDS)
        _retemplate(session, _with_audience("steps", "internal"))
        make_table(session, package, "MID-1", fields=FIELDS)
        _retemplate(session, _without("internal_note"))
        make_table(session, package, "NEW-1", fields={"answer": "写于新模板。"})
    _migrate(databases, tmp_path / "export")
    with source.session() as session:
        exported = export_files(session)
    with target.session() as session:
        assert export_files(session) == exported
    for database in databases:
        with database.transaction() as session:
            before = snapshot(session)
            report = import_path(session, tmp_path / "export", actor="t", zone=SHANGHAI)
            assert (report.created, report.revised, report.updated) == ([], [], [])
            assert snapshot(session) == before


def _versions(session: Session) -> list[tuple[int, list[str]]]:
    package = repository.package_by_name(session, "通信业务", "改号业务")
    assert package is not None
    return [(t.version, [f["key"] for f in t.fields]) for t in package.templates]


def _dropped_after_one(database: Database) -> None:
    with database.transaction() as session:
        package = make_package(session)
        make_table(session, package, "OLD-1", fields=FIELDS)
        _retemplate(session, _without("internal_note"))


def test_a_package_the_import_creates_keeps_the_version_numbers(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    _dropped_after_one(databases[0])
    _migrate(databases, tmp_path / "export")
    with databases[1].session() as session:
        assert _versions(session) == [(1, list(FIELDS)), (2, ["question", "answer", "steps"])]
        table = repository.table_by_code(session, "OLD-1")
        assert table is not None and table.live_revision is not None
        assert table.live_revision.template_version == 1


def test_an_existing_package_gains_the_earlier_version_before_its_template(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    """A package with another history: the version is added, and the template after it."""
    source, target = databases
    _dropped_after_one(source)
    with target.transaction() as session:
        make_package(session, template=_without("internal_note"))
        editor = create_user(session, "editor1", "editor")
    with source.session() as session:
        write_directory(session, tmp_path / "export")
        expected = _views(session)
    with target.transaction() as session:
        with pytest.raises(ImportRefused) as caught:
            import_path(session, tmp_path / "export", actor=editor, draft=True, zone=SHANGHAI)
        assert [p.message for p in caught.value.problems][0].startswith(
            "changing package 通信业务/改号业务 (earlier template versions 1 of the file, for its "
            "tables): "
        )
    with target.transaction() as session:
        report = import_path(session, tmp_path / "export", actor="t", zone=SHANGHAI)
        assert (report.created, report.packages) == (["OLD-1"], 1)
    with target.session() as session:
        dropped = ["question", "answer", "steps"]
        assert _versions(session) == [(1, dropped), (2, list(FIELDS)), (3, dropped)]
        assert _views(session) == expected


def _unversioned(path: Path) -> None:
    """The file as exports wrote it before they carried versions."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["template_version"]
    data.pop("earlier_templates", None)
    for table in data["tables"]:
        table.pop("template_version", None)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_a_file_without_versions_reads_every_table_through_its_template_as_before(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    source, target = databases
    with source.transaction() as session:
        package = make_package(session)
        make_table(session, package, "OLD-1", fields=FIELDS)
        _retemplate(session, _with_audience("steps", "internal"))
    out = tmp_path / "export"
    with source.session() as session:
        write_directory(session, out)
    _unversioned(out / "通信业务" / "改号业务.yaml")
    with source.transaction() as session:  # same fields: left alone, under its version
        before = snapshot(session)
        report = import_path(session, out, actor="t", zone=SHANGHAI)
        assert (report.revised, snapshot(session)) == ([], before)
    with target.transaction() as session:
        import_path(session, out, actor="t", zone=SHANGHAI)
    with target.session() as session:
        assert [f["key"] for f in _views(session)["OLD-1"]["customer"]] == ["question", "answer"]
    # The versioned export, imported over that, restores what the source shows customers.
    with source.session() as session:
        write_directory(session, tmp_path / "again")
        expected = _views(session)
    with target.transaction() as session:
        report = import_path(session, tmp_path / "again", actor="t", zone=SHANGHAI)
        assert report.revised == ["OLD-1"]
    with target.session() as session:
        assert _views(session) == expected


VERSIONED = """\
package: 改号业务
template_version: 3
template:
  - {key: answer, label: 标准答复, required: true}
earlier_templates:
  - version: 1
    template:
      - {key: answer, label: 标准答复, required: true}
      - {key: note, label: 备注}
  - version: 1
    template:
      - {key: answer, label: 标准答复}
  - version: 4
    template:
      - {key: answer, label: 标准答复}
tables:
  - code: T-1
    title: 一
    template_version: 1
    fields: {answer: 答, note: 注}
  - code: T-2
    title: 二
    template_version: 2
    fields: {answer: 答}
  - code: T-3
    title: 三
    template_version: 3
    fields: {answer: 答, note: 注}
"""


def test_versions_a_file_states_are_checked_with_its_tables(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    path = write(tmp_path / "content" / "通信业务" / "改号业务.yaml", VERSIONED)
    with databases[0].transaction() as session:
        with pytest.raises(ImportRejected) as caught:
            import_path(session, tmp_path / "content", actor="t", zone=SHANGHAI)
    assert [(p.location, p.field, p.message) for p in caught.value.problems] == [
        (
            f"{path}:11",
            "earlier_templates[1].version",
            "template version 1 is listed twice; keep one",
        ),
        (
            f"{path}:14",
            "earlier_templates[2].version",
            "an earlier template's version must be below template_version (3)",
        ),
        (
            f"{path}:23",
            "template_version",
            "template version 2 is not in this file (it states: 1, 3); add it under "
            "earlier_templates, or leave template_version out to use the template",
        ),
        (
            f"{path}:28",
            "note",
            "not in the template of package 通信业务/改号业务 (v3); known fields: answer (标准答复)",
        ),
    ]


def _spreadsheet(path: Path, answer: str) -> Path:
    """A spreadsheet row that sets one field of OLD-1 (the others keep their stored values)."""
    rows = f"category,package,code,title,answer\n通信业务,改号业务,OLD-1,改号后原号码还扣费吗,{answer}\n"
    path.write_text(rows, encoding="utf-8")
    return path


def test_a_spreadsheet_row_updates_a_table_holding_a_field_the_template_dropped(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    """A spreadsheet reads through the current template, as an edit at the desk does: a field
    it dropped cannot have a column, so it is no reason to refuse the row (it was: "not in the
    template"), the fields left out keep their values, and the drop goes with the next change."""
    source, _ = databases
    with source.transaction() as session:
        package = make_package(session)
        make_table(session, package, "OLD-1", title="改号后原号码还扣费吗", fields=FIELDS)
        _retemplate(session, _without("internal_note"))
    with source.transaction() as session:  # the stored answer: nothing changes
        before = snapshot(session)
        same = _spreadsheet(tmp_path / "same.csv", FIELDS["answer"])
        report = import_path(session, same, actor="t", zone=SHANGHAI)
        assert (report.revised, snapshot(session)) == ([], before)
    with source.transaction() as session:
        report = import_path(
            session, _spreadsheet(tmp_path / "new.csv", "新的答复。"), actor="t", zone=SHANGHAI
        )
        assert report.revised == ["OLD-1"]
    with source.session() as session:
        table = repository.table_by_code(session, "OLD-1")
        assert table is not None and table.live_revision is not None
        live = table.live_revision
        assert live.fields == {k: v for k, v in FIELDS.items() if k != "internal_note"} | {
            "answer": "新的答复。"
        }
        assert live.template_version == table.package.template.version == 2
