"""A knowledge table as the index sees it: searchable text per field, and visibility metadata.

Only the live (published) revision is indexed. Field texts are split by audience: customers'
searches and snippets use the public view only; agents' use the full view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from kb.clock import ensure_utc
from kb.hierarchy import specs_of
from kb.models import Audience, KnowledgeTable, Package
from kb.templates import FieldSpec, FieldType
from kb.visibility import Channel, Window, window

CHUNK_CHARS = 160
# Long answers (bank FAQs run to 900 characters) are embedded whole up to this many chunks.
MAX_CHUNKS_PER_FIELD = 8
# A long answer is read in windows of this many chunks, each scored on its own, the table by
# its best: by the latent terms (one vector a window) and by BM25's body index (one document a
# window), so that a question about one detail of a long answer scores it as it would score a
# short answer that tells only that detail. On a KB of long and short answers (the demo's
# tables, half of its packages joined four at a time into one long answer), pooled over four
# runs: latent vectors +0.023 MRR@10, BM25 documents +0.017 more; the demo's own sets of one
# answer length and cmdd within ±0.01 (docs/benchmarks.md, "Long and short answers in one KB").
WINDOW_CHUNKS = 2


@dataclass
class DocField:
    key: str
    label: str
    type: str
    audience: str
    searchable: bool
    weight: float
    value: Any  # str, or list[str] for steps/list fields

    @property
    def text(self) -> str:
        if isinstance(self.value, list):
            return "\n".join(str(v) for v in self.value)
        return str(self.value)

    @property
    def public(self) -> bool:
        return self.audience == Audience.PUBLIC.value


@dataclass(frozen=True)
class _RevisionProbe:
    published_at: datetime | None


@dataclass(frozen=True)
class _Probe:
    audience: Audience
    valid_from: datetime | None
    valid_until: datetime | None
    last_verified_at: datetime | None
    live_revision_id: int
    live_revision: _RevisionProbe


@dataclass
class IndexDocument:
    """What the index keeps about one table (JSON-serializable)."""

    table_id: int
    code: str
    title: str
    questions: list[str]
    tags: list[str]
    category: str
    package: str
    package_id: int
    audience: str
    revision: int
    live_revision_id: int
    fields: list[DocField]
    valid_from: str | None = None
    valid_until: str | None = None
    last_verified_at: str | None = None
    published_at: str | None = None
    review_interval_days: int = 0
    stamp: str = ""
    _window: Window | None = field(default=None, repr=False, compare=False)
    _body_chars: int | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> str:
        return f"{self.category} › {self.package} › {self.title}"

    @property
    def public(self) -> bool:
        return self.audience == Audience.PUBLIC.value

    def field(self, key: str) -> DocField | None:
        return next((f for f in self.fields if f.key == key), None)

    def visible_fields(self, channel: Channel) -> list[DocField]:
        if channel is Channel.CUSTOMER:
            return [f for f in self.fields if f.public]
        return list(self.fields)

    @property
    def has_internal_search_text(self) -> bool:
        return any(f.searchable and not f.public and f.text.strip() for f in self.fields)

    def to_json(self) -> dict[str, Any]:
        # Shallow by hand: dataclasses.asdict deep-copies every value and was a third of the
        # time it took to save a 10,000-table index.
        data = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        data["fields"] = [vars(f) for f in self.fields]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexDocument:
        data = dict(data)
        data["fields"] = [DocField(**f) for f in data.get("fields", [])]
        data.pop("_window", None)
        data.pop("_body_chars", None)
        return cls(**data)

    # --- visibility -----------------------------------------------------------------------

    def _visibility_probe(self) -> KnowledgeTable:
        """What ``kb.visibility`` reads of a table, for :meth:`window`.

        A plain object, not a detached ORM instance: the rules only read these attributes,
        and SQLAlchemy's instrumentation made building thousands of probes the slowest part
        of a query on a 10,000-table KB.
        """
        probe = _Probe(
            audience=Audience(self.audience),
            valid_from=_dt(self.valid_from),
            valid_until=_dt(self.valid_until),
            last_verified_at=_dt(self.last_verified_at),
            live_revision_id=self.live_revision_id,
            live_revision=_RevisionProbe(_dt(self.published_at)),
        )
        return cast(KnowledgeTable, probe)

    def body_chars(self) -> int:
        """Characters of searchable text (a ranking feature; counted once: every query asks it
        of its whole pool)."""
        if self._body_chars is None:
            self._body_chars = sum(len(f.text) for f in self.fields if f.searchable)
        return self._body_chars

    def window(self) -> Window:
        """The visibility rules' values for this document (computed once: every query asks
        them of every candidate)."""
        if self._window is None:
            self._window = window(self._visibility_probe(), self.review_interval_days)
        return self._window

    def visible(self, channel: Channel, now: datetime, *, include_expired: bool = False) -> bool:
        return self.window().visible(channel, now, include_expired=include_expired)

    def expired(self, now: datetime) -> bool:
        """Live but outside validity (stale or not yet valid) at ``now``."""
        return not self.window().visible(Channel.AGENT, now)

    def expires_at(self) -> datetime | None:
        return self.window().expires_at


def _dt(value: str | None) -> datetime | None:
    return None if value is None else ensure_utc(datetime.fromisoformat(value))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else ensure_utc(value).isoformat()


def table_stamp(live_revision_id: int | None, updated_at: datetime | None, package_id: int) -> str:
    """What changes whenever a table's indexed content or metadata may have changed."""
    when = _iso(updated_at) or ""
    return f"{live_revision_id}|{when}|{package_id}"


