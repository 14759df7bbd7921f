"""Fit fusion weights and the confidence model on the KB's own similar questions.

For each held-out question (one per table that has any, at most 400) the question's own
vector is masked and its tokens are taken out of its table's BM25 document, so the question
has to find its table the way a customer's new wording would. Fusion weights move from their
defaults only when the held-out MRR@10 improves by more than :data:`MIN_GAIN`.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from indexer.calibration import (
    MIN_HELDOUT,
    Calibration,
    choose_thresholds,
    fit_logistic,
    reliability_table,
)
from indexer.dense import KIND_CODES
from indexer.fusion import FusionParams

if TYPE_CHECKING:
    from indexer.index import HybridIndex

# Per held-out question: best question-form cosines, best body cosines, coverage, hub (one value
# per pool candidate each) and the gold table's position in the pool (-1: not in it).
Pool = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]

POOL = 50
BATCH = 64  # held-out questions per matrix product (64 × 88,000 cosines: 22 MB)
TOP = 5
MIN_GAIN = 0.01
LEXICAL_GRID = (0.2, 0.35, 0.5, 0.7)
HUB_GRID = (0.3, 0.6, 0.9)
BODY_GRID = (0.8, 0.9, 1.0)


def tune(index: HybridIndex) -> None:
    pairs = index.heldout()
    if len(pairs) < MIN_HELDOUT:
        index.calibration = Calibration(
            source=f"default ({len(pairs)} held-out similar questions, {MIN_HELDOUT} needed)"
        )
        return
    pools = _pools(index, pairs)
    base = index.fusion
    best, best_mrr = base, _mrr(pools, base)
    default_mrr = best_mrr
    for lw, hw, bw in itertools.product(LEXICAL_GRID, HUB_GRID, BODY_GRID):
        params = replace(base, lexical_weight=lw, hub_weight=hw, body_weight=bw)
        mrr = _mrr(pools, params)
        if mrr > best_mrr:
            best, best_mrr = params, mrr
    if best_mrr - default_mrr <= MIN_GAIN:
        best, best_mrr = base, default_mrr
    index.fusion = best
    x, y, top_conf_rows, top_correct = [], [], [], []
    for dense_q, dense_b, cov, hub, gold in pools:
        dense = np.maximum(dense_q, best.body_weight * dense_b)
        fused = _fused(dense_q, dense_b, cov, hub, best)
        order = np.argsort(-fused, kind="stable")[:TOP]
        for rank, i in enumerate(order):
            other = fused[order[1]] if rank == 0 and len(order) > 1 else fused[order[0]]
            margin = fused[i] - other if len(order) > 1 else 0.0
            x.append([fused[i], margin, dense[i], cov[i]])
            y.append(1.0 if i == gold else 0.0)
            if rank == 0:
                top_conf_rows.append(len(x) - 1)
                top_correct.append(1.0 if i == gold else 0.0)
    xa, ya = np.asarray(x), np.asarray(y)
    if ya.sum() < 10 or (1 - ya).sum() < 10:
        index.calibration = Calibration(source="default (held-out questions too easy or too hard)")
        return
    coef, intercept = fit_logistic(xa, ya)
    calibration = Calibration(
        coef=[round(float(c), 4) for c in coef],
        intercept=round(intercept, 4),
        fitted_on=len(pools),
        source="held-out similar questions",
        heldout_mrr=round(best_mrr, 4),
    )
    conf = np.asarray([calibration.confidence(xa[r]) for r in top_conf_rows])
    correct = np.asarray(top_correct)
    calibration.thresholds = choose_thresholds(conf, correct)
    calibration.reliability = reliability_table(conf, correct)
    index.calibration = calibration


def _fused(
    dense_q: np.ndarray, dense_b: np.ndarray, cov: np.ndarray, hub: np.ndarray, p: FusionParams
) -> np.ndarray:
    dense = np.maximum(dense_q, p.body_weight * dense_b)
    return np.asarray(p.dense_weight * dense - p.hub_weight * hub + p.lexical_weight * cov)


def _mrr(pools: list[Pool], params: FusionParams) -> float:
    total = 0.0
    for dense_q, dense_b, cov, hub, gold in pools:
        if gold < 0:
            continue
        fused = _fused(dense_q, dense_b, cov, hub, params)
        rank = int((fused > fused[gold]).sum())
        if rank < 10:
            total += 1.0 / (rank + 1)
    return total / len(pools)


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """The positions ``np.argsort(-values)[:k]`` holds, as a set (sorted), mostly without sorting.

    When no tie straddles the k-th value the set is unique and a partition finds it; otherwise
    the sort decides which tied positions are in, as it always did.
    """
    if len(values) <= k:
        return np.arange(len(values))
    negated = -values
    kth = np.partition(negated, k - 1)[k - 1]
    chosen = np.flatnonzero(negated <= kth)
    if len(chosen) == k:
        return chosen
    return np.sort(np.argsort(negated)[:k])


def _pools(index: HybridIndex, pairs: list[tuple[int, int]]) -> list[Pool]:
    """Per held-out question, over its candidate pool: best question-form and body cosines,
    coverage, hub, and the gold table's position."""
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
        body = dense_index.kind[rows] == KIND_CODES["body"]
        # Runs of one table's question-form or body vectors, to take each run's best cosine in
        # one pass. A table's vectors are stored title, questions, then body chunks, so runs are
        # contiguous already; otherwise the cosines are regrouped (the matrix product is left in
        # row order either way).
        regroup = None
        seg = np.flatnonzero(np.r_[True, (owners[1:] != owners[:-1]) | (body[1:] != body[:-1])])
        if len(seg) != len(np.unique(owners * 2 + body)):
            regroup = np.lexsort((body, owners))
            owners, body = owners[regroup], body[regroup]
            seg = np.flatnonzero(np.r_[True, (owners[1:] != owners[:-1]) | (body[1:] != body[:-1])])
        seg_owner, seg_body = owners[seg], body[seg]
        q_owner, b_owner = seg_owner[~seg_body], seg_owner[seg_body]
        # A table with both kinds: the first version masked the other kind to -1 and took the
        # maximum over all the table's vectors, so -1 is a floor there.
        both = np.intersect1d(q_owner, b_owner)
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
        todo = [(t, qi, own_rows[(t, qi)]) for t, qi in pairs if (t, qi) in own_rows]
        pools = []
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            # One matrix product per batch of questions: one per question read the whole
            # matrix from memory each time (1.7 s for 400 questions over 88,000 vectors; 0.2 s
            # in batches). A cosine can differ in its last float32 bit from the one-question
            # product, as it already did between BLAS thread counts.
            cosines = dense_index.vectors[[row for *_, row in batch]] @ matrix.T
            for (table_id, qi, own_row), sims in zip(batch, cosines, strict=True):
                sims[row_at[own_row]] = -1.0
                best = np.maximum.reduceat(sims if regroup is None else sims[regroup], seg)
                # Question-form and body vectors apart, so the body weight can be tuned afterwards.
                dense_q = np.full(len(tables), -1.0)
                dense_b = np.full(len(tables), -1.0)
                dense_q[q_owner] = best[~seg_body]
                dense_b[b_owner] = best[seg_body]
                dense_q[both] = np.maximum(dense_q[both], -1.0)
                dense_b[both] = np.maximum(dense_b[both], -1.0)
                dense_all = np.maximum(dense_q, index.fusion.body_weight * dense_b)
                text = index.docs[table_id].questions[qi]
                tokens = index.analyzer.tokens(text)
                scores = index.bm25.scores(tokens)
                attainable = index.bm25.max_score(tokens)
                cov_all = np.zeros(len(tables))
                if attainable > 0:
                    cov_all[slot_pos[valid_slots]] = scores[valid_slots] / attainable
                idx = np.union1d(_top(dense_all, POOL), _top(cov_all, POOL))
                gold_at = np.flatnonzero(idx == position[table_id])
                gold = int(gold_at[0]) if len(gold_at) else -1
                pools.append((dense_q[idx], dense_b[idx], cov_all[idx], hub[idx], gold))
        return pools
    finally:
        for table_id in held:
            index._remove_lexical(table_id)
            index._add_lexical(index.docs[table_id])
