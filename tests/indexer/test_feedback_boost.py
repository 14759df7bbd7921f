"""Votes → per-table adjustments: bounds, decay, channel trust, query matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from indexer.feedback_boost import (
    FeedbackParams,
    Vote,
    VoteBook,
    adjustments,
    query_key,
    vote_weight,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PARAMS = FeedbackParams(step=0.05, cap=0.1, half_life_days=30.0)


def vote(
    table_id: int,
    helpful: bool = True,
    *,
    days_ago: float = 0.0,
    channel: str = "agent",
    query: str = "改号后还扣费吗",
) -> Vote:
    return Vote(query_key(query), table_id, helpful, NOW - timedelta(days=days_ago), channel)


def test_one_fresh_vote_moves_a_table_by_one_step() -> None:
    assert adjustments([vote(1), vote(2, False)], channel="agent", now=NOW, params=PARAMS) == {
        1: pytest.approx(0.05),
        2: pytest.approx(-0.05),
    }


def test_no_number_of_votes_moves_a_table_past_the_cap() -> None:
    votes = [vote(1)] * 500 + [vote(2, False)] * 500
    assert adjustments(votes, channel="agent", now=NOW, params=PARAMS) == {1: 0.1, 2: -0.1}


def test_opposite_votes_cancel_and_leave_no_adjustment() -> None:
    votes = [vote(1), vote(1, False), vote(1), vote(1, False)]
    assert adjustments(votes, channel="agent", now=NOW, params=PARAMS) == {}


def test_a_vote_weighs_half_after_one_half_life() -> None:
    assert vote_weight(timedelta(0), 30.0) == 1.0
    assert vote_weight(timedelta(days=30), 30.0) == pytest.approx(0.5)
    assert vote_weight(timedelta(days=90), 30.0) == pytest.approx(0.125)
    old = adjustments([vote(1, days_ago=30)], channel="agent", now=NOW, params=PARAMS)
    assert old == {1: pytest.approx(0.025)}


def test_a_fresh_vote_outweighs_an_old_contrary_one() -> None:
    votes = [vote(1, True, days_ago=60), vote(1, False, days_ago=0)]
    assert adjustments(votes, channel="agent", now=NOW, params=PARAMS) == {
        1: pytest.approx(0.05 * (0.25 - 1.0))
    }


def test_votes_cast_after_the_moment_searched_do_not_count() -> None:
    later = Vote(query_key("x"), 1, True, NOW + timedelta(hours=1), "agent")
    assert adjustments([later], channel="agent", now=NOW, params=PARAMS) == {}


def test_customer_votes_count_for_customers_only_agent_votes_for_both() -> None:
    votes = [vote(1, channel="customer"), vote(2, channel="agent")]
    assert adjustments(votes, channel="agent", now=NOW, params=PARAMS) == {2: 0.05}
    assert adjustments(votes, channel="customer", now=NOW, params=PARAMS) == {1: 0.05, 2: 0.05}


def test_query_key_ignores_case_width_script_spaces_and_punctuation() -> None:
    key = query_key("改号后还扣费吗")
    for same in ("改號後還扣費嗎", "改号后 还扣费吗？", "  改号后还扣费吗?!", "改号后，还扣费吗。"):
        assert query_key(same) == key
    assert query_key("ＥＴＣ 怎么激活") == query_key("etc怎么激活")
    assert query_key("改号后还收费吗") != key  # another wording is another query
    assert query_key("？！。") == ""


def test_vote_book_matches_votes_to_the_same_query_only() -> None:
    book = VoteBook()
    added = book.add(
        [
            (1, vote(7, query="改号后还扣费吗")),
            (2, vote(8, False, query="改號後還扣費嗎？")),
            (3, vote(9, query="信用卡怎么还款")),
            (4, vote(9, query="？")),  # no text left to match: kept out
        ]
    )
    assert added == 3 and len(book) == 3 and book.last_id == 4
    assert book.adjustments("改号后 还扣费吗", channel="agent", now=NOW, params=PARAMS) == {
        7: 0.05,
        8: -0.05,
    }
    assert book.adjustments("改号后还收费吗", channel="agent", now=NOW, params=PARAMS) == {}


def test_vote_book_prune_forgets_votes_before_a_moment() -> None:
    book = VoteBook()
    book.add([(1, vote(1, days_ago=400)), (2, vote(2, days_ago=1))])
    book.prune(NOW - timedelta(days=300))
    assert [v.table_id for v in book.votes_for("改号后还扣费吗")] == [2]


@pytest.mark.parametrize("field", ["step", "cap", "half_life_days"])
def test_params_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be > 0"):
        FeedbackParams(**{field: 0.0})  # type: ignore[arg-type]
