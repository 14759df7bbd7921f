from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import handoff, querylog, repository
from kb.clock import frozen
from kb.contact import Contact
from kb.db import Database
from kb.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kb.models import Audience, Feedback, HandoffStatus, User
from kb.users import create_user
from tests.factories import make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def crew(session: Session) -> dict[str, User]:
    package = make_package(session)
    make_table(session, package)
    make_table(session, package, code="TX-GH-002", title="改号需要带什么材料")
    make_table(
        session, package, code="TX-GH-009", title="内部：计费争议", audience=Audience.INTERNAL
    )
    specs = [("agent1", "agent"), ("editor1", "editor"), ("reviewer1", "reviewer")]
    specs += [("admin1", "admin"), ("agent2", "agent")]
    return {name: create_user(session, name, role) for name, role in specs}


def _ask(session: Session, **overrides: object) -> handoff.Created:
    values: dict[str, object] = {
        "question": " 改号以后旧号码的积分怎么办 ",
        "contact": Contact(name="王先生", phone="138-1234-5678"),
        "shown": ["TX-GH-001", "NOPE-1", "TX-GH-009"],
        "abstained": True,
    }
    values.update(overrides)
    return handoff.create_request(session, handoff.NewRequest(**values))  # type: ignore[arg-type]


def test_a_request_keeps_question_what_was_shown_and_contact(
    session: Session, crew: dict[str, User]
) -> None:
    with frozen(NOW):
        created = _ask(session)
    request = created.request
    assert request.ref == f"KF{request.id:06d}"
    assert (request.question, request.abstained, request.channel) == (
        "改号以后旧号码的积分怎么办",
        True,
        "web",
    )
    # Codes the portal never shows (unknown, internal) are dropped; titles come from the
    # database, not from the customer.
    assert request.shown == [{"code": "TX-GH-001", "title": "改号后原号码是否还会产生话费"}]
    assert (request.contact_name, request.contact_phone, request.contact_email) == (
        "王先生",
        "13812345678",
        "",
    )
    assert (request.status, request.assignee, request.created_at) == (
        HandoffStatus.NEW,
        None,
        NOW,
    )
    # Only the hash of the token is stored; the token is long and from an unambiguous alphabet.
    assert len(created.token) == 12 and set(created.token) <= set(handoff.TOKEN_ALPHABET)
    assert created.token not in request.token_hash
    # The question is still a knowledge-gap signal.
    vote = session.scalars(select(Feedback)).one()
    assert (vote.query, vote.helpful, vote.table_id, vote.channel) == (
        "改号以后旧号码的积分怎么办",
        False,
        None,
        "customer",
    )
    entry = repository.audit_for(session, "request", request.ref)[-1]
    assert (entry.actor, entry.action, entry.detail) == (
        "customer",
        "create",
        {"channel": "web", "abstained": True, "shown": 1},
    )
    assert "13812345678" not in str(entry.detail)


def test_abstained_comes_from_the_logged_search(session: Session, crew: dict[str, User]) -> None:
    logged = querylog.log_search(
        session,
        enabled=True,
        channel="customer",
        query="改号积分",
        normalized="改号积分",
        results=[],
        abstained=False,
        latency_ms=1.0,
    )
    assert logged is not None
    request = _ask(session, abstained=None, query_log_id=logged.id).request
    assert (request.abstained, request.query_log_id) == (False, logged.id)
    assert _ask(session, abstained=None, shown=[]).request.abstained is True


def test_bad_input_names_every_field(session: Session, crew: dict[str, User]) -> None:
    agent_log = querylog.log_search(
        session,
        enabled=True,
        channel="agent",
        query="x",
        normalized="x",
        results=[],
        abstained=True,
        latency_ms=1.0,
    )
    assert agent_log is not None
    with pytest.raises(ValidationFailed) as caught:
        _ask(
            session,
            question="  ",
            contact=Contact(phone="123", email="no"),
            channel="fax",
            query_log_id=agent_log.id,
        )
    assert [p.field for p in caught.value.problems] == [
        "question",
        "channel",
        "contact_phone",
        "contact_email",
        "query_log_id",
    ]
    with pytest.raises(ValidationFailed, match="at most 500 characters"):
        _ask(session, question="问" * 501)
    with pytest.raises(ValidationFailed, match="at most 20 shown"):
        _ask(session, shown=[f"C{i}" for i in range(21)])


