"""A search result as JSON: the one shape the API returns and ``kb search --json`` prints.

:func:`search_json` is the only serializer of a :class:`~kb.search_contract.SearchResult`; the
models below are both the API's documented response (the OpenAPI document is built from them)
and what the CLI prints, so a script can switch between the two without a second parser.
Suggestions are taken in the order given: :func:`presenters.results.as_shown` orders them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

from kb.clock import ensure_utc
from kb.search_contract import SearchResult, Suggestion
from presenters import Entry, OutputChannel, PresentOptions, Rendering, present, present_all
from presenters.base import Field as EntryField
from presenters.fields import Format, render_value
from presenters.html import highlight
from presenters.results import UNSURE_BELOW, entry_of, unsure
from presenters.scripts import Script, script_of

EXPIRING_SOON_DAYS = 14


class AnswerFormat(StrEnum):
    """A page format of the answer field, or an output channel's rendering of the answer."""

    PLAIN = "plain"
    MARKDOWN = "markdown"
    HTML = "html"
    AGENT = "agent"
    WEB = "web"
    SMS = "sms"
    WECHAT = "wechat"
    VOICE = "voice"

    @property
    def channel(self) -> OutputChannel | None:
        return None if self.value in {f.value for f in Format} else OutputChannel(self.value)


FORMAT_HELP = (
    "plain, markdown or html (the answer field), or an output channel: agent (the whole entry), "
    "web, sms, wechat, voice"
)


class Snippet(BaseModel):
    field: str = Field(
        description="The field that matched best: title, questions or a template key"
    )
    label: str = Field(description="What people call that field (标题, 相似问法, 标准答复…)")
    text: str = Field(description="Plain text of the match")
    html: str = Field(
        description="The same with the match wrapped in <mark>; everything else escaped"
    )


class Freshness(BaseModel):
    expires_at: datetime | None
    last_verified_at: datetime | None
    valid_until: datetime | None
    expired: bool
    expiring_soon: bool


class RenderingOut(BaseModel):
    """An answer made ready for one output channel (see the `presenters` package)."""

    channel: str = Field(description="agent, web, sms, wechat or voice")
    text: str = Field(description="What to copy or send")
    parts: list[str] = Field(description="SMS: the 70-character segments; else the text")
    truncated: bool = Field(description="Cut to the channel's limit, with a pointer to the rest")
    html: str | None = Field(None, description="web only: the same as safe HTML")


class MyFlag(BaseModel):
    id: int
    reason: str
    comment: str
    raised_at: datetime


class ScoresOut(BaseModel):
    """Each retriever's score and rank, and the parts of the ranking score."""

    score: float = Field(description="The ranking score of the mode asked for")
    fused: float = Field(description="The hybrid blend of the dense and lexical scores")
    rerank: float | None = Field(description="The reranker's score, where self-tuning kept one")
    dense: float
    dense_rank: int | None = Field(description="Place in the dense retriever's order")
    dense_match: str | None = Field(
        description="The vector kind that matched best: title, question, body or entry"
    )
    dense_kinds: dict[str, float] = Field(description="Best cosine per vector kind")
    hub: float
    bm25: float
    coverage: float
    coverage_head: float
    coverage_body: float
    covered: float = Field(description="Share of the title the question says")
    lexical_rank: int | None = Field(description="Place in the lexical retriever's order")
    feedback: float = Field(description="The votes' adjustment included in `score`")
    latent: float | None = Field(
        None,
        description="Cosine of the latent terms (a detail anywhere in the answer); null: none, "
        "or not read (a search under load whose first suggestion led the others by enough "
        "that they could not change it)",
    )
    latent_part: float = Field(
        0.0,
        description="The latent terms' part of `score`; where not 0, the rest is the blend's or "
        "reranker's score standardized over the candidates",
    )


class SuggestionOut(BaseModel):
    code: str
    title: str
    path: list[str] = Field(description="category › package › table title")
    audience: str
    confidence: float
    rank: int = Field(
        description="Place in the retriever's order; suggestions are listed by the confidence "
        "shown (whole percent), which can differ"
    )
    unsure: bool = Field(
        description="Confidence under `unsure_below`: more likely wrong than right"
    )
    scores: ScoresOut = Field(description="Per retriever scores and ranks")
    match: Snippet | None
    answer: str = Field(description="The standard answer (标准答复) in the requested format")
    answer_format: str
    freshness: Freshness
    renderings: dict[str, RenderingOut] | None = Field(
        None, description="With `renderings=true`: the answer for every output channel"
    )
    traditional: dict[str, RenderingOut] | None = Field(
        None,
        description="With `renderings=true` and a question in Traditional Chinese: the same, "
        "converted to Traditional (OpenCC)",
    )
    my_flags: list[MyFlag] = Field(
        default_factory=list, description="Open flags the caller raised on this table"
    )


class SearchOut(BaseModel):
    query: str = Field(description="The question as searched (trimmed)")
    normalized: str = Field("", description="The question as the analyzer reads it")
    channel: str
    mode: str
    script: str = Field("simplified", description="simplified or traditional: the question's")
    abstained: bool = Field(description="True when no suggestion is confident enough")
    threshold: float = Field(0.0, description="Confidence under which the service abstains")
    unsure_below: float = Field(0.5, description="Confidence under which a suggestion is 无把握")
    filtered: int = Field(description="Hits hidden by the channel's visibility rules")
    suggestions: list[SuggestionOut]
    query_log_id: int | None = Field(None, description="The query log's entry (API only)")
    took_ms: float
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Where the search spent its time, in ms (bm25, encode, signals, rank, total)",
    )


