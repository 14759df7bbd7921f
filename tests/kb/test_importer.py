from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import repository
from kb.db import Database
from kb.errors import ImportRejected, Problem
from kb.models import AuditEntry, KnowledgeTable, RevisionState
from kb.transfer.bundle import Bundle, PackageDoc, TableDoc
from kb.transfer.importer import apply_bundle, check_bundle, import_path, read_path
from tests.kb.content_files import GAIHAO, demo_dir, snapshot, write

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session() as s:
        yield s


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return demo_dir(tmp_path / "content")


def _import(session: Session, path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return import_path(session, path, actor="importer", zone=SHANGHAI, **kwargs)  # type: ignore[arg-type]


def _refused(session: Session, path: Path) -> list[Problem]:
    before = snapshot(session)
    with pytest.raises(ImportRejected) as caught:
        _import(session, path)
    assert snapshot(session) == before  # validated first: nothing was even flushed
    session.rollback()
    assert snapshot(session) == before
    return caught.value.problems


def test_import_creates_everything(session: Session, content: Path) -> None:
    report = _import(session, content)
    session.commit()

    assert (report.created, report.revised, report.updated, report.unchanged) == (
        ["TX-GH-001", "TX-GH-002"],
        [],
        [],
        [],
    )
    assert (report.categories, report.packages, report.dictionary_changed) == (1, 1, True)
    one = repository.table_by_code(session, "TX-GH-001")
    assert one is not None and one.live_revision is not None
    assert report.changed_table_ids == {
        t.id for t in repository.tables_by_codes(session, ["TX-GH-001", "TX-GH-002"]).values()
    }
    assert (one.author, one.source, one.audience.value) == ("李娜", "客户来电", "public")
    assert one.valid_from == datetime(2024, 12, 31, 16, 0, tzinfo=UTC)
    assert one.valid_until == datetime(2027, 6, 30, 16, 0, tzinfo=UTC)  # end of June 30th
    assert one.last_verified_at == datetime(2026, 5, 10, 1, 30, tzinfo=UTC)
    assert [t.code for t in one.related] == ["TX-GH-002"]
    live = one.live_revision
    assert (live.number, live.state, live.template_version) == (1, RevisionState.PUBLISHED, 1)
    assert live.questions == ["换了新号码以后旧号还扣钱吗", "改號後舊號碼還會扣費嗎"]
    assert live.fields == {
        "question": "客户办理改号后，担心原号码继续产生费用。",
        "answer": "改号完成后，原号码即停止计费。\n当月费用按实际天数折算。",
        "steps": ["登录营业厅 App", "查看“改号”业务状态"],
        "internal_note": "如客户坚持原号码仍扣费，转计费组核查。",
    }
    package = one.package
    assert (package.description, package.review_interval_days, package.owner) == (
        "手机号码变更相关咨询",
        90,
        "王芳",
    )
    assert (package.position, package.category.position) == (2, 1)
    assert repository.synonym_groups(session) == [["改号", "换号", "更换号码"]]
    assert repository.domain_terms(session) == ["副卡", "携号转网"]
    two = repository.table_by_code(session, "TX-GH-002")
    assert two is not None and two.audience.value == "internal"


def test_reimport_is_idempotent(session: Session, content: Path) -> None:
    _import(session, content)
    session.commit()
    before = snapshot(session)
    report = _import(session, content)
    assert (report.created, report.revised, report.updated) == ([], [], [])
    assert report.unchanged == ["TX-GH-001", "TX-GH-002"]
    assert (report.categories, report.packages, report.dictionary_changed) == (0, 0, False)
    assert report.changed_table_ids == set()
    assert snapshot(session) == before


def test_changed_content_becomes_a_new_live_revision(session: Session, content: Path) -> None:
    _import(session, content)
    session.commit()
    write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("携带机主本人有效身份证件", "携带机主本人身份证"),
    )
    report = _import(session, content)
    session.commit()
    assert (report.revised, report.unchanged) == (["TX-GH-002"], ["TX-GH-001"])
    table = repository.table_by_code(session, "TX-GH-002")
    assert table is not None
    assert [(r.number, r.state) for r in table.revisions] == [
        (1, RevisionState.ARCHIVED),
        (2, RevisionState.PUBLISHED),
    ]
    assert table.live_revision is not None
    assert table.live_revision.fields == {"answer": "携带机主本人身份证原件到营业厅办理。"}
    assert table.live_revision.based_on == 1
    assert report.changed_table_ids == {table.id}


