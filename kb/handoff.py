"""Customers' requests to reach a person (联系人工客服), and staff working them.

    new ──assign──▶ in_progress ──reply──▶ answered ──close──▶ closed
     │                  ▲  │                  │                  │
     │                  │  └──────close───────┼──────────────────▶
     │                  └─────reopen──────────┴──────────────────┘
     ├──────────────────────close────────────────────────────────▶
     └──reply──▶ answered

A reply to the customer (shown on their status page) makes a new or in-progress request
*answered*; a note is between staff only and changes no status. The customer reads their request with its reference number and a secret
token handed out once at creation; only the token's hash is stored, and a wrong reference or
token reads as "no such request" (no one can learn that another customer's request exists).

Staff functions check :data:`Action.HANDLE_REQUESTS`, write the audit log (object type
``request``, key the reference) in the caller's transaction and flush; the edge commits.
The customer-facing :func:`create_request` also records the question as a knowledge-gap
signal (a not-helpful vote on no table), as the contact button did before requests existed.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb import audit, feedback, locks, portal, repository, users
from kb.clock import utcnow
from kb.contact import Contact, check_contact, masked
from kb.errors import Conflict, NotFound, Problem, ValidationFailed
from kb.models import HandoffMessage, HandoffRequest, HandoffStatus, QueryLogEntry, User
from kb.permissions import Action, allowed, check

MAX_QUESTION_CHARS = 500
MAX_MESSAGE_CHARS = 2000
MAX_SHOWN = 20
CHANNELS = ("web", "app", "wechat")
REF_PREFIX = "KF"
# No 0/O, 1/I/L: a customer may read the token out over the phone or type it from paper.
TOKEN_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TOKEN_LENGTH = 12  # 31^12 ≈ 2^59 possibilities

S = HandoffStatus
TRANSITIONS: dict[HandoffStatus, tuple[HandoffStatus, ...]] = {
    S.NEW: (S.IN_PROGRESS, S.CLOSED),
    S.IN_PROGRESS: (S.ANSWERED, S.CLOSED),
    S.ANSWERED: (S.IN_PROGRESS, S.CLOSED),
    S.CLOSED: (S.IN_PROGRESS,),
}
OPEN = (S.NEW, S.IN_PROGRESS)


@dataclass(frozen=True)
class NewRequest:
    """What the customer sends: the question, what they were shown, how to reach them."""

    question: str
    contact: Contact = field(default_factory=Contact)
    shown: Sequence[str] = ()  # codes of the answers the customer was shown
    abstained: bool | None = None  # None: read it from the logged search, else True
    channel: str = "web"
    query_log_id: int | None = None
    # The question joins the knowledge-gap list (False: this client already sent it lately;
    # the request itself is made all the same).
    gap_signal: bool = True


@dataclass(frozen=True)
class Created:
    request: HandoffRequest
    token: str  # shown to the customer once; only its hash is stored


@dataclass(frozen=True)
class Reply:
    at: datetime
    text: str


@dataclass(frozen=True)
class CustomerView:
    """What the customer's status page shows: no staff names, no notes, contact masked."""

    ref: str
    status: HandoffStatus
    question: str
    created_at: datetime
    updated_at: datetime
    replies: list[Reply]
    contact: Contact


@dataclass
class RequestPage:
    items: list[HandoffRequest]
    total: int


