"""Search: a :class:`~kb.search_contract.SearchRequest` answered with suggestions (path,
matched field and snippet, field values, scores) from a :class:`HybridIndex`.

Visibility is decided here, at query time, by :mod:`kb.visibility` over each candidate's
indexed metadata, so a table that went stale a second ago is already gone. What the channel
may not see never reaches a suggestion: a customer's matched field, snippet and fields come
from public fields only. Suggestions carry data (field values with their type); how an answer
reads in a page, an SMS or a voice prompt is decided at the edge, by :mod:`presenters`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from indexer.analysis import normalize_char
from indexer.backends.base import Filters, in_scope
from indexer.documents import DocField, IndexDocument, is_markdown
from indexer.index import Candidate, HybridIndex
from kb.clock import utcnow
from kb.markup import plain_text
from kb.search_contract import (
    MatchedField,
    Scope,
    Scores,
    SearchRequest,
    SearchResult,
    ShownField,
    Suggestion,
)
from kb.text import normalize
from kb.visibility import Channel

SNIPPET_CHARS = 80
_HAN = re.compile(r"[\u3400-\u9fff]")


def run_search(
    index: HybridIndex,
    request: SearchRequest,
    *,
    feedback: Mapping[int, float] | None = None,
) -> SearchResult:
    """Answer ``request`` from ``index`` as its channel would see it (see the module docstring).

    ``feedback``: per-table vote adjustments for this query (:mod:`indexer.feedback_boost`);
    the index applies them to visible tables only.
    """
    started = time.perf_counter()
    now = request.at or utcnow()
    channel = request.channel
    include_expired = request.expired_shown
    scope = _scope(index, request.scope)

    def allowed(doc: IndexDocument) -> bool:
        return doc.visible(channel, now, include_expired=include_expired)

    query = request.query.strip()
    if not query:
        return SearchResult.empty(request)
    retrieval = index.retrieve(
        query,
        channel=channel.value,
        mode=request.mode,
        k=request.k,
        allowed=allowed,
        scope=scope,
        feedback=feedback,
        filters=Filters(
            channel=channel.value,
            now=now,
            include_expired=include_expired,
            category=request.scope.category or None,
            package=request.scope.package or None,
            tags=tuple(request.scope.tags),
        ),
    )
    threshold = index.calibration.thresholds.get(channel.value, 0.5)
    terms = _query_terms(index, query)
    suggestions = tuple(
        _suggestion(index, c, terms, channel, now, rank)
        for rank, c in enumerate(retrieval.candidates, 1)
    )
    abstained = not suggestions or suggestions[0].confidence < threshold
    timings = dict(retrieval.timings)
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    return SearchResult(
        query=query,
        normalized=normalize(query),
        channel=channel,
        mode=request.mode,
        suggestions=suggestions,
        abstained=abstained,
        threshold=threshold,
        filtered=retrieval.filtered,
        timings={k_: round(v, 2) for k_, v in timings.items()},
    )


def _scope(index: HybridIndex, scope: Scope) -> set[int] | None:
    if scope.empty:
        return None
    return {
        t
        for t, doc in index.docs.items()
        if in_scope(doc, scope.category, scope.package, scope.tags)
    }


def _shown(f: DocField) -> ShownField:
    value = [str(v) for v in f.value] if isinstance(f.value, list) else str(f.value)
    return ShownField(f.key, f.label, f.type, f.audience, value)


def _suggestion(
    index: HybridIndex,
    c: Candidate,
    terms: list[str],
    channel: Channel,
    now: datetime,
    rank: int,
) -> Suggestion:
    doc = index.docs[c.table_id]
    fields = doc.visible_fields(channel)
    expires = doc.expires_at()
    return Suggestion(
        code=doc.code,
        title=doc.title,
        category=doc.category,
        package=doc.package,
        matched=best_field(doc, fields, terms, c),
        fields=tuple(_shown(f) for f in fields),
        scores=Scores(
            score=round(c.score, 4),
            fused=round(c.fused, 4),
            rerank=None if c.rerank is None else round(c.rerank, 4),
            dense=round(c.dense, 4),
            dense_rank=c.dense_rank,
            dense_match=c.dense_kind,
            dense_kinds={k: round(v, 4) for k, v in c.kinds.items()},
            hub=round(c.hub, 4),
            bm25=round(c.bm25, 4),
            coverage=round(c.coverage, 4),
            coverage_head=round(c.lexical_head, 4),
            coverage_body=round(c.lexical_body, 4),
            covered=round(c.covered, 4),
            lexical_rank=c.lexical_rank,
            feedback=round(c.feedback, 4),
            latent=None if c.latent is None else round(c.latent, 4),
            latent_part=round(c.latent_part, 4),
        ),
        confidence=round(c.confidence, 4),
        audience=doc.audience,
        valid_until=doc.valid_until,
        expires_at=expires.isoformat() if expires else None,
        last_verified_at=doc.last_verified_at,
        expired=doc.expired(now),
        table_id=doc.table_id,
        rank=rank,
    )


def _query_terms(index: HybridIndex, query: str) -> list[str]:
    """Normalized strings to mark: the query's words, synonyms, and its Han bigrams."""
    terms = set(index.analyzer.highlight_terms(query))
    norm = normalize(query)
    for run in re.findall(r"[\u3400-\u9fff]+", norm):
        terms.update(run[i : i + 2] for i in range(len(run) - 1))
    return sorted(terms, key=len, reverse=True)