def test_metadata_only_change_updates_without_a_revision(session: Session, content: Path) -> None:
    _import(session, content)
    session.commit()
    write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("valid_until: 2027-06-30", "valid_until: 2028-01-01T00:00:00+08:00"),
    )
    report = _import(session, content)
    assert (report.updated, report.revised) == (["TX-GH-001"], [])
    table = repository.table_by_code(session, "TX-GH-001")
    assert table is not None
    assert table.valid_until == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    assert len(table.revisions) == 1
    actions = [e.action for e in repository.audit_for(session, "table", "TX-GH-001")]
    assert actions == ["create", "revise", "publish", "link", "update"]


def test_draft_import_writes_drafts_and_is_idempotent(session: Session, content: Path) -> None:
    _import(session, content)
    session.commit()
    write(content / "通信业务" / "改号业务.yaml", GAIHAO.replace("原件到营业厅", "到营业厅"))
    report = _import(session, content, draft=True)
    session.commit()
    assert report.revised == ["TX-GH-002"]
    table = repository.table_by_code(session, "TX-GH-002")
    assert table is not None and table.live_revision is not None
    assert [(r.number, r.state) for r in table.revisions] == [
        (1, RevisionState.PUBLISHED),
        (2, RevisionState.DRAFT),
    ]
    before = snapshot(session)
    again = _import(session, content, draft=True)
    assert again.unchanged == ["TX-GH-001", "TX-GH-002"]
    assert snapshot(session) == before


def test_a_draft_import_is_checked_with_what_the_open_draft_already_proposes(
    session: Session, content: Path
) -> None:
    _import(session, content)
    session.commit()
    path = content / "通信业务" / "改号业务.yaml"
    write(path, GAIHAO.replace("valid_from: 2025-01-01", "valid_from: 2027-03-01"))
    _import(session, content, draft=True)  # the draft proposes valid_from 2027-03-01
    session.commit()
    # alone, an earlier end is fine (after 2025-01-01); with the draft's start it never could
    # be approved, so the import is refused, naming the start it met
    write(path, GAIHAO.replace("valid_until: 2027-06-30", "valid_until: 2027-01-31"))
    before = snapshot(session)
    with pytest.raises(ImportRejected) as caught:
        _import(session, content, draft=True)
    assert snapshot(session) == before
    [problem] = caught.value.problems
    assert problem.field == "valid_until"
    assert "valid_from (2027-02-28T16:00:00+00:00)" in problem.message  # 03-01 in Shanghai


def test_new_tables_as_drafts(session: Session, content: Path) -> None:
    report = _import(session, content, draft=True)
    assert report.created == ["TX-GH-001", "TX-GH-002"]
    states = session.scalars(select(KnowledgeTable.live_revision_id)).all()
    assert states == [None, None]
    assert repository.revision_state_counts(session) == {"draft": 2}


def test_template_change_makes_a_new_template_version(session: Session, content: Path) -> None:
    _import(session, content)
    session.commit()
    write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace(
            "  - {key: steps, label: 操作步骤, type: steps}\n",
            "  - {key: steps, label: 操作步骤, type: steps}\n  - {key: scope, label: 适用范围}\n",
        ),
    )
    report = _import(session, content)
    session.commit()
    assert (report.packages, report.unchanged) == (1, ["TX-GH-001", "TX-GH-002"])
    package = repository.package_by_name(session, "通信业务", "改号业务")
    assert package is not None
    assert [t.version for t in package.templates] == [1, 2]
    assert [f["key"] for f in package.template.fields] == [
        "question",
        "answer",
        "steps",
        "scope",
        "internal_note",
    ]
    table = repository.table_by_code(session, "TX-GH-001")
    assert table is not None and table.latest_revision.template_version == 1


