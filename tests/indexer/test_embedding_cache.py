from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.embedding_cache import EmbeddingCache
from indexer.encoders import FakeEncoder, Kind


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
