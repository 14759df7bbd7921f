"""Exact values of the metrics, with ties and several relevant entries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval import metrics
from eval.metrics import (
    Group,
    abstention,
    bootstrap_ci,
    ece_if_calibrated,
    hard_negative_outranks,
    latency_summary,
    ndcg_at,
    percentile,
    query_metrics,
    recall_at,
    reciprocal_rank,
    reliability,
    tie_groups,
)
from indexer.calibration import expected_calibration_error, reliability_table

PLAIN = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6), ("e", 0.5), ("f", 0.4), ("g", 0.3)]
TIED = [("a", 0.9), ("b", 0.5), ("c", 0.5), ("d", 0.5), ("e", 0.1)]


def test_tie_groups_join_equal_consecutive_scores_only() -> None:
    ranking = [("a", 1.0), ("b", 0.5), ("c", 0.5), ("d", 0.2), ("e", 0.5), ("f", None), ("g", None)]
    assert tie_groups(ranking) == [
        Group(1, ("a",)),
        Group(2, ("b", "c")),
        Group(4, ("d",)),
        Group(5, ("e",)),
        Group(6, ("f",)),
        Group(7, ("g",)),
    ]


def test_single_relevant_entry() -> None:
    assert recall_at(PLAIN, {"c"}, 1) == 0.0
    assert recall_at(PLAIN, {"c"}, 3) == 1.0
    assert reciprocal_rank(PLAIN, {"c"}, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank(PLAIN, {"c"}, 2) == 0.0
    assert ndcg_at(PLAIN, {"c"}, 10) == pytest.approx(1 / math.log2(4))
    assert reciprocal_rank(PLAIN, {"zzz"}, 10) == 0.0
    assert ndcg_at(PLAIN, {"zzz"}, 10) == 0.0


def test_several_relevant_entries() -> None:
    relevant = {"a", "c", "g"}
    assert recall_at(PLAIN, relevant, 1) == pytest.approx(1 / 3)
    assert recall_at(PLAIN, relevant, 5) == pytest.approx(2 / 3)
    assert recall_at(PLAIN, relevant, 10) == 1.0
    assert reciprocal_rank(PLAIN, relevant, 10) == 1.0
    dcg = 1 + 1 / math.log2(4) + 1 / math.log2(8)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(PLAIN, relevant, 10) == pytest.approx(dcg / ideal)
    # at k=2 only "a" counts and the ideal holds two relevant entries
    assert ndcg_at(PLAIN, relevant, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # more relevant entries than the cutoff: the ideal list is cut at k
    assert ndcg_at([("a", 1.0)], {"a", "b"}, 1) == 1.0


def test_relevant_entry_tied_with_two_others_gets_the_expected_value() -> None:
    # "c" shares ranks 2-4 with b and d: at each with probability 1/3
    assert reciprocal_rank(TIED, {"c"}, 10) == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    assert recall_at(TIED, {"c"}, 1) == 0.0
    assert recall_at(TIED, {"c"}, 2) == pytest.approx(1 / 3)
    assert recall_at(TIED, {"c"}, 3) == pytest.approx(2 / 3)
    assert recall_at(TIED, {"c"}, 4) == 1.0
    expected = (1 / math.log2(3) + 1 / math.log2(4) + 1 / math.log2(5)) / 3
    assert ndcg_at(TIED, {"c"}, 10) == pytest.approx(expected)
    # the cutoff falls inside the group: only rank 2 and 3 count
    assert ndcg_at(TIED, {"c"}, 3) == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)
    assert reciprocal_rank(TIED, {"c"}, 3) == pytest.approx((1 / 2 + 1 / 3) / 3)


def test_two_relevant_entries_in_one_tie_group() -> None:
    # b, c relevant among b, c, d at ranks 2-4: first relevant at rank 2 w.p. 2/3, rank 3 w.p. 1/3
    assert reciprocal_rank(TIED, {"b", "c"}, 10) == pytest.approx(2 / 3 * 1 / 2 + 1 / 3 * 1 / 3)
    assert recall_at(TIED, {"b", "c"}, 2) == pytest.approx(1 / 3)  # 2 * 1/3 of 2 relevant
    assert recall_at(TIED, {"b", "c"}, 4) == 1.0


def test_constant_scores_are_neither_rewarded_nor_punished() -> None:
    flat = [(x, 0.0) for x in "abcd"]
    assert reciprocal_rank(flat, {"a"}, 10) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert recall_at(flat, {"d"}, 1) == pytest.approx(1 / 4)
    # the same whichever member is relevant
    assert reciprocal_rank(flat, {"d"}, 10) == reciprocal_rank(flat, {"a"}, 10)


def test_without_scores_the_order_decides() -> None:
    ranking = [("a", None), ("b", None), ("c", None)]
    assert reciprocal_rank(ranking, {"b"}, 10) == 0.5


def test_hard_negative_outranks() -> None:
    assert hard_negative_outranks(PLAIN, {"c"}, {"b"}) == 1.0
    assert hard_negative_outranks(PLAIN, {"c"}, {"d"}) == 0.0
    assert hard_negative_outranks(PLAIN, {"zzz"}, {"d"}) == 1.0  # relevant not retrieved
    assert hard_negative_outranks(PLAIN, {"zzz"}, {"yyy"}) == 0.0  # neither retrieved
    assert hard_negative_outranks(PLAIN, {"c"}, ()) is None
    assert hard_negative_outranks(TIED, {"c"}, {"b"}) == 0.5  # tied: h / (h + r)
    assert hard_negative_outranks(TIED, {"c"}, {"b", "d"}) == pytest.approx(2 / 3)
    assert hard_negative_outranks(TIED, {"a", "c"}, {"b"}) == 0.0  # "a" is above all


def test_query_metrics_leaves_out_cutoffs_deeper_than_asked() -> None:
    got = query_metrics(PLAIN[:5], {"b"}, k=5)
    assert got == {
        "recall@1": 0.0,
        "recall@5": 1.0,
        "recall@10": None,
        "mrr@10": None,
        "ndcg@10": None,
        "hard_negative": None,
    }


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(10, 0, -1)]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 95) == 10.0
    assert percentile(values, 10) == 1.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert latency_summary([4.0, 1.0, 2.0, 3.0]) == {
        "p50_ms": 2.0,
        "p95_ms": 4.0,
        "p99_ms": 4.0,
        "mean_ms": 2.5,
        "max_ms": 4.0,
    }


def test_abstention_precision_and_recall() -> None:
    got = abstention([True, True, True, False, False], [True, False, False, True, False])
    assert got == {
        "precision": 0.5,
        "recall": pytest.approx(1 / 3),
        "abstained": 2,
        "should_abstain": 3,
        "false_abstention_rate": 0.5,
    }
    assert abstention([False], [False])["precision"] is None


def test_reliability_bins_and_calibration_error() -> None:
    got = reliability([0.05, 0.15, 0.95, 1.0], [False, True, True, True])
    bins = [b for b in got["bins"] if b["count"]]  # type: ignore[union-attr]
    assert bins == [
        {"low": 0.0, "high": 0.1, "count": 1, "confidence": 0.05, "accuracy": 0.0},
        {"low": 0.1, "high": 0.2, "count": 1, "confidence": 0.15, "accuracy": 1.0},
        {"low": 0.9, "high": 1.0, "count": 2, "confidence": pytest.approx(0.975), "accuracy": 1.0},
    ]
    assert got["ece"] == pytest.approx(0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.025)


def test_a_calibrated_models_ece_is_measured_on_the_same_confidences() -> None:
    # Certain confidences leave nothing to chance: a calibrated model's ECE is exactly 0.
    assert ece_if_calibrated([0.0, 1.0, 1.0]) == {"mean": 0.0, "p95": 0.0}
    # At 0.5 each bin's accuracy is a binomial share: E|k/n - 1/2| for n = 4 is 3/16.
    assert ece_if_calibrated([0.5] * 4, draws=20_000)["mean"] == pytest.approx(3 / 16, abs=0.01)
    few = ece_if_calibrated([0.1, 0.35, 0.6, 0.8, 0.95] * 40)
    many = ece_if_calibrated([0.1, 0.35, 0.6, 0.8, 0.95] * 400)
    assert few == ece_if_calibrated([0.1, 0.35, 0.6, 0.8, 0.95] * 40)  # seeded
    assert 0 < many["mean"] < few["mean"] < few["p95"]  # sampling noise shrinks with the count
    assert 0.02 < few["mean"] < 0.08  # 200 queries: several hundredths from chance alone


def test_a_calibrated_models_ece_draws_in_batches_that_fit_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    confidences = [0.2, 0.45, 0.7, 0.9] * 25
    whole = ece_if_calibrated(confidences, draws=50)
    monkeypatch.setattr(metrics, "DRAW_CELLS", 300)  # three draws at a time
    assert ece_if_calibrated(confidences, draws=50) == pytest.approx(whole)


def test_reliability_reports_the_calibrated_reference() -> None:
    got = reliability([0.3, 0.7, 0.9], [False, True, True])
    assert got["ece_if_calibrated"] == ece_if_calibrated([0.3, 0.7, 0.9])
    assert reliability([], [])["ece_if_calibrated"] is None


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 1.0, 0.5, 0.25, 1.0]
    first = bootstrap_ci(values, seed=7)
    assert first == bootstrap_ci(values, seed=7)
    assert first != bootstrap_ci(values, seed=8)
    assert first is not None
    assert first[0] < sum(values) / len(values) < first[1]
    assert bootstrap_ci([0.4] * 5, seed=1) == (pytest.approx(0.4), pytest.approx(0.4))
    assert bootstrap_ci([], seed=1) is None


def test_same_seed_and_size_resample_the_same_queries() -> None:
    # what makes per-mode intervals paired: a shifted copy gets a shifted interval
    base = [0.0, 1.0, 0.5, 0.25, 1.0, 0.0]
    low, high = bootstrap_ci(base, seed=3) or (0.0, 0.0)
    low2, high2 = bootstrap_ci([v + 1 for v in base], seed=3) or (0.0, 0.0)
    assert (low2 - low, high2 - high) == (pytest.approx(1.0), pytest.approx(1.0))
    assert metrics.MAIN_METRICS[0] == "mrr@10"


def test_the_eval_report_and_a_fitted_model_bin_and_measure_alike() -> None:
    rng = np.random.default_rng(3)
    # on the edges too: 0.3 as written and as linspace puts it
    conf = np.concatenate([rng.random(500), [0.3, 0.6, 0.7, 1.0, 0.0]])
    correct = rng.random(len(conf)) < conf
    report = reliability(conf.tolist(), correct.tolist())
    saved = reliability_table(conf, correct.astype(float))
    assert [r["count"] for r in report["bins"] if r["count"]] == [r["n"] for r in saved]
    assert report["ece"] == pytest.approx(expected_calibration_error(conf, correct), abs=1e-12)
