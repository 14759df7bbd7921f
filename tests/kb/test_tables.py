from __future__ import annotations

import pytest
from sqlalchemy import select

from kb import changes, hierarchy, portal, repository, tables
from kb.clock import utcnow
from kb.db import Database
from kb.errors import Conflict, NotFound, ValidationFailed
from kb.models import AuditEntry, RevisionState
from kb.tables import TableMeta
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


def test_a_moved_table_is_read_under_its_new_package_template(session) -> None:  # type: ignore[no-untyped-def]
    """Template versions count per package: version 1 of the old package is not version 1 of
    the new one (where, here, the internal note was once public)."""
    old = make_package(session, "通信业务", "改号业务")
    public_note = [
        dict(f, audience="public") if f["key"] == "internal_note" else f for f in TEMPLATE
    ]
    new = make_package(session, "通信业务", "套餐业务", template=public_note)
    hierarchy.ensure_package(session, new.category, new.name, template=TEMPLATE, actor="admin")
    table = make_table(session, old, fields={"answer": "答复", "internal_note": "内部口径"})
    tables.move_table(session, table, new, actor="admin")
    assert [r.template_version for r in table.revisions] == [new.template.version] == [2]
    shown = [f.key for f in portal.public_table(session, table.code, utcnow()).fields]
    assert shown == ["answer"]


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


def _content(**overrides: object) -> tables.TableContent:
    base: dict[str, object] = {
        "title": "改号后原号码是否还会产生话费",
        "questions": ["换号以后旧号码还扣钱吗"],
        "tags": ["改号"],
        "fields": {"answer": "改号完成后原号码停止计费。"},
    }
    return tables.TableContent(**{**base, **overrides})  # type: ignore[arg-type]


def test_per_table_caps_name_the_field_and_count(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session)
    content = _content(
        questions=[f"问法{i}" for i in range(201)],
        tags=["标签" * 26, *[f"t{i}" for i in range(30)]],
        fields={"answer": "答" * 20_001, "steps": ["步"] * 101},
    )
    _, problems = tables.check_content(package, content)
    assert [(p.field, p.value, p.message) for p in problems] == [
        (
            "questions",
            201,
            "at most 200 similar questions per table, got 201; keep the distinct ones",
        ),
        ("tags", 31, "at most 30 tags per table, got 31; keep the distinct ones"),
        ("tags[0]", 52, "tags may be at most 50 characters each; item 1 has 52"),
        (
            "answer",
            20_001,
            "标准答复 may be at most 20,000 characters, got 20,001; split the topic into several "
            "tables",
        ),
        (
            "steps",
            101,
            "at most 100 items of 操作步骤 per table, got 101; keep the distinct ones",
        ),
    ]
    _, fine = tables.check_content(package, _content(questions=[f"问法{i}" for i in range(200)]))
    assert fine == []


def test_ten_thousand_questions_are_refused_as_one_count(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session)
    many = [f"改号以后旧号码第{i}次还扣钱吗" for i in range(10_000)]
    _, problems = tables.check_content(package, _content(questions=many))
    assert [(p.field, p.value) for p in problems] == [("questions", 10_000)]
    with pytest.raises(ValidationFailed) as caught:
        tables.create_table(
            session, package, "TX-CAP-1", _content(questions=many), TableMeta(), actor="e"
        )
    assert caught.value.problems[0].field == "questions"


def test_related_links_are_capped(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session)
    table = make_table(session, package)
    codes = [f"R-{i}" for i in range(51)]
    with pytest.raises(ValidationFailed) as caught:
        tables.set_links(session, table, codes, actor="editor")
    assert str(caught.value.problems[0]) == "related: at most 50 related tables per table, got 51"
