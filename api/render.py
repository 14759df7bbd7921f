"""Field values rendered for a channel: plain text (SMS-length capable), Markdown or safe HTML.

One renderer for the whole product: the indexer's (:mod:`indexer.render`), which also renders
the answers of search suggestions, so an answer reads the same in a search result and on its
FAQ page. It escapes everything it does not interpret.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from indexer.render import render


class Format(StrEnum):
    PLAIN = "plain"
    MARKDOWN = "markdown"
    HTML = "html"


def render_value(value: Any, field_type: str, fmt: Format) -> str:
    """One field value (a string, or a list for steps/list fields) in ``fmt``."""
    if not isinstance(value, list):
        value = str(value).strip()
    rendered = render(value, markdown=field_type == "markdown", numbered=field_type == "steps")
    text: str = getattr(rendered, fmt.value)
    return text
