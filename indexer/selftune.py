"""Self-tuning: fusion weights, the reranker and confidence, fitted to each KB's own content.

Every KB is different: one has many similar questions, another only long answers; one is
searched with the titles' words, another with questions answered deep inside the text. Fixed
weights cannot serve both. At each build (and when the KB has drifted enough) this module:

1. makes pseudo-queries from the content (:mod:`indexer.pseudo`: held-out similar questions,
   masked answer spans, loose titles) and searches each one as a user's query would be
   searched, with what it was made from masked out of its table;
2. chooses the blend weights (:class:`indexer.fusion.FusionParams`) that rank the answering
   table best, each weighting judged with its neighbours on the grid (a broad optimum, not
   the one point the draw of pseudo-queries favours), moving from the defaults only for a
   clear gain;
3. trains a LambdaRank reranker (:mod:`indexer.rerank`) on two folds of the queries (split by
   table) and keeps it, joined with the blend, unless on the fold it was not trained on the
   blend alone ranks clearly better (by more than two standard errors of the paired
   difference: the joined order keeps part of the blend, and on users' questions it was ahead
   or level on every KB measured, docs/benchmarks.md);
4. fits the confidence model (:mod:`indexer.calibration`) on real users' wordings as they were
   ranked out of fold: held-out similar questions and the queries staff confirmed against
   their table (the golden set, ``HybridIndex.confirmed``), a share of them asked with their
   table taken out of the index (no answer exists), and the queries agents voted on
   (``HybridIndex.votes``), whose votes judge whatever the ranking puts first; and picks each
   channel's threshold for its target precision. Confirmed queries that are all answered in
   the top five (as a golden set filled from agents' helpful votes is), and votes of which
   nearly all found a helpful table, are not fitted on: they lack the queries the KB answers
   badly. Without enough of them, a KB with answers is calibrated on its own content (masked
   answer spans, the hardest questions, and loosened titles, the easiest, weighing half
   each: its users' questions lie between them); a KB without answers keeps the defaults
   (titles alone teach nothing, and no fixed model carries over from one KB to another:
   docs/benchmarks.md, Confidence).

A KB with answers and a query log of at least :data:`MIN_LOGGED` distinct questions also gets
answer spans said in fewer words (``reworded``), and the log tells which kinds its questions
resemble (:mod:`indexer.resemblance`). Where loosened titles are far unlike them (odds under
:data:`TITLES_UNLIKE`), its users do not ask in the titles' words: the weights and the reranker
are chosen on the reworded spans instead of the titles, and so is confidence where it is
fitted on the content (with the masked spans). Otherwise the kinds are those above.

Everything is seeded (``HybridIndex.tune_seed``, ``ZHIKU_TUNE_SEED``, 0 by default) and
deterministic. What was chosen, and from how many queries of which
kind, is kept in ``HybridIndex.tuning`` (``kb index status``, every ``kb eval`` record).
"""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer import calibration as calibrating
from indexer import pseudo, rerank
from indexer.calibration import Calibration
from indexer.features import (
    PoolSignals,
    best_weighted,
    confidence_features,
    dense_score,
    feature_matrix,
    fused_score,
    lexical_coverage,
    lexical_score,
)
from indexer.fusion import FusionParams, with_latent

if TYPE_CHECKING:
    from indexer.index import HybridIndex

Progress = Callable[[str, int, int], None]
Reading = Callable[[], AbstractContextManager[object]]  # a lock's shared side

MIN_QUERIES = 60  # pseudo-queries whose table is in their pool, to tune anything
MIN_RERANK = 150  # … to train a reranker
MIN_FUSION_GAIN = 0.01  # MRR@10 on pseudo-queries, for weights to leave the defaults
# The joined order (a reranker weighing the blend 0.3) is kept unless the blend alone ranks
# the fold it was not trained on better by this many standard errors of the paired difference.
RERANK_LOSS_SE = 2.0
UNANSWERABLE_SHARE = 0.15  # queries asked with their table taken out, for confidence
TOP = 10
# Sources that can tune on their own.
GROUNDED = frozenset({"question", "answer", pseudo.CONFIRMED})
# Real users' wordings: what confidence is fitted on.
CALIBRATING = frozenset({"question", pseudo.CONFIRMED, pseudo.VOTED})
# Not made from the content: nothing to mask.
UNMASKED = frozenset({"title", pseudo.CONFIRMED, pseudo.VOTED, pseudo.LOGGED, pseudo.REWORDED})
# Searched only to be compared with the pseudo-queries: no answer is known.
UNLABELLED = frozenset({pseudo.VOTED, pseudo.LOGGED})
# Fit confidence only: never choose the weights or train the reranker, nor enter the log's
# comparison of kinds.
CONFIDENCE_ONLY = frozenset({pseudo.SPARE})
MIN_CALIBRATION = 100
# Confirmed queries all answered in the top SHOWN look chosen from what agents were shown (their
# helpful votes, kb.golden.endorsed): real traffic always has some answered lower or not at all,
# and confidence fitted without those claims too much (docs/benchmarks.md, Confidence). Under
# this share answered below the top SHOWN, they are not fitted on.
SHOWN = 5
MIN_MISSED_SHARE = 0.05
# Incremental updates re-tune once this many tables (and this share of the KB) changed.
RETUNE_MIN_CHANGES = 20
RETUNE_SHARE = 0.1
# … and once this many labels (agents' votes, confirmed queries) came since, and this share of
# those it read: a KB whose content rests but whose agents vote is tuned again on their votes.
RETUNE_MIN_LABELS = 50
RETUNE_LABEL_SHARE = 0.25
READ_CHUNK = 25  # pseudo-queries searched per hold of the engine
# Distinct logged questions, at least, to compare the pseudo-queries with; and the loosened
# titles' odds under which they stand in for no real question (measured: 0.15-0.17 on a KB
# asked about details inside its answers, 0.68-2.1 on KBs asked in their titles' or similar
# questions' words; docs/benchmarks.md, "Questions answered inside the answers").
MIN_LOGGED = 100
TITLES_UNLIKE = 0.25

