"""What index updates cost the searches of a serving process.

    python -m eval.bench_updates DATA_DIR [--updates 10] [--every 2] [--pause 0.02]
                                 [--questions FILE] [--json]

A copy of ``DATA_DIR`` (a built KB: ``bench_scale --keep`` makes one at any size) is served
the way ``kb serve`` serves it (:class:`api.runtime.Runtime`, its lock, its deferred index
write) while one thread searches, pausing ``--pause`` seconds between searches, and the main
thread re-indexes one live table every ``--every`` seconds (what an approval, an expiry or a
follower's round does). Reported: the update calls' p50 and max, the searches' latency during
the updates (p50/p95/p99/max) and before them, and the final write when the server stops.
Re-tuning is switched off, to measure the update alone. Question vectors are encoded once
before the run (the embedding cache keeps them), so that searches measure search, not the
encoder. A benchmark, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from api.ratelimit import RateLimiter
from api.runtime import Runtime
from indexer import selftune
from indexer.service import SearchService
from kb.db import open_database
from kb.models import KnowledgeTable
from kb.search_contract import SearchRequest
from kb.settings import Settings
from kb.visibility import Channel


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


def run(
    data_dir: Path,
    *,
    updates: int,
    every_s: float,
    pause_s: float,
    questions: list[str] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Serve a copy of ``data_dir`` and measure; the copy is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="zhiku-updates-") as scratch:
        copy = Path(scratch) / "kb"
        shutil.copytree(data_dir, copy)
        base = settings or Settings()
        config = base.model_copy(update={"data_dir": copy, "database_url": ""})
        db = open_database(config.resolved_database_url)
        try:
            return _measure(config, db, updates, every_s, pause_s, questions)
        finally:
            db.dispose()


def _measure(
    config: Settings,
    db: Any,
    updates: int,
    every_s: float,
    pause_s: float,
    questions: list[str] | None,
) -> dict[str, Any]:
    service = SearchService.open(config, db, build=False)
    runtime = Runtime(config, db, service, RateLimiter.from_settings(config))
    with db.session() as session:
        ids = session.scalars(
            select(KnowledgeTable.id)
            .where(KnowledgeTable.live_revision_id.is_not(None))
            .order_by(KnowledgeTable.id)
            .limit(updates)
        ).all()
    asked = questions or [d.title for d in service.index.docs.values() if d.title][:2000]
    service.index.prime_queries(asked)
    latencies: list[tuple[float, float]] = []  # (finished at, ms)
    stop = threading.Event()

    def searches() -> None:
        i = 0
        while not stop.is_set():
            started = time.perf_counter()
            runtime.search(SearchRequest(asked[i % len(asked)], Channel.AGENT))
            ended = time.perf_counter()
            latencies.append((ended, (ended - started) * 1000))
            i += 1
            time.sleep(pause_s)

    retune_at = selftune.RETUNE_MIN_CHANGES
    selftune.RETUNE_MIN_CHANGES = 10**9  # the update alone
    searcher = threading.Thread(target=searches, name="bench-search")
    try:
        searcher.start()
        time.sleep(min(3.0, 10 * every_s))
        began = time.perf_counter()
        calls = []
        for table_id in ids:
            started = time.perf_counter()
            runtime.sync([table_id])
            calls.append((time.perf_counter() - started) * 1000)
            time.sleep(every_s)
        ended = time.perf_counter()
    finally:
        stop.set()
        searcher.join()
        selftune.RETUNE_MIN_CHANGES = retune_at
    started = time.perf_counter()
    runtime.close()
    closing_ms = (time.perf_counter() - started) * 1000
    service.close()
    return {
        "tables": len(service.index.docs),
        "updates": len(calls),
        "every_s": every_s,
        "index_save_delay_s": config.index_save_delay,
        "update_ms": _quantiles(calls),
        "search_ms_during": _quantiles([ms for at, ms in latencies if began <= at <= ended]),
        "search_ms_before": _quantiles([ms for at, ms in latencies if at < began]),
        "final_write_ms": round(closing_ms, 1),
        "load_1min": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between updates")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between searches")
    parser.add_argument("--questions", type=Path, help="one question per line (default: titles)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if not (options.data_dir / "index").is_dir():
        parser.error(f"{options.data_dir} holds no built index (index/): build one first")
    questions = None
    if options.questions:
        lines = options.questions.read_text(encoding="utf-8").splitlines()
        questions = [q.strip() for q in lines if q.strip()]
    result = run(
        options.data_dir,
        updates=options.updates,
        every_s=options.every,
        pause_s=options.pause,
        questions=questions,
    )
    if options.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    up, during, before = result["update_ms"], result["search_ms_during"], result["search_ms_before"]
    print(
        f"{result['tables']} tables, {result['updates']} updates every {result['every_s']} s "
        f"(ZHIKU_INDEX_SAVE_DELAY {result['index_save_delay_s']} s, load {result['load_1min']:.1f})"
    )
    print(f"  update: p50 {up['p50']} ms, max {up['max']} ms")
    print(
        f"  searches during ({during['n']}): p50 {during['p50']} / p95 {during['p95']} / "
        f"p99 {during['p99']} / max {during['max']} ms; before: p50 {before.get('p50')} ms"
    )
    print(f"  final write at stop: {result['final_write_ms']} ms")


if __name__ == "__main__":
    main()
