"""A result as shown: ordered by the confidence shown, abstaining on what is shown first."""

from __future__ import annotations

from kb.channels import Channel
from kb.search_contract import SearchResult, Suggestion
from presenters.results import as_shown, entry_of, percent, shown_order
from tests.factories import make_suggestion


def _suggestion(code: str, rank: int, confidence: float) -> Suggestion:
    return make_suggestion(code, rank, confidence)


def _result(*suggestions: Suggestion, threshold: float = 0.3) -> SearchResult:
    return SearchResult("q", "q", Channel.AGENT, "hybrid", suggestions, False, threshold, 0)


def test_shown_order_follows_the_shown_percent_and_keeps_ties_in_retrieval_order() -> None:
    ranked = [_suggestion("A", 1, 0.29), _suggestion("B", 2, 0.36), _suggestion("C", 3, 0.364)]
    assert [s.code for s in shown_order(ranked)] == ["B", "C", "A"]  # 36% and 36%: B first
    assert [percent(s.confidence) for s in shown_order(ranked)] == [36, 36, 29]


def test_abstention_is_decided_on_what_is_shown_first() -> None:
    shown = as_shown(_result(_suggestion("A", 1, 0.2), _suggestion("B", 2, 0.4)))
    assert [s.code for s in shown.suggestions] == ["B", "A"] and shown.abstained is False
    assert as_shown(_result(_suggestion("A", 1, 0.2))).abstained is True
    assert as_shown(_result()).abstained is True


def test_an_entry_carries_the_fields_the_channel_saw() -> None:
    entry = entry_of(_suggestion("A", 1, 0.9))
    assert (entry.code, entry.path, entry.public) == ("A", ("a", "b"), True)
    assert [(f.key, f.internal) for f in entry.fields] == [("answer", False), ("note", True)]
