"""Pseudo-queries: questions made from a KB's own content, each with the table that answers it.

Self-tuning (:mod:`indexer.selftune`) needs labelled queries, and a KB has none of its users'.
It has content, and three kinds of it stand in for users' questions:

- ``question``: one similar question of a table, *masked* (taken out of the table while it
  is searched for), so it has to find its table the way a new wording would.
- ``answer``: a span of one to three clauses of a table's answer (or another searchable public
  field), masked from the field: a question answered *inside* the text, as customers ask
  about one detail of a long answer. Spans that recur in other tables are skipped (generic
  advice answers nothing in particular).
- ``answer (confidence only)``: on a KB of few tables, more of each table's answer spans, made
  and masked the same way, until it has :data:`SPARE_UNTIL` spans in all: enough to fit its
  confidence on (:mod:`indexer.selftune`). The weights and the reranker are chosen on three
  spans a table at most, as on any KB.
- ``title``: the title with a word left out and, half the time, a clause of another table's
  text before it: a question in the title's words, said loosely and with context, as customers
  type it. Nothing is masked: the title is what it should find.

Besides these, a KB may have real users' queries with their answer: the golden set, queries
staff confirmed against the table that answers them (:func:`confirmed`, source
``confirmed``). They are not made from the content, so nothing is masked for them.
And it may have agents' votes on what they were shown (:func:`voted`, source ``voted``): a
query's verdicts, right tables and wrong ones, that judge whatever a re-tuned ranking puts
first (no single table is its answer, so it tunes confidence only).

A KB in use has its query log: users' questions without answers (:func:`logged`, source
``logged``). They label nothing; they show which pseudo-queries read like the KB's real
questions (:mod:`indexer.resemblance`). Where the log is large enough, one more source is
made for that comparison (:func:`reworded`, source ``reworded``): an answer span said in fewer
of its words, left in its answer, as users ask about a detail of an answer they have not read.

Every draw is seeded by the table codes, so the same KB gives the same queries on every
machine and every build.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from indexer.documents import DocField, IndexDocument
from kb.text import normalize

SOURCES = ("question", "answer", "title")
CONFIRMED = "confirmed"
VOTED = "voted"
LOGGED = "logged"
REWORDED = "reworded"
SPARE = "answer (confidence only)"
# At most this many pseudo-queries of each source (a share of the tables when the KB is big).
# Voted queries fit confidence only, where a few hundred do; each is searched at every tuning.
CAP = {
    "question": 300,
    "answer": 600,
    "title": 300,
    CONFIRMED: 2000,
    VOTED: 600,
    LOGGED: 300,
    REWORDED: 300,
}
SPANS_PER_TABLE = 3  # answer spans masked per table at most (every table's first comes first)
# A KB of few tables has too few spans to fit its confidence on (selftune.MIN_CALIBRATION:
# 33 tables or fewer at three a table) and kept the defaults, fitted on KBs without answers.
# It gets more of each table's spans, up to this many a table, for confidence only (SPARE),
# until it has SPARE_UNTIL in all. On 32 tables of long answers (the demo KB in pages of
# eight, a tenth held out) ECE 0.437 → 0.132, in Traditional 0.416 → 0.140, the ranking the
# same (docs/benchmarks.md, "Long answers"). Drawn up to 600 on KBs that had enough, they
# made it worse (0.106 → 0.126, 0.088 → 0.143); used for the ranking too, MRR@10 −0.03.
SPARE_SPANS_PER_TABLE = 10
SPARE_UNTIL = 120
SPAN_MIN_CHARS = 6  # Han characters or ASCII letters/digits
SPAN_MAX_CHARS = 60
SPAN_CLAUSES = (1, 2, 3)
REWORD_KEEP = 0.6  # each word of a span kept with this probability, in order
LOGGED_MAX_CHARS = 200  # longer logged texts are pasted documents, not questions

_SENTENCE = re.compile(r"(?<=[。！？!?；;\n])")
_CLAUSE = re.compile(r"(?<=[，,、：:])")
_MEANINGFUL = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")
_EDGE = " \t\n，,。.；;！!？?、：:"

Words = Callable[[str], list[str]]
T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """What agents' votes say of the tables shown for one query."""

    right: frozenset[int] = frozenset()  # voted helpful (more often than not)
    wrong: frozenset[int] = frozenset()  # voted not helpful (more often than not)
    none_fits: bool = False  # voted "nothing fitted", and no table helpful

    def judges(self, table_id: int) -> bool | None:
        """Whether ``table_id``, suggested first, answers the query; None: the votes do not say.

        A table helpful to the query makes any other first suggestion wrong: agents vote on a
        table that answers, and a query that two tables answer equally is rare enough."""
        if table_id in self.right:
            return True
        if self.right or self.none_fits or table_id in self.wrong:
            return False
        return None


