"""The governance queues: expiring, expired, flagged, awaiting review, and per-owner digests.

Each queue is evaluated from the rules at ``now`` (not from what the sweep recorded), and,
given a user, narrowed to that user's scopes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb import visibility
from kb.clock import ensure_utc, utcnow
from kb.hierarchy import package_path
from kb.models import (
    Flag,
    KnowledgeTable,
    Package,
    Revision,
    RevisionState,
    User,
)
from kb.permissions import Action, check, in_scope
from kb.staleness import live_tables
from kb.tables import writers_of


@dataclass
class DueItem:
    code: str
    title: str
    package: str
    owner: str
    expires_at: datetime | None
    last_verified_at: datetime | None
    valid_until: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass
class ReviewItem:
    code: str
    revision: int
    title: str
    package: str
    author: str
    submitted_at: datetime | None
    note: str
    live_revision: int | None

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass
class FlaggedItem:
    code: str
    title: str
    package: str
    owner: str
    flags: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass
class Digest:
    """What one package owner should look at."""

    owner: str
    packages: list[str] = field(default_factory=list)
    expiring: list[DueItem] = field(default_factory=list)
    expired: list[DueItem] = field(default_factory=list)
    flagged: list[FlaggedItem] = field(default_factory=list)
    in_review: list[ReviewItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @property
    def empty(self) -> bool:
        return not (self.expiring or self.expired or self.flagged or self.in_review)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: conv(v) for k, v in value.items()}
        if isinstance(value, list):
            return [conv(v) for v in value]
        return value

    return {k: conv(v) for k, v in data.items()}


def _due_item(table: KnowledgeTable) -> DueItem:
    return DueItem(
        code=table.code,
        title=table.title,
        package=package_path(table.package),
        owner=table.package.owner,
        expires_at=visibility.expires_at(table),
        last_verified_at=table.last_verified_at,
        valid_until=table.valid_until,
    )


def _scoped_live(session: Session, user: User | None) -> list[KnowledgeTable]:
    if user is not None:
        check(user, Action.VIEW_QUEUES)
    return [t for t in live_tables(session) if user is None or in_scope(user, t.package)]


def expiring(
    session: Session, *, days: int, now: datetime | None = None, user: User | None = None
) -> list[DueItem]:
    """Live tables still fresh now that go stale within ``days`` days, soonest first."""
    now = now or utcnow()
    horizon = now + timedelta(days=days)
    items = []
    for table in _scoped_live(session, user):
        end = visibility.expires_at(table)
        if end is not None and now < end <= horizon:
            items.append(_due_item(table))
    return sorted(items, key=lambda i: (i.expires_at, i.code))


def expired(
    session: Session, *, now: datetime | None = None, user: User | None = None
) -> list[DueItem]:
    """Live tables stale at ``now`` (whether or not the sweep has recorded it), oldest first."""
    now = now or utcnow()
    items = [_due_item(t) for t in _scoped_live(session, user) if visibility.is_stale(t, now)]
    return sorted(items, key=lambda i: (i.expires_at, i.code))


def flagged(session: Session, *, user: User | None = None) -> list[FlaggedItem]:
    """Tables with open flags, most flagged first."""
    if user is not None:
        check(user, Action.VIEW_QUEUES)
    rows = session.scalars(
        select(Flag)
        .where(Flag.resolved_at.is_(None))
        .order_by(Flag.id)
        .options(selectinload(Flag.table).selectinload(KnowledgeTable.package))
    ).all()
    by_table: dict[int, FlaggedItem] = {}
    for flag in rows:
        table = flag.table
        if user is not None and not in_scope(user, table.package):
            continue
        item = by_table.get(table.id)
        if item is None:
            item = by_table[table.id] = FlaggedItem(
                code=table.code,
                title=table.title,
                package=package_path(table.package),
                owner=table.package.owner,
            )
        item.flags.append(
            {
                "id": flag.id,
                "reason": flag.reason,
                "comment": flag.comment,
                "raised_by": flag.raised_by,
                "raised_at": flag.raised_at,
                "revision": flag.revision_number,
            }
        )
    return sorted(by_table.values(), key=lambda i: (-len(i.flags), i.code))


def _review_item(revision: Revision) -> ReviewItem:
    table = revision.table
    return ReviewItem(
        code=table.code,
        revision=revision.number,
        title=revision.title,
        package=package_path(table.package),
        author=revision.author,
        submitted_at=ensure_utc(revision.submitted_at) if revision.submitted_at else None,
        note=revision.note,
        live_revision=table.live_revision.number if table.live_revision else None,
    )


def _pending_reviews(session: Session) -> list[Revision]:
    return list(
        session.scalars(
            select(Revision)
            .where(Revision.state == RevisionState.IN_REVIEW, Revision.reviewed_at.is_(None))
            .order_by(Revision.submitted_at, Revision.id)
            .options(selectinload(Revision.table).selectinload(KnowledgeTable.package))
        ).all()
    )


def awaiting_review(
    session: Session, user: User, *, allow_self_approval: bool = False
) -> list[ReviewItem]:
    """Revisions ``user`` could approve now: in their scopes, not written by them (unless allowed)."""
    check(user, Action.REVIEW)
    return [
        _review_item(r)
        for r in _pending_reviews(session)
        if in_scope(user, r.table.package)
        and (allow_self_approval or user.name not in writers_of(r))
    ]


def digests(session: Session, *, days: int = 14, now: datetime | None = None) -> list[Digest]:
    """Per package owner: their packages' expiring, expired, flagged and in-review items.

    Packages without an owner are collected under owner "" so that nothing falls through.
    """
    now = now or utcnow()
    packages = session.scalars(
        select(Package).options(selectinload(Package.category)).order_by(Package.id)
    ).all()
    by_owner: dict[str, Digest] = {}
    owner_of: dict[int, Digest] = {}
    for package in packages:
        digest = by_owner.setdefault(package.owner, Digest(owner=package.owner))
        digest.packages.append(package_path(package))
        owner_of[package.id] = digest
    for item in expiring(session, days=days, now=now):
        by_owner[item.owner].expiring.append(item)
    for item in expired(session, now=now):
        by_owner[item.owner].expired.append(item)
    for flagged_item in flagged(session):
        by_owner[flagged_item.owner].flagged.append(flagged_item)
    for revision in _pending_reviews(session):
        owner_of[revision.table.package_id].in_review.append(_review_item(revision))
    return sorted(by_owner.values(), key=lambda d: (d.owner == "", d.owner))
