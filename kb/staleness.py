"""Recording staleness: the sweep and re-verification.

Whether a table is stale is decided at query time by :mod:`kb.visibility`; nothing here is
needed for stale content to disappear. The sweep *records* what already holds (sets
``expired_at``, writes the audit log, tells the index) and publishes scheduled revisions that
are due; the service runs it at start and on a timer, ``kb sweep`` by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb import audit, changes, flags, locks, tables, visibility, workflow
from kb.clock import ensure_utc, utcnow
from kb.errors import Conflict, ValidationFailed
from kb.models import KnowledgeTable, Package, User
from kb.permissions import Action


@dataclass
class SweepReport:
    published: list[str] = field(default_factory=list)  # codes whose scheduled revision went live
    expired: list[str] = field(default_factory=list)  # codes newly recorded as stale
    revived: list[str] = field(default_factory=list)  # recorded stale, but valid again
    # "CODE: reason": a scheduled revision that could not go live, back in review
    held: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "published": self.published,
            "expired": self.expired,
            "revived": self.revived,
            "held": self.held,
        }


def live_tables(session: Session) -> Sequence[KnowledgeTable]:
    """Every table with a live revision, with what the staleness rules read loaded."""
    return session.scalars(
        select(KnowledgeTable)
        .where(KnowledgeTable.live_revision_id.is_not(None))
        .order_by(KnowledgeTable.code)
        .options(
            selectinload(KnowledgeTable.package).selectinload(Package.category),
            selectinload(KnowledgeTable.live_revision),
        )
    ).all()


def sweep(session: Session, now: datetime | None = None) -> SweepReport:
    """Publish due scheduled revisions, then record tables that went stale (or came back)."""
    now = now or utcnow()
    locks.lock_sweep(session)
    report = SweepReport()
    report.published = [r.table.code for r in workflow.publish_due(session, now, report.held)]
    for table in live_tables(session):
        stale = visibility.is_stale(table, now)
        if stale and table.expired_at is None:
            table.expired_at = visibility.expires_at(table)
            report.expired.append(table.code)
            action = "expire"
        elif not stale and table.expired_at is not None:
            # Validity was extended some other way (an import, a metadata edit).
            table.expired_at = None
            report.revived.append(table.code)
            action = "unexpire"
        else:
            continue
        changes.mark(session, table.id)
        audit.record(
            session,
            actor="system",
            action=action,
            object_type="table",
            object_key=table.code,
            revision=table.live_revision.number if table.live_revision else None,
            detail={"expires_at": _iso(visibility.expires_at(table))},
        )
    session.flush()
    return report


def verify(
    session: Session,
    user: User,
    code: str,
    *,
    until: datetime | None = None,
    comment: str = "",
) -> KnowledgeTable:
    """Record that the live content was checked and still holds; ``until`` sets a new valid_until.

    A table whose valid_until has passed needs ``until``: re-verifying alone cannot make
    content valid past the date its owner set.
    """
    table = workflow.load_for(session, user, Action.VERIFY, code)
    if table.live_revision is None:
        raise Conflict(
            f"Cannot verify table {code}: it has no live revision; "
            f"allowed now: {', '.join(workflow.allowed_actions(table))}."
        )
    now = utcnow()
    if until is not None:
        until = ensure_utc(until)
        if until <= now:
            raise ValidationFailed.one(
                "the new valid_until must be in the future", field="valid_until", value=_iso(until)
            )
        problems = tables.check_meta(
            tables.TableMeta(valid_from=table.valid_from, valid_until=until)
        )
        if problems:
            raise ValidationFailed(f"Table {code} metadata is not valid.", problems=problems)
        table.valid_until = until
    elif table.valid_until is not None and table.valid_until <= now:
        raise ValidationFailed.one(
            f"valid_until {_iso(table.valid_until)} has passed; give a new one to extend it "
            f"(kb verify {code} --until YYYY-MM-DD)",
            field="valid_until",
            value=_iso(table.valid_until),
        )
    table.last_verified_at = now
    table.expired_at = None
    session.flush()
    changes.mark(session, table.id)
    audit.record(
        session,
        actor=user.name,
        action="verify",
        object_type="table",
        object_key=code,
        revision=table.live_revision.number,
        comment=comment.strip(),
        detail={
            "valid_until": _iso(table.valid_until),
            "expires_at": _iso(visibility.expires_at(table)),
        },
    )
    flags.resolve_open(
        session, table, flags.Resolution.VERIFIED, actor=user.name, comment=comment.strip()
    )
    return table


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
