"""``kb search``, ``kb index build`` and ``kb index status``.

The search index (numpy, faiss, jieba) is imported inside the commands, so that ``kb --help``
and ``kb search --help`` answer at once.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from cli.context import open_db, print_json, settings
from cli.progress import progress_bar
from kb.channels import Channel
from kb.clock import utcnow

if TYPE_CHECKING:
    from kb.search_contract import SearchRequest, SearchResult, Suggestion
    from kb.settings import Settings
    from presenters import Rendering


class Mode(StrEnum):
    HYBRID = "hybrid"
    BM25 = "bm25"
    DENSE = "dense"


class Output(StrEnum):
    """What ``kb search`` prints: the agent's full listing, or one output channel's rendering."""

    LIST = "list"
    AGENT = "agent"
    WEB = "web"
    SMS = "sms"
    WECHAT = "wechat"
    VOICE = "voice"


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("search")(search)
    index_app = typer.Typer(help="Build and inspect the search index.", no_args_is_help=True)
    index_app.command("build")(build)
    index_app.command("status")(status)
    app.add_typer(index_app, name="index")


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
    explain: bool = typer.Option(
        False,
        "--explain",
        help="Show each retriever's rank and score, and the ranking score as the sum of its "
        "weighted parts.",
    ),
    output: Output = typer.Option(
        Output.LIST,
        "--format",
        help="list (the agent's listing), or the answer as it goes out by one channel: agent "
        "(the whole entry), web, sms (70-character segments), wechat, voice. A question in "
        "Traditional Chinese gets the channel's answer in Traditional.",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Machine-readable output: the API's /api/search response, field for field.",
    ),
    renderings: bool = typer.Option(
        False,
        "--renderings",
        help="With --json: add every output channel's rendering of each answer.",
    ),
) -> None:
    """Suggested answers for a question, best first, with confidence.

    Builds the index on first use and catches up with database changes before searching. Listed by the confidence shown; "#2 in retrieval" marks a suggestion the retriever placed elsewhere.

    Example: kb search "改号后旧号码还扣费吗" --channel customer --explain

    Example: kb search "信用卡逾期了怎么办" --format sms
    """
    from cli.work import option_date
    from indexer.service import SearchService
    from kb.search_contract import Scope, SearchRequest
    from presenters.results import as_shown

    config = settings()
    request = SearchRequest(
        query,
        channel,
        k=k,
        mode=mode.value,
        scope=Scope(category, package, tuple(tag)),
        include_expired=include_expired,
        at=option_date(at, config, option="--at") or utcnow(),
    )
    db = open_db(config)
    console = Console(stderr=True)
    try:
        if not config.index_dir.exists():
            console.print("No index yet: building it (once) …")
            with progress_bar(console) as progress:
                service = SearchService.open(config, db, progress=progress)
        else:
            service = SearchService.open(config, db)
        started = time.perf_counter()
        result = service.search(request)
        took_ms = (time.perf_counter() - started) * 1000
    finally:
        db.dispose()
    shown = as_shown(result)
    if as_json:
        print_json(search_output(shown, request, config, output, renderings, took_ms))
        return
    if output is not Output.LIST:
        _print_renderings(Console(), shown, _renderings(shown, output, config))
        return
    fusion = service.index.fusion.to_json()
    _print_result(
        Console(),
        shown,
        explain=explain,
        fusion=fusion,
        hub_of=service.index.hub,
    )


def search_output(
    shown: SearchResult,
    request: SearchRequest,
    config: Settings,
    output: Output,
    renderings: bool,
    took_ms: float,
) -> dict[str, Any]:
    """``kb search --json``: the API's response (:func:`presenters.search_json.search_json`)."""
    from presenters import options_from
    from presenters.search_json import AnswerFormat, search_json

    fmt = AnswerFormat.PLAIN if output is Output.LIST else AnswerFormat(output.value)
    out = search_json(
        shown,
        now=request.at or utcnow(),
        took_ms=took_ms,
        fmt=fmt,
        options=options_from(config),
        renderings=renderings,
        traditional_variant=config.traditional_variant,
    )
    return out.model_dump(mode="json")


