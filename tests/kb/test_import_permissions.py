"""An import asks for the same rights, and goes through the same review, as the same changes
made one by one: scopes, the hierarchy, the dictionary, publishing, open revisions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from kb import portal, repository, workflow
from kb.clock import utcnow
from kb.db import Database
from kb.errors import ImportRefused, ImportRejected, PermissionDenied
from kb.models import Audience, KnowledgeTable, RevisionState, User
from kb.transfer.importer import check_bundle, import_path, read_path
from kb.users import create_user
from kb.workflow import Edit
from tests.factories import make_package, make_table
from tests.kb.content_files import DICTIONARY, GAIHAO, demo_dir, snapshot, write

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = "category,package,code,title,audience,标准答复\n"
S = RevisionState


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session() as s:
        yield s


@pytest.fixture
def crew(session: Session, tmp_path: Path) -> dict[str, User]:
    """The demo package (TX-GH-001 public, TX-GH-002 internal) and 银行服务/信用卡 with YH-XYK-1."""
    import_path(session, demo_dir(tmp_path / "seed"), actor="setup", zone=SHANGHAI)
    make_table(session, make_package(session, "银行服务", "信用卡"), code="YH-XYK-1")
    people = {
        "card_editor": create_user(session, "card_editor", "editor", ["银行服务/信用卡"]),
        "editor1": create_user(session, "editor1", "editor"),
        "editor2": create_user(session, "editor2", "editor"),
        "reviewer1": create_user(session, "reviewer1", "reviewer"),
        "admin1": create_user(session, "admin1", "admin"),
    }
    session.commit()
    return people


def _csv(tmp_path: Path, *rows: str) -> Path:
    return write(tmp_path / "rows.csv", HEADER + "".join(f"{r}\n" for r in rows))


def _refused(session: Session, path: Path, user: User, *, draft: bool = True) -> list[str]:
    before = snapshot(session)
    with pytest.raises(ImportRefused) as caught:
        import_path(session, path, actor=user, draft=draft, zone=SHANGHAI)
    assert snapshot(session) == before  # checked as a whole before anything was written
    session.rollback()
    return [f"{p.location}: {p.message}" for p in caught.value.problems]


def _table(session: Session, code: str) -> KnowledgeTable:
    session.expire_all()
    table = repository.table_by_code(session, code)
    assert table is not None
    return table


def test_scoped_editor_cannot_publish_out_of_scope_content_through_a_draft_import(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "银行服务,信用卡,YH-XYK-2,信用卡年费,public,首年免年费。",
        "通信业务,改号业务,TX-GH-002,改号需要带什么证件,public,携带身份证。",
        "通信业务,改号业务,TX-GH-099,新表,public,答复。",
    )
    scope = (
        "card_editor (editor) may not draft in 通信业务/改号业务: their scope is 银行服务/信用卡; "
        "ask a editor of that package or an admin."
    )
    assert _refused(session, path, crew["card_editor"]) == [
        f"{path} row 3: table TX-GH-002: {scope}",
        f"{path} row 4: table TX-GH-099: {scope}",
    ]
    assert _table(session, "TX-GH-002").audience is Audience.INTERNAL
    assert repository.table_by_code(session, "YH-XYK-2") is None  # all or nothing
    in_scope = _csv(tmp_path, "银行服务,信用卡,YH-XYK-2,信用卡年费,public,首年免年费。")
    report = import_path(session, in_scope, actor=crew["card_editor"], draft=True, zone=SHANGHAI)
    assert report.created == ["YH-XYK-2"]
    assert _table(session, "YH-XYK-2").latest_revision.state is S.DRAFT


def test_audience_change_by_import_waits_for_review(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "通信业务,改号业务,TX-GH-002,改号需要带什么证件,public,携带机主本人有效身份证件原件到营业厅办理。",
    )
    report = import_path(session, path, actor=crew["editor1"], draft=True, zone=SHANGHAI)
    assert (report.revised, report.proposed) == (["TX-GH-002"], ["TX-GH-002"])
    session.commit()
    table = _table(session, "TX-GH-002")
    assert table.audience is Audience.INTERNAL  # nothing customer-visible yet
    draft = table.latest_revision
    assert (draft.number, draft.state, draft.proposed) == (2, S.DRAFT, {"audience": "public"})
    assert portal.visible_codes(session, ["TX-GH-002"], utcnow()) == set()
    workflow.submit(session, crew["editor1"], "TX-GH-002")
    workflow.approve(session, crew["reviewer1"], "TX-GH-002")
    session.commit()
    assert _table(session, "TX-GH-002").audience is Audience.PUBLIC
    assert portal.visible_codes(session, ["TX-GH-002"], utcnow()) == {"TX-GH-002"}
    actions = [(e.actor, e.action) for e in repository.audit_for(session, "table", "TX-GH-002")]
    assert actions[-3:] == [
        ("reviewer1", "approve"),
        ("reviewer1", "publish"),
        ("reviewer1", "update"),
    ]


def test_validity_revival_by_import_waits_for_review(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    content = tmp_path / "seed"
    write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("valid_until: 2027-06-30", "valid_until: 2030-06-30"),
    )
    before = _table(session, "TX-GH-001").valid_until
    report = import_path(session, content, actor=crew["editor1"], draft=True, zone=SHANGHAI)
    assert report.proposed == ["TX-GH-001"]
    table = _table(session, "TX-GH-001")
    assert table.valid_until == before
    assert table.latest_revision.proposed == {"valid_until": "2030-06-30T16:00:00+00:00"}
    assert table.live_revision is not None and table.live_revision.number == 1


def test_publishing_an_import_needs_the_publish_right(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    path = _csv(tmp_path, "通信业务,改号业务,TX-GH-099,新表,public,答复。")
    for who in ("editor1", "reviewer1"):
        assert _refused(session, path, crew[who], draft=False) == [
            f"None: {who} ({crew[who].role.value}) may not publish; allowed for: admin.; import "
            "as drafts for review instead (--draft, draft=true)"
        ]
    report = import_path(session, path, actor=crew["admin1"], draft=False, zone=SHANGHAI)
    assert _table(session, "TX-GH-099").live_revision is not None
    assert report.created == ["TX-GH-099"]


def test_editor_cannot_change_the_hierarchy_or_the_dictionary_by_import(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    content = demo_dir(tmp_path / "zip")
    write(content / "_dictionary.yaml", "synonyms:\n  - [甲, 乙]\nterms: [丙]\n")
    write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("label: 标准答复", "label: 给客户看的答复"),
    )
    write(
        content / "新类" / "新包.yaml",
        GAIHAO.replace("改号业务", "新包").replace("TX-GH-00", "XL-"),
    )
    problems = _refused(session, content, crew["editor1"])
    denied = "editor1 (editor) may not manage_hierarchy; allowed for: admin."
    assert problems == [
        f"{content / '_dictionary.yaml'}:2: replacing the synonyms and domain terms: editor1 "
        "(editor) may not "
        "manage_dictionary; allowed for: reviewer, admin.",
        f"{content / '新类'}: creating or changing category 新类 (its description or position): "
        f"{denied}",
        f"{content / '新类' / '新包.yaml'}:1: creating package 新类/新包: {denied}",
        f"{content / '通信业务' / '改号业务.yaml'}:1: changing package 通信业务/改号业务 "
        f"(template): {denied}",
    ]
    assert repository.synonym_groups(session) == [["改号", "换号", "更换号码"]]
    # A reviewer may replace the dictionary, not the hierarchy.
    reviewer = _refused(session, content, crew["reviewer1"])
    assert [p for p in reviewer if "synonyms" in p] == []
    assert len(reviewer) == 3


def test_unchanged_parts_need_no_rights(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    """An editor may re-import a whole export: what it does not change needs no right."""
    content = tmp_path / "seed"
    write(content / "_dictionary.yaml", DICTIONARY)
    assert check_bundle(session, read_path(content), actor=crew["card_editor"], draft=True) == []
    report = import_path(session, content, actor=crew["card_editor"], draft=True, zone=SHANGHAI)
    assert report.unchanged == ["TX-GH-001", "TX-GH-002"]


def test_moving_a_table_needs_both_packages(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "银行服务,信用卡,TX-GH-002,改号需要带什么证件,internal,携带机主本人有效身份证件原件到营业厅办理。",
    )
    assert _refused(session, path, crew["card_editor"]) == [
        f"{path} row 2: moving table TX-GH-002 out of 通信业务/改号业务: card_editor (editor) may "
        "not draft in 通信业务/改号业务: their scope is 银行服务/信用卡; ask a editor of that "
        "package or an admin."
    ]


def test_a_move_is_not_reviewed_so_it_needs_the_publish_right(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    """A move applies the target's template (which fields customers see) and review interval
    at once, even in a draft import."""
    path = _csv(
        tmp_path,
        "银行服务,信用卡,TX-GH-001,改号后原号码是否还会产生话费,public,改号完成后原号码停止计费。",
    )
    [refusal] = _refused(session, path, crew["editor1"])
    assert refusal.endswith(
        "moving table TX-GH-001 out of 通信业务/改号业务: editor1 (editor) may not move a table "
        "from 通信业务/改号业务 to 银行服务/信用卡: a move applies the new package's template and "
        "review interval at once, unreviewed (which fields customers see, when the table "
        "expires); an admin moves tables."
    )
    import_path(session, path, actor=crew["admin1"], draft=True, zone=SHANGHAI)
    assert _table(session, "TX-GH-001").package.name == "信用卡"


def test_open_drafts_are_rewritten_only_by_their_author_or_an_admin(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    workflow.edit(session, crew["editor1"], "TX-GH-002", Edit(title="改号要带哪些证件"))
    session.commit()
    path = _csv(tmp_path, "通信业务,改号业务,TX-GH-002,改号证件,internal,带身份证。")
    assert _refused(session, path, crew["editor2"]) == [
        f"{path} row 2: table TX-GH-002 has an open draft (revision 2) by editor1; only its "
        "author or an admin may change it — ask them to submit it, or leave this table out"
    ]
    import_path(session, path, actor=crew["editor1"], draft=True, zone=SHANGHAI)
    table = _table(session, "TX-GH-002")
    assert [(r.number, r.state) for r in table.revisions] == [(1, S.PUBLISHED), (2, S.DRAFT)]
    assert (table.latest_revision.title, table.latest_revision.fields) == (
        "改号证件",
        {"answer": "带身份证。"},
    )
    # The admin may rewrite it, and then counts as one of its writers.
    again = _csv(tmp_path, "通信业务,改号业务,TX-GH-002,改号证件,internal,带身份证原件。")
    import_path(session, again, actor=crew["admin1"], draft=True, zone=SHANGHAI)
    table = _table(session, "TX-GH-002")
    assert table.latest_revision.contributors == ["editor1", "admin1"]
    workflow.submit(session, crew["editor1"], "TX-GH-002")
    with pytest.raises(PermissionDenied) as caught:
        workflow.approve(session, crew["admin1"], "TX-GH-002")
    assert str(caught.value) == (
        "admin1 may not approve revision 2 of TX-GH-002: they edited it, and self-approval is "
        "off (ZHIKU_ALLOW_SELF_APPROVAL); ask another reviewer (written by editor1, admin1)."
    )


@pytest.mark.parametrize("draft", [True, False])
def test_an_import_never_strands_a_revision_in_review(
    session: Session, crew: dict[str, User], tmp_path: Path, draft: bool
) -> None:
    workflow.edit(session, crew["editor1"], "TX-GH-002", Edit(title="改号要带哪些证件"))
    workflow.submit(session, crew["editor1"], "TX-GH-002")
    session.commit()
    path = _csv(tmp_path, "通信业务,改号业务,TX-GH-002,改号证件,internal,带身份证。")
    before = snapshot(session)
    with pytest.raises(ImportRejected) as caught:
        import_path(session, path, actor=crew["admin1"], draft=draft, zone=SHANGHAI)
    assert snapshot(session) == before
    session.rollback()
    [problem] = caught.value.problems
    assert (problem.location, problem.field) == (f"{path} row 2", "code")
    assert problem.message == (
        "table TX-GH-002 has revision 2 in review (submitted by editor1 on 2026-11-23); an "
        "import would strand it — have it approved or rejected, or withdraw it, then import "
        "again"
    )
    # The revision in review is still reviewable, and the import goes through afterwards.
    workflow.approve(session, crew["reviewer1"], "TX-GH-002")
    report = import_path(session, path, actor=crew["admin1"], draft=draft, zone=SHANGHAI)
    assert report.revised == ["TX-GH-002"]
    table = _table(session, "TX-GH-002")
    assert [r.state for r in table.revisions] == [
        S.ARCHIVED,
        S.PUBLISHED if draft else S.ARCHIVED,
        S.DRAFT if draft else S.PUBLISHED,
    ]


def test_metadata_and_links_beside_a_revision_in_review_still_import(
    session: Session, crew: dict[str, User], tmp_path: Path
) -> None:
    """Author, source and links are not on the revision: changing them strands nothing."""
    workflow.edit(session, crew["editor1"], "TX-GH-001", Edit(title="改号后旧号码还扣费吗"))
    workflow.submit(session, crew["editor1"], "TX-GH-001")
    content = tmp_path / "seed"
    write(
        content / "通信业务" / "改号业务.yaml", GAIHAO.replace("source: 客户来电", "source: 工单")
    )
    report = import_path(session, content, actor=crew["editor1"], draft=True, zone=SHANGHAI)
    assert (report.updated, report.revised) == (["TX-GH-001"], [])
    assert _table(session, "TX-GH-001").source == "工单"
