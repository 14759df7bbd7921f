"""The Markdown subset of knowledge fields, read into blocks; presenters turn blocks into output.

``markdown`` fields may use paragraphs, ``#`` headings, ``-``/``1.`` lists, ``**bold**``,
``*italic*``, `` `code` `` and ``[text](url)`` links (content/README.md); ``steps`` and ``list``
fields are lists of such lines; ``text`` fields are taken literally. This module only reads that
structure (and gives the plain text the index and snippets need); how it looks on a page, in an
SMS or read aloud is decided in :mod:`presenters`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
BOLD = re.compile(r"\*\*(.+?)\*\*")
ITALIC = re.compile(r"(?<!\*)\*(?!\*)(.+?)(?<!\*)\*(?!\*)")
CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)、]\s*(.*)$")

BlockKind = Literal["heading", "paragraph", "bullets", "numbered"]


@dataclass(frozen=True)
class Block:
    """A heading, a paragraph (its lines) or a list (its items); text is still inline Markdown."""

    kind: BlockKind
    lines: tuple[str, ...]
    level: int = 0  # headings only
    literal: bool = False  # a ``text`` field: no inline Markdown to interpret


def blocks(value: str | list[str], field_type: str = "markdown") -> list[Block]:
    """The blocks of a field value of ``field_type`` (text, markdown, steps or list)."""
    if isinstance(value, list):
        items = tuple(str(v).strip() for v in value if str(v).strip())
        if not items:
            return []
        return [Block("numbered" if field_type == "steps" else "bullets", items)]
    if field_type != "markdown":
        lines = tuple(line.strip() for line in value.strip().splitlines())
        return [Block("paragraph", lines, literal=True)] if any(lines) else []
    return _markdown_blocks(value)


def _markdown_blocks(markdown: str) -> list[Block]:
    out: list[Block] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_kind: BlockKind = "bullets"

    def flush() -> None:
        if paragraph:
            out.append(Block("paragraph", tuple(paragraph)))
            paragraph.clear()
        if items:
            out.append(Block(list_kind, tuple(items)))
            items.clear()

    for raw in markdown.splitlines():
        line = raw.rstrip()
        heading = _HEADING.match(line)
        item = _BULLET.match(line) or _NUMBERED.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            out.append(Block("heading", (heading.group(2),), level=len(heading.group(1))))
        elif item:
            kind: BlockKind = "bullets" if _BULLET.match(line) else "numbered"
            if paragraph or (items and list_kind != kind):
                flush()
            list_kind = kind
            items.append(item.group(1))
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    flush()
    return out


def inline_plain(text: str, link: Callable[[str, str], str] | None = None) -> str:
    """Inline Markdown without its markup; ``link(label, url)`` says what a link becomes."""
    show = link or (lambda label, url: f"{label}（{url}）")
    out = LINK.sub(lambda m: show(m.group(1), m.group(2)), text)
    out = BOLD.sub(r"\1", out)
    out = ITALIC.sub(r"\1", out)
    return CODE.sub(r"\1", out)


def as_markdown(value: str | list[str], field_type: str) -> str:
    """The value as Markdown source: lists become ``-`` or ``1.`` lines, strings stay."""
    if isinstance(value, list):
        numbered = field_type == "steps"
        return "\n".join(f"{i}. {v}" if numbered else f"- {v}" for i, v in enumerate(value, 1))
    return value.strip() if field_type != "markdown" else value


def plain_text(value: str | list[str], field_type: str = "markdown") -> str:
    """Readable plain text: markup dropped, the source's line layout kept (lists as ``1.``/``·``)."""
    if isinstance(value, list):
        items = [inline_plain(str(v).strip()) for v in value if str(v).strip()]
        if field_type == "steps":
            return "\n".join(f"{i}. {v}" for i, v in enumerate(items, 1))
        return "\n".join(f"· {v}" for v in items)
    if field_type != "markdown":
        return value.strip()
    lines = []
    for raw in value.splitlines():
        line = raw.rstrip()
        heading = _HEADING.match(line)
        if heading:
            line = heading.group(2)
        line = inline_plain(line)
        bullet = _BULLET.match(line)
        if bullet:
            line = f"· {bullet.group(1)}"
        lines.append(line)
    text = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)
