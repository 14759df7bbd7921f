"""The standard answer rendered per channel: plain text (SMS-length capable), Markdown, HTML.

The HTML renderer handles the Markdown the content format uses — paragraphs, ``#`` headings,
``-``/``1.`` lists, ``**bold**``, ``*italic*``, `` `code` `` and ``[text](url)`` links — and
escapes everything else, so a knowledge table can never inject markup into a page.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<!\*)\*(?!\*)(.+?)(?<!\*)\*(?!\*)")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)、]\s*(.*)$")


@dataclass(frozen=True)
class RenderedAnswer:
    plain: str
    markdown: str
    html: str


def as_markdown(value: str | list[str], *, numbered: bool = False) -> str:
    if isinstance(value, list):
        return "\n".join(f"{i}. {v}" if numbered else f"- {v}" for i, v in enumerate(value, 1))
    return value


def to_plain(markdown: str, max_chars: int | None = None) -> str:
    """Markdown stripped to plain text; ``max_chars`` cuts at a sentence end when it can."""
    lines = []
    for raw in markdown.splitlines():
        line = raw.rstrip()
        heading = _HEADING.match(line)
        if heading:
            line = heading.group(2)
        line = _LINK.sub(lambda m: f"{m.group(1)}（{m.group(2)}）", line)
        line = _BOLD.sub(r"\1", line)
        line = _ITALIC.sub(r"\1", line)
        line = _CODE.sub(r"\1", line)
        bullet = _BULLET.match(line)
        if bullet:
            line = f"· {bullet.group(1)}"
        lines.append(line)
    text = "\n".join(lines).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if max_chars is not None and len(text) > max_chars:
        cut = text[: max_chars - 1]
        end = max(cut.rfind(p) for p in "。！？；.!?")
        text = (cut[: end + 1] if end >= max_chars // 2 else cut) + "…"
    return text


def _inline(text: str) -> str:
    out = html.escape(text, quote=True)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _ITALIC.sub(r"<em>\1</em>", out)

    def link(match: re.Match[str]) -> str:
        url = match.group(2)
        if not re.match(r"^(https?://|mailto:|tel:|/)", html.unescape(url)):
            return match.group(1)
        return f'<a href="{url}" rel="noopener">{match.group(1)}</a>'

    return _LINK.sub(link, out)


def to_html(markdown: str) -> str:
    """Markdown to safe HTML (see the module docstring for what is supported)."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = ""

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            blocks.append("<p>" + "<br>".join(_inline(p) for p in paragraph) + "</p>")
            paragraph.clear()
        if items:
            blocks.append(
                f"<{list_tag}>" + "".join(f"<li>{i}</li>" for i in items) + f"</{list_tag}>"
            )
            items.clear()
            list_tag = ""

    for raw in markdown.splitlines():
        line = raw.rstrip()
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            blocks.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet or numbered:
            tag = "ul" if bullet else "ol"
            if paragraph or (items and list_tag != tag):
                flush()
            list_tag = tag
            items.append(_inline((bullet or numbered).group(1)))  # type: ignore[union-attr]
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    flush()
    return "\n".join(blocks)


def render(value: str | list[str], *, markdown: bool, numbered: bool = False) -> RenderedAnswer:
    """All three forms of a field value (plain text fields are escaped, not interpreted)."""
    if isinstance(value, list):
        md = as_markdown(value, numbered=numbered)
    elif markdown:
        md = value
    else:
        md = value
        return RenderedAnswer(
            plain=value,
            markdown=value,
            html="<p>" + "<br>".join(html.escape(x) for x in value.splitlines()) + "</p>",
        )
    return RenderedAnswer(plain=to_plain(md), markdown=md, html=to_html(md))
