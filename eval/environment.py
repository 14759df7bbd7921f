"""Where and on what a run happened: git commit, machine, memory."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from eval.extras import require


def git_commit(root: Path | None = None) -> dict[str, Any]:
    """HEAD's commit and whether the work tree has changes; nulls outside a git checkout."""
    where = root or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def machine() -> dict[str, Any]:
    psutil = require("psutil", "kb eval (machine figures)")
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        # other work on the machine inflates latencies: say how busy it was
        "load_avg_1m": round(psutil.getloadavg()[0], 2),
    }


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    psutil = require("psutil", "kb eval (memory figures)")
    return float(psutil.Process().memory_info().rss / 2**20)


def peak_rss_mb() -> float | None:
    """Highest resident memory of this process so far, in MiB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return float(peak / 2**20 if sys.platform == "darwin" else peak / 2**10)
