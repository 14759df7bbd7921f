"""What the customer self-service portal may show: the one gate for anonymous readers.

Everything a customer reads passes through here, whatever the transport: only public tables,
only their live (published) revision, only while in validity, and only the template's public
fields. Drafts, rejected, archived, expired, not-yet-valid and internal content are reported as
*missing* (never as forbidden), so that a customer cannot learn that they exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb import repository
from kb.errors import NotFound
from kb.hierarchy import specs_of
from kb.models import Audience, FieldTemplate, KnowledgeTable, Package, Revision
from kb.search_contract import Scope, Searcher, SearchRequest, SearchResult, Suggestion
from kb.templates import FieldSpec, FieldType, public_fields
from kb.visibility import Channel, expires_at, visible


@dataclass(frozen=True)
class TableRef:
    code: str
    title: str


@dataclass
class PackageNode:
    name: str
    description: str
    tables: list[TableRef] = field(default_factory=list)


@dataclass
class CategoryNode:
    name: str
    description: str
    packages: list[PackageNode] = field(default_factory=list)

    @property
    def table_count(self) -> int:
        return sum(len(p.tables) for p in self.packages)


@dataclass(frozen=True)
class PublicField:
    key: str
    label: str
    type: FieldType
    value: str | list[str]


@dataclass
class PublicTable:
    code: str
    title: str
    category: str
    package: str
    tags: list[str]
    fields: list[PublicField]
    published_at: datetime | None
    last_verified_at: datetime | None
    valid_until: datetime | None  # the earlier of valid_until and the re-verification deadline
    related: list[TableRef]

    @property
    def answer(self) -> PublicField | None:
        return next((f for f in self.fields if f.key == "answer"), None)


def _live_tables(session: Session, codes: Sequence[str] | None = None) -> Sequence[KnowledgeTable]:
    query = (
        select(KnowledgeTable)
        .where(
            KnowledgeTable.live_revision_id.is_not(None),
            KnowledgeTable.audience == Audience.PUBLIC,
        )
        .order_by(KnowledgeTable.code)
        .options(
            selectinload(KnowledgeTable.package).selectinload(Package.category),
            selectinload(KnowledgeTable.package).selectinload(Package.templates),
            selectinload(KnowledgeTable.live_revision),
        )
    )
    if codes is not None:
        query = query.where(KnowledgeTable.code.in_(list(codes)))
    return session.scalars(query).all()


def is_public(table: KnowledgeTable, now: datetime) -> bool:
    """Whether an anonymous customer may read ``table`` at ``now``."""
    return visible(table, Channel.CUSTOMER, now)


def visible_codes(session: Session, codes: Iterable[str], now: datetime) -> set[str]:
    """The subset of ``codes`` a customer may read at ``now``."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return set()
    return {t.code for t in _live_tables(session, wanted) if is_public(t, now)}


def category_tree(session: Session, now: datetime) -> list[CategoryNode]:
    """Categories › packages › tables that a customer may read; empty branches are left out."""
    by_package: dict[int, list[TableRef]] = {}
    for table in _live_tables(session):
        if is_public(table, now):
            by_package.setdefault(table.package_id, []).append(TableRef(table.code, table.title))
    tree: list[CategoryNode] = []
    for category in repository.all_categories(session):
        node = CategoryNode(category.name, category.description)
        for package in category.packages:
            refs = by_package.get(package.id)
            if refs:
                node.packages.append(PackageNode(package.name, package.description, refs))
        if node.packages:
            tree.append(node)
    return tree


def template_of(revision: Revision) -> list[FieldSpec]:
    """The field template the revision was written against (the current one if it is gone)."""
    package = revision.table.package
    found: FieldTemplate | None = next(
        (t for t in package.templates if t.version == revision.template_version), None
    )
    return specs_of(found or package.template)


