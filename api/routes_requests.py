"""Staff endpoints for customers' contact requests: list, read, assign, reply, note, status.

All of them need ``handle_requests`` (agents, reviewers, admins: the requests hold the
customers' contact details). The customer's own endpoints are in :mod:`api.routes_faq`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from api import limits
from api import schemas_requests as out
from api.deps import DbSession, require
from api.errors import documented
from api.inputs import PageNumber
from api.views_requests import request_out, row_out
from kb import handoff, repository
from kb.models import User
from kb.permissions import Action

router = APIRouter(
    prefix="/api/admin/requests",
    tags=["admin: customer requests"],
    responses=documented(401, 403, 429),
)

Handler = Annotated[User, Depends(require(Action.HANDLE_REQUESTS))]


def _out(session: Session, user: User, ref: str) -> out.RequestOut:
    request = handoff.get_request(session, user, ref)
    assert request.ref is not None
    return request_out(request, list(repository.audit_for(session, "request", request.ref)))


@router.get("", summary="Customers' contact requests, oldest waiting first")
def list_requests(
    session: DbSession,
    user: Handler,
    status: Annotated[
        str, Query(description="open (new + in_progress), all, or one status")
    ] = "open",
    assignee: Annotated[str | None, Query(max_length=100)] = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = 50,
) -> out.RequestList:
    found = handoff.list_requests(
        session, user, status=status, assignee=assignee, page=page, page_size=page_size
    )
    return out.RequestList(
        total=found.total,
        page=page,
        page_size=page_size,
        status=status,
        counts=handoff.counts(session, user),
        items=[row_out(r) for r in found.items],
    )


@router.get("/handlers", summary="Who a request can be assigned to")
def list_handlers(session: DbSession, user: Handler) -> list[out.HandlerOut]:
    return [
        out.HandlerOut(name=u.name, display_name=u.display_name or u.name, role=u.role.value)
        for u in handoff.handlers(session, user)
    ]


@router.get(
    "/{ref}",
    summary="One request: question, what was shown, contact, messages, history",
    responses=documented(404),
)
def get_request(ref: str, session: DbSession, user: Handler) -> out.RequestOut:
    return _out(session, user, ref)


@router.post(
    "/{ref}/assign",
    summary="Assign a request (a new one is then in progress)",
    responses=documented(404),
)
def assign(ref: str, body: out.AssignIn, session: DbSession, user: Handler) -> out.RequestOut:
    handoff.assign(session, user, ref, body.to)
    return _out(session, user, ref)


@router.post(
    "/{ref}/reply",
    summary="Reply to the customer (shown on their status page)",
    responses=documented(404, 409),
)
def reply(ref: str, body: out.TextIn, session: DbSession, user: Handler) -> out.RequestOut:
    handoff.reply(session, user, ref, body.text)
    return _out(session, user, ref)


@router.post(
    "/{ref}/note",
    summary="Add a note for staff (never shown to the customer)",
    responses=documented(404),
)
def note(ref: str, body: out.TextIn, session: DbSession, user: Handler) -> out.RequestOut:
    handoff.note(session, user, ref, body.text)
    return _out(session, user, ref)


@router.post(
    "/{ref}/status",
    summary="Move a request: in_progress, answered, closed",
    responses=documented(404, 409),
)
def set_status(ref: str, body: out.StatusIn, session: DbSession, user: Handler) -> out.RequestOut:
    handoff.set_status(session, user, ref, body.status, comment=body.comment)
    return _out(session, user, ref)
