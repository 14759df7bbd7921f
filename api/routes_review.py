"""Admin endpoints for the review workflow: transitions, diffs, queues and flags."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api import schemas, views
from api.deps import DbSession, Now, RuntimeDep, require
from api.errors import documented
from api.inputs import Id
from kb import diff, flags, queues, staleness, tables, workflow
from kb.bounds import MAX_DAYS
from kb.models import KnowledgeTable, Revision, User
from kb.permissions import Action, allowed

router = APIRouter(prefix="/api/admin", tags=["admin: review"], responses=documented(401, 403, 429))

QueueReader = Annotated[User, Depends(require(Action.VIEW_QUEUES))]
# Each transition's role is checked before the body, the table or its state is looked at.
Submitter = Annotated[User, Depends(require(Action.SUBMIT))]
Reviewer = Annotated[User, Depends(require(Action.REVIEW))]
Publisher = Annotated[User, Depends(require(Action.PUBLISH))]
Archiver = Annotated[User, Depends(require(Action.ARCHIVE))]
RollingBack = Annotated[User, Depends(require(Action.ROLLBACK))]
Verifier = Annotated[User, Depends(require(Action.VERIFY))]
FlagResolver = Annotated[User, Depends(require(Action.RESOLVE_FLAG))]


def _transition(
    table: KnowledgeTable, revision: Revision, duplicates: list[object] | None = None
) -> schemas.TransitionOut:
    live = table.live_revision
    return schemas.TransitionOut(
        code=table.code,
        revision=revision.number,
        state=workflow.status_of(revision),
        live_revision=live.number if live is not None else None,
        duplicates=[
            schemas.DuplicateOut.model_validate(d, from_attributes=True) for d in duplicates or []
        ],
    )


@router.post(
    "/tables/{code}/submit", summary="Send the draft to review", responses=documented(404, 409)
)
def submit(code: str, session: DbSession, user: Submitter) -> schemas.TransitionOut:
    """Near-duplicate titles or questions elsewhere come back as warnings in `duplicates`."""
    result = workflow.submit(session, user, code)
    return _transition(result.revision.table, result.revision, list(result.duplicates))


@router.post(
    "/tables/{code}/withdraw",
    summary="Take the revision back from review",
    responses=documented(404, 409),
)
def withdraw(
    code: str, body: schemas.CommentIn, session: DbSession, user: Submitter
) -> schemas.TransitionOut:
    revision = workflow.withdraw(session, user, code, comment=body.comment)
    return _transition(revision.table, revision)


@router.post(
    "/tables/{code}/approve",
    summary="Approve the revision in review (publishes it)",
    responses=documented(404, 409),
)
def approve(
    code: str, body: schemas.ApproveIn, session: DbSession, user: Reviewer, runtime: RuntimeDep
) -> schemas.TransitionOut:
    """Goes live now, or at `publish_at` when given; reviewers may not approve their own work."""
    revision = workflow.approve(
        session,
        user,
        code,
        comment=body.comment,
        publish_at=body.publish_at,
        allow_self_approval=runtime.settings.allow_self_approval,
        reviewed=body.submitted_at,
    )
    return _transition(revision.table, revision)


@router.post(
    "/tables/{code}/reject",
    summary="Reject the revision in review, with a comment",
    responses=documented(404, 409),
)
def reject(
    code: str, body: schemas.RejectIn, session: DbSession, user: Reviewer
) -> schemas.TransitionOut:
    revision = workflow.reject(
        session, user, code, comment=body.comment, reviewed=body.submitted_at
    )
    return _transition(revision.table, revision)


@router.post(
    "/tables/{code}/publish",
    summary="Publish an approved, scheduled revision now",
    responses=documented(404, 409),
)
def publish_now(
    code: str, body: schemas.CommentIn, session: DbSession, user: Publisher
) -> schemas.TransitionOut:
    revision = workflow.publish_now(session, user, code, comment=body.comment)
    return _transition(revision.table, revision)


@router.post(
    "/tables/{code}/archive",
    summary="Take a live table out of service",
    responses=documented(404, 409),
)
def archive(
    code: str, body: schemas.CommentIn, session: DbSession, user: Archiver
) -> schemas.TransitionOut:
    revision = workflow.archive(session, user, code, comment=body.comment)
    return _transition(revision.table, revision)


@router.post(
    "/tables/{code}/rollback",
    summary="Start a draft copying an earlier revision",
    responses=documented(404, 409),
)
def rollback(
    code: str, body: schemas.RollbackIn, session: DbSession, user: RollingBack
) -> schemas.TransitionOut:
    revision = workflow.rollback(session, user, code, body.to, note=body.note)
    return _transition(revision.table, revision)


@router.post(
    "/tables/{code}/verify",
    summary="Record a re-verification; optionally extend validity",
    responses=documented(404, 409),
)
def verify(
    code: str, body: schemas.VerifyIn, session: DbSession, user: Verifier
) -> schemas.TransitionOut:
    table = staleness.verify(session, user, code, until=body.valid_until, comment=body.comment)
    live = table.live_revision
    assert live is not None
    return _transition(table, live)


@router.get(
    "/tables/{code}/diff",
    summary="Field-by-field difference between two revisions",
    responses=documented(404),
)
def revision_diff(
    code: str,
    session: DbSession,
    _user: QueueReader,
    a: Annotated[Id | None, Query(description="Older revision (default: the live one)")] = None,
    b: Annotated[Id | None, Query(description="Newer revision (default: the latest)")] = None,
) -> schemas.DiffOut:
    table = tables.get_table(session, code)
    latest = table.latest_revision.number
    base = a or (table.live_revision.number if table.live_revision else None) or max(latest - 1, 1)
    found = diff.diff(session, code, base, b or latest)
    return schemas.DiffOut.model_validate(found.to_dict())


QueueName = Literal["review", "expiring", "expired", "flagged"]


@router.get("/queues/{name}", summary="A governance queue: review, expiring, expired or flagged")
def queue(
    name: QueueName,
    session: DbSession,
    user: QueueReader,
    runtime: RuntimeDep,
    now: Now,
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="Horizon of the expiring queue")
    ] = 14,
) -> schemas.QueueOut:
    """`review` lists what *you* may approve (in your scopes, not your own work)."""
    items: list[schemas.DueItemOut] | list[schemas.ReviewItemOut] | list[schemas.FlaggedItemOut]
    if name == "review":
        # Editors have nothing to approve: an empty queue rather than a refusal.
        pending = (
            queues.awaiting_review(
                session, user, allow_self_approval=runtime.settings.allow_self_approval
            )
            if allowed(user, Action.REVIEW)
            else []
        )
        items = [schemas.ReviewItemOut.model_validate(i, from_attributes=True) for i in pending]
    elif name == "expiring":
        items = [
            schemas.DueItemOut.model_validate(i, from_attributes=True)
            for i in queues.expiring(session, days=days, now=now, user=user)
        ]
    elif name == "expired":
        items = [
            schemas.DueItemOut.model_validate(i, from_attributes=True)
            for i in queues.expired(session, now=now, user=user)
        ]
    else:
        items = [
            schemas.FlaggedItemOut.model_validate(i, from_attributes=True)
            for i in queues.flagged(session, user=user)
        ]
    return schemas.QueueOut(queue=name, count=len(items), items=items)


@router.post(
    "/flags/{flag_id}/dismiss",
    summary="Dismiss an agent's flag, saying why",
    responses=documented(404, 409),
)
def dismiss_flag(
    flag_id: Id, body: schemas.RejectIn, session: DbSession, user: FlagResolver
) -> schemas.FlagOut:
    return views.flag_out(flags.dismiss(session, user, flag_id, body.comment))