GRID = {
    "lexical_weight": (0.2, 0.35, 0.5, 0.7, 1.0, 1.5, 2.0),
    "lexical_body": (0.1, 0.3, 0.5, 1.0, 1.5),
    "hub_weight": (0.0, 0.3, 0.6, 0.9),
    "covered_weight": (0.0, 0.1, 0.2, 0.3),
    "title_weight": (0.5, 0.7, 0.85, 1.0),
    "body_weight": (0.8, 0.9, 1.0),
    "entry_weight": (0.8, 0.9, 1.0),
}
# A weighting is judged by the mean MRR@10 of the grid points within one step of it along each
# weight (edges repeated): the single best point moved with the seed of the pseudo-queries'
# draw (lexical_weight 0.7, 1.0 or 1.5 on one KB) and carried over less to users' questions.
NEIGHBOURHOOD = 3


@dataclass
class Example:
    """One pseudo-query searched: its pool (its own table masked), and where that table is."""

    query: pseudo.PseudoQuery
    sig: PoolSignals
    gold: int  # position of the query's table in the pool; -1: not in it
    fold: int
    unanswerable: bool  # asked as if its table were not in the KB (for confidence only)

    def asked(self) -> tuple[PoolSignals, int]:
        """The pool as the query is asked, and the answer's position there (-1: none)."""
        if self.unanswerable and self.gold >= 0:
            return self.sig.without(self.gold), -1
        return self.sig, -1 if self.unanswerable else self.gold


def _hash(text: str, seed: int) -> int:
    return zlib.crc32(f"{seed}:{text}".encode())


@dataclass
class Gathered:
    """What :func:`gather` read of the index: the pseudo-queries searched, and the report so far."""

    examples: list[Example]
    report: dict[str, Any]


def tune(index: HybridIndex, *, progress: Progress | None = None) -> None:
    """Fit ``index.fusion``, ``index.reranker`` and ``index.calibration`` (see the docstring)."""
    fit(index, gather(index, progress=progress))


def gather(
    index: HybridIndex, *, progress: Progress | None = None, reading: Reading = nullcontext
) -> Gathered:
    """Make the pseudo-queries and search each one: the part of tuning that reads the engine,
    under ``reading`` a few queries at a time (a serving process's read lock; ``index`` is a
    :meth:`~indexer.index.HybridIndex.tuning_copy`, whose documents stay as they were when it
    was made). Resets ``index``'s tuned parameters to the defaults the pools are made with."""
    from indexer.rerank import Reranker

    docs = list(index.docs.values())
    seed = index.tune_seed
    queries = pseudo.generate(docs, index.analyzer.words, seed=seed)
    queries += pseudo.confirmed(index.confirmed, docs, seed=seed)
    queries += pseudo.voted(index.votes, docs, seed=seed)
    logged = pseudo.logged(index.logged, docs, seed=seed)
    # (a KB without answers has no reworded spans to tune on: nothing for the log to decide)
    reworded = (
        pseudo.reworded(docs, index.analyzer.segments, seed=seed)
        if len(logged) >= MIN_LOGGED
        else []
    )
    if reworded:
        queries += reworded + logged
    counts = dict(Counter(q.source for q in queries))
    report: dict[str, Any] = {
        "seed": seed,
        "tables": len(docs),
        "changed_since": 0,
        "pseudo_queries": counts,
        "labels": dict(index.label_mark),
    }
    index.fusion = FusionParams(
        **{**index.fusion.to_json(), **{k: getattr(FusionParams(), k) for k in GRID}}
    )
    index.reranker = Reranker(status="not trained")
    index.calibration = Calibration()
    return Gathered(_examples(index, queries, progress, reading), report)