@dataclass(frozen=True)
class PseudoQuery:
    text: str
    table_id: int  # -1 for VOTED (its verdict judges the table suggested first) and LOGGED
    source: str  # one of SOURCES, SPARE, CONFIRMED, VOTED, LOGGED or REWORDED
    question: int | None = None  # the similar question masked from the table
    field: str | None = None  # the field a span is masked from …
    span: str | None = None  # … and the span
    verdict: Verdict | None = None  # VOTED: what the votes say

    def masked(self, doc: IndexDocument) -> IndexDocument:
        """``doc`` as the query must find it: without the question or span it was made from."""
        if self.question is not None:
            questions = [q for i, q in enumerate(doc.questions) if i != self.question]
            return replace(doc, questions=questions, _window=None, _body_chars=None)
        if self.field is not None and self.span is not None:
            fields = [_without(f, self.span) if f.key == self.field else f for f in doc.fields]
            return replace(doc, fields=fields, _window=None, _body_chars=None)
        return doc


def _without(f: DocField, span: str) -> DocField:
    if isinstance(f.value, list):
        value: object = [str(v).replace(span, "", 1) for v in f.value]
    else:
        value = str(f.value).replace(span, "", 1)
    return replace(f, value=value)


def _rng(doc: IndexDocument, salt: str, seed: int) -> random.Random:
    return random.Random(zlib.crc32(f"{seed}:{salt}:{doc.code}".encode()))


def _seeded(items: Iterable[T], salt: str, seed: int, key: Callable[[T], str]) -> list[T]:
    """``items`` in a seeded order of their ``key`` texts, whatever order they came in."""
    return sorted(items, key=lambda i: (zlib.crc32(f"{seed}:{salt}:{key(i)}".encode()), key(i)))


def _order(docs: Sequence[IndexDocument], salt: str, seed: int) -> list[IndexDocument]:
    """The documents in a seeded order that does not depend on table ids or insertion order."""
    return _seeded(docs, salt, seed, lambda d: d.code)


def _answer_fields(doc: IndexDocument) -> list[DocField]:
    """Searchable public fields with text of their own (not a copy of the title)."""
    return [
        f
        for f in doc.fields
        if f.searchable and f.public and f.weight > 0 and f.text.strip() != doc.title.strip()
    ]


def spans(text: str) -> list[str]:
    """Runs of one to three clauses of a sentence, trimmed, of a useful length."""
    out = []
    for sentence in _SENTENCE.split(text):
        clauses = [c for c in _CLAUSE.split(sentence) if c.strip()]
        for start in range(len(clauses)):
            for width in SPAN_CLAUSES:
                if start + width > len(clauses):
                    break
                span = "".join(clauses[start : start + width]).strip(_EDGE)
                meaningful = len(_MEANINGFUL.findall(span))
                if meaningful >= SPAN_MIN_CHARS and len(span) <= SPAN_MAX_CHARS:
                    out.append(span)
    return out


