"""The progress bar of long index work (``kb index build``, the first ``kb search``, ``kb serve``).

On a terminal it is a live bar per stage. Elsewhere (a container's or a service manager's log)
a live bar shows nothing until it ends, and a first build takes minutes: there each stage
writes a plain line as it starts, at every tenth of its work and when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

STAGES = {
    "analyze": "分析 analyzing",
    "embed": "编码 embedding",
    "latent": "潜在词 latent terms",
    "tune": "调优 self-tuning",
}

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total), as indexer.index
Clock = Callable[[], float]
STEPS = 10  # lines per stage off a terminal, besides its first


@contextmanager
def progress_bar(console: Console) -> Iterator[ProgressCallback]:
    """A bar per indexing stage (plain lines off a terminal); yields the callback the indexer
    reports to."""
    if not console.is_terminal:
        yield progress_lines(console)
        return
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


def progress_lines(console: Console, clock: Clock = time.monotonic) -> ProgressCallback:
    """A callback writing ``stage done/total (pct%), seconds`` when a stage starts and each time
    it crosses another tenth of its total (the last line at 100%); a stage reported again from
    a lower count or with another total starts over, lines and time."""
    started: dict[str, float] = {}
    shown: dict[str, tuple[int, int, int]] = {}  # per stage: its total, last done, last tenth

    def callback(stage: str, done: int, total: int) -> None:
        step = STEPS if total <= 0 else min(STEPS, done * STEPS // total)
        last = shown.get(stage)
        fresh = last is None or total != last[0] or done < last[1]  # the stage starts (again)
        if last is not None and not fresh and step <= last[2]:
            shown[stage] = (total, done, last[2])
            return
        now = clock()
        if fresh:
            started[stage] = now
        shown[stage] = (total, done, step)
        elapsed = now - started[stage]
        share = f" ({100 * done // total}%)" if total > 0 else ""
        console.print(
            f"{STAGES.get(stage, stage)} {done}/{total}{share}, {elapsed:.0f} s",
            markup=False,
            highlight=False,
        )

    return callback