def _renderings(result: SearchResult, output: Output, config: Any) -> dict[str, Rendering]:
    from presenters import options_from, present
    from presenters.results import entry_of
    from presenters.scripts import Script, script_of

    traditional = (
        config.traditional_variant if script_of(result.query) is Script.TRADITIONAL else None
    )
    options = options_from(config)
    return {
        s.code: present(entry_of(s), output.value, options, traditional=traditional)
        for s in result.suggestions
    }


def _print_renderings(
    console: Console, result: SearchResult, renderings: dict[str, Rendering]
) -> None:
    if not result.suggestions:
        console.print("没有找到答案 No answer found; hand the question to an agent.")
        return
    for place, s in enumerate(result.suggestions, 1):
        rendering = renderings[s.code]
        note = " (cut to the channel's limit)" if rendering.truncated else ""
        console.print(
            f"[bold]{place}. {escape(s.title)}[/]  [cyan]{escape(s.code)}[/]  "
            f"置信度 {s.confidence:.2f} · {rendering.channel.value}{note}"
        )
        if len(rendering.parts) > 1:
            for i, part in enumerate(rendering.parts, 1):
                console.print(
                    f"  [dim][{i}/{len(rendering.parts)} · {len(part)}][/] {escape(part)}"
                )
        else:
            console.print(Padding(escape(rendering.text), (0, 0, 0, 2)))
        console.print()


def _print_result(
    console: Console,
    result: SearchResult,
    *,
    explain: bool,
    fusion: dict[str, Any],
    hub_of: Any,
) -> None:
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
    for place, s in enumerate(result.suggestions, 1):
        _print_suggestion(console, place, s)
        if explain:
            _print_explain(console, s, result.mode, fusion, hub_of(s.table_id))
    if explain:
        timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        console.print(f"[dim]hidden by visibility/scope: {result.filtered}; {timings}[/]")


def _print_suggestion(console: Console, place: int, s: Suggestion) -> None:
    from kb.markup import plain_text
    from presenters.results import unsure

    flags = " [red]已过期 expired[/]" if s.expired else ""
    if unsure(s.confidence):
        flags += " [yellow]无把握 unsure[/]"
    moved = f"  [dim](#{s.rank} in retrieval)[/]" if s.rank != place else ""
    console.print(
        f"\n[bold]{place}. {escape(s.title)}[/]  [cyan]{s.code}[/]  "
        f"置信度 {s.confidence:.2f}{flags}{moved}"
    )
    console.print(f"   [dim]{escape(s.path)}[/]")
    snippet = (
        escape(s.matched.marked("\x00", "\x01"))
        .replace("\x00", "[reverse]")
        .replace("\x01", "[/reverse]")
    )
    answer_field = s.answer
    answer_plain = plain_text(answer_field.value, answer_field.type) if answer_field else ""
    if s.matched.key != "answer" or not answer_plain:
        console.print(f"   {escape(s.matched.label)}: {snippet}")
    if answer_plain:
        answer = escape(answer_plain if len(answer_plain) <= 300 else answer_plain[:299] + "…")
        if s.matched.key == "answer":
            answer = snippet if len(answer_plain) > 300 else _marked_full(s, answer_plain)
        console.print(Padding(f"标准答复: {answer.strip()}", (0, 0, 0, 3)))
    fresh = []
    if s.expires_at:
        fresh.append(f"expires {s.expires_at[:10]}")
    if s.last_verified_at:
        fresh.append(f"verified {s.last_verified_at[:10]}")
    if fresh:
        console.print(f"   [dim]{' · '.join(fresh)}[/]")


def _print_explain(
    console: Console, s: Suggestion, mode: str, fusion: dict[str, Any], hub: float
) -> None:
    from presenters.explain import explain_line, score_terms

    sc = s.scores
    console.print(
        f"   [dim]bm25 {sc.bm25:.2f} (rank {sc.lexical_rank}) · dense {sc.dense:.4f} "
        f"(rank {sc.dense_rank}, {sc.dense_match}) · coverage {sc.coverage:.4f} · "
        f"fused {sc.fused:.4f} · confidence {s.confidence:.4f}[/]"
    )
    parts = sc.as_dict()
    terms = score_terms(parts, fusion, mode=mode, hub=hub)
    console.print(f"   [dim]{escape(explain_line(terms, sc.score))}[/]")
    if (sc.rerank is not None or sc.latent_part) and mode == "hybrid":
        plain = {**parts, "rerank": None, "feedback": 0.0, "latent_part": 0.0}
        blend = score_terms(plain, fusion, mode=mode, hub=hub)
        console.print(f"   [dim]blend: {escape(explain_line(blend, sc.fused))}[/]")


