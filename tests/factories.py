"""Plain factory functions for tests: ``make_package(session, **overrides)`` and friends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from kb import hierarchy, querylog, tables
from kb.models import Audience, KnowledgeTable, Package, RevisionState
from kb.search_contract import (
    MatchedField,
    Scope,
    Scores,
    SearchRequest,
    ShownField,
    Suggestion,
)
from kb.visibility import Channel

TEMPLATE: list[dict[str, Any]] = [
    {"key": "question", "label": "问题描述"},
    {"key": "answer", "label": "标准答复", "type": "markdown", "required": True},
    {"key": "steps", "label": "操作步骤", "type": "steps"},
    {"key": "internal_note", "label": "内部备注", "audience": "internal", "searchable": False},
]


def make_package(
    session: Session,
    category: str = "通信业务",
    name: str = "改号业务",
    template: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Package:
    cat = hierarchy.ensure_category(session, category)
    return hierarchy.ensure_package(session, cat, name, template=template or TEMPLATE, **overrides)


def make_table(
    session: Session,
    package: Package | None = None,
    code: str = "TX-GH-001",
    title: str = "改号后原号码是否还会产生话费",
    questions: list[str] | None = None,
    fields: dict[str, Any] | None = None,
    state: RevisionState = RevisionState.PUBLISHED,
    audience: Audience = Audience.PUBLIC,
    actor: str = "editor",
    **meta: Any,
) -> KnowledgeTable:
    package = package or make_package(session)
    content = tables.TableContent(
        title=title,
        questions=questions if questions is not None else ["换号以后旧号码还扣钱吗"],
        tags=meta.pop("tags", []),
        fields=fields if fields is not None else {"answer": "改号完成后原号码停止计费。"},
    )
    return tables.create_table(
        session,
        package,
        code,
        content,
        tables.TableMeta(audience=audience, **meta),
        actor=actor,
        state=state,
    )


def log_unanswered(
    session: Session, query: str, times: int = 1, *, at: datetime | None = None
) -> None:
    """Log ``query`` ``times`` times as a customer search that found no confident answer."""
    for _ in range(times):
        querylog.log_search(
            session,
            enabled=True,
            channel="customer",
            query=query,
            normalized=query,
            results=[],
            abstained=True,
            latency_ms=5.0,
            at=at,
        )


def char_embed(texts: Sequence[str]) -> np.ndarray:
    """Bag-of-characters vectors: queries sharing most characters are near each other."""
    vocab = sorted({c for t in texts for c in t})
    out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for i, t in enumerate(texts):
        for c in t:
            out[i, vocab.index(c)] += 1
    return out


def ask(
    query: str,
    *,
    channel: Channel = Channel.AGENT,
    k: int = 5,
    mode: str = "hybrid",
    category: str | None = None,
    package: str | None = None,
    tags: Sequence[str] = (),
    include_expired: bool = False,
    now: datetime | None = None,
) -> SearchRequest:
    """A :class:`SearchRequest` from keyword arguments (the scope's filters among them)."""
    return SearchRequest(
        query,
        channel,
        k=k,
        mode=mode,
        scope=Scope(category, package, tuple(tags)),
        include_expired=include_expired,
        at=now,
    )


def make_scores(score: float = 0.5, **overrides: Any) -> Scores:
    values: dict[str, Any] = {
        "score": score,
        "fused": score,
        "rerank": None,
        "dense": 0.5,
        "dense_rank": 1,
        "dense_match": "title",
        "dense_kinds": {"title": 0.5},
        "hub": 0.0,
        "bm25": 1.0,
        "coverage": 0.5,
        "coverage_head": 0.5,
        "coverage_body": 0.0,
        "covered": 0.5,
        "lexical_rank": 1,
        "feedback": 0.0,
    }
    return Scores(**{**values, **overrides})


def make_suggestion(
    code: str = "TX-GH-001", rank: int = 1, confidence: float = 0.8, **overrides: Any
) -> Suggestion:
    """A suggestion with a public answer and an internal note (``overrides`` replace fields)."""
    values: dict[str, Any] = {
        "code": code,
        "title": f"标题{code}",
        "category": "a",
        "package": "b",
        "matched": MatchedField("title", "标题", f"标题{code}", ((0, 2),)),
        "fields": (
            ShownField("answer", "标准答复", "markdown", "public", "**答**"),
            ShownField("note", "内部备注", "text", "internal", "内"),
        ),
        "scores": make_scores(1.0 - rank / 10),
        "confidence": confidence,
        "audience": "public",
        "valid_until": None,
        "expires_at": None,
        "last_verified_at": None,
        "expired": False,
        "table_id": rank,
        "rank": rank,
    }
    return Suggestion(**{**values, **overrides})