# ---- refused imports: every problem named, the database unchanged ----


def test_missing_required_field_is_refused(session: Session, content: Path) -> None:
    _import(session, content)
    session.commit()
    path = write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("      answer: 携带机主本人有效身份证件原件到营业厅办理。\n", "      {}\n"),
    )
    assert _refused(session, content) == [
        Problem(
            "标准答复 is required by package 通信业务/改号业务 (template v1)",
            "answer",
            None,
            f"{path}:34",
        )
    ]


def test_duplicate_code_is_refused(session: Session, content: Path) -> None:
    path = write(
        content / "通信业务" / "改号业务.yaml", GAIHAO.replace("code: TX-GH-002", "code: TX-GH-001")
    )
    problems = _refused(session, content)
    assert problems == [
        # the first table now links to a code that is in neither the import nor the database
        Problem(
            "related codes not found in this import or the knowledge base: TX-GH-002",
            "related",
            "TX-GH-002",
            f"{path}:23",
        ),
        Problem(
            f"code TX-GH-001 is used twice (also at {path}:12); codes are unique across the "
            "knowledge base",
            "code",
            "TX-GH-001",
            f"{path}:34",
        ),
    ]


def test_bad_date_is_refused(session: Session, content: Path) -> None:
    _import(session, content)
    session.commit()
    path = write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("valid_until: 2027-06-30", "valid_until: 2027-02-30"),
    )
    [problem] = _refused(session, content)
    assert (problem.location, problem.field, problem.value) == (
        f"{path}:21",
        "valid_until",
        "2027-02-30",
    )
    assert problem.message.startswith("not a valid date: write a date (2026-06-30)")


def test_unknown_package_in_csv_is_refused(session: Session, content: Path, tmp_path: Path) -> None:
    _import(session, content)
    session.commit()
    path = write(
        tmp_path / "rows.csv",
        "category,package,code,title,answer\n"
        "通信业务,改号业务,TX-GH-010,改号后积分,积分保留\n"
        "通信业务,携号转网,TX-XH-001,携转条件,见营业厅\n",
    )
    assert _refused(session, path) == [
        Problem(
            "unknown package '携号转网' in category 通信业务 (known: 改号业务); create the package "
            "first with a YAML import (its template) or in the admin desk",
            "package",
            "通信业务/携号转网",
            f"{path} row 3",
        )
    ]


def test_text_no_database_can_store_is_refused_in_every_file_value(
    session: Session, content: Path, tmp_path: Path
) -> None:
    """NUL (PostgreSQL refuses it: a 500 there, stored as is on SQLite) and lone surrogates,
    refused as the API refuses them in a request."""
    _import(session, content)
    session.commit()
    rows = write(
        tmp_path / "rows.csv",
        "category,package,code,title,answer\n通信业务,改号业务,TX-GH-010,改号\x00积分,积分\x00保留\n",
    )
    nul = "text must not contain NUL characters (\\u0000)"
    assert _refused(session, rows) == [
        Problem(nul, "title", "改号\\x00积分", f"{rows} row 2"),
        Problem(nul, "fields.answer", "积分\\x00保留", f"{rows} row 2"),
    ]
    yaml = content / "通信业务" / "改号业务.yaml"
    write(yaml, GAIHAO.replace("tags: [改号", 'tags: ["改\\0号", "\\ud800"', 1))
    problems = _refused(session, content)
    line = next(i for i, text in enumerate(yaml.read_text().splitlines(), 1) if "tags:" in text)
    assert [(p.field, p.value, p.location) for p in problems] == [
        ("tags.0", "改\\x00号", f"{yaml}:{line}"),  # YAML's escapes: "\\0" is NUL
        ("tags.1", "\\ud800", f"{yaml}:{line}"),
    ]