def fit(index: HybridIndex, gathered: Gathered) -> None:
    """Choose the weights, train the reranker and fit confidence on what :func:`gather` found,
    into ``index`` (its engine is not read: no lock is needed)."""
    from indexer.rerank import Reranker

    report = gathered.report
    logged = [e for e in gathered.examples if e.query.source == pseudo.LOGGED]
    examples = [e for e in gathered.examples if e.query.source != pseudo.LOGGED]
    left_out = _left_out(index, examples, logged, report) | CONFIDENCE_ONLY
    answerable = [e for e in examples if e.gold >= 0 and not e.unanswerable]
    report["in_pool"] = len(answerable)
    report["unanswerable"] = sum(e.unanswerable for e in examples)
    # Loose titles find their own table almost always: alone they teach nothing about how
    # users' wordings find content, so they only add to questions and answer spans.
    grounded = sum(e.query.source in GROUNDED for e in answerable)
    if grounded < MIN_QUERIES:
        why = (
            f"{grounded} pseudo-queries from similar questions, answers or confirmed queries found "
            "their table "
            f"among the candidates ({MIN_QUERIES} needed): defaults kept"
        )
        report["fusion"] = {"source": f"default ({why})"}
        index.reranker = Reranker(status=f"not trained ({why})")
        # Agents' verdicts judge whatever comes first: confidence can still be fitted on them.
        scores = [fused_score(sig, index.fusion) for sig, _ in (e.asked() for e in examples)]
    else:
        ranking = [e for e in answerable if e.query.source not in left_out]
        report["fusion"] = _choose_fusion(index, ranking, answerable)
        scores = _rerank(index, examples, report, left_out)
    # Confidence judges what is served first: the ranking with the latent terms joined.
    weight = index.fusion.latent_weight
    served = [
        with_latent(s, np.asarray(sig.latent, np.float64), weight)[0]
        for s, (sig, _) in zip(scores, (e.asked() for e in examples), strict=True)
    ]
    # The content stands in for users' questions by the kinds the ranking was tuned on.
    easiest = pseudo.REWORDED if "title" in left_out else "title"
    index.calibration = _calibrate(examples, served, easiest)
    index.tuning = report


def note_changes(index: HybridIndex, changed: int) -> bool:
    """Count tables an incremental update changed; whether the KB has drifted enough since
    the last tuning to tune again (then :func:`tune`)."""
    if not changed or not index.tuning:
        return False
    index.tuning["changed_since"] = int(index.tuning.get("changed_since", 0)) + changed
    return due(index)


def due(index: HybridIndex) -> bool:
    """Whether enough tables changed since the last tuning to tune again."""
    if not index.tuning:
        return False
    tables = int(index.tuning.get("tables", len(index.docs)))
    threshold = max(RETUNE_MIN_CHANGES, RETUNE_SHARE * tables)
    return int(index.tuning.get("changed_since", 0)) >= threshold


def log_due(index: HybridIndex, new_logged: int) -> bool:
    """Whether the query log, ``new_logged`` searches longer since the last tuning, may now
    say what to tune the ranking on: the last tuning compared no log, the KB has answers (so
    reworded spans to tune on) and :data:`MIN_LOGGED` searches came since (a log still too
    small or too repetitive after that waits for as many more, not for every sweep)."""
    if not index.tuning or "log" in index.tuning:
        return False
    answers = int((index.tuning.get("pseudo_queries") or {}).get("answer", 0))
    return answers > 0 and new_logged >= MIN_LOGGED


def labels_due(index: HybridIndex, new_labels: int) -> bool:
    """Whether ``new_labels`` added since the last tuning (:func:`kb.labels.new_since` of the
    mark it recorded) are enough to tune again: a KB tuned without votes gains a fitted
    confidence as its agents vote, one tuned on a few hundred follows a thousand more."""
    if not index.tuning or new_labels <= 0:
        return False
    read = int(index.tuning.get("labels", {}).get("read", 0))
    return new_labels >= max(RETUNE_MIN_LABELS, RETUNE_LABEL_SHARE * read)


# --- the pseudo-queries' pools ------------------------------------------------------------


