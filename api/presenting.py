"""The API's side of :mod:`presenters`: the ``format`` a route takes and renderings as bodies.

They live in :mod:`presenters.search_json`, shared with ``kb search --json``.
"""

from __future__ import annotations

from presenters.search_json import (
    FORMAT_HELP,
    AnswerFormat,
    answer_in,
    rendering_out,
    renderings_out,
)

__all__ = ["FORMAT_HELP", "AnswerFormat", "answer_in", "rendering_out", "renderings_out"]
