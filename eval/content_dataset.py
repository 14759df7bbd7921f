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

``--pages N`` joins each package's tables N at a time into one entry, a page titled after its
package (``会员与优惠券（1）``) whose answer is theirs one after another, and labels each query
with the page that holds its table: long answers, each about several things its title does
not name, as in a KB of policy pages (docs/benchmarks.md, "Long answers: the demo KB in
pages").

    python -m eval.content_dataset content/demo /tmp/sets/demo-pages \
        --queries eval/data/demo_subquestions.jsonl --pages 4

``--mixed`` with ``--pages N`` joins only every second package's tables (the second, the
fourth, …), each page titled by its first table's title, and leaves the others' tables as
they are: long answers beside short ones in one KB, as a bank FAQ's run from a few characters
to 900 (docs/benchmarks.md, "Long and short answers in one KB").

    python -m eval.content_dataset content/demo /tmp/sets/demo-mixed \
        --queries eval/data/demo_subquestions.jsonl --pages 4 --mixed
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from eval.datasets import Dataset, Entry, Query, load_queries
from eval.errors import DatasetInvalid
from kb.transfer.bundle import PackageDoc
from kb.transfer.yaml_files import read_directory

# The question a table answers is its title; a field holding it again adds nothing.
QUESTION_KEY = "question"


def dataset_from_content(
    root: Path, queries_file: Path | None = None, *, pages: int = 1, mixed: bool = False
) -> Dataset:
    """The tables under ``root`` as entries and their similar questions (or the queries of
    ``queries_file``) as queries, each package's tables joined ``pages`` at a time into one
    entry (:func:`_pages`) where more than 1; raises DatasetInvalid when the content or the
    queries have problems (``kb import --dry-run`` lists the content's)."""
    bundle = read_directory(root)
    if bundle.problems:
        raise DatasetInvalid(
            f"The content under {root} has {len(bundle.problems)} problem(s); "
            f"`kb import {root} --dry-run` lists them.",
            problems=bundle.problems[:25],
        )
    entries: list[Entry] = []
    queries: list[Query] = []
    package_of: dict[str, tuple[str | None, str]] = {}  # table code → (category, package)
    for package in bundle.packages:
        for table in package.tables:
            code = str(table.code)
            answer = "\n".join(_searchable_texts(package, table.fields or {}))
            entries.append(Entry(code, str(table.title), answer, package.category))
            package_of[code] = (package.category, str(package.name))
            for i, question in enumerate(table.questions or []):
                queries.append(Query(f"{code}-q{i}", str(question), (code,)))
    if queries_file is not None:
        queries = load_queries(queries_file, (e.id for e in entries))
    if not entries or not queries:
        raise DatasetInvalid(f"No tables with similar questions under {root}.")
    if pages > 1:
        entries, queries = _pages(entries, queries, package_of, pages, mixed=mixed)
    return Dataset(name=root.resolve().name, entries=entries, queries=queries, path=root)


def _pages(
    entries: list[Entry],
    queries: list[Query],
    package_of: dict[str, tuple[str | None, str]],
    size: int,
    *,
    mixed: bool = False,
) -> tuple[list[Entry], list[Query]]:
    """Each package's tables (in file order) joined ``size`` at a time into one entry: id the
    first table's code and ``-page``, title the package's name and the page's number, answer
    the tables' answers one after another; the queries labelled with the pages instead.
    ``package_of``: each table's (category, package): a package's name is its own only within
    its category. ``mixed``: every second package only (the second, the fourth, …), each page
    titled by its first table's title; the other packages' tables stay as they are."""
    by_package: dict[tuple[str | None, str], list[Entry]] = {}
    for e in entries:
        by_package.setdefault(package_of[e.id], []).append(e)
    paged: list[Entry] = []
    page_of: dict[str, str] = {}
    for n, ((_, name), tables) in enumerate(by_package.items()):
        if mixed and n % 2 == 0:
            paged += tables
            page_of.update((e.id, e.id) for e in tables)
            continue
        for number, start in enumerate(range(0, len(tables), size), start=1):
            part = tables[start : start + size]
            page = f"{part[0].id}-page"
            answer = "\n\n".join(e.answer for e in part if e.answer)
            title = part[0].question if mixed else f"{name}（{number}）"
            paged.append(Entry(page, title, answer, part[0].category))
            page_of.update((e.id, page) for e in part)
    relabelled = []
    for q in queries:
        relevant = tuple(dict.fromkeys(page_of[r] for r in q.relevant))
        # (a different intent on the same page as the answer is no longer a different entry)
        negatives = (page_of[r] for r in q.hard_negatives if page_of[r] not in relevant)
        relabelled.append(
            replace(q, relevant=relevant, hard_negatives=tuple(dict.fromkeys(negatives)))
        )
    return paged, relabelled


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
    parser.add_argument(
        "--pages",
        type=int,
        default=1,
        metavar="N",
        help="Join each package's tables N at a time into one entry (a long answer).",
    )
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="With --pages: join every second package's tables only, the pages titled by "
        "their first table (long answers beside short ones).",
    )
    args = parser.parse_args(argv)
    if args.pages < 1:
        parser.error(f"--pages must be a whole number of 1 or more, got {args.pages}")
    if args.mixed and args.pages < 2:
        parser.error(f"--mixed joins tables into pages: give --pages 2 or more, got {args.pages}")
    try:
        dataset = dataset_from_content(
            args.content, args.queries, pages=args.pages, mixed=args.mixed
        )
    except DatasetInvalid as e:
        parser.exit(2, f"{e}\n")
    write(dataset, args.out)
    sizes = dataset.sizes()
    sys.stderr.write(f"{sizes['entries']} entries, {sizes['queries']} queries → {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