def _examples(
    index: HybridIndex,
    queries: Sequence[pseudo.PseudoQuery],
    progress: Progress | None,
    reading: Reading = nullcontext,
) -> list[Example]:
    """Each pseudo-query searched as a user's would be, what it came from masked out.

    The engine is read under ``reading`` a few queries at a time, so that an update waiting
    for the engine does not wait for the whole search (nor the searches queued behind it).
    """
    from indexer.backends.base import QueryState

    index.prime_queries([q.text for q in queries])  # the encoder only: outside the lock
    index.prime_latents([q.text for q in queries])
    searched = []
    with index.lexical.memo():  # masked copies share most of their text with the originals
        for start in range(0, len(queries), READ_CHUNK):
            with reading():
                for q in queries[start : start + READ_CHUNK]:
                    tokens = index.analyzer.tokens(q.text)
                    state = QueryState(
                        q.text,
                        tokens,
                        index.encode_query(q.text),
                        index.lexical.scores(tokens, "agent"),
                        index.query_latent(q.text),
                    )
                    lexical, dense = index.candidate_lists(state, channel="agent", mode="hybrid")
                    # (a table indexed since the copy was made is not among its documents)
                    pool = sorted(t for t in set(lexical) | set(dense) if t in index.docs)
                    sig = index.signals(pool, state, channel="agent")
                    gold = pool.index(q.table_id) if q.table_id in pool else -1
                    searched.append((q, state, sig, gold, lexical, dense))
            if progress is not None:
                progress("tune", len(searched), len(queries))
        masking = [
            i
            for i, (q, *_, gold, _l, _d) in enumerate(searched)
            if gold >= 0 and q.source not in UNMASKED
        ]
        masked_docs = [searched[i][0].masked(index.docs[searched[i][0].table_id]) for i in masking]
        vectors = np.asarray([searched[i][1].vector for i in masking], np.float32)
        kinds = (  # the encoder (through the embedding cache) and the vector means only
            index.docs_kind_scores(masked_docs, vectors, public_only=False)
            if masking
            else np.zeros((0, 4), np.float32)
        )
        # (the latent terms of each masked copy: only the chunk that held the span is new)
        latents = index.docs_latent_scores(masked_docs, [searched[i][1] for i in masking])
        golds = [gold for *_, gold, _l, _d in searched]
        rows = list(enumerate(zip(masking, masked_docs, strict=True)))
        for start in range(0, len(rows), READ_CHUNK):
            with reading():
                for row, (i, doc) in rows[start : start + READ_CHUNK]:
                    q, state, sig, gold, lexical, dense = searched[i]
                    head, body = index.lexical.doc_scores(state.tokens, doc, "agent")
                    sig.head_covered[gold] = index.lexical.doc_head_covered(state.tokens, doc)
                    sig.latent_at(gold, latents[row])
                    golds[i] = _mask(
                        index, q.table_id, sig, gold, head, body, kinds[row], lexical, dense
                    )
    seed = index.tune_seed
    return [
        Example(
            query=q,
            sig=sig,
            gold=gold,
            fold=_hash(index.docs[q.table_id].code if q.table_id >= 0 else q.text, seed) % 2,
            # (a verdict already judges what comes first when the KB has no answer)
            unanswerable=q.source not in UNLABELLED
            and _hash(q.text, seed) % 1000 < UNANSWERABLE_SHARE * 1000,
        )
        for (q, _s, sig, _g, _l, _d), gold in zip(searched, golds, strict=True)
    ]


def _mask(
    index: HybridIndex,
    table_id: int,
    sig: PoolSignals,
    gold: int,
    head: float,
    body: float,
    kinds: np.ndarray,
    lexical: list[int],
    dense: list[int],
) -> int:
    """Put the masked table's signals into ``sig`` at ``gold``; its position, or -1 when the
    masked table would no longer have made either candidate list."""
    sig.head[gold], sig.body[gold] = head, body
    sig.kinds[gold] = kinds
    n = index.fusion.candidates
    position = {t: i for i, t in enumerate(sig.tables)}
    lex = lexical_score(sig, index.fusion)
    dense_values = dense_score(sig, index.fusion)

    def stays(listed: list[int], values: np.ndarray, *, positive: bool) -> bool:
        if positive and values[gold] <= 0:
            return False
        others = [values[position[t]] for t in listed if t != table_id]
        return len(others) < n or bool(values[gold] >= min(others))

    in_lexical = table_id in lexical and stays(lexical, lex, positive=True)
    in_dense = table_id in dense and stays(dense, dense_values, positive=False)
    return gold if in_lexical or in_dense else -1


# --- the query log ------------------------------------------------------------------------


def _left_out(
    index: HybridIndex, examples: list[Example], logged: list[Example], report: dict[str, Any]
) -> frozenset[str]:
    """The kinds of pseudo-query the weights and the reranker are not chosen on: reworded
    spans, unless the logged questions say the KB is not asked in its titles' words (then the
    titles instead); the resemblance found is kept in ``report["log"]``."""
    if not logged:
        return frozenset({pseudo.REWORDED})
    from indexer import resemblance

    compared = [
        e for e in examples if e.query.source not in UNLABELLED | CONFIDENCE_ONLY and len(e.sig)
    ]
    asked = [e for e in logged if len(e.sig)]
    if not compared or not asked:  # nothing found for either: nothing to compare
        return frozenset({pseudo.REWORDED})
    odds = resemblance.kind_odds(
        np.asarray([_first_row(e, index.fusion) for e in compared]),
        [e.query.source for e in compared],
        np.asarray([_first_row(e, index.fusion) for e in asked]),
    )
    titles = odds.get("title")
    unlike = titles is not None and titles < TITLES_UNLIKE and pseudo.REWORDED in odds
    report["log"] = {
        "questions": len(logged),
        "odds": odds,
        "tuned_on": "reworded answer spans instead of titles"
        if unlike
        else "the content's usual kinds",
    }
    return frozenset({"title"} if unlike else {pseudo.REWORDED})