def _from_questions(docs: Sequence[IndexDocument], seed: int) -> list[PseudoQuery]:
    out = []
    for doc in _order([d for d in docs if d.questions], "question", seed)[: CAP["question"]]:
        pick = _rng(doc, "question", seed).randrange(len(doc.questions))
        out.append(PseudoQuery(doc.questions[pick], doc.table_id, "question", question=pick))
    return out


def _unique_spans(docs: Sequence[IndexDocument]) -> dict[int, list[tuple[str, str]]]:
    """Per table, its answer spans (field key, span) found in no other table (generic advice
    answers nothing in particular); tables without any are left out."""
    found = {
        d.table_id: [(f.key, s) for f in _answer_fields(d) for s in spans(f.text)] for d in docs
    }
    tables_with = Counter(
        normalize(s) for options in found.values() for s in {s for _, s in options}
    )
    unique = {t: [(k, s) for k, s in o if tables_with[normalize(s)] == 1] for t, o in found.items()}
    return {t: options for t, options in unique.items() if options}


def _from_answers(docs: Sequence[IndexDocument], seed: int) -> list[PseudoQuery]:
    options = _unique_spans(docs)
    out: list[PseudoQuery] = []
    drawn = [
        (doc, _rng(doc, "answer", seed).sample(options[doc.table_id], len(options[doc.table_id])))
        for doc in _order([d for d in docs if d.table_id in options], "answer", seed)
    ]
    for turn in range(SPARE_SPANS_PER_TABLE):  # every table's first span, then seconds, …
        spare = turn >= SPANS_PER_TABLE
        source, most = (
            (SPARE, min(SPARE_UNTIL, CAP["answer"])) if spare else ("answer", CAP["answer"])
        )
        for doc, spans_drawn in drawn:
            if turn < len(spans_drawn) and len(out) < most:
                key, span = spans_drawn[turn]
                out.append(PseudoQuery(span, doc.table_id, source, field=key, span=span))
    return out


def reworded(docs: Sequence[IndexDocument], words: Words, *, seed: int = 0) -> list[PseudoQuery]:
    """Answer spans said in fewer of their words, each kept with probability
    :data:`REWORD_KEEP`, in order (at least two), and left in their answer: a question about a
    detail of an answer, in the answer's words but not all of them. ``words`` cuts a text into
    words that do not overlap (the analyzer's ``segments``). At most ``CAP["reworded"]``
    tables, in a seeded order of this source's own."""
    options = _unique_spans(docs)
    chosen = _order([d for d in docs if d.table_id in options], REWORDED, seed)
    out = []
    for doc in chosen[: CAP[REWORDED]]:
        rng = _rng(doc, REWORDED, seed)
        _key, span = rng.choice(options[doc.table_id])
        pieces = [w for w in words(span) if _MEANINGFUL.search(w)]
        kept = [w for w in pieces if rng.random() < REWORD_KEEP]
        text = "".join(kept if len(kept) >= 2 else pieces[:2]).strip(_EDGE)
        if _MEANINGFUL.search(text):
            out.append(PseudoQuery(text, doc.table_id, REWORDED))
    return out


def _from_titles(docs: Sequence[IndexDocument], words: Words, seed: int) -> list[PseudoQuery]:
    context = sorted({s for d in docs for f in _answer_fields(d) for s in spans(f.text)[:2]})
    out = []
    for doc in _order(docs, "title", seed)[: CAP["title"]]:
        rng = _rng(doc, "title", seed)
        pieces = words(doc.title)
        if len(pieces) >= 3:
            del pieces[rng.randrange(len(pieces))]
        text = "".join(pieces) or doc.title
        if context and rng.random() < 0.5:
            text = f"{rng.choice(context)}，{text}"
        out.append(PseudoQuery(text, doc.table_id, "title"))
    return out


