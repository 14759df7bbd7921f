"""One field value in a page format: plain text, Markdown source or safe HTML."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from kb.markup import as_markdown, plain_text
from presenters.html import safe_markdown, to_html


class Format(StrEnum):
    PLAIN = "plain"
    MARKDOWN = "markdown"
    HTML = "html"


def render_value(value: Any, field_type: str, fmt: Format) -> str:
    """One field value (a string, or a list for steps/list fields) in ``fmt``.

    ``text`` fields are escaped, never interpreted; ``markdown``, ``steps`` and ``list`` fields
    are read as the content format's Markdown subset (:mod:`kb.markup`).
    """
    if isinstance(value, list):
        value = [str(v) for v in value]
    else:
        value = "" if value is None else str(value).strip()
    field_type = str(field_type)
    if fmt is Format.PLAIN:
        return plain_text(value, field_type)
    if fmt is Format.MARKDOWN:  # for a page to render: raw HTML and unsafe links defused
        return safe_markdown(as_markdown(value, field_type))
    return to_html(value, field_type)
