"""A bounded load test of ``GET /api/search`` on a running server (a benchmark, not a test).

    python -m api.loadbench --url http://127.0.0.1:8000 --token zk_... --clients 1 8 32

Queries are the lines of ``--queries FILE`` or else the public FAQ titles of the running KB
(read from ``/api/faq/tree``), cycled; how many are distinct is printed, since repeats of a
query are served by the service's query-vector cache (as repeated questions are in real use).
Each level runs for ``--seconds`` after a short warm-up; latency is measured per request on
the client, so it includes HTTP and JSON on loopback.

A server just started on a KB whose tuning is due (tables changed, labels, or a query log
newly worth comparing) re-tunes in the background first, on the same cores: measure once
admins' ``GET /api/admin/health`` says ``"retuning": false``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from api.bench_errors import run


@dataclass
class Level:
    clients: int
    requests: int
    errors: int
    seconds: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _queries(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/api/faq/tree")
    response.raise_for_status()
    tree = response.json()
    titles = [t["title"] for c in tree["categories"] for p in c["packages"] for t in p["tables"]]
    return titles or ["改号后旧号码还扣费吗"]


async def _run_level(
    url: str, token: str, queries: list[str], clients: int, seconds: float
) -> Level:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker(offset: int, until: float, record: bool) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < until:
                q = queries[i % len(queries)]
                i += clients
                started = time.perf_counter()
                try:
                    response = await client.get("/api/search", params={"q": q, "k": 5})
                    ok = response.status_code == 200
                except httpx.TransportError:  # the server went away mid-run: an error
                    ok = False
                    await asyncio.sleep(0.01)
                elapsed = (time.perf_counter() - started) * 1000
                if not record:
                    continue
                if ok:
                    latencies.append(elapsed)
                else:
                    errors += 1

        warm = time.perf_counter() + min(2.0, seconds / 5)
        await asyncio.gather(*(worker(n, warm, False) for n in range(clients)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(worker(n, until, True) for n in range(clients)))
        took = time.perf_counter() - started
    return Level(
        clients=clients,
        requests=len(latencies),
        errors=errors,
        seconds=round(took, 2),
        throughput_rps=round(len(latencies) / took, 1),
        p50_ms=round(statistics.median(latencies), 1) if latencies else float("nan"),
        p95_ms=round(_percentile(latencies, 0.95), 1),
        p99_ms=round(_percentile(latencies, 0.99), 1),
    )


async def _main(args: argparse.Namespace, queries: list[str] | None) -> list[Level]:
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=30) as client:
        queries = queries or await _queries(client)
        # One search first: a wrong URL or token is said before anything is measured.
        (await client.get("/api/search", params={"q": queries[0], "k": 1})).raise_for_status()
    sys.stderr.write(f"{len(set(queries))} distinct queries\n")
    return [await _run_level(args.url, args.token, queries, n, args.seconds) for n in args.clients]


def _read_queries(path: Path, parser: argparse.ArgumentParser) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        parser.error(f"--queries {path}: cannot be read as UTF-8 text ({err})")
    queries = [line.strip() for line in lines if line.strip()]
    if not queries:
        parser.error(f"--queries {path}: no query in it (one per line)")
    return queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load-test GET /api/search on a running server.")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="An agent's API token (zk_...).")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=15.0, help="Measured time per level.")
    parser.add_argument("--json", action="store_true", help="Machine-readable output.")
    parser.add_argument("--queries", type=Path, help="A file of queries, one per line.")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.clients) or args.seconds <= 0:
        parser.error("--clients takes counts from 1, --seconds a positive number")
    queries = _read_queries(args.queries, parser) if args.queries is not None else None
    return run(lambda: _report(asyncio.run(_main(args, queries)), as_json=args.json))


def _report(levels: list[Level], *, as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps([asdict(level) for level in levels], indent=2) + "\n")
        return 0
    sys.stdout.write("clients  requests  errors  rps      p50 ms  p95 ms  p99 ms\n")
    for v in levels:
        sys.stdout.write(
            f"{v.clients:>7}  {v.requests:>8}  {v.errors:>6}  {v.throughput_rps:>7}  "
            f"{v.p50_ms:>6}  {v.p95_ms:>6}  {v.p99_ms:>6}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
