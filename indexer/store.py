"""The index on disk: a self-describing directory, written atomically, no pickle.

    index/
      params.json       format version, encoder id and dimension, analyzer hash, content
                        hash, UTC build/update times, counts, vector kinds, fusion/BM25
                        parameters, calibration, reranker status, what self-tuning chose,
                        the slot maps (JSON, ensure_ascii=False)
      documents.json    the indexed documents (live revisions, visibility metadata)
      vocabulary.json   BM25 terms of the head and body indexes, in term-id order
      refs.json         what each dense vector stands for (title, q0, answer, ...)
      reranker.txt      the reranker in LightGBM's text format (when one was kept)
      *.npy             BM25 postings (CSC, and each slot's terms), dense vectors, ids, hub
                        scores, means
      dense.faiss       the FAISS index over the live vectors (when it holds exactly them)

Loaded with ``mmap`` (``ZHIKU_INDEX_MMAP``, the default), the postings, the vectors and the
FAISS codes are read-only file mappings: the worker processes of one host share one copy in
the page cache instead of holding one each. A save writes a new directory and renames it into
place, so a mapping of the old files stays valid (Linux keeps a mapped file until unmapped).

A directory written by another format version, encoder or dimension is refused with the
command that fixes it; the service rebuilds the lexical part by itself when only the
dictionary changed (that needs no encoder work).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from indexer.analysis import Analyzer
from indexer.bm25 import BM25Params
from indexer.calibration import Calibration
from indexer.dense import DenseIndex
from indexer.documents import IndexDocument
from indexer.embedding_cache import EmbeddingCache
from indexer.encoders import Encoder
from indexer.errors import IndexMismatch, IndexNotBuilt
from indexer.fusion import FusionParams
from indexer.index import HybridIndex
from indexer.lexical import ARRAY_NAMES as _ARRAYS_LEXICAL
from indexer.lexical import LexicalIndex
from indexer.rerank import Reranker

FORMAT_VERSION = 2
PARAMS = "params.json"
RERANKER = "reranker.txt"
FAISS = "dense.faiss"
# Written since the mmap loader; an older directory without them is read the slower way.
_ARRAYS_OPTIONAL = ("head_bm25_row_terms", "body_bm25_row_terms")
_ARRAYS_DENSE = (
    "dense_vectors",
    "dense_ids",
    "dense_table",
    "dense_kind",
    "dense_public",
    "dense_mean_q",
    "dense_mean_p",
    "dense_mean_e",
    "hub_table",
    "hub_score",
)
REBUILD = "run `kb index build` to rebuild it from the database"


def content_hash(docs: dict[int, IndexDocument]) -> str:
    digest = hashlib.sha256()
    for table_id in sorted(docs):
        digest.update(f"{table_id}:{docs[table_id].stamp}\n".encode())
    return digest.hexdigest()[:16]


def _write_json(path: Path, data: Any, *, indent: int | None = None) -> None:
    # Indented JSON goes through the json module's pure-Python encoder, ~4× slower than the C
    # one; only params.json, the file people read, is indented (the rest load back the same).
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent), encoding="utf-8")


def save(
    index: HybridIndex,
    directory: Path,
    *,
    built_at: str | None = None,
    package_stamps: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``index`` to ``directory`` atomically (a reader sees the old or the new one)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    terms, lexical_arrays = index.lexical.to_arrays()
    refs, dense_arrays = index.dense.to_arrays()
    for name, array in {**lexical_arrays, **dense_arrays}.items():
        np.save(tmp / f"{name}.npy", array, allow_pickle=False)
    index.dense.save_faiss(tmp / FAISS)
    if index.reranker.model is not None:
        (tmp / RERANKER).write_text(index.reranker.model, encoding="utf-8")
    _write_json(tmp / "vocabulary.json", terms)
    _write_json(tmp / "refs.json", refs)
    _write_json(tmp / "documents.json", [d.to_json() for d in index.docs.values()])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    params = {
        "format_version": FORMAT_VERSION,
        "encoder": index.encoder.id,
        "dim": index.encoder.dim,
        "analyzer_hash": index.analyzer.hash,
        "content_hash": content_hash(index.docs),
        "built_at": built_at or now,
        "updated_at": now,
        "counts": {
            "tables": len(index.docs),
            "vectors": int(index.dense.alive.sum()),
            "terms": {name: len(t) for name, t in terms.items()},
            "bm25_documents": {
                "head": index.lexical.head.size,
                "body": index.lexical.body.size,
            },
        },
        "vector_kinds": sorted(index.kinds),
        "fusion": index.fusion.to_json(),
        "bm25": vars(index.lexical.params),
        "calibration": index.calibration.to_json(),
        "reranker": index.reranker.to_json(),
        "tuning": index.tuning,
        "slots": index.lexical.slot_maps_json(),
        "package_stamps": package_stamps or {},
    }
    _write_json(tmp / PARAMS, params, indent=1)
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    # Worker processes of one server save the same directory: one swap at a time.
    with _locked(directory.with_name(f".{directory.name}.lock")):
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
    if old.exists():
        shutil.rmtree(old)
    return params


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_params(directory: Path) -> dict[str, Any]:
    path = directory / PARAMS
    if not path.exists():
        raise IndexNotBuilt(f"No search index at {directory}; run `kb index build` first.")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IndexMismatch(
            f"The search index at {directory} is unreadable ({err}); {REBUILD}."
        ) from err
    return data


def check_params(
    params: dict[str, Any], directory: Path, encoder: Encoder, kinds: Sequence[str] | None = None
) -> None:
    """Refuse an index this code, this encoder or these vector kinds cannot use, saying how."""
    found = params.get("format_version")
    if found != FORMAT_VERSION:
        raise IndexMismatch(
            f"The search index at {directory} has format version {found}; this Zhiku reads "
            f"version {FORMAT_VERSION}. {REBUILD[0].upper()}{REBUILD[1:]}."
        )
    if params.get("encoder") != encoder.id or params.get("dim") != encoder.dim:
        raise IndexMismatch(
            f"The search index at {directory} was built with encoder {params.get('encoder')} "
            f"(dimension {params.get('dim')}), but ZHIKU_ENCODER gives {encoder.id} "
            f"(dimension {encoder.dim}). Either set ZHIKU_ENCODER back, or {REBUILD} "
            "(embeddings are cached per encoder)."
        )
    if kinds is not None and sorted(params.get("vector_kinds", [])) != sorted(kinds):
        raise IndexMismatch(
            f"The search index at {directory} holds the vector kinds "
            f"{', '.join(params.get('vector_kinds', []))}, but ZHIKU_VECTOR_KINDS gives "
            f"{', '.join(kinds)}. Either set it back, or {REBUILD}."
        )


def load(
    directory: Path,
    encoder: Encoder,
    analyzer: Analyzer,
    cache: EmbeddingCache | None = None,
    *,
    kinds: Sequence[str] | None = None,
    mmap: bool = False,
) -> tuple[HybridIndex, dict[str, Any]]:
    """The index in ``directory``; raises IndexNotBuilt / IndexMismatch.

    With ``mmap``, arrays and FAISS codes are mapped read-only rather than read (see above).
    """
    params = read_params(directory)
    check_params(params, directory, encoder, kinds)
    mode: Literal["r"] | None = "r" if mmap else None
    try:
        arrays = {
            name: np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False)
            for name in (*_ARRAYS_LEXICAL, *_ARRAYS_DENSE)
        }
        for name in _ARRAYS_OPTIONAL:
            if (directory / f"{name}.npy").exists():
                arrays[name] = np.load(
                    directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False
                )
        model_path = directory / RERANKER
        model = model_path.read_text(encoding="utf-8") if model_path.exists() else None
        terms = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
        refs = json.loads((directory / "refs.json").read_text(encoding="utf-8"))
        docs = json.loads((directory / "documents.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IndexMismatch(
            f"The search index at {directory} is incomplete ({err}); {REBUILD}."
        ) from err
    bm25_params = BM25Params(**params["bm25"])
    index = HybridIndex(
        encoder,
        analyzer,
        cache=cache,
        fusion=FusionParams.from_json(params["fusion"]),
        calibration=Calibration.from_json(params["calibration"]),
        reranker=Reranker.from_json(params.get("reranker", {}), model),
        bm25_params=bm25_params,
        kinds=params.get("vector_kinds", ()),
    )
    index.tuning = dict(params.get("tuning") or {})
    index.lexical = LexicalIndex.from_arrays(analyzer, bm25_params, terms, arrays, params["slots"])
    index.dense = DenseIndex.from_arrays(refs, arrays)
    try:
        index.dense.load_faiss(directory / FAISS, mmap=mmap)
    except RuntimeError:  # a FAISS file it cannot read: the first search builds the index
        pass
    index.docs = {d["table_id"]: IndexDocument.from_json(d) for d in docs}
    index.analyzer.add_words(index._vocabulary(index.docs.values()))
    return index, params
