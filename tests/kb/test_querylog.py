from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kb import analytics, feedback, gaps, golden, querylog
from kb.clock import frozen
from kb.errors import ValidationFailed
from kb.models import QueryLogEntry, RevisionState, TableUsage
from tests.factories import char_embed, make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _log(session, query: str, *, table=None, confidence=0.9, abstained=False, at=NOW, enabled=True):  # type: ignore[no-untyped-def]
    results = [querylog.LoggedResult(table.code, table.id, confidence)] if table else []
    return querylog.log_search(
        session,
        enabled=enabled,
        channel="customer",
        query=query,
        normalized=query,
        results=results,
        abstained=abstained,
        latency_ms=12.345,
        at=at,
    )


def test_log_records_results_and_counts_hits(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    entry = _log(session, "改号后旧号还扣费吗", table=table)
    assert entry is not None
    assert entry.results == [{"code": "TX-GH-001", "table_id": table.id, "confidence": 0.9}]
    assert entry.latency_ms == 12.35
    _log(session, "没答案的问题", table=table, abstained=True)
    usage = session.get(TableUsage, table.id)
    assert (usage.hits, usage.last_hit_at) == (1, NOW)


def test_logging_off_writes_nothing(session) -> None:  # type: ignore[no-untyped-def]
    assert _log(session, "任何问题", enabled=False) is None
    assert session.scalars(select(QueryLogEntry)).all() == []


def test_purge_keeps_the_retention_window(session) -> None:  # type: ignore[no-untyped-def]
    _log(session, "旧", at=NOW - timedelta(days=91))
    _log(session, "新", at=NOW - timedelta(days=89))
    assert querylog.purge(session, retention_days=90, now=NOW) == 1
    assert [e.query for e in session.scalars(select(QueryLogEntry))] == ["新"]


def test_votes_count_per_table_and_check_channel(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    feedback.record_vote(session, channel="agent", table=table, helpful=True, query="q")
    feedback.record_vote(session, channel="customer", table=table, helpful=False, query="q")
    usage = session.get(TableUsage, table.id)
    assert (usage.helpful, usage.not_helpful) == (1, 1)
    with pytest.raises(ValidationFailed, match="agent or customer"):
        feedback.record_vote(session, channel="vip", table=table, helpful=True)


def test_clusters_follow_known_groups_and_are_named_by_the_centre() -> None:
    counts = Counter(
        {
            "宽带断网怎么办": 3,
            "宽带断网了怎么办": 2,
            "宽带老是断网怎么办": 1,
            "信用卡额度怎么提高": 2,
            "怎么提高信用卡额度": 1,
            "发票在哪里开": 1,
        }
    )
    clusters = gaps.cluster_queries(counts, char_embed, threshold=0.75)
    assert [(c.name, c.volume) for c in clusters] == [
        ("宽带断网怎么办", 6),
        ("信用卡额度怎么提高", 3),
        ("发票在哪里开", 1),
    ]
    assert clusters[0].queries == ["宽带断网怎么办", "宽带断网了怎么办", "宽带老是断网怎么办"]
    assert gaps.cluster_queries(Counter(), char_embed, threshold=0.75) == []


def test_gap_signals_take_low_confidence_abstentions_and_bad_votes(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    _log(session, "answered well", table=table, confidence=0.9)
    _log(session, "weak match", table=table, confidence=0.2)
    _log(session, "no answer", abstained=True)
    _log(session, "too old", abstained=True, at=NOW - timedelta(days=40))
    feedback.record_vote(
        session, channel="customer", table=table, helpful=False, query="bad answer"
    )
    signals = gaps.gap_signals(session, since=NOW - timedelta(days=30), confidence_floor=0.35)
    assert dict(signals) == {"weak match": 1, "no answer": 1, "bad answer": 1}


def test_golden_set_exports_in_eval_format(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    golden.promote(session, " 换号后旧号码还收钱吗 ", table, actor="admin")
    golden.promote(session, "换号后旧号码还收钱吗", table, actor="admin")  # idempotent
    assert golden.export_dataset(session, tmp_path) == (1, 1)
    queries = (tmp_path / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(queries) == 1 and '"relevant": ["TX-GH-001"]' in queries[0]
    entries = (tmp_path / "entries.jsonl").read_text(encoding="utf-8")
    assert '"answer": "改号完成后原号码停止计费。"' in entries


def _votes(session, table, query: str, helpful: int, not_helpful: int = 0, channel="agent", at=NOW):  # type: ignore[no-untyped-def]
    with frozen(at):
        for verdict in [True] * helpful + [False] * not_helpful:
            feedback.record_vote(
                session, channel=channel, table=table, helpful=verdict, query=query
            )


def test_agents_helpful_answers_are_offered_for_the_golden_set(session) -> None:  # type: ignore[no-untyped-def]
    one = make_table(session)
    two = make_table(session, package=one.package, code="TX-2", title="宽带报修")
    draft = make_table(session, package=one.package, code="TX-3", state=RevisionState.DRAFT)
    _votes(session, one, "换号旧号还扣钱吗", 1, at=NOW - timedelta(hours=1))
    _votes(session, two, " 宽带断了找谁 ", 2)  # agents' texts are stripped
    _votes(session, two, "宽带断了找谁", 1)
    _votes(session, one, "宽带断了找谁", 1, 1)  # as many not helpful: not endorsed
    _votes(session, one, "客户说有用", 5, channel="customer")  # anonymous: not offered
    _votes(session, draft, "草稿的问题", 3)  # no live revision to confirm against
    _votes(session, one, "上个月的问题", 4, at=NOW - timedelta(days=31))  # before the window
    _votes(session, one, "改号", 2)
    golden.promote(session, "改号", one, actor="admin")  # already confirmed
    found = golden.endorsed(session, since=NOW - timedelta(days=30))
    assert [(e.query, e.code, e.title, e.helpful, e.not_helpful) for e in found] == [
        ("宽带断了找谁", "TX-2", "宽带报修", 3, 0),
        ("换号旧号还扣钱吗", "TX-GH-001", "改号后原号码是否还会产生话费", 1, 0),
    ]
    assert found[0].last_at.replace(tzinfo=UTC) == NOW
    assert [e.query for e in golden.endorsed(session, since=NOW - timedelta(days=30), limit=1)] == [
        "宽带断了找谁"
    ]
    golden.promote(session, found[0].query, two, actor="admin")
    assert [e.query for e in golden.endorsed(session, since=NOW - timedelta(days=30))] == [
        "换号旧号还扣钱吗"
    ]


def test_agents_votes_are_what_self_tuning_judges_its_first_suggestion_by(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    _votes(session, table, "改号还扣费吗", 1, 1)
    _votes(session, table, "客户说没用", 0, 3, channel="customer")  # anonymous: left out
    feedback.record_vote(session, channel="agent", table=None, helpful=False, query="都不对")
    logged = _log(session, "从日志来的问题", table=table)
    feedback.record_vote(
        session, channel="agent", table=table, helpful=True, query_log_id=logged.id
    )
    assert feedback.agents_verdicts(session) == [  # most recent first
        ("从日志来的问题", table.id, True),
        ("都不对", None, False),
        ("改号还扣费吗", table.id, False),
        ("改号还扣费吗", table.id, True),
    ]


def test_stale_but_used_lists_busy_tables_near_expiry(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session, review_interval_days=0)
    soon = make_table(session, package=package, valid_until=NOW + timedelta(days=3))
    fresh = make_table(
        session, package=package, code="TX-2", title="新", valid_until=NOW + timedelta(days=300)
    )
    for _ in range(6):
        _log(session, "q", table=soon)
        _log(session, "q", table=fresh)
    found = analytics.stale_but_used(session, now=NOW, within_days=14, min_hits=5)
    assert [(s.code, s.hits, s.expired) for s in found] == [("TX-GH-001", 6, False)]
    summary = analytics.daily_summary(session, since=NOW - timedelta(days=1))
    assert summary == [
        {"date": "2026-11-23", "searches": 12, "abstention_rate": 0.0, "helpful_rate": None}
    ]


def test_logged_questions_are_read_distinct_newest_first(session) -> None:  # type: ignore[no-untyped-def]
    for minutes, text in enumerate(["改号", "查话费", "改号", "宽带报修", "查话费"]):
        _log(session, text, at=NOW + timedelta(minutes=minutes))
    assert querylog.questions(session) == ["查话费", "宽带报修", "改号"]
    assert querylog.questions(session, limit=2) == ["查话费", "宽带报修"]


def test_self_tuning_reads_the_log_with_its_labels(session) -> None:  # type: ignore[no-untyped-def]
    from kb import labels

    _log(session, "改号后旧号还扣费吗")
    assert labels.read(session).logged == ["改号后旧号还扣费吗"]
    assert labels.read(session, logged=["给定的问题"]).logged == ["给定的问题"]
