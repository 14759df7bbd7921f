"""Index progress off a terminal: plain lines a log can show while a long build runs."""

from __future__ import annotations

import io
from itertools import count

from rich.console import Console

from cli.progress import progress_bar, progress_lines


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100), out


def test_off_a_terminal_each_stage_writes_a_line_per_tenth_with_its_time() -> None:
    console, out = _console(terminal=False)
    ticks = count()
    progress = progress_lines(console, clock=lambda: float(next(ticks)))
    for done in range(2050):
        progress("embed", done, 2049)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0] == "编码 embedding 0/2049 (0%), 0 s"
    assert lines[1].startswith("编码 embedding 205/2049 (10%), ")
    assert lines[-1].startswith("编码 embedding 2049/2049 (100%), ")
    assert all(line.endswith(" s") for line in lines)


def test_stages_are_counted_apart_and_an_empty_stage_writes_one_line() -> None:
    console, out = _console(terminal=False)
    progress = progress_lines(console, clock=lambda: 0.0)
    progress("analyze", 0, 0)
    progress("analyze", 0, 0)
    for done in range(3):
        progress("tune", done, 2)
    assert out.getvalue().splitlines() == [
        "分析 analyzing 0/0, 0 s",
        "调优 self-tuning 0/2 (0%), 0 s",
        "调优 self-tuning 1/2 (50%), 0 s",
        "调优 self-tuning 2/2 (100%), 0 s",
    ]


def test_the_bar_is_live_on_a_terminal_and_plain_lines_elsewhere() -> None:
    plain, plain_out = _console(terminal=False)
    with progress_bar(plain) as progress:
        progress("embed", 0, 4)
        progress("embed", 4, 4)
    assert plain_out.getvalue().splitlines()[-1] == "编码 embedding 4/4 (100%), 0 s"
    live, live_out = _console(terminal=True)
    with progress_bar(live) as progress:
        progress("embed", 4, 4)
    assert "\x1b[" in live_out.getvalue() and "编码 embedding" in live_out.getvalue()


def test_a_stage_run_again_starts_its_lines_and_time_over() -> None:
    console, out = _console(terminal=False)
    ticks = iter([0.0, 5.0, 7.0, 9.0])
    progress = progress_lines(console, clock=lambda: next(ticks))
    progress("embed", 0, 10)
    progress("embed", 10, 10)
    progress("embed", 0, 3)  # a second batch of texts
    progress("embed", 3, 3)
    assert out.getvalue().splitlines() == [
        "编码 embedding 0/10 (0%), 0 s",
        "编码 embedding 10/10 (100%), 5 s",
        "编码 embedding 0/3 (0%), 0 s",
        "编码 embedding 3/3 (100%), 2 s",
    ]