@lru_cache(maxsize=8192)
def _normalized_chars(text: str) -> str:
    """``text`` normalized character by character (offsets stay put); the same answers are
    shown again and again, and normalizing them was a fifth of a search at 10,000 tables."""
    return "".join(normalize_char(ch) for ch in text)


def _spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Merged [start, end) spans of every occurrence of ``terms`` in ``text``, compared normalized."""
    norm = _normalized_chars(text)
    marked = [False] * len(text)
    for term in terms:
        start = norm.find(term)
        while start >= 0:
            for i in range(start, start + len(term)):
                marked[i] = True
            start = norm.find(term, start + 1)
    spans: list[tuple[int, int]] = []
    for i, on in enumerate(marked):
        if on and (not spans or spans[-1][1] != i):
            spans.append((i, i + 1))
        elif on:
            spans[-1] = (spans[-1][0], i + 1)
    return spans


def _window(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    text = text.replace("\n", " ")
    if len(text) <= SNIPPET_CHARS:
        return text, spans
    first = spans[0][0] if spans else 0
    start = max(0, min(first - SNIPPET_CHARS // 4, len(text) - SNIPPET_CHARS))
    end = start + SNIPPET_CHARS
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shifted = [
        (s - start + len(prefix), min(e, end) - start + len(prefix))
        for s, e in spans
        if s >= start and s < end
    ]
    return prefix + text[start:end] + suffix, shifted


def _snippet_text(f: DocField) -> str:
    """What a reader sees of a field: Markdown without its markup (no stray ``**``)."""
    if is_markdown(f):
        return plain_text(f.text)
    return f.text


def best_field(
    doc: IndexDocument,
    fields: list[DocField],
    terms: list[str],
    candidate: Candidate,
) -> MatchedField:
    """The visible field that best matches the query's ``terms`` (:func:`_query_terms`), with
    a highlighted snippet."""
    options: list[tuple[str, str, str, float]] = [("title", "标题", doc.title, 1.2)]
    options += [("questions", "相似问法", q, 1.1) for q in doc.questions]
    options += [(f.key, f.label, _snippet_text(f), 1.0) for f in fields if f.searchable]
    best: tuple[float, int, MatchedField] | None = None
    for order, (key, label, text, weight) in enumerate(options):
        spans = _spans(text, terms)
        # Distinct query terms found, not characters covered: a long answer would otherwise
        # out-match a title by chance.
        found_terms = {normalize(text[s:e]) for s, e in spans}
        score = len(found_terms) * weight
        if candidate.dense_kind in {"title", "question"} and key in {"title", "questions"}:
            ref = "title" if key == "title" else f"q{doc.questions.index(text)}"
            if candidate.dense_ref == ref:
                score += 1.5  # the vector that matched best says this is the text
        snippet, shifted = _window(text, spans)
        found = MatchedField(key, label, snippet, tuple(shifted))
        if best is None or score > best[0]:
            best = (score, -order, found)
    assert best is not None
    return best[2]
