"""The encoder benchmark: every kernel the CPU runs timed on a set's questions, and how far their
vectors lie apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import bench_query_pass
from indexer.latent import TOP_K
from indexer.native import query_engine

pytestmark = pytest.mark.slow


def _set(root: Path) -> Path:
    root.mkdir()
    entry = {"id": "e1", "question": "信用卡年费怎么免", "answer": "刷满六次免次年年费。"}
    (root / "entries.jsonl").write_text(json.dumps(entry, ensure_ascii=False) + "\n")
    queries = [
        {"qid": f"q{i}", "query": q, "relevant": ["e1"]}
        for i, q in enumerate(["年费能免吗", "信用卡年费怎么收", "退款多久到账" * 200])
    ]
    (root / "queries.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries)
    )
    return root


def test_each_kernel_is_timed_and_the_engine_is_left_on_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = query_engine(TOP_K)
    if engine is None:
        pytest.skip("no fused query pass is built here")
    best = engine.use_kernel(None)
    code = bench_query_pass.main([str(_set(tmp_path / "toy")), "--rounds", "2", "--json"])
    assert code == 0
    found = json.loads(capsys.readouterr().out)["sets"]["toy"]
    assert list(found["ms_per_question"]) == bench_query_pass.kernels(engine)
    assert all(t["fastest"] <= t["median"] for t in found["ms_per_question"].values())
    assert found["questions"] == 3 and found["one_pass"] == 2  # the long one needs two passes
    assert found["lowest_cosine_between_kernels"] > 0.9999
    assert engine.kernel == best


def test_a_set_that_is_not_one_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if query_engine(TOP_K) is None:
        pytest.skip("no fused query pass is built here")
    assert bench_query_pass.main([str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