def test_the_customer_reads_their_request_only_with_its_token(
    session: Session, crew: dict[str, User]
) -> None:
    mine = _ask(session)
    other = _ask(session, question="另一个客户的问题")
    ref = mine.request.ref
    assert ref is not None
    assert handoff.lookup(session, ref, mine.token) is mine.request
    # Typed by hand: lower case, spaces and dashes between groups are fine.
    typed = "-".join([mine.token[:4], mine.token[4:8], mine.token[8:]]).lower()
    assert handoff.lookup(session, ref.lower(), typed) is mine.request
    for wrong_ref, token in ((ref, other.token), ("KF999999", mine.token), (ref, "")):
        with pytest.raises(NotFound) as caught:
            handoff.lookup(session, wrong_ref, token)
        assert "with this token" in str(caught.value)
    view = handoff.customer_view(mine.request)
    assert (view.ref, view.status, view.replies) == (ref, HandoffStatus.NEW, [])
    assert view.contact == Contact(name="王***", phone="138****5678")


def test_staff_work_a_request_through_its_lifecycle(
    session: Session, crew: dict[str, User]
) -> None:
    ref = _ask(session).request.ref
    assert ref is not None
    agent, reviewer = crew["agent1"], crew["reviewer1"]
    with frozen(NOW):
        request = handoff.assign(session, reviewer, ref, "agent1")
    assert (request.status, request.assignee) == (HandoffStatus.IN_PROGRESS, "agent1")
    handoff.note(session, agent, ref, "客户上午不方便接电话")
    with pytest.raises(Conflict, match="no reply to the customer yet"):
        handoff.set_status(session, agent, ref, "answered")
    with frozen(NOW + timedelta(hours=1)):
        handoff.reply(session, agent, ref, "您好，改号后积分会自动转到新号码。")
    assert (request.status, request.answered_at) == (
        HandoffStatus.ANSWERED,
        NOW + timedelta(hours=1),
    )
    handoff.set_status(session, agent, ref, "closed", comment="客户确认已解决")
    assert request.status is HandoffStatus.CLOSED and request.closed_at is not None
    with pytest.raises(Conflict, match="closed; reopen it before replying"):
        handoff.reply(session, agent, ref, "补充一句")
    with pytest.raises(Conflict, match="it can go to in_progress, not answered"):
        handoff.set_status(session, agent, ref, "answered")
    handoff.set_status(session, reviewer, ref, "in_progress", comment="客户又来电")
    assert (request.status, request.closed_at) == (HandoffStatus.IN_PROGRESS, None)
    handoff.set_status(session, reviewer, ref, "in_progress", comment="已回电，待客户回复")
    handoff.set_status(session, reviewer, ref, "in_progress")  # nothing to record

    view = handoff.customer_view(request)
    assert [r.text for r in view.replies] == ["您好，改号后积分会自动转到新号码。"]
    assert [(m.author, m.to_customer) for m in request.messages] == [
        ("agent1", False),
        ("agent1", True),
        ("agent1", False),
        ("reviewer1", False),
        ("reviewer1", False),
    ]
    actions = [(e.actor, e.action, e.detail) for e in repository.audit_for(session, "request", ref)]
    assert actions[2:] == [
        ("agent1", "note", {}),
        ("agent1", "reply", {}),
        ("agent1", "status", {"from": "answered", "to": "closed"}),
        ("reviewer1", "status", {"from": "closed", "to": "in_progress"}),
        ("reviewer1", "note", {}),  # the same status with a comment moves nothing
    ]
    assert actions[:2] == [("customer", "create", ANY), ("reviewer1", "assign", ANY)]


def test_the_customer_sees_updated_only_what_they_can_see(
    session: Session, crew: dict[str, User]
) -> None:
    """Staff notes and who holds the request are not the customer's: their page's "updated"
    moves with the status and the replies only (it showed when staff last wrote a note)."""
    with frozen(NOW):
        ref = _ask(session).request.ref
    assert ref is not None
    agent, reviewer = crew["agent1"], crew["reviewer1"]

    def seen() -> datetime:
        return handoff.customer_view(handoff.get_request(session, agent, ref)).updated_at

    with frozen(NOW + timedelta(hours=1)):
        handoff.assign(session, reviewer, ref, "agent1")  # new → in progress: visible
    with frozen(NOW + timedelta(hours=2)):
        handoff.note(session, agent, ref, "客户上午不方便接电话")
        handoff.assign(session, reviewer, ref, "agent2")  # already in progress
        handoff.set_status(session, reviewer, ref, "in_progress", comment="待回电")
    assert seen() == NOW + timedelta(hours=1)
    with frozen(NOW + timedelta(hours=3)):
        handoff.reply(session, agent, ref, "您好，改号后积分会自动转到新号码。")
    with frozen(NOW + timedelta(hours=4)):
        handoff.note(session, agent, ref, "已回复")
    assert seen() == NOW + timedelta(hours=3)
    with frozen(NOW + timedelta(hours=5)):
        handoff.set_status(session, agent, ref, "closed")
    assert seen() == NOW + timedelta(hours=5)


