"""The search contract: what the API, the CLI, the portal and eval ask, and what search answers.

One request type and one result type, frozen, free of HTTP and of index internals:

- :class:`SearchRequest` — the question, whose view (:class:`~kb.channels.Channel`), how many
  suggestions (``k``), the retrieval ``mode``, a :class:`Scope` (category, package, tags),
  whether an agent sees expired tables too, and the moment the knowledge base is read at;
- :class:`SearchResult` — :class:`Suggestion` objects (table code, title, path, the
  :class:`MatchedField` with its snippet, the fields the channel may see, :class:`Scores`,
  confidence, freshness), whether search abstains, the threshold and what was filtered.

:mod:`indexer.service` implements :class:`Searcher`; ``presenters.search_json`` is the one
serializer of a result (the API's JSON and ``kb search --json``). A request that breaks a rule
raises :class:`~kb.errors.ValidationFailed` naming the field, the value and what is accepted.
The edges keep their own, tighter bounds (the API's query length and ``k``: ``api.limits``;
the CLI and eval read datasets, whose questions may be longer).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Protocol

from kb.channels import Channel
from kb.errors import ValidationFailed

MODES = ("hybrid", "bm25", "dense")
MAX_K = 100  # the most suggestions any caller asks for (`kb hit-test --k`); the API allows 20
MAX_TAGS = 20
MAX_SCOPE_CHARS = 201  # "category/package"
ANSWER_KEY = "answer"  # kb.templates.ANSWER_KEY; not imported: the contract loads no models

FieldValue = str | list[str]  # text, or the items of a steps/list field


def _invalid(name: str, value: object, accepted: str) -> ValidationFailed:
    return ValidationFailed.one(
        f"search {name} {value!r} is not accepted: {accepted}", field=name, value=value
    )


@dataclass(frozen=True)
class Scope:
    """Which tables a search may answer from; empty: all the channel may see."""

    category: str | None = None
    package: str | None = None  # "package" or "category/package"
    tags: tuple[str, ...] = ()  # every one of them (compared normalized)

    def __post_init__(self) -> None:
        for name in ("category", "package"):
            value = getattr(self, name)
            if value == "":
                object.__setattr__(self, name, None)  # an empty form field: no filter
            elif value is not None and not (
                isinstance(value, str) and len(value) <= MAX_SCOPE_CHARS
            ):
                raise _invalid(
                    f"scope.{name}", value, f"a name of at most {MAX_SCOPE_CHARS} characters"
                )
        if isinstance(self.tags, str) or not all(isinstance(t, str) for t in self.tags):
            raise _invalid("scope.tags", self.tags, "a list of tag names")
        # An empty tag (a form's blank field) is no filter, as an empty category is none.
        object.__setattr__(self, "tags", tuple(t for t in self.tags if t.strip()))
        if len(self.tags) > MAX_TAGS:
            raise _invalid("scope.tags", list(self.tags), f"at most {MAX_TAGS} tags")

    @property
    def empty(self) -> bool:
        return not (self.category or self.package or self.tags)


@dataclass(frozen=True)
class SearchRequest:
    """One search, as every caller asks it.

    ``include_expired`` applies to agents only (customers never see an expired table);
    ``at`` (timezone-aware): read the knowledge base as it is at that moment; None: now.
    """

    query: str
    channel: Channel = Channel.AGENT
    k: int = 5
    mode: str = "hybrid"
    scope: Scope = field(default_factory=Scope)
    include_expired: bool = False
    at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.query, str):
            raise _invalid("query", self.query, "text")
        try:
            object.__setattr__(self, "channel", Channel(self.channel))
        except ValueError:
            raise _invalid("channel", self.channel, _one_of(tuple(Channel))) from None
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= MAX_K:
            raise _invalid("k", self.k, f"a whole number from 1 to {MAX_K}")
        if self.mode not in MODES:
            raise _invalid("mode", self.mode, _one_of(MODES))
        if not isinstance(self.scope, Scope):
            raise _invalid("scope", self.scope, "a Scope")
        if not isinstance(self.include_expired, bool):
            raise _invalid("include_expired", self.include_expired, "true or false")
        if self.at is not None and (not isinstance(self.at, datetime) or self.at.tzinfo is None):
            raise _invalid("at", self.at, "a timezone-aware date-time (UTC), or none for now")

    @property
    def expired_shown(self) -> bool:
        """Whether expired tables are listed (marked): agents who asked for them only."""
        return self.include_expired and self.channel is Channel.AGENT


def _one_of(values: tuple[str, ...]) -> str:
    return "one of " + ", ".join(str(v) for v in values)


@dataclass(frozen=True)
class ShownField:
    """A field of a suggested table, as the channel may see it (what presenters render)."""

    key: str
    label: str
    type: str  # text | markdown | steps | list
    audience: str  # public | internal
    value: FieldValue

    @property
    def text(self) -> str:
        if isinstance(self.value, list):
            return "\n".join(self.value)
        return self.value


@dataclass(frozen=True)
class MatchedField:
    """The visible field that matched the question best, with a highlighted snippet."""

    key: str  # title | questions | a template field key
    label: str
    snippet: str
    spans: tuple[tuple[int, int], ...]  # highlighted [start, end) offsets into snippet

    def marked(self, before: str = "【", after: str = "】") -> str:
        out, last = [], 0
        for start, end in self.spans:
            out += [self.snippet[last:start], before, self.snippet[start:end], after]
            last = end
        out.append(self.snippet[last:])
        return "".join(out)


ScoreValue = float | int | str | None | dict[str, float]


@dataclass(frozen=True)
class Scores:
    """Each retriever's score and rank, and the parts of the ranking score (``--explain``)."""

    score: float  # the ranking score of the mode asked for
    fused: float  # the hybrid blend
    rerank: float | None  # the reranker's score, where self-tuning kept one
    dense: float
    dense_rank: int | None
    dense_match: str | None  # the vector kind that matched best: title, question, body, entry
    dense_kinds: dict[str, float]  # best cosine per vector kind
    hub: float
    bm25: float
    coverage: float
    coverage_head: float
    coverage_body: float
    covered: float
    lexical_rank: int | None
    feedback: float  # the votes' adjustment included in ``score``
    latent: float | None = None  # the latent-terms cosine (None: none, or not read under load)
    latent_part: float = 0.0  # its part of ``score``; non-zero: the rest is standardized

    def as_dict(self) -> dict[str, ScoreValue]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Suggestion:
    code: str
    title: str
    category: str
    package: str
    matched: MatchedField
    fields: tuple[ShownField, ...]  # what the channel may see, in template order
    scores: Scores
    confidence: float
    audience: str
    valid_until: str | None
    expires_at: str | None
    last_verified_at: str | None
    expired: bool
    table_id: int = 0
    rank: int = 0  # 1-based place in the retrieval's order (shown order may differ: presenters)

    @property
    def path(self) -> str:
        return f"{self.category} › {self.package} › {self.title}"

    @property
    def answer(self) -> ShownField | None:
        """The standard answer (标准答复), when the channel may see it."""
        return next((f for f in self.fields if f.key == ANSWER_KEY), None)


@dataclass(frozen=True)
class SearchResult:
    query: str  # as searched (trimmed)
    normalized: str
    channel: Channel
    mode: str
    suggestions: tuple[Suggestion, ...]
    abstained: bool
    threshold: float
    filtered: int  # candidates hidden by visibility and scope rules
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def empty(cls, request: SearchRequest, *, query: str = "") -> SearchResult:
        """Nothing to search for: no suggestion, abstained."""
        return cls(query, "", request.channel, request.mode, (), True, 0.0, 0)


class Searcher(Protocol):
    """Anything that answers a :class:`SearchRequest` (the service, a test double)."""

    def search(self, request: SearchRequest) -> SearchResult: ...