def _first_row(e: Example, fusion: FusionParams) -> np.ndarray:
    """The reranker's features of what the blend puts first for ``e``."""
    row: np.ndarray = feature_matrix(e.sig, fusion)[int(np.argmax(fused_score(e.sig, fusion)))]
    return row


# --- fusion -------------------------------------------------------------------------------


class _Stacked:
    """Every answerable pool's rows end to end: one weighting scored over all pools at once.

    The dense side depends on the vector kinds' weights only and the lexical side on the body's
    weight only: each is computed once per value and kept (a grid repeats them hundreds of
    times)."""

    def __init__(self, sigs: list[PoolSignals], golds: Sequence[int]) -> None:
        self.kinds = np.vstack([s.kinds for s in sigs]).astype(np.float64)
        self.head = np.concatenate([s.head for s in sigs])
        self.body = np.concatenate([s.body for s in sigs])
        self.hub = np.concatenate([s.hub for s in sigs])
        self.covered = np.concatenate([s.head_covered for s in sigs])
        sizes = np.asarray([len(s) for s in sigs])
        self.head_att = np.repeat([s.head_attainable for s in sigs], sizes)
        self.body_att = np.repeat([s.body_attainable for s in sigs], sizes)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.group = np.repeat(np.arange(len(sigs)), sizes)
        self.gold_rows = self.starts + np.asarray(golds)
        self._dense: dict[tuple[float, ...], np.ndarray] = {}
        self._lexical: dict[float, np.ndarray] = {}

    def _dense_of(self, weights: tuple[float, ...]) -> np.ndarray:
        found = self._dense.get(weights)
        if found is None:
            found = self._dense[weights] = best_weighted(self.kinds, weights)
        return found

    def _lexical_of(self, body: float) -> np.ndarray:
        found = self._lexical.get(body)
        if found is None:
            found = self._lexical[body] = lexical_coverage(
                self.head, self.body, self.head_att, self.body_att, body
            )
        return found

    def mrr(self, fusion: FusionParams) -> float:
        dense = self._dense_of(tuple(fusion.kind_weights))
        lexical = self._lexical_of(fusion.lexical_body)
        fused = (
            fusion.dense_weight * dense
            - fusion.hub_weight * self.hub
            + fusion.lexical_weight * lexical
            + fusion.covered_weight * self.covered
        )
        ahead = np.add.reduceat(fused > fused[self.gold_rows][self.group], self.starts)
        return float(np.where(ahead < TOP, 1.0 / (ahead + 1), 0.0).mean())


def _ahead(scores: np.ndarray, gold: int) -> int | None:
    """How many of the pool score above its answer (ties go to the answer); None: not in it."""
    return None if gold < 0 else int((scores > scores[gold]).sum())


def _reciprocal_rank(scores: np.ndarray, gold: int) -> float:
    ahead = _ahead(scores, gold)
    return 1.0 / (ahead + 1) if ahead is not None and ahead < TOP else 0.0


def _choose_fusion(
    index: HybridIndex, ranking: list[Example], answerable: list[Example]
) -> dict[str, Any]:
    """The weights that rank the ``ranking`` queries best (each kind of ``answerable`` is
    reported)."""
    stacked = _Stacked([e.sig for e in ranking], [e.gold for e in ranking])
    base = index.fusion
    default_mrr = stacked.mrr(base)
    best, best_mrr = base, default_mrr
    names = [n for n in GRID if _tunable(index, n)]
    candidates = [
        FusionParams.from_json({**base.to_json(), **dict(zip(names, values, strict=True))})
        for values in itertools.product(*(GRID[n] for n in names))
    ]
    mrrs = np.asarray([stacked.mrr(params) for params in candidates])
    pick = broad_best(mrrs, [len(GRID[n]) for n in names])
    if mrrs[pick] > default_mrr:
        best, best_mrr = candidates[pick], float(mrrs[pick])
    moved = best_mrr - default_mrr > MIN_FUSION_GAIN
    index.fusion = best if moved else base
    by_source = {}
    for source in sorted({e.query.source for e in answerable}):
        part = [e for e in answerable if e.query.source == source]
        stacked_part = _Stacked([e.sig for e in part], [e.gold for e in part])
        by_source[source] = {
            "queries": len(part),
            "default_mrr": round(stacked_part.mrr(base), 4),
            "chosen_mrr": round(stacked_part.mrr(index.fusion), 4),
        }
    return {
        "source": "pseudo-queries" if moved else "default (no clear gain on pseudo-queries)",
        "tuned": names,
        "default_mrr": round(default_mrr, 4),
        "best_mrr": round(best_mrr, 4),
        "chosen": {n: getattr(index.fusion, n) for n in GRID},
        "by_source": by_source,
    }


