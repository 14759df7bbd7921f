"""Queries over the knowledge model. Reads only; no rules and no writes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kb.models import (
    AuditEntry,
    Category,
    DomainTerm,
    KnowledgeTable,
    Package,
    Revision,
    SynonymGroup,
)


def category_by_name(session: Session, name: str) -> Category | None:
    return session.scalar(select(Category).where(Category.name == name))


def package_by_name(session: Session, category: str, name: str) -> Package | None:
    return session.scalar(
        select(Package).join(Category).where(Category.name == category, Package.name == name)
    )


def packages_named(session: Session, name: str) -> Sequence[Package]:
    return session.scalars(select(Package).where(Package.name == name)).all()


def table_by_code(session: Session, code: str) -> KnowledgeTable | None:
    return session.scalar(select(KnowledgeTable).where(KnowledgeTable.code == code))


def tables_by_codes(session: Session, codes: Sequence[str]) -> dict[str, KnowledgeTable]:
    if not codes:
        return {}
    rows = session.scalars(select(KnowledgeTable).where(KnowledgeTable.code.in_(codes)))
    return {t.code: t for t in rows}


def all_categories(session: Session) -> Sequence[Category]:
    return session.scalars(
        select(Category)
        .order_by(Category.position, Category.name)
        .options(selectinload(Category.packages).selectinload(Package.templates))
    ).all()


def live_category_names(session: Session) -> Sequence[str]:
    """Names of the categories with at least one live table (what a search can be scoped to)."""
    live = (
        select(Package.category_id)
        .join(KnowledgeTable, KnowledgeTable.package_id == Package.id)
        .where(KnowledgeTable.live_revision_id.is_not(None))
    )
    return session.scalars(
        select(Category.name)
        .where(Category.id.in_(live))
        .order_by(Category.position, Category.name)
    ).all()


def all_tables(session: Session) -> Sequence[KnowledgeTable]:
    """Every table with package, category, revisions and links loaded (for export and indexing)."""
    return session.scalars(
        select(KnowledgeTable)
        .order_by(KnowledgeTable.code)
        .options(
            selectinload(KnowledgeTable.package).selectinload(Package.category),
            selectinload(KnowledgeTable.package).selectinload(Package.templates),
            selectinload(KnowledgeTable.revisions),
            selectinload(KnowledgeTable.live_revision),
            selectinload(KnowledgeTable.related),
        )
    ).all()


def tables_with_ids(session: Session, ids: Sequence[int]) -> Sequence[KnowledgeTable]:
    if not ids:
        return []
    return session.scalars(
        select(KnowledgeTable)
        .where(KnowledgeTable.id.in_(ids))
        .options(
            selectinload(KnowledgeTable.package).selectinload(Package.category),
            selectinload(KnowledgeTable.package).selectinload(Package.templates),
            selectinload(KnowledgeTable.live_revision),
        )
    ).all()


def revision(session: Session, table: KnowledgeTable, number: int) -> Revision | None:
    return session.scalar(
        select(Revision).where(Revision.table_id == table.id, Revision.number == number)
    )


def synonym_groups(session: Session) -> list[list[str]]:
    return [list(g.terms) for g in session.scalars(select(SynonymGroup).order_by(SynonymGroup.id))]


def domain_terms(session: Session) -> list[str]:
    return list(session.scalars(select(DomainTerm.term).order_by(DomainTerm.term)))


def audit_for(session: Session, object_type: str, key: str) -> Sequence[AuditEntry]:
    return session.scalars(
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_key == key)
        .order_by(AuditEntry.id)
    ).all()


def revision_state_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Revision.state, func.count()).group_by(Revision.state))
    return {str(state): n for state, n in rows}


def live_revision_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(KnowledgeTable)
            .where(KnowledgeTable.live_revision_id.is_not(None))
        )
        or 0
    )


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0
