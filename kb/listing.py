"""Finding tables for the admin desk: filter by package, state and text, one page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb import workflow
from kb.errors import Problem, ValidationFailed
from kb.hierarchy import find_package
from kb.models import KnowledgeTable, Package


@dataclass
class TablePage:
    tables: Sequence[KnowledgeTable]
    total: int


def find_tables(
    session: Session,
    *,
    package: str | None = None,
    state: str | None = None,
    text: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> TablePage:
    """Tables by code; ``state`` is the status of the latest revision (draft, in_review, ...)."""
    query = (
        select(KnowledgeTable)
        .order_by(KnowledgeTable.code)
        .options(
            selectinload(KnowledgeTable.package).selectinload(Package.category),
            selectinload(KnowledgeTable.package).selectinload(Package.templates),
            selectinload(KnowledgeTable.revisions),
            selectinload(KnowledgeTable.live_revision),
        )
    )
    if package:
        query = query.where(KnowledgeTable.package_id == find_package(session, package).id)
    rows: Sequence[KnowledgeTable] = session.scalars(query).all()
    if state:
        if state not in workflow.STATUSES:
            accepted = ", ".join(workflow.STATUSES)
            raise ValidationFailed(
                f"No table can be in state {state!r}; a state is one of {accepted}.",
                problems=[Problem(f"not a state: one of {accepted}", "state", state, "query")],
            )
        rows = [t for t in rows if workflow.status_of(t.latest_revision) == state]
    if text:
        needle = text.strip().lower()
        rows = [
            t
            for t in rows
            if needle in t.code.lower()
            or needle in t.latest_revision.title.lower()
            or needle in t.title.lower()
        ]
    start = (page - 1) * page_size
    return TablePage(tables=rows[start : start + page_size], total=len(rows))
