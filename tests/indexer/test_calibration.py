from __future__ import annotations

import numpy as np
import pytest

from indexer.analysis import Analyzer
from indexer.calibration import (
    TARGET_PRECISION,
    UNSURE_BELOW,
    Calibration,
    choose_thresholds,
    confidence_bins,
    expected_calibration_error,
    fit,
    fit_logistic,
    ranked_confidences,
    reliability_table,
)
from indexer.documents import DocField, IndexDocument
from indexer.encoders import FakeEncoder
from indexer.index import HybridIndex


def test_logistic_recovers_a_known_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.5)))
    y = (rng.random(4000) < p).astype(float)
    coef, intercept = fit_logistic(x, y, l2=0.0)
    assert coef == pytest.approx([1.5, -2.0], abs=0.15)
    assert intercept == pytest.approx(0.5, abs=0.15)


def test_a_row_of_weight_two_counts_as_two_copies_of_it() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = (rng.random(300) < 1 / (1 + np.exp(-x[:, 0]))).astype(float)
    weights = np.where(np.arange(300) < 100, 2.0, 1.0)
    weighted = fit_logistic(x, y, weights=weights)
    copied = fit_logistic(np.vstack([x, x[:100]]), np.concatenate([y, y[:100]]))
    assert weighted[0] == pytest.approx(copied[0], abs=1e-6)
    assert weighted[1] == pytest.approx(copied[1], abs=1e-6)
    assert fit_logistic(x, y, weights=np.ones(300))[1] == pytest.approx(fit_logistic(x, y)[1])


def test_reliability_table_ece_and_thresholds() -> None:
    conf = np.array([0.05, 0.15, 0.95, 0.92, 0.91] + [0.9] * 20)
    correct = np.array([0, 0, 1, 1, 0] + [1] * 18 + [0] * 2, dtype=float)
    table = reliability_table(conf, correct)
    assert table[0] == {"low": 0.0, "high": 0.1, "n": 1, "confidence": 0.05, "accuracy": 0.0}
    assert table[-1]["n"] == 23 and table[-1]["accuracy"] == pytest.approx(20 / 23, abs=1e-3)
    ece = expected_calibration_error(conf, correct)
    expected = (1 * 0.05 + 1 * 0.15 + 23 * abs(20 / 23 - table[-1]["confidence"])) / 25
    assert ece == pytest.approx(expected, abs=1e-3)
    # at 0.05 all 25 answer with 20 right (0.8 ≥ 0.5 for agents); from 0.16 on, 23 answer with
    # 20 right (0.87 ≥ 0.85 for customers)
    assert choose_thresholds(conf, correct) == {"customer": 0.16, "agent": 0.05}


def test_a_bin_holds_its_lower_edge_and_the_last_one_holds_one() -> None:
    conf = [0.0, 0.0999, 0.1, 0.3, 0.7, 0.9999, 1.0, -0.2, 1.3]
    assert confidence_bins(conf).tolist() == [0, 0, 1, 3, 7, 9, 9, 0, 9]
    assert confidence_bins([0.5, 0.25], bins=4).tolist() == [2, 1]


def test_a_target_no_threshold_reaches_is_the_threshold_itself() -> None:
    # right 30% of the time at any confidence: no threshold gives customers 85% precision,
    # so only what the fitted model is 85% sure of is answered
    conf = np.linspace(0.05, 0.95, 100)
    correct = (np.arange(100) % 10 < 3).astype(float)
    assert choose_thresholds(conf, correct)["customer"] == 0.85


def test_confidence_is_a_probability_and_grows_with_score_and_margin() -> None:
    cal = Calibration()
    strong = [1.0, 0.2, 0.6, 0.5, 0.8, 1.0]
    weaker = [0.6, 0.2, 0.6, 0.5, 0.8, 1.0]
    behind = [0.6, -0.1, 0.6, 0.5, 0.8, -1.0]
    zero, *conf = cal.confidences(np.asarray([[0.0] * 6, strong, weaker, behind]))
    assert 0.0 < zero < 1.0
    assert conf[0] > conf[1] > conf[2]
    assert Calibration.from_json(cal.to_json()) == cal


