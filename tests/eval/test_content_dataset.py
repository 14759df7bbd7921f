"""A content directory as an eval dataset without its similar questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.content_dataset import _pages, dataset_from_content, main
from eval.datasets import Entry, Query, load_dataset
from eval.errors import DatasetInvalid
from tests.kb.content_files import demo_dir, write


def test_tables_become_entries_and_their_similar_questions_the_queries(tmp_path: Path) -> None:
    dataset = dataset_from_content(demo_dir(tmp_path / "content"))
    first, second = dataset.entries
    # The title is the question; the question field (its wording again) and the internal
    # note are left out; lists are joined.
    assert first == Entry(
        "TX-GH-001",
        "改号后原号码是否还会产生话费",
        "改号完成后，原号码即停止计费。\n当月费用按实际天数折算。\n\n登录营业厅 App；查看“改号”业务状态",
        "通信业务",
    )
    assert second.answer == "携带机主本人有效身份证件原件到营业厅办理。"
    assert dataset.queries == [
        Query("TX-GH-001-q0", "换了新号码以后旧号还扣钱吗", ("TX-GH-001",)),
        Query("TX-GH-001-q1", "改號後舊號碼還會扣費嗎", ("TX-GH-001",)),
        Query("TX-GH-002-q0", "改号要身份证吗", ("TX-GH-002",)),
    ]


def test_the_written_set_loads_as_any_dataset(tmp_path: Path) -> None:
    content, out = demo_dir(tmp_path / "content"), tmp_path / "set"
    assert main([str(content), str(out)]) == 0
    loaded = load_dataset(out)
    assert loaded.entries == dataset_from_content(content).entries
    assert loaded.sizes()["queries"] == 3


def test_content_with_problems_is_refused_with_where_to_look(tmp_path: Path) -> None:
    root = demo_dir(tmp_path / "content")
    write(root / "通信业务" / "坏文件.yaml", "package: 坏文件\ntables: [1, 2\n")
    with pytest.raises(DatasetInvalid, match="kb import .* --dry-run"):
        dataset_from_content(root)


def test_other_questions_can_be_asked_of_the_same_entries(tmp_path: Path) -> None:
    content = demo_dir(tmp_path / "content")
    questions = tmp_path / "sub.jsonl"
    questions.write_text(
        '{"qid": "s1", "query": "旧号当月的钱怎么算", "relevant": ["TX-GH-001"]}\n',
        encoding="utf-8",
    )
    dataset = dataset_from_content(content, questions)
    assert dataset.entries == dataset_from_content(content).entries
    assert dataset.queries == [Query("s1", "旧号当月的钱怎么算", ("TX-GH-001",))]


def test_questions_labelled_with_codes_the_content_lacks_are_refused(tmp_path: Path) -> None:
    questions = tmp_path / "sub.jsonl"
    questions.write_text(
        '{"qid": "s1", "query": "有没有优惠", "relevant": ["YH-XX-404"]}\n', encoding="utf-8"
    )
    with pytest.raises(DatasetInvalid, match="sub.jsonl") as caught:
        dataset_from_content(demo_dir(tmp_path / "content"), questions)
    assert "YH-XX-404" in str(caught.value)


def test_the_demo_subquestions_are_labelled_with_live_demo_tables() -> None:
    """The shipped set stays in step with the demo KB it asks about."""
    root = Path(__file__).resolve().parents[2]
    dataset = dataset_from_content(
        root / "content" / "demo", root / "eval" / "data" / "demo_subquestions.jsonl"
    )
    assert len(dataset.queries) >= 200
    titles = {e.id: e.question for e in dataset.entries}
    # Not the titles again: a sub-question is answered inside the answer.
    assert all(q.query != titles[q.relevant[0]] for q in dataset.queries)


def test_pages_join_a_packages_tables_into_long_answers(tmp_path: Path) -> None:
    """A KB of long pages, each about several things its title does not name."""
    content = demo_dir(tmp_path / "content")
    tables = dataset_from_content(content)
    (page,) = dataset_from_content(content, pages=2).entries
    assert page == Entry(
        "TX-GH-001-page",
        "改号业务（1）",
        tables.entries[0].answer + "\n\n" + tables.entries[1].answer,
        "通信业务",
    )
    # every question now asks for the page that holds its table
    paged = dataset_from_content(content, pages=2).queries
    assert [q.relevant for q in paged] == [("TX-GH-001-page",)] * 3
    assert [q.query for q in paged] == [q.query for q in tables.queries]
    # one table a page: the tables again, under the pages' names
    singles = dataset_from_content(content, pages=1)
    assert singles.entries == tables.entries


def test_pages_write_a_set_that_loads(tmp_path: Path) -> None:
    content, out = demo_dir(tmp_path / "content"), tmp_path / "pages"
    assert main([str(content), str(out), "--pages", "3"]) == 0
    loaded = load_dataset(out)
    assert [e.id for e in loaded.entries] == ["TX-GH-001-page"]
    with pytest.raises(SystemExit):
        main([str(content), str(out), "--pages", "0"])


def test_mixed_pages_join_every_second_package_titled_by_its_first_table() -> None:
    """Long answers beside short ones: packages one and three stay tables, two is paged."""
    entries = [Entry(c, f"{c} 的问题", f"{c} 的答复", "类") for c in ("a1", "b1", "b2", "c1")]
    package_of = {"a1": ("类", "甲"), "b1": ("类", "乙"), "b2": ("类", "乙"), "c1": ("类", "丙")}
    queries = [Query(f"q-{c}", "问", (c,)) for c in ("a1", "b2", "c1")]
    paged, relabelled = _pages(entries, queries, package_of, 4, mixed=True)
    assert paged == [
        entries[0],
        Entry("b1-page", "b1 的问题", "b1 的答复\n\nb2 的答复", "类"),
        entries[3],
    ]
    assert [q.relevant for q in relabelled] == [("a1",), ("b1-page",), ("c1",)]


def test_mixed_needs_pages_to_join(tmp_path: Path) -> None:
    content, out = demo_dir(tmp_path / "content"), tmp_path / "mixed"
    with pytest.raises(SystemExit):
        main([str(content), str(out), "--mixed"])
    assert main([str(content), str(out), "--pages", "2", "--mixed"]) == 0
    # the demo fixture's one package is the first: left as it is
    assert load_dataset(out).entries == dataset_from_content(content).entries


def test_a_hard_negative_on_its_answers_page_is_dropped() -> None:
    entries = [Entry(c, c, f"{c} 的答复", "类") for c in ("a1", "a2", "a3")]
    package_of = dict.fromkeys(("a1", "a2", "a3"), ("类", "包"))
    _, (query,) = _pages(entries, [Query("q", "问", ("a1",), ("a2", "a3"))], package_of, 2)
    assert query == Query("q", "问", ("a1-page",), ("a3-page",))


def test_packages_of_one_name_in_two_categories_make_pages_of_their_own() -> None:
    entries = [Entry("a1", "甲", "甲的答复", "通信"), Entry("b1", "乙", "乙的答复", "银行")]
    package_of = {"a1": ("通信", "常见问题"), "b1": ("银行", "常见问题")}
    pages, _ = _pages(entries, [], package_of, 4)
    assert [(p.id, p.question, p.answer) for p in pages] == [
        ("a1-page", "常见问题（1）", "甲的答复"),
        ("b1-page", "常见问题（1）", "乙的答复"),
    ]
