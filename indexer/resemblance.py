"""Which kinds of pseudo-queries read like a KB's real questions, told from its query log.

Self-tuning learns from pseudo-queries (:mod:`indexer.pseudo`) because a KB has no labelled
questions of its users; but the kinds stand for different users. On a KB asked in its titles'
words, loosened titles are the closest; on one asked about details inside long answers, answer
spans are, and tuning on titles pulls the ranking toward titles that do not answer. The query
log has the KB's real questions, without answers: enough to tell which kinds they resemble.

A logistic regression (scikit-learn) learns to tell the logged questions from the
pseudo-queries by what the search saw of each (the reranker's features of its first
candidate: how strongly and by which signals it matched, by how much it led). Its odds that a
pseudo-query is a logged question, averaged over each kind and scaled so the mean over the
kinds is 1 (each kind weighing the same in the fit, whatever its count), say how much each
kind resembles the log: above 1 more than the average kind, well under 1 unlike it
(docs/benchmarks.md, "Questions answered inside the answers").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_ODDS = 20.0  # one pseudo-query's odds are capped (and floored at 1/MAX_ODDS) …
C = 1.0  # … and the regression regularized: a few hundred questions, a few dozen features


def kind_odds(
    pseudo_rows: np.ndarray, kinds: Sequence[str], logged_rows: np.ndarray
) -> dict[str, float]:
    """Per kind, the mean odds that its pseudo-queries are logged questions, scaled so the
    mean over the kinds is 1 (``kinds[i]``: the kind of ``pseudo_rows[i]``; rows are feature
    vectors, NaN for a signal absent). The logged questions and the pseudo-queries weigh the
    same, and so does each kind among the pseudo-queries: the figures do not depend on how many
    of each there are (self-tuning draws up to three answer spans a table, one title)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(pseudo_rows) != len(kinds):
        raise ValueError(f"{len(pseudo_rows)} rows for {len(kinds)} kinds")
    if not len(pseudo_rows) or not len(logged_rows):
        raise ValueError("both pseudo-queries and logged questions are needed")
    x = np.nan_to_num(np.vstack([pseudo_rows, logged_rows]).astype(np.float64), nan=-1.0)
    y = np.concatenate([np.zeros(len(pseudo_rows)), np.ones(len(logged_rows))])
    names = np.asarray(kinds)
    unique, index, counts = np.unique(names, return_inverse=True, return_counts=True)
    half = len(x) / 2  # each class weighs half the rows, as scikit-learn's "balanced" does
    weight = np.concatenate(
        [half / (len(unique) * counts[index]), np.full(len(logged_rows), half / len(logged_rows))]
    )
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(scaler.transform(x), y, sample_weight=weight)
    p = model.predict_proba(scaler.transform(x[: len(pseudo_rows)]))[:, 1]
    odds = np.clip(p / np.maximum(1.0 - p, 1e-9), 1.0 / MAX_ODDS, MAX_ODDS)
    means = {kind: float(odds[names == kind].mean()) for kind in unique}
    scale = float(np.mean(list(means.values())))
    return {str(kind): round(mean / scale, 3) for kind, mean in sorted(means.items())}


def describe(log: Mapping[str, Any]) -> str:
    """Self-tuning's ``log`` report for people: ``116 logged questions; odds answer 1.76,
    reworded 0.78, title 0.16; tuned on reworded answer spans instead of titles``."""
    odds = log.get("odds") or {}
    kinds = ", ".join(f"{kind} {value:.2f}" for kind, value in odds.items())
    return (
        f"{log.get('questions', 0)} logged questions; resemblance (odds) {kinds}; "
        f"ranking tuned on {log.get('tuned_on', '?')}"
    )