def broad_best(values: np.ndarray, shape: Sequence[int]) -> int:
    """Position (in ``values``: a grid flattened in ``itertools.product`` order, axes
    ``shape``) of the point whose :data:`NEIGHBOURHOOD` neighbourhood scores best on average
    (edges repeated); ties go to the first."""
    from scipy.ndimage import uniform_filter

    grid = np.asarray(values, np.float64).reshape(tuple(shape))
    return int(np.argmax(uniform_filter(grid, size=NEIGHBOURHOOD, mode="nearest")))


def _tunable(index: HybridIndex, name: str) -> bool:
    if name in ("body_weight", "title_weight"):  # (a title weighs against the answers only)
        return "body" in index.kinds
    if name == "entry_weight":
        return "entry" in index.kinds
    return True


# --- reranker -----------------------------------------------------------------------------


def _rerank(
    index: HybridIndex, examples: list[Example], report: dict[str, Any], left_out: frozenset[str]
) -> list[np.ndarray]:
    """Train and judge the reranker on the examples of kinds not ``left_out``; per example
    (every one), the out-of-fold hybrid scores of its pool as asked (the blend's where no
    reranker is kept)."""
    from indexer.rerank import Reranker

    fusion = index.fusion
    asked = [e.asked() for e in examples]
    blend = [fused_score(sig, fusion) for sig, _ in asked]
    trainable = [
        e for e in examples if e.gold >= 0 and not e.unanswerable and e.query.source not in left_out
    ]
    if not index.allow_rerank:
        index.reranker = Reranker(status="off (ZHIKU_RERANK=false): the blend ranks")
        report["reranker"] = {"kept": False, "why": "switched off"}
        return blend
    if len(trainable) < MIN_RERANK:
        why = f"{len(trainable)} pseudo-queries to train on, {MIN_RERANK} needed"
        index.reranker = Reranker(status=f"not trained ({why}): the blend ranks")
        report["reranker"] = {"kept": False, "why": why}
        return blend
    models = {}
    for fold in (0, 1):
        models[fold] = _fit([e for e in trainable if e.fold != fold], fusion)
    out_of_fold = [
        rerank.pool_scores(models[e.fold], sig, fusion)
        for e, (sig, _) in zip(examples, asked, strict=True)
    ]
    judged = [
        (i, e)
        for i, e in enumerate(examples)
        if e.gold >= 0 and not e.unanswerable and e.query.source not in left_out
    ]
    rr_blend = np.asarray([_reciprocal_rank(blend[i], e.gold) for i, e in judged])
    rr_rerank = np.asarray([_reciprocal_rank(out_of_fold[i], e.gold) for i, e in judged])
    mrr_blend, mrr_rerank = float(rr_blend.mean()), float(rr_rerank.mean())
    differences = rr_rerank - rr_blend
    kept = not clearly_worse(differences)
    se = _standard_error(differences)
    report["reranker"] = {
        "kept": kept,
        "trained_on": len(trainable),
        "out_of_fold_mrr": {"blend": round(mrr_blend, 4), "reranker": round(mrr_rerank, 4)},
        "difference_se": round(se, 4),
    }
    if not kept:
        index.reranker = Reranker(
            status=f"not kept: out-of-fold MRR@10 {mrr_rerank:.3f} vs the blend's "
            f"{mrr_blend:.3f} on {len(judged)} pseudo-queries, below it by more than "
            f"{RERANK_LOSS_SE:g} standard errors ({se:.3f} each); "
            "the blend ranks"
        )
        return blend
    final = _fit(trainable, fusion)
    final.status = (
        f"LightGBM LambdaRank on {len(trainable)} pseudo-queries, joined with the blend "
        f"({final.blend_share:g} of the order); out-of-fold MRR@10 "
        f"{mrr_rerank:.3f} (blend {mrr_blend:.3f})"
    )
    final.scale = _scale(out_of_fold, blend)
    index.reranker = final
    return out_of_fold


def clearly_worse(differences: np.ndarray) -> bool:
    """Whether paired differences (reranked minus blend, per pseudo-query) say the joined order
    loses: their mean below zero by more than :data:`RERANK_LOSS_SE` standard errors."""
    if len(differences) < 2:
        return True
    return float(differences.mean()) < -RERANK_LOSS_SE * _standard_error(differences)


def _standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) / float(np.sqrt(len(values))) if len(values) > 1 else 0.0


def _fit(examples: list[Example], fusion: FusionParams) -> Any:
    from indexer.rerank import Reranker

    xs, ys, groups = [], [], []
    for e in examples:
        top = rerank.top_rows(fused_score(e.sig, fusion))
        if e.gold not in top:
            continue  # the reranker never sees what the blend left below its depth
        xs.append(feature_matrix(e.sig, fusion)[top])
        ys.append((top == e.gold).astype(np.float64))
        groups.append(len(top))
    model = rerank.train(np.vstack(xs), np.concatenate(ys), groups)
    return Reranker(model=model, status="", blend_share=rerank.BLEND_SHARE)


