"""The progress bar of long index work (``kb index build``, the first ``kb search``, ``kb serve``)."""

from __future__ import annotations

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

STAGES = {"analyze": "分析 analyzing", "embed": "编码 embedding", "tune": "调优 self-tuning"}

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total), as indexer.index


@contextmanager
def progress_bar(console: Console) -> Iterator[ProgressCallback]:
    """A bar per indexing stage; yields the callback the indexer reports to."""
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
