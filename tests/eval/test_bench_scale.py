"""The scale benchmark's synthetic KB: the demo replicated with distinct codes and titles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval import bench_scale
from eval.bench_scale import variant_bundle
from indexer.documents import entry_text
from indexer.errors import IndexMismatch
from kb.text import to_simplified


def test_variants_fill_up_to_the_asked_size_with_distinct_codes_and_titles() -> None:
    bundle = variant_bundle(1000)
    tables = [t for p in bundle.packages for t in p.tables]
    assert len(tables) == bundle.table_count() == 1000
    assert len({t.code for t in tables}) == 1000
    assert len({(t.title, t.code.split("-V")[0]) for t in tables}) == 1000
    variant = next(t for t in tables if str(t.code).endswith("-V001"))
    base = next(t for t in tables if t.code == str(variant.code).removesuffix("-V001"))
    assert variant.title == f"北京个人客户：{base.title}"
    assert variant.fields == base.fields and variant.related is None


def test_a_sample_is_the_same_questions_in_their_order_every_time() -> None:
    questions = [f"q{i}" for i in range(50)]
    sample = bench_scale.sample_queries(questions, 10)
    assert len(set(sample)) == 10 and sample == bench_scale.sample_queries(questions, 10)
    assert sample == sorted(sample, key=questions.index)
    assert bench_scale.sample_queries(questions, None) == questions
    assert bench_scale.sample_queries(questions, 80) == questions
    with pytest.raises(SystemExit, match="at least 1"):
        bench_scale.sample_queries(questions, 0)


def test_a_size_below_the_demo_is_refused() -> None:
    with pytest.raises(SystemExit, match="at least"):
        variant_bundle(10)


def test_stand_in_vectors_find_the_demo_text_a_variant_varies() -> None:
    bundle = variant_bundle(300)
    variant = next(t for p in bundle.packages for t in p.tables if "-V" in str(t.code))
    base_title = variant.title.split("：", 1)[1]
    for text in (variant.title, entry_text(variant.title, "改号后原号码停止计费。")):
        match = bench_scale._LABEL.match(to_simplified(text))
        assert match is not None
        assert match.group(1) == "北京个人客户"
        assert match.group(2) == to_simplified(text).split(":", 1)[1]
    assert bench_scale._LABEL.match(to_simplified(base_title)) is None
    label = bench_scale._unit("北京个人客户", 384)
    assert label.shape == (384,) and abs(float(label @ label) - 1) < 1e-5
    np.testing.assert_array_equal(label, bench_scale._unit("北京个人客户", 384))


def test_an_index_built_for_another_backend_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "zhiku.db").touch()  # a kept directory: its queries are measured again

    def mismatched(*args: object, **kwargs: object) -> None:
        raise IndexMismatch("The search index was built for the milvus search backend")

    monkeypatch.setattr(bench_scale, "run", mismatched)
    assert bench_scale.main(["--keep", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "error: The search index was built for the milvus search backend"
    assert not any("Traceback" in line for line in err)
