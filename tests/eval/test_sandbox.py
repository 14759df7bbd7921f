"""The throwaway KB of a dataset, built for real (fake encoder): what its records keep."""

from __future__ import annotations

from pathlib import Path

from eval.datasets import load_dataset
from eval.sandbox import temporary_kb
from kb.settings import Settings
from tests.eval.toy import write_toy


def test_records_keep_what_self_tuning_chose_and_the_cache_use(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    cache = tmp_path / "cache" / "embeddings.sqlite"
    settings = Settings(encoder="fake", data_dir=tmp_path / "unused", embedding_cache=cache)
    with temporary_kb(dataset, settings) as kb:
        saved = kb.open_service().params
        params = kb.index_params
        first = kb.embedding_cache
        variant = kb.rebuild({"vector_kinds": ["title", "question", "body"], "rerank": False})
        variant_saved = variant.open_service().params
    # copied from the index's own params.json: what self-tuning chose and from what
    assert params["tuning"] == saved["tuning"]
    assert sum(params["tuning"]["pseudo_queries"].values()) > 0
    assert params["reranker"] == {
        "status": saved["reranker"]["status"],
        "scale": saved["reranker"]["scale"],
    }
    assert params["calibration"] == {
        k: v for k, v in saved["calibration"].items() if k != "reliability"
    }
    assert set(params["calibration"]["thresholds"]) == {"agent", "customer"}
    assert params["vector_kinds"] == ["body", "entry", "latent", "question", "title"]
    assert params["fusion"] == saved["fusion"]
    assert params["settings"] == {
        "vector_kinds": ["title", "question", "body", "entry", "latent"],
        "lexical_channels": ["w", "c", "b", "p"],
        "self_tune": True,
        "rerank": True,
    }
    # a cold cache: everything encoded once; the variant re-indexes from the cache
    assert first["path"] == str(cache) and first["misses"] > 0
    assert variant.embedding_cache["misses"] == 0 and variant.embedding_cache["hits"] > 0
    assert variant.index_params["settings"]["vector_kinds"] == ["title", "question", "body"]
    assert variant.index_params["settings"]["rerank"] is False
    assert variant.index_params["vector_kinds"] == variant_saved["vector_kinds"]
    assert variant.index_params["vector_kinds"] == ["body", "question", "title"]
    assert variant.import_s == 0.0
    # a second run of the same dataset encodes nothing: every text the first one encoded
    # (misses count distinct texts, hits every text found) is found
    with temporary_kb(dataset, settings) as again:
        assert again.embedding_cache["misses"] == 0
        assert again.embedding_cache["hits"] >= first["hits"] + first["misses"]
