"""The scale benchmark's synthetic KB: the demo replicated with distinct codes and titles."""

from __future__ import annotations

import pytest

from eval.bench_scale import variant_bundle


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


def test_a_size_below_the_demo_is_refused() -> None:
    with pytest.raises(SystemExit, match="at least"):
        variant_bundle(10)
