from __future__ import annotations

import pytest
from sqlalchemy import select

from kb import changes, hierarchy, repository, tables
from kb.db import Database
from kb.errors import Conflict, NotFound, ValidationFailed
from kb.models import AuditEntry, RevisionState
from tests.factories import TEMPLATE, make_package, make_table


def test_create_table_publishes_and_audits(db: Database) -> None:
    with db.transaction() as s:
        table = make_table(s, tags=["改号"])
        assert changes.pop(s) == {table.id}
    with db.session() as s:
        table = tables.get_table(s, "TX-GH-001")
        assert table.title == "改号后原号码是否还会产生话费"
        assert table.live_revision is not None
        assert table.live_revision.state is RevisionState.PUBLISHED
        assert table.live_revision.tags == ["改号"]
        actions = [e.action for e in repository.audit_for(s, "table", "TX-GH-001")]
        assert actions == ["create", "revise", "publish"]


def test_duplicate_code_is_a_conflict(db: Database) -> None:
    with db.transaction() as s:
        make_table(s)
    with pytest.raises(Conflict, match="codes are unique"), db.transaction() as s:
        make_table(s, package=hierarchy.find_package(s, "改号业务"))


def test_new_published_revision_archives_the_old_one(db: Database) -> None:
    with db.transaction() as s:
        table = make_table(s)
        content = tables.TableContent("改号后原号码是否还会产生话费", [], [], {"answer": "新口径"})
        second = tables.add_revision(
            s, table, content, actor="editor", state=RevisionState.PUBLISHED
        )
        assert table.live_revision is second
        assert [r.state for r in table.revisions] == [
            RevisionState.ARCHIVED,
            RevisionState.PUBLISHED,
        ]
    with db.session() as s:
        live = tables.get_table(s, "TX-GH-001").live_revision
        assert live is not None and live.number == 2 and live.fields == {"answer": "新口径"}


def test_draft_revision_leaves_live_one_in_place(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    content = tables.TableContent("改号后原号码是否还会产生话费", [], [], {"answer": "草稿"})
    draft = tables.add_revision(session, table, content, actor="editor")
    assert draft.state is RevisionState.DRAFT
    assert table.live_revision is not None and table.live_revision.number == 1


def test_invalid_table_lists_every_problem(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session)
    content = tables.TableContent("", ["a"], [], {"answer": ""})
    meta = tables.TableMeta()
    with pytest.raises(ValidationFailed) as caught:
        tables.create_table(session, package, "bad code!", content, meta, actor="e")
    fields = sorted(p.field or "" for p in caught.value.problems)
    assert fields == ["answer", "code", "title"]


def test_validity_window_must_be_ordered(session) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationFailed, match="valid_until"):
        make_table(session, valid_from=start, valid_until=start)


def test_move_table_revalidates_against_new_template(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session, fields={"answer": "a", "steps": ["一", "二"]})
    strict = make_package(
        session,
        name="套餐资费",
        template=[
            {"key": "answer", "label": "标准答复"},
            {"key": "scope", "label": "适用范围", "required": True},
        ],
    )
    with pytest.raises(ValidationFailed, match="cannot move") as caught:
        tables.move_table(session, table, strict, actor="admin")
    assert {p.field for p in caught.value.problems} == {"steps", "scope"}
    loose = make_package(session, name="宽带", template=TEMPLATE)
    tables.move_table(session, table, loose, actor="admin")
    assert table.package.name == "宽带"


def test_links_refuse_unknown_and_self(session) -> None:  # type: ignore[no-untyped-def]
    a = make_table(session)
    b = make_table(session, package=a.package, code="TX-GH-002", title="携号转网条件")
    assert tables.set_links(session, a, ["TX-GH-002"], actor="e") is True
    assert [t.code for t in a.related] == ["TX-GH-002"]
    assert tables.set_links(session, a, ["TX-GH-002"], actor="e") is False
    with pytest.raises(ValidationFailed, match="not found: NOPE"):
        tables.set_links(session, a, ["NOPE"], actor="e")
    with pytest.raises(ValidationFailed, match="itself"):
        tables.set_links(session, b, ["TX-GH-002"], actor="e")


def test_update_meta_audits_only_real_changes(session) -> None:  # type: ignore[no-untyped-def]
    table = make_table(session)
    meta = tables.TableMeta(author="李娜")
    assert tables.update_meta(session, table, meta, actor="e") is True
    assert tables.update_meta(session, table, meta, actor="e") is False
    updates = session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).all()
    assert [u.detail for u in updates] == [{"author": "李娜"}]


def test_get_table_names_the_missing_code(session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="'TX-404'"):
        tables.get_table(session, "TX-404")