def package_stamp(package: Package) -> str:
    return (
        f"{package.category.name}/{package.name}|{package.review_interval_days}|"
        f"{package.template.version}"
    )


_SPECS: dict[tuple[int, int, str], list[FieldSpec]] = {}


def _specs_for(package: Package, version: int) -> list[FieldSpec]:
    """The template a revision was written against (parsed once per package and version)."""
    template = next((t for t in package.templates if t.version == version), package.template)
    key = (package.id, template.version, repr(template.fields))
    found = _SPECS.get(key)
    if found is None:
        if len(_SPECS) > 1000:
            _SPECS.clear()
        found = _SPECS[key] = specs_of(template)
    return found


def document_for(table: KnowledgeTable) -> IndexDocument | None:
    """The index document of ``table``'s live revision, or None when nothing is live."""
    live = table.live_revision
    if live is None or table.live_revision_id is None:
        return None
    specs = _specs_for(table.package, live.template_version)
    fields = []
    for spec in specs:
        value = live.fields.get(spec.key)
        if value in (None, "", []):
            continue
        fields.append(
            DocField(
                key=spec.key,
                label=spec.label,
                type=spec.type.value,
                audience=spec.audience.value,
                searchable=spec.searchable,
                weight=spec.weight,
                value=value,
            )
        )
    return IndexDocument(
        table_id=table.id,
        code=table.code,
        title=live.title,
        questions=list(live.questions),
        tags=list(live.tags),
        category=table.package.category.name,
        package=table.package.name,
        package_id=table.package_id,
        audience=Audience(table.audience).value,
        revision=live.number,
        live_revision_id=table.live_revision_id,
        fields=fields,
        valid_from=_iso(table.valid_from),
        valid_until=_iso(table.valid_until),
        last_verified_at=_iso(table.last_verified_at),
        published_at=_iso(live.published_at),
        review_interval_days=table.package.review_interval_days,
        stamp=table_stamp(table.live_revision_id, table.updated_at, table.package_id),
    )


@dataclass(frozen=True)
class DenseText:
    """One text to embed for a table.

    Kinds: ``title`` and ``question`` (query form: they are compared with questions), ``body``
    (a chunk of a searchable field, passage form) and ``entry`` (the title followed by a body
    chunk, passage form: e5's own retrieval setup, where a question finds the passage that
    answers it).
    """

    kind: str  # title | question | body | entry
    text: str
    public: bool
    ref: str  # field key or question number, for --explain


VECTOR_KINDS = ("title", "question", "body", "entry", "latent")  # latent: indexer.latent
QUERY_FORM_KINDS = frozenset({"title", "question"})