class FlagLike(Protocol):
    """An open flag as :func:`kb.agent_view.open_flags_by` gives it."""

    @property
    def id(self) -> int: ...

    @property
    def reason(self) -> Any: ...

    @property
    def comment(self) -> str: ...

    @property
    def raised_at(self) -> datetime: ...


def rendering_out(rendering: Rendering) -> RenderingOut:
    return RenderingOut(
        channel=rendering.channel.value,
        text=rendering.text,
        parts=list(rendering.parts),
        truncated=rendering.truncated,
        html=rendering.html,
    )


def answer_in(entry: Entry, fmt: AnswerFormat, options: PresentOptions) -> str:
    """The answer of ``entry`` in ``fmt`` (empty when the channel may not see an answer)."""
    channel = fmt.channel
    if channel is not None:
        return present(entry, channel, options).text
    answer: EntryField | None = entry.answer
    if answer is None:
        return ""
    return render_value(answer.value, answer.type, Format(fmt.value))


def renderings_out(
    entry: Entry, options: PresentOptions, traditional: str | None = None
) -> dict[str, RenderingOut]:
    return {
        name: rendering_out(r)
        for name, r in present_all(entry, options, traditional=traditional).items()
    }


def my_flags(found: Sequence[FlagLike]) -> list[MyFlag]:
    return [
        MyFlag(id=f.id, reason=str(f.reason), comment=f.comment, raised_at=f.raised_at)
        for f in found
    ]


def snippet_of(suggestion: Suggestion) -> Snippet:
    """The suggestion's best-matching field: snippet text and highlighted HTML."""
    matched = suggestion.matched
    return Snippet(
        field=matched.key,
        label=matched.label,
        text=matched.snippet,
        html=highlight(matched.snippet, list(matched.spans)),
    )


def _when(value: str | None) -> datetime | None:
    return None if value is None else ensure_utc(datetime.fromisoformat(value))


def freshness(suggestion: Suggestion, now: datetime) -> Freshness:
    end = _when(suggestion.expires_at)
    expired = suggestion.expired
    return Freshness(
        expires_at=end,
        last_verified_at=_when(suggestion.last_verified_at),
        valid_until=_when(suggestion.valid_until),
        expired=expired,
        expiring_soon=end is not None
        and not expired
        and end - now <= timedelta(days=EXPIRING_SOON_DAYS),
    )


def suggestion_json(
    suggestion: Suggestion,
    fmt: AnswerFormat,
    now: datetime,
    *,
    options: PresentOptions | None = None,
    renderings: bool = False,
    traditional: str | None = None,
    flags: Sequence[FlagLike] = (),
) -> SuggestionOut:
    """One suggestion; ``traditional`` (an OpenCC variant) adds the renderings in Traditional."""
    options = options or PresentOptions()
    entry = entry_of(suggestion)
    return SuggestionOut(
        code=suggestion.code,
        title=suggestion.title,
        path=[suggestion.category, suggestion.package, suggestion.title],
        audience=suggestion.audience,
        confidence=round(suggestion.confidence, 4),
        rank=suggestion.rank,
        unsure=unsure(suggestion.confidence),
        scores=ScoresOut.model_validate(suggestion.scores, from_attributes=True),
        match=snippet_of(suggestion),
        answer=answer_in(entry, fmt, options),
        answer_format=fmt.value,
        freshness=freshness(suggestion, now),
        renderings=renderings_out(entry, options) if renderings else None,
        traditional=renderings_out(entry, options, traditional)
        if renderings and traditional
        else None,
        my_flags=my_flags(flags),
    )


def search_json(
    result: SearchResult,
    *,
    now: datetime,
    took_ms: float,
    fmt: AnswerFormat = AnswerFormat.PLAIN,
    options: PresentOptions | None = None,
    renderings: bool = False,
    traditional_variant: str = "s2twp",
    flags: Mapping[str, Sequence[FlagLike]] | None = None,
    query_log_id: int | None = None,
) -> SearchOut:
    """``result`` as JSON (the API's response and ``kb search --json``).

    Args:
        now: the moment freshness is judged at (``expiring_soon``).
        fmt: how each suggestion's ``answer`` is given.
        renderings: add every output channel's rendering of each answer (and, for a question
            in Traditional Chinese, the same converted with ``traditional_variant``).
        flags: the caller's open flags by table code.
    """
    script = script_of(result.query)
    traditional = traditional_variant if script is Script.TRADITIONAL else None
    return SearchOut(
        query=result.query,
        normalized=result.normalized,
        channel=result.channel.value,
        mode=result.mode,
        script=script.value,
        abstained=result.abstained,
        threshold=result.threshold,
        unsure_below=UNSURE_BELOW,
        filtered=result.filtered,
        suggestions=[
            suggestion_json(
                s,
                fmt,
                now,
                options=options,
                renderings=renderings,
                traditional=traditional,
                flags=(flags or {}).get(s.code, ()),
            )
            for s in result.suggestions
        ],
        query_log_id=query_log_id,
        took_ms=round(took_ms, 2),
        timings=dict(result.timings),
    )
