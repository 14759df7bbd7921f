"""``kb search``, ``kb index build`` and ``kb index status``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import typer
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cli.context import open_db, print_json, settings
from cli.work import option_date
from indexer.index import Progress as ProgressCallback
from indexer.search import SearchResult, Suggestion
from indexer.service import SearchService
from kb.visibility import Channel

STAGES = {"analyze": "分析 analyzing", "embed": "编码 embedding", "calibrate": "校准 calibrating"}


class Mode(StrEnum):
    HYBRID = "hybrid"
    BM25 = "bm25"
    DENSE = "dense"


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("search")(search)
    index_app = typer.Typer(help="Build and inspect the search index.", no_args_is_help=True)
    index_app.command("build")(build)
    index_app.command("status")(status)
    app.add_typer(index_app, name="index")


@contextmanager
def _progress_bar(console: Console) -> Iterator[ProgressCallback]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def callback(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield callback


def search(
    query: str = typer.Argument(..., help="The question, Simplified or Traditional Chinese."),
    channel: Channel = typer.Option(
        Channel.AGENT, "--channel", help="Whose view: agent or customer."
    ),
    k: int = typer.Option(5, "--k", min=1, max=50, help="How many suggestions."),
    mode: Mode = typer.Option(Mode.HYBRID, "--mode", help="Retriever: hybrid, bm25 or dense."),
    category: str | None = typer.Option(None, "--category", help="Only this category."),
    package: str | None = typer.Option(
        None, "--package", help="Only this package (category/package)."
    ),
    tag: list[str] = typer.Option([], "--tag", help="Only tables with this tag (repeatable)."),
    include_expired: bool = typer.Option(
        False, "--include-expired", help="Agents: show expired tables too, marked as expired."
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        help="Search as the KB will look at this moment (a date or ISO date-time), "
        "e.g. to preview what expires; default now.",
    ),
    explain: bool = typer.Option(False, "--explain", help="Show each retriever's rank and score."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Suggested answers for a question, best first, with confidence.

    Builds the index on first use and catches up with database changes before searching.

    Example: kb search "改号后旧号码还扣费吗" --channel customer --explain
    """
    config = settings()
    now = option_date(at, config, option="--at")
    db = open_db(config)
    console = Console(stderr=True)
    try:
        if not config.index_dir.exists():
            console.print("No index yet: building it (once) …")
            with _progress_bar(console) as progress:
                service = SearchService.open(config, db, progress=progress)
        else:
            service = SearchService.open(config, db)
        result = service.search(
            query,
            channel=channel,
            k=k,
            mode=mode.value,
            category=category,
            package=package,
            tags=tag or None,
            include_expired=include_expired,
            now=now,
        )
    finally:
        db.dispose()
    if as_json:
        print_json(result.to_json())
        return
    _print_result(Console(), result, explain=explain)


def _print_result(console: Console, result: SearchResult, *, explain: bool) -> None:
    head = f"[bold]{escape(result.query)}[/]  ({result.channel}, {result.mode})"
    if result.normalized != result.query:
        head += f"  → {escape(result.normalized)}"
    console.print(head)
    if not result.suggestions:
        console.print("没有找到答案 No answer found; hand the question to an agent.")
        return
    if result.abstained:
        console.print(
            f"[yellow]没有把握的答案 No confident answer[/] (top confidence below "
            f"{result.threshold:.2f}); closest tables:"
        )
    for rank, s in enumerate(result.suggestions, 1):
        _print_suggestion(console, rank, s, explain=explain)
    if explain:
        timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        console.print(f"[dim]hidden by visibility/scope: {result.filtered}; {timings}[/]")


