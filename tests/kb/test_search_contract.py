"""The search contract: defaults, and refusals that name the field, the value and what is accepted."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from kb.channels import Channel
from kb.errors import ValidationFailed
from kb.search_contract import MAX_K, MAX_TAGS, Scope, SearchRequest, SearchResult
from tests.factories import make_scores, make_suggestion


def test_defaults_are_an_agents_hybrid_search_of_five_over_everything_now() -> None:
    request = SearchRequest("改号")
    assert (request.channel, request.k, request.mode) == (Channel.AGENT, 5, "hybrid")
    assert request.scope == Scope() and request.scope.empty
    assert (request.include_expired, request.at) == (False, None)


def test_a_request_is_frozen_and_coerces_its_channel_and_tags() -> None:
    request = SearchRequest("改号", "customer", scope=Scope(tags=["改号"]))  # type: ignore[arg-type]
    assert request.channel is Channel.CUSTOMER
    assert request.scope.tags == ("改号",) and not request.scope.empty
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.k = 7  # type: ignore[misc]


def test_expired_tables_are_shown_to_agents_who_ask_only() -> None:
    assert SearchRequest("q", Channel.AGENT, include_expired=True).expired_shown
    assert not SearchRequest("q", Channel.CUSTOMER, include_expired=True).expired_shown
    assert not SearchRequest("q", Channel.AGENT).expired_shown


def test_an_empty_scope_name_is_no_filter() -> None:
    assert Scope(category="", package="") == Scope()
    assert Scope(tags=("", " ")) == Scope()  # it filtered out every table
    assert Scope(tags=("", "改号")).tags == ("改号",)


@pytest.mark.parametrize(
    ("overrides", "field", "value", "accepted"),
    [
        ({"k": 0}, "k", 0, f"a whole number from 1 to {MAX_K}"),
        ({"k": MAX_K + 1}, "k", MAX_K + 1, f"a whole number from 1 to {MAX_K}"),
        ({"k": True}, "k", True, "a whole number"),
        ({"mode": "sparse"}, "mode", "sparse", "one of hybrid, bm25, dense"),
        ({"channel": "robot"}, "channel", "robot", "one of agent, customer"),
        ({"query": None}, "query", None, "text"),
        ({"include_expired": "yes"}, "include_expired", "yes", "true or false"),
        ({"at": datetime(2026, 1, 1)}, "at", datetime(2026, 1, 1), "timezone-aware"),
    ],
)
def test_refusals_name_the_field_the_value_and_what_is_accepted(
    overrides: dict[str, Any], field: str, value: object, accepted: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        SearchRequest(**{"query": "改号", **overrides})
    (problem,) = raised.value.problems
    assert (problem.field, problem.value) == (field, value)
    assert repr(value) in problem.message and accepted in problem.message


@pytest.mark.parametrize(
    ("scope", "field", "accepted"),
    [
        ({"category": "x" * 202}, "scope.category", "at most 201 characters"),
        ({"package": 3}, "scope.package", "at most 201 characters"),
        ({"tags": "改号"}, "scope.tags", "a list of tag names"),
        ({"tags": ["t"] * (MAX_TAGS + 1)}, "scope.tags", f"at most {MAX_TAGS} tags"),
    ],
)
def test_scope_refusals_name_their_field(scope: dict[str, Any], field: str, accepted: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        Scope(**scope)
    (problem,) = raised.value.problems
    assert problem.field == field and accepted in problem.message


def test_an_aware_moment_is_accepted() -> None:
    at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert SearchRequest("改号", at=at).at == at


def test_empty_result_abstains_for_the_requests_channel_and_mode() -> None:
    result = SearchResult.empty(SearchRequest("  ", Channel.CUSTOMER, mode="bm25"))
    assert (result.channel, result.mode, result.suggestions) == (Channel.CUSTOMER, "bm25", ())
    assert result.abstained and result.filtered == 0


def test_a_suggestion_knows_its_path_answer_and_scores() -> None:
    s = make_suggestion("TX-GH-001", scores=make_scores(0.7, feedback=0.1))
    assert s.path == "a › b › 标题TX-GH-001"
    assert s.answer is not None and s.answer.text == "**答**"
    parts = s.scores.as_dict()
    assert parts["score"] == 0.7 and parts["feedback"] == 0.1
    assert list(parts) == [f.name for f in dataclasses.fields(s.scores)]
    assert s.matched.marked() == "【标题】TX-GH-001"