def test_no_suggestion_shows_more_confidence_than_a_better_ranked_one() -> None:
    conf = np.asarray([0.3, 0.9, 0.5, 0.7])
    order = [2, 0, 3, 1]  # ranked 2 first, then 0, 3, 1
    assert list(ranked_confidences(conf, order)) == [0.3, 0.3, 0.5, 0.3]


def test_a_model_saved_with_other_features_falls_back_to_the_defaults() -> None:
    old = {"coef": [1.0, 2.0], "intercept": 0.0, "source": "held-out"}
    loaded = Calibration.from_json(old)
    assert loaded.coef == Calibration().coef and loaded.source.startswith("default")


def test_a_model_saved_before_the_lead_reads_none_of_it() -> None:
    old = {"coef": [1.0, 2.0, 3.0, 4.0, 5.0], "intercept": 0.5, "source": "held-out"}
    loaded = Calibration.from_json(old)
    assert (loaded.coef, loaded.source) == ([1.0, 2.0, 3.0, 4.0, 5.0, 0.0], "held-out")


def test_fit_reports_thresholds_reliability_and_ece() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack(
        [rng.uniform(0, 1.5, 400), rng.uniform(-0.2, 0.4, 400)] + [rng.uniform(0, 1, 400)] * 4
    )
    correct = rng.random(400) < 1 / (1 + np.exp(-(3 * x[:, 0] + 4 * x[:, 1] - 2)))
    cal = fit(x, correct, source="test")
    assert cal.fitted_on == 400 and cal.source == "test"
    assert cal.coef[0] > 0 and cal.coef[1] > 0
    assert sum(r["n"] for r in cal.reliability) == 400
    assert cal.ece is not None and cal.ece < 0.1
    assert 0.05 <= cal.thresholds["agent"] <= cal.thresholds["customer"] <= 0.99


def test_a_shifted_fit_says_more_and_answers_the_same_fitting_queries() -> None:
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.uniform(0, 1.5, 400)] + [rng.uniform(0, 1, 400)] * 5)
    correct = rng.random(400) < 1 / (1 + np.exp(-(4 * x[:, 0] - 3)))
    plain = fit(x, correct, source="test")
    shifted = fit(x, correct, source="test", shift=1.0)
    assert (shifted.coef, shifted.intercept) == (plain.coef, plain.intercept)
    z = plain.intercept + x @ np.asarray(plain.coef)
    assert shifted.confidences(x) == pytest.approx(1 / (1 + np.exp(-(z + 1.0))))
    assert shifted.confidences(x[:1])[0] == pytest.approx(1 / (1 + np.exp(-(z[0] + 1.0))))
    # what the fitted model says of its own queries is kept as it was fitted
    assert (shifted.reliability, shifted.ece) == (plain.reliability, plain.ece)
    # the customers' threshold is taken on the raised scale (the same fitting queries
    # answered), and no higher than the customers' target precision
    on_fitting = choose_thresholds(shifted.confidences(x), correct.astype(float))["customer"]
    assert shifted.thresholds["customer"] == min(on_fitting, TARGET_PRECISION["customer"])
    before = plain.confidences(x) >= plain.thresholds["customer"]
    after = shifted.confidences(x) >= on_fitting
    assert on_fitting > plain.thresholds["customer"]
    # thresholds step by hundredths: a handful of queries may fall either side of one
    assert abs(int(before.sum()) - int(after.sum())) <= 8
    assert Calibration.from_json(shifted.to_json()) == shifted


