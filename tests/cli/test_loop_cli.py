"""The query-log loop through the ``kb`` command: gaps → draft, golden set, dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from kb import feedback, querylog, tables
from kb.clock import frozen
from kb.db import open_database
from kb.models import RevisionState
from tests.factories import log_unanswered, make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZHIKU_USER", raising=False)
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}", create=True)
    with db.transaction() as session, frozen(NOW - timedelta(days=1)):
        table = make_table(session, package=make_package(session))
        for query, times in (("宽带断网怎么办", 3), ("发票怎么开", 1)):
            log_unanswered(session, query, times)
        for _ in range(2):
            querylog.log_search(
                session,
                enabled=True,
                channel="agent",
                query="改号后旧号还扣钱吗",
                normalized="改号后旧号还扣钱吗",
                results=[querylog.LoggedResult(table.code, table.id, 0.9)],
                abstained=False,
                latency_ms=10.0,
            )
    db.dispose()
    yield CliRunner()


def kb(runner: CliRunner, *args: str, code: int = 0) -> str:
    with frozen(NOW):
        result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stdout if code == 0 else result.output


def test_gaps_are_ranked_and_become_a_draft(runner: CliRunner, tmp_path: Path) -> None:
    clusters = json.loads(kb(runner, "gaps", "--json", "--threshold", "0.99"))
    assert [(c["n"], c["name"], c["volume"]) for c in clusters] == [
        (1, "宽带断网怎么办", 3),
        (2, "发票怎么开", 1),
    ]
    kb(runner, "user", "add", "editor1", "--role", "editor")
    out = kb(
        runner,
        "gaps",
        "draft",
        "1",
        "--package",
        "通信业务/改号业务",
        "--code",
        "TX-KD-900",
        "--answer",
        "请先重启光猫。",
        "--title",
        "宽带断网了怎么处理",
        "--as",
        "editor1",
        "--threshold",
        "0.99",
    )
    assert "Drafted TX-KD-900" in out
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}")
    with db.session() as session:
        draft = tables.get_table(session, "TX-KD-900").latest_revision
        assert (draft.state, draft.questions) == (RevisionState.DRAFT, ["宽带断网怎么办"])
    db.dispose()
    missing = kb(
        runner,
        "gaps",
        "draft",
        "9",
        "--package",
        "通信业务/改号业务",
        "--code",
        "X-1",
        "--answer",
        "a",
        "--as",
        "editor1",
        code=1,
    )
    assert "No gap cluster 9" in missing


def test_golden_set_and_dashboard(runner: CliRunner, tmp_path: Path) -> None:
    kb(runner, "user", "add", "agent1", "--role", "agent")
    refused = kb(runner, "golden", "add", "换号旧号扣钱吗", "TX-GH-001", "--as", "agent1", code=1)
    assert "agent1" in refused
    kb(runner, "user", "add", "rev1", "--role", "reviewer")
    kb(runner, "golden", "add", "换号旧号扣钱吗", "TX-GH-001", "--as", "rev1")
    out = kb(runner, "golden", "export", str(tmp_path / "golden"))
    assert out.strip() == f"Wrote 1 entries and 1 queries to {tmp_path / 'golden'}."
    board = json.loads(kb(runner, "dashboard", "--json"))
    assert board["daily"] == [
        {"date": "2026-11-22", "searches": 6, "abstention_rate": 0.6667, "helpful_rate": None}
    ]
    assert board["top_queries"][0] == {"query": "宽带断网怎么办", "count": 3}
    assert board["stale_but_used"] == []


def test_the_dashboard_counts_days_in_the_service_time_zone(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the admin desk does: a search at 23:30 UTC is the next morning in Shanghai."""
    monkeypatch.setenv("ZHIKU_TIMEZONE", "Asia/Shanghai")
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}")
    with db.transaction() as session:
        log_unanswered(session, "夜里的问题", at=datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    db.dispose()
    board = json.loads(kb(runner, "dashboard", "--json"))
    assert [(d["date"], d["searches"]) for d in board["daily"]] == [
        ("2026-11-22", 6),
        ("2026-11-23", 1),
    ]


def test_agents_helpful_answers_are_listed_for_the_golden_set(
    runner: CliRunner, tmp_path: Path
) -> None:
    kb(runner, "user", "add", "rev1", "--role", "reviewer")
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}")
    with frozen(NOW - timedelta(hours=2)), db.transaction() as session:
        table = tables.get_table(session, "TX-GH-001")
        for query in ("换号旧号扣钱吗", "换号旧号扣钱吗", "改号要多久"):
            feedback.record_vote(session, channel="agent", table=table, helpful=True, query=query)
    db.dispose()
    endorsed = json.loads(kb(runner, "golden", "endorsed", "--json"))
    assert [(e["query"], e["code"], e["helpful"]) for e in endorsed] == [
        ("换号旧号扣钱吗", "TX-GH-001", 2),
        ("改号要多久", "TX-GH-001", 1),
    ]
    assert endorsed[0]["last_at"].startswith("2026-11-23T06:00")
    kb(runner, "golden", "add", "换号旧号扣钱吗", "TX-GH-001", "--as", "rev1")
    listed = kb(runner, "golden", "endorsed")
    assert "改号要多久" in listed and "换号旧号扣钱吗" not in listed
