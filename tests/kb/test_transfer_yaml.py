from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from kb.errors import Problem
from kb.transfer.schemas import SCHEMA_DIR
from kb.transfer.yaml_files import read_directory
from kb.transfer.yamlio import Flow, FlowList, dump, load
from tests.kb.content_files import GAIHAO, demo_dir, write


@pytest.mark.parametrize("name", ["package", "dictionary", "category"])
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_reads_directory_with_locations(tmp_path: Path) -> None:
    root = demo_dir(tmp_path / "content")
    write(root / "通信业务" / "_dictionary.yaml", "synonyms:\n  - [宽带, 家宽]\nterms: [光猫]\n")
    write(root / "通信业务" / "_draft.yaml", "not: a package\n")
    write(root / "通信业务" / ".hidden.yaml", "not: a package\n")
    write(root / ".git" / "config", "x")
    write(root / "README.md", "notes")

    bundle = read_directory(root)

    assert bundle.problems == []
    assert [(c.name, c.description, c.position) for c in bundle.categories] == [
        ("通信业务", "运营商业务", 1)
    ]
    [package] = bundle.packages
    path = root / "通信业务" / "改号业务.yaml"
    assert (package.category, package.name, package.description) == (
        "通信业务",
        "改号业务",
        "手机号码变更相关咨询",
    )
    assert (package.review_interval_days, package.owner, package.position) == (90, "王芳", 2)
    assert package.template_location == f"{path}:6"
    assert [t.code for t in package.tables] == ["TX-GH-001", "TX-GH-002"]
    first, second = package.tables
    assert first.location == f"{path}:12"
    assert first.where("valid_until") == f"{path}:21"
    assert first.where("fields.answer") == f"{path}:26"
    assert first.where("fields.nothing") == f"{path}:12"
    assert first.questions == ["换了新号码以后旧号还扣钱吗", "改號後舊號碼還會扣費嗎"]
    assert first.valid_from == "2025-01-01"  # dates stay text; the importer reads them
    assert first.last_verified == "2026-05-10T09:30:00+08:00"
    assert first.fields["answer"] == "改号完成后，原号码即停止计费。\n当月费用按实际天数折算。\n"
    assert first.present is None
    assert (second.location, second.audience, second.related) == (f"{path}:34", "internal", [])
    assert bundle.dictionary_given is True
    assert bundle.synonyms == [["改号", "换号", "更换号码"], ["宽带", "家宽"]]
    assert bundle.synonym_locations == [
        f"{root / '_dictionary.yaml'}:2",
        f"{root / '通信业务' / '_dictionary.yaml'}:2",
    ]
    assert bundle.terms == ["携号转网", "副卡", "光猫"]


def test_package_name_must_equal_file_name(tmp_path: Path) -> None:
    write(tmp_path / "通信业务" / "改号.yaml", GAIHAO)
    bundle = read_directory(tmp_path)
    path = tmp_path / "通信业务" / "改号.yaml"
    assert bundle.problems == [
        Problem(
            "package name must equal the file name without .yaml: rename the file to "
            "改号业务.yaml or set package: 改号",
            "package",
            "改号业务",
            f"{path}:1",
        )
    ]


def test_schema_errors_are_located_and_other_tables_still_read(tmp_path: Path) -> None:
    text = GAIHAO.replace("    audience: internal\n", "    audience: secret\n").replace(
        "    valid_until: 2027-06-30\n", "    valid_untill: 2027-06-30\n"
    )
    path = write(tmp_path / "通信业务" / "改号业务.yaml", text)
    bundle = read_directory(tmp_path)
    assert [(p.location, p.field) for p in bundle.problems] == [
        (f"{path}:12", "tables[0]"),
        (f"{path}:37", "tables[1].audience"),
    ]
    assert bundle.problems[0].message.startswith(
        "Additional properties are not allowed ('valid_untill' was unexpected); allowed here: "
    )
    assert "valid_until" in bundle.problems[0].message.split("allowed here: ")[1].split(", ")
    assert bundle.problems[1].message == "'secret' is not one of ['public', 'internal']"
    # Both tables broke the schema: the package is still read, their codes are known.
    assert [t.code for t in bundle.packages[0].tables] == []
    assert bundle.unread_codes == {"TX-GH-001", "TX-GH-002"}


def test_package_level_schema_error_drops_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("review_interval_days: 90", "review_interval_days: 每季度"),
    )
    bundle = read_directory(tmp_path)
    assert bundle.packages == []
    assert [(p.location, p.field, p.value) for p in bundle.problems] == [
        (f"{path}:3", "review_interval_days", "每季度")
    ]
    assert bundle.unread_codes == {"TX-GH-001", "TX-GH-002"}


def test_a_number_where_text_belongs_suggests_quotes(tmp_path: Path) -> None:
    path = write(
        tmp_path / "通信业务" / "改号业务.yaml",
        GAIHAO.replace("code: TX-GH-002", "code: 10086"),
    )
    [problem] = read_directory(tmp_path).problems
    assert problem == Problem(
        "10086 is not of type 'string'; put quotes around it to make it text",
        "tables[1].code",
        10086,
        f"{path}:34",
    )


def test_invalid_yaml_and_non_utf8_files_are_problems(tmp_path: Path) -> None:
    bad = write(tmp_path / "通信业务" / "坏.yaml", "package: 坏\ntemplate: [\n  - x: 1\n")
    gbk = tmp_path / "通信业务" / "旧.yaml"
    gbk.write_bytes("package: 旧\n".encode("gb18030"))
    bundle = read_directory(tmp_path)
    assert [(p.location, p.message.split(":")[0]) for p in bundle.problems] == [
        (f"{bad}:3", "not valid YAML"),
        (str(gbk), "not UTF-8 text (byte 9); re-save the file as UTF-8"),
    ]


def test_package_files_belong_in_category_directories(tmp_path: Path) -> None:
    write(tmp_path / "改号业务.yaml", GAIHAO)
    write(tmp_path / "通信业务" / "子目录" / "x.yaml", GAIHAO)
    problems = read_directory(tmp_path).problems
    assert [(p.location, p.message.split(" (")[0].split(";")[0]) for p in problems] == [
        (str(tmp_path / "改号业务.yaml"), "a package file must sit in a category directory"),
        (
            str(tmp_path / "通信业务" / "子目录"),
            "a category directory holds package files only",
        ),
    ]


def test_yaml_dates_stay_text_and_dump_reads_back() -> None:
    data = {
        "when": "2026-06-30T16:00:00Z",
        "day": "2026-06-30",
        "answer": "第一行\n第二行：“引号”\n",
        "flag": "yes",
        "number": "10086",
        "tags": FlowList(["改号", "a, b", "[x]"]),
        "spec": Flow(key="answer", label="標準答覆"),
        "odd": ["a\x85b", "c\u2028d", "tab\there", " lead", "trail ", "x\r\ny", "\ufeffz"],
        "block": "a\x85b\nc",
    }
    text = dump(data)
    assert "when: 2026-06-30T16:00:00Z\n" in text
    assert "tags: [改号, 'a, b', '[x]']\n" in text
    assert "spec: {key: answer, label: 標準答覆}\n" in text
    assert load(text).data == data
