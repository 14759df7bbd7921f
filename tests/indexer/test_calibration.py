from __future__ import annotations

import numpy as np
import pytest

from indexer.analysis import Analyzer
from indexer.calibration import Calibration, choose_thresholds, fit_logistic, reliability_table
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


def test_reliability_table_and_thresholds() -> None:
    conf = np.array([0.05, 0.15, 0.95, 0.92, 0.91] + [0.9] * 10)
    correct = np.array([0, 0, 1, 1, 0] + [1] * 10, dtype=float)
    table = reliability_table(conf, correct)
    assert table[0] == {"low": 0.0, "high": 0.1, "n": 1, "confidence": 0.05, "accuracy": 0.0}
    assert table[-1]["n"] == 13 and table[-1]["accuracy"] == pytest.approx(12 / 13, abs=1e-3)
    # 0.05: 12 of 15 right (0.8 ≥ 0.5 for agents); 0.1: 12 of 14 (0.857 ≥ 0.85 for customers)
    assert choose_thresholds(conf, correct) == {"customer": 0.1, "agent": 0.05}


def test_confidence_is_a_probability() -> None:
    cal = Calibration()
    assert 0.0 < cal.confidence([0.0, 0.0, 0.0, 0.0]) < 1.0
    assert cal.confidence([5.0, 2.0, 1.0, 1.0]) > cal.confidence([0.2, -0.3, 0.2, 0.1])
    assert Calibration.from_json(cal.to_json()) == cal


def _doc(i: int, title: str, questions: list[str]) -> IndexDocument:
    answer = DocField("answer", "标准答复", "text", "public", True, 1.0, f"答复{i}")
    return IndexDocument(
        i, f"C{i:03d}", title, questions, [], "类", "包", 1, "public", 1, i, [answer]
    )


def test_build_fits_on_held_out_similar_questions() -> None:
    topics = ["改号", "话费", "套餐", "宽带", "信用卡", "积分", "发票", "退货", "快递", "密码"]
    actions = [
        "怎么查",
        "如何办理",
        "能取消吗",
        "多久到账",
        "收费吗",
        "在哪改",
        "失败了",
        "要多久",
        "有优惠吗",
        "怎么退",
        "忘记了",
    ]
    docs = []
    for t in topics:
        for a in actions:
            i = len(docs)
            docs.append(_doc(i, f"{t}{a}", [f"请问{t}{a}", f"{t}到底{a}"]))
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build(docs)
    cal = index.calibration
    assert cal.fitted_on == len(docs) >= 100
    assert cal.source == "held-out similar questions"
    assert cal.heldout_mrr is not None and cal.heldout_mrr > 0.5
    assert sum(row["n"] for row in cal.reliability) == len(docs)
    # Held-out questions went back into the index afterwards.
    assert index.retrieve("请问改号怎么查", channel="agent", k=1).candidates[0].table_id == 0


def test_small_kb_keeps_default_calibration() -> None:
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build([_doc(0, "改号", ["换号"]), _doc(1, "话费", ["查话费"])])
    assert index.calibration.source.startswith("default")
    assert index.calibration.coef == Calibration().coef