def _scale(reranked: list[np.ndarray], blend: list[np.ndarray]) -> float:
    """Reranker units per blend unit: the ratio of their spreads over the pools' top tens."""
    spread_r = [np.std(np.sort(s)[::-1][:TOP]) for s in reranked if len(s) > 1]
    spread_b = [np.std(np.sort(s)[::-1][:TOP]) for s in blend if len(s) > 1]
    b = float(np.mean(spread_b)) if spread_b else 0.0
    return round(float(np.mean(spread_r)) / b, 4) if b > 0 else 1.0


# --- confidence ---------------------------------------------------------------------------


def _calibrate(
    examples: list[Example], scores: list[np.ndarray], easiest: str = "title"
) -> Calibration:
    """Fit confidence on real users' wordings (held-out similar questions, confirmed queries,
    agents' votes) as they were ranked (out of fold), some asked without their table; where
    there are too few, on the KB's own content (:func:`_content_calibration`, with the
    ``easiest`` kind of pseudo-query); the defaults where that cannot serve either."""
    selected = _rank_selected(examples, scores)
    helped = _helpful_only(examples)

    def real(e: Example) -> bool:
        source = e.query.source
        return source in CALIBRATING and not (
            (selected and source == pseudo.CONFIRMED) or (helped and source == pseudo.VOTED)
        )

    judged = _Judged.of(examples, scores, real)
    what = _wordings(judged.by_source)
    for why in (selected, helped):
        if why:
            what += f" ({why})"
    if judged.fittable:
        return judged.fit(f"{what} ranked as users' would be")
    too_few = f"{what}, {MIN_CALIBRATION} needed with 10 right and 10 wrong at least"
    return _content_calibration(examples, scores, too_few, easiest) or Calibration(
        source=f"default ({too_few})"
    )


def _content_calibration(
    examples: list[Example], scores: list[np.ndarray], too_few: str, easiest: str = "title"
) -> Calibration | None:
    """Confidence fitted on the KB's own content, for a KB with answers and no real users' wordings
    yet: its answer spans (masked out of their answer: a question answered inside it, whose
    words the answer no longer says there; on a KB of few tables, more of them than the ranking
    was tuned on, :data:`pseudo.SPARE`) and its loosened titles (a question worded as the KB
    words it). Real questions fall between the two, so the two weigh half each in the fit,
    however many of either the KB gave (more spans than titles had pulled the model toward the
    hardest questions: under-confident on all three KBs measured), and what it says is raised by
    :data:`calibrating.CONTENT_SHIFT` in log-odds (it was still under-confident on users'
    questions, by about that much on seven of eight runs measured), then steepened by
    :data:`calibrating.CONTENT_STEEPNESS` (the lead says more of users' questions). No fixed
    model carries from one KB to another: on three KBs with answers, the defaults' ECE ranged
    from 0.10 to 0.41 and this one's from 0.03 to 0.05 where the shift was chosen (0.10 to 0.18
    before it) and 0.06 to 0.13 on three KBs it was not chosen on (docs/benchmarks.md,
    Confidence). Titles alone teach nothing (they find their own table almost always), so a KB
    without :data:`MIN_CALIBRATION` answer spans asked keeps the defaults (None), as does one
    whose queries are too seldom right or wrong.

    The model reads the lead of the ranking served only (:data:`calibrating.CONTENT_FEATURES`):
    how well a pseudo-query matches says whether it is answered right, not whether a user's
    question is.

    Where the query log says users do not ask in the titles' words (the ranking was tuned on
    reworded spans instead), the reworded spans are the ``easiest`` kind in place of the
    titles: measured on the demo's questions inside answers, ECE 0.24-0.28 with the titles and
    0.06-0.09 with them (docs/benchmarks.md, "Questions answered inside the answers")."""
    kinds = {"answer", pseudo.SPARE, easiest}
    judged = _Judged.of(examples, scores, lambda e: e.query.source in kinds)
    # The spans for confidence only are answer spans: one source with the others in the fit.
    judged.sources = ["answer" if s == pseudo.SPARE else s for s in judged.sources]
    spans, easy = judged.by_source["answer"], judged.by_source[easiest]
    if spans < MIN_CALIBRATION or not judged.fittable:
        return None
    named = "titles" if easiest == "title" else f"{easiest} spans"
    return judged.fit(
        f"{spans} answer spans and {easy} {named}, weighing half each, ranked as users' "
        f"questions would be, raised by {calibrating.CONTENT_SHIFT:g} in log-odds and steepened "
        f"{calibrating.CONTENT_STEEPNESS:g}× for users' questions, read on "
        f"{', '.join(calibrating.CONTENT_FEATURES)} only",
        f"no real users' wordings yet: {too_few}",
        even=True,
        shift=calibrating.CONTENT_SHIFT,
        steepness=calibrating.CONTENT_STEEPNESS,
        using=calibrating.CONTENT_FEATURES,
    )


