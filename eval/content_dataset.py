"""A content directory as an eval dataset without its similar questions.

The KB's YAML files (``content/README.md``; e.g. the demo KB in ``content/demo``) become a
dataset (:mod:`eval.datasets`): each table an entry (its title as the question; its public
searchable fields as the answer, in the template's order of the file), each of its similar
questions a query labelled with the table, none of them indexed. That is a KB with answers and
no similar questions, the style whose confidence self-tuning must fit from the content alone
(docs/benchmarks.md, Confidence: "A KB with answers and no similar questions").

    python -m eval.content_dataset content/demo /tmp/sets/demo
    kb eval /tmp/sets/demo --mode hybrid --holdout 0.1

``--queries FILE`` asks other questions of the same entries: a ``queries.jsonl`` labelled with
table codes, in place of the similar questions. ``eval/data/demo_subquestions.jsonl`` holds
questions on the demo KB answered *inside* its answers (a detail: a fee, a time limit, an
exception), not by its titles: the style of a KB whose users ask about what long answers say.

    python -m eval.content_dataset content/demo /tmp/sets/demo-sub \
        --queries eval/data/demo_subquestions.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eval.datasets import Dataset, Entry, Query, load_queries
from eval.errors import DatasetInvalid
from kb.transfer.bundle import PackageDoc
from kb.transfer.yaml_files import read_directory

# The question a table answers is its title; a field holding it again adds nothing.
QUESTION_KEY = "question"


def dataset_from_content(root: Path, queries_file: Path | None = None) -> Dataset:
    """The tables under ``root`` as entries and their similar questions (or the queries of
    ``queries_file``) as queries; raises DatasetInvalid when the content or the queries have
    problems (``kb import --dry-run`` lists the content's)."""
    bundle = read_directory(root)
    if bundle.problems:
        raise DatasetInvalid(
            f"The content under {root} has {len(bundle.problems)} problem(s); "
            f"`kb import {root} --dry-run` lists them.",
            problems=bundle.problems[:25],
        )
    entries: list[Entry] = []
    queries: list[Query] = []
    for package in bundle.packages:
        for table in package.tables:
            code = str(table.code)
            answer = "\n".join(_searchable_texts(package, table.fields or {}))
            entries.append(Entry(code, str(table.title), answer, package.category))
            for i, question in enumerate(table.questions or []):
                queries.append(Query(f"{code}-q{i}", str(question), (code,)))
    if queries_file is not None:
        queries = load_queries(queries_file, (e.id for e in entries))
    if not entries or not queries:
        raise DatasetInvalid(f"No tables with similar questions under {root}.")
    return Dataset(name=root.resolve().name, entries=entries, queries=queries, path=root)


def _searchable_texts(package: PackageDoc, fields: dict[str, Any]) -> list[str]:
    spec = {f["key"]: f for f in package.template or [] if isinstance(f, dict) and "key" in f}
    texts = []
    for key, value in fields.items():
        field = spec.get(key, {})
        if key == QUESTION_KEY or field.get("searchable") is False:
            continue
        if field.get("audience") == "internal":
            continue
        texts.append("；".join(map(str, value)) if isinstance(value, list) else str(value))
    return texts


def write(dataset: Dataset, out: Path) -> None:
    """``entries.jsonl`` and ``queries.jsonl`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "entries.jsonl").open("w", encoding="utf-8") as f:
        for e in dataset.entries:
            row: dict[str, Any] = {
                "id": e.id,
                "question": e.question,
                "answer": e.answer,
                "category": e.category,
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        for q in dataset.queries:
            row = {"qid": q.qid, "query": q.query, "relevant": list(q.relevant)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("content", type=Path, help="A content directory (e.g. content/demo).")
    parser.add_argument("out", type=Path, help="Where to write entries.jsonl and queries.jsonl.")
    parser.add_argument(
        "--queries",
        type=Path,
        help="A queries.jsonl labelled with table codes, asked instead of the similar questions.",
    )
    args = parser.parse_args(argv)
    try:
        dataset = dataset_from_content(args.content, args.queries)
    except DatasetInvalid as e:
        parser.exit(2, f"{e}\n")
    write(dataset, args.out)
    sizes = dataset.sizes()
    sys.stderr.write(f"{sizes['entries']} entries, {sizes['queries']} queries → {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