def _marked_full(s: Suggestion, answer_plain: str) -> str:
    """The whole (short) answer with the matched terms shown, when the answer is what matched."""
    if s.matched.snippet.startswith("…") or s.matched.snippet.endswith("…"):
        return escape(answer_plain)
    return (
        escape(s.matched.marked("\x00", "\x01"))
        .replace("\x00", "[reverse]")
        .replace("\x01", "[/reverse]")
    )


def build(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Rebuild the search index from the database (embeddings come from the cache when known).

    Example: kb index build
    """
    from indexer.service import SearchService

    config = settings()
    db = open_db(config)
    console = Console(stderr=True)
    try:
        with progress_bar(console) as progress:
            service = SearchService.build(config, db, progress=progress)
    finally:
        db.dispose()
    params = service.status_params()
    if as_json:
        print_json(params)
        return
    counts = params["counts"]
    typer.echo(
        f"Index built at {config.index_dir}: {counts['tables']} tables, {counts['vectors']} "
        f"vectors; encoder {params['encoder']}."
    )
    for what, value in tuning_rows(params):
        typer.echo(f"  {what}: {value}")


def tuning_rows(params: dict[str, Any]) -> list[tuple[str, str]]:
    """What self-tuning chose and from what, as (what, value) lines for people."""
    from indexer import resemblance
    from indexer.calibration import adjusted_note

    tuning = params.get("tuning") or {}
    fusion = params.get("fusion", {})
    cal = params.get("calibration", {})
    sources = tuning.get("pseudo_queries") or {}
    made = ", ".join(f"{n} {kind}" for kind, n in sources.items()) or "none"
    rows = [
        ("vector kinds", ", ".join(params.get("vector_kinds", []))),
        (
            "pseudo-queries",
            f"{made}; {tuning.get('in_pool', 0)} found their table among the candidates, "
            f"{tuning.get('unanswerable', 0)} asked without it",
        ),
        *([("query log", resemblance.describe(tuning["log"]))] if tuning.get("log") else []),
        (
            "fusion",
            f"{(tuning.get('fusion') or {}).get('source', 'default')}: dense "
            f"{fusion.get('dense_weight')}, lexical {fusion.get('lexical_weight')} (body "
            f"{fusion.get('lexical_body')}), hub {fusion.get('hub_weight')}, titles "
            f"{fusion.get('title_weight', 1.0)}, answer chunks {fusion.get('body_weight')}, "
            f"title + chunk {fusion.get('entry_weight')}",
        ),
        ("reranker", str((params.get("reranker") or {}).get("status", "not trained"))),
        (
            "confidence",
            f"{cal.get('source')}; abstain below {cal.get('thresholds')}"
            + (
                f"; ECE {cal['ece']:.3f} on the fitting queries" + adjusted_note(cal)
                if cal.get("ece") is not None
                else ""
            ),
        ),
    ]
    return rows


def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """What the index holds, how it was built, and how far the database has moved since.

    Example: kb index status --json
    """
    from indexer import selftune
    from indexer.service import SearchService

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
    for what, value in tuning_rows(data):
        table.add_row(what, value)
    table.add_row("query encoding", str(data.get("query_encoding")))
    drift = data["drift"]
    table.add_row(
        "drift",
        f"{drift['tables_to_update']} to update, {drift['tables_to_remove']} to remove, "
        f"dictionary changed: {drift['dictionary_changed']} (repaired on the next search)",
    )
    since = data.get("labels_since_tuning") or {}
    table.add_row(
        "labels since tuning",
        f"{since.get('new', 0)} agents' votes and confirmed queries, "
        f"{since.get('logged', 0)} searches logged (counted up to {selftune.MIN_LOGGED})"
        + (
            "; re-tune due (the server re-tunes at its next sweep)"
            if since.get("retune_due")
            else ""
        ),
    )
    console.print(table)
