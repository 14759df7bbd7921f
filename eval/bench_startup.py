"""How long ``kb`` takes to start: wall time of short commands in fresh processes.

    python -m eval.bench_startup [--runs 7] [--json]

Each command runs ``--runs`` times as a new process (the way people and scripts run it); the
median and the fastest run are reported, with the machine's load average, since on a shared
box other work shows up in every figure. A benchmark, not a test: ``tests/cli/test_startup.py``
checks *what* ``kb --help`` imports, which does not depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (
    ["--help"],
    ["search", "--help"],
    ["hit-test", "--help"],
    ["review", "due", "--help"],
    ["stats"],
)


def _kb() -> list[str]:
    found = shutil.which("kb", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "cli.main"]


def measure(args: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*_kb(), *args], env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return {"median_s": statistics.median(times), "min_s": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "ZHIKU_DATA_DIR": data, "ZHIKU_DATABASE_URL": ""}
        subprocess.run([*_kb(), "init"], env=env, capture_output=True, check=True)
        load = os.getloadavg()[0]
        results = {" ".join(c): measure(c, options.runs, env) for c in COMMANDS}
    if options.json:
        print(json.dumps({"load_1min": load, "runs": options.runs, "commands": results}))
        return
    print(f"kb start-up, {options.runs} runs each (1-minute load average {load:.2f})")
    for name, r in results.items():
        print(f"  kb {name:<22} median {r['median_s']:.2f} s   fastest {r['min_s']:.2f} s")


if __name__ == "__main__":
    main()
