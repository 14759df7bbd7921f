"""Optional dependencies of the benchmark harness (the ``eval`` extra), imported on use.

The service installs without them (``make run``); ``kb eval --out`` draws charts with
matplotlib and reads machine figures with psutil.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from eval.errors import EvalError

INSTALL = "install the eval extra: pip install -e '.[eval]' (make test and make bench do)"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or say which extra to install for ``purpose``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EvalError(f"{purpose} needs {module.split('.')[0]}: {INSTALL}") from None