def test_replying_to_a_new_request_answers_it_and_takes_it(
    session: Session, crew: dict[str, User]
) -> None:
    ref = _ask(session).request.ref
    assert ref is not None
    handoff.reply(session, crew["admin1"], ref, "已为您处理。")
    request = handoff.get_request(session, crew["admin1"], ref)
    assert (request.status, request.assignee) == (HandoffStatus.ANSWERED, "admin1")
    with pytest.raises(ValidationFailed, match="reply must not be empty"):
        handoff.reply(session, crew["admin1"], ref, "  ")


def test_only_handlers_may_take_or_be_given_requests(
    session: Session, crew: dict[str, User]
) -> None:
    ref = _ask(session).request.ref
    assert ref is not None
    with pytest.raises(PermissionDenied, match="editor1 \\(editor\\) may not handle_requests"):
        handoff.list_requests(session, crew["editor1"])
    with pytest.raises(PermissionDenied):
        handoff.get_request(session, crew["editor1"], ref)
    with pytest.raises(ValidationFailed, match="editor1 \\(editor\\) may not handle customer"):
        handoff.assign(session, crew["agent1"], ref, "editor1")
    with pytest.raises(NotFound, match="No user"):
        handoff.assign(session, crew["agent1"], ref, "ghost")
    assert [u.name for u in handoff.handlers(session, crew["agent1"])] == [
        "admin1",
        "agent1",
        "agent2",
        "reviewer1",
    ]
    with pytest.raises(NotFound, match="No customer request 'KF999999'"):
        handoff.get_request(session, crew["agent1"], "KF999999")


def test_lists_filter_by_status_and_assignee(session: Session, crew: dict[str, User]) -> None:
    refs = []
    for i in range(3):
        with frozen(NOW + timedelta(minutes=i)):
            refs.append(_ask(session, question=f"问题{i}").request.ref)
    agent = crew["agent1"]
    handoff.assign(session, agent, refs[1], "agent2")
    handoff.set_status(session, agent, refs[2], "closed")
    listed = handoff.list_requests(session, agent)
    assert ([r.ref for r in listed.items], listed.total) == (refs[:2], 2)  # open, oldest first
    assert [r.ref for r in handoff.list_requests(session, agent, status="all").items] == refs
    assert [r.ref for r in handoff.list_requests(session, agent, status="closed").items] == [
        refs[2]
    ]
    mine = handoff.list_requests(session, agent, status="all", assignee="agent2")
    assert [r.ref for r in mine.items] == [refs[1]]
    page = handoff.list_requests(session, agent, status="all", page=2, page_size=2)
    assert ([r.ref for r in page.items], page.total) == ([refs[2]], 3)
    assert handoff.counts(session, agent) == {
        "new": 1,
        "in_progress": 1,
        "answered": 0,
        "closed": 1,
    }
    with pytest.raises(ValidationFailed, match="status must be one of open, all, new"):
        handoff.list_requests(session, agent, status="done")


def test_requests_round_trip_on_every_backend(db: Database) -> None:
    with db.transaction() as session:
        make_table(session)
        create_user(session, "agent1", "agent")
        created = handoff.create_request(
            session,
            handoff.NewRequest(
                question="问题", contact=Contact(email="a@b.cn"), shown=["TX-GH-001"]
            ),
        )
        ref, token = created.request.ref, created.token
    assert ref is not None
    with db.transaction() as session:
        agent = session.scalars(select(User)).one()
        handoff.reply(session, agent, ref, "答复")
    with db.session() as session:
        view = handoff.customer_view(handoff.lookup(session, ref, token))
    assert (view.status, [r.text for r in view.replies], view.contact.email) == (
        HandoffStatus.ANSWERED,
        ["答复"],
        "a***@b.cn",
    )