def dense_texts(doc: IndexDocument, kinds: frozenset[str] | None = None) -> list[DenseText]:
    """Title and each similar question (query form), body chunks and title + chunk (passage form).

    ``kinds`` limits the texts to those vector kinds (all of :data:`VECTOR_KINDS` when None).
    A field that only repeats the title (question-only knowledge) adds no entry text: it would
    be the title again.
    """
    wanted = frozenset(VECTOR_KINDS) if kinds is None else kinds
    out = []
    if "title" in wanted:
        out.append(DenseText("title", doc.title, True, "title"))
    if "question" in wanted:
        out += [DenseText("question", q, True, f"q{i}") for i, q in enumerate(doc.questions)]
    for f in doc.fields:
        if not f.searchable or f.weight <= 0:
            continue
        repeats_title = f.text.strip() == doc.title.strip()
        for chunk in chunk_text(f.text)[:MAX_CHUNKS_PER_FIELD]:
            if "body" in wanted:
                out.append(DenseText("body", chunk, f.public, f.key))
            if "entry" in wanted and not repeats_title:
                out.append(DenseText("entry", entry_text(doc.title, chunk), f.public, f.key))
    return out


def entry_text(title: str, chunk: str) -> str:
    """The passage of an entry vector: the title, then the chunk of the answer."""
    return f"{title}\n{chunk}"


_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")


def chunk_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Sentence-aligned chunks of at most about ``size`` characters."""
    return ["".join(pieces) for pieces in sentence_chunks(text, size)]


def sentence_chunks(text: str, size: int = CHUNK_CHARS) -> list[list[str]]:
    """The sentences (stripped; a longer one cut in pieces of ``size``) of each chunk of
    :func:`chunk_text`."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    chunks: list[list[str]] = []
    current: list[str] = []
    length = 0
    for sentence in sentences:
        while len(sentence) > size:
            if current:
                chunks.append(current)
                current, length = [], 0
            chunks.append([sentence[:size]])
            sentence = sentence[size:]
        if length + len(sentence) > size and current:
            chunks.append(current)
            current, length = [], 0
        current.append(sentence)
        length += len(sentence)
    if current:
        chunks.append(current)
    return chunks


def windows(chunks: int) -> list[range]:
    """The chunks (numbered from 0) of each window of a text of ``chunks`` chunks:
    :data:`WINDOW_CHUNKS` at a time, the last run ending at the last chunk (it may share
    chunks with the run before); one run of all of them where they are that many or fewer."""
    if chunks <= WINDOW_CHUNKS:
        return [range(chunks)]
    starts = list(range(0, chunks - WINDOW_CHUNKS + 1, WINDOW_CHUNKS))
    if starts[-1] + WINDOW_CHUNKS < chunks:
        starts.append(chunks - WINDOW_CHUNKS)
    return [range(start, start + WINDOW_CHUNKS) for start in starts]


def head_fields(doc: IndexDocument) -> list[tuple[str, str]]:
    """(key, text) of what names a table: title, similar questions, tags (one BM25 index)."""
    out = [("title", doc.title)]
    out += [("questions", q) for q in doc.questions]
    out += [("tags", t) for t in doc.tags]
    return out


def body_fields(doc: IndexDocument, *, internal: bool = False) -> list[tuple[str, str, float]]:
    """(key, text, template weight) of the searchable public fields, or (``internal``) the
    internal ones (the other BM25 index)."""
    return [
        (f.key, f.text, f.weight)
        for f in doc.fields
        if f.searchable and f.weight > 0 and f.public != internal
    ]


def body_windows(doc: IndexDocument, *, internal: bool = False) -> list[list[tuple[str, float]]]:
    """The body view (:func:`body_fields`) as BM25's body index reads it, as (text, template
    weight) lists: the fields whole where their chunks are :data:`WINDOW_CHUNKS` or fewer, else
    one list a window of chunks (:func:`windows`, over the fields' chunks in order, each chunk
    under its field's weight; its sentences joined by line breaks, so no word is made across
    them)."""
    fields = [(text, weight) for _, text, weight in body_fields(doc, internal=internal)]
    chunks = [
        ("\n".join(pieces), weight) for text, weight in fields for pieces in sentence_chunks(text)
    ]
    if len(chunks) <= WINDOW_CHUNKS:
        return [fields]
    return [[chunks[i] for i in run] for run in windows(len(chunks))]


def is_markdown(f: DocField) -> bool:
    return f.type == FieldType.MARKDOWN.value
