"""The Milvus backend: candidates from a Milvus 2.5+ server, a cluster, or milvus-lite.

Two collections per knowledge base (``<prefix>_tables``, ``<prefix>_vectors``):

- tables: one row per table. ``head``, ``body`` and ``internal`` hold its analyzed text, each
  with a BM25 function (Milvus full-text search) into a sparse field; ``bags`` holds the same
  terms with their field weights (JSON), from which the pool's features are computed (the
  body and internal views as BM25's body documents, one a window of a long view:
  ``body_windows``, ``internal_windows``); ``hub``; and the scalar filter fields (audience,
  category, package, tags, validity).
- vectors: one row per dense vector (centered, normalized; inner product), with its table,
  kind, audience, reference and the same scalar filter fields.

Candidates: the lexical list is one ``hybrid_search`` over the head and body (and for agents
the internal) BM25 fields, weighted as the fusion weighs them; the dense list one filtered ANN
search. Channel, visibility, validity and scope are Milvus filter expressions. A table has a
variable number of vectors, so lexical and dense live in two collections (two requests).

Pool scoring: the pool's bags and vectors are fetched (``table_id in [...]``) and scored here
with the index's own term statistics (:mod:`indexer.backends.termstats`) and centered cosines,
so features, the reranker and confidence read what they read in process. Milvus's BM25 only
orders candidates; its scores (IDF per segment in a cluster, Lucene's idf) are not used.

Text: with ``analyzer="zhiku"`` each of Zhiku's tokens (words, characters, bigrams, pinyin)
is written as one opaque word (a hash), so Milvus's standard tokenizer sees exactly our terms;
``"jieba"`` gives Milvus the raw text and its jieba tokenizer.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from indexer.analysis import Analyzer
from indexer.backends.base import (
    CandidateParams,
    Candidates,
    Filters,
    PoolScores,
    QueryState,
    SearchBackend,
)
from indexer.backends.termstats import TermStats
from indexer.bm25 import Bag, BagField, BM25Params
from indexer.dense import (
    HUB_MIN_TABLES,
    HUB_NEIGHBOURS,
    KIND_CODES,
    KINDS,
    DenseIndex,
    TableVectors,
)
from indexer.documents import WINDOW_CHUNKS, IndexDocument
from indexer.errors import BackendUnavailable, IndexMismatch
from indexer.fusion import ranking
from indexer.lexical import LexicalIndex
from kb.clock import ensure_utc
from kb.text import normalize

STATE = "milvus.json"
MEANS = "milvus_means.npy"
BATCH = 500
TEXT_MAX = 60_000  # bytes of analyzed text Milvus indexes per field (VARCHAR ≤ 65,535)
NEVER = 2**62  # microseconds: no end of validity
ALWAYS = -(2**62)  # … no start
IN_LIMIT = 1000  # table ids per ``in`` filter
# Rows of a query: Milvus caps offset + limit of one query at 16,384.
QUERY_LIMIT = 16_384


def _micros(value: str | datetime | None, default: int) -> int:
    if value is None:
        return default
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return int(ensure_utc(when).timestamp() * 1_000_000)


def _packed(view: Sequence[BagField]) -> list[list[Any]]:
    """A view's bags as JSON: [terms, counts, length, weight] each."""
    return [[list(b.terms), list(b.counts), b.length, w] for b, w in view]


def _unpacked(rows: Sequence[Sequence[Any]]) -> list[BagField]:
    return [(Bag(tuple(t), tuple(c), int(length)), float(w)) for t, c, length, w in rows]


def _body_views(bags: dict[str, Any], part: str) -> list[list[BagField]]:
    """The body documents of a view (``body`` or ``internal``) of a stored row (none where
    the table has no such view)."""
    return [_unpacked(v) for v in bags[f"{part}_windows"]]