def _text(value: str, field_name: str, limit: int, *, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed.one(f"{what} must not be empty", field=field_name, value=value)
    if len(text) > limit:
        raise ValidationFailed.one(
            f"{what} must be at most {limit} characters (got {len(text)})",
            field=field_name,
            value=text[:40] + "…",
        )
    return text


def contact_of(request: HandoffRequest) -> Contact:
    return Contact(
        name=request.contact_name,
        phone=request.contact_phone,
        email=request.contact_email,
        wechat=request.contact_wechat,
    )


def normalize_token(token: str) -> str:
    """The token as typed (any case, spaces or dashes between groups) in its stored form."""
    return "".join(ch for ch in token.upper() if ch.isalnum())


def _new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def _shown(session: Session, codes: Sequence[str], now: datetime) -> list[dict[str, str]]:
    """The answers shown, with their titles as stored.

    Only what the portal could have shown is kept (unknown, internal, unpublished or expired
    codes are dropped): the record says what the customer saw, not what a client claims.
    """
    wanted = list(dict.fromkeys(c for c in codes if isinstance(c, str) and c))
    if len(wanted) > MAX_SHOWN:
        raise ValidationFailed.one(
            f"at most {MAX_SHOWN} shown answers", field="shown", value=len(wanted)
        )
    public = portal.visible_codes(session, wanted, now)
    found = repository.tables_by_codes(session, [c for c in wanted if c in public])
    return [{"code": c, "title": found[c].title} for c in wanted if c in found]


def create_request(session: Session, new: NewRequest) -> Created:
    """Store a customer's request (anonymous: no permission check) and return its token."""
    problems: list[Problem] = []
    question = (new.question or "").strip()
    if not question:
        problems.append(Problem("question must not be empty", "question", new.question))
    elif len(question) > MAX_QUESTION_CHARS:
        problems.append(
            Problem(
                f"question must be at most {MAX_QUESTION_CHARS} characters (got {len(question)})",
                "question",
                question[:40] + "…",
            )
        )
    if new.channel not in CHANNELS:
        problems.append(
            Problem(f"channel must be one of {', '.join(CHANNELS)}", "channel", new.channel)
        )
    c = new.contact
    contact, contact_problems = check_contact(c.name, c.phone, c.email, c.wechat)
    problems += contact_problems
    logged = session.get(QueryLogEntry, new.query_log_id) if new.query_log_id else None
    if new.query_log_id is not None and (logged is None or logged.channel != "customer"):
        problems.append(
            Problem("no customer search with this id", "query_log_id", new.query_log_id)
        )
    if problems:
        raise ValidationFailed("The request cannot be sent.", problems=problems)
    now = utcnow()
    shown = _shown(session, new.shown, now)
    if new.abstained is not None:
        abstained = new.abstained
    elif logged is not None:
        abstained = logged.abstained
    else:
        abstained = not shown
    token = _new_token()
    request = HandoffRequest(
        token_hash=users.hash_token(token),
        question=question,
        shown=shown,
        abstained=abstained,
        channel=new.channel,
        contact_name=contact.name,
        contact_phone=contact.phone,
        contact_email=contact.email,
        contact_wechat=contact.wechat,
        status=HandoffStatus.NEW,
        query_log_id=logged.id if logged is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    request.ref = f"{REF_PREFIX}{request.id:06d}"
    # The knowledge-gap list still learns the question, whoever answers the customer.
    if new.gap_signal:
        feedback.record_vote(
            session,
            channel="customer",
            table=None,
            helpful=False,
            query=question,
            query_log_id=request.query_log_id,
        )
    audit.record(
        session,
        actor="customer",
        action="create",
        object_type="request",
        object_key=request.ref,
        # Never the contact details: the audit trail outlives the request.
        detail={"channel": new.channel, "abstained": abstained, "shown": len(shown)},
    )
    return Created(request, token)


def find_own(session: Session, ref: str, token: str) -> HandoffRequest | None:
    """The customer's own request, or None for an unknown reference and a wrong token alike."""
    request = session.scalar(
        select(HandoffRequest).where(HandoffRequest.ref == ref.strip().upper())
    )
    wanted = users.hash_token(normalize_token(token or ""))
    if request is None or not hmac.compare_digest(request.token_hash, wanted):
        return None
    return request


def lookup(session: Session, ref: str, token: str) -> HandoffRequest:
    """The customer's own request; NotFound for an unknown reference and a wrong token alike."""
    request = find_own(session, ref, token)
    if request is None:
        raise NotFound(
            f"No request {ref!r} with this token; check the reference number and the token "
            "from the confirmation (the link you were given holds both)."
        )
    return request


def customer_view(request: HandoffRequest) -> CustomerView:
    assert request.ref is not None
    return CustomerView(
        ref=request.ref,
        status=request.status,
        question=request.question,
        created_at=request.created_at,
        updated_at=request.updated_at,
        replies=[Reply(m.at, m.text) for m in request.messages if m.to_customer],
        contact=masked(contact_of(request)),
    )


# ---------------------------------------------------------------- staff


def _missing(ref: str) -> NotFound:
    return NotFound(f"No customer request {ref!r}; `kb requests --status all` lists them.")


def get_request(session: Session, user: User, ref: str) -> HandoffRequest:
    """The request ``ref``, to read (the role is checked before it is looked up)."""
    check(user, Action.HANDLE_REQUESTS)
    request = session.scalar(
        select(HandoffRequest).where(HandoffRequest.ref == ref.strip().upper())
    )
    if request is None:
        raise _missing(ref)
    return request


def _for_change(session: Session, user: User, ref: str) -> HandoffRequest:
    """The request ``ref``, locked and read fresh: two people working it at once see each
    other's change (the second to close it finds it closed, a reply after a close is refused)."""
    check(user, Action.HANDLE_REQUESTS)
    request = locks.lock_request(session, ref.strip().upper())
    if request is None:
        raise _missing(ref)
    return request


def _status_filter(status: str | None) -> tuple[HandoffStatus, ...]:
    if status in (None, "", "open"):
        return OPEN
    if status == "all":
        return tuple(HandoffStatus)
    try:
        return (HandoffStatus(status),)
    except ValueError:
        names = ", ".join(["open", "all", *(s.value for s in HandoffStatus)])
        raise ValidationFailed.one(
            f"status must be one of {names}", field="status", value=status
        ) from None


def list_requests(
    session: Session,
    user: User,
    *,
    status: str | None = "open",
    assignee: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> RequestPage:
    """Requests, oldest waiting first (``status``: open, all, or one status)."""
    check(user, Action.HANDLE_REQUESTS)
    query = select(HandoffRequest).where(HandoffRequest.status.in_(_status_filter(status)))
    if assignee:
        query = query.where(HandoffRequest.assignee == assignee)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(HandoffRequest.created_at, HandoffRequest.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return RequestPage(items=list(rows), total=total)


def counts(session: Session, user: User) -> dict[str, int]:
    """How many requests are in each status."""
    check(user, Action.HANDLE_REQUESTS)
    found = dict(
        session.execute(
            select(HandoffRequest.status, func.count()).group_by(HandoffRequest.status)
        ).all()
    )
    return {s.value: int(found.get(s, 0)) for s in HandoffStatus}


def handlers(session: Session, user: User) -> list[User]:
    """Active users a request can be assigned to."""
    check(user, Action.HANDLE_REQUESTS)
    return [u for u in users.list_users(session) if u.active and allowed(u, Action.HANDLE_REQUESTS)]


def _move(request: HandoffRequest, to: HandoffStatus, now: datetime) -> HandoffStatus:
    before = request.status
    if to is before:
        return before
    if to not in TRANSITIONS[before]:
        allowed_now = ", ".join(s.value for s in TRANSITIONS[before])
        raise Conflict(
            f"Request {request.ref} is {before.value}; it can go to {allowed_now}, not {to.value}."
        )
    request.status = to
    if to is HandoffStatus.ANSWERED:
        request.answered_at = now
    request.closed_at = now if to is HandoffStatus.CLOSED else None
    return before


def assign(session: Session, user: User, ref: str, to: str | None) -> HandoffRequest:
    """Give the request to ``to`` (None: nobody); a new request is then in progress."""
    request = _for_change(session, user, ref)
    target = None
    if to:
        target = users.get_user(session, to)
        if not target.active or not allowed(target, Action.HANDLE_REQUESTS):
            raise ValidationFailed.one(
                f"{target.name} ({target.role.value}) may not handle customer requests; "
                "assign it to an agent, a reviewer or an admin",
                field="to",
                value=to,
            )
    now = utcnow()
    before = request.assignee
    request.assignee = target.name if target else None
    if target is not None and request.status is HandoffStatus.NEW:
        _move(request, HandoffStatus.IN_PROGRESS, now)
        request.updated_at = now  # who holds it is staff's business; the status is not
    session.flush()
    audit.record(
        session,
        actor=user.name,
        action="assign",
        object_type="request",
        object_key=request.ref or "",
        detail={"from": before, "to": request.assignee},
    )
    return request


def set_status(
    session: Session, user: User, ref: str, status: HandoffStatus | str, *, comment: str = ""
) -> HandoffRequest:
    """Move the request along its lifecycle; *answered* needs a reply to the customer first."""
    request = _for_change(session, user, ref)
    try:
        to = HandoffStatus(status)
    except ValueError:
        names = ", ".join(s.value for s in HandoffStatus)
        raise ValidationFailed.one(
            f"status must be one of {names}", field="status", value=status
        ) from None
    if to is HandoffStatus.ANSWERED and not any(m.to_customer for m in request.messages):
        raise Conflict(
            f"Request {request.ref} has no reply to the customer yet; reply first "
            "(the reply is what the customer reads)."
        )
    now = utcnow()
    comment = (comment or "").strip()[:MAX_MESSAGE_CHARS]
    before = _move(request, to, now)
    if before is to and not comment:
        return request
    if before is not to:
        request.updated_at = now
    if comment:
        request.messages.append(
            HandoffMessage(at=now, author=user.name, text=comment, to_customer=False)
        )
    session.flush()
    moved = before is not to  # unchanged, the comment is all there is: a note, not a move
    audit.record(
        session,
        actor=user.name,
        action="status" if moved else "note",
        object_type="request",
        object_key=request.ref or "",
        comment=comment,
        detail={"from": before.value, "to": to.value} if moved else None,
    )
    return request


def _message(
    session: Session, user: User, ref: str, text: str, *, to_customer: bool
) -> HandoffMessage:
    request = _for_change(session, user, ref)
    body = _text(text, "text", MAX_MESSAGE_CHARS, what="reply" if to_customer else "note")
    now = utcnow()
    if to_customer:
        if request.status is HandoffStatus.CLOSED:
            raise Conflict(f"Request {request.ref} is closed; reopen it before replying.")
        # Replying is answering, from new and in progress alike (no separate step first).
        request.status = HandoffStatus.ANSWERED
        request.answered_at = now
        if request.assignee is None:
            request.assignee = user.name
    message = HandoffMessage(at=now, author=user.name, text=body, to_customer=to_customer)
    request.messages.append(message)
    if to_customer:
        request.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=user.name,
        action="reply" if to_customer else "note",
        object_type="request",
        object_key=request.ref or "",
        comment=body,
    )
    return message


def reply(session: Session, user: User, ref: str, text: str) -> HandoffMessage:
    """Answer the customer: the text appears on their status page; the request is answered."""
    return _message(session, user, ref, text, to_customer=True)


def note(session: Session, user: User, ref: str, text: str) -> HandoffMessage:
    """A note between staff (never shown to the customer); the status stays as it is."""
    return _message(session, user, ref, text, to_customer=False)
