"""The index on disk: a self-describing directory, written atomically, no pickle.

    index/
      params.json       format version, encoder id and dimension, analyzer hash, content
                        hash, UTC build/update times, counts, vector kinds, fusion/BM25
                        parameters, calibration, reranker status, what self-tuning chose,
                        the slot maps (JSON, ensure_ascii=False)
      documents.json    the indexed documents (live revisions, visibility metadata)
      reranker.txt      the reranker in LightGBM's text format (when one was kept)
      latent.npy        each table's latent terms (indexer.latent), rows mapped in params.json
    and what the search backend keeps locally (:meth:`SearchBackend.save`); the embedded one:
      vocabulary.json   BM25 terms of the head and body indexes, in term-id order
      refs.json         what each dense vector stands for (title, q0, answer, ...)
      *.npy             BM25 postings (CSC, and each slot's terms), dense vectors, ids, hub
                        scores, means
      dense.faiss       the FAISS index over the saved vectors (the live ones; an HNSW graph
                        also its removed ones, marked dead, while they are few)

Loaded with ``mmap`` (``ZHIKU_INDEX_MMAP``, the default), the embedded backend's postings,
vectors and FAISS codes are read-only file mappings: the worker processes of one host share one
copy in the page cache instead of holding one each. A save writes a new directory and renames it
into place, so a mapping of the old files stays valid (Linux keeps a mapped file until unmapped).

A directory written by another format version, encoder or dimension is refused with the
command that fixes it; the service rebuilds the lexical part by itself when only the
dictionary changed (that needs no encoder work).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from indexer.analysis import Analyzer
from indexer.backends.base import SearchBackend
from indexer.backends.embedded import EmbeddedBackend
from indexer.bm25 import BM25Params
from indexer.calibration import Calibration
from indexer.documents import IndexDocument
from indexer.embedding_cache import EmbeddingCache
from indexer.encoders import Encoder
from indexer.errors import IndexMismatch, IndexNotBuilt
from indexer.fusion import FusionParams
from indexer.index import HybridIndex
from indexer.latent import LatentStore
from indexer.rerank import Reranker
from kb.clock import utcnow

P = ParamSpec("P")
R = TypeVar("R")

FORMAT_VERSION = 2
PARAMS = "params.json"
RERANKER = "reranker.txt"
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


def state_digest(
    index: HybridIndex, package_stamps: dict[str, str], content: str | None = None
) -> str:
    """What a save of ``index`` would hold, in short: the documents, the dictionary, the
    engine and every tuned parameter (not the times). Two worker processes that applied the
    same changes and tuning have the same digest, and the second need not write the files.
    ``content``: :func:`content_hash` of its documents, when the caller has it."""
    parts = [
        FORMAT_VERSION,
        index.encoder.id,
        index.analyzer.hash,
        content or content_hash(index.docs),
        index.backend.name,
        sorted(index.kinds),
        index.fusion.to_json(),
        vars(index.bm25_params),
        index.calibration.to_json(),
        index.reranker.to_json(),
        index.reranker.model or "",
        index.tuning,
        package_stamps,
    ]
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(
    index: HybridIndex,
    directory: Path,
    *,
    built_at: str | None = None,
    package_stamps: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``index`` to ``directory`` atomically (a reader sees the old or the new one)."""
    params, _ = _save(index, directory, built_at, package_stamps, unless_saved=False)
    return params


def save_unless_saved(
    index: HybridIndex,
    directory: Path,
    *,
    built_at: str | None = None,
    package_stamps: dict[str, str] | None = None,
) -> tuple[dict[str, Any], bool]:
    """:func:`save`, unless ``directory`` already holds this state (:func:`state_digest`):
    then nothing is written. Returns the parameters on disk and whether they were written."""
    return _save(index, directory, built_at, package_stamps, unless_saved=True)


def _save(
    index: HybridIndex,
    directory: Path,
    built_at: str | None,
    package_stamps: dict[str, str] | None,
    *,
    unless_saved: bool,
) -> tuple[dict[str, Any], bool]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    stamps = package_stamps or {}
    content = content_hash(index.docs)  # one pass over the documents, for both uses
    state = state_digest(index, stamps, content)
    # Worker processes of one server save the same directory: one save at a time, and a
    # worker whose state the directory already holds writes nothing.
    with _locked(directory.with_name(f".{directory.name}.lock")):
        if unless_saved:
            saved = _saved(directory)
            if saved is not None and saved.get("state") == state:
                return saved, False
        tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        params = _write(index, tmp, state, content, built_at, stamps)
        # Its own name: two threads of a process may save one after the other (the deferred
        # write and a re-tune's), and the first removes its old copy after the lock.
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
    if old.exists():
        shutil.rmtree(old)
    return params, True