def test_a_steepened_fit_says_more_either_side_of_one_half_and_keeps_its_order() -> None:
    rng = np.random.default_rng(5)
    lead = rng.uniform(0, 3.0, 600)
    x = np.column_stack([np.zeros((600, 5)), lead])
    correct = rng.random(600) < 1 / (1 + np.exp(-(2 * lead - 3)))
    raised = fit(x, correct, source="test", using=("lead",), shift=1.0)
    steep = fit(x, correct, source="test", using=("lead",), shift=1.0, steepness=1.25)
    assert (steep.coef, steep.intercept, steep.shift) == (raised.coef, raised.intercept, 1.0)
    z = raised.intercept + 1.0 + x @ np.asarray(raised.coef)
    assert steep.confidences(x) == pytest.approx(1 / (1 + np.exp(-1.25 * z)))
    assert steep.confidences(x[7:8])[0] == pytest.approx(1 / (1 + np.exp(-1.25 * z[7])))
    sure, unsure = raised.confidences(x) > 0.5, raised.confidences(x) < 0.5
    assert (steep.confidences(x)[sure] > raised.confidences(x)[sure]).all()
    assert (steep.confidences(x)[unsure] < raised.confidences(x)[unsure]).all()
    # the fitted model's own reliability is kept; the thresholds are on the steeper scale
    assert (steep.reliability, steep.ece) == (raised.reliability, raised.ece)
    on_fitting = choose_thresholds(steep.confidences(x), correct.astype(float))
    assert steep.thresholds == {
        channel: max(min(t, TARGET_PRECISION[channel]), UNSURE_BELOW)
        for channel, t in on_fitting.items()
    }
    assert Calibration.from_json(steep.to_json()) == steep
    # a model saved before steepness was kept reads as it did
    saved = {k: v for k, v in raised.to_json().items() if k != "steepness"}
    assert Calibration.from_json(saved).confidences(x) == pytest.approx(raised.confidences(x))


def test_a_raised_fit_answers_customers_where_it_says_they_are_right_often_enough() -> None:
    # Pseudo-queries harder than users' questions: where the raised model says 0.85, they are
    # right less often (their precision reaches 0.85 only higher up), users' questions as often.
    rng = np.random.default_rng(4)
    lead = rng.uniform(0, 3.1, 2000)  # right at most 90% of the time
    x = np.column_stack([np.zeros((2000, 5)), lead])
    correct = rng.random(2000) < 1 / (1 + np.exp(-(2 * lead - 4)))
    plain = fit(x, correct, source="test", using=("lead",))
    raised = fit(x, correct, source="test", using=("lead",), shift=1.0)
    on_fitting = choose_thresholds(raised.confidences(x), correct.astype(float))
    assert on_fitting["customer"] > TARGET_PRECISION["customer"]
    assert raised.thresholds["customer"] == TARGET_PRECISION["customer"]
    assert raised.thresholds["agent"] == UNSURE_BELOW
    # unraised, the fitting queries are the questions served: their precision decides
    assert plain.thresholds["customer"] > TARGET_PRECISION["customer"] - 0.05
    assert plain.thresholds == {
        channel: max(t, UNSURE_BELOW)
        for channel, t in choose_thresholds(plain.confidences(x), correct.astype(float)).items()
    }


def test_a_fitted_model_answers_nothing_it_thinks_more_likely_wrong_than_right() -> None:
    # Five in six top suggestions are near-certain, the rest are right a third of the time:
    # answering all keeps the set's precision above the customers' 0.85 (and the agents' 0.5),
    # yet each of the uncertain ones is more likely wrong than right.
    rng = np.random.default_rng(3)
    score = np.concatenate([rng.uniform(2.0, 3.0, 500), rng.uniform(0.0, 0.5, 100)])
    x = np.column_stack([score] + [rng.uniform(0, 1, 600)] * 5)
    correct = rng.random(600) < 1 / (1 + np.exp(-(4 * score - 2)))
    cal = fit(x, correct, source="test")
    by_precision = choose_thresholds(cal.confidences(x), correct.astype(float))
    assert by_precision["agent"] < UNSURE_BELOW and by_precision["customer"] < UNSURE_BELOW
    assert cal.thresholds == {"customer": UNSURE_BELOW, "agent": UNSURE_BELOW}


def _doc(i: int, title: str, questions: list[str]) -> IndexDocument:
    answer = DocField("answer", "标准答复", "text", "public", True, 1.0, f"答复{i}")
    return IndexDocument(
        i, f"C{i:03d}", title, questions, [], "类", "包", 1, "public", 1, i, [answer]
    )


def test_small_kb_keeps_default_calibration() -> None:
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build([_doc(0, "改号", ["换号"]), _doc(1, "话费", ["查话费"])])
    assert index.calibration.source.startswith("default")
    assert index.calibration.coef == Calibration().coef
    assert not index.reranker.active and index.reranker.status.startswith("not trained")


def test_a_model_with_the_wrong_number_of_coefficients_is_refused_by_name() -> None:
    with pytest.raises(
        ValueError, match="coef has 2 numbers; the model takes 6.*score, margin.*lead"
    ):
        Calibration(coef=[8.0, 0.0])
