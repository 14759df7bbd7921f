"""The one serializer of a search result: what it carries over, and that its JSON round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kb.channels import Channel
from kb.search_contract import MatchedField, SearchResult
from presenters.search_json import AnswerFormat, SearchOut, search_json
from tests.factories import make_scores, make_suggestion

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _result() -> SearchResult:
    first = make_suggestion(
        "TX-GH-001",
        1,
        0.91,
        matched=MatchedField("title", "标题", "改号<后>", ((0, 2),)),
        scores=make_scores(0.8, rerank=1.5, dense_kinds={"title": 0.7, "body": 0.4}),
        expires_at=(NOW + timedelta(days=3)).isoformat(),
        last_verified_at="2026-11-01T00:00:00+00:00",
    )
    second = make_suggestion("TX-GH-002", 2, 0.31, audience="internal")
    return SearchResult(
        query="改号",
        normalized="改号",
        channel=Channel.AGENT,
        mode="hybrid",
        suggestions=(first, second),
        abstained=False,
        threshold=0.25,
        filtered=2,
        timings={"total_ms": 1.5},
    )


def test_the_json_carries_the_result_and_each_suggestion() -> None:
    out = search_json(_result(), now=NOW, took_ms=12.345, query_log_id=7)
    assert (out.query, out.normalized, out.channel, out.mode, out.script) == (
        "改号",
        "改号",
        "agent",
        "hybrid",
        "simplified",
    )
    assert (out.abstained, out.threshold, out.filtered, out.took_ms) == (False, 0.25, 2, 12.35)
    assert (out.query_log_id, out.timings, out.unsure_below) == (7, {"total_ms": 1.5}, 0.5)
    first, second = out.suggestions
    assert first.path == ["a", "b", "标题TX-GH-001"] and first.rank == 1
    assert first.scores.model_dump() == _result().suggestions[0].scores.as_dict()
    assert first.match is not None and first.match.html == "<mark>改号</mark>&lt;后&gt;"
    assert (first.answer, first.answer_format) == ("答", "plain")
    assert first.freshness.expiring_soon and not first.freshness.expired
    assert (first.unsure, second.unsure) == (False, True)
    assert second.audience == "internal" and first.renderings is None


def test_a_channel_format_gives_that_channels_answer_and_renderings_every_channel() -> None:
    out = search_json(_result(), now=NOW, took_ms=1.0, fmt=AnswerFormat.SMS, renderings=True)
    top = out.suggestions[0]
    assert top.answer_format == "sms" and top.answer == "答"
    assert top.renderings is not None
    assert set(top.renderings) == {"agent", "web", "sms", "wechat", "voice"}
    assert top.traditional is None  # the question is in Simplified


def test_the_json_round_trips() -> None:
    out = search_json(_result(), now=NOW, took_ms=3.0, fmt=AnswerFormat.HTML, renderings=True)
    assert SearchOut.model_validate_json(out.model_dump_json()) == out
    assert SearchOut.model_validate(out.model_dump(mode="json")) == out


def test_an_empty_result_is_an_abstention_with_no_suggestions() -> None:
    empty = SearchResult("", "", Channel.CUSTOMER, "bm25", (), True, 0.0, 0)
    out = search_json(empty, now=NOW, took_ms=0.0)
    assert (out.suggestions, out.abstained, out.channel, out.mode) == ([], True, "customer", "bm25")