def _saved(directory: Path) -> dict[str, Any] | None:
    try:
        return read_params(directory)
    except (IndexNotBuilt, IndexMismatch):
        return None


def _write(
    index: HybridIndex,
    tmp: Path,
    state: str,
    content: str,
    built_at: str | None,
    package_stamps: dict[str, str],
) -> dict[str, Any]:
    engine = dict(index.backend.save(tmp))
    if index.reranker.model is not None:
        (tmp / RERANKER).write_text(index.reranker.model, encoding="utf-8")
    _write_json(tmp / "documents.json", [d.to_json() for d in index.docs.values()])
    latent = index.latent.save(tmp) if index.latent is not None else None
    now = utcnow().isoformat(timespec="seconds")
    params = {
        "format_version": FORMAT_VERSION,
        "encoder": index.encoder.id,
        "dim": index.encoder.dim,
        "analyzer_hash": index.analyzer.hash,
        "content_hash": content,
        "state": state,
        "built_at": built_at or now,
        "updated_at": now,
        "backend": index.backend.name,
        "counts": {
            "tables": len(index.docs),
            "vectors": engine.pop("vectors"),
            "terms": engine.pop("terms"),
            "bm25_documents": engine.pop("bm25_documents"),
        },
        "vector_kinds": sorted(index.kinds),
        "fusion": index.fusion.to_json(),
        "bm25": vars(index.bm25_params),
        "calibration": index.calibration.to_json(),
        "reranker": index.reranker.to_json(),
        "tuning": index.tuning,
        "latent": latent,
        **engine,  # the embedded engine's slot maps; another's connection (no secrets)
        "package_stamps": package_stamps,
    }
    _write_json(tmp / PARAMS, params, indent=1)
    return params


def _reranker(directory: Path, params: dict[str, Any]) -> Reranker:
    try:
        model_path = directory / RERANKER
        model = model_path.read_text(encoding="utf-8") if model_path.exists() else None
        return Reranker.from_json(params.get("reranker", {}), model).ready()
    except OSError as err:
        raise IndexMismatch(
            f"The search index at {directory} is incomplete ({err}); {REBUILD}."
        ) from err
    except ValueError as err:
        raise IndexMismatch(f"The search index at {directory}: {err}; {REBUILD}.") from err


@dataclass(frozen=True)
class SavedTuning:
    """What self-tuning chose, as saved in an index directory, and for which documents."""

    content_hash: str
    fusion: FusionParams
    calibration: Calibration
    reranker: Reranker
    tuning: dict[str, Any]


def saved_tuning(directory: Path) -> SavedTuning | None:
    """The tuning saved in ``directory`` (None: no readable index there)."""
    try:
        params = read_params(directory)
        return SavedTuning(
            content_hash=str(params["content_hash"]),
            fusion=FusionParams.from_json(params["fusion"]),
            calibration=Calibration.from_json(params["calibration"]),
            reranker=_reranker(directory, params),
            tuning=dict(params.get("tuning") or {}),
        )
    except (IndexNotBuilt, IndexMismatch, KeyError, TypeError, ValueError):
        return None


