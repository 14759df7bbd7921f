from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from kb import diff, tables
from kb.errors import NotFound
from kb.models import Audience, Revision
from tests.factories import make_table

LONG_A = "改号完成后，原号码即停止计费。改号当月的月租按实际使用天数折算。如有疑问请拨打10000。"
LONG_B = "改号完成后，原号码即停止计费。改号当月的月租按自然月全额收取。如有疑问请拨打10000。"


def _rev(**kw: object) -> Revision:
    base: dict[str, object] = {
        "number": 1,
        "title": "改号后原号码是否还会产生话费",
        "questions": ["换号以后旧号码还扣钱吗"],
        "tags": ["改号"],
        "fields": {"answer": "停止计费。"},
    }
    base.update(kw)
    return Revision(**base)


LABELS = {"question": "问题描述", "answer": "标准答复", "steps": "操作步骤"}


def test_same_content_has_no_changes() -> None:
    assert diff.diff_revisions(_rev(), _rev(number=2), LABELS) == []


def test_title_questions_and_tags_compared_item_wise() -> None:
    old = _rev()
    new = _rev(
        number=2,
        title="改号后旧号码还收费吗",
        questions=["换号以后旧号码还扣钱吗", "改號後舊號碼還會扣費嗎"],
        tags=[],
    )
    found = [c.to_dict() for c in diff.diff_revisions(old, new, LABELS)]
    assert found == [
        {
            "key": "title",
            "label": "标题",
            "kind": "changed",
            "before": "改号后原号码是否还会产生话费",
            "after": "改号后旧号码还收费吗",
            "removed": [],
            "added": [],
            "lines": ["- 改号后原号码是否还会产生话费", "+ 改号后旧号码还收费吗"],
        },
        {
            "key": "questions",
            "label": "相似问法",
            "kind": "changed",
            "before": ["换号以后旧号码还扣钱吗"],
            "after": ["换号以后旧号码还扣钱吗", "改號後舊號碼還會扣費嗎"],
            "removed": [],
            "added": ["改號後舊號碼還會扣費嗎"],
            "lines": ["+ 改號後舊號碼還會扣費嗎"],
        },
        {
            "key": "tags",
            "label": "标签",
            "kind": "removed",
            "before": ["改号"],
            "after": [],
            "removed": ["改号"],
            "added": [],
            "lines": ["- 改号"],
        },
    ]


def test_fields_by_label_in_template_order() -> None:
    old = _rev(fields={"answer": LONG_A, "steps": ["登录 App", "查看状态"], "legacy": "旧字段"})
    new = _rev(
        number=2,
        fields={
            "question": "客户担心扣费",
            "answer": LONG_B,
            "steps": ["登录 App", "进入已办业务"],
        },
    )
    found = diff.diff_revisions(old, new, LABELS)
    assert [(c.key, c.label, c.kind) for c in found] == [
        ("question", "问题描述", "added"),
        ("answer", "标准答复", "changed"),
        ("steps", "操作步骤", "changed"),
        ("legacy", "legacy", "removed"),
    ]
    question, answer, steps, legacy = found
    assert question.lines == ["+ 客户担心扣费"]
    assert answer.lines == [
        "--- r1",
        "+++ r2",
        "@@ -1,3 +1,3 @@",
        " 改号完成后，原号码即停止计费。",
        "-改号当月的月租按实际使用天数折算。",
        "+改号当月的月租按自然月全额收取。",
        " 如有疑问请拨打10000。",
    ]
    assert (steps.removed, steps.added, steps.lines) == (
        ["查看状态"],
        ["进入已办业务"],
        ["- 查看状态", "+ 进入已办业务"],
    )
    assert (legacy.before, legacy.after, legacy.lines) == ("旧字段", None, ["- 旧字段"])


def test_sentences_split_after_chinese_and_ascii_ends() -> None:
    assert diff.sentences("第一句。第二句！Third? 末尾无标点\n新行；") == [
        "第一句。",
        "第二句！",
        "Third?",
        " 末尾无标点",
        "新行；",
    ]


def test_diff_by_code_and_rendering(session: Session) -> None:
    table = make_table(session, fields={"answer": "停止计费。"})
    tables.add_revision(
        session,
        table,
        tables.TableContent(
            table.title, ["换号以后旧号码还扣钱吗"], [], {"answer": "次月停止计费。"}
        ),
        actor="editor1",
    )
    result = diff.diff(session, "TX-GH-001", 1, 2)
    assert result.render() == (
        "TX-GH-001: revision 1 → 2\n## 标准答复 (answer) changed\n- 停止计费。\n+ 次月停止计费。"
    )
    assert diff.diff(session, "TX-GH-001", 2, 2).render() == (
        "TX-GH-001: revisions 2 and 2 have the same content."
    )
    with pytest.raises(NotFound, match="TX-GH-001 has no revision 3; it has revisions 1–2"):
        diff.diff(session, "TX-GH-001", 1, 3)


def test_reviewers_see_the_audience_and_validity_a_revision_would_apply(
    session: Session,
) -> None:
    table = make_table(session, audience=Audience.INTERNAL)
    proposed = {"audience": "public", "valid_until": "2030-01-01T00:00:00+00:00"}
    tables.add_revision(
        session, table, tables.content_of(table.latest_revision), actor="e", proposed=proposed
    )
    found = diff.diff(session, "TX-GH-001", 1, 2)
    assert [(c.key, c.label, c.before, c.after, c.lines) for c in found.changes] == [
        ("audience", "可见范围", "internal", "public", ["- internal", "+ public"]),
        (
            "valid_until",
            "有效期至",
            None,
            "2030-01-01T00:00:00+00:00",
            ["- （无）", "+ 2030-01-01T00:00:00+00:00"],
        ),
    ]
