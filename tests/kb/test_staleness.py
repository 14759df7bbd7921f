from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from kb import changes, flags, hierarchy, queues, repository, staleness, tables, workflow
from kb.clock import frozen
from kb.errors import Conflict, PermissionDenied, ValidationFailed
from kb.models import KnowledgeTable, RevisionState, User
from kb.users import create_user
from kb.visibility import Channel, visible
from kb.workflow import Edit
from tests.factories import TEMPLATE, make_package, make_table

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def seen(table: KnowledgeTable, at: datetime) -> tuple[bool, bool, bool]:
    """(customer, agent, agent with include_expired) visibility at ``at``."""
    return (
        visible(table, Channel.CUSTOMER, at),
        visible(table, Channel.AGENT, at),
        visible(table, Channel.AGENT, at, include_expired=True),
    )


@pytest.fixture
def reviewer(session: Session) -> User:
    make_package(session, review_interval_days=30, owner="李娜")
    return create_user(session, "reviewer1", "reviewer")


def test_expiry_holds_at_query_time_without_a_sweep(session: Session, reviewer: User) -> None:
    with frozen(T0):
        table = make_table(session, valid_until=T0 + 10 * DAY)
    assert table.expired_at is None
    with frozen(T0 + 10 * DAY - timedelta(seconds=1)):
        assert seen(table, T0 + 10 * DAY - timedelta(seconds=1)) == (True, True, True)
    assert seen(table, T0 + 10 * DAY) == (False, False, True)
    assert table.expired_at is None  # nothing recorded it; the rule alone hides it


def test_review_interval_expires_and_verification_extends(session: Session, reviewer: User) -> None:
    with frozen(T0):
        table = make_table(session)
    assert seen(table, T0 + 30 * DAY) == (False, False, True)
    with frozen(T0 + 31 * DAY):
        staleness.verify(session, reviewer, "TX-GH-001", comment="已核对资费")
    assert table.last_verified_at == T0 + 31 * DAY
    assert seen(table, T0 + 31 * DAY) == (True, True, True)
    assert seen(table, T0 + 61 * DAY) == (False, False, True)


def test_sweep_records_what_went_stale_once(session: Session, reviewer: User) -> None:
    with frozen(T0):
        fresh = make_table(session, code="TX-FRESH", title="新的", valid_until=T0 + 100 * DAY)
        old = make_table(session, code="TX-OLD", title="旧的", valid_until=T0 + 5 * DAY)
        draft = make_table(session, code="TX-DRAFT", title="草稿", state=RevisionState.DRAFT)
    changes.pop(session)
    assert fresh.id != draft.id
    report = staleness.sweep(session, T0 + 40 * DAY)
    assert report.to_dict() == {
        "published": [],
        "expired": ["TX-FRESH", "TX-OLD"],
        "revived": [],
        "held": [],
    }
    assert (fresh.expired_at, old.expired_at) == (T0 + 30 * DAY, T0 + 5 * DAY)
    assert draft.expired_at is None
    assert changes.pop(session) == {fresh.id, old.id}
    entry = repository.audit_for(session, "table", "TX-OLD")[-1]
    assert (entry.actor, entry.action, entry.revision, entry.detail) == (
        "system",
        "expire",
        1,
        {"expires_at": (T0 + 5 * DAY).isoformat()},
    )
    assert staleness.sweep(session, T0 + 41 * DAY).to_dict() == {
        "published": [],
        "expired": [],
        "revived": [],
        "held": [],
    }
    assert changes.pop(session) == set()


def test_sweep_revives_a_table_whose_validity_was_extended(
    session: Session, reviewer: User
) -> None:
    with frozen(T0):
        table = make_table(session, valid_until=T0 + 5 * DAY)
    staleness.sweep(session, T0 + 6 * DAY)
    assert table.expired_at == T0 + 5 * DAY
    with frozen(T0 + 6 * DAY):
        tables.update_meta(
            session,
            table,
            tables.TableMeta(valid_until=T0 + 20 * DAY, last_verified_at=T0 + 6 * DAY),
            actor="admin",
        )
    report = staleness.sweep(session, T0 + 7 * DAY)
    assert report.revived == ["TX-GH-001"] and table.expired_at is None
    assert repository.audit_for(session, "table", "TX-GH-001")[-1].action == "unexpire"


def test_sweep_publishes_scheduled_revisions_first(session: Session, reviewer: User) -> None:
    editor = create_user(session, "editor1", "editor")
    with frozen(T0):
        table = make_table(session, valid_until=T0 + 100 * DAY)
        workflow.edit(session, editor, "TX-GH-001", Edit(fields={"answer": "七月起新口径"}))
        workflow.submit(session, editor, "TX-GH-001")
        workflow.approve(session, reviewer, "TX-GH-001", publish_at=T0 + 29 * DAY)
    # Revision 1 would be stale at day 30; revision 2 goes live at day 29 and counts from there.
    with frozen(T0 + 30 * DAY):
        report = staleness.sweep(session, T0 + 30 * DAY)
    assert report.to_dict() == {
        "published": ["TX-GH-001"],
        "expired": [],
        "revived": [],
        "held": [],
    }
    assert table.live_revision is not None and table.live_revision.number == 2
    assert table.last_verified_at == T0 + 30 * DAY
    assert seen(table, T0 + 59 * DAY) == (True, True, True)


