"""Customers' contact requests worked through ``kb requests``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from kb import handoff
from kb.clock import frozen
from kb.contact import Contact
from kb.db import open_database
from kb.users import create_user
from tests.factories import make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHIKU_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZHIKU_USER", raising=False)
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}", create=True)
    with db.transaction() as session, frozen(NOW):
        make_table(session, package=make_package(session))
        for name, role in (("agent1", "agent"), ("editor1", "editor"), ("reviewer1", "reviewer")):
            create_user(session, name, role)
        for question, contact in (
            ("改号以后积分怎么办", Contact(name="王先生", phone="13812345678")),
            ("宽带什么时候能修好", Contact()),
        ):
            handoff.create_request(
                session,
                handoff.NewRequest(question=question, contact=contact, shown=["TX-GH-001"]),
            )
    db.dispose()
    yield CliRunner()


def kb(runner: CliRunner, *args: str, code: int = 0) -> str:
    with frozen(NOW):
        result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stdout if code == 0 else result.stderr


def test_list_work_and_close_a_request(runner: CliRunner) -> None:
    listed = kb(runner, "requests", "--as", "agent1")
    assert "KF000001" in listed and "KF000002" in listed
    assert "2026-11-23 16:00" in listed  # local time, not UTC
    assert "13812345678" in listed and "改号以后积分怎么办" in listed

    assert kb(runner, "requests", "assign", "kf000001", "--to", "agent1", "--as", "reviewer1") == (
        "KF000001 → agent1 (in_progress).\n"
    )
    kb(runner, "requests", "note", "KF000001", "--text", "电话未接通", "--as", "agent1")
    kb(runner, "requests", "reply", "KF000001", "--text", "积分会随号码迁移。", "--as", "agent1")
    shown = json.loads(kb(runner, "requests", "show", "KF000001", "--json", "--as", "agent1"))
    assert (shown["status"], shown["assignee"], shown["abstained"]) == ("answered", "agent1", False)
    assert shown["shown"] == [{"code": "TX-GH-001", "title": "改号后原号码是否还会产生话费"}]
    assert [(m["text"], m["to_customer"]) for m in shown["messages"]] == [
        ("电话未接通", False),
        ("积分会随号码迁移。", True),
    ]
    text = kb(runner, "requests", "show", "KF000001", "--as", "agent1")
    assert "reply: 积分会随号码迁移。" in text and "reviewer1 assign" in text

    assert kb(runner, "requests", "close", "KF000001", "--as", "agent1") == "KF000001 is closed.\n"
    mine = json.loads(
        kb(runner, "requests", "--mine", "--status", "all", "--json", "--as", "agent1")
    )
    assert [r["ref"] for r in mine["items"]] == ["KF000001"]
    still_open = json.loads(kb(runner, "requests", "--json", "--as", "agent1"))
    assert [r["ref"] for r in still_open["items"]] == ["KF000002"]
    kb(runner, "requests", "reopen", "KF000001", "--comment", "客户追问", "--as", "agent1")
    assert json.loads(kb(runner, "requests", "--json", "--as", "agent1"))["total"] == 2


def test_refusals_are_one_line_messages(runner: CliRunner) -> None:
    denied = kb(runner, "requests", "--as", "editor1", code=1)
    assert denied.startswith("错误 error: editor1 (editor) may not handle_requests")
    conflict = kb(runner, "requests", "close", "KF000002", "--as", "agent1")
    assert conflict == "KF000002 is closed.\n"
    again = kb(runner, "requests", "reply", "KF000002", "--text", "x", "--as", "agent1", code=1)
    assert "closed; reopen it before replying" in again
    missing = kb(runner, "requests", "show", "KF999999", "--as", "agent1", code=1)
    assert "No customer request 'KF999999'" in missing
    nobody = kb(runner, "requests", code=2)
    assert "--as" in nobody
