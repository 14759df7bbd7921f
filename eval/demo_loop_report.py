"""The gap-loop demo's before/after, as tables for people or as JSON for machines."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from eval.demo_loop import DemoReport, Outcome
from kb.gaps import GapCluster


def _result(outcome: Outcome) -> str:
    if outcome.top_code is None:
        return "无结果 nothing found"
    what = f"{outcome.top_code} {outcome.top_title}"
    return f"{'无把握 abstains' if outcome.abstained else '已回答 answered'}: {what}"


def _clusters_table(clusters: list[GapCluster], title: str) -> Table:
    table = Table("#", "intent (most central query)", "volume", "queries", title=title)
    for n, c in enumerate(clusters, 1):
        table.add_row(str(n), c.name, str(c.volume), " / ".join(c.queries))
    if not clusters:
        table.add_row("-", "没有知识缺口 no gaps", "0", "")
    return table


def render(report: DemoReport, console: Console) -> None:
    """Print the loop step by step: before, gaps, review, after."""
    console.rule("1. Customers ask questions the demo KB cannot answer (customer channel)")
    before = Table("query", "×", "top-1 confidence", "result", title="before 发布前")
    for o in report.before:
        before.add_row(o.query, str(o.times), f"{o.confidence:.2f}", _result(o))
    console.print(before)
    answered = sum(1 for o in report.before if o.answered)
    console.print(
        f"{answered} of {len(report.before)} questions got a confident answer (the customer "
        f"channel answers at confidence ≥ {report.abstain_below:.2f}). Gap signals: searches "
        f"that abstained or whose best match was below {report.floor}."
    )

    console.rule("2. The query log, clustered by intent (kb gaps / 看板 知识缺口)")
    console.print(
        _clusters_table(
            report.clusters_before,
            f"gap clusters, encoder {report.encoder}, similarity ≥ {report.threshold}",
        )
    )

    console.rule(f"3. Gap #1 ({report.intent}) becomes a table, through review")
    for what, state in report.steps:
        console.print(f"  {what:<45} → {state}")

    console.rule("4. The same questions, asked again")
    after = Table("query", "before", "after", "confidence", title="after 发布后")
    was = {o.query: o for o in report.before}
    for o in report.after:
        old = was[o.query]
        before_text = "无把握" if not old.answered else f"{old.top_code}"
        after_text = f"{o.top_code} {'✓' if o.answered and o.top_code == report.code else '✗'}"
        after.add_row(
            o.query, f"{before_text} ({old.confidence:.2f})", after_text, f"{o.confidence:.2f}"
        )
    for o in report.also:
        old = was[o.query]
        after.add_row(
            f"{o.query} (not in the gap)",
            f"{old.top_code} ({old.confidence:.2f})",
            f"{o.top_code} {'✓' if o.answered and o.top_code == report.code else '✗'}",
            f"{o.confidence:.2f}",
        )
    console.print(after)
    if report.also:
        console.print(
            "“not in the gap”: asked with the same intent, but answered confidently by another "
            "table before, so no gap signal (only a not-helpful vote would have logged it)."
        )
    if report.later:
        later = Table("new phrasing (never logged before)", "result", "confidence")
        for o in report.later:
            later.add_row(o.query, _result(o), f"{o.confidence:.2f}")
        console.print(later)
    console.print(
        _clusters_table(report.clusters_after, "gaps among the searches made after publishing")
    )
    console.rule()
    console.print(
        f"{report.answered_after()} of {len(report.after)} questions of gap #1 are now answered "
        f"by {report.code} at top-1 with a confident answer "
        f"(before: {sum(1 for o in report.before if o.query in {a.query for a in report.after} and o.answered)})."
    )


def to_json(report: DemoReport) -> dict[str, Any]:
    data = asdict(report)
    data["answered_after"] = report.answered_after()
    return data