def public_values(revision: Revision) -> list[PublicField]:
    """The revision's public fields, in template order, under their customer labels.

    Which fields are public is the revision's template's say; the labels are the current
    template's (a label is presentation: renaming one must not wait for every table's next
    revision).
    """
    specs = template_of(revision)
    values = public_fields(specs, dict(revision.fields))
    current = {s.key: s.customer_sees for s in specs_of(revision.table.package.template)}
    return [
        PublicField(s.key, current.get(s.key, s.customer_sees), s.type, values[s.key])
        for s in specs
        if s.key in values
    ]


def public_table_row(session: Session, code: str, now: datetime) -> KnowledgeTable:
    """The table ``code`` if a customer may read it now; NotFound otherwise (whatever the reason)."""
    found = _live_tables(session, [code])
    table = found[0] if found else None
    if table is None or not is_public(table, now) or table.live_revision is None:
        raise NotFound(f"No public knowledge table with code {code!r}.")
    return table


def public_table(session: Session, code: str, now: datetime) -> PublicTable:
    """The customer view of table ``code``; NotFound unless a customer may read it now."""
    table = public_table_row(session, code, now)
    live = table.live_revision
    assert live is not None
    related_codes = [t.code for t in table.related]
    shown = visible_codes(session, related_codes, now)
    return PublicTable(
        code=table.code,
        title=live.title,
        category=table.package.category.name,
        package=table.package.name,
        tags=list(live.tags),
        fields=public_values(live),
        published_at=live.published_at,
        last_verified_at=table.last_verified_at,
        valid_until=expires_at(table),
        related=[TableRef(t.code, t.title) for t in table.related if t.code in shown],
    )


def strip_internal(revision: Revision, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the fields the revision's template marks internal."""
    return public_fields(template_of(revision), values)


# ---------------------------------------------------------------- search


@dataclass(frozen=True)
class Match:
    field: str
    label: str
    text: str
    html: str


@dataclass
class CustomerHit:
    code: str
    title: str
    category: str
    package: str
    confidence: float
    answer: PublicField | None  # read from the database, public fields only
    match: Match | None  # the search's snippet, kept only when it shows a public part


@dataclass
class CustomerResults:
    hits: list[CustomerHit]
    abstained: bool
    result: SearchResult  # the search's own result, for logging


SAFE_MATCH_FIELDS = {"title", "questions", "question", "tags"}


def _public_match(revision: Revision, match: Match | None) -> Match | None:
    if match is None:
        return None
    if match.field in SAFE_MATCH_FIELDS:
        return match
    public = {s.key for s in template_of(revision) if s.audience is Audience.PUBLIC}
    return match if match.field in public else None


def customer_search(
    session: Session,
    searcher: Searcher,
    query: str,
    *,
    k: int,
    now: datetime,
    category: str | None = None,
    match_of: Callable[[Suggestion], Match | None] | None = None,
) -> CustomerResults:
    """Search on the customer channel, then re-check every hit against the portal's rules.

    The search already filters by channel; checking again here means a bug or a stale index
    can never show a customer an internal, expired or unpublished table, and the answer text
    is read from the live revision's public fields, not from the index.

    Args:
        match_of: turns a suggestion into a :class:`Match` (or None); the caller knows the
            searcher's snippet format.
    """
    result = searcher.search(
        SearchRequest(query, Channel.CUSTOMER, k=k, scope=Scope(category=category), at=now)
    )
    suggestions = list(result.suggestions)
    rows = {t.code: t for t in _live_tables(session, [s.code for s in suggestions])}
    hits: list[CustomerHit] = []
    for suggestion in suggestions:
        table = rows.get(suggestion.code)
        if table is None or not is_public(table, now) or table.live_revision is None:
            continue
        live = table.live_revision
        values = public_values(live)
        match = match_of(suggestion) if match_of is not None else None
        hits.append(
            CustomerHit(
                code=table.code,
                title=live.title,
                category=table.package.category.name,
                package=table.package.name,
                confidence=float(suggestion.confidence),
                answer=next((f for f in values if f.key == "answer"), None),
                match=_public_match(live, match),
            )
        )
    return CustomerResults(hits=hits, abstained=bool(result.abstained) or not hits, result=result)