def test_non_utf8_csv_is_refused(session: Session, content: Path, tmp_path: Path) -> None:
    _import(session, content)
    session.commit()
    path = tmp_path / "gbk.csv"
    path.write_bytes("category,package,code,title\n通信业务,改号业务,X-1,标题\n".encode("gbk"))
    [problem] = _refused(session, path)
    assert problem.location == str(path)
    assert "not UTF-8 (first bad byte on line 2)" in problem.message
    assert "Re-save it as UTF-8" in problem.message


def test_xlsx_with_missing_column_is_refused(
    session: Session, content: Path, tmp_path: Path
) -> None:
    _import(session, content)
    session.commit()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["category", "package", "code", "answer"])
    sheet.append(["通信业务", "改号业务", "TX-GH-011", "答"])
    path = tmp_path / "rows.xlsx"
    book.save(path)
    [problem] = _refused(session, path)
    assert (problem.location, problem.field) == (f"{path} row 1", "title")
    assert problem.message.startswith("column 'title' is missing")


def test_every_problem_is_reported_at_once(session: Session, content: Path) -> None:
    path = write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("related: [TX-GH-002]", "related: [TX-NONE, TX-GH-001]")
        .replace("valid_from: 2025-01-01", "valid_from: 2028-01-01")
        .replace("      answer: 携带", "      answr: 携带"),
    )
    problems = _refused(session, content)
    assert [(p.location, p.field) for p in problems] == [
        (f"{path}:21", "valid_until"),  # before valid_from
        (f"{path}:23", "related"),  # itself
        (f"{path}:23", "related"),  # unknown code
        (f"{path}:34", "answer"),  # the required answer is missing (located at the table)
        (f"{path}:39", "answr"),  # not in the template (located at its own line)
    ]
    assert problems[0].message.startswith("valid_until must be after valid_from (")


def test_bad_template_is_refused(session: Session, content: Path) -> None:
    path = write(
        content / "通信业务" / "改号业务.yaml",
        GAIHAO.replace(
            "{key: answer, label: 标准答复, type: markdown, required: true}", "{key: reply}"
        ),
    )
    problems = _refused(session, content)
    assert [(p.location, p.field, p.message) for p in problems] == [
        (
            f"{path}:6",
            "template",
            "every template needs a field with key 'answer' (标准答复)",
        )
    ]


def test_unsupported_path(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path / "old.xls", "x")
    with pytest.raises(ImportRejected, match=r"\(save it as \.xlsx\)\."):
        read_path(path)
    with pytest.raises(ImportRejected, match="no such file or directory"):
        read_path(tmp_path / "missing")


# ---- spreadsheets update stored tables ----


def test_csv_updates_only_the_columns_it_has(
    session: Session, content: Path, tmp_path: Path
) -> None:
    _import(session, content)
    session.commit()
    path = write(
        tmp_path / "rows.csv",
        "category,package,code,title,标准答复,steps,valid_until\n"
        "通信业务,改号业务,TX-GH-001,改号后原号码是否还会产生话费,改号后原号码停止计费。,,2027-12-31\n"
        '通信业务,改号业务,TX-GH-003,改号要多久,"一般**即时**生效。",,\n',
    )
    report = _import(session, path)
    session.commit()
    assert (report.created, report.revised) == (["TX-GH-003"], ["TX-GH-001"])
    table = repository.table_by_code(session, "TX-GH-001")
    assert table is not None and table.live_revision is not None
    live = table.live_revision
    assert live.questions == ["换了新号码以后旧号还扣钱吗", "改號後舊號碼還會扣費嗎"]  # no column
    assert live.fields == {
        "question": "客户办理改号后，担心原号码继续产生费用。",
        "answer": "改号后原号码停止计费。",
        "internal_note": "如客户坚持原号码仍扣费，转计费组核查。",
    }  # steps: an empty cell clears the field
    assert table.author == "李娜"  # no author column
    assert table.valid_until == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    assert [t.code for t in table.related] == ["TX-GH-002"]  # no related column
    assert repository.synonym_groups(session) == [["改号", "换号", "更换号码"]]  # no dictionary
    new = repository.table_by_code(session, "TX-GH-003")
    assert new is not None and new.package.name == "改号业务"


