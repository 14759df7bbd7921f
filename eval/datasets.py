"""Benchmark datasets in the common format, checked, and turned into an import Bundle.

A dataset is a directory holding two JSON Lines files (one object a line, blank lines skipped):

- ``entries.jsonl``: ``{"id", "question", "answer", "category"}``: the knowledge to search.
  ``answer`` and ``category`` may be empty or null. An answer longer than one text field holds
  (:data:`kb.content_limits.MAX_TEXT_FIELD_CHARS`) goes on in up to :data:`ANSWER_PARTS` − 1
  more fields of its table (:func:`answer_parts`), as an admin would continue a long page.
- ``queries.jsonl``: ``{"qid", "query", "relevant": [ids], "hard_negatives": [ids]}``:
  ``hard_negatives`` (entries labelled as a *different* intent) is optional.

:func:`load_dataset` reports every problem at once, each located ``file:line``.
:func:`to_bundle` makes the Bundle that the real importer loads (see its docstring for the
mapping from entries to tables).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eval.errors import DatasetInvalid
from kb.content_limits import MAX_TEXT_FIELD_CHARS
from kb.errors import Problem
from kb.hierarchy import INVISIBLE_CATEGORIES, MAX_NAME_BYTES, MAX_NAME_CHARS
from kb.tables import CODE_RE
from kb.transfer.bundle import Bundle, CategoryDoc, PackageDoc, TableDoc

ENTRIES_FILE = "entries.jsonl"
QUERIES_FILE = "queries.jsonl"
TITLE_MAX = 300  # kb.tables: a title is 1–300 characters
MAX_SHOWN = 25  # problems listed in the error message; the rest are counted
# A dataset entry is one table (its labels name it), and one text field holds at most
# MAX_TEXT_FIELD_CHARS: a longer answer goes on in more fields of the same table, up to this
# many in all (100,000 characters), each searchable like the first.
ANSWER_PARTS = 5
# Where a part may end early: after a sentence, in the last fifth of the field.
SENTENCE_ENDS = "。！？!?；;\n"

TEMPLATE: list[dict[str, Any]] = [
    {"key": "answer", "label": "标准答复", "type": "text", "required": True},
    {
        "key": "question",
        "label": "问题描述",
        "searchable": False,  # only set when the title had to be shortened; the title is indexed
    },
    {
        "key": "dataset_id",
        "label": "数据集编号",
        "searchable": False,
        "audience": "internal",
    },
]


@dataclass(frozen=True)
class Entry:
    id: str
    question: str
    answer: str = ""
    category: str | None = None


@dataclass(frozen=True)
class Query:
    qid: str
    query: str
    relevant: tuple[str, ...]
    hard_negatives: tuple[str, ...] = ()


@dataclass
class Dataset:
    name: str
    entries: list[Entry]
    queries: list[Query]
    path: Path | None = None
    codes: dict[str, str] = field(default_factory=dict)  # entry id → table code

    def __post_init__(self) -> None:
        if not self.codes:
            self.codes = table_codes(e.id for e in self.entries)

    def sizes(self) -> dict[str, int]:
        return {
            "entries": len(self.entries),
            "queries": len(self.queries),
            "queries_with_hard_negatives": sum(1 for q in self.queries if q.hard_negatives),
        }


def load_dataset(path: Path) -> Dataset:
    """The dataset in directory ``path``; raises DatasetInvalid listing every problem."""
    problems: list[Problem] = []
    if not path.is_dir():
        raise DatasetInvalid(
            f"No dataset at {path}: expected a directory with {ENTRIES_FILE} and {QUERIES_FILE}."
        )
    entries = list(_entries(path / ENTRIES_FILE, problems))
    known: dict[str, str] = {}  # id → where it was first seen
    unique: list[Entry] = []
    for entry, where in entries:
        if entry.id in known:
            problems.append(
                Problem(f"duplicate id (first at {known[entry.id]})", "id", entry.id, where)
            )
            continue
        known[entry.id] = where
        unique.append(entry)
    # an unreadable entries file would make every id look unknown: check ids only when read
    readable = not any(p.location == str(path / ENTRIES_FILE) for p in problems)
    queries = _queries(path / QUERIES_FILE, set(known) if readable else None, problems)
    if not problems and not unique:
        problems.append(Problem("no entries", None, None, str(path / ENTRIES_FILE)))
    if not problems and not queries:
        problems.append(Problem("no queries", None, None, str(path / QUERIES_FILE)))
    if problems:
        raise _invalid(path, problems)
    return Dataset(name=path.resolve().name, entries=unique, queries=queries, path=path)


def load_queries(path: Path, known: Iterable[str]) -> list[Query]:
    """The queries of JSON Lines file ``path`` (the ``queries.jsonl`` format), labelled with
    ids among ``known``; raises DatasetInvalid listing every problem."""
    problems: list[Problem] = []
    queries = _queries(path, set(known), problems)
    if not problems and not queries:
        problems.append(Problem("no queries", None, None, str(path)))
    if problems:
        raise _invalid(path, problems)
    return queries


def in_traditional(dataset: Dataset, variant: str = "s2twp") -> Dataset:
    """The same entries and queries written in Traditional Chinese (OpenCC ``variant``; s2twp:
    Taiwan's characters and words), as a Taiwan or Hong Kong KB and its users write them.
    Ids, labels and table codes stay; the name gets ``-tc``. A check that retrieval does not
    depend on the script its sets were written in."""
    import opencc

    convert = opencc.OpenCC(variant).convert

    def tc(text: str | None) -> str | None:
        return str(convert(text)) if text else text

    return Dataset(
        name=f"{dataset.name}-tc",
        entries=[
            replace(
                e, question=str(tc(e.question)), answer=str(tc(e.answer)), category=tc(e.category)
            )
            for e in dataset.entries
        ],
        queries=[replace(q, query=str(tc(q.query))) for q in dataset.queries],
        path=dataset.path,
        codes=dict(dataset.codes),
    )


def _invalid(path: Path, problems: list[Problem]) -> DatasetInvalid:
    shown = problems[:MAX_SHOWN]
    more = len(problems) - len(shown)
    if more:
        shown.append(Problem(f"… and {more} more problem{'s' if more > 1 else ''}"))
    n = len(problems)
    return DatasetInvalid(
        f"Dataset {path} is not valid: {n} problem{'s' if n > 1 else ''}; "
        "fix the lines named below (format: eval/datasets.py).",
        problems=shown,
    )


def _lines(path: Path, problems: list[Problem]) -> Iterator[tuple[dict[str, Any], str]]:
    """Each JSON object of a JSON Lines file with its ``file:line``; problems for the rest."""
    if not path.is_file():
        problems.append(Problem("file is missing", None, None, str(path)))
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        problems.append(
            Problem(f"not UTF-8 ({err.reason} at byte {err.start})", None, None, str(path))
        )
        return
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(
                Problem(f"not valid JSON: {err.msg} (column {err.colno})", None, None, where)
            )
            continue
        except RecursionError:
            problems.append(Problem("not valid JSON: nested too deeply", None, None, where))
            continue
        if not isinstance(data, dict):
            problems.append(Problem("each line must be a JSON object", None, data, where))
            continue
        yield data, where


def _text(data: dict[str, Any], key: str, where: str, problems: list[Problem]) -> str | None:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem("must be a non-empty string", key, value, where))
        return None
    return value.strip()


def _optional_text(data: dict[str, Any], key: str, where: str, problems: list[Problem]) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(Problem("must be a string or null", key, value, where))
        return ""
    return value.strip()


def _entries(path: Path, problems: list[Problem]) -> Iterator[tuple[Entry, str]]:
    for data, where in _lines(path, problems):
        before = len(problems)
        entry_id = _text(data, "id", where, problems)
        question = _text(data, "question", where, problems)
        answer = _optional_text(data, "answer", where, problems)
        category = _optional_text(data, "category", where, problems)
        longest = ANSWER_PARTS * MAX_TEXT_FIELD_CHARS
        if len(answer) > longest:
            problems.append(
                Problem(
                    f"must be at most {longest:,} characters ({ANSWER_PARTS} fields of "
                    f"{MAX_TEXT_FIELD_CHARS:,}), got {len(answer):,}",
                    "answer",
                    len(answer),
                    where,
                )
            )
        if question is not None and len(question) > MAX_TEXT_FIELD_CHARS:
            problems.append(
                Problem(
                    f"must be at most {MAX_TEXT_FIELD_CHARS:,} characters, got {len(question):,}",
                    "question",
                    len(question),
                    where,
                )
            )
        if len(problems) == before and entry_id is not None and question is not None:
            yield Entry(entry_id, question, answer, category or None), where


def _id_list(
    data: dict[str, Any],
    key: str,
    known: set[str] | None,
    where: str,
    problems: list[Problem],
    *,
    required: bool,
) -> tuple[str, ...]:
    value = data.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem("must be a list of entry ids (strings)", key, value, where))
        return ()
    if required and not value:
        problems.append(Problem("must name at least one entry id", key, value, where))
    unknown = [v for v in value if known is not None and v not in known]
    if unknown:
        problems.append(
            Problem(f"unknown entry id(s) {unknown}: not in {ENTRIES_FILE}", key, unknown, where)
        )
    return tuple(dict.fromkeys(value))


def _queries(path: Path, known: set[str] | None, problems: list[Problem]) -> list[Query]:
    seen: dict[str, str] = {}
    out: list[Query] = []
    for data, where in _lines(path, problems):
        before = len(problems)
        qid = _text(data, "qid", where, problems)
        text = _text(data, "query", where, problems)
        relevant = _id_list(data, "relevant", known, where, problems, required=True)
        negatives = _id_list(data, "hard_negatives", known, where, problems, required=False)
        both = sorted(set(relevant) & set(negatives))
        if both:
            problems.append(
                Problem(
                    f"id(s) {both} are both relevant and hard negatives",
                    "hard_negatives",
                    both,
                    where,
                )
            )
        if qid is not None and qid in seen:
            problems.append(Problem(f"duplicate qid (first at {seen[qid]})", "qid", qid, where))
            continue
        if qid is not None:
            seen[qid] = where
        if len(problems) == before and qid is not None and text is not None:
            out.append(Query(qid, text, relevant, negatives))
    return out


def table_codes(ids: Iterable[str]) -> dict[str, str]:
    """A table code per entry id: the id itself when it is a valid code, else a stable hash."""
    codes: dict[str, str] = {}
    used: set[str] = set()
    for entry_id in ids:
        code = entry_id
        if not CODE_RE.match(entry_id):
            code = "ds-" + hashlib.sha1(entry_id.encode("utf-8")).hexdigest()[:20]
        if code in used:
            raise DatasetInvalid(
                f"Entry ids {entry_id!r} and another map to the same table code {code!r}; "
                "rename one of them."
            )
        used.add(code)
        codes[entry_id] = code
    return codes


def to_bundle(dataset: Dataset, *, exclude: Iterable[str] = ()) -> Bundle:
    """The dataset as an import Bundle, leaving out the entry ids in ``exclude``.

    One category per dataset category (entries without one go to a category named after the
    dataset; either name made one the KB accepts, :func:`_name`), in each a package named
    after the dataset with :data:`TEMPLATE`, and one published table per entry: code from the
    id (:func:`table_codes`), title = the question (cut to 300 characters; the whole question
    then goes into the ``question`` field), and the ``answer`` field = the entry's answer, or
    **the question itself when the answer is empty** (the template requires an answer; BQ and
    ATEC have none, so there retrieval matches queries against the standard questions only), a
    long one continued in ``answer_2``… (:func:`answer_parts`; those fields are in the
    template only when some entry needs them). The review interval is 0 (never stale) so that
    results do not depend on the day the benchmark runs.
    """
    skip = set(exclude)
    name = _name(dataset.name)
    answers = {e.id: answer_parts(e.answer or e.question) for e in dataset.entries}
    template = _template(max((len(parts) for parts in answers.values()), default=1))
    packages: dict[str, PackageDoc] = {}
    for entry in dataset.entries:
        if entry.id in skip:
            continue
        category = _name(entry.category, fallback=name) if entry.category else name
        package = packages.get(category)
        if package is None:
            package = packages[category] = PackageDoc(
                category=category,
                name=name,
                template=template,
                description=f"Benchmark dataset {dataset.name}",
                review_interval_days=0,
                location=f"dataset {dataset.name}",
            )
        fields = {answer_key(i): part for i, part in enumerate(answers[entry.id])}
        fields["dataset_id"] = entry.id
        title = entry.question
        if len(title) > TITLE_MAX:
            title = title[: TITLE_MAX - 1] + "…"
            fields["question"] = entry.question
        package.tables.append(
            TableDoc(
                code=dataset.codes[entry.id],
                title=title,
                fields=fields,
                author="kb eval",
                source=f"dataset {dataset.name}",
                location=f"dataset {dataset.name} entry {entry.id}",
            )
        )
    return Bundle(
        categories=[CategoryDoc(name=c) for c in packages],
        packages=list(packages.values()),
        source=f"dataset {dataset.name}",
    )


def answer_parts(text: str, size: int = MAX_TEXT_FIELD_CHARS) -> list[str]:
    """``text`` in consecutive parts of at most ``size`` characters that join back into it,
    each ending after the last sentence end of its last fifth where there is one."""
    parts = []
    while len(text) > size:
        window = text[size - size // 5 : size]
        ends = [window.rfind(mark) for mark in SENTENCE_ENDS]
        cut = size - size // 5 + max(ends) + 1 if max(ends) >= 0 else size
        parts.append(text[:cut])
        text = text[cut:]
    return [*parts, text]


def answer_key(part: int) -> str:
    """The field of an answer's ``part`` (0: ``answer``, then ``answer_2``, ``answer_3``…)."""
    return "answer" if part == 0 else f"answer_{part + 1}"


def _template(parts: int) -> list[dict[str, Any]]:
    """:data:`TEMPLATE`, with the fields an answer in ``parts`` parts goes on in."""
    more = [
        {"key": answer_key(part), "label": f"标准答复（续 {part + 1}）", "type": "text"}
        for part in range(1, parts)
    ]
    return [TEMPLATE[0], *more, *TEMPLATE[1:]]


def _name(raw: str, fallback: str = "dataset") -> str:
    """A category or package name the KB accepts (:func:`kb.hierarchy.name_problems`) made
    from a dataset's label, which only groups its entries: '/' and '\\' in their full-width
    forms, control and invisible characters dropped, no leading '.' or '_', cut to fit;
    ``fallback`` where nothing is left."""
    name = "".join(c for c in raw if unicodedata.category(c) not in INVISIBLE_CATEGORIES)
    name = name.replace("/", "／").replace("\\", "＼")
    while name != name.strip() or name.startswith((".", "_")):
        name = name.strip().lstrip("._")
    name = name[:MAX_NAME_CHARS]
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        name = name[:-1]
    return name.strip() or fallback
