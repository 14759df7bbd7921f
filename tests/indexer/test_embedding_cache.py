"""The embedding cache: keyed by encoder, kind and text; resumable; shared by processes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.embedding_cache import EmbeddingCache
from indexer.encode_pool import EncodePool, resolve_workers
from indexer.encoders import FakeEncoder, Kind
from kb.settings import Settings


class CountingEncoder(FakeEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        self.encoded.extend(texts)
        return super().encode(texts, kind)


def test_cache_hits_survive_a_restart(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    first = cache.encode(encoder, ["改号", "换号", "改号"], "query")
    assert encoder.encoded == ["改号", "换号"]
    cache.close()
    again = EmbeddingCache(tmp_path / "emb.sqlite")
    second = again.encode(encoder, ["换号", "改号", "新文本"], "query")
    assert encoder.encoded == ["改号", "换号", "新文本"]
    np.testing.assert_array_equal(second[0], first[1])
    np.testing.assert_array_equal(second[1], first[0])
    assert again.hits == 2 and again.misses == 1


def test_kind_and_encoder_are_part_of_the_key(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    cache.encode(encoder, ["改号"], "query")
    cache.encode(encoder, ["改号"], "passage")
    other = FakeEncoder(dim=32)
    assert cache.encode(other, ["改号"], "query").shape == (1, 32)
    assert encoder.encoded == ["改号", "改号"]


class FailingEncoder(CountingEncoder):
    """Stops with an error at its ``fail_at``-th call, as a killed build would."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.fail_at = fail_at

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return super().encode(texts, kind)


TEXTS = [f"第{i}条：改号后旧号码还扣费吗" for i in range(50)]


def test_an_interrupted_encoding_resumes_from_what_was_kept(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    failing = FailingEncoder(fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(path).encode(failing, TEXTS, "passage", batch=10)
    assert failing.encoded == TEXTS[:20]  # two batches were encoded and kept
    again = CountingEncoder()
    done: list[int] = []
    vectors = EmbeddingCache(path).encode(again, TEXTS, "passage", batch=10, progress=done.append)
    assert again.encoded == TEXTS[20:]
    assert done == [20, 10, 10, 10]  # the kept ones at once, then batch by batch
    np.testing.assert_array_equal(vectors, FakeEncoder().encode(TEXTS, "passage"))


def test_a_query_vector_is_encoded_once_for_every_process_on_the_file(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    first = EmbeddingCache(tmp_path / "emb.sqlite").one(encoder, "改号后还扣费吗", "query")
    other_worker = EmbeddingCache(tmp_path / "emb.sqlite")
    second = other_worker.one(encoder, "改号后还扣费吗", "query")
    assert encoder.encoded == ["改号后还扣费吗"]
    np.testing.assert_array_equal(first, second)
    assert other_worker.hits == other_worker.misses == 0  # builds' counts only


@pytest.mark.slow
def test_worker_processes_encode_the_same_vectors_and_skip_cached_texts(tmp_path: Path) -> None:
    encoder = FakeEncoder()
    pool = EncodePool("fake", encoder.id, workers=2)
    cache = EmbeddingCache(tmp_path / "emb.sqlite", pool=pool)
    cache.encode(encoder, TEXTS[:20], "passage")  # one batch: encoded here, not in the pool
    assert pool.sent == 0
    done: list[int] = []
    vectors = cache.encode(encoder, TEXTS, "passage", batch=8, progress=done.append)
    assert pool.sent == 30  # only what the cache did not hold
    assert sum(done) == len(TEXTS) and len(done) == 1 + 4
    np.testing.assert_array_equal(vectors, encoder.encode(TEXTS, "passage"))


def test_encode_workers_setting() -> None:
    encoder = FakeEncoder()
    assert EncodePool.from_settings(Settings(encoder="fake"), encoder) is None
    pool = EncodePool.from_settings(Settings(encoder="fake", encode_workers=3), encoder)
    assert pool is not None and (pool.workers, pool.encoder_id) == (3, encoder.id)
    assert resolve_workers(0) == max(1, (os.cpu_count() or 1) - 1)
