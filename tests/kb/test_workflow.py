from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from kb import changes, hierarchy, meta_changes, queues, repository, tables, workflow
from kb.clock import frozen
from kb.db import Database
from kb.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kb.models import Audience, KnowledgeTable, RevisionState, User
from kb.tables import TableContent
from kb.users import create_user, get_user
from kb.workflow import Edit
from tests.factories import TEMPLATE, make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
S = RevisionState


def people(session: Session) -> dict[str, User]:
    specs = [
        ("editor1", "editor"),
        ("editor2", "editor"),
        ("reviewer1", "reviewer"),
        ("reviewer2", "reviewer"),
        ("admin1", "admin"),
        ("agent1", "agent"),
    ]
    return {name: create_user(session, name, role) for name, role in specs}


def audit_trail(session: Session, code: str) -> list[tuple[str, str, int | None]]:
    return [(e.actor, e.action, e.revision) for e in repository.audit_for(session, "table", code)]


def new_draft(session: Session, who: User, code: str = "TX-NEW-1") -> KnowledgeTable:
    package = hierarchy.find_package(session, "改号业务")
    content = TableContent(
        "副卡如何办理", ["怎么办副卡"], [], {"answer": "携带身份证到营业厅办理。"}
    )
    return workflow.create(session, who, package, code, content)


@pytest.fixture
def crew(session: Session) -> dict[str, User]:
    make_package(session)
    return people(session)


def test_draft_submit_approve_goes_live(session: Session, crew: dict[str, User]) -> None:
    with frozen(NOW):
        table = new_draft(session, crew["editor1"])
        assert table.author == "editor1"
        assert table.live_revision is None
        result = workflow.submit(session, crew["editor1"], "TX-NEW-1")
        assert (result.revision.state, result.revision.submitted_at) == (S.IN_REVIEW, NOW)
        assert result.duplicates == []
        assert changes.pop(session) == set()
        revision = workflow.approve(session, crew["reviewer1"], "TX-NEW-1", comment="可以")
    assert changes.pop(session) == {table.id}
    assert revision.state is S.PUBLISHED
    assert (revision.reviewed_by, revision.review_comment, revision.published_at) == (
        "reviewer1",
        "可以",
        NOW,
    )
    assert table.live_revision is revision
    assert table.last_verified_at == NOW
    assert audit_trail(session, "TX-NEW-1") == [
        ("editor1", "create", None),
        ("editor1", "revise", 1),
        ("editor1", "submit", 1),
        ("reviewer1", "approve", 1),
        ("reviewer1", "publish", 1),
    ]


def _publish_v1(session: Session) -> KnowledgeTable:
    table = make_table(session, actor="editor1")
    changes.pop(session)
    return table


def test_new_revision_replaces_live_one_atomically(db: Database) -> None:
    with db.transaction() as s:
        make_package(s)
        crew = people(s)
        make_table(s, actor="editor1")
        workflow.edit(
            s, crew["editor1"], "TX-GH-001", Edit(fields={"answer": "新口径：次月停止计费。"})
        )
        workflow.submit(s, crew["editor1"], "TX-GH-001")
    with db.session() as s:
        table = tables.get_table(s, "TX-GH-001")
        assert [(r.number, r.state) for r in table.revisions] == [
            (1, S.PUBLISHED),
            (2, S.IN_REVIEW),
        ]
        assert table.live_revision is not None
        assert table.live_revision.fields == {"answer": "改号完成后原号码停止计费。"}
    # A failure after the swap leaves the old revision live and the new one in review.
    with pytest.raises(RuntimeError), db.transaction() as s:
        reviewer = get_user(s, "reviewer1")
        workflow.approve(s, reviewer, "TX-GH-001")
        raise RuntimeError("crash before commit")
    with db.session() as s:
        table = tables.get_table(s, "TX-GH-001")
        assert [(r.number, r.state) for r in table.revisions] == [
            (1, S.PUBLISHED),
            (2, S.IN_REVIEW),
        ]
        assert table.live_revision is not None and table.live_revision.number == 1
    with db.transaction() as s:
        reviewer = get_user(s, "reviewer1")
        workflow.approve(s, reviewer, "TX-GH-001")
    with db.session() as s:
        table = tables.get_table(s, "TX-GH-001")
        assert [(r.number, r.state) for r in table.revisions] == [
            (1, S.ARCHIVED),
            (2, S.PUBLISHED),
        ]
        assert table.live_revision is not None
        assert table.live_revision.fields == {"answer": "新口径：次月停止计费。"}
        assert table.live_revision.based_on == 1


