"""Agents' flags on live tables (KCS "flag it or fix it").

An agent flags a live table as wrong, outdated, unclear or a duplicate; open flags put the
table in the reviewers' flagged queue. A flag is resolved by a newly published revision
(``revised``), a re-verification (``verified``), archiving the table (``archived``), or a
reviewer's dismissal with a comment (``dismissed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import audit, locks, tables
from kb.clock import utcnow
from kb.errors import Conflict, NotFound, ValidationFailed
from kb.models import Flag, KnowledgeTable, User
from kb.permissions import Action, check


class FlagReason(StrEnum):
    WRONG = "wrong"
    OUTDATED = "outdated"
    UNCLEAR = "unclear"
    DUPLICATE = "duplicate"


class Resolution(StrEnum):
    REVISED = "revised"
    VERIFIED = "verified"
    ARCHIVED = "archived"
    DISMISSED = "dismissed"


def parse_reason(value: str | FlagReason) -> FlagReason:
    try:
        return FlagReason(value)
    except ValueError:
        reasons = ", ".join(r.value for r in FlagReason)
        raise ValidationFailed.one(
            f"reason must be one of {reasons}", field="reason", value=value
        ) from None


def raise_flag(
    session: Session, user: User, code: str, reason: str | FlagReason, comment: str = ""
) -> Flag:
    """Flag the live revision of table ``code``; one open flag per user and reason."""
    check(user, Action.FLAG)
    the_reason = parse_reason(reason)
    table = locks.lock_table(session, code) or tables.get_table(session, code)
    live = table.live_revision
    if live is None:
        raise Conflict(f"Table {code} has no live revision; only published content can be flagged.")
    for flag in open_flags(session, table):
        if flag.raised_by == user.name and flag.reason == the_reason.value:
            raise Conflict(
                f"{user.name} already flagged {code} as {the_reason.value} (flag {flag.id}); "
                "it is waiting in the reviewers' queue."
            )
    flag = Flag(
        table_id=table.id,
        revision_number=live.number,
        reason=the_reason.value,
        comment=comment.strip(),
        raised_by=user.name,
        raised_at=utcnow(),
    )
    session.add(flag)
    session.flush()
    audit.record(
        session,
        actor=user.name,
        action="flag",
        object_type="table",
        object_key=code,
        revision=live.number,
        comment=flag.comment,
        detail={"flag": flag.id, "reason": the_reason.value},
    )
    return flag


def open_flags(session: Session, table: KnowledgeTable | None = None) -> Sequence[Flag]:
    query = select(Flag).where(Flag.resolved_at.is_(None)).order_by(Flag.id)
    if table is not None:
        query = query.where(Flag.table_id == table.id)
    return session.scalars(query).all()


def get_flag(session: Session, flag_id: int) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(f"No flag with id {flag_id}; `kb review flagged` lists the open ones.")
    return flag


def _close(
    session: Session, flag: Flag, resolution: Resolution, *, actor: str, comment: str
) -> None:
    flag.resolved_by = actor
    flag.resolved_at = utcnow()
    flag.resolution = resolution.value
    flag.resolution_comment = comment
    audit.record(
        session,
        actor=actor,
        action="flag-resolve",
        object_type="table",
        object_key=flag.table.code,
        revision=flag.revision_number,
        comment=comment,
        detail={"flag": flag.id, "resolution": resolution.value},
    )


def dismiss(session: Session, user: User, flag_id: int, comment: str) -> Flag:
    """Close an open flag without changing the table; the comment says why."""
    check(user, Action.RESOLVE_FLAG)
    flag = get_flag(session, flag_id)
    check(user, Action.RESOLVE_FLAG, flag.table.package)
    # Two reviewers dismissing it at once: the second waits, then finds it resolved.
    locks.lock_table(session, flag.table.code)
    session.refresh(flag)
    if flag.resolved_at is not None:
        raise Conflict(
            f"Flag {flag_id} on {flag.table.code} was already resolved ({flag.resolution}) "
            f"by {flag.resolved_by}."
        )
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed.one(
            "dismissing a flag needs a comment saying why the table is right as it is",
            field="comment",
        )
    _close(session, flag, Resolution.DISMISSED, actor=user.name, comment=comment)
    session.flush()
    return flag


def resolve_open(
    session: Session,
    table: KnowledgeTable,
    resolution: Resolution,
    *,
    actor: str,
    comment: str = "",
) -> list[Flag]:
    """Close every open flag on ``table`` (called by publish, verify and archive)."""
    closed = list(open_flags(session, table))
    for flag in closed:
        _close(session, flag, resolution, actor=actor, comment=comment)
    if closed:
        session.flush()
    return closed
