"""The review workflow over a table's revisions.

    draft ──submit──▶ in_review ──approve──▶ published ──archive──▶ archived
      ▲                │   │ └─approve with a later publish_at: scheduled (still in_review,
      └───withdraw─────┘   │   reviewed), published by the sweep when due
                           └──reject (comment)──▶ rejected ──edit──▶ a new draft

Only the latest revision of a table can be open (a draft or in review); published, rejected
and archived revisions never change. Editing a live, rejected or archived table starts a new
draft (``based_on`` the revision it started from) while the live revision stays live; approval
swaps it in atomically with :func:`kb.tables.make_live`, which archives the old one. A rollback
is a new draft copying an earlier revision, reviewed like any other.

Every function checks permissions with :func:`kb.permissions.check`, writes the audit log in
the caller's transaction and flushes; the edge commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import audit, changes, flags, locks, repository, tables
from kb.clock import ensure_utc, utcnow
from kb.duplicates import BigramDuplicateFinder, DuplicateFinder, Similar
from kb.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, ZhikuError
from kb.models import KnowledgeTable, Package, Revision, RevisionState, Role, User
from kb.permissions import Action, check
from kb.tables import TableContent, TableMeta, content_of

# What can be done to a table, given the state of its latest revision.
ALLOWED: dict[RevisionState, tuple[str, ...]] = {
    RevisionState.DRAFT: ("edit", "submit"),
    RevisionState.IN_REVIEW: ("approve", "reject", "withdraw"),
    RevisionState.REJECTED: ("edit",),
    RevisionState.PUBLISHED: ("edit", "archive", "rollback", "verify"),
    RevisionState.ARCHIVED: ("edit", "rollback"),
}
_SCHEDULED_ALLOWED = ("reject", "withdraw")


@dataclass
class Edit:
    """A partial change to a revision's content; ``None`` leaves a part as it is.

    ``fields`` is merged into the existing fields by key (or label); an empty value removes
    a field. With ``replace_fields`` the given fields replace all of them.
    """

    title: str | None = None
    questions: list[str] | None = None
    tags: list[str] | None = None
    fields: dict[str, Any] | None = None
    replace_fields: bool = False

    def apply(self, base: TableContent) -> TableContent:
        merged = {} if self.replace_fields else dict(base.fields)
        for key, value in (self.fields or {}).items():
            merged[key] = value
        return TableContent(
            title=base.title if self.title is None else self.title,
            questions=list(base.questions if self.questions is None else self.questions),
            tags=list(base.tags if self.tags is None else self.tags),
            fields=merged,
        )


@dataclass
class SubmitResult:
    revision: Revision
    duplicates: list[Similar] = field(default_factory=list)


# Every status a revision can be in: its state, or "scheduled" (approved, waiting for its time).
STATUSES = (*(state.value for state in RevisionState), "scheduled")


def status_of(revision: Revision) -> str:
    """The state, with 'scheduled' for an approved revision waiting for its publish time."""
    if revision.state is RevisionState.IN_REVIEW and revision.reviewed_at is not None:
        return "scheduled"
    return revision.state.value


def allowed_actions(table: KnowledgeTable) -> tuple[str, ...]:
    latest = table.latest_revision
    if status_of(latest) == "scheduled":
        return _SCHEDULED_ALLOWED
    return ALLOWED[latest.state]


def _refuse(table: KnowledgeTable, wanted: str) -> Conflict:
    latest = table.latest_revision
    live = table.live_revision
    live_note = (
        f" (live: revision {live.number})" if live is not None and live is not latest else ""
    )
    when = f" for {latest.publish_at.isoformat()}" if latest.publish_at is not None else ""
    return Conflict(
        f"Cannot {wanted} table {table.code}: its latest revision {latest.number} is "
        f"{status_of(latest)}{when}{live_note}; allowed now: {', '.join(allowed_actions(table))}."
    )


def load(session: Session, code: str) -> KnowledgeTable:
    """The table, locked for the rest of the transaction, its state fresh (:mod:`kb.locks`).

    Two reviewers approving at once must not both swap the live revision; the lock makes
    the second wait and then see the first one's result.
    """
    table = locks.lock_table(session, code)
    if table is None:
        raise NotFound(f"No knowledge table with code {code!r}.")
    return table


def load_for(session: Session, user: User, action: Action, code: str) -> KnowledgeTable:
    """:func:`load` for someone who may do ``action``: the role is checked before the table is
    looked up and the scope right after, so a caller without the right learns nothing (no 404,
    no revision state) about the table."""
    check(user, action)
    table = load(session, code)
    check(user, action, table.package)
    return table


def _require_author(user: User, revision: Revision, verb: str) -> None:
    if revision.author != user.name and user.role is not Role.ADMIN:
        raise PermissionDenied(
            f"{user.name} ({user.role.value}) may not {verb} revision {revision.number} of "
            f"{revision.table.code}: it is {revision.author}'s draft; only its author or an "
            "admin may."
        )


def _validated(package: Package, content: TableContent, what: str) -> TableContent:
    clean, problems = tables.check_content(package, content)
    if problems:
        raise ValidationFailed(f"{what} is not valid.", problems=problems)
    return clean


def create(
    session: Session,
    user: User,
    package: Package,
    code: str,
    content: TableContent,
    meta: TableMeta | None = None,
    *,
    note: str = "",
) -> KnowledgeTable:
    """A new table whose first revision is a draft by ``user`` (``note``: its change note)."""
    check(user, Action.DRAFT, package)
    meta = meta or TableMeta()
    if not meta.author:
        meta = replace(meta, author=user.display_name or user.name)
    return tables.create_table(
        session, package, code, content, meta, actor=user.name, note=note.strip()
    )


def edit(session: Session, user: User, code: str, change: Edit, *, note: str = "") -> Revision:
    """Edit the open draft (its author or an admin), or start a new draft from the latest revision."""
    table = load_for(session, user, Action.DRAFT, code)
    latest = table.latest_revision
    if latest.state is RevisionState.IN_REVIEW:
        raise _refuse(table, "edit")
    base = tables.current_content(table, latest)
    if latest.state is not RevisionState.DRAFT:
        content = change.apply(base)
        return tables.add_revision(
            session, table, content, actor=user.name, note=note, based_on=latest.number
        )
    _require_author(user, latest, "edit")
    clean = _validated(table.package, change.apply(base), f"Revision {latest.number} of {code}")
    before = content_of(latest)
    changed = [
        k
        for k in ("title", "questions", "tags", "fields")
        if getattr(before, k) != getattr(clean, k)
    ]
    if not changed and (not note or note == latest.note):
        return latest
    latest.title = clean.title
    latest.questions = list(clean.questions)
    latest.tags = list(clean.tags)
    latest.fields = dict(clean.fields)
    latest.template_version = table.package.template.version
    if note:
        latest.note = note
    tables.note_contributor(latest, user.name)
    session.flush()
    _audit(session, user, "edit", code, latest.number, comment=note, detail={"changed": changed})
    return latest


def propose_meta(
    session: Session, user: User, code: str, proposal: dict[str, Any], *, note: str = ""
) -> Revision | None:
    """Put an audience / validity change on the table's draft, to apply when it is approved.

    The open draft carries it (its author or an admin may add to it); otherwise a new draft
    copying the latest content is started. Returns None when nothing would change.
    """
    table = load_for(session, user, Action.DRAFT, code)
    latest = table.latest_revision
    current = tables.meta_of(table)
    if latest.state is RevisionState.IN_REVIEW:
        if not tables.proposal_of(table, tables.with_proposal(current, proposal)):
            return None  # asks for what already holds
        raise _refuse(table, "edit")
    pending = latest.proposed if latest.state is RevisionState.DRAFT else None
    problems = tables.check_meta(
        tables.with_proposal(tables.with_proposal(current, pending), proposal)
    )
    if problems:
        raise ValidationFailed(f"Table {code} metadata is not valid.", problems=problems)
    if latest.state is RevisionState.DRAFT:
        _require_author(user, latest, "edit")
        wanted = tables.with_proposal(tables.with_proposal(current, latest.proposed), proposal)
        merged = tables.proposal_of(table, wanted)
        if merged == (latest.proposed or {}):
            return None
        latest.proposed = merged or None
        tables.note_contributor(latest, user.name)
        session.flush()
        _audit(
            session,
            user,
            "edit",
            code,
            latest.number,
            comment=note,
            detail={"proposed": proposal},
        )
        return latest
    changed = tables.proposal_of(table, tables.with_proposal(current, proposal))
    if not changed:
        return None
    return tables.add_revision(
        session,
        table,
        tables.current_content(table, latest),
        actor=user.name,
        note=note or "audience / validity change",
        based_on=latest.number,
        proposed=changed,
    )


def submit(
    session: Session, user: User, code: str, *, finder: DuplicateFinder | None = None
) -> SubmitResult:
    """Send the draft to review after checking it against the package's current template.

    Near-duplicates in other tables come back as warnings (and go into the audit entry);
    they do not stop the submission.
    """
    table = load_for(session, user, Action.SUBMIT, code)
    latest = table.latest_revision
    if latest.state is not RevisionState.DRAFT:
        raise _refuse(table, "submit")
    _require_author(user, latest, "submit")
    # The template may have gained a required field since the draft was written.
    clean = _validated(
        table.package,
        tables.current_content(table, latest),
        f"Revision {latest.number} of {code} cannot be submitted: it",
    )
    latest.title, latest.questions, latest.tags = clean.title, clean.questions, clean.tags
    latest.fields = clean.fields
    latest.template_version = table.package.template.version
    finder = finder or BigramDuplicateFinder(session)
    duplicates = [
        Similar(c, t, s) for c, t, s in finder.similar([clean.title, *clean.questions], code)
    ]
    latest.state = RevisionState.IN_REVIEW
    latest.submitted_at = utcnow()
    session.flush()
    _audit(
        session,
        user,
        "submit",
        code,
        latest.number,
        detail={"duplicates": [d.to_dict() for d in duplicates]} if duplicates else None,
    )
    return SubmitResult(latest, duplicates)


def _in_review(table: KnowledgeTable, wanted: str) -> Revision:
    latest = table.latest_revision
    if latest.state is not RevisionState.IN_REVIEW:
        raise _refuse(table, wanted)
    return latest


def _as_reviewed(revision: Revision, reviewed: datetime | None, wanted: str) -> None:
    """Refuse a decision on a submission other than the one the reviewer read.

    ``reviewed`` is the revision's ``submitted_at`` as the reviewer saw it (None: not bound).
    Withdrawn, rewritten and submitted again in between, the revision keeps its number; its
    submission time tells the two apart.
    """
    if reviewed is None or revision.submitted_at is None:
        return
    if ensure_utc(revision.submitted_at) != ensure_utc(reviewed):
        raise Conflict(
            f"Cannot {wanted} revision {revision.number} of {revision.table.code}: it was "
            f"submitted again at {ensure_utc(revision.submitted_at).isoformat()}, after the "
            f"submission you reviewed ({ensure_utc(reviewed).isoformat()}), and may say "
            "something else now; reload it and review it again."
        )


def approve(
    session: Session,
    user: User,
    code: str,
    *,
    comment: str = "",
    publish_at: datetime | None = None,
    allow_self_approval: bool = False,
    reviewed: datetime | None = None,
) -> Revision:
    """Approve the revision in review: it goes live now, or at ``publish_at`` via the sweep.

    With ``reviewed`` (the submission time the reviewer read), only that submission."""
    table = load_for(session, user, Action.REVIEW, code)
    revision = _in_review(table, "approve")
    _as_reviewed(revision, reviewed, "approve")
    if revision.reviewed_at is not None:
        raise _refuse(table, "approve")
    writers = tables.writers_of(revision)
    if user.name in writers and not allow_self_approval:
        how = "they wrote it" if user.name == revision.author else "they edited it"
        raise PermissionDenied(
            f"{user.name} may not approve revision {revision.number} of {code}: {how}, "
            "and self-approval is off (ZHIKU_ALLOW_SELF_APPROVAL); ask another reviewer"
            + (f" (written by {', '.join(writers)})." if len(writers) > 1 else ".")
        )
    now = utcnow()
    publish_at = ensure_utc(publish_at) if publish_at is not None else None
    revision.reviewed_by = user.name
    revision.reviewed_at = now
    revision.review_comment = comment.strip()
    scheduled = publish_at is not None and publish_at > now
    revision.publish_at = publish_at if scheduled else None
    session.flush()
    _audit(
        session,
        user,
        "approve",
        code,
        revision.number,
        comment=revision.review_comment,
        detail={"publish_at": publish_at.isoformat()} if scheduled and publish_at else None,
    )
    if not scheduled:
        publish(session, revision, actor=user.name)
    return revision


def publish(session: Session, revision: Revision, *, actor: str, comment: str = "") -> None:
    """Make an approved revision live; reviewing content counts as verifying it."""
    tables.make_live(session, revision, actor=actor, comment=comment)
    table = revision.table
    # Without this a table verified long ago would be stale the moment its fresh revision goes live.
    table.last_verified_at = revision.published_at
    session.flush()
    flags.resolve_open(
        session,
        table,
        flags.Resolution.REVISED,
        actor=actor,
        comment=f"revision {revision.number} published",
    )


def publish_now(session: Session, user: User, code: str, *, comment: str = "") -> Revision:
    """Publish an approved, scheduled revision before its time."""
    table = load_for(session, user, Action.PUBLISH, code)
    latest = table.latest_revision
    if status_of(latest) != "scheduled":
        raise Conflict(
            f"Cannot publish table {code} now: its latest revision {latest.number} is "
            f"{status_of(latest)}, not approved and scheduled; "
            f"allowed now: {', '.join(allowed_actions(table))}."
        )
    publish(session, latest, actor=user.name, comment=comment)
    return latest


def publish_due(session: Session, now: datetime, held: list[str] | None = None) -> list[Revision]:
    """Publish every approved revision whose scheduled time has come (called by the sweep).

    One that cannot go live (what it would apply no longer holds: a validity its approval
    proposed, against a start changed since) is put back in review, its schedule cancelled and
    the reason in its review comment and the audit log, and named in ``held`` ("CODE: reason");
    the others are published all the same."""
    due = session.scalars(
        select(Revision)
        .where(
            Revision.state == RevisionState.IN_REVIEW,
            Revision.reviewed_at.is_not(None),
            Revision.publish_at <= now,
        )
        .order_by(Revision.publish_at, Revision.id)
    ).all()
    published: list[Revision] = []
    for code, number in [(r.table.code, r.number) for r in due]:
        # A reviewer may publish it now (or withdraw it) while the sweep runs: lock, look again.
        table = load(session, code)
        revision = table.latest_revision
        if revision.number != number or status_of(revision) != "scheduled":
            continue
        try:
            with session.begin_nested():
                publish(
                    session,
                    revision,
                    actor="system",
                    comment=f"scheduled publication approved by {revision.reviewed_by}",
                )
        except ZhikuError as err:
            reason = f"scheduled publication failed: {err}"
            approved_by = revision.reviewed_by
            revision.reviewed_by = None
            revision.reviewed_at = None
            revision.publish_at = None
            revision.review_comment = f"{reason} (approved by {approved_by}; review it again)"
            session.flush()
            audit.record(
                session,
                actor="system",
                action="unschedule",
                object_type="table",
                object_key=code,
                revision=number,
                comment=reason,
            )
            if held is not None:
                held.append(f"{code}: {err}")
            continue
        published.append(revision)
    return published


def reject(
    session: Session, user: User, code: str, *, comment: str, reviewed: datetime | None = None
) -> Revision:
    """Send the revision in review back to its author; the comment says what to fix (with
    ``reviewed``, only the submission the reviewer read: see :func:`approve`)."""
    table = load_for(session, user, Action.REVIEW, code)
    revision = _in_review(table, "reject")
    _as_reviewed(revision, reviewed, "reject")
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed.one(
            "rejecting needs a comment telling the author what to fix", field="comment"
        )
    revision.state = RevisionState.REJECTED
    revision.reviewed_by = user.name
    revision.reviewed_at = utcnow()
    revision.review_comment = comment
    revision.publish_at = None
    session.flush()
    _audit(session, user, "reject", code, revision.number, comment=comment)
    return revision


def withdraw(session: Session, user: User, code: str, *, comment: str = "") -> Revision:
    """Take a revision back from review (or cancel its schedule) to edit it further."""
    table = load_for(session, user, Action.SUBMIT, code)
    revision = _in_review(table, "withdraw")
    _require_author(user, revision, "withdraw")
    _back_to_draft(revision)
    session.flush()
    _audit(session, user, "withdraw", code, revision.number, comment=comment.strip())
    return revision


def _back_to_draft(revision: Revision) -> None:
    """Out of review, its approval and schedule (if any) undone."""
    revision.state = RevisionState.DRAFT
    revision.submitted_at = None
    revision.reviewed_by = None
    revision.reviewed_at = None
    revision.review_comment = ""
    revision.publish_at = None


def archive(session: Session, user: User, code: str, *, comment: str = "") -> Revision:
    """Take the table out of service: its live revision is archived and nothing is live.

    A revision in review or approved and scheduled goes back to draft (its schedule cancelled):
    else the sweep would publish it and bring the table back unasked."""
    table = load_for(session, user, Action.ARCHIVE, code)
    live = table.live_revision
    if live is None:
        raise _refuse(table, "archive")
    live.state = RevisionState.ARCHIVED
    table.live_revision = None
    pending = table.latest_revision
    if pending.state is RevisionState.IN_REVIEW:
        was = status_of(pending)
        _back_to_draft(pending)
        _audit(
            session,
            user,
            "withdraw",
            code,
            pending.number,
            comment=f"{'schedule cancelled' if was == 'scheduled' else 'review ended'}: table archived",
        )
    session.flush()
    changes.mark(session, table.id)
    _audit(session, user, "archive", code, live.number, comment=comment.strip())
    flags.resolve_open(
        session, table, flags.Resolution.ARCHIVED, actor=user.name, comment="table archived"
    )
    return live


def rollback(session: Session, user: User, code: str, to: int, *, note: str = "") -> Revision:
    """A new draft copying revision ``to``; it goes live only once reviewed and approved."""
    table = load_for(session, user, Action.ROLLBACK, code)
    latest = table.latest_revision
    if latest.state in (RevisionState.DRAFT, RevisionState.IN_REVIEW):
        raise _refuse(table, "roll back")
    target = repository.revision(session, table, to)
    if target is None:
        raise NotFound(f"Table {code} has no revision {to}; it has revisions 1–{latest.number}.")
    if target.state is RevisionState.REJECTED:
        raise Conflict(
            f"Revision {to} of {code} was rejected and never live; roll back to a published or "
            "archived revision."
        )
    if table.live_revision is target:
        raise Conflict(f"Revision {to} of {code} is already live; nothing to roll back.")
    revision = tables.add_revision(
        session,
        table,
        tables.current_content(table, target),
        actor=user.name,
        note=note or f"rollback to revision {to}",
        based_on=to,
    )
    _audit(session, user, "rollback", code, revision.number, detail={"to": to})
    return revision


def _audit(
    session: Session,
    user: User,
    action: str,
    code: str,
    revision: int,
    *,
    comment: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit entry of one step on table ``code`` by ``user``."""
    audit.record(
        session,
        actor=user.name,
        action=action,
        object_type="table",
        object_key=code,
        revision=revision,
        comment=comment,
        detail=detail,
    )
