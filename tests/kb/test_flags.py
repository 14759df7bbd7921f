from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from kb import changes, flags, queues, repository, staleness, workflow
from kb.clock import frozen
from kb.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kb.models import RevisionState, User
from kb.users import create_user
from kb.workflow import Edit
from tests.factories import TEMPLATE, make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def crew(session: Session) -> dict[str, User]:
    make_package(session)
    specs = [("agent1", "agent"), ("agent2", "agent"), ("editor1", "editor")]
    specs += [("reviewer1", "reviewer"), ("reviewer2", "reviewer")]
    return {name: create_user(session, name, role) for name, role in specs}


def test_agent_flags_a_live_table_into_the_queue(session: Session, crew: dict[str, User]) -> None:
    make_table(session)
    changes.pop(session)
    with frozen(NOW):
        flag = flags.raise_flag(session, crew["agent1"], "TX-GH-001", "outdated", " 资费已调整 ")
    assert (flag.reason, flag.comment, flag.raised_by, flag.raised_at, flag.revision_number) == (
        "outdated",
        "资费已调整",
        "agent1",
        NOW,
        1,
    )
    assert changes.pop(session) == set()  # a flag changes nothing that customers see
    [item] = queues.flagged(session, user=crew["reviewer1"])
    assert item.to_dict() == {
        "code": "TX-GH-001",
        "title": "改号后原号码是否还会产生话费",
        "package": "通信业务/改号业务",
        "owner": "",
        "flags": [
            {
                "id": flag.id,
                "reason": "outdated",
                "comment": "资费已调整",
                "raised_by": "agent1",
                "raised_at": NOW.isoformat(),
                "revision": 1,
            }
        ],
    }
    entry = repository.audit_for(session, "table", "TX-GH-001")[-1]
    assert (entry.actor, entry.action, entry.comment, entry.detail) == (
        "agent1",
        "flag",
        "资费已调整",
        {"flag": flag.id, "reason": "outdated"},
    )


def test_flag_input_is_checked(session: Session, crew: dict[str, User]) -> None:
    make_table(session)
    make_table(session, code="TX-D", title="草稿", state=RevisionState.DRAFT)
    with pytest.raises(ValidationFailed) as caught:
        flags.raise_flag(session, crew["agent1"], "TX-GH-001", "boring")
    assert str(caught.value) == (
        "reason must be one of wrong, outdated, unclear, duplicate\n"
        "  - reason: reason must be one of wrong, outdated, unclear, duplicate"
    )
    with pytest.raises(Conflict, match="TX-D has no live revision"):
        flags.raise_flag(session, crew["agent1"], "TX-D", "wrong")
    with pytest.raises(NotFound, match="'TX-404'"):
        flags.raise_flag(session, crew["agent1"], "TX-404", "wrong")
    first = flags.raise_flag(session, crew["agent1"], "TX-GH-001", "wrong")
    with pytest.raises(
        Conflict, match=f"agent1 already flagged TX-GH-001 as wrong \\(flag {first.id}\\)"
    ):
        flags.raise_flag(session, crew["agent1"], "TX-GH-001", "wrong")
    flags.raise_flag(session, crew["agent2"], "TX-GH-001", "wrong")
    flags.raise_flag(session, crew["agent1"], "TX-GH-001", "unclear")
    [item] = queues.flagged(session)
    assert [(f["raised_by"], f["reason"]) for f in item.flags] == [
        ("agent1", "wrong"),
        ("agent2", "wrong"),
        ("agent1", "unclear"),
    ]


def test_dismissal_needs_a_reviewer_and_a_comment(session: Session, crew: dict[str, User]) -> None:
    make_table(session)
    flag = flags.raise_flag(session, crew["agent1"], "TX-GH-001", "wrong")
    with pytest.raises(PermissionDenied, match=r"editor1 \(editor\) may not resolve_flag"):
        flags.dismiss(session, crew["editor1"], flag.id, "没问题")
    with pytest.raises(ValidationFailed, match="needs a comment"):
        flags.dismiss(session, crew["reviewer1"], flag.id, "  ")
    with frozen(NOW):
        flags.dismiss(session, crew["reviewer1"], flag.id, "已核实，答复正确")
    assert (flag.resolution, flag.resolved_by, flag.resolved_at, flag.resolution_comment) == (
        "dismissed",
        "reviewer1",
        NOW,
        "已核实，答复正确",
    )
    assert queues.flagged(session) == []
    with pytest.raises(Conflict, match="already resolved \\(dismissed\\) by reviewer1"):
        flags.dismiss(session, crew["reviewer2"], flag.id, "again")
    with pytest.raises(NotFound, match="No flag with id 999"):
        flags.dismiss(session, crew["reviewer2"], 999, "x")


def test_scoped_reviewer_dismisses_only_in_scope(session: Session, crew: dict[str, User]) -> None:
    card = make_package(session, "银行服务", "信用卡", template=TEMPLATE)
    make_table(session, package=card, code="YH-1", title="年费")
    flag = flags.raise_flag(session, crew["agent1"], "YH-1", "unclear")
    scoped = create_user(session, "rv-tx", "reviewer", ["通信业务"])
    with pytest.raises(PermissionDenied, match="may not resolve_flag in 银行服务/信用卡"):
        flags.dismiss(session, scoped, flag.id, "不是我的")
    assert queues.flagged(session, user=scoped) == []


def test_new_published_revision_resolves_open_flags(
    session: Session, crew: dict[str, User]
) -> None:
    make_table(session)
    flag = flags.raise_flag(session, crew["agent1"], "TX-GH-001", "outdated")
    workflow.edit(session, crew["editor1"], "TX-GH-001", Edit(fields={"answer": "新口径"}))
    workflow.submit(session, crew["editor1"], "TX-GH-001")
    assert flag.resolved_at is None  # still open while the fix is in review
    workflow.approve(session, crew["reviewer1"], "TX-GH-001")
    assert (flag.resolution, flag.resolved_by, flag.resolution_comment) == (
        "revised",
        "reviewer1",
        "revision 2 published",
    )
    actions = [e.action for e in repository.audit_for(session, "table", "TX-GH-001")]
    assert actions[-3:] == ["approve", "publish", "flag-resolve"]


def test_verification_and_archiving_resolve_open_flags(
    session: Session, crew: dict[str, User]
) -> None:
    make_table(session)
    make_table(session, code="TX-2", title="携号转网条件")
    verified = flags.raise_flag(session, crew["agent1"], "TX-GH-001", "outdated")
    archived = flags.raise_flag(session, crew["agent1"], "TX-2", "duplicate")
    staleness.verify(session, crew["reviewer1"], "TX-GH-001", comment="仍然有效")
    workflow.archive(session, crew["reviewer1"], "TX-2")
    assert [(f.resolution, f.resolution_comment) for f in (verified, archived)] == [
        ("verified", "仍然有效"),
        ("archived", "table archived"),
    ]
    assert flags.open_flags(session) == []
