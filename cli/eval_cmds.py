"""``kb eval`` (benchmarks over datasets) and ``kb eval compare``; ``kb hit-test``: :mod:`cli.hittest_cmds`."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from cli.context import print_json, settings
from eval import compare as comparing
from eval import report
from eval.ablation import FULL
from eval.datasets import in_traditional, load_dataset
from eval.golden import GoldenSnapshot, golden_snapshot
from eval.runner import MODES, RunConfig, evaluate, results_document


class DatasetsOrSubcommand(TyperGroup):
    """``kb eval DATASET...`` runs the benchmark; ``kb eval compare A B`` is a subcommand.

    The benchmark command is kept out of ``commands`` (it is not a verb of its own) and gets
    every argument list that does not start with a subcommand's name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_command = self.commands.pop("run")
        self.help = self.default_command.help

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands:
            return "", self.default_command, args
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.default_command.format_help(ctx, formatter)


def _console() -> Console:
    """Rich output on stdout; piped into a file or log it keeps wide tables whole."""
    return Console(width=None if sys.stdout.isatty() else 160)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    eval_app = typer.Typer(
        cls=DatasetsOrSubcommand,
        no_args_is_help=True,
        context_settings={"ignore_unknown_options": True},
    )
    eval_app.command("run")(run)
    eval_app.command("compare")(compare)
    app.add_typer(eval_app, name="eval")


def run(
    datasets: list[Path] | None = typer.Argument(
        None, help="Dataset directories (entries.jsonl + queries.jsonl)."
    ),
    golden: bool = typer.Option(
        False,
        "--golden",
        help="Also (or only) evaluate the KB's own golden set against a copy of the KB.",
    ),
    mode: str = typer.Option("all", "--mode", help="bm25, dense, hybrid, or all."),
    k: int = typer.Option(10, "--k", min=1, max=100, help="Suggestions asked for per query."),
    out: Path | None = typer.Option(
        None, "--out", help="Write results.json, report.md and charts here."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the run records as JSON (without per-query records)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the holdout draw and the bootstrap."),
    holdout: float | None = typer.Option(
        None,
        "--holdout",
        min=0.0,
        max=0.9,
        help="Share of entries left out of the index to test abstention "
        "[default: 0.1 for datasets, 0 for --golden].",
    ),
    confirm_share: float = typer.Option(
        0.0,
        "--confirm-share",
        min=0.0,
        max=0.9,
        help="Share of the queries (those with one indexed answer) confirmed into the KB's "
        "golden set before the build, as staff confirm logged queries: self-tuning fits "
        "confidence on them. They are not measured.",
    ),
    confirm_shown: int = typer.Option(
        0,
        "--confirm-shown",
        min=0,
        max=100,
        help="With --confirm-share: confirm only the drawn queries whose answer a first build "
        "(without them) shows in its top K, as when the golden set is filled from agents' "
        "helpful votes (0: all of them).",
    ),
    log_share: float = typer.Option(
        0.0,
        "--log-share",
        min=0.0,
        max=0.9,
        help="Share of the queries logged (without answers) before the build, as a KB in use "
        "has its users' questions logged: self-tuning compares its pseudo-queries with them "
        "(100 distinct at least). They are not measured.",
    ),
    simulate_votes: float = typer.Option(
        0.0,
        "--simulate-votes",
        min=0.0,
        max=1.0,
        help="Share of queries asked and voted on once before the runs (helpful on a shown "
        "labelled table, not helpful on a wrong top-1); reports NAME:voted and NAME:other. "
        "ZHIKU_FEEDBACK_RANKING decides whether the votes count.",
    ),
    vote_noise: float = typer.Option(
        0.0,
        "--vote-noise",
        min=0.0,
        max=1.0,
        help="Share of the voted queries voted on wrongly (not helpful on the right table, "
        "helpful on a wrong one).",
    ),
    ablate: bool = typer.Option(
        False,
        "--ablate",
        help="Also re-index each KB with one part switched off (-entry, -body, -reranker, "
        "-selftune, words-only, -pinyin) and search it in hybrid mode; the report gets an "
        "ablation table with paired differences to the full configuration.",
    ),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="Search backend of the throwaway KBs: embedded or milvus "
        "[default: ZHIKU_SEARCH_BACKEND].",
    ),
    traditional: bool = typer.Option(
        False,
        "--traditional",
        help="Write each dataset's entries and queries in Traditional Chinese first (OpenCC "
        "s2twp; reported as NAME-tc): the same knowledge as a Taiwan KB holds it.",
    ),
    with_baselines: bool = typer.Option(
        False,
        "--baselines",
        help="Also run the simple setups (jieba + rank_bm25, e5 + FAISS, LangChain-style "
        "ensemble) on the same entries, queries and encoder (eval/baselines.py).",
    ),
) -> None:
    """Benchmark retrieval on datasets: Recall@k, MRR@10, nDCG@10, latency, per mode.

    Each dataset is imported into a throwaway KB (your ./data is never touched); every mode searches the same build. With --golden the golden set (`kb golden add`) searches a copy of your whole KB, indexed under the current settings, so a change of synonyms, template weights or encoder is checked against your own traffic first. With --out: results.json, report.md and PNG charts.

    `kb eval compare A.json B.json` compares two runs, e.g. with and without ZHIKU_FEEDBACK_RANKING=true after --simulate-votes.

    Every report says what self-tuning chose (from how many pseudo-queries of which kind), each channel's threshold with its coverage, answered-and-wrong rate and abstention, a risk-coverage chart, and the embedding cache's hits and misses (kb eval keeps embeddings in a shared cache under $XDG_CACHE_HOME/zhiku, so a second run encodes nothing it has seen).

    Example: kb eval ../shared/bench/bq ../shared/bench/atec --mode all --out reports/bench

    Example: kb eval ../shared/bench/cmdd --mode all --ablate --baselines --out reports/cmdd

    Example: kb eval --golden --mode hybrid --out reports/golden

    Example: kb eval ../shared/bench/bq --mode hybrid --confirm-share 0.3 --out reports/bq-confirmed

    Example: kb eval ../shared/bench/cmdd --mode hybrid --log-share 0.5 --out reports/cmdd-logged

    Example: kb eval ../shared/bench/bq --mode hybrid --backend milvus --out reports/bq-milvus
    """
    modes = MODES if mode == "all" else (mode,)
    if mode != "all" and mode not in MODES:
        raise typer.BadParameter(f"use one of {', '.join(MODES)} or all", param_hint="--mode")
    if not datasets and not golden:
        raise typer.BadParameter(
            "give dataset directories, or --golden for the KB's golden set", param_hint="DATASETS"
        )
    if confirm_shown and not confirm_share:
        raise typer.BadParameter(
            "it selects among confirmed queries: add --confirm-share SHARE",
            param_hint="--confirm-shown",
        )
    if vote_noise and not simulate_votes:
        raise typer.BadParameter(
            "wrong votes need votes: add --simulate-votes SHARE", param_hint="--vote-noise"
        )
    if ablate and "hybrid" not in modes:
        raise typer.BadParameter(
            "the variants are compared with the full configuration's hybrid run: "
            "use --mode hybrid or --mode all",
            param_hint="--ablate",
        )
    config = settings()
    if backend is not None:
        if backend not in {"embedded", "milvus"}:
            raise typer.BadParameter("use embedded or milvus", param_hint="--backend")
        config = config.model_copy(update={"search_backend": backend})
    loaded = [load_dataset(path) for path in datasets or []]  # all checked before the long work
    if traditional:
        loaded = [in_traditional(d) for d in loaded]
    run_config = RunConfig(
        modes=modes,
        k=k,
        seed=seed,
        holdout=0.1 if holdout is None else holdout,
        confirm_share=confirm_share,
        confirm_shown=confirm_shown,
        log_share=log_share,
        vote_share=simulate_votes,
        vote_noise=vote_noise,
        ablate=ablate,
        baselines=with_baselines,
    )
    records: list[dict[str, Any]] = []
    with ExitStack() as stack:
        # the golden set is read (and found empty or not) before any long work too
        snapshot = stack.enter_context(golden_snapshot(config)) if golden else None
        for dataset in loaded:
            records += evaluate(dataset, run_config, settings=config)
        if snapshot is not None:
            typer.echo(_golden_line(snapshot), err=True)
            golden_config = replace(run_config, holdout=0.0 if holdout is None else holdout)
            records += evaluate(
                snapshot.dataset, golden_config, settings=config, open_kb=snapshot.open_kb
            )
    written = report.write(records, out) if out is not None else {}
    if as_json:
        doc = results_document([{k: v for k, v in r.items() if k != "queries"} for r in records])
        print_json(doc)
        return
    console = _console()
    table = Table(
        *report.SUMMARY_COLUMNS,
        title=f"kb eval (encoder {config.encoder}, backend {config.search_backend}, k={k})",
    )
    for row in report.summary_rows(records):
        table.add_row(*row)
    console.print(table)
    for path in written.values():
        console.print(f"wrote {path}")