@dataclass
class _Judged:
    """Top suggestions' confidence features and whether each was right, per source."""

    rows: list[np.ndarray]
    correct: list[bool]
    unanswerable: int
    sources: list[str]  # each row's

    @classmethod
    def of(
        cls, examples: list[Example], scores: list[np.ndarray], keep: Callable[[Example], bool]
    ) -> _Judged:
        """What ``scores`` put first for each kept example; a query whose agents' verdict
        says nothing of it is left out."""
        judged = cls([], [], 0, [])
        for e, s in zip(examples, scores, strict=True):
            if not len(s) or not keep(e):
                continue
            sig, gold = e.asked()
            best = int(np.argmax(s))
            verdict = e.query.verdict
            right = best == gold if verdict is None else verdict.judges(sig.tables[best])
            if right is None:
                continue
            judged.rows.append(confidence_features(sig, s)[best])
            judged.correct.append(right)
            judged.unanswerable += e.unanswerable
            judged.sources.append(e.query.source)
        return judged

    @property
    def by_source(self) -> Counter[str]:
        return Counter(self.sources)

    @property
    def fittable(self) -> bool:
        right = sum(self.correct)
        return len(self.correct) >= MIN_CALIBRATION and min(right, len(self.correct) - right) >= 10

    def fit(
        self,
        what: str,
        *notes: str,
        even: bool = False,
        shift: float = 0.0,
        using: Sequence[str] = calibrating.FEATURES,
        steepness: float = 1.0,
    ) -> Calibration:
        """The model fitted on these rows; ``even``: each source weighing the same in all,
        however many rows it has; ``shift``: log-odds added, ``using``: the features fitted
        on, ``steepness``: the raised log-odds' factor (:func:`calibrating.fit`)."""
        if self.unanswerable:
            notes = (f"{self.unanswerable} asked without their table", *notes)
        weights = None
        if even:
            counts = self.by_source
            share = len(self.sources) / len(counts)
            weights = np.asarray([share / counts[s] for s in self.sources])
        return calibrating.fit(
            np.asarray(self.rows),
            self.correct,
            source=what + (f" ({'; '.join(notes)})" if notes else ""),
            weights=weights,
            shift=shift,
            steepness=steepness,
            using=using,
        )


def _helpful_only(examples: list[Example]) -> str:
    """Why the agents' votes look cast only on what helped, or ``""``: when fewer than
    :data:`MIN_MISSED_SHARE` of the queries voted on (at least 100) have no table voted
    helpful, nothing says what the queries the KB answers badly look like (as with a golden
    set chosen from what was shown, :func:`_rank_selected`)."""
    verdicts = [e.query.verdict for e in examples if e.query.verdict is not None]
    if len(verdicts) < MIN_CALIBRATION:
        return ""
    unanswered = sum(not v.right for v in verdicts)
    if unanswered >= MIN_MISSED_SHARE * len(verdicts):
        return ""
    return (
        f"{len(verdicts) - unanswered} of the {len(verdicts)} queries agents voted on have a "
        "table voted helpful: votes on what helped only, not fitted on"
    )


def _rank_selected(examples: list[Example], scores: list[np.ndarray]) -> str:
    """Why the confirmed queries look chosen by their rank (see :data:`MIN_MISSED_SHARE`), or
    ``""``: the share of them (asked with their table) answered below the top :data:`SHOWN`
    of their out-of-fold ranking, or not among the candidates at all."""
    asked = [
        (e, s)
        for e, s in zip(examples, scores, strict=True)
        if e.query.source == pseudo.CONFIRMED and not e.unanswerable and len(s)
    ]
    if len(asked) < MIN_CALIBRATION:
        return ""
    missed = sum((ahead := _ahead(s, e.gold)) is None or ahead >= SHOWN for e, s in asked)
    if missed >= MIN_MISSED_SHARE * len(asked):
        return ""
    return (
        f"{len(asked) - missed} of the {len(asked)} confirmed queries are answered in the top "
        f"{SHOWN}: a set chosen from what was shown, not fitted on"
    )


def _wordings(by_source: Counter[str]) -> str:
    """``120 held-out similar questions and 300 confirmed queries``, as counted (and the
    queries agents voted on)."""
    parts = []
    if by_source["question"] or not (by_source[pseudo.CONFIRMED] or by_source[pseudo.VOTED]):
        parts.append(f"{by_source['question']} held-out similar questions")
    if by_source[pseudo.CONFIRMED]:
        parts.append(f"{by_source[pseudo.CONFIRMED]} confirmed queries (golden set)")
    if by_source[pseudo.VOTED]:
        parts.append(f"{by_source[pseudo.VOTED]} queries agents voted on")
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 2 else parts)
