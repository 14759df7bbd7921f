"""Embeddings cached by (encoder id, kind, SHA-256 of the text) in a small SQLite file.

A restart, a rebuild or a small edit re-encodes only texts the cache has not seen. Vectors are
stored as raw little-endian float32 bytes (no pickle).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.encoders import Encoder, Kind

if TYPE_CHECKING:
    from indexer.encode_pool import EncodePool

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    encoder TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (encoder, kind, sha)
) WITHOUT ROWID
"""


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Persistent vector cache; ``path=None`` keeps it in memory (tests, benchmarks)."""

    def __init__(self, path: Path | None, *, pool: EncodePool | None = None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A cache: a crash may lose the last commits (they are encoded again), never corrupt
        # it under WAL. Without an fsync per commit, a new query's vector costs ~0.1 ms to
        # keep, not a disk flush.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.pool = pool  # bulk encoding in worker processes (indexer.encode_pool)

    def close(self) -> None:
        self._conn.close()

    def get_many(self, encoder_id: str, kind: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(shas), 500):
                chunk = list(shas[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT sha, vector FROM embeddings WHERE encoder=? AND kind=? AND sha IN ({marks})",
                    [encoder_id, kind, *chunk],
                )
                for sha, blob in rows:
                    found[sha] = np.frombuffer(blob, dtype="<f4")
        return found

    def put_many(self, encoder_id: str, kind: str, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                [
                    (encoder_id, kind, sha, np.asarray(v, dtype="<f4").tobytes())
                    for sha, v in items.items()
                ],
            )

    def one(self, encoder: Encoder, text: str, kind: Kind) -> np.ndarray:
        """The vector of one text, from the cache or encoded and kept (not counted in
        :attr:`hits` / :attr:`misses`, which describe builds): the query path's second level,
        shared by every process on this file, so that a query one worker encoded is a lookup
        for the others and survives restarts."""
        sha = text_sha(text)
        found = self.get_many(encoder.id, kind, [sha]).get(sha)
        if found is not None and found.shape[0] == encoder.dim:
            return found
        vector: np.ndarray = encoder.encode([text], kind)[0]
        self.put_many(encoder.id, kind, {sha: vector})
        return vector

    def encode(
        self,
        encoder: Encoder,
        texts: Sequence[str],
        kind: Kind,
        *,
        batch: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for ``texts``, encoding only the ones not cached; ``progress(n)`` per batch."""
        out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
        shas = [text_sha(t) for t in texts]
        cached = self.get_many(encoder.id, kind, sorted(set(shas)))
        todo: dict[str, str] = {}
        for row, sha in enumerate(shas):
            vector = cached.get(sha)
            if vector is not None and vector.shape[0] == encoder.dim:
                out[row] = vector
            else:
                todo.setdefault(sha, texts[row])
        self.hits += len(texts) - sum(1 for s in shas if s in todo)
        self.misses += len(todo)
        if progress is not None:
            progress(len(texts) - sum(1 for s in shas if s in todo))
        new: dict[str, np.ndarray] = {}
        pending = list(todo.items())
        chunks = [pending[start : start + batch] for start in range(0, len(pending), batch)]
        # Each batch is kept as it arrives: an interrupted build resumes from here.
        for i, vectors in self._batches(encoder, chunks, kind):
            fresh = {sha: vectors[row] for row, (sha, _) in enumerate(chunks[i])}
            new.update(fresh)
            self.put_many(encoder.id, kind, fresh)
            if progress is not None:
                progress(sum(1 for s in shas if s in fresh))
        for row, sha in enumerate(shas):
            if sha in new:
                out[row] = new[sha]
        return out

    def _batches(
        self, encoder: Encoder, chunks: list[list[tuple[str, str]]], kind: Kind
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(i, vectors of chunks[i])``: in worker processes when there is a pool for this
        encoder and more than one batch of work, else here in order."""
        pool = self.pool
        if pool is not None and pool.encoder_id == encoder.id and len(chunks) > 1:
            yield from pool.encode_batches([[t for _, t in c] for c in chunks], kind)
            return
        for i, chunk in enumerate(chunks):
            yield i, encoder.encode([t for _, t in chunk], kind)