def test_reject_needs_a_comment_then_edit_starts_a_new_draft(
    session: Session, crew: dict[str, User]
) -> None:
    new_draft(session, crew["editor1"])
    workflow.submit(session, crew["editor1"], "TX-NEW-1")
    for empty in ("", "   "):
        with pytest.raises(ValidationFailed, match="needs a comment") as caught:
            workflow.reject(session, crew["reviewer1"], "TX-NEW-1", comment=empty)
        assert caught.value.problems[0].field == "comment"
    rejected = workflow.reject(session, crew["reviewer1"], "TX-NEW-1", comment="缺少办理条件")
    assert (rejected.state, rejected.reviewed_by, rejected.review_comment) == (
        S.REJECTED,
        "reviewer1",
        "缺少办理条件",
    )
    fixed = workflow.edit(
        session,
        crew["editor1"],
        "TX-NEW-1",
        Edit(fields={"answer": "主卡机主携带身份证到营业厅办理，每个主卡最多 3 张副卡。"}),
        note="补充办理条件",
    )
    assert (fixed.number, fixed.state, fixed.based_on, fixed.note) == (
        2,
        S.DRAFT,
        1,
        "补充办理条件",
    )
    assert rejected.state is S.REJECTED  # the rejected revision itself never changes
    workflow.submit(session, crew["editor1"], "TX-NEW-1")
    workflow.approve(session, crew["reviewer1"], "TX-NEW-1")
    assert [a for _, a, _ in audit_trail(session, "TX-NEW-1")] == [
        "create",
        "revise",
        "submit",
        "reject",
        "revise",
        "submit",
        "approve",
        "publish",
    ]


def test_self_approval_is_refused_unless_allowed(session: Session, crew: dict[str, User]) -> None:
    new_draft(session, crew["reviewer1"])
    workflow.submit(session, crew["reviewer1"], "TX-NEW-1")
    with pytest.raises(PermissionDenied) as caught:
        workflow.approve(session, crew["reviewer1"], "TX-NEW-1")
    assert str(caught.value) == (
        "reviewer1 may not approve revision 1 of TX-NEW-1: they wrote it, and self-approval "
        "is off (ZHIKU_ALLOW_SELF_APPROVAL); ask another reviewer."
    )
    with pytest.raises(PermissionDenied, match="they wrote it"):
        workflow.approve(session, crew["reviewer1"], "TX-NEW-1", allow_self_approval=False)
    revision = workflow.approve(session, crew["reviewer1"], "TX-NEW-1", allow_self_approval=True)
    assert revision.state is S.PUBLISHED


def test_admin_is_bound_by_self_approval_too(session: Session, crew: dict[str, User]) -> None:
    new_draft(session, crew["admin1"])
    workflow.submit(session, crew["admin1"], "TX-NEW-1")
    with pytest.raises(PermissionDenied, match="they wrote it"):
        workflow.approve(session, crew["admin1"], "TX-NEW-1")
    workflow.approve(session, crew["reviewer2"], "TX-NEW-1")


def test_no_one_who_wrote_into_a_revision_approves_it(
    session: Session, crew: dict[str, User]
) -> None:
    """An admin who edits an editor's draft is one of its writers, like its author."""
    new_draft(session, crew["editor1"])
    workflow.edit(
        session, crew["admin1"], "TX-NEW-1", Edit(fields={"answer": "管理员改写的答复。"})
    )
    workflow.edit(session, crew["editor1"], "TX-NEW-1", Edit(title="副卡怎么办理"))
    workflow.submit(session, crew["editor1"], "TX-NEW-1")
    table = tables.get_table(session, "TX-NEW-1")
    assert table.latest_revision.contributors == ["editor1", "admin1"]
    assert queues.awaiting_review(session, crew["admin1"]) == []
    assert [i.code for i in queues.awaiting_review(session, crew["reviewer1"])] == ["TX-NEW-1"]
    with pytest.raises(PermissionDenied) as caught:
        workflow.approve(session, crew["admin1"], "TX-NEW-1")
    assert str(caught.value) == (
        "admin1 may not approve revision 1 of TX-NEW-1: they edited it, and self-approval is "
        "off (ZHIKU_ALLOW_SELF_APPROVAL); ask another reviewer (written by editor1, admin1)."
    )
    # The same setting that allows approving one's own revision allows this.
    revision = workflow.approve(session, crew["admin1"], "TX-NEW-1", allow_self_approval=True)
    assert revision.state is S.PUBLISHED


