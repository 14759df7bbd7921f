"""The runner on the toy dataset with fixed rankings: numbers worked out by hand below."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from functools import partial
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from eval.datasets import Dataset, load_dataset
from eval.errors import EvalError
from eval.runner import RunConfig, evaluate, held_out_ids
from eval.sandbox import EvalKB
from kb.settings import Settings
from tests.eval.toy import QUERIES, RANKINGS, THRESHOLDS, fake_kb, write_toy

QUIET = Console(file=StringIO())


def _run(tmp_path: Path, **config: Any) -> list[dict[str, Any]]:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    return evaluate(
        dataset,
        RunConfig(**{"holdout": 0.0, "modes": ("bm25", "hybrid"), **config}),
        settings=Settings(encoder="fake"),
        open_kb=fake_kb,
        console=QUIET,
    )


def test_toy_metrics_match_a_hand_computation(tmp_path: Path) -> None:
    records = _run(tmp_path)
    assert [r["mode"] for r in records] == ["bm25", "hybrid"]
    run = records[0]
    # q1: e1 first.                     RR 1,    R@1 1,   nDCG 1,  hard negative e2 below: 0
    # q2: e2 tied with e3 at ranks 1-2. RR 3/4,  R@1 1/2, nDCG (1 + 1/log2 3)/2, e3 tied: 1/2
    # q3: e4 at 1, e3 at 4 (2 relevant) RR 1,    R@1 1/2, nDCG (1 + 1/log2 5)/(1 + 1/log2 3)
    # q4: nothing returned.             all 0
    q2_ndcg = (1 + 1 / math.log2(3)) / 2
    q3_ndcg = (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    m = run["metrics"]
    assert m["mrr@10"]["value"] == pytest.approx((1 + 0.75 + 1 + 0) / 4)
    assert m["recall@1"]["value"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)
    assert m["recall@5"]["value"] == pytest.approx(3 / 4)
    assert m["recall@10"]["value"] == pytest.approx(3 / 4)
    assert m["ndcg@10"]["value"] == pytest.approx((1 + q2_ndcg + q3_ndcg + 0) / 4)
    assert m["hard_negative_rate"] == {"value": 0.25, "ci": (0.0, 0.5), "n": 2}
    assert m["mrr@10"]["n"] == 4
    low, high = m["mrr@10"]["ci"]
    assert 0 <= low < m["mrr@10"]["value"] < high <= 1
    # only q4 abstains (nothing returned) although its entry is indexed
    assert run["abstention"] == {
        "precision": 0.0,
        "recall": None,
        "abstained": 1,
        "should_abstain": 0,
        "false_abstention_rate": 0.25,
    }
    # top-1 confidences: q1 0.9 right, q2 0.6 wrong (e3), q3 0.95 right
    assert run["calibration"]["ece"] == pytest.approx(1 / 3 * 0.6 + 2 / 3 * 0.075)


def test_record_carries_provenance_sizes_and_queries(tmp_path: Path) -> None:
    run = _run(tmp_path, seed=5)[1]
    assert run["format"] == "zhiku-eval/1"
    assert run["encoder"] == "fake-for-tests"
    assert run["dataset"] | {"path": None} == {
        "name": "toy",
        "path": None,
        "entries": 5,
        "queries": 4,
        "queries_with_hard_negatives": 2,
        "held_out_entries": 0,
        "answerable_queries": 4,
        "held_out_queries": 0,
        "confirmed_queries": 0,
        "logged_queries": 0,
    }
    assert run["variant"] == "full"
    assert run["params"] == {
        "modes": ["bm25", "hybrid"],
        "k": 10,
        "seed": 5,
        "holdout": 0.0,
        "bootstrap_samples": 1000,
        "channel": "agent",
        "confirm_share": 0.0,
        "log_share": 0.0,
        "confirm_shown": 0,
        "vote_share": 0.0,
        "vote_noise": 0.0,
        "ablate": False,
        "baselines": False,
        "overrides": {},
        "index": {
            "rrf_k": 60,
            "calibration": {"thresholds": THRESHOLDS, "source": "fixed for tests"},
        },
        "feedback": {"ranking": False, "step": 0.05, "cap": 0.1, "half_life_days": 30.0},
    }
    assert run["build"]["import_s"] == 0.25 and run["build"]["total_s"] == 0.75
    assert run["build"]["embedding_cache"] == {"path": None, "hits": 7, "misses": 2}
    assert run["build"]["rss_mb"] > 0 and run["memory"]["rss_mb"] > 0
    assert set(run["machine"]) == {
        "cpu_count",
        "platform",
        "processor",
        "python",
        "memory_gb",
        "load_avg_1m",
    }
    assert len(run["git"]["commit"] or "0" * 40) == 40
    assert [q["qid"] for q in run["queries"]] == [q["qid"] for q in QUERIES]
    first = run["queries"][0]
    assert [t["id"] for t in first["top"]] == ["e1", "e2", "e3"]
    assert first["top"][0] == {"id": "e1", "confidence": 0.9, "score": 3.0, "field": "title"}
    assert first["latency_ms"] >= 0
    assert set(run["latency"]) == {"p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"}


def test_every_mode_searches_every_query_after_a_warm_up(tmp_path: Path) -> None:
    calls: list[tuple[str, str, int]] = []
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    evaluate(
        dataset,
        RunConfig(holdout=0.0, k=3),
        settings=Settings(encoder="fake"),
        open_kb=partial(fake_kb, calls=calls),
        console=QUIET,
    )
    assert [mode for _, mode, _ in calls] == ["bm25"] * 5 + ["dense"] * 5 + ["hybrid"] * 5
    assert [q for q, _, _ in calls[:2]] == ["预热 warm-up", "换号码"]
    assert {k for _, _, k in calls} == {3}


def test_held_out_queries_are_scored_for_abstention_only(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    held = held_out_ids(dataset, 0.4, seed=3)
    run = _run(tmp_path / "again", holdout=0.4, seed=3)[0]
    should = [set(q["relevant"]) <= held for q in QUERIES]
    # what the fake does: nothing left, or a top confidence under 0.5, abstains
    did = []
    for q in QUERIES:
        left = [r for r in RANKINGS[q["query"]] if r[0] not in held]
        did.append(not left or left[0][2] < 0.5)
    hits = sum(1 for s, d in zip(should, did, strict=True) if s and d)
    assert 0 < sum(should) < len(QUERIES)  # the seed leaves both kinds of query
    assert run["dataset"]["held_out_entries"] == 2
    assert run["dataset"]["held_out_queries"] == sum(should)
    assert run["abstention"]["abstained"] == sum(did)
    assert run["abstention"]["should_abstain"] == sum(should)
    assert run["abstention"]["precision"] == (hits / sum(did) if sum(did) else None)
    assert run["abstention"]["recall"] == (hits / sum(should) if sum(should) else None)
    assert run["metrics"]["mrr@10"]["n"] == 4 - sum(should)
    for record in run["queries"]:
        assert (record["metrics"] is None) == record["held_out"]
        assert not set(record["relevant"]) & held


def test_each_channel_is_measured_at_its_own_threshold(tmp_path: Path) -> None:
    run = _run(tmp_path)[0]
    # top-1s: q1 e1 0.9 right, q2 e3 0.6 wrong, q3 e4 0.95 right, q4 nothing
    agent, customer = (
        run["confidence"]["channels"]["agent"],
        run["confidence"]["channels"]["customer"],
    )
    assert agent == {
        "threshold": 0.5,
        "coverage": 0.75,
        "answered_wrong_rate": 0.25,
        "risk": 1 / 3,
        "abstention": {
            "precision": 0.0,
            "recall": None,
            "abstained": 1,
            "should_abstain": 0,
            "false_abstention_rate": 0.25,
        },
    }
    assert agent["abstention"] == run["abstention"]  # the run searched on the agent channel
    assert customer == {
        "threshold": 0.7,
        "coverage": 0.5,
        "answered_wrong_rate": 0.0,
        "risk": 0.0,
        "abstention": {
            "precision": 0.0,
            "recall": None,
            "abstained": 2,
            "should_abstain": 0,
            "false_abstention_rate": 0.5,
        },
    }
    curve = {p["threshold"]: (p["coverage"], p["risk"]) for p in run["confidence"]["risk_coverage"]}
    assert len(curve) == 101
    assert curve[0.0] == curve[0.6] == (0.75, 1 / 3)
    assert curve[0.61] == curve[0.9] == (0.5, 0.0)
    assert curve[0.95] == (0.25, 0.0)
    assert curve[0.96] == curve[1.0] == (0.0, None)


def test_ablation_rebuilds_the_kb_per_variant_and_searches_it_in_hybrid_mode(
    tmp_path: Path,
) -> None:
    records = _run(tmp_path, ablate=True, modes=("bm25", "hybrid"))
    assert [(r["variant"], r["mode"]) for r in records] == [
        ("full", "bm25"),
        ("full", "hybrid"),
        ("-entry", "hybrid"),
        ("-body", "hybrid"),
        ("-latent", "hybrid"),
        ("-reranker", "hybrid"),
        ("-selftune", "hybrid"),
        ("words-only", "hybrid"),
        ("-pinyin", "hybrid"),
    ]
    by_variant = {r["variant"]: r for r in records[1:]}
    assert by_variant["-entry"]["params"]["overrides"] == {
        "vector_kinds": ["title", "question", "body", "latent"]
    }
    assert by_variant["-pinyin"]["params"]["index"]["overrides"] == {
        "lexical_channels": ["w", "c", "b"]
    }
    assert by_variant["words-only"]["params"]["overrides"] == {"lexical_channels": ["w"]}
    assert by_variant["-selftune"]["params"]["overrides"] == {"self_tune": False}
    assert by_variant["-reranker"]["build"]["import_s"] == 0.0  # the import is shared
    # the fake without a reranker finds q1's entry second: MRR@10 (1/2 + 3/4 + 1 + 0) / 4
    assert by_variant["-reranker"]["metrics"]["mrr@10"]["value"] == 2.25 / 4
    assert by_variant["-body"]["metrics"] == by_variant["full"]["metrics"]


def test_ablation_needs_a_kb_that_can_be_re_indexed(tmp_path: Path) -> None:
    @contextmanager
    def fixed(*args: Any, **kwargs: Any) -> Iterator[EvalKB]:
        with fake_kb(*args, **kwargs) as kb:
            yield replace(kb, rebuild=None)

    dataset = load_dataset(write_toy(tmp_path / "toy"))
    with pytest.raises(EvalError, match="toy: this KB cannot be re-indexed for --ablate"):
        evaluate(
            dataset,
            RunConfig(holdout=0.0, modes=("hybrid",), ablate=True),
            settings=Settings(encoder="fake"),
            open_kb=fixed,
            console=QUIET,
        )


def test_confirmed_queries_go_to_the_build_and_no_drawn_query_is_measured(tmp_path: Path) -> None:
    from eval.runner import confirmed_queries

    dataset = load_dataset(write_toy(tmp_path / "toy"))
    held = frozenset({"e5"})
    confirmed, drawn = confirmed_queries(dataset, held, 1.0 - 1e-9, seed=0)
    # every query drawn; confirmed only where one indexed entry answers it: q3 has two and
    # q4's entry is held out, so both are set aside unmeasured
    assert drawn == {"q1", "q2", "q3", "q4"}
    assert sorted((q.qid, entry) for q, entry in confirmed) == [("q1", "e1"), ("q2", "e2")]
    assert confirmed_queries(dataset, held, 0.5, seed=0) == confirmed_queries(
        dataset, held, 0.5, seed=0
    )
    assert confirmed_queries(dataset, held, 0.0, seed=0) == ([], frozenset())

    records, given = _evaluate_recording(dataset, "confirmed", confirm_share=0.5)
    _, drawn = confirmed_queries(dataset, frozenset(), 0.5, seed=0)
    measured = {q["qid"] for q in records[0]["queries"]}
    assert len(drawn) == 2 and not measured & drawn
    assert measured | drawn == {"q1", "q2", "q3", "q4"}
    texts = {q.qid: q.query for q in dataset.queries}
    assert {text for text, _ in given[0]} <= {texts[qid] for qid in drawn}
    assert records[0]["dataset"]["confirmed_queries"] == len(given[0])
    assert records[0]["params"]["confirm_share"] == 0.5


@pytest.mark.parametrize(("shown", "kept"), [(1, ["换号码"]), (3, ["换号码", "查话费账单"])])
def test_confirm_shown_keeps_what_a_first_build_showed_in_its_top_k(
    tmp_path: Path, shown: int, kept: list[str]
) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    given: list[Any] = []

    @contextmanager
    def recording_kb(*args: Any, confirmed: Any = (), **kwargs: Any) -> Iterator[EvalKB]:
        given.append(sorted(text for text, _ in confirmed))
        with fake_kb(*args, **kwargs) as kb:
            yield replace(kb, confirmed=len(confirmed))

    # e4 held out; q1, q3 and q4 drawn and confirmed (q4 gets no suggestion at all)
    config = RunConfig(holdout=0.2, modes=("hybrid",), confirm_share=0.75)
    evaluate(
        dataset,
        replace(config, confirm_shown=shown),
        settings=Settings(encoder="fake"),
        open_kb=recording_kb,
        console=QUIET,
    )
    # q1 finds e1 first, q3 its e3 third: the first build has no golden set
    assert given == [[], kept]


def test_a_confirm_share_that_leaves_nothing_to_measure_is_refused(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    config = RunConfig(holdout=0.0, modes=("hybrid",), confirm_share=0.9)
    with pytest.raises(EvalError, match="none of its 4 queries is left to measure"):
        evaluate(dataset, config, settings=Settings(encoder="fake"), open_kb=fake_kb, console=QUIET)


def test_logged_queries_go_to_the_build_unlabelled_and_are_not_measured(tmp_path: Path) -> None:
    from eval.runner import logged_queries

    dataset = load_dataset(write_toy(tmp_path / "toy"))
    assert logged_queries(dataset, frozenset(), 0.5, seed=0) == logged_queries(
        dataset, frozenset(), 0.5, seed=0
    )
    assert logged_queries(dataset, frozenset(), 0.0, seed=0) == []
    # drawn among the queries a confirm share left
    assert {q.qid for q in logged_queries(dataset, frozenset({"q1", "q2"}), 0.5, 0)} == {"q3", "q4"}

    records, given = _evaluate_recording(dataset, "logged", log_share=0.5)
    texts = {q.qid: q.query for q in dataset.queries}
    logged = {q.qid for q in logged_queries(dataset, frozenset(), 0.5, seed=0)}
    measured = {q["qid"] for q in records[0]["queries"]}
    assert len(given) == 1 and sorted(given[0]) == sorted(texts[qid] for qid in logged)
    assert len(logged) == 2 and not measured & logged
    assert measured | logged == {"q1", "q2", "q3", "q4"}
    assert records[0]["dataset"]["logged_queries"] == 2
    assert records[0]["params"]["log_share"] == 0.5


def test_confirm_and_log_shares_that_leave_nothing_to_measure_are_refused(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    config = RunConfig(holdout=0.0, modes=("hybrid",), confirm_share=0.5, log_share=0.5)
    with pytest.raises(EvalError, match="--log-share 0.5 draw every query"):
        evaluate(dataset, config, settings=Settings(encoder="fake"), open_kb=fake_kb, console=QUIET)


def _evaluate_recording(
    dataset: Dataset, name: str, **shares: Any
) -> tuple[list[dict[str, Any]], list[Any]]:
    """A hybrid run of ``dataset`` with nothing held out and the given shares, on a fake KB
    that records what its build was given as ``name``: (records, what each build was given)."""
    given: list[Any] = []
    records = evaluate(
        dataset,
        RunConfig(holdout=0.0, modes=("hybrid",), **shares),
        settings=Settings(encoder="fake"),
        open_kb=_recording(name, given),
        console=QUIET,
    )
    return records, given


def _recording(name: str, given: list[Any]) -> Callable[..., AbstractContextManager[EvalKB]]:
    """A fake KB factory that keeps what the build was given as ``name`` (confirmed pairs,
    logged questions) in ``given``, and counts it in the KB as a real build would."""

    @contextmanager
    def recording_kb(*args: Any, **kwargs: Any) -> Iterator[EvalKB]:
        passed = list(kwargs.pop(name, ()))
        given.append(passed)
        with fake_kb(*args, **kwargs) as kb:
            yield replace(kb, **{name: len(passed)})

    return recording_kb


@pytest.mark.parametrize("share", [1.0, 0.9, 0.1])
def test_a_vote_share_that_leaves_either_part_empty_is_refused_before_the_build(
    tmp_path: Path, share: float
) -> None:
    """It built the KB, then failed on an empty part: "percentile of no values"."""
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    config = RunConfig(holdout=0.0, modes=("hybrid",), vote_share=share)
    with pytest.raises(EvalError, match="--simulate-votes"):
        evaluate(dataset, config, settings=Settings(encoder="fake"), open_kb=fake_kb, console=QUIET)
