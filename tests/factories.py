"""Plain factory functions for tests: ``make_package(session, **overrides)`` and friends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from kb import hierarchy, querylog, tables
from kb.models import Audience, KnowledgeTable, Package, RevisionState

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
