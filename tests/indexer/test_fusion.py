from __future__ import annotations

import pytest

from indexer.fusion import FusionParams, blend, dense_scores, hybrid_scores, minmax, rrf


def test_rrf_exact_values() -> None:
    fused = rrf([[(1, 0.9), (2, 0.5)], [(2, 7.0), (3, 1.0)]], k=60)
    assert fused[0] == (2, pytest.approx(1 / 62 + 1 / 61))
    assert dict(fused)[1] == pytest.approx(1 / 61)
    assert dict(fused)[3] == pytest.approx(1 / 62)


def test_rrf_weights_and_tie_order() -> None:
    fused = rrf([[(1, 1.0)], [(2, 1.0)]], k=10, weights=[2.0, 1.0])
    assert fused == [(1, pytest.approx(2 / 11)), (2, pytest.approx(1 / 11))]
    assert rrf([[(5, 1.0)], [(4, 1.0)]], k=10) == [
        (4, pytest.approx(1 / 11)),
        (5, pytest.approx(1 / 11)),
    ]


def test_minmax() -> None:
    assert minmax({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}
    assert minmax({1: 3.0, 2: 3.0}) == {1: 1.0, 2: 1.0}
    assert minmax({}) == {}


def test_blend_weights_missing_items() -> None:
    fused = blend({"dense": {1: 0.8, 2: 0.6}, "lex": {2: 1.0}}, {"dense": 1.0, "lex": 0.5})
    assert fused == [(2, pytest.approx(1.1)), (1, pytest.approx(0.8))]


def test_hybrid_and_dense_scores() -> None:
    params = FusionParams(dense_weight=1.0, lexical_weight=0.3, hub_weight=0.5)
    fused = hybrid_scores({1: 0.6, 2: 0.5}, {1: 0.2, 2: 0.0}, {2: 0.5, 3: 1.0}, params)
    assert fused == {
        1: pytest.approx(0.6 - 0.1),
        2: pytest.approx(0.5 + 0.15),
        3: pytest.approx(0.3),
    }
    assert dense_scores({1: 0.6}, {1: 0.2}, params) == {1: pytest.approx(0.5)}


def test_params_round_trip_ignores_unknown_keys() -> None:
    params = FusionParams(lexical_weight=0.45)
    assert FusionParams.from_json({**params.to_json(), "future": 1}) == params


def test_a_title_weighs_what_was_chosen_and_an_index_saved_before_reads_one() -> None:
    params = FusionParams(title_weight=0.7, body_weight=0.9)
    assert params.kind_weights == (0.7, 1.0, 0.9, 1.0)  # title, question, body, entry
    saved_before = {k: v for k, v in FusionParams().to_json().items() if k != "title_weight"}
    assert FusionParams.from_json(saved_before).title_weight == 1.0
