"""Votes in the search service: off by default, query-matched, bounded, never past visibility.

The fake encoder's scores are on a wider scale than e5's, so these tests use a larger step and
cap than the defaults; the rules do not depend on the scale.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from indexer.search import SearchResult
from indexer.service import SearchService
from kb import feedback, tables
from kb.clock import frozen, utcnow
from kb.db import Database
from kb.settings import Settings
from kb.visibility import Channel
from tests.factories import ask

QUERY = "信用卡"  # agents: BK-XY-001 (1.22) then the internal BK-IN-009 (0.49), fake encoder


VOTES = {"feedback_ranking": True, "feedback_step": 0.4, "feedback_cap": 0.8}


@pytest.fixture
def on(settings: Settings) -> Settings:
    """Votes on, and no latent terms: the score is then the blend's plus the votes, the scale
    the cap is on (with latent terms both are standardized over the pool, see the last test)."""
    kinds = [k for k in settings.vector_kinds if k != "latent"]
    return settings.model_copy(update={**VOTES, "vector_kinds": kinds})


def vote(
    db: Database,
    code: str,
    helpful: bool,
    *,
    query: str = QUERY,
    channel: str = "agent",
    n: int = 1,
) -> None:
    with db.transaction() as session:
        table = tables.get_table(session, code)
        for _ in range(n):
            feedback.record_vote(
                session, channel=channel, table=table, helpful=helpful, query=query
            )


def ranked(result: SearchResult) -> list[tuple[str, float]]:
    return [(s.code, s.scores.feedback) for s in result.suggestions]


def test_feedback_ranking_is_off_by_default(
    settings: Settings, filled_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZHIKU_FEEDBACK_RANKING", raising=False)
    assert Settings().feedback_ranking is False
    service = SearchService.open(settings, filled_db)
    before = service.search(ask(QUERY))
    vote(filled_db, "BK-IN-009", True, n=5)
    vote(filled_db, "BK-XY-001", False, n=5)
    assert service.refresh_feedback() == 0
    after = SearchService.open(settings, filled_db).search(ask(QUERY))
    assert ranked(after) == ranked(before)
    assert {s.scores.feedback for s in after.suggestions} == {0.0}


def test_votes_reorder_the_query_they_were_given_on(on: Settings, filled_db: Database) -> None:
    service = SearchService.open(on, filled_db)
    before = service.search(ask(QUERY))
    assert [s.code for s in before.suggestions[:2]] == ["BK-XY-001", "BK-IN-009"]
    vote(filled_db, "BK-IN-009", True)
    vote(filled_db, "BK-XY-001", False)
    assert service.refresh_feedback() == 2
    after = service.search(ask(QUERY))
    assert ranked(after)[:2] == [("BK-IN-009", 0.4), ("BK-XY-001", -0.4)]
    top = after.suggestions[0]
    assert top.scores.score == pytest.approx(top.scores.fused + 0.4, abs=1e-3)
    # the confidence is the model's, without votes: feedback reorders, it does not reassure;
    # a table voted below another shows no more confidence than that one
    confidence = {s.code: s.confidence for s in before.suggestions}
    shown = [s.confidence for s in after.suggestions]
    assert shown == sorted(shown, reverse=True)
    assert after.suggestions[0].confidence == confidence["BK-IN-009"]
    assert all(s.confidence <= confidence[s.code] for s in after.suggestions)


def test_near_identical_queries_share_votes_other_queries_keep_their_ranking(
    on: Settings, filled_db: Database
) -> None:
    service = SearchService.open(on, filled_db)
    other_before = ranked(service.search(ask("信用卡额度")))
    vote(filled_db, "BK-IN-009", True)
    vote(filled_db, "BK-XY-001", False)
    service.refresh_feedback()
    for same in ("信用卡？", " 信用卡 ", "信用卡!"):
        adjusted = {code: f for code, f in ranked(service.search(ask(same))) if f}
        assert adjusted == {"BK-IN-009": 0.4, "BK-XY-001": -0.4}
    assert ranked(service.search(ask("信用卡额度"))) == other_before


def test_a_vote_never_lifts_a_table_the_channel_may_not_see(
    on: Settings, filled_db: Database
) -> None:
    service = SearchService.open(on, filled_db)
    customer_before = service.search(ask(QUERY, channel=Channel.CUSTOMER))
    agent_before = service.search(ask(QUERY))
    # agents' votes count for customers too, but BK-IN-009 is internal and BK-DR-010 a draft
    vote(filled_db, "BK-IN-009", True, n=20)
    vote(filled_db, "BK-DR-010", True, n=20)
    service.refresh_feedback()
    customer = service.search(ask(QUERY, channel=Channel.CUSTOMER))
    assert ranked(customer) == ranked(customer_before)
    assert customer.filtered == customer_before.filtered
    agent = service.search(ask(QUERY))
    assert "BK-DR-010" not in [s.code for s in agent.suggestions]
    assert agent.filtered == agent_before.filtered


def test_a_voted_table_outside_the_scope_stays_out(on: Settings, filled_db: Database) -> None:
    vote(filled_db, "TX-GH-001", True, n=3)
    service = SearchService.open(on, filled_db)
    scoped = service.search(ask(QUERY, category="银行业务"))
    assert "TX-GH-001" not in [s.code for s in scoped.suggestions]


def test_customer_votes_do_not_move_agent_results(on: Settings, filled_db: Database) -> None:
    service = SearchService.open(on, filled_db)
    agent_before = ranked(service.search(ask(QUERY)))
    vote(filled_db, "TX-5G-002", True, channel="customer")
    service.refresh_feedback()
    assert ranked(service.search(ask(QUERY))) == agent_before
    customer = dict(ranked(service.search(ask(QUERY, channel=Channel.CUSTOMER))))
    assert customer["TX-5G-002"] == 0.4


def test_many_votes_move_a_table_by_the_cap_at_most(on: Settings, filled_db: Database) -> None:
    service = SearchService.open(on, filled_db)
    vote(filled_db, "TX-GH-001", True, n=100)
    service.refresh_feedback()
    result = service.search(ask(QUERY))
    codes = [s.code for s in result.suggestions]
    lifted = result.suggestions[codes.index("TX-GH-001")]
    assert lifted.scores.feedback == 0.8
    assert lifted.scores.score == pytest.approx(lifted.scores.fused + 0.8, abs=1e-3)
    # lifted past BK-IN-009 (0.49) but, capped, not past the top (1.22 > 0.13 + 0.8)
    assert codes[:3] == ["BK-XY-001", "TX-GH-001", "BK-IN-009"]


def test_old_votes_weigh_less(on: Settings, filled_db: Database) -> None:
    with frozen(utcnow() - timedelta(days=60)):  # two half-lives ago
        vote(filled_db, "BK-IN-009", True)
    service = SearchService.open(on, filled_db)
    assert dict(ranked(service.search(ask(QUERY))))["BK-IN-009"] == pytest.approx(0.1, abs=1e-3)


def test_votes_apply_to_the_hybrid_mode_only(on: Settings, filled_db: Database) -> None:
    vote(filled_db, "BK-IN-009", True)
    service = SearchService.open(on, filled_db)
    for mode in ("bm25", "dense"):
        assert {s.scores.feedback for s in service.search(ask(QUERY, mode=mode)).suggestions} == {
            0.0
        }


def test_votes_reorder_with_latent_terms_too(settings: Settings, filled_db: Database) -> None:
    service = SearchService.open(settings.model_copy(update=VOTES), filled_db)
    vote(filled_db, "BK-IN-009", True)
    vote(filled_db, "BK-XY-001", False)
    assert service.refresh_feedback() == 2
    after = service.search(ask(QUERY))
    assert ranked(after)[:2] == [("BK-IN-009", 0.4), ("BK-XY-001", -0.4)]
    assert after.suggestions[0].scores.latent_part != 0  # the latent terms joined the score