def _golden_line(snapshot: GoldenSnapshot) -> str:
    line = (
        f"golden set: {len(snapshot.dataset.queries)} queries against the "
        f"{len(snapshot.dataset.entries)} live tables of a copy of the KB"
    )
    if snapshot.skipped:
        line += f" ({snapshot.skipped} left out: their table is no longer live)"
    return line


def compare(
    a: Path = typer.Argument(..., help="Baseline results.json."),
    b: Path = typer.Argument(..., help="Candidate results.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Differences B − A per dataset, variant, mode and metric, with 95% bootstrap intervals.

    Runs are matched by dataset, variant (full, an --ablate variant, or baseline) and mode.

    Example: kb eval compare reports/before/results.json reports/bench/results.json
    """
    result = comparing.compare(comparing.load_results(a), comparing.load_results(b), seed=seed)
    if as_json:
        print_json(result)
        return
    console = _console()
    if not result["compared"]:
        console.print("No dataset, variant and mode in common: nothing to compare.")
    for pair in result["compared"]:
        table = Table(
            "metric",
            "A",
            "B",
            "B − A",
            "95% interval",
            "verdict",
            title=_pair_title(pair["dataset"], pair["variant"], pair["mode"]),
        )
        for row in pair["metrics"]:
            name = "hard-negative rate" if row["metric"] == "hard_negative" else row["metric"]
            ci = row["ci"]
            table.add_row(
                name,
                report.fmt(row["a"]),
                report.fmt(row["b"]),
                "–" if row["diff"] is None else f"{row['diff']:+.3f}",
                "–"
                if ci is None
                else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]{'' if row['paired'] else ' unpaired'}",
                row["verdict"],
            )
        for p, v in pair["latency"].items():
            table.add_row(
                p.replace("_ms", " ms"),
                report.fmt(v["a"], 1),
                report.fmt(v["b"], 1),
                f"{v['diff']:+.1f}",
                "",
                "",
            )
        console.print(table)
    for side in ("only_in_a", "only_in_b"):
        for dataset, variant, mode in result[side]:
            console.print(f"{side.replace('_', ' ')}: {_pair_title(dataset, variant, mode)}")


def _pair_title(dataset: str, variant: str, mode: str) -> str:
    return f"{dataset} · {mode}" + ("" if variant == FULL else f" · {variant}")
