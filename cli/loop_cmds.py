"""Closing the loop: ``kb gaps``, ``kb golden`` and ``kb dashboard``.

Gaps are recomputed from the query log on every call (deterministically: same log, same
clusters, same numbering), so ``kb gaps draft 1`` acts on the first cluster ``kb gaps`` shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import typer
from sqlalchemy.orm import Session

from cli.context import print_json
from cli.work import AS_HELP, acting, print_table, read, stamp, work
from kb import analytics, gaps, golden, hierarchy, permissions, tables
from kb.bounds import MAX_DAYS, MAX_ID, MAX_LIST
from kb.clock import utcnow
from kb.permissions import Action
from kb.settings import Settings

gaps_app = typer.Typer(help="Knowledge gaps: what people asked and did not find.")
golden_app = typer.Typer(help="The golden set: logged queries confirmed against their table.")

DAYS_HELP = "Look at the query log of the last N days."


def register(app: typer.Typer) -> None:
    app.add_typer(gaps_app, name="gaps")
    app.add_typer(golden_app, name="golden")
    app.command("dashboard")(dashboard)


def _clusters(
    config: Settings, session: Session, days: int, threshold: float, floor: float
) -> list[gaps.GapCluster]:
    from indexer.encoders import encoder_from_settings

    encoder = encoder_from_settings(config)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return encoder.encode(texts, "query")

    return gaps.find_clusters(
        session,
        embed,
        since=utcnow() - timedelta(days=days),
        threshold=threshold,
        confidence_floor=floor,
    )


@gaps_app.callback(invoke_without_command=True)
def gaps_list(
    ctx: typer.Context,
    days: int = typer.Option(30, min=1, max=MAX_DAYS, help=DAYS_HELP),
    threshold: float = typer.Option(
        0.9, min=0.0, max=1.0, help="Cosine similarity to join a cluster."
    ),
    floor: float = typer.Option(
        0.35, min=0.0, max=1.0, help="Below this confidence a search is a gap."
    ),
    limit: int = typer.Option(20, min=1, max=MAX_LIST),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List gap clusters, biggest first: unanswered, low-confidence and not-helpful queries.

    Example: kb gaps --days 7
    """
    if ctx.invoked_subcommand is not None:
        return
    with read() as (config, session):
        clusters = _clusters(config, session, days, threshold, floor)[:limit]
    if as_json:
        print_json([{"n": i, **vars(c)} for i, c in enumerate(clusters, 1)])
        return
    rows = [
        (i, c.name, c.volume, " / ".join(c.queries[:4]) + (" …" if len(c.queries) > 4 else ""))
        for i, c in enumerate(clusters, 1)
    ]
    print_table(["#", "intent", "volume", "queries"], rows, f"知识缺口 gaps, last {days} days")