def _word(token: str) -> str:
    """A token as one word Milvus's standard tokenizer keeps whole (lower-case base32)."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    return "z" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _chunks(items: Sequence[int], size: int = IN_LIMIT) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class MilvusBackend(SearchBackend):
    """Tables and vectors in Milvus; features computed from what it stores (see above)."""

    name = "milvus"
    state_in_directory = False  # the collections have changed: the directory follows at once

    def __init__(
        self,
        uri: str,
        *,
        token: str = "",
        prefix: str = "zhiku",
        analyzer: Analyzer,
        dim: int,
        bm25: BM25Params | None = None,
        text: str = "zhiku",
    ) -> None:
        self.uri = uri
        self.token = token
        self.prefix = prefix
        self.text = text
        self.dim = dim
        self.params = bm25 or BM25Params()
        self.lexical = LexicalIndex(analyzer, self.params)  # analysis only (bags), no postings
        self.head = TermStats(self.params)
        self.body = TermStats(self.params)
        self.means = DenseIndex(dim)  # centering only
        self.docs: dict[int, IndexDocument] = {}
        self._client: Any = None

    @classmethod
    def from_settings(
        cls, settings: Any, analyzer: Analyzer, dim: int, bm25: BM25Params | None = None
    ) -> MilvusBackend:
        return cls(
            settings.resolved_milvus_uri,
            token=settings.milvus_token,
            prefix=settings.milvus_collection,
            analyzer=analyzer,
            dim=dim,
            bm25=bm25,
            text=settings.milvus_analyzer,
        )

    # --- connection and schema ------------------------------------------------------------

    @property
    def tables(self) -> str:
        return f"{self.prefix}_tables"

    @property
    def vectors(self) -> str:
        return f"{self.prefix}_vectors"

    @property
    def client(self) -> Any:
        if self._client is None:
            from pymilvus import MilvusClient

            if "://" not in self.uri:
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._client = MilvusClient(self.uri, token=self.token)
            except Exception as err:  # pymilvus raises many kinds; all mean "not reachable"
                raise BackendUnavailable(
                    f"Milvus at {self.uri} cannot be reached ({err}); check ZHIKU_MILVUS_URI "
                    "and ZHIKU_MILVUS_TOKEN, or set ZHIKU_SEARCH_BACKEND=embedded."
                ) from err
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _analyzer_params(self) -> dict[str, str]:
        return {"tokenizer": "standard" if self.text == "zhiku" else "jieba"}

    def _create(self) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        client = self.client
        for name in (self.tables, self.vectors):
            if client.has_collection(name):
                client.drop_collection(name)

        def scalars(schema: Any) -> None:
            schema.add_field("audience", DataType.VARCHAR, max_length=16)
            schema.add_field("category", DataType.VARCHAR, max_length=512)
            schema.add_field("package", DataType.VARCHAR, max_length=512)
            schema.add_field("package_path", DataType.VARCHAR, max_length=1024)
            schema.add_field(
                "tags",
                DataType.ARRAY,
                element_type=DataType.VARCHAR,
                max_capacity=256,
                max_length=256,
            )
            schema.add_field("valid_from", DataType.INT64)
            schema.add_field("expires", DataType.INT64)

        tables = MilvusClient.create_schema(auto_id=False)
        tables.add_field("table_id", DataType.INT64, is_primary=True)
        index = client.prepare_index_params()
        for part in ("head", "body", "internal"):
            tables.add_field(
                part,
                DataType.VARCHAR,
                max_length=65_535,
                enable_analyzer=True,
                analyzer_params=self._analyzer_params(),
            )
            tables.add_field(f"{part}_sparse", DataType.SPARSE_FLOAT_VECTOR)
            tables.add_function(
                Function(
                    name=f"{part}_bm25",
                    input_field_names=[part],
                    output_field_names=[f"{part}_sparse"],
                    function_type=FunctionType.BM25,
                )
            )
            index.add_index(
                field_name=f"{part}_sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={"bm25_k1": self.params.k1, "bm25_b": self.params.b},
            )
        tables.add_field("bags", DataType.JSON)
        tables.add_field("hub", DataType.FLOAT)
        scalars(tables)
        client.create_collection(
            self.tables, schema=tables, index_params=index, consistency_level="Strong"
        )

        vectors = MilvusClient.create_schema(auto_id=True)
        vectors.add_field("id", DataType.INT64, is_primary=True)
        vectors.add_field("table_id", DataType.INT64)
        vectors.add_field("kind", DataType.INT8)
        vectors.add_field("public", DataType.BOOL)
        vectors.add_field("ref", DataType.VARCHAR, max_length=64)
        vectors.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        scalars(vectors)
        index = client.prepare_index_params()
        # Exact inner product, as the embedded FLAT index; a cluster with millions of vectors
        # would take HNSW here (and re-score exactly, as the pool's cosines already are).
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        client.create_collection(
            self.vectors, schema=vectors, index_params=index, consistency_level="Strong"
        )

    # --- rows -----------------------------------------------------------------------------

    def _scalars(self, doc: IndexDocument) -> dict[str, Any]:
        expires = doc.expires_at()
        return {
            "audience": doc.audience,
            "category": doc.category,
            "package": doc.package,
            "package_path": f"{doc.category}/{doc.package}",
            "tags": [normalize(t) for t in doc.tags][:256],
            "valid_from": _micros(doc.valid_from, ALWAYS),
            "expires": _micros(expires, NEVER),
        }

    def _views(self, doc: IndexDocument) -> dict[str, list[BagField]]:
        views = {"head": self.lexical.head_view(doc), "body": self.lexical.body_view(doc)}
        views["internal"] = (
            self.lexical.body_view(doc, internal=True) if doc.has_internal_search_text else []
        )
        return views

    def _text(self, doc: IndexDocument, part: str, view: list[BagField]) -> str:
        if self.text == "jieba":
            if part == "head":
                texts = [doc.title, *doc.questions, *doc.tags]
            else:
                texts = [
                    f.text
                    for f in doc.fields
                    if f.searchable and f.weight > 0 and f.public == (part == "body")
                ]
            out = "\n".join(texts)
        else:
            words = []
            for bag, weight in view:
                if weight > 0:
                    for term, count in zip(bag.terms, bag.counts, strict=True):
                        words += [_word(term)] * count
            out = " ".join(words)
        raw = out.encode("utf-8")
        return raw[:TEXT_MAX].decode("utf-8", "ignore") if len(raw) > TEXT_MAX else out

    def _body_documents(self, doc: IndexDocument) -> dict[str, list[list[BagField]]]:
        """The body index's documents of each view (:meth:`LexicalIndex.body_views`)."""
        return {
            "body": self.lexical.body_views(doc),
            "internal": (
                self.lexical.body_views(doc, internal=True) if doc.has_internal_search_text else []
            ),
        }

    def _table_row(self, doc: IndexDocument, hub: float) -> dict[str, Any]:
        views = self._views(doc)
        bodies = self._body_documents(doc)
        return {
            "table_id": doc.table_id,
            **{part: self._text(doc, part, view) for part, view in views.items()},
            "bags": {
                "head": _packed(views["head"]),
                **{f"{part}_windows": [_packed(v) for v in bodies[part]] for part in bodies},
            },
            "hub": hub,
            **self._scalars(doc),
        }

    def _count(self, docs: Sequence[IndexDocument], sign: int) -> None:
        for doc in docs:
            counted = [(self.head, self.lexical.head_view(doc))]
            counted += [(self.body, v) for vs in self._body_documents(doc).values() for v in vs]
            for stats, view in counted:
                stats.add(view) if sign > 0 else stats.remove(view)

    @staticmethod
    def _vector_row(
        table_id: int,
        kind: int,
        public: bool,
        ref: str,
        vector: np.ndarray,
        scalars: dict[str, Any],
    ) -> dict[str, Any]:
        """One row of the vectors collection (``vector`` already centered)."""
        return {
            "table_id": table_id,
            "kind": kind,
            "public": public,
            "ref": ref,
            "vector": vector.tolist(),
            **scalars,
        }

    def _vector_rows(
        self, vectors: Sequence[TableVectors], docs: dict[int, IndexDocument]
    ) -> Iterator[dict[str, Any]]:
        """The rows of new tables' vectors, centered here, one by one."""
        for item in vectors:
            if not len(item.vectors):
                continue
            scalars = self._scalars(docs[item.table_id])
            codes = np.asarray([KIND_CODES[k] for k in item.kinds], np.int8)
            centered = np.empty_like(item.vectors, dtype=np.float32)
            for code in (KIND_CODES["title"], KIND_CODES["body"], KIND_CODES["entry"]):
                mask = codes == code
                if code == KIND_CODES["title"]:
                    mask |= codes == KIND_CODES["question"]
                if mask.any():
                    centered[mask] = self.means.center(item.vectors[mask], kind=code)
            for i, vector in enumerate(centered):
                yield self._vector_row(
                    item.table_id,
                    int(codes[i]),
                    bool(item.public[i]),
                    item.refs[i],
                    vector,
                    scalars,
                )

    def _insert(self, collection: str, rows: Iterable[dict[str, Any]]) -> None:
        """Insert ``rows`` ``BATCH`` at a time, taking them from the iterable as it goes: a
        generator keeps one batch in memory, not the whole KB (at 100,000 tables the vectors
        alone, as Python lists, would be 16 GB)."""
        it = iter(rows)
        while batch := list(islice(it, BATCH)):
            self.client.insert(collection, batch)

    # --- editing --------------------------------------------------------------------------

    def load_from(
        self, engine: SearchBackend, docs: Sequence[IndexDocument], analyzer: Analyzer
    ) -> None:
        from indexer.backends.embedded import EmbeddedBackend

        assert isinstance(engine, EmbeddedBackend)
        self.lexical.analyzer = analyzer
        dense = engine.dense
        self.means = DenseIndex(self.dim, dense.mean_q, dense.mean_p, dense.mean_e)
        self.docs = {d.table_id: d for d in docs}
        self.head, self.body = TermStats(self.params), TermStats(self.params)
        self._create()
        with self.lexical.memo():
            self._count(docs, +1)
            self._insert(self.tables, (self._table_row(d, engine.hub(d.table_id)) for d in docs))
        self._insert(self.vectors, self._dense_rows(dense))

    def _dense_rows(self, dense: DenseIndex) -> Iterator[dict[str, Any]]:
        """The rows of the in-process index's live vectors (already centered), one by one;
        a table's scalar fields computed once for all its vectors."""
        scalars: dict[int, dict[str, Any]] = {}
        for r in np.flatnonzero(dense.alive).tolist():
            table_id = int(dense.table[r])
            if table_id not in scalars:
                scalars[table_id] = self._scalars(self.docs[table_id])
            yield self._vector_row(
                table_id,
                int(dense.kind[r]),
                bool(dense.public[r]),
                dense.refs[r],
                dense.vectors[r],
                scalars[table_id],
            )

    def build(
        self, docs: Sequence[IndexDocument], vectors: Sequence[TableVectors], analyzer: Analyzer
    ) -> None:
        from indexer.backends.embedded import EmbeddedBackend

        engine = EmbeddedBackend(analyzer, self.dim, self.params)
        engine.build(docs, vectors, analyzer)
        self.load_from(engine, docs, analyzer)

    def add(
        self, docs: Sequence[IndexDocument], vectors: Sequence[TableVectors], analyzer: Analyzer
    ) -> None:
        if not docs:
            return
        self.lexical.analyzer = analyzer
        self.remove([self.docs[d.table_id] for d in docs if d.table_id in self.docs])
        for doc in docs:
            self.docs[doc.table_id] = doc
        self._insert(self.vectors, self._vector_rows(vectors, self.docs))
        hubs = self._hubs([d.table_id for d in docs])
        self._count(docs, +1)
        self._insert(self.tables, [self._table_row(d, hubs.get(d.table_id, 0.0)) for d in docs])

    def _hubs(self, table_ids: list[int]) -> dict[int, float]:
        """Hub scores of these tables against every other table's title (as the embedded)."""
        if len(self.docs) < HUB_MIN_TABLES:
            return {}
        rows = self._query(self.vectors, table_ids, ["table_id", "vector"], "kind == 0")
        out = {}
        for row in rows:
            t = int(row["table_id"])
            found = self.client.search(
                self.vectors,
                data=[list(row["vector"])],
                anns_field="vector",
                limit=HUB_NEIGHBOURS,
                filter=f"kind == 0 and table_id != {t}",
                search_params={"metric_type": "IP"},
            )[0]
            if found:
                out[t] = float(np.mean([h["distance"] for h in found]))
        return out

    def remove(self, docs: Sequence[IndexDocument]) -> None:
        docs = [d for d in docs if d.table_id in self.docs]
        if not docs:
            return
        self._count(docs, -1)
        for doc in docs:
            self.docs.pop(doc.table_id, None)
        for chunk in _chunks([d.table_id for d in docs]):
            for collection in (self.tables, self.vectors):
                self.client.delete(collection, filter=f"table_id in {chunk}")

    def reanalyze(self, analyzer: Analyzer, docs: Sequence[IndexDocument]) -> None:
        self.lexical.analyzer = analyzer
        hubs = {
            int(r["table_id"]): float(r["hub"])
            for r in self._query(self.tables, [d.table_id for d in docs], ["table_id", "hub"])
        }
        for chunk in _chunks([d.table_id for d in docs]):
            self.client.delete(self.tables, filter=f"table_id in {chunk}")
        self.head, self.body = TermStats(self.params), TermStats(self.params)
        with self.lexical.memo():
            self._count(docs, +1)
            self._insert(self.tables, [self._table_row(d, hubs.get(d.table_id, 0.0)) for d in docs])

    # --- querying -------------------------------------------------------------------------

    def center(self, vectors: np.ndarray, *, kind: int = 0) -> np.ndarray:
        return self.means.center(vectors, kind=kind)

    def _query(
        self, collection: str, table_ids: Sequence[int], fields: list[str], extra: str = ""
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(table_ids))):
            expr = f"table_id in {chunk}" + (f" and {extra}" if extra else "")
            rows += self.client.query(
                collection, filter=expr, output_fields=fields, limit=QUERY_LIMIT
            )
        return rows

    @staticmethod
    def expression(filters: Filters, *, visibility: bool = True) -> str:
        """The Milvus filter of ``filters`` (scope always; visibility and validity when asked)."""
        parts = []
        if visibility and filters.now is not None:
            now = _micros(filters.now, 0)
            validity = f"valid_from <= {now} and expires > {now}"
            if filters.public_only:
                parts += ['audience == "public"', validity]
            elif not filters.include_expired:
                parts.append(validity)
        if filters.category:
            parts.append(f"category == {_quote(filters.category)}")
        if filters.package:
            q = _quote(filters.package)
            parts.append(f"(package == {q} or package_path == {q})")
        parts += [f"array_contains(tags, {_quote(normalize(t))})" for t in filters.tags]
        return " and ".join(parts)

    def _query_text(self, state: QueryState) -> str:
        if self.text == "jieba":
            return state.text
        return " ".join(_word(t) for t in state.tokens)

    def _search(
        self,
        state: QueryState,
        mode: str,
        params: CandidateParams,
        filters: Filters,
        expr: str,
    ) -> tuple[list[int], list[int]]:
        from pymilvus import AnnSearchRequest, WeightedRanker

        n = params.n
        lexical: list[int] = []
        text = self._query_text(state)
        if mode != "dense" and text.strip():
            parts = ["head", "body"] + ([] if filters.public_only else ["internal"])
            requests = [
                AnnSearchRequest(
                    data=[text],
                    anns_field=f"{part}_sparse",
                    param={"metric_type": "BM25"},
                    limit=n,
                    expr=expr or None,
                )
                for part in parts
            ]
            weights = [1.0] + [params.lexical_body] * (len(parts) - 1)
            found = self.client.hybrid_search(
                self.tables,
                requests,
                WeightedRanker(*weights, norm_score=False),
                limit=n,
                output_fields=["table_id"],
            )[0]
            lexical = [int(h["table_id"]) for h in found]
        dense: list[int] = []
        if mode != "bm25":
            vector_expr = " and ".join(
                p for p in ("public == true" if filters.public_only else "", expr) if p
            )
            found = self.client.search(
                self.vectors,
                data=[state.vector.astype(np.float32).tolist()],
                anns_field="vector",
                limit=n * 3 if filters.public_only else n,
                filter=vector_expr,
                output_fields=["table_id", "kind"],
                search_params={"metric_type": "IP"},
            )[0]
            best: dict[int, float] = {}
            for hit in found:
                entity = hit["entity"]
                t = int(entity["table_id"])
                score = float(hit["distance"]) * params.kind_weights[int(entity["kind"])]
                if t not in best or score > best[t]:
                    best[t] = score
            dense = [t for t, _ in ranking(best)][: n * 3]
        return lexical, dense

    def candidates(
        self, state: QueryState, *, mode: str, params: CandidateParams, filters: Filters
    ) -> Candidates:
        scope = self.expression(filters, visibility=False)
        lexical, dense = self._search(state, mode, params, filters, scope)
        hidden = {
            t for t in (*lexical, *dense) if t in self.docs and not filters.admits(self.docs[t])
        }
        if hidden:
            # The rules hid some of the top tables: ask again with them applied by Milvus, so
            # the pool is as full as an unfiltered one.
            lexical, dense = self._search(state, mode, params, filters, self.expression(filters))
        return Candidates(lexical, dense, hidden)

    def score(self, tables: Sequence[int], state: QueryState, *, channel: str) -> PoolScores:
        customer = channel == "customer"
        position = {t: i for i, t in enumerate(tables)}
        n = len(tables)
        head, body, covered, hub = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        tokens = state.tokens
        for row in self._query(self.tables, tables, ["table_id", "bags", "hub"]):
            i = position[int(row["table_id"])]
            bags = row["bags"]
            heads = _unpacked(bags["head"])
            head[i] = self.head.score(tokens, heads)
            for part in ("body",) if customer else ("body", "internal"):
                views = _body_views(bags, part)
                if views:
                    body[i] += max(self.body.score(tokens, view) for view in views)
            covered[i] = self.head.covered(tokens, heads)
            hub[i] = float(row["hub"])
        kinds = np.full((n, len(KINDS)), np.nan, np.float32)
        refs = [["" for _ in KINDS] for _ in tables]
        rows = self._query(
            self.vectors,
            tables,
            ["table_id", "kind", "ref", "vector"],
            "public == true" if customer else "",
        )
        if rows:
            vectors = np.asarray([r["vector"] for r in rows], np.float32)
            sims = vectors @ state.vector.reshape(-1).astype(np.float32)
            for row, sim in zip(rows, sims.tolist(), strict=True):
                i, kind = position[int(row["table_id"])], int(row["kind"])
                if np.isnan(kinds[i, kind]) or sim > kinds[i, kind]:
                    kinds[i, kind] = sim
                    refs[i][kind] = str(row["ref"])
        return PoolScores(
            kinds=kinds,
            refs=refs,
            head=head,
            body=body,
            head_attainable=self.head.max_score(tokens),
            body_attainable=self.body.max_score(tokens),
            head_covered=covered,
            hub=hub,
        )

    def hub(self, table_id: int) -> float:
        rows = self._query(self.tables, [table_id], ["hub"])
        return float(rows[0]["hub"]) if rows else 0.0

    # --- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> dict[str, Any]:
        np.save(
            directory / MEANS,
            np.vstack([self.means.mean_q, self.means.mean_p, self.means.mean_e]),
            allow_pickle=False,
        )
        state = {
            "head": self.head.to_json(),
            "body": self.body.to_json(),
            "body_windows": WINDOW_CHUNKS,  # how the body statistics counted a long answer
        }
        (directory / STATE).write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        vectors = self.client.query(self.vectors, filter="", output_fields=["count(*)"])
        return {
            "vectors": int(vectors[0]["count(*)"]),
            "terms": {"head": len(self.head.df), "body": len(self.body.df)},
            "bm25_documents": {"head": self.head.n, "body": self.body.n},
            # Where the rest lives (no credentials: ZHIKU_MILVUS_TOKEN stays in the settings).
            "milvus": {"uri": self.uri, "collections": [self.tables, self.vectors]},
            "milvus_text": self.text,
        }

    def load(
        self,
        directory: Path,
        params: dict[str, Any],
        analyzer: Analyzer,
        docs: dict[int, IndexDocument],
    ) -> None:
        rebuild = "run `kb index build` to rebuild it from the database"
        saved = params.get("milvus") or {}
        if saved.get("collections") != [self.tables, self.vectors]:
            raise IndexMismatch(
                f"The search index at {directory} was built into the Milvus collections "
                f"{saved.get('collections')}, but the settings give {self.tables}, "
                f"{self.vectors}; {rebuild}."
            )
        if params.get("milvus_text", "zhiku") != self.text:
            raise IndexMismatch(
                f"The Milvus collections were built with ZHIKU_MILVUS_ANALYZER="
                f"{params.get('milvus_text')}, but the settings give {self.text}; {rebuild}."
            )
        try:
            means = np.load(directory / MEANS, allow_pickle=False)
            state = json.loads((directory / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise IndexMismatch(
                f"The search index at {directory} is incomplete ({err}); {rebuild}."
            ) from err
        if state.get("body_windows") != WINDOW_CHUNKS:
            # Built before BM25 read long answers in windows: its statistics counted each view
            # as one document, and removing a table now would take out its windows instead.
            raise IndexMismatch(
                f"The search index at {directory} counts each answer as one BM25 document; "
                f"this Zhiku reads a long answer in windows of {WINDOW_CHUNKS} chunks; {rebuild}."
            )
        for name in (self.tables, self.vectors):
            if not self.client.has_collection(name):
                raise IndexMismatch(f"Milvus at {self.uri} has no collection {name}; {rebuild}.")
            # A restarted server, or another process on a milvus-lite file, leaves collections
            # released; searching one fails until it is loaded (a no-op when it is).
            self.client.load_collection(name)
        counted = self.client.query(self.tables, filter="", output_fields=["count(*)"])
        if int(counted[0]["count(*)"]) != len(docs):
            raise IndexMismatch(
                f"Milvus at {self.uri} holds {counted[0]['count(*)']} tables in {self.tables}, "
                f"the index at {directory} {len(docs)}; {rebuild}."
            )
        self.lexical.analyzer = analyzer
        self.means = DenseIndex(self.dim, means[0], means[1], means[2])
        self.head = TermStats.from_json(state["head"], self.params)
        self.body = TermStats.from_json(state["body"], self.params)
        self.docs = dict(docs)