def test_csv_value_in_a_column_outside_the_template(
    session: Session, content: Path, tmp_path: Path
) -> None:
    _import(session, content)
    session.commit()
    path = write(
        tmp_path / "rows.csv",
        "category,package,code,title,answer,资费说明\n通信业务,改号业务,TX-GH-001,标题,答,五元\n",
    )
    [problem] = _refused(session, path)
    assert (problem.location, problem.field) == (f"{path} row 2", "资费说明")
    assert problem.message.startswith("not in the template of package 通信业务/改号业务 (v1)")


# ---- links, moves, bundles built in code ----


def _bundle(*tables: TableDoc, package: str = "改号业务") -> Bundle:
    template = [{"key": "answer", "label": "标准答复", "required": True}]
    return Bundle(
        packages=[PackageDoc("通信业务", package, template=template, tables=list(tables))],
        source="test",
    )


def test_related_may_point_into_the_database(session: Session) -> None:
    apply_bundle(session, _bundle(TableDoc("A-1", "甲", fields={"answer": "a"})), actor="t")
    second = _bundle(TableDoc("B-1", "乙", fields={"answer": "b"}, related=["A-1"]), package="乙包")
    assert check_bundle(session, second, zone=SHANGHAI) == []
    apply_bundle(session, second, actor="t", zone=SHANGHAI)
    table = repository.table_by_code(session, "B-1")
    assert table is not None and [t.code for t in table.related] == ["A-1"]


def test_table_moves_to_the_package_that_now_lists_it(session: Session) -> None:
    apply_bundle(session, _bundle(TableDoc("A-1", "甲", fields={"answer": "a"})), actor="t")
    report = apply_bundle(
        session, _bundle(TableDoc("A-1", "甲", fields={"answer": "a"}), package="新包"), actor="t"
    )
    assert (report.updated, report.revised) == (["A-1"], [])
    table = repository.table_by_code(session, "A-1")
    assert table is not None and table.package.name == "新包"


def test_progress_is_reported_per_table(session: Session, content: Path) -> None:
    calls: list[tuple[int, int]] = []
    _import(session, content, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


def test_audit_names_the_actor(session: Session, content: Path) -> None:
    _import(session, content)
    actors = set(session.scalars(select(AuditEntry.actor)))
    assert actors == {"importer"}


def test_caps_and_names_are_checked_on_import(
    session: Session, content: Path, tmp_path: Path
) -> None:
    _import(session, content)
    session.commit()
    questions = "\n".join(f"问法{i}" for i in range(201))
    path = write(
        tmp_path / "rows.csv",
        f'category,package,code,title,questions,answer\n通信业务,改号业务,TX-GH-010,积分,"{questions}",有\n',
    )
    assert [(p.field, p.value, p.location) for p in _refused(session, path)] == [
        ("questions", 201, f"{path} row 2")
    ]
    bad = demo_dir(tmp_path / "bad")
    (bad / "通信业务").rename(bad / "通信\x07业务")
    [problem] = _refused(session, bad)
    assert (problem.field, problem.value, problem.location) == (
        "category",
        "通信\x07业务",
        str(bad / "通信\x07业务" / "_category.yaml") + ":1",
    )
    assert "contains control or invisible characters (U+0007)" in problem.message
