"""``kb hit-test``: one query through the production search path, with every score shown.

The table keeps what identifies a table whole at any terminal width people use (100 columns
and up): codes never wrap, titles and paths wrap rather than being cut; the four scores are
stacked in one column, and the matched snippets, which are long, are listed under the table.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.context import open_db, print_json, settings
from kb.channels import Channel

if TYPE_CHECKING:
    from kb.search_contract import SearchResult, Suggestion


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("hit-test")(hit_test)


def hit_test(
    query: str = typer.Argument(..., help="The question, as an agent or customer would type it."),
    channel: Channel = typer.Option(
        Channel.AGENT, "--channel", help="agent or customer: whose visibility rules apply."
    ),
    k: int = typer.Option(10, "--k", min=1, max=100, help="Suggestions to show."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Test one query against your KB with exactly the production search path and settings.

    Shows the ranked tables with each retriever's rank and score, the matched field, confidence, whether the outcome is "no confident answer", and how many results the channel's visibility rules filtered out.

    Example: kb hit-test "改号后原号码还扣钱吗" --channel customer
    """
    from indexer.service import SearchService
    from kb.clock import utcnow
    from kb.search_contract import SearchRequest
    from presenters.search_json import search_json

    config = settings()
    now = utcnow()
    request = SearchRequest(query, channel, k=k, at=now)
    db = open_db(config)
    try:
        service = SearchService.open(config, db)
        started = time.perf_counter()
        result = service.search(request)
        took_ms = (time.perf_counter() - started) * 1000
    finally:
        db.dispose()
    if as_json:
        # In the retriever's order (not as shown): what the hit test is for.
        print_json(search_json(result, now=now, took_ms=took_ms).model_dump(mode="json"))
        return
    # Piped into a file or log without COLUMNS, keep a wide layout (rich would assume 80).
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    print_hit_test(Console(width=None if wide else 160), result)


def _num(value: Any, digits: int = 3) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _ranked(rank: Any, score: Any, digits: int) -> str:
    return "–" if rank is None else f"#{rank} {_num(score, digits)}"


def _scores(s: Suggestion) -> str:
    sc = s.scores
    lines = [
        f"bm25  {_ranked(sc.lexical_rank, sc.bm25, 2)}",
        f"dense {_ranked(sc.dense_rank, sc.dense, 3)}",
        f"fused {_num(sc.fused)}",
    ]
    if sc.feedback:
        lines.append(f"votes {sc.feedback:+.3f}")
    return "\n".join(lines)


def print_hit_test(console: Console, result: SearchResult) -> None:
    console.print(
        f"query: {escape(result.query)}   normalized: {escape(result.normalized)}   "
        f"mode: {result.mode}"
    )
    table = Table(show_lines=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("title · path", overflow="fold", ratio=1)
    table.add_column("conf.", justify="right", no_wrap=True)
    table.add_column("rank, score", no_wrap=True)
    for s in result.suggestions:
        title = escape(s.title) + (" [red](expired)[/]" if s.expired else "")
        table.add_row(
            str(s.rank),
            escape(s.code),
            f"{title}\n[dim]{escape(s.category)} › {escape(s.package)}[/]",
            f"{s.confidence:.2f}",
            _scores(s),
        )
    console.print(table)
    for s in result.suggestions:
        matched = s.matched
        console.print(
            f"{s.rank:>2} {escape(s.code)}  {escape(matched.label)}: {escape(matched.marked())}",
            overflow="fold",
        )
    if result.abstained:
        outcome = (
            f"no confident answer: top confidence is below the {result.channel} threshold "
            f"{result.threshold:.2f}"
        )
    else:
        outcome = f"confident answer (threshold {result.threshold:.2f})"
    console.print(outcome)
    console.print(
        f"{result.filtered} candidate(s) filtered by the {result.channel} channel's visibility rules"
    )
    if result.timings:
        console.print("timings: " + ", ".join(f"{k} {v}" for k, v in result.timings.items()))
