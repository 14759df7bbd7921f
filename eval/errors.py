"""Errors of the benchmark harness.

EvalError (500)                  (a kb.errors.ZhikuError: the CLI prints it as one line)
├── DatasetInvalid (422)        a dataset directory breaks the common format; lists Problems
└── ResultsInvalid (422)        a results JSON file cannot be compared
"""

from __future__ import annotations

from kb.errors import ZhikuError


class EvalError(ZhikuError):
    status = 500


class DatasetInvalid(EvalError):
    status = 422


class ResultsInvalid(EvalError):
    status = 422
