"""Changing a table's metadata (the admin desk's and the API's PATCH), reviewed where it matters.

Audience and validity decide what customers see and until when, so a change to them is
reviewed like a change of content: it rides on the table's draft revision
(:func:`kb.workflow.propose_meta`) and applies when a reviewer approves that revision — never
by its own author or anyone who wrote into it. Only a user with the publish right (an admin,
who may also publish an import without review) changes them at once. So an editor can neither
make an internal table public nor revive an expired one (re-verification, ``kb verify``, is a
reviewer's act) without a second person.

Source and related tables are descriptive: they apply at once for anyone who may draft in the
table's package. A move to another package is not: the target's template decides which of the
table's fields customers see and its review interval when the table expires, so a move, applied
at once, takes the publish right in both packages (:func:`kb.permissions.check_move`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kb import hierarchy, tables, workflow
from kb.clock import ensure_utc
from kb.errors import ValidationFailed
from kb.models import Audience, KnowledgeTable, Revision, User
from kb.permissions import Action, allowed, check_move


@dataclass
class MetaChange:
    """What a PATCH asks for; ``None`` leaves a part as it is."""

    audience: Audience | None = None
    source: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    clear_valid_from: bool = False
    clear_valid_until: bool = False
    related: list[str] | None = None
    package: str | None = None  # 'category/package' to move the table to


@dataclass
class MetaResult:
    applied: bool  # something changed at once
    proposed: Revision | None  # the draft that carries the audience / validity change


def _requested(change: MetaChange) -> dict[str, Any]:
    """The audience / validity values the change names, as a revision proposes them."""
    requested: dict[str, Any] = {}
    if change.audience is not None:
        requested["audience"] = change.audience.value
    for key, value, clear in (
        ("valid_from", change.valid_from, change.clear_valid_from),
        ("valid_until", change.valid_until, change.clear_valid_until),
    ):
        if clear:
            requested[key] = None
        elif value is not None:
            requested[key] = ensure_utc(value).isoformat()
    return requested


def _fits_pending(table: KnowledgeTable, wanted: tables.TableMeta) -> None:
    """Refuse a change that would leave the table's pending revision (a draft, in review or
    scheduled) proposing validity that could never apply: its approval, or its scheduled
    publication, would fail."""
    latest = table.latest_revision
    if latest is table.live_revision or not latest.proposed:
        return
    problems = tables.check_meta(tables.with_proposal(wanted, latest.proposed))
    if problems:
        raise ValidationFailed(
            f"Table {table.code}: revision {latest.number} ({workflow.status_of(latest)}) "
            f"proposes {latest.proposed}, which this change would leave impossible to apply; "
            "change or withdraw that revision's proposal first.",
            problems=problems,
        )


def change_meta(session: Session, user: User, code: str, change: MetaChange) -> MetaResult:
    """Apply ``change`` as ``user`` may: governed parts reviewed unless they may publish.

    Naming the current value of audience or validity withdraws a pending proposal of it.
    """
    table = workflow.load_for(session, user, Action.DRAFT, code)
    applied = False
    if change.source is not None:
        plain = replace(tables.meta_of(table), source=change.source)
        applied = tables.update_meta(session, table, plain, actor=user.name)
    requested = _requested(change)
    proposed = None
    if requested and allowed(user, Action.PUBLISH, table.package):
        wanted = tables.with_proposal(tables.meta_of(table), requested)
        _fits_pending(table, wanted)
        applied = tables.update_meta(session, table, wanted, actor=user.name) or applied
    elif requested:
        proposed = workflow.propose_meta(session, user, code, requested)
    if change.related is not None:
        applied = tables.set_links(session, table, change.related, actor=user.name) or applied
    if change.package:
        target = hierarchy.find_package(session, change.package)
        if target.id != table.package_id:
            check_move(user, table.package, target)
            tables.move_table(session, table, target, actor=user.name)
            applied = True
    return MetaResult(applied, proposed)
