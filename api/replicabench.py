"""How long a change made through one replica takes to be served by the others (a benchmark).

    python -m api.replicabench --url http://127.0.0.1:8000 --url http://127.0.0.1:8001 \\
        --token zk_... --code TX-GH-001 --changes 20

The first ``--url`` takes the changes, the others are watched. Each change expires table
``--code`` (``PATCH valid_until`` to a past instant, as an admin may) or revives it (its
original ``valid_until`` back), alternately; the delay is the time from the change's response
until an agent search on each watched replica for the table's title shows (or no longer
shows) it, polled every ``--step`` seconds, so it includes one poll step and one search.
With ``--jitter`` each change waits a random pause first, so that a replica that only polls
is not always met right after its round. The table is left as it was. The token must be an
admin's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import httpx

from api.bench_errors import run


@dataclass
class Delays:
    url: str
    changes: int
    missed: int  # not served within --timeout
    median_ms: float
    max_ms: float


def served(client: httpx.Client, url: str, query: str, code: str) -> bool:
    """Whether an agent search on ``url`` for ``query`` lists table ``code``."""
    response = client.get(f"{url}/api/search", params={"q": query, "k": 10, "mode": "bm25"})
    response.raise_for_status()
    return code in {s["code"] for s in response.json()["suggestions"]}


def change(
    client: httpx.Client, url: str, code: str, *, expire: bool, original: str | None
) -> None:
    """Expire ``code`` now (valid_until in the past) or give it back its ``original`` validity."""
    if expire:
        past = (datetime.now(UTC) - timedelta(days=3650)).isoformat()
        body: dict[str, object] = {"valid_until": past}
    elif original is None:
        body = {"clear_valid_until": True}
    else:
        body = {"valid_until": original}
    client.patch(f"{url}/api/admin/tables/{code}", json=body).raise_for_status()


def measure(
    urls: list[str],
    token: str,
    code: str,
    *,
    changes: int = 20,
    step: float = 0.01,
    timeout: float = 30.0,
    jitter: float = 0.0,
) -> list[Delays]:
    """Make ``changes`` changes through ``urls[0]``; the delay until each other URL serves it.

    ``jitter``: wait a random 0 to this many seconds before each change, so that changes do not
    fall in step with a polling replica's rounds (each would then wait a whole interval).
    """
    pause = random.Random(20261202)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=30) as client:
        table = client.get(f"{urls[0]}/api/admin/tables/{code}")
        table.raise_for_status()
        title, original = table.json()["title"], table.json().get("valid_until")
        delays: dict[str, list[float]] = {url: [] for url in urls[1:]}
        missed = dict.fromkeys(urls[1:], 0)
        try:
            for n in range(changes):
                expire = n % 2 == 0
                time.sleep(pause.uniform(0, jitter))
                change(client, urls[0], code, expire=expire, original=original)
                made = time.perf_counter()
                for url in urls[1:]:
                    while served(client, url, title, code) == expire:
                        if time.perf_counter() - made > timeout:
                            missed[url] += 1
                            break
                        time.sleep(step)
                    else:
                        delays[url].append((time.perf_counter() - made) * 1000)
        finally:
            if changes % 2:
                change(client, urls[0], code, expire=False, original=original)
    return [
        Delays(
            url,
            len(found) + missed[url],
            missed[url],
            round(statistics.median(found), 1) if found else float("nan"),
            round(max(found), 1) if found else float("nan"),
        )
        for url, found in delays.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", required=True, help="A replica (2 or more).")
    parser.add_argument("--token", required=True, help="An admin's API token.")
    parser.add_argument("--code", required=True, help="A live table to expire and revive.")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--step", type=float, default=0.01, help="Seconds between looks.")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        help="Wait a random 0 to this many seconds before each change (use ZHIKU_SYNC_INTERVAL "
        "to sample a polling replica fairly).",
    )
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    args = parser.parse_args(argv)
    if len(args.url) < 2:
        parser.error("give two or more --url: the first takes the changes")
    return run(lambda: _report(args))


def _report(args: argparse.Namespace) -> int:
    results = measure(
        args.url,
        args.token,
        args.code,
        changes=args.changes,
        step=args.step,
        timeout=args.timeout,
        jitter=args.jitter,
    )
    if args.json:
        sys.stdout.write(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    else:
        for r in results:
            sys.stdout.write(
                f"{r.url}: {r.changes} changes, median {r.median_ms} ms, max {r.max_ms} ms, "
                f"missed {r.missed}\n"
            )
    return 1 if any(r.missed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
