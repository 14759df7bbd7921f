"""Usage per table, and the dashboard's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from kb import dashboard, feedback, flags, querylog, usage, users
from kb.clock import frozen
from kb.errors import ValidationFailed
from kb.models import KnowledgeTable, RevisionState
from tests.factories import char_embed, make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _search(
    session: Session,
    query: str,
    table: KnowledgeTable | None = None,
    *,
    confidence: float = 0.9,
    at: datetime = NOW,
) -> None:
    querylog.log_search(
        session,
        enabled=True,
        channel="agent",
        query=query,
        normalized=query,
        results=[querylog.LoggedResult(table.code, table.id, confidence)] if table else [],
        abstained=table is None,
        latency_ms=3.0,
        at=at,
    )


def _kb(session: Session) -> tuple[KnowledgeTable, KnowledgeTable]:
    package = make_package(session)
    busy = make_table(session, package=package, code="TX-GH-001")
    quiet = make_table(session, package=package, code="TX-GH-002", title="改号要收费吗")
    make_table(session, package=package, code="TX-GH-003", title="草稿", state=RevisionState.DRAFT)
    bank = make_package(session, "银行服务", "信用卡")
    make_table(session, package=bank, code="YH-XY-001", title="信用卡怎么激活")
    return busy, quiet


def test_usage_rows_count_hits_votes_and_flags(session: Session) -> None:
    busy, quiet = _kb(session)
    for _ in range(3):
        _search(session, "换号旧号扣钱吗", busy)
    _search(session, "改号收费吗", quiet, at=NOW + timedelta(hours=1))
    feedback.record_vote(session, channel="agent", table=busy, helpful=True, query="q")
    feedback.record_vote(session, channel="agent", table=busy, helpful=False, query="q")
    agent = users.create_user(session, "agent1", "agent")
    flags.raise_flag(session, agent, "TX-GH-002", "outdated")
    rows = usage.usage_rows(session, now=NOW)
    assert [(r.code, r.hits, r.helpful, r.not_helpful, r.helpful_rate) for r in rows] == [
        ("TX-GH-001", 3, 1, 1, 0.5),
        ("TX-GH-002", 1, 0, 0, None),
        ("YH-XY-001", 0, 0, 0, None),
    ]  # the draft was never live nor used: not listed
    assert (rows[1].open_flags, rows[1].flags, rows[1].last_hit_at) == (
        1,
        1,
        NOW + timedelta(hours=1),
    )
    by_flags = usage.usage_rows(session, now=NOW, sort="flags")
    assert by_flags[0].code == "TX-GH-002"
    by_recent = usage.usage_rows(session, now=NOW, sort="last_hit")
    assert [r.code for r in by_recent] == ["TX-GH-002", "TX-GH-001", "YH-XY-001"]
    ascending = usage.usage_rows(session, now=NOW, sort="code", descending=False)
    assert [r.code for r in ascending] == ["TX-GH-001", "TX-GH-002", "YH-XY-001"]


def test_usage_rows_follow_scopes_and_refuse_unknown_sorts(session: Session) -> None:
    _kb(session)
    scoped = users.create_user(session, "editor9", "editor", ["银行服务"])
    assert [r.code for r in usage.usage_rows(session, now=NOW, user=scoped)] == ["YH-XY-001"]
    with pytest.raises(ValidationFailed, match="sort must be one of hits, last_hit"):
        usage.usage_rows(session, now=NOW, sort="popularity")


def test_table_usage_lists_the_queries_that_brought_it_up(session: Session) -> None:
    busy, quiet = _kb(session)
    _search(session, "换号旧号扣钱吗", busy)
    _search(session, "换号旧号扣钱吗", busy)
    _search(session, "旧号码还收钱吗", busy)
    _search(session, "改号收费吗", quiet)
    _search(session, "太久以前", busy, at=NOW - timedelta(days=60))
    detail = usage.table_usage(session, "TX-GH-001", now=NOW, since=NOW - timedelta(days=30))
    assert detail.row.hits == 4
    assert detail.queries == [("换号旧号扣钱吗", 2), ("旧号码还收钱吗", 1)]
    assert detail.open_flags == []


def test_dashboard_fills_every_day_in_the_local_zone(session: Session) -> None:
    busy, _quiet = _kb(session)
    # 23:30 UTC on the 21st is already the 22nd in Shanghai.
    _search(session, "换号旧号扣钱吗", busy, at=datetime(2026, 11, 21, 23, 30, tzinfo=UTC))
    _search(session, "以旧换新怎么估价", at=datetime(2026, 11, 22, 1, 0, tzinfo=UTC))
    _search(session, "以旧换新怎么估价", at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    with frozen(NOW - timedelta(days=1)):
        feedback.record_vote(session, channel="agent", table=busy, helpful=True, query="q")
    options = dashboard.DashboardOptions(days=3, threshold=0.8)
    board = dashboard.build(
        session, char_embed, now=NOW, zone=ZoneInfo("Asia/Shanghai"), options=options
    )
    assert [(d["date"], d["searches"], d["abstention_rate"]) for d in board.daily] == [
        ("2026-11-20", 0, None),
        ("2026-11-21", 0, None),
        ("2026-11-22", 3, 0.6667),
        ("2026-11-23", 0, None),
    ]
    assert (board.totals.searches, board.totals.abstained, board.totals.distinct_queries) == (
        3,
        2,
        2,
    )
    assert (board.totals.votes, board.totals.helpful_rate) == (1, 1.0)
    assert board.daily[2]["helpful_rate"] == 1.0
    assert [(q.query, q.count, q.abstained, q.top_code) for q in board.top_queries] == [
        ("以旧换新怎么估价", 2, 2, None),
        ("换号旧号扣钱吗", 1, 0, "TX-GH-001"),
    ]
    assert [(g.name, g.volume) for g in board.top_gaps] == [("以旧换新怎么估价", 2)]
    assert board.gap_count == 1
