"""Running a dataset's queries through every retrieval mode of one KB build.

One build per dataset (import + index), then each mode in turn over every query, timing each
search. The result is one *run record* per (dataset, mode): a plain JSON-ready dict with the
git commit, encoder, parameters, machine, build cost, metrics with bootstrap intervals,
latency percentiles, abstention, calibration, and one record per query.

Held-out entries (``holdout`` share, chosen with ``seed``) are left out of the index; queries
whose relevant entries are all held out should get "no confident answer" and are scored only
for abstention. The ranking metrics cover the other (answerable) queries, with their relevant
ids restricted to the indexed entries.

With a ``confirm_share``, that share of the queries is drawn (seeded), and those with one
indexed relevant entry are confirmed into the KB's golden set before the build, as staff would
confirm logged queries (:mod:`kb.golden`): self-tuning fits confidence (and may tune the
ranking) on them. No drawn query is measured: every metric is on the other queries, which keep
the dataset's share of unanswerable ones.

With a ``log_share``, that share of the other queries is drawn (seeded) and given to the build
as its query log: questions without answers, as a KB in use has logged, which tell self-tuning
which of its pseudo-queries read like its users' questions (:mod:`indexer.resemblance`). None
of them is measured either.

With ``confirm_shown`` K as well, only the drawn queries whose answer was among the top K
suggestions of a first search (a build without confirmations) are confirmed, as when the golden
set is filled from agents' helpful votes (:func:`kb.golden.endorsed`): agents vote on what they
are shown, so such a set lacks the queries the KB ranks badly.

With a ``vote_share``, simulated votes are cast on that share of the queries before the runs
(:mod:`eval.feedback_sim`), the KB is indexed again with self-tuning on the agents' votes (as
its next tuning would: confidence may be fitted on their verdicts), and each mode reports two
datasets: ``NAME:voted`` (those queries asked again) and ``NAME:other`` (measured on queries no
tuning saw).

Every record names its ``variant``: ``full`` for the configuration as set; with ``ablate``,
the same KB is re-indexed once per :mod:`eval.ablation` variant and searched in hybrid mode;
with ``baselines``, the simple setups of :mod:`eval.baselines` run over the same entries and
queries (variant ``baseline``, their names as modes).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from time import perf_counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eval import ablation, confidence, environment, feedback_sim, metrics
from eval.datasets import Dataset, Query
from eval.errors import EvalError
from eval.extras import require
from eval.sandbox import EvalKB, shared_cache, temporary_kb
from kb.search_contract import SearchRequest, Suggestion
from kb.settings import Settings
from kb.visibility import Channel

FORMAT = "zhiku-eval/1"
MODES = ("bm25", "dense", "hybrid")

KBFactory = Callable[..., AbstractContextManager[EvalKB]]


@dataclass(frozen=True)
class RunConfig:
    modes: tuple[str, ...] = MODES
    k: int = 10
    seed: int = 0
    holdout: float = 0.1
    bootstrap_samples: int = metrics.BOOTSTRAP_SAMPLES
    channel: str = Channel.AGENT.value
    confirm_share: float = 0.0  # queries confirmed into the golden set, not measured
    confirm_shown: int = 0  # … only those answered in the top K of a first search (0: all)
    log_share: float = 0.0  # queries logged (no answer) before the build, not measured
    vote_share: float = 0.0  # queries voted on before the runs (eval.feedback_sim)
    vote_noise: float = 0.0  # share of those voted on wrongly
    ablate: bool = False  # also every eval.ablation variant, hybrid mode
    baselines: bool = False  # also the simple setups of eval.baselines


def held_out_ids(dataset: Dataset, share: float, seed: int) -> frozenset[str]:
    """A seeded random ``share`` of the entry ids (rounded), to leave out of the index."""
    if not 0 <= share < 1:
        raise ValueError("holdout must be in [0, 1)")
    ids = sorted(e.id for e in dataset.entries)
    count = round(share * len(ids))
    return frozenset(random.Random(seed).sample(ids, count))


def confirmed_queries(
    dataset: Dataset, held: frozenset[str], share: float, seed: int
) -> tuple[list[tuple[Query, str]], frozenset[str]]:
    """What the KB's staff would have confirmed (the golden set), and what is not measured.

    A seeded ``share`` of all the queries is drawn; of those, the ones with exactly one
    indexed relevant entry are confirmed (with that entry's id). None of the drawn is
    measured: the rest of them (no answer in the index, or several) are set aside too, so the
    measured queries keep the dataset's share of unanswerable ones and abstention precision
    stays comparable with a run that confirms nothing.
    """
    if not 0 <= share < 1:
        raise ValueError("confirm_share must be in [0, 1)")
    drawn = random.Random(f"confirm:{seed}").sample(
        list(dataset.queries), round(share * len(dataset.queries))
    )
    confirmed = []
    for query in drawn:
        indexed = [r for r in query.relevant if r not in held]
        if len(indexed) == 1:
            confirmed.append((query, indexed[0]))
    return confirmed, frozenset(q.qid for q in drawn)


def logged_queries(dataset: Dataset, drawn: frozenset[str], share: float, seed: int) -> list[Query]:
    """A seeded ``share`` of all the queries, drawn among those not already ``drawn``: what
    the KB's query log holds before the build (their texts only)."""
    if not 0 <= share < 1:
        raise ValueError("log_share must be in [0, 1)")
    left = [q for q in dataset.queries if q.qid not in drawn]
    count = min(len(left), round(share * len(dataset.queries)))
    return random.Random(f"log:{seed}").sample(left, count)


def evaluate(
    dataset: Dataset,
    config: RunConfig,
    *,
    settings: Settings,
    open_kb: KBFactory = temporary_kb,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    """The run records of ``dataset``: one per mode of ``config``, then per ablation variant
    and per baseline when asked for."""
    held = held_out_ids(dataset, config.holdout, config.seed)
    confirmed, drawn = confirmed_queries(dataset, held, config.confirm_share, config.seed)
    logged = logged_queries(dataset, drawn, config.log_share, config.seed)
    drawn |= {q.qid for q in logged}
    if drawn and len(drawn) == len(dataset.queries):
        raise EvalError(
            f"{dataset.name}: --confirm-share {config.confirm_share} and --log-share "
            f"{config.log_share} draw every query, so none of its {len(drawn)} queries is left "
            "to measure; use smaller shares"
        )
    if confirmed and config.confirm_shown:
        confirmed = _shown(dataset, held, confirmed, config.confirm_shown, settings, open_kb)
    if drawn:
        dataset = replace(dataset, queries=[q for q in dataset.queries if q.qid not in drawn])
    if config.vote_share:  # measured apart, the voted and the other queries: neither empty
        to_vote = feedback_sim.voted_qids(dataset, config.vote_share, config.seed)
        if not to_vote or len(to_vote) == len(dataset.queries):
            raise EvalError(
                f"{dataset.name}: --simulate-votes {config.vote_share} votes on "
                f"{len(to_vote)} of its {len(dataset.queries)} measured queries; the voted and "
                "the other queries are measured apart, so both need some: choose a share "
                "between them"
            )
    if config.baselines:  # say what is missing before the long work
        require("rank_bm25", "kb eval --baselines")
    with _progress(console) as progress:

        def imported(done: int, total: int) -> None:
            progress.update(importing, completed=done, total=total)

        importing = progress.add_task(
            f"{dataset.name}: import", total=len(dataset.entries) - len(held)
        )
        # Only a run that confirms or logs queries says so: other KB factories need not know.
        extra: dict[str, Any] = {}
        if confirmed:
            extra["confirmed"] = [(q.query, entry) for q, entry in confirmed]
        if logged:
            extra["logged"] = [q.query for q in logged]
        with open_kb(dataset, settings, held_out=held, progress=imported, **extra) as kb:
            # one line per stage as well: logs of non-interactive runs (make bench) show no bars
            progress.console.print(
                f"{dataset.name}: imported in {kb.import_s:.1f} s, index built in {kb.index_s:.1f} s"
                f"{_cache_note(kb.embedding_cache)}"
            )
            voted = _cast_votes(kb, dataset, held, config, progress.console)
            if voted is not None and settings.self_tune and kb.tuned_on_votes is not None:
                kb = _tuned_on_votes(kb, kb.tuned_on_votes, dataset.name, progress.console)
            run = partial(_run_modes, dataset, held, config, settings, voted, progress)
            records = run(kb, config.modes, ablation.FULL, {})
            for name, overrides in ablation.variants(settings) if config.ablate else ():
                if kb.rebuild is None:
                    raise EvalError(f"{dataset.name}: this KB cannot be re-indexed for --ablate")
                variant = kb.rebuild(overrides)
                progress.console.print(
                    f"{dataset.name}: {name}: index rebuilt in {variant.index_s:.1f} s"
                    f"{_cache_note(variant.embedding_cache)}"
                )
                records += run(variant, (ablation.MODE,), name, overrides)
        if config.baselines:
            records += _baselines(dataset, held, config, settings, voted, progress)
    return records


def _shown(
    dataset: Dataset,
    held: frozenset[str],
    confirmed: list[tuple[Query, str]],
    k: int,
    settings: Settings,
    open_kb: KBFactory,
) -> list[tuple[Query, str]]:
    """The confirmed pairs whose entry a first build (without them) shows an agent in its top
    ``k``: what agents could have voted helpful on."""
    with open_kb(dataset, settings, held_out=held) as kb:
        service = kb.open_service()
        kept = []
        for query, entry in confirmed:
            result = service.search(SearchRequest(query.query, Channel.AGENT, k=k, mode="hybrid"))
            if entry in {kb.codes.get(s.code, s.code) for s in result.suggestions[:k]}:
                kept.append((query, entry))
    return kept


def _cache_note(cache: dict[str, Any]) -> str:
    if not cache:
        return ""
    return f" (embedding cache: {cache['hits']} hits, {cache['misses']} misses)"


def _run_modes(
    dataset: Dataset,
    held: frozenset[str],
    config: RunConfig,
    settings: Settings,
    voted: frozenset[str] | None,
    progress: Progress,
    kb: EvalKB,
    modes: tuple[str, ...],
    variant: str,
    overrides: dict[str, Any],
) -> list[dict[str, Any]]:
    """One record per mode (per part, with simulated votes) of one build of the KB."""
    build = {
        "import_s": kb.import_s,
        "index_s": kb.index_s,
        "total_s": kb.import_s + kb.index_s,
        "rss_mb": environment.rss_mb(),
        "embedding_cache": kb.embedding_cache,
    }
    system = {
        "variant": variant,
        "overrides": overrides,
        "encoder": kb.encoder,
        "index_params": kb.index_params,
        "build": build,
        "confirmed": kb.confirmed,
        "logged": kb.logged,
    }
    label = dataset.name if variant == ablation.FULL else f"{dataset.name} {variant}"
    records = []
    for mode in modes:
        task = progress.add_task(f"{label}: {mode}", total=len(dataset.queries))
        per_query = list(
            _run_queries(kb, dataset, held, mode, config, partial(progress.advance, task))
        )
        for part, queries in _parts(dataset, per_query, voted):
            records.append(_record(part, held, mode, config, system, queries, settings))
        latency = metrics.latency_summary([q["latency_ms"] for q in per_query])
        progress.console.print(
            f"{label}: {mode}: {len(per_query)} queries, "
            f"p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms"
        )
    return records


def _baselines(
    dataset: Dataset,
    held: frozenset[str],
    config: RunConfig,
    settings: Settings,
    voted: frozenset[str] | None,
    progress: Progress,
) -> list[dict[str, Any]]:
    """The records of every :mod:`eval.baselines` setup over the indexed entries (split as
    Zhiku's are when votes were simulated, though votes do not reach a baseline)."""
    from eval import baselines
    from indexer.embedding_cache import EmbeddingCache
    from indexer.encoders import encoder_from_settings

    entries = [e for e in dataset.entries if e.id not in held]
    task = progress.add_task(
        f"{dataset.name}: baselines", total=len(baselines.MODES) * len(dataset.queries)
    )
    encoder = encoder_from_settings(settings)
    cache = EmbeddingCache(shared_cache(settings))
    try:
        runs = baselines.run(
            entries,
            [q.query for q in dataset.queries],
            k=config.k,
            encoder=encoder,
            cache=cache,
            tick=partial(progress.advance, task),
        )
    finally:
        cache.close()
    records = []
    for run in runs:
        per_query = [
            _query_record(
                query,
                held,
                config.k,
                ranked.latency_ms,
                abstained=False,
                top=[
                    {"id": i, "confidence": None, "score": score, "field": None}
                    for i, score in zip(ranked.ids, ranked.scores, strict=True)
                ],
            )
            for query, ranked in zip(dataset.queries, run.rankings, strict=True)
        ]
        system = {
            "variant": ablation.BASELINE,
            "overrides": {},
            "encoder": encoder.id,
            "index_params": {"baseline": run.setup},
            "build": {
                "import_s": 0.0,
                "index_s": run.build_s,
                "total_s": run.build_s,
                "rss_mb": environment.rss_mb(),
                "embedding_cache": run.embedding_cache or {},
            },
        }
        for part, queries in _parts(dataset, per_query, voted):
            records.append(_record(part, held, run.mode, config, system, queries, settings))
        latency = metrics.latency_summary([q["latency_ms"] for q in per_query])
        progress.console.print(
            f"{dataset.name}: baseline {run.mode}: built in {run.build_s:.1f} s, "
            f"p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms"
        )
    return records


def _cast_votes(
    kb: EvalKB, dataset: Dataset, held: frozenset[str], config: RunConfig, console: Console
) -> frozenset[str] | None:
    """The qids voted on (None: no simulated votes asked for)."""
    if not config.vote_share:
        return None
    voted = feedback_sim.voted_qids(dataset, config.vote_share, config.seed)
    count = feedback_sim.cast_votes(
        kb,
        dataset,
        voted,
        held,
        channel=config.channel,
        k=config.k,
        noise=config.vote_noise,
        seed=config.seed,
    )
    console.print(
        f"{dataset.name}: {count.helpful} helpful and {count.not_helpful} not-helpful "
        f"simulated votes on {count.queries} queries"
    )
    return voted


def _tuned_on_votes(
    kb: EvalKB, tuned_on_votes: Callable[[], EvalKB], name: str, console: Console
) -> EvalKB:
    """``kb`` indexed again, self-tuning on the agents' votes just cast (confidence may be
    fitted on their verdicts), as the KB's next tuning would; its first build's costs kept."""
    tuned = tuned_on_votes()
    console.print(
        f"{name}: indexed again in {tuned.index_s:.1f} s, self-tuning on {tuned.votes} agents' votes"
    )
    return replace(
        tuned, import_s=kb.import_s, index_s=kb.index_s, embedding_cache=kb.embedding_cache
    )


def _parts(
    dataset: Dataset, per_query: list[dict[str, Any]], voted: frozenset[str] | None
) -> list[tuple[Dataset, list[dict[str, Any]]]]:
    """The whole dataset, or its voted and other queries as two datasets."""
    if voted is None:
        return [(dataset, per_query)]
    parts = []
    for suffix, inside in ((feedback_sim.VOTED, True), (feedback_sim.OTHER, False)):
        queries = [q for q in dataset.queries if (q.qid in voted) is inside]
        part = replace(dataset, name=f"{dataset.name}:{suffix}", queries=queries)
        parts.append((part, [q for q in per_query if (q["qid"] in voted) is inside]))
    return parts


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
        disable=console is not None and not console.is_terminal,
    )


WARM_UP = "预热 warm-up"  # not a dataset query: it must not leave a cached vector behind


def _run_queries(
    kb: EvalKB,
    dataset: Dataset,
    held: frozenset[str],
    mode: str,
    config: RunConfig,
    tick: Callable[[], None],
) -> Iterator[dict[str, Any]]:
    channel = Channel(config.channel)
    service = kb.open_service()
    # the first search initializes lazily loaded state; keep it out of the timings
    service.search(SearchRequest(WARM_UP, channel, k=config.k, mode=mode))
    for query in dataset.queries:
        started = perf_counter()
        result = service.search(SearchRequest(query.query, channel, k=config.k, mode=mode))
        elapsed_ms = (perf_counter() - started) * 1000
        top = [_suggestion(s, kb.codes) for s in result.suggestions]
        yield _query_record(
            query, held, config.k, elapsed_ms, abstained=bool(result.abstained), top=top
        )
        tick()


def _query_record(
    query: Query,
    held: frozenset[str],
    k: int,
    latency_ms: float,
    *,
    abstained: bool,
    top: list[dict[str, Any]],
) -> dict[str, Any]:
    """One query's outcome; the ranking metrics count ``score`` ties (None: no tie)."""
    relevant = [r for r in query.relevant if r not in held]
    negatives = [n for n in query.hard_negatives if n not in held]
    ranking = [(s["id"], s["score"]) for s in top]
    return {
        "qid": query.qid,
        "query": query.query,
        "relevant": relevant,
        "hard_negatives": negatives,
        "held_out": not relevant,
        "abstained": abstained,
        "latency_ms": latency_ms,
        "top": top,
        "metrics": metrics.query_metrics(ranking, relevant, negatives, k=k) if relevant else None,
    }


def _suggestion(suggestion: Suggestion, codes: dict[str, str]) -> dict[str, Any]:
    """The parts of a suggestion a report needs, with the dataset id for its table code.

    ``score`` is the service's ranking score for the mode (``scores.score``, as rounded by
    the service): suggestions with equal scores count as tied in the metrics.
    """
    return {
        "id": codes.get(suggestion.code, suggestion.code),
        "confidence": suggestion.confidence,
        "score": suggestion.scores.score,
        "field": suggestion.matched.key,
    }


def _record(
    dataset: Dataset,
    held: frozenset[str],
    mode: str,
    config: RunConfig,
    system: dict[str, Any],
    per_query: list[dict[str, Any]],
    settings: Settings,
) -> dict[str, Any]:
    """A run record; ``system``: variant, overrides, encoder, index_params and build of what
    was searched."""
    answerable = [q for q in per_query if not q["held_out"]]
    baseline = system["variant"] == ablation.BASELINE
    index_params = system["index_params"]
    thresholds = (index_params.get("calibration") or {}).get("thresholds")
    return {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {
            "name": dataset.name,
            "path": str(dataset.path) if dataset.path else None,
            **dataset.sizes(),
            "held_out_entries": len(held),
            "answerable_queries": len(answerable),
            "held_out_queries": len(per_query) - len(answerable),
            "confirmed_queries": system.get("confirmed", 0),
            "logged_queries": system.get("logged", 0),
        },
        "mode": mode,
        "variant": system["variant"],
        "params": {
            **asdict(config),
            "modes": list(config.modes),
            "overrides": system["overrides"],
            "index": index_params,
            "feedback": {
                "ranking": settings.feedback_ranking,
                "step": settings.feedback_step,
                "cap": settings.feedback_cap,
                "half_life_days": settings.feedback_half_life_days,
            },
        },
        "encoder": system["encoder"],
        "git": environment.git_commit(),
        "machine": environment.machine(),
        "build": system["build"],
        "memory": {"rss_mb": environment.rss_mb(), "peak_rss_mb": environment.peak_rss_mb()},
        "metrics": summarize(per_query, seed=config.seed, samples=config.bootstrap_samples),
        # a baseline has no confidence: it never abstains
        "abstention": None
        if baseline
        else metrics.abstention(
            [q["held_out"] for q in per_query], [q["abstained"] for q in per_query]
        ),
        "calibration": None if baseline else _calibration(per_query),
        "confidence": confidence.summary(per_query, thresholds),
        "latency": metrics.latency_summary([q["latency_ms"] for q in per_query]),
        "queries": per_query,
    }


def summarize(per_query: list[dict[str, Any]], *, seed: int, samples: int) -> dict[str, Any]:
    """Mean and bootstrap interval of each metric over the queries it applies to."""
    scored = [q["metrics"] for q in per_query if q["metrics"] is not None]
    out: dict[str, Any] = {}
    names = [*metrics.MAIN_METRICS, "hard_negative"]
    for name in names:
        values = [m[name] for m in scored if m.get(name) is not None]
        key = "hard_negative_rate" if name == "hard_negative" else name
        out[key] = {
            "value": metrics.mean(values),
            "ci": metrics.bootstrap_ci(values, seed=seed, samples=samples),
            "n": len(values),
        }
    return out


def _calibration(per_query: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1 confidence against top-1 correctness, over every query that got a suggestion.

    Held-out queries count too (their top suggestion is never correct): a confidence that
    means something should be low for them.
    """
    with_top = [q for q in per_query if q["top"]]
    return metrics.reliability(
        [q["top"][0]["confidence"] for q in with_top],
        [q["top"][0]["id"] in q["relevant"] for q in with_top],
    )


def results_document(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON file a run writes: every run record of one ``kb eval`` invocation."""
    return {"format": FORMAT, "runs": records}