def test_a_scheduled_revision_that_cannot_go_live_goes_back_to_review_alone(
    session: Session, reviewer: User
) -> None:
    """Its failure aborted every sweep, run after run: no other table published or expired."""
    editor = create_user(session, "editor1", "editor")
    admin = create_user(session, "admin1", "admin")
    with frozen(T0):
        for code in ("TX-BAD", "TX-GOOD"):
            make_table(session, code=code, title=code, valid_until=T0 + 100 * DAY)
            workflow.edit(session, editor, code, Edit(fields={"answer": "新口径"}))
        workflow.propose_meta(
            session, editor, "TX-BAD", {"valid_until": (T0 + 60 * DAY).isoformat()}
        )
        for code in ("TX-BAD", "TX-GOOD"):
            workflow.submit(session, editor, code)
            workflow.approve(session, reviewer, code, publish_at=T0 + 10 * DAY)
        stale = make_table(session, code="TX-OLD", title="旧的", valid_until=T0 + 5 * DAY)
        # an admin moves the start past the end the scheduled revision will apply
        tables.update_meta(
            session,
            repository.table_by_code(session, "TX-BAD"),  # type: ignore[arg-type]
            tables.TableMeta(valid_from=T0 + 70 * DAY, valid_until=T0 + 100 * DAY),
            actor=admin.name,
        )
    with frozen(T0 + 10 * DAY):
        report = staleness.sweep(session, T0 + 10 * DAY)
    assert (report.published, report.expired) == (["TX-GOOD"], ["TX-OLD"])
    [held] = report.held
    assert held.startswith("TX-BAD: ") and "valid_until must be after valid_from" in held
    bad = repository.table_by_code(session, "TX-BAD")
    assert bad is not None and bad.live_revision is not None and bad.live_revision.number == 1
    pending = bad.latest_revision
    assert (pending.state, workflow.status_of(pending), pending.publish_at) == (
        RevisionState.IN_REVIEW,
        "in_review",
        None,
    )
    assert "scheduled publication failed" in pending.review_comment
    assert repository.audit_for(session, "table", "TX-BAD")[-1].action == "unschedule"
    assert stale.expired_at == T0 + 5 * DAY
    again = staleness.sweep(session, T0 + 11 * DAY)
    assert again.held == [] and again.published == []


def test_verify_extends_valid_until_and_clears_expired_at(session: Session, reviewer: User) -> None:
    with frozen(T0):
        table = make_table(session, valid_until=T0 + 5 * DAY)
    staleness.sweep(session, T0 + 6 * DAY)
    changes.pop(session)
    with frozen(T0 + 6 * DAY), pytest.raises(ValidationFailed) as caught:
        staleness.verify(session, reviewer, "TX-GH-001")
    assert str(caught.value.problems[0]) == (
        "valid_until: valid_until 2026-06-06T02:00:00+00:00 has passed; give a new one to "
        "extend it (kb verify TX-GH-001 --until YYYY-MM-DD)"
    )
    with frozen(T0 + 6 * DAY), pytest.raises(ValidationFailed, match="must be in the future"):
        staleness.verify(session, reviewer, "TX-GH-001", until=T0 + 6 * DAY)
    with frozen(T0 + 6 * DAY):
        staleness.verify(session, reviewer, "TX-GH-001", until=T0 + 90 * DAY)
    assert (table.valid_until, table.last_verified_at, table.expired_at) == (
        T0 + 90 * DAY,
        T0 + 6 * DAY,
        None,
    )
    assert changes.pop(session) == {table.id}
    entry = repository.audit_for(session, "table", "TX-GH-001")[-1]
    assert (entry.actor, entry.action, entry.detail) == (
        "reviewer1",
        "verify",
        {
            "valid_until": (T0 + 90 * DAY).isoformat(),
            "expires_at": (T0 + 36 * DAY).isoformat(),  # the review interval comes first
        },
    )
    assert seen(table, T0 + 35 * DAY) == (True, True, True)


def test_verify_is_for_reviewers_in_scope_and_live_tables(session: Session, reviewer: User) -> None:
    make_table(session)
    make_table(session, code="TX-D", title="草稿", state=RevisionState.DRAFT)
    other = make_package(session, "银行服务", "信用卡", template=TEMPLATE)
    make_table(session, package=other, code="YH-1", title="年费")
    editor = create_user(session, "editor1", "editor")
    scoped = create_user(session, "rv-tx", "reviewer", ["通信业务"])
    with pytest.raises(PermissionDenied, match=r"editor1 \(editor\) may not verify"):
        staleness.verify(session, editor, "TX-GH-001")
    with pytest.raises(PermissionDenied, match="may not verify in 银行服务/信用卡"):
        staleness.verify(session, scoped, "YH-1")
    staleness.verify(session, scoped, "TX-GH-001")
    with pytest.raises(Conflict, match="TX-D: it has no live revision; allowed now: edit, submit"):
        staleness.verify(session, reviewer, "TX-D")


