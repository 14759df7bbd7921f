from __future__ import annotations

import pytest

from kb.errors import ValidationFailed
from kb.models import Audience
from kb.templates import FieldType, check_fields, parse_template, public_fields
from tests.factories import TEMPLATE


def test_parse_template_reads_every_setting() -> None:
    specs = parse_template(TEMPLATE)
    assert [s.key for s in specs] == ["question", "answer", "steps", "internal_note"]
    assert specs[1].type is FieldType.MARKDOWN and specs[1].required is True
    assert specs[2].type.is_list
    assert specs[3].audience is Audience.INTERNAL and specs[3].searchable is False
    assert specs[0].weight == 1.0


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ([], "template", "non-empty list"),
        ([{"key": "Answer", "label": "标准答复"}], "template[0].key", "lower-case ASCII"),
        ([{"key": "note", "label": "备注"}], "template", "key 'answer'"),
        ([{"key": "answer", "type": "video"}], "template[0].type", "type must be one of"),
        ([{"key": "answer", "audience": "vip"}], "template[0].audience", "public or internal"),
        ([{"key": "answer", "weight": 11}], "template[0].weight", "0 to 10"),
        ([{"key": "answer"}, {"key": "answer"}], "template[1].key", "duplicate field key"),
        ([{"key": "answer", "type": "steps"}], "template.answer.type", "text or markdown"),
        ([{"key": "answer", "colour": "red"}], "template[0]", "unknown setting"),
        (
            [{"key": "answer", "customer_label": "答" * 41}],
            "template[0].customer_label",
            "at most 40",
        ),
        ([{"key": "answer", "customer_label": 3}], "template[0].customer_label", "a string"),
    ],
)
def test_bad_templates_name_the_setting(raw: object, field: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_template(raw)
    assert any(p.field == field and fragment in p.message for p in caught.value.problems), (
        caught.value.problems
    )


def test_check_fields_normalizes_and_accepts_labels() -> None:
    specs = parse_template(TEMPLATE)
    clean, problems = check_fields(
        specs,
        {"标准答复": "  可以办理。 ", "steps": "第一步\n\n 第二步 ", "question": ""},
        package="通信业务/改号业务",
        template_version=1,
    )
    assert problems == []
    assert clean == {"answer": "可以办理。", "steps": ["第一步", "第二步"]}


def test_check_fields_reports_unknown_missing_and_mistyped() -> None:
    specs = parse_template(TEMPLATE)
    _, problems = check_fields(
        specs, {"bogus": "x", "steps": {"a": 1}}, package="通信业务/改号业务", template_version=3
    )
    messages = {p.field: p.message for p in problems}
    assert set(messages) == {"bogus", "steps", "answer"}
    assert "not in the template of package 通信业务/改号业务 (v3)" in messages["bogus"]
    assert messages["steps"] == "操作步骤 must be a list of strings"
    assert messages["answer"] == "标准答复 is required by package 通信业务/改号业务 (template v3)"


def test_public_fields_drops_internal_ones() -> None:
    specs = parse_template(TEMPLATE)
    values = {"answer": "a", "internal_note": "内部"}
    assert public_fields(specs, values) == {"answer": "a"}


def test_customer_labels_default_to_customer_words() -> None:
    specs = parse_template(
        [
            *TEMPLATE,
            {"key": "scope", "label": "适用范围"},
            {"key": "tip", "label": "温馨提示", "customer_label": " 小提示 "},
        ]
    )
    assert [(s.label, s.customer_sees) for s in specs] == [
        ("问题描述", "问题"),
        ("标准答复", "答复"),
        ("操作步骤", "操作步骤"),
        ("内部备注", "内部备注"),
        ("适用范围", "适用范围"),
        ("温馨提示", "小提示"),
    ]
    # Stored only when set, so templates written before customer labels stay unchanged.
    assert "customer_label" not in specs[1].to_dict()
    assert specs[5].to_dict()["customer_label"] == "小提示"
    explicit = parse_template([{"key": "answer", "label": "标准答复", "customer_label": "解答"}])
    assert explicit[0].customer_sees == "解答"