def test_proposed_metadata_goes_live_with_its_revision(
    session: Session, crew: dict[str, User]
) -> None:
    table = make_table(session, code="TX-GH-009", audience=Audience.INTERNAL)
    proposed = workflow.propose_meta(session, crew["editor1"], "TX-GH-009", {"audience": "public"})
    assert proposed is not None
    assert (proposed.number, proposed.state, proposed.proposed) == (
        2,
        S.DRAFT,
        {"audience": "public"},
    )
    assert table.audience is Audience.INTERNAL
    # Proposing the current value again changes nothing; a reviewer's proposal joins the
    # editor's draft only if they may edit it (author or admin).
    assert (
        workflow.propose_meta(session, crew["editor1"], "TX-GH-009", {"audience": "public"}) is None
    )
    with pytest.raises(PermissionDenied, match="only its author or an admin"):
        workflow.propose_meta(session, crew["reviewer1"], "TX-GH-009", {"valid_until": None})
    workflow.propose_meta(
        session, crew["admin1"], "TX-GH-009", {"valid_until": "2030-01-01T00:00:00+00:00"}
    )
    assert proposed.proposed == {"audience": "public", "valid_until": "2030-01-01T00:00:00+00:00"}
    assert proposed.contributors == ["editor1", "admin1"]
    workflow.submit(session, crew["editor1"], "TX-GH-009")
    with pytest.raises(Conflict, match="in_review"):
        workflow.propose_meta(session, crew["editor1"], "TX-GH-009", {"audience": "public"})
    # Asking for what already holds needs nothing of the revision in review.
    assert (
        workflow.propose_meta(session, crew["editor1"], "TX-GH-009", {"audience": "internal"})
        is None
    )
    workflow.approve(session, crew["reviewer1"], "TX-GH-009")
    assert (table.audience, table.valid_until) == (
        Audience.PUBLIC,
        datetime(2030, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValidationFailed, match="valid_until must be after valid_from"):
        workflow.propose_meta(
            session,
            crew["editor1"],
            "TX-GH-009",
            {"valid_from": "2031-01-01T00:00:00+00:00"},
        )


@pytest.mark.parametrize(
    ("who", "ok"), [("editor1", True), ("admin1", True), ("editor2", False), ("reviewer1", False)]
)
def test_only_author_or_admin_edits_and_submits_a_draft(
    session: Session, crew: dict[str, User], who: str, ok: bool
) -> None:
    new_draft(session, crew["editor1"])
    change = Edit(questions=["副卡怎么申请"])
    if ok:
        revision = workflow.edit(session, crew[who], "TX-NEW-1", change)
        assert (revision.number, revision.questions) == (1, ["副卡怎么申请"])
        assert workflow.submit(session, crew[who], "TX-NEW-1").revision.state is S.IN_REVIEW
        return
    with pytest.raises(PermissionDenied) as caught:
        workflow.edit(session, crew[who], "TX-NEW-1", change)
    role = crew[who].role.value
    assert str(caught.value) == (
        f"{who} ({role}) may not edit revision 1 of TX-NEW-1: it is editor1's draft; only its "
        "author or an admin may."
    )
    with pytest.raises(PermissionDenied, match="may not submit revision 1"):
        workflow.submit(session, crew[who], "TX-NEW-1")


def test_agents_cannot_write_and_editors_cannot_review(
    session: Session, crew: dict[str, User]
) -> None:
    with pytest.raises(PermissionDenied, match=r"agent1 \(agent\) may not draft"):
        new_draft(session, crew["agent1"])
    new_draft(session, crew["editor1"])
    workflow.submit(session, crew["editor1"], "TX-NEW-1")
    with pytest.raises(PermissionDenied, match=r"editor2 \(editor\) may not review"):
        workflow.approve(session, crew["editor2"], "TX-NEW-1")
    with pytest.raises(PermissionDenied, match=r"editor2 \(editor\) may not review"):
        workflow.reject(session, crew["editor2"], "TX-NEW-1", comment="no")


def test_scoped_reviewer_approves_only_in_scope(session: Session) -> None:
    card = make_package(session, "银行服务", "信用卡", template=TEMPLATE)
    returns = make_package(session, "电商售后", "退换货", template=TEMPLATE)
    editor = create_user(session, "editor1", "editor")
    reviewer = create_user(session, "card-reviewer", "reviewer", ["银行服务/信用卡"])
    for package, code in ((card, "YH-1"), (returns, "DS-1")):
        content = TableContent(f"{code} 标题", [], [], {"answer": "答复"})
        workflow.create(session, editor, package, code, content)
        workflow.submit(session, editor, code)
    workflow.approve(session, reviewer, "YH-1")
    with pytest.raises(PermissionDenied) as caught:
        workflow.approve(session, reviewer, "DS-1")
    assert "may not review in 电商售后/退换货: their scope is 银行服务/信用卡" in str(caught.value)


def test_edit_in_place_records_what_changed(session: Session, crew: dict[str, User]) -> None:
    new_draft(session, crew["editor1"])
    same = workflow.edit(session, crew["editor1"], "TX-NEW-1", Edit(title="副卡如何办理"))
    assert same.number == 1
    workflow.edit(
        session,
        crew["editor1"],
        "TX-NEW-1",
        Edit(title="副卡怎么办理", fields={"操作步骤": ["到营业厅", "出示身份证"]}),
    )
    revision = tables.get_table(session, "TX-NEW-1").latest_revision
    assert revision.fields == {
        "answer": "携带身份证到营业厅办理。",
        "steps": ["到营业厅", "出示身份证"],
    }
    edits = [e for e in repository.audit_for(session, "table", "TX-NEW-1") if e.action == "edit"]
    assert [e.detail for e in edits] == [{"changed": ["title", "fields"]}]
    with pytest.raises(ValidationFailed) as caught:
        workflow.edit(session, crew["editor1"], "TX-NEW-1", Edit(fields={"answer": ""}))
    assert [p.field for p in caught.value.problems] == ["answer"]


def test_submit_checks_the_current_template(session: Session, crew: dict[str, User]) -> None:
    new_draft(session, crew["editor1"])
    category = hierarchy.get_category(session, "通信业务")
    stricter = [*TEMPLATE, {"key": "scope", "label": "适用范围", "required": True}]
    hierarchy.ensure_package(session, category, "改号业务", template=stricter)
    with pytest.raises(ValidationFailed) as caught:
        workflow.submit(session, crew["editor1"], "TX-NEW-1")
    assert [str(p) for p in caught.value.problems] == [
        "scope: 适用范围 is required by package 通信业务/改号业务 (template v2)"
    ]
    revision = workflow.edit(
        session, crew["editor1"], "TX-NEW-1", Edit(fields={"scope": "个人用户"})
    )
    assert revision.template_version == 2
    assert workflow.submit(session, crew["editor1"], "TX-NEW-1").revision.state is S.IN_REVIEW


def test_submit_warns_about_near_duplicates(session: Session, crew: dict[str, User]) -> None:
    make_table(session, code="TX-OLD", title="副卡如何办理？")
    make_table(session, code="TX-OTHER", title="携号转网条件", questions=[])
    new_draft(session, crew["editor1"])
    result = workflow.submit(session, crew["editor1"], "TX-NEW-1")
    assert [d.to_dict() for d in result.duplicates] == [
        {"code": "TX-OLD", "title": "副卡如何办理？", "score": 1.0}
    ]
    submit_entry = repository.audit_for(session, "table", "TX-NEW-1")[-1]
    assert submit_entry.detail == {
        "duplicates": [{"code": "TX-OLD", "title": "副卡如何办理？", "score": 1.0}]
    }


def test_submit_uses_the_finder_it_is_given(session: Session, crew: dict[str, User]) -> None:
    calls: list[tuple[list[str], str]] = []

    class Finder:
        def similar(self, texts: list[str], exclude_code: str) -> list[tuple[str, str, float]]:
            calls.append((texts, exclude_code))
            return [("TX-IDX", "索引找到的", 0.91)]

    new_draft(session, crew["editor1"])
    result = workflow.submit(session, crew["editor1"], "TX-NEW-1", finder=Finder())
    assert calls == [(["副卡如何办理", "怎么办副卡"], "TX-NEW-1")]
    assert [d.to_dict() for d in result.duplicates] == [
        {"code": "TX-IDX", "title": "索引找到的", "score": 0.91}
    ]


def test_scheduled_publication(session: Session, crew: dict[str, User]) -> None:
    table = _publish_v1(session)
    workflow.edit(session, crew["editor1"], "TX-GH-001", Edit(fields={"answer": "明年起新口径"}))
    workflow.submit(session, crew["editor1"], "TX-GH-001")
    at = NOW + timedelta(days=3)
    with frozen(NOW):
        revision = workflow.approve(session, crew["reviewer1"], "TX-GH-001", publish_at=at)
    assert (revision.state, workflow.status_of(revision), revision.publish_at) == (
        S.IN_REVIEW,
        "scheduled",
        at,
    )
    assert table.live_revision is not None and table.live_revision.number == 1
    with pytest.raises(Conflict) as caught:
        workflow.approve(session, crew["reviewer2"], "TX-GH-001")
    assert str(caught.value) == (
        "Cannot approve table TX-GH-001: its latest revision 2 is scheduled for "
        "2026-11-26T08:00:00+00:00 (live: revision 1); allowed now: reject, withdraw."
    )
    assert workflow.publish_due(session, at - timedelta(seconds=1)) == []
    with frozen(at):
        assert workflow.publish_due(session, at) == [revision]
    assert table.live_revision is revision and revision.published_at == at
    assert audit_trail(session, "TX-GH-001")[-2:] == [
        ("reviewer1", "approve", 2),
        ("system", "publish", 2),
    ]


def test_approve_with_a_past_publish_time_publishes_now(
    session: Session, crew: dict[str, User]
) -> None:
    new_draft(session, crew["editor1"])
    workflow.submit(session, crew["editor1"], "TX-NEW-1")
    with frozen(NOW):
        revision = workflow.approve(
            session, crew["reviewer1"], "TX-NEW-1", publish_at=NOW - timedelta(hours=1)
        )
    assert (revision.state, revision.publish_at, revision.published_at) == (S.PUBLISHED, None, NOW)


def test_a_decision_holds_only_for_the_submission_the_reviewer_read(
    session: Session, crew: dict[str, User]
) -> None:
    new_draft(session, crew["editor1"])
    with frozen(NOW):
        read = workflow.submit(session, crew["editor1"], "TX-NEW-1").revision.submitted_at
    assert read is not None
    # between the reviewer's reading and their click: withdrawn, rewritten, submitted again
    workflow.withdraw(session, crew["editor1"], "TX-NEW-1")
    workflow.edit(session, crew["editor1"], "TX-NEW-1", Edit(fields={"answer": "没人审过的口径"}))
    with frozen(NOW + timedelta(minutes=5)):
        again = workflow.submit(session, crew["editor1"], "TX-NEW-1").revision
    assert again.number == 1
    for decide in (
        lambda: workflow.approve(session, crew["reviewer1"], "TX-NEW-1", reviewed=read),
        lambda: workflow.reject(
            session, crew["reviewer1"], "TX-NEW-1", comment="否", reviewed=read
        ),
    ):
        with pytest.raises(Conflict, match="submitted again at 2026-11-23T08:05:00"):
            decide()
    assert again.state is S.IN_REVIEW
    approved = workflow.approve(session, crew["reviewer1"], "TX-NEW-1", reviewed=again.submitted_at)
    assert approved.state is S.PUBLISHED


def test_withdraw_returns_to_draft(session: Session, crew: dict[str, User]) -> None:
    new_draft(session, crew["editor1"])
    workflow.submit(session, crew["editor1"], "TX-NEW-1")
    with pytest.raises(PermissionDenied, match="editor1's draft"):
        workflow.withdraw(session, crew["editor2"], "TX-NEW-1")
    revision = workflow.withdraw(session, crew["editor1"], "TX-NEW-1", comment="再改改")
    assert (revision.state, revision.submitted_at) == (S.DRAFT, None)
    assert audit_trail(session, "TX-NEW-1")[-1] == ("editor1", "withdraw", 1)


def test_archive_takes_the_table_out_of_service(session: Session, crew: dict[str, User]) -> None:
    table = _publish_v1(session)
    with pytest.raises(PermissionDenied, match=r"editor1 \(editor\) may not archive"):
        workflow.archive(session, crew["editor1"], "TX-GH-001")
    archived = workflow.archive(session, crew["reviewer1"], "TX-GH-001", comment="业务下线")
    assert (archived.state, table.live_revision) == (S.ARCHIVED, None)
    assert changes.pop(session) == {table.id}
    assert audit_trail(session, "TX-GH-001")[-1] == ("reviewer1", "archive", 1)
    with pytest.raises(Conflict, match="revision 1 is archived; allowed now: edit, rollback"):
        workflow.archive(session, crew["reviewer1"], "TX-GH-001")


@pytest.mark.parametrize("scheduled", [True, False])
def test_archiving_ends_the_review_or_schedule_that_would_bring_the_table_back(
    session: Session, crew: dict[str, User], scheduled: bool
) -> None:
    table = _publish_v1(session)
    workflow.edit(session, crew["editor1"], "TX-GH-001", Edit(fields={"answer": "明年起新口径"}))
    workflow.submit(session, crew["editor1"], "TX-GH-001")
    at = NOW + timedelta(days=3)
    if scheduled:
        workflow.approve(session, crew["reviewer1"], "TX-GH-001", publish_at=at)
    workflow.archive(session, crew["reviewer2"], "TX-GH-001", comment="业务下线")
    pending = table.latest_revision
    assert (pending.number, pending.state, pending.publish_at, pending.reviewed_by) == (
        2,
        S.DRAFT,
        None,
        None,
    )
    with frozen(at):
        assert workflow.publish_due(session, at) == []
    assert table.live_revision is None
    assert audit_trail(session, "TX-GH-001")[-2:] == [
        ("reviewer2", "withdraw", 2),
        ("reviewer2", "archive", 1),
    ]


def test_rollback_is_a_new_draft_reviewed_like_any_other(
    session: Session, crew: dict[str, User]
) -> None:
    table = _publish_v1(session)
    workflow.edit(session, crew["editor1"], "TX-GH-001", Edit(fields={"answer": "错误的新口径"}))
    workflow.submit(session, crew["editor1"], "TX-GH-001")
    workflow.approve(session, crew["reviewer1"], "TX-GH-001")
    with pytest.raises(Conflict, match="Revision 2 of TX-GH-001 is already live"):
        workflow.rollback(session, crew["editor2"], "TX-GH-001", 2)
    with pytest.raises(NotFound, match="has no revision 7; it has revisions 1–2"):
        workflow.rollback(session, crew["editor2"], "TX-GH-001", 7)
    draft = workflow.rollback(session, crew["editor2"], "TX-GH-001", 1)
    assert (draft.number, draft.state, draft.based_on, draft.author, draft.note) == (
        3,
        S.DRAFT,
        1,
        "editor2",
        "rollback to revision 1",
    )
    assert draft.fields == {"answer": "改号完成后原号码停止计费。"}
    assert table.live_revision is not None and table.live_revision.number == 2
    with pytest.raises(Conflict) as caught:
        workflow.rollback(session, crew["editor2"], "TX-GH-001", 1)
    assert str(caught.value) == (
        "Cannot roll back table TX-GH-001: its latest revision 3 is draft (live: revision 2); "
        "allowed now: edit, submit."
    )
    workflow.submit(session, crew["editor2"], "TX-GH-001")
    workflow.approve(session, crew["reviewer1"], "TX-GH-001")
    assert table.live_revision is draft
    assert [r.state for r in table.revisions] == [S.ARCHIVED, S.ARCHIVED, S.PUBLISHED]
    assert audit_trail(session, "TX-GH-001")[-5:] == [
        ("editor2", "revise", 3),
        ("editor2", "rollback", 3),
        ("editor2", "submit", 3),
        ("reviewer1", "approve", 3),
        ("reviewer1", "publish", 3),
    ]


def test_rollback_refuses_a_rejected_revision(session: Session, crew: dict[str, User]) -> None:
    _publish_v1(session)
    workflow.edit(session, crew["editor1"], "TX-GH-001", Edit(fields={"answer": "被拒的"}))
    workflow.submit(session, crew["editor1"], "TX-GH-001")
    workflow.reject(session, crew["reviewer1"], "TX-GH-001", comment="不对")
    with pytest.raises(Conflict, match="Revision 2 of TX-GH-001 was rejected and never live"):
        workflow.rollback(session, crew["editor1"], "TX-GH-001", 2)


def _to_state(session: Session, crew: dict[str, User], state: str) -> None:
    """Table TX-NEW-1 whose latest revision is in ``state`` (published/archived: live first)."""
    new_draft(session, crew["editor1"])
    if state == "draft":
        return
    workflow.submit(session, crew["editor1"], "TX-NEW-1")
    if state == "in_review":
        return
    if state == "scheduled":
        with frozen(NOW):
            workflow.approve(
                session, crew["reviewer1"], "TX-NEW-1", publish_at=NOW + timedelta(days=1)
            )
        return
    if state == "rejected":
        workflow.reject(session, crew["reviewer1"], "TX-NEW-1", comment="改")
        return
    workflow.approve(session, crew["reviewer1"], "TX-NEW-1")
    if state == "archived":
        workflow.archive(session, crew["reviewer1"], "TX-NEW-1")


ALLOWED = {
    "draft": "edit, submit",
    "in_review": "approve, reject, withdraw",
    "scheduled": "reject, withdraw",
    "rejected": "edit",
    "published": "edit, archive, rollback, verify",
    "archived": "edit, rollback",
}
REFUSED = [
    ("draft", "approve"),
    ("draft", "reject"),
    ("draft", "withdraw"),
    ("draft", "archive"),
    ("draft", "roll back"),
    ("in_review", "edit"),
    ("in_review", "submit"),
    ("in_review", "archive"),
    ("in_review", "roll back"),
    ("scheduled", "approve"),
    ("scheduled", "edit"),
    ("scheduled", "submit"),
    ("rejected", "submit"),
    ("rejected", "approve"),
    ("rejected", "reject"),
    ("rejected", "withdraw"),
    ("rejected", "archive"),
    ("published", "submit"),
    ("published", "approve"),
    ("published", "reject"),
    ("published", "withdraw"),
    ("archived", "submit"),
    ("archived", "approve"),
    ("archived", "reject"),
    ("archived", "withdraw"),
    ("archived", "archive"),
]


def _do(session: Session, crew: dict[str, User], verb: str) -> None:
    code = "TX-NEW-1"
    admin = crew["admin1"]
    if verb == "edit":
        workflow.edit(session, admin, code, Edit(title="改"))
    elif verb == "submit":
        workflow.submit(session, admin, code)
    elif verb == "approve":
        workflow.approve(session, crew["reviewer2"], code)
    elif verb == "reject":
        workflow.reject(session, crew["reviewer2"], code, comment="不行")
    elif verb == "withdraw":
        workflow.withdraw(session, admin, code)
    elif verb == "archive":
        workflow.archive(session, admin, code)
    elif verb == "roll back":
        workflow.rollback(session, admin, code, 1)


@pytest.mark.parametrize(("state", "verb"), REFUSED)
def test_illegal_transitions_name_state_and_what_is_allowed(
    session: Session, crew: dict[str, User], state: str, verb: str
) -> None:
    _to_state(session, crew, state)
    trail = audit_trail(session, "TX-NEW-1")
    with pytest.raises(Conflict) as caught:
        _do(session, crew, verb)
    message = str(caught.value)
    assert message.startswith(f"Cannot {verb} table TX-NEW-1: its latest revision 1 is {state}")
    assert message.endswith(f"; allowed now: {ALLOWED[state]}.")
    assert audit_trail(session, "TX-NEW-1") == trail


ALLOWED_MOVES = [
    ("draft", "edit", S.DRAFT),
    ("draft", "submit", S.IN_REVIEW),
    ("in_review", "approve", S.PUBLISHED),
    ("in_review", "reject", S.REJECTED),
    ("in_review", "withdraw", S.DRAFT),
    ("scheduled", "reject", S.REJECTED),
    ("scheduled", "withdraw", S.DRAFT),
    ("rejected", "edit", S.REJECTED),  # revision 1 stays rejected; revision 2 is the new draft
    ("published", "edit", S.PUBLISHED),  # stays live; revision 2 is the new draft
    ("published", "archive", S.ARCHIVED),
    ("archived", "edit", S.ARCHIVED),
]


@pytest.mark.parametrize(("state", "verb", "after"), ALLOWED_MOVES)
def test_allowed_transitions(
    session: Session, crew: dict[str, User], state: str, verb: str, after: RevisionState
) -> None:
    _to_state(session, crew, state)
    _do(session, crew, verb)
    table = tables.get_table(session, "TX-NEW-1")
    assert table.revisions[0].state is after
    if verb == "edit" and state != "draft":
        assert [(r.number, r.state, r.based_on) for r in table.revisions[1:]] == [(2, S.DRAFT, 1)]


def test_naming_the_current_value_withdraws_a_proposal(
    session: Session, crew: dict[str, User]
) -> None:
    table = make_table(session, code="TX-GH-010", audience=Audience.INTERNAL)
    change = meta_changes.MetaChange
    result = meta_changes.change_meta(
        session, crew["editor1"], "TX-GH-010", change(audience=Audience.PUBLIC)
    )
    assert result.proposed is not None and result.proposed.proposed == {"audience": "public"}
    meta_changes.change_meta(
        session, crew["editor1"], "TX-GH-010", change(audience=Audience.INTERNAL)
    )
    assert table.latest_revision.proposed is None
    assert table.audience is Audience.INTERNAL
    # Nothing to change: no draft is started for it.
    again = meta_changes.change_meta(
        session, crew["editor1"], "TX-GH-010", change(audience=Audience.INTERNAL)
    )
    assert again.proposed is None and len(table.revisions) == 2


def test_an_admins_change_may_not_strand_a_pending_proposal(
    session: Session, crew: dict[str, User]
) -> None:
    """Applied at once, it left the draft's proposed end before the new start: the revision
    could then never be approved (and, scheduled, failed at its publication)."""
    make_table(session, code="TX-GH-011")
    change = meta_changes.MetaChange
    end = datetime(2030, 1, 1, tzinfo=UTC)
    meta_changes.change_meta(session, crew["editor1"], "TX-GH-011", change(valid_until=end))
    with pytest.raises(ValidationFailed, match="revision 2 \\(draft\\) proposes") as caught:
        meta_changes.change_meta(
            session,
            crew["admin1"],
            "TX-GH-011",
            change(valid_from=datetime(2031, 1, 1, tzinfo=UTC)),
        )
    assert caught.value.problems[0].field == "valid_until"
    fine = change(valid_from=datetime(2029, 1, 1, tzinfo=UTC))
    assert meta_changes.change_meta(session, crew["admin1"], "TX-GH-011", fine).applied


def test_a_field_dropped_from_the_template_no_longer_blocks_its_tables_edits(
    session: Session, crew: dict[str, User]
) -> None:
    table = make_table(
        session, code="TX-GH-012", fields={"answer": "旧答复", "steps": ["一", "二"]}
    )
    package = table.package
    without_steps = [f for f in package.template.fields if f["key"] != "steps"]
    hierarchy.ensure_package(session, package.category, package.name, template=without_steps)
    # every way in started from the live fields, steps included: "steps: not in the template"
    draft = workflow.edit(session, crew["editor1"], "TX-GH-012", Edit(fields={"answer": "新答复"}))
    assert draft.fields == {"answer": "新答复"}  # the drop shows in the revision's diff
    workflow.edit(session, crew["editor1"], "TX-GH-012", Edit(fields={"steps": ""}))
    proposed = workflow.propose_meta(
        session, crew["editor1"], "TX-GH-012", {"valid_until": "2030-01-01T00:00:00+00:00"}
    )
    assert proposed is draft
    workflow.submit(session, crew["editor1"], "TX-GH-012")
    workflow.approve(session, crew["reviewer1"], "TX-GH-012")
    assert table.live_revision is draft and draft.template_version == package.template.version
