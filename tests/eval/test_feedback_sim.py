"""Simulated votes in ``kb eval``: who gets voted on, what is recorded, how it is reported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select

from eval.datasets import load_dataset
from eval.errors import EvalError
from eval.feedback_sim import user_votes, voted_qids
from eval.runner import RunConfig, evaluate
from eval.sandbox import EvalKB, temporary_kb
from kb.models import Feedback
from kb.settings import Settings
from tests.eval.toy import fake_kb, write_toy

pytest.importorskip("indexer.service")

CONFIG = RunConfig(modes=("hybrid",), holdout=0.0, vote_share=0.5, bootstrap_samples=50)


def _run(tmp_path: Path, settings: Settings, votes: list[Feedback]) -> list[dict[str, Any]]:
    """Evaluate the toy set in a throwaway KB, keeping the votes its database got."""
    dataset = load_dataset(write_toy(tmp_path / "toy"))

    @contextmanager
    def keeping_votes(*args: Any, **kwargs: Any) -> Iterator[EvalKB]:
        with temporary_kb(*args, **kwargs) as kb:
            yield kb
            assert kb.db is not None
            with kb.db.session() as session:
                votes.extend(session.scalars(select(Feedback).order_by(Feedback.id)))

    return evaluate(
        dataset, CONFIG, settings=settings, open_kb=keeping_votes, console=Console(file=StringIO())
    )


def _by_qid(run: dict[str, Any]) -> dict[str, list[str]]:
    return {q["qid"]: [t["id"] for t in q["top"]] for q in run["queries"]}


def test_voted_queries_are_a_seeded_share(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    assert voted_qids(dataset, 0.5, 0) == voted_qids(dataset, 0.5, 0)
    assert len(voted_qids(dataset, 0.5, 0)) == 2
    assert voted_qids(dataset, 0.0, 0) == frozenset()


def test_careful_and_mistaken_voters() -> None:
    shown = ["A", "B", "C"]
    assert user_votes(shown, {"B"}, mistaken=False) == [("B", True), ("A", False)]
    assert user_votes(shown, {"A"}, mistaken=False) == [("A", True)]
    assert user_votes(shown, {"Z"}, mistaken=False) == [("A", False)]  # not shown: no helpful vote
    assert user_votes([], {"Z"}, mistaken=False) == []
    assert user_votes(shown, {"B"}, mistaken=True) == [("B", False), ("A", True)]
    assert user_votes(shown, {"A"}, mistaken=True) == [("A", False), ("B", True)]


def test_votes_are_recorded_and_both_halves_reported(tmp_path: Path) -> None:
    off: list[Feedback] = []
    on: list[Feedback] = []
    base = Settings(encoder="fake", data_dir=tmp_path / "unused")
    runs_off = _run(tmp_path / "off", base, off)
    boosted = base.model_copy(
        update={"feedback_ranking": True, "feedback_step": 1.0, "feedback_cap": 1.0}
    )
    runs_on = _run(tmp_path / "on", boosted, on)
    assert [r["dataset"]["name"] for r in runs_on] == ["toy:voted", "toy:other"]
    voted, other = runs_on
    assert voted["dataset"]["queries"] == 2 and other["dataset"]["queries"] == 2
    # the same votes either way: what the service showed before any vote counted
    assert [(v.query, v.table_id, v.helpful) for v in on] == [
        (v.query, v.table_id, v.helpful) for v in off
    ]
    assert any(v.helpful for v in on)
    assert {v.query for v in on} <= {q["query"] for q in voted["queries"]}
    # votes fix the voted queries when they count, and leave the others alone
    assert voted["metrics"]["recall@1"]["value"] == 1.0
    assert _by_qid(other) == _by_qid(runs_off[1])


def test_the_kb_is_tuned_again_on_the_agents_votes(tmp_path: Path) -> None:
    # as the KB's next tuning would: the votes' verdicts are there for confidence
    votes: list[Feedback] = []
    settings = Settings(encoder="fake", data_dir=tmp_path / "unused")
    runs = _run(tmp_path / "run", settings, votes)
    tuning = runs[0]["params"]["index"]["tuning"]
    assert votes and tuning["pseudo_queries"]["voted"] == len({v.query for v in votes})
    assert "queries agents voted on" in runs[0]["params"]["index"]["calibration"]["source"]
    # a run without votes tunes on none, whatever the database holds
    plain = evaluate(
        load_dataset(write_toy(tmp_path / "toy")),
        RunConfig(modes=("hybrid",), holdout=0.0, bootstrap_samples=50),
        settings=settings,
        console=Console(file=StringIO()),
    )
    assert "voted" not in plain[0]["params"]["index"]["tuning"]["pseudo_queries"]


def test_a_kb_without_a_database_cannot_take_votes(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    with pytest.raises(EvalError, match="no database to record simulated votes"):
        evaluate(
            dataset,
            CONFIG,
            settings=Settings(encoder="fake"),
            open_kb=fake_kb,
            console=Console(file=StringIO()),
        )