def test_queues_expiring_and_expired(session: Session, reviewer: User) -> None:
    other = make_package(session, "银行服务", "信用卡", template=TEMPLATE, review_interval_days=0)
    with frozen(T0):
        make_table(session, code="TX-A", title="A", valid_until=T0 + 3 * DAY)
        make_table(session, code="TX-B", title="B", valid_until=T0 + 100 * DAY)  # day 30
        make_table(session, code="TX-C", title="C", valid_until=T0 - DAY)
        make_table(session, package=other, code="YH-1", title="年费", valid_until=T0 + 10 * DAY)
        make_table(session, package=other, code="YH-2", title="积分")  # never expires
    due = queues.expiring(session, days=14, now=T0)
    assert [(i.code, i.expires_at) for i in due] == [
        ("TX-A", T0 + 3 * DAY),
        ("YH-1", T0 + 10 * DAY),
    ]
    assert [i.code for i in queues.expiring(session, days=30, now=T0)] == ["TX-A", "YH-1", "TX-B"]
    assert due[1].to_dict() == {
        "code": "YH-1",
        "title": "年费",
        "package": "银行服务/信用卡",
        "owner": "",
        "expires_at": "2026-06-11T02:00:00+00:00",
        "last_verified_at": None,
        "valid_until": "2026-06-11T02:00:00+00:00",
    }
    assert [i.code for i in queues.expired(session, now=T0)] == ["TX-C"]
    assert [i.code for i in queues.expired(session, now=T0 + 31 * DAY)] == [
        "TX-C",
        "TX-A",
        "YH-1",
        "TX-B",
    ]
    scoped = create_user(session, "rv-yh", "reviewer", ["银行服务/信用卡"])
    assert [i.code for i in queues.expiring(session, days=14, now=T0, user=scoped)] == ["YH-1"]
    agent = create_user(session, "agent1", "agent")
    with pytest.raises(PermissionDenied, match="may not view_queues"):
        queues.expired(session, user=agent)


def test_awaiting_review_respects_scope_and_self_approval(session: Session, reviewer: User) -> None:
    card = make_package(session, "银行服务", "信用卡", template=TEMPLATE)
    editor = create_user(session, "editor1", "editor")
    scoped = create_user(session, "rv-yh", "reviewer", ["银行服务"])
    for who, package, code in (
        (editor, card, "YH-1"),
        (scoped, card, "YH-2"),
        (editor, hierarchy.find_package(session, "通信业务/改号业务"), "TX-1"),
    ):
        with frozen(T0):
            workflow.create(
                session, who, package, code, tables.TableContent(code, [], [], {"answer": "答"})
            )
            workflow.submit(session, who, code)
    assert [(i.code, i.author) for i in queues.awaiting_review(session, scoped)] == [
        ("YH-1", "editor1")
    ]
    mine = queues.awaiting_review(session, scoped, allow_self_approval=True)
    assert [i.code for i in mine] == ["YH-1", "YH-2"]
    assert [i.code for i in queues.awaiting_review(session, reviewer)] == ["YH-1", "YH-2", "TX-1"]
    assert queues.awaiting_review(session, reviewer)[0].to_dict() == {
        "code": "YH-1",
        "revision": 1,
        "title": "YH-1",
        "package": "银行服务/信用卡",
        "author": "editor1",
        "submitted_at": T0.isoformat(),
        "note": "",
        "live_revision": None,
    }
    with pytest.raises(PermissionDenied, match=r"editor1 \(editor\) may not review"):
        queues.awaiting_review(session, editor)


def test_owner_digests(session: Session, reviewer: User) -> None:
    card = make_package(session, "银行服务", "信用卡", template=TEMPLATE, owner="王芳")
    make_package(session, "银行服务", "贷款", template=TEMPLATE)
    agent = create_user(session, "agent1", "agent")
    editor = create_user(session, "editor1", "editor")
    with frozen(T0):
        make_table(session, code="TX-A", title="A", valid_until=T0 + 3 * DAY)
        make_table(session, code="TX-C", title="C", valid_until=T0 - DAY)
        make_table(session, package=card, code="YH-1", title="年费", valid_until=T0 + 300 * DAY)
        flags.raise_flag(session, agent, "YH-1", "outdated", "年费政策已调整")
        workflow.edit(session, editor, "YH-1", Edit(fields={"answer": "新年费政策"}))
        workflow.submit(session, editor, "YH-1")
    digests = queues.digests(session, days=14, now=T0)
    summary = [
        (
            d.owner,
            d.packages,
            [i.code for i in d.expiring],
            [i.code for i in d.expired],
            [i.code for i in d.flagged],
            [i.code for i in d.in_review],
        )
        for d in digests
    ]
    assert summary == [
        ("李娜", ["通信业务/改号业务"], ["TX-A"], ["TX-C"], [], []),
        ("王芳", ["银行服务/信用卡"], [], [], ["YH-1"], ["YH-1"]),
        ("", ["银行服务/贷款"], [], [], [], []),
    ]
    assert [d.empty for d in digests] == [False, False, True]
