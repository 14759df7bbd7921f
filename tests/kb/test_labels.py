"""Where the labels self-tuning fits on stood, and what came after."""

from __future__ import annotations

from kb import feedback, golden, labels
from kb.labels import LabelMark
from tests.factories import log_unanswered, make_table


def test_a_mark_counts_only_the_agents_votes_and_confirmed_queries_that_came_after(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    feedback.record_vote(session, channel="agent", table=table, helpful=True, query="改号还扣费吗")
    golden.promote(session, "换号旧号还扣钱吗", table, actor="admin1")
    read = labels.read(session)
    assert (len(read.confirmed), len(read.votes), read.mark.read) == (1, 1, 2)
    assert labels.new_since(session, read.mark) == 0

    feedback.record_vote(session, channel="agent", table=None, helpful=False, query="都不对")
    feedback.record_vote(session, channel="customer", table=table, helpful=False, query="没用")
    golden.promote(session, "改号以后原号码还收钱吗", table, actor="admin1")
    assert labels.new_since(session, read.mark) == 2  # the customer's anonymous vote is not one
    # An index tuned before marks were kept: every label is new to it.
    assert labels.new_since(session, LabelMark.from_json(None)) == 4


def test_a_mark_read_back_from_a_saved_tuning_takes_only_whole_counts() -> None:
    mark = LabelMark(vote_id=7, golden_id=3, read=10, log_id=5)
    assert LabelMark.from_json(mark.to_json()) == mark
    assert LabelMark.from_json({"vote_id": "7", "golden_id": -1, "read": None}) == LabelMark()


def test_labels_given_by_an_evaluation_stand_in_for_the_databases(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    golden.promote(session, "换号旧号还扣钱吗", table, actor="admin1")
    feedback.record_vote(session, channel="agent", table=table, helpful=True, query="改号还扣费吗")
    given = [("只测这一条", table.id)]
    read = labels.read(session, confirmed=given, votes=[])
    assert (read.confirmed, read.votes, read.mark.read) == (given, [], 1)
    # What the database holds came before the mark, so none of it is new to this tuning.
    assert labels.new_since(session, read.mark) == 0
    assert labels.read(session, votes=[]).confirmed == [("换号旧号还扣钱吗", table.id)]


def test_a_mark_counts_the_searches_logged_after_it(session) -> None:  # type: ignore[no-untyped-def]
    def ask(text: str) -> None:
        log_unanswered(session, text)

    ask("改号还扣费吗")
    read = labels.read(session)
    assert read.logged == ["改号还扣费吗"]
    assert labels.logged_since(session, read.mark, at_most=9) == 0
    ask("换号旧号还扣钱吗")
    ask("改号还扣费吗")
    assert labels.logged_since(session, read.mark, at_most=9) == 2
    assert labels.new_since(session, read.mark) == 0  # a search is not a label
    assert labels.logged_since(session, LabelMark.from_json(None), at_most=9) == 3
    assert labels.logged_since(session, LabelMark.from_json(None), at_most=2) == 2
