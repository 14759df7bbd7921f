"""Customer requests (domain objects) → response schemas, for the customer and for staff."""

from __future__ import annotations

from urllib.parse import quote

from api import schemas_requests as out
from kb import handoff
from kb.contact import Contact
from kb.models import AuditEntry, HandoffRequest


def status_url(ref: str, token: str) -> str:
    return f"/faq/request/{quote(ref)}?token={quote(token)}"


def contact_out(contact: Contact) -> out.ContactOut:
    return out.ContactOut(
        name=contact.name, phone=contact.phone, email=contact.email, wechat=contact.wechat
    )


def customer_out(view: handoff.CustomerView) -> out.CustomerRequestOut:
    return out.CustomerRequestOut(
        ref=view.ref,
        status=view.status.value,
        question=view.question,
        created_at=view.created_at,
        updated_at=view.updated_at,
        replies=[out.ReplyOut(at=r.at, text=r.text) for r in view.replies],
        contact=contact_out(view.contact),
    )


def row_out(request: HandoffRequest) -> out.RequestRow:
    assert request.ref is not None
    return out.RequestRow(
        ref=request.ref,
        status=request.status.value,
        question=request.question,
        abstained=request.abstained,
        channel=request.channel,
        has_contact=not handoff.contact_of(request).is_empty(),
        assignee=request.assignee,
        created_at=request.created_at,
        updated_at=request.updated_at,
    )


def request_out(request: HandoffRequest, history: list[AuditEntry]) -> out.RequestOut:
    return out.RequestOut(
        **row_out(request).model_dump(),
        shown=[out.ShownOut(code=s["code"], title=s["title"]) for s in request.shown],
        contact=contact_out(handoff.contact_of(request)),
        answered_at=request.answered_at,
        closed_at=request.closed_at,
        next_statuses=[s.value for s in handoff.TRANSITIONS[request.status]],
        messages=[
            out.MessageOut(at=m.at, author=m.author, text=m.text, to_customer=m.to_customer)
            for m in request.messages
        ],
        history=[
            out.HistoryOut(
                at=e.at, actor=e.actor, action=e.action, comment=e.comment, detail=e.detail
            )
            for e in history
        ],
    )
