"""Why a suggestion scored what it did: the ranking score as a sum of weighted parts.

Mirrors the fusion of :mod:`indexer.fusion` (and the rank fusion option of
:mod:`indexer.index`): blend = dense_weight × dense − hub_weight × hub + lexical_weight ×
coverage + covered_weight × covered (+ votes); bm25 mode = coverage; dense mode = the blend's
dense and hub parts; rrf = Σ weight / (k + rank). Where the KB's reranker ranks
(:mod:`indexer.rerank`), the score is the reranker's (+ votes in its units) and the blend's
parts explain the candidate's blend score. Where latent terms join (:func:`indexer.fusion.
with_latent`), the score is two parts: the blend's or reranker's score standardized over the
pool, and the latent terms' cosine standardized and weighed. ``tests/presenters/test_explain.py`` checks on real
searches that the parts add up to the score, so a change of the formulas there shows up here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The lexical side's share in rank fusion is scaled as in HybridIndex.retrieve.
RRF_LEXICAL_SCALE = 1 / 0.3


@dataclass(frozen=True)
class Term:
    label: str
    contribution: float
    formula: str  # how the contribution was made, e.g. "1.00 × dense 0.7012"


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def score_terms(
    scores: Mapping[str, Any], fusion: Mapping[str, Any], *, mode: str, hub: float
) -> list[Term]:
    """The parts whose sum is ``scores['score']`` (to rounding) for ``mode``."""
    dense, coverage = _num(scores.get("dense")), _num(scores.get("coverage"))
    dw, lw, hw = (_num(fusion.get(k)) for k in ("dense_weight", "lexical_weight", "hub_weight"))
    dense_part = Term("dense", dw * dense, f"{dw:.2f} × dense {dense:.4f}")
    hub_part = Term("hub", -hw * hub, f"{hw:.2f} × hub {hub:.4f}")
    lexical_part = Term("lexical", lw * coverage, f"{lw:.2f} × coverage {coverage:.4f}")
    cw, covered = _num(fusion.get("covered_weight")), _num(scores.get("covered"))
    covered_part = Term("covered", cw * covered, f"{cw:.2f} × covered {covered:.4f}")
    if mode == "bm25":
        bm25 = _num(scores.get("bm25"))
        return [Term("lexical", coverage, f"coverage {coverage:.4f}, bm25 {bm25:.2f}")]
    if mode == "dense":
        return [dense_part, hub_part]
    if fusion.get("method") == "rrf":
        k = _num(fusion.get("rrf_k"))
        out = []
        unranked = []
        for label, rank_key, weight in (
            ("dense", "dense_rank", dw),
            ("lexical", "lexical_rank", lw * RRF_LEXICAL_SCALE),
        ):
            rank = scores.get(rank_key)
            if isinstance(rank, int):
                out.append(Term(label, weight / (k + rank), f"{weight:.2f} / ({k:g} + {rank})"))
            else:
                unranked.append(label)
        if unranked:
            # A retriever that did not match still ranks the table (after its matches); that
            # rank is not reported, so its share is what the score leaves.
            rest = _num(scores.get("score")) - sum(t.contribution for t in out)
            out.append(
                Term(unranked[0], rest, f"{unranked[0]}: no match, ranked after the matches")
            )
        return out
    votes = _num(scores.get("feedback"))
    latent_part = _num(scores.get("latent_part"))
    if latent_part:
        # Both standardized over the pool (indexer.fusion.with_latent): two parts.
        lw_ = _num(fusion.get("latent_weight"))
        base = "reranker" if scores.get("rerank") is not None else "blend"
        return [
            Term(base, _num(scores.get("score")) - latent_part, f"{base} (+ votes), standardized"),
            Term(
                "latent",
                latent_part,
                f"{lw_:.2f} × latent terms {_num(scores.get('latent')):.4f}, standardized",
            ),
        ]
    if scores.get("rerank") is not None:
        rerank = _num(scores.get("rerank"))
        blend = _num(scores.get("fused"))
        terms = [Term("reranker", rerank, f"LightGBM reranker; blend {blend:.4f}")]
        if votes:
            terms.append(Term("votes", votes, "votes"))
        return terms
    terms = [dense_part, hub_part, lexical_part]
    if cw:
        terms.append(covered_part)
    if votes:
        terms.append(Term("votes", votes, "votes"))
    return terms


def explain_line(terms: list[Term], score: float) -> str:
    """``score 0.8120 = +0.7000 (1.00 × dense 0.7000) -0.0300 (0.60 × hub 0.0500) …``:
    the signed numbers add up to the score."""
    parts = " ".join(f"{t.contribution:+.4f} ({t.formula})" for t in terms)
    return f"score {score:.4f} = {parts}"