@gaps_app.command("draft")
def gaps_draft(
    number: int = typer.Argument(..., min=1, max=MAX_ID, help="Cluster number from `kb gaps`."),
    package: str = typer.Option(..., help="Package as 'category/package'."),
    code: str = typer.Option(..., help="Code of the new table."),
    answer: str = typer.Option(..., help="The standard answer (标准答复)."),
    title: str = typer.Option("", help="Title; defaults to the cluster's central query."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    days: int = typer.Option(30, min=1, max=MAX_DAYS, help=DAYS_HELP),
    threshold: float = typer.Option(0.9, min=0.0, max=1.0),
    floor: float = typer.Option(0.35, min=0.0, max=1.0),
) -> None:
    """Create a draft table from a gap cluster; its queries become similar questions.

    Example: kb gaps draft 1 --package 通信业务/宽带报修 --code TX-KD-101 --answer "…" --as editor1
    """
    with work() as (config, session):
        user = acting(session, as_user)
        target = hierarchy.find_package(session, package)
        permissions.check(user, Action.DRAFT, target)
        clusters = _clusters(config, session, days, threshold, floor)
        cluster = gaps.cluster_number(clusters, number)
        gaps.draft_from_gap(
            session,
            user,
            cluster,
            target,
            code=code,
            fields={"answer": answer},
            title=title or None,
        )
    typer.echo(
        f"Drafted {code} from gap “{cluster.name}” ({len(cluster.queries)} queries). "
        f"Submit it with `kb submit {code} --as {as_user}`."
    )


@gaps_app.command("attach")
def gaps_attach(
    number: int = typer.Argument(..., min=1, max=MAX_ID, help="Cluster number from `kb gaps`."),
    to: str = typer.Option(..., "--to", help="Code of the table that answers these queries."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    days: int = typer.Option(30, min=1, max=MAX_DAYS, help=DAYS_HELP),
    threshold: float = typer.Option(0.9, min=0.0, max=1.0),
    floor: float = typer.Option(0.35, min=0.0, max=1.0),
) -> None:
    """Add a gap cluster's queries to an existing table as similar questions (a draft to review).

    Example: kb gaps attach 2 --to TX-GH-001 --as editor1
    """
    with work() as (config, session):
        user = acting(session, as_user)
        table = tables.get_table(session, to)
        permissions.check(user, Action.DRAFT, table.package)
        clusters = _clusters(config, session, days, threshold, floor)
        cluster = gaps.cluster_number(clusters, number)
        revision = gaps.attach_to_table(session, user, to, cluster.queries)
    typer.echo(
        f"Draft revision {revision.number} of {to} adds the queries of “{cluster.name}”. "
        f"Submit it with `kb submit {to} --as {as_user}`."
    )


@golden_app.command("add")
def golden_add(
    query: str = typer.Argument(..., help="The query as a user typed it."),
    code: str = typer.Argument(..., help="The table that answers it."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Confirm that a table answers a query, adding the pair to the golden set.

    Example: kb golden add "换号后旧号还扣钱吗" TX-GH-001 --as reviewer1
    """
    with work() as (_config, session):
        user = acting(session, as_user)
        table = tables.get_table(session, code)
        permissions.check(user, Action.REVIEW, table.package)
        golden.promote(session, query, table, actor=user.name)
    typer.echo(f"Golden set: “{query.strip()}” → {code}.")


@golden_app.command("endorsed")
def golden_endorsed(
    days: int = typer.Option(30, min=1, max=MAX_DAYS, help="Look at the votes of the last N days."),
    limit: int = typer.Option(20, min=1, max=MAX_LIST),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Queries agents voted answered by a live table, not yet in the golden set, most
    endorsed first: pairs to check and confirm with `kb golden add`.

    Example: kb golden endorsed --days 7
    """
    with read() as (_config, session):
        items = golden.endorsed(session, since=utcnow() - timedelta(days=days), limit=limit)
    if as_json:
        print_json([{**vars(e), "last_at": stamp(e.last_at)} for e in items])
        return
    rows = [(e.query, e.code, e.title, e.helpful, e.not_helpful) for e in items]
    print_table(
        ["query", "code", "title", "helpful", "not helpful"],
        rows,
        f"坐席评为有用 agents' helpful answers not in the golden set, last {days} days",
        keep=("code",),
    )


@golden_app.command("export")
def golden_export(
    directory: Path = typer.Argument(..., help="Where to write the dataset."),
) -> None:
    """Write the golden set as an eval dataset (entries.jsonl + queries.jsonl) for `kb eval`.

    Example: kb golden export reports/golden && kb eval reports/golden
    """
    with read() as (_config, session):
        entries, queries = golden.export_dataset(session, directory)
    typer.echo(f"Wrote {entries} entries and {queries} queries to {directory}.")


def dashboard(
    days: int = typer.Option(30, min=1, max=MAX_DAYS, help=DAYS_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Searches per day, abstention and helpful rates, top queries, stale-but-used tables.

    Example: kb dashboard --days 7 --json
    """
    now = utcnow()
    since = now - timedelta(days=days)
    with read() as (config, session):
        # days in ZHIKU_TIMEZONE, as the admin desk counts them (kb.dashboard)
        daily = analytics.daily_summary(session, since=since, zone=config.zone)
        top = analytics.top_queries(session, since=since)
        stale = analytics.stale_but_used(session, now=now)
    if as_json:
        print_json(
            {
                "daily": daily,
                "top_queries": [{"query": q, "count": n} for q, n in top],
                "stale_but_used": [{**vars(s), "expires_at": stamp(s.expires_at)} for s in stale],
            }
        )
        return
    print_table(
        ["date", "searches", "abstention", "helpful"],
        [(d["date"], d["searches"], d["abstention_rate"], d["helpful_rate"]) for d in daily],
        f"使用情况 usage, last {days} days",
    )
    print_table(["query", "count"], top, "热门问题 top queries")
    print_table(
        ["code", "title", "hits", "expires", "expired"],
        [(s.code, s.title, s.hits, stamp(s.expires_at), s.expired) for s in stale],
        "高频但将过期 stale but used",
    )
