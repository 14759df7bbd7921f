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
from sqlalchemy.orm import Session

from kb import agent_view, hierarchy, portal, repository
from kb.clock import utcnow
from kb.db import Database, open_database
from kb.models import Package
from kb.transfer.exporter import export_files, write_directory
from kb.transfer.importer import import_path
from tests.factories import TEMPLATE, make_package, make_table
from tests.kb.content_files import snapshot

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