@contextmanager
def unswapped(directory: Path) -> Iterator[None]:
    """No save swaps ``directory`` meanwhile (any process of the host): to read its files as
    one directory."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _locked(directory.with_name(f".{directory.name}.lock")):
        yield


@contextmanager
def tuning_turn(directory: Path) -> Iterator[None]:
    """One re-tune at a time among the processes that serve ``directory`` (the workers of one
    ``kb serve``): the next one waits, then finds the result saved (blocks; take it in a
    background thread)."""
    with _locked(directory.with_name(f".{directory.name}.tune.lock")):
        yield


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise IndexMismatch(
            f"The search index at {directory} is unreadable ({err}); {REBUILD}."
        ) from err
    if not isinstance(data, dict):
        raise IndexMismatch(
            f"The search index at {directory} is unreadable ({PARAMS} holds no object); {REBUILD}."
        )
    return data


def saved_bm25(directory: Path) -> BM25Params | None:
    """The BM25 parameters an index directory was built with (None: no readable index)."""
    try:
        return BM25Params(**read_params(directory)["bm25"])
    except (IndexNotBuilt, IndexMismatch, KeyError, TypeError):
        return None


def check_params(
    params: dict[str, Any],
    directory: Path,
    encoder: Encoder | None,
    kinds: Sequence[str] | None = None,
    backend: str | None = None,
) -> None:
    """Refuse an index this code, this encoder, these vector kinds or this backend cannot use,
    saying how (``encoder`` None: not checked, as before a server loads its model)."""
    found = params.get("format_version")
    if found != FORMAT_VERSION:
        raise IndexMismatch(
            f"The search index at {directory} has format version {found}; this Zhiku reads "
            f"version {FORMAT_VERSION}. {REBUILD[0].upper()}{REBUILD[1:]}."
        )
    if encoder is not None and (
        params.get("encoder") != encoder.id or params.get("dim") != encoder.dim
    ):
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
    found_backend = params.get("backend", "embedded")
    if backend is not None and found_backend != backend:
        raise IndexMismatch(
            f"The search index at {directory} was built for the {found_backend} search backend, "
            f"but ZHIKU_SEARCH_BACKEND gives {backend}. Either set it back, or {REBUILD}."
        )


def _parts_missing_refused(
    read: Callable[Concatenate[Path, P], R],
) -> Callable[Concatenate[Path, P], R]:
    """``read`` of an index directory, a params.json of this version lacking a part refused
    with the fix (a KeyError or TypeError traceback at the CLI)."""

    @functools.wraps(read)
    def checked(directory: Path, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return read(directory, *args, **kwargs)
        except (KeyError, TypeError) as err:
            raise IndexMismatch(
                f"The search index at {directory} is incomplete ({PARAMS} lacks {err}); {REBUILD}."
            ) from err

    return checked


@_parts_missing_refused
def load(
    directory: Path,
    encoder: Encoder,
    analyzer: Analyzer,
    cache: EmbeddingCache | None = None,
    *,
    kinds: Sequence[str] | None = None,
    backend: SearchBackend | None = None,
    mmap: bool = False,
) -> tuple[HybridIndex, dict[str, Any]]:
    """The index in ``directory`` (``backend``: the engine to read; None: the embedded one,
    its arrays mapped read-only with ``mmap``, see above); raises IndexNotBuilt / IndexMismatch.

    A save may swap the directory meanwhile: read it within :func:`unswapped`."""
    params = read_params(directory)
    backend = backend or EmbeddedBackend(
        analyzer, encoder.dim, BM25Params(**params["bm25"]), mmap=mmap
    )
    check_params(params, directory, encoder, kinds, backend.name)
    try:
        docs = json.loads((directory / "documents.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IndexMismatch(
            f"The search index at {directory} is incomplete ({err}); {REBUILD}."
        ) from err
    bm25_params = BM25Params(**params["bm25"])
    reranker = _reranker(directory, params)
    index = HybridIndex(
        encoder,
        analyzer,
        cache=cache,
        fusion=FusionParams.from_json(params["fusion"]),
        calibration=Calibration.from_json(params["calibration"]),
        reranker=reranker,
        bm25_params=bm25_params,
        kinds=params.get("vector_kinds", ()),
        backend=backend,
    )
    index.tuning = dict(params.get("tuning") or {})
    index.docs = {d["table_id"]: IndexDocument.from_json(d) for d in docs}
    for doc in index.docs.values():
        # Asked of every candidate of every query: made now, with the rest of what a load
        # makes, rather than one by one across the first thousands of queries.
        doc.window()
        doc.body_chars()
    index.analyzer.add_words(index._vocabulary(index.docs.values()))
    backend.load(directory, params, analyzer, index.docs)
    if index.latent is not None:
        index.latent = _latent(directory, params, mmap=mmap)
    return index, params


def _latent(directory: Path, params: dict[str, Any], *, mmap: bool) -> LatentStore:
    meta = params.get("latent")
    if not meta:
        raise IndexMismatch(f"The search index at {directory} holds no latent terms; {REBUILD}.")
    try:
        return LatentStore.load(directory, meta, mmap=mmap)
    except (OSError, ValueError) as err:
        raise IndexMismatch(
            f"The search index at {directory} is incomplete ({err}); {REBUILD}."
        ) from err
