"""Loading and checking datasets, and the Bundle they become."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eval.datasets import (
    ANSWER_PARTS,
    TEMPLATE,
    Dataset,
    Entry,
    Query,
    answer_parts,
    in_traditional,
    load_dataset,
    table_codes,
    to_bundle,
)
from eval.errors import DatasetInvalid
from eval.runner import held_out_ids
from kb.content_limits import MAX_TEXT_FIELD_CHARS
from kb.db import Database
from kb.hierarchy import name_problems
from kb.models import KnowledgeTable, RevisionState
from kb.transfer.importer import apply_bundle
from tests.eval.toy import write_toy


def _write(directory: Path, entries: list[str], queries: list[str]) -> Path:
    directory.mkdir()
    (directory / "entries.jsonl").write_text("\n".join(entries) + "\n", encoding="utf-8")
    (directory / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    return directory


def _problems(path: Path) -> list[str]:
    with pytest.raises(DatasetInvalid) as caught:
        load_dataset(path)
    return [str(p) for p in caught.value.problems]


def test_loads_the_toy_dataset(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    assert dataset.name == "toy"
    assert dataset.sizes() == {"entries": 5, "queries": 4, "queries_with_hard_negatives": 2}
    assert dataset.entries[1] == Entry("e2", "宽带坏了找谁", "", "通信")
    assert dataset.queries[2] == Query("q3", "查话费账单", ("e3", "e4"), ())


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad",
        [
            '{"id": "e1", "question": "怎么改号", "answer": "", "category": null}',
            '{"id": "e1", "question": "重复", "answer": ""}',
            '{"id": "e2", "question": "  "}',
            '{"id": "e3", "question": "坏行"',
            '["not", "an", "object"]',
            "",
            '{"id": "e4", "question": "答案不是字符串", "answer": 5}',
        ],
        [
            '{"qid": "q1", "query": "改号", "relevant": ["e1", "e9"]}',
            '{"qid": "q1", "query": "重复的问题", "relevant": ["e1"]}',
            '{"qid": "q2", "query": "", "relevant": ["e1"]}',
            '{"qid": "q3", "query": "没有答案", "relevant": []}',
            '{"qid": "q4", "query": "自相矛盾", "relevant": ["e1"], "hard_negatives": ["e1"]}',
            '{"qid": "q5", "query": "不是列表", "relevant": "e1"}',
        ],
    )
    entries, queries = path / "entries.jsonl", path / "queries.jsonl"
    assert _problems(path) == [
        f"{entries}:3: question: must be a non-empty string",
        f"{entries}:4: not valid JSON: Expecting ',' delimiter (column 30)",
        f"{entries}:5: each line must be a JSON object",
        f"{entries}:7: answer: must be a string or null",
        f"{entries}:2: id: duplicate id (first at {entries}:1)",
        f"{queries}:1: relevant: unknown entry id(s) ['e9']: not in entries.jsonl",
        f"{queries}:2: qid: duplicate qid (first at {queries}:1)",
        f"{queries}:3: query: must be a non-empty string",
        f"{queries}:4: relevant: must name at least one entry id",
        f"{queries}:5: hard_negatives: id(s) ['e1'] are both relevant and hard negatives",
        f"{queries}:6: relevant: must be a list of entry ids (strings)",
    ]


def test_a_line_nested_past_the_parser_is_named(tmp_path: Path) -> None:
    """A RecursionError traceback named no file or line."""
    path = _write(
        tmp_path / "deep",
        ['{"id": "e1", "question": "怎么改号", "answer": ""}'],
        ["[" * 100_000 + "]" * 100_000],
    )
    assert _problems(path) == [f"{path / 'queries.jsonl'}:1: not valid JSON: nested too deeply"]


def test_missing_files_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetInvalid, match="No dataset at"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert _problems(tmp_path / "empty") == [
        f"{tmp_path / 'empty' / 'entries.jsonl'}: file is missing",
        f"{tmp_path / 'empty' / 'queries.jsonl'}: file is missing",
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = write_toy(tmp_path / "toy")
    (path / "entries.jsonl").write_bytes('{"id": "e1", "question": "改号"}'.encode("gbk"))
    (problem,) = _problems(path)
    assert problem.startswith(f"{path / 'entries.jsonl'}: not UTF-8")


def test_long_problem_lists_are_cut(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "many",
        ['{"id": "e1", "question": "q"}'],
        [json.dumps({"qid": f"q{i}", "query": "x", "relevant": ["nope"]}) for i in range(30)],
    )
    with pytest.raises(DatasetInvalid) as caught:
        load_dataset(path)
    assert "30 problems" in caught.value.message
    assert str(caught.value.problems[-1]) == "… and 5 more problems"


def test_codes_keep_valid_ids_and_hash_the_others() -> None:
    codes = table_codes(["bq-e0001", "条目 1", "a/b"])
    assert codes["bq-e0001"] == "bq-e0001"
    assert codes["条目 1"].startswith("ds-") and len(codes["条目 1"]) == 23
    assert codes["条目 1"] != codes["a/b"]
    assert table_codes(["条目 1"]) == {"条目 1": codes["条目 1"]}  # stable


def test_bundle_maps_entries_to_tables(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    bundle = to_bundle(dataset, exclude={"e4"})
    assert [c.name for c in bundle.categories] == ["通信", "toy"]
    assert [(p.category, p.name) for p in bundle.packages] == [("通信", "toy"), ("toy", "toy")]
    assert all(p.template == TEMPLATE and p.review_interval_days == 0 for p in bundle.packages)
    tables = {t.code: t for p in bundle.packages for t in p.tables}
    assert sorted(tables) == ["e1", "e2", "e3", "e5"]
    assert tables["e1"].title == "怎么改号"
    assert tables["e1"].fields == {"answer": "到营业厅办理改号。", "dataset_id": "e1"}
    # no answer in the dataset: the question stands in for it
    assert tables["e2"].fields == {"answer": "宽带坏了找谁", "dataset_id": "e2"}


def test_long_questions_are_cut_for_the_title_and_kept_whole() -> None:
    question = "问" * 400
    dataset = Dataset("long", [Entry("e1", question)], [Query("q1", "问", ("e1",))])
    (table,) = to_bundle(dataset).packages[0].tables
    assert len(table.title) == 300 and table.title.endswith("…")
    assert table.fields["question"] == question


def test_answer_parts_end_after_a_sentence_and_join_back() -> None:
    text = "甲" * 85 + "。" + "乙" * 30 + "！" + "丙" * 100
    parts = answer_parts(text, size=100)
    assert parts == ["甲" * 85 + "。", "乙" * 30 + "！" + "丙" * 69, "丙" * 31]
    assert "".join(parts) == text
    # no sentence end in a part's last fifth: cut at the size
    assert answer_parts("丁" * 250, size=100) == ["丁" * 100, "丁" * 100, "丁" * 50]
    assert answer_parts("短答案", size=100) == ["短答案"]


def test_a_long_answer_goes_on_in_more_fields_of_its_table(sqlite_db: Database) -> None:
    """One text field holds 20,000 characters; an entry is one table (its labels name it)."""
    sentence = "这一段说明办理流程中的一个步骤。"  # 16 characters
    answer = sentence * (45_000 // len(sentence))
    dataset = Dataset(
        "long",
        [Entry("e1", "怎么办理", answer), Entry("e2", "怎么退订", "在应用里退订。")],
        [Query("q1", "办理", ("e1",))],
    )
    bundle = to_bundle(dataset)
    (package,) = bundle.packages
    assert [f["key"] for f in package.template] == [
        "answer",
        "answer_2",
        "answer_3",
        "question",
        "dataset_id",
    ]
    long_table, short_table = package.tables
    parts = [long_table.fields[k] for k in ("answer", "answer_2", "answer_3")]
    assert "".join(parts) == answer
    assert all(len(p) <= MAX_TEXT_FIELD_CHARS and p.endswith("。") for p in parts)
    assert short_table.fields == {"answer": "在应用里退订。", "dataset_id": "e2"}
    with sqlite_db.transaction() as session:
        report = apply_bundle(session, bundle, actor="kb-eval")
    assert sorted(report.created) == ["e1", "e2"]
    # without a long answer the template is the plain one
    assert to_bundle(Dataset("short", dataset.entries[1:], [])).packages[0].template == TEMPLATE


def test_an_answer_past_every_field_is_a_problem_before_anything_is_imported(
    tmp_path: Path,
) -> None:
    longest = ANSWER_PARTS * MAX_TEXT_FIELD_CHARS
    path = _write(
        tmp_path / "huge",
        [
            json.dumps({"id": "e1", "question": "怎么办", "answer": "答" * (longest + 1)}),
            json.dumps({"id": "e2", "question": "问" * (MAX_TEXT_FIELD_CHARS + 1)}),
            json.dumps({"id": "e3", "question": "好的", "answer": "答" * longest}),
        ],
        ['{"qid": "q1", "query": "怎么办", "relevant": ["e3"]}'],
    )
    entries = path / "entries.jsonl"
    assert _problems(path) == [
        f"{entries}:1: answer: must be at most 100,000 characters (5 fields of 20,000), "
        "got 100,001",
        f"{entries}:2: question: must be at most 20,000 characters, got 20,001",
    ]


@given(st.text(max_size=300))
def test_any_dataset_label_names_a_category_the_kb_accepts(label: str) -> None:
    """A dataset's category (or its directory's name) only groups its entries: a '/', a
    leading '_', an invisible character or 100 Chinese characters (300 bytes) must not refuse
    the whole benchmark at import."""
    (package,) = to_bundle(Dataset(label or "x", [Entry("e1", "问", category=label)], [])).packages
    assert name_problems(package.category, "category") == []
    assert name_problems(package.name, "package") == []


def test_awkward_categories_go_through_the_real_importer(sqlite_db: Database) -> None:
    labels = ["内科/外科", "_草稿", "零\u200b宽", "长" * 100, " . "]
    dataset = Dataset(
        "set", [Entry(f"e{i}", f"问题{i}", category=c) for i, c in enumerate(labels)], []
    )
    bundle = to_bundle(dataset)
    assert [c.name for c in bundle.categories] == ["内科／外科", "草稿", "零宽", "长" * 80, "set"]
    with sqlite_db.transaction() as session:
        report = apply_bundle(session, bundle, actor="kb-eval")
    assert len(report.created) == len(labels)


def test_the_bundle_goes_through_the_real_importer(tmp_path: Path, sqlite_db: Database) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    with sqlite_db.transaction() as session:
        report = apply_bundle(session, to_bundle(dataset), actor="kb-eval")
    assert sorted(report.created) == ["e1", "e2", "e3", "e4", "e5"]
    with sqlite_db.session() as session:
        table = session.query(KnowledgeTable).filter_by(code="e2").one()
        live = table.live_revision
        assert live is not None and live.state is RevisionState.PUBLISHED
        assert live.title == "宽带坏了找谁"
        assert live.fields == {"answer": "宽带坏了找谁", "dataset_id": "e2"}


def test_holdout_is_seeded(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    held = held_out_ids(dataset, 0.4, seed=1)
    assert len(held) == 2 and held <= {"e1", "e2", "e3", "e4", "e5"}
    assert held_out_ids(dataset, 0.4, seed=1) == held
    assert held_out_ids(dataset, 0.0, seed=1) == frozenset()


def test_a_set_in_traditional_keeps_its_ids_and_labels(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    tc = in_traditional(dataset)
    assert tc.name == "toy-tc" and tc.codes == dataset.codes
    assert tc.entries[1] == Entry("e2", "寬頻壞了找誰", "", "通訊")  # s2twp: Taiwan's words too
    assert tc.queries[2] == Query("q3", "查話費賬單", ("e3", "e4"), ())
    assert dataset.entries[1].question == "宽带坏了找谁"  # the original is left as it was