def _print_suggestion(console: Console, rank: int, s: Suggestion, *, explain: bool) -> None:
    flags = " [red]已过期 expired[/]" if s.expired else ""
    console.print(
        f"\n[bold]{rank}. {escape(s.title)}[/]  [cyan]{s.code}[/]  置信度 {s.confidence:.2f}{flags}"
    )
    console.print(f"   [dim]{escape(s.path)}[/]")
    snippet = (
        escape(s.matched.marked("\x00", "\x01"))
        .replace("\x00", "[reverse]")
        .replace("\x01", "[/reverse]")
    )
    if s.matched.key != "answer" or not s.answer_plain:
        console.print(f"   {escape(s.matched.label)}: {snippet}")
    if s.answer_plain:
        answer = s.answer_plain if len(s.answer_plain) <= 300 else s.answer_plain[:299] + "…"
        if s.matched.key == "answer":
            answer = snippet if len(s.answer_plain) > 300 else _marked_full(s)
        console.print(Padding(f"标准答复: {answer.strip()}", (0, 0, 0, 3)))
    fresh = []
    if s.expires_at:
        fresh.append(f"expires {s.expires_at[:10]}")
    if s.last_verified_at:
        fresh.append(f"verified {s.last_verified_at[:10]}")
    if fresh:
        console.print(f"   [dim]{' · '.join(fresh)}[/]")
    if explain:
        sc = s.scores
        console.print(
            f"   [dim]fused {sc['fused']:.3f} = dense {sc['dense']:.3f} (rank {sc['dense_rank']}, "
            f"{sc['dense_match']}) + lexical coverage {sc['coverage']:.3f} (bm25 {sc['bm25']:.2f}, "
            f"rank {sc['lexical_rank']}) − hub; mode score {sc['score']:.3f}[/]"
        )


def _marked_full(s: Suggestion) -> str:
    """The whole (short) answer with the matched terms shown, when the answer is what matched."""
    if s.matched.snippet.startswith("…") or s.matched.snippet.endswith("…"):
        return escape(s.answer_plain)
    return (
        escape(s.matched.marked("\x00", "\x01"))
        .replace("\x00", "[reverse]")
        .replace("\x01", "[/reverse]")
    )


def build(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Rebuild the search index from the database (embeddings come from the cache when known).

    Example: kb index build
    """
    config = settings()
    db = open_db(config)
    console = Console(stderr=True)
    try:
        with _progress_bar(console) as progress:
            service = SearchService.build(config, db, progress=progress)
    finally:
        db.dispose()
    params = service.status_params()
    if as_json:
        print_json(params)
        return
    counts = params["counts"]
    cal = params["calibration"]
    typer.echo(
        f"Index built at {config.index_dir}: {counts['tables']} tables, {counts['vectors']} "
        f"vectors, {counts['terms']} terms; encoder {params['encoder']}; confidence "
        f"{cal['source']}; abstain below {cal['thresholds']}."
    )


def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """What the index holds, how it was built, and how far the database has moved since.

    Example: kb index status --json
    """
    config = settings()
    db = open_db(config)
    try:
        service = SearchService.open(config, db, sync=False, build=False)
        data = service.status()
    finally:
        db.dispose()
    if as_json:
        print_json(data)
        return
    console = Console()
    table = Table("what", "value", title="知库 search index")
    for key in ("index_dir", "format_version", "encoder", "dim", "analyzer_hash", "content_hash"):
        table.add_row(key, str(data.get(key)))
    table.add_row("built / updated", f"{data.get('built_at')} / {data.get('updated_at')}")
    for key, value in data.get("counts", {}).items():
        table.add_row(key, str(value))
    fusion = data.get("fusion", {})
    table.add_row(
        "fusion",
        f"{fusion.get('method')}: dense {fusion.get('dense_weight')}, lexical "
        f"{fusion.get('lexical_weight')}, hub {fusion.get('hub_weight')}",
    )
    cal = data.get("calibration", {})
    table.add_row("confidence", f"{cal.get('source')}; abstain below {cal.get('thresholds')}")
    drift = data["drift"]
    table.add_row(
        "drift",
        f"{drift['tables_to_update']} to update, {drift['tables_to_remove']} to remove, "
        f"dictionary changed: {drift['dictionary_changed']} (repaired on the next search)",
    )
    console.print(table)