def generate(
    docs: Sequence[IndexDocument], words: Words, *, seed: int = 0, sources: Sequence[str] = SOURCES
) -> list[PseudoQuery]:
    """Pseudo-queries of the wanted ``sources`` (see the module docstring), seeded.

    ``words`` splits a text into words (the analyzer's ``words``, with its KB dictionary).
    """
    out: list[PseudoQuery] = []
    if "question" in sources:
        out += _from_questions(docs, seed)
    if "answer" in sources:
        out += _from_answers(docs, seed)
    if "title" in sources:
        out += _from_titles(docs, words, seed)
    return out


def confirmed(
    pairs: Sequence[tuple[str, int]], docs: Sequence[IndexDocument], *, seed: int = 0
) -> list[PseudoQuery]:
    """Users' queries confirmed against their table (the golden set), as labelled queries.

    Only queries confirmed for exactly one indexed table are kept (one right answer is what
    the ranking and confidence are judged on); at most ``CAP["confirmed"]`` of them, a seeded
    draw that does not depend on the order they were confirmed in.
    """
    indexed = {d.table_id for d in docs}
    tables: dict[str, set[int]] = {}
    for text, table_id in pairs:
        if text.strip():
            tables.setdefault(text.strip(), set()).add(table_id)
    single = [(text, ids.pop()) for text, ids in tables.items() if len(ids) == 1]
    kept = [(text, t) for text, t in single if t in indexed]
    kept = _seeded(kept, CONFIRMED, seed, lambda p: p[0])
    return [PseudoQuery(text, t, CONFIRMED) for text, t in kept[: CAP[CONFIRMED]]]


def voted(
    votes: Sequence[tuple[str, int | None, bool]],
    docs: Sequence[IndexDocument],
    *,
    seed: int = 0,
) -> list[PseudoQuery]:
    """Agents' votes (query, table id or None for "nothing fitted", helpful), as one query
    per distinct text with its :class:`Verdict`: per table, the side more votes took (a tie
    says nothing); tables no longer indexed are left out. Queries whose votes say nothing are
    dropped; at most ``CAP["voted"]`` of the rest, a seeded draw.
    """
    indexed = {d.table_id for d in docs}
    net: dict[str, Counter[int | None]] = {}
    for text, table_id, helpful in votes:
        if text.strip() and (table_id is None or table_id in indexed):
            net.setdefault(text.strip(), Counter())[table_id] += 1 if helpful else -1
    out = []
    for text, counts in net.items():
        right = frozenset(t for t, n in counts.items() if t is not None and n > 0)
        wrong = frozenset(t for t, n in counts.items() if t is not None and n < 0)
        verdict = Verdict(right, wrong, none_fits=counts.get(None, 0) < 0 and not right)
        if right or wrong or verdict.none_fits:
            out.append(PseudoQuery(text, -1, VOTED, verdict=verdict))
    return _seeded(out, VOTED, seed, lambda q: q.text)[: CAP[VOTED]]


def logged(
    texts: Sequence[str], docs: Sequence[IndexDocument], *, seed: int = 0
) -> list[PseudoQuery]:
    """Users' logged questions (no answer known), cleaned: one per normalized text; not a
    table's title (a suggestion clicked or pasted, not a question); with a Han character or
    a letter or digit, at most :data:`LOGGED_MAX_CHARS`. At most ``CAP["logged"]``, a seeded
    draw that does not depend on the log's order."""
    titles = {normalize(d.title) for d in docs}
    kept: dict[str, str] = {}
    for text in texts:
        text = text.strip()
        key = normalize(text)
        if (
            len(text) <= LOGGED_MAX_CHARS
            and _MEANINGFUL.search(text)
            and key not in titles
            and key not in kept
        ):
            kept[key] = text
    ordered = _seeded(kept.values(), LOGGED, seed, lambda t: t)
    return [PseudoQuery(text, -1, LOGGED) for text in ordered[: CAP[LOGGED]]]
