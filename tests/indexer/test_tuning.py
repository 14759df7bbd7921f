"""Calibration pools: the fast path must give what the first version gave, bit for bit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from indexer import tuning
from indexer.analysis import Analyzer
from indexer.dense import KIND_CODES, TableVectors
from indexer.documents import DocField, IndexDocument
from indexer.encoders import FakeEncoder
from indexer.index import HybridIndex
from indexer.tuning import POOL, Pool, _pools, _top, tune


def _reference_pools(index: HybridIndex, pairs: list[tuple[int, int]]) -> list[Pool]:
    """``_pools`` as first written (masked maxima, full sorts), kept as the reference."""
    held = dict(pairs)
    dense_index = index.dense
    # Take each held-out question out of its table's BM25 documents for the duration.
    for table_id, qi in held.items():
        doc = index.docs[table_id]
        reduced = replace(doc, questions=[q for i, q in enumerate(doc.questions) if i != qi])
        index._remove_lexical(table_id)
        index._add_lexical(reduced)
    try:
        tables = sorted(index.docs)
        position = {t: i for i, t in enumerate(tables)}
        rows = np.flatnonzero(dense_index.alive & dense_index.public)
        rows = rows[np.argsort(dense_index.table[rows], kind="stable")]
        owners = np.asarray([position.get(int(t), -1) for t in dense_index.table[rows]])
        keep = owners >= 0
        rows, owners = rows[keep], owners[keep]
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        group_table = owners[starts]
        body = dense_index.kind[rows] == KIND_CODES["body"]
        hub = np.asarray([dense_index.hub.get(t, 0.0) for t in tables])
        slot_pos = np.full(index.bm25.slots, -1)
        for t, slot in index.pub_slot.items():
            slot_pos[slot] = position[t]
        valid_slots = slot_pos >= 0
        matrix = dense_index.vectors[rows]  # one copy, not one per question
        own_rows = {}
        for table_id, qi in pairs:
            own = [
                r
                for r in dense_index.rows_of(table_id)
                if dense_index.kind[r] == KIND_CODES["question"] and dense_index.refs[r] == f"q{qi}"
            ]
            if own:
                own_rows[(table_id, qi)] = own[0]
        row_at = {int(r): i for i, r in enumerate(rows)}
        pools = []
        for table_id, qi in pairs:
            own_row = own_rows.get((table_id, qi))
            if own_row is None:
                continue
            sims = matrix @ dense_index.vectors[own_row]
            sims[row_at[own_row]] = -1.0
            # Question-form and body vectors apart, so the body weight can be tuned afterwards.
            dense_q = np.full(len(tables), -1.0)
            dense_b = np.full(len(tables), -1.0)
            dense_q[group_table] = np.maximum.reduceat(np.where(body, -1.0, sims), starts)
            dense_b[group_table] = np.maximum.reduceat(np.where(body, sims, -1.0), starts)
            dense_all = np.maximum(dense_q, index.fusion.body_weight * dense_b)
            text = index.docs[table_id].questions[qi]
            tokens = index.analyzer.tokens(text)
            scores = index.bm25.scores(tokens)
            attainable = index.bm25.max_score(tokens)
            cov_all = np.zeros(len(tables))
            if attainable > 0:
                cov_all[slot_pos[valid_slots]] = scores[valid_slots] / attainable
            pool = set(np.argsort(-dense_all)[:POOL].tolist()) | set(
                np.argsort(-cov_all)[:POOL].tolist()
            )
            idx = np.asarray(sorted(pool))
            gold_at = np.flatnonzero(idx == position[table_id])
            gold = int(gold_at[0]) if len(gold_at) else -1
            pools.append((dense_q[idx], dense_b[idx], cov_all[idx], hub[idx], gold))
        return pools
    finally:
        for table_id in held:
            index._remove_lexical(table_id)
            index._add_lexical(index.docs[table_id])


def _kb() -> HybridIndex:
    """120 tables whose titles, questions and answers repeat: ties in cosine and coverage."""
    topics = ["改号", "话费", "套餐", "宽带", "信用卡", "积分", "发票", "退货", "快递", "密码"]
    actions = ["怎么查", "如何办理", "能取消吗", "多久到账", "收费吗", "在哪改"]
    docs = []
    for copy in range(2):
        for t in topics:
            for a in actions:
                i = len(docs)
                fields = [
                    DocField(
                        "answer", "标准答复", "text", "public", True, 1.0, f"{t}请到营业厅办理。"
                    )
                ]
                if i % 3 == 0:
                    fields.append(
                        DocField("note", "内部说明", "text", "internal", True, 1.0, f"内部：{a}")
                    )
                if i % 4 == 0:
                    fields.append(
                        DocField("faq", "说明", "text", "public", True, 0.6, f"{t}{a}的说明。")
                    )
                title = f"{t}{a}" if copy == 0 else f"{t}{a}（副本）"
                questions = [f"请问{t}{a}", f"{t}到底{a}", f"{t}{a}"][: 1 + i % 3]
                docs.append(
                    IndexDocument(
                        i, f"C{i:03d}", title, questions, [], "类", "包", 1, "public", 1, i, fields
                    )
                )
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build(docs, calibrate=False)
    return index


def _same(a: list[Pool], b: list[Pool]) -> None:
    """Same pools, gold positions, coverage and hub; cosines to float32 rounding (the batched
    matrix product rounds differently from one product per question)."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[4] == y[4]
        for u, v in zip(x[2:4], y[2:4], strict=True):
            assert u.dtype == v.dtype and u.tobytes() == v.tobytes()
        for u, v in zip(x[:2], y[:2], strict=True):
            np.testing.assert_allclose(u, v, rtol=0, atol=1e-6)


def test_pools_equal_the_first_version() -> None:
    index = _kb()
    pairs = index.heldout()
    expected = _reference_pools(index, pairs)
    assert any(gold >= 0 for *_, gold in expected)
    _same(_pools(index, pairs), expected)


def test_calibration_equals_the_first_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    index = _kb()
    tune(index)
    fast = (index.fusion, index.calibration)
    index = _kb()
    monkeypatch.setattr(tuning, "_pools", _reference_pools)
    tune(index)
    assert fast == (index.fusion, index.calibration)
    assert index.calibration.source == "held-out similar questions"


def test_pools_equal_the_first_version_when_vector_kinds_interleave() -> None:
    index = _kb()
    # Re-add some tables with their body vectors stored between title and questions.
    kinds = {v: k for k, v in KIND_CODES.items()}
    items = []
    for table_id in list(index.docs)[::5]:
        rows = index.dense.rows_of(table_id)
        body = [r for r in rows if index.dense.kind[r] == KIND_CODES["body"]]
        order = [rows[0], *body, *(r for r in rows[1:] if r not in body)]
        items.append(
            TableVectors(
                table_id,
                index.dense.vectors[order],  # centered again: fine for this comparison
                [kinds[int(index.dense.kind[r])] for r in order],
                [bool(index.dense.public[r]) for r in order],
                [index.dense.refs[r] for r in order],
            )
        )
    index.dense.add_tables(items)
    pairs = index.heldout()
    _same(_pools(index, pairs), _reference_pools(index, pairs))


@pytest.mark.parametrize("seed", range(5))
def test_top_is_the_set_argsort_gives(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for size in (0, 3, POOL, 200):
        values = rng.integers(0, 4 if seed % 2 else 1000, size).astype(np.float64) / 7
        expected = np.sort(np.argsort(-values)[:POOL])
        np.testing.assert_array_equal(_top(values, POOL), expected)
