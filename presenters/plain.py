"""Plain text for customer channels without markup (SMS, WeChat): lines, scrubbing, shortening."""

from __future__ import annotations

import re
from collections.abc import Callable

from kb.markup import LINK, blocks, inline_plain
from presenters.base import Field

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|</?[A-Za-z!][^<>]*>", re.S | re.I)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING_MARK = re.compile(r"(?m)^[ \t]*#+[ \t]*")
SENTENCE_ENDS = "。！？；!?;\n"


def handset_link(label: str, url: str, base_url: str = "") -> str:
    """What a handset can show of a link: an absolute web address (a site path made absolute
    when the service's public URL is known), a number, or the label only."""
    if base_url and re.match(r"^/(?!/)\S*$", url):
        url = base_url.rstrip("/") + url
    if re.match(r"^https?://\S+$", url):
        return f"{label} {url} "
    for scheme in ("tel:", "mailto:"):
        if url.startswith(scheme) and len(url) > len(scheme):
            return f"{label} {url[len(scheme) :]} "
    return label


def scrub(text: str) -> str:
    """``text`` with no HTML tags, Markdown emphasis/code marks, heading marks or table rules."""
    lines = []
    for line in text.splitlines():
        if _TABLE_RULE.match(line) and "|" in line:
            continue
        cells = line.strip()
        if cells.startswith("|") and cells.endswith("|") and len(cells) > 1:
            line = " ".join(c.strip() for c in cells.strip("|").split("|"))
        lines.append(line)
    out = "\n".join(lines)
    while True:  # removing one mark can make another ("<<b>i>", "*<b>*")
        before = out
        out = _TAG.sub("", out)
        out = LINK.sub(r"\1", out)  # a link only formed once a tag was taken out of it
        out = out.replace("**", "").replace("`", "")
        out = _HEADING_MARK.sub("", out)
        if out == before:
            break
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = "\n".join(line.strip() for line in out.splitlines())
    return re.sub(r"\n{2,}", "\n", out).strip()


def field_lines(field: Field, link: Callable[[str, str], str] = handset_link) -> str:
    """A field value as compact plain lines: lists as ``1.``/``·`` items, no blank lines."""
    lines: list[str] = []
    for block in blocks(field.value, field.type):
        texts = [inline_plain(x, link) for x in block.lines]
        if block.kind == "numbered":
            lines += [f"{i}. {t}" for i, t in enumerate(texts, 1)]
        elif block.kind == "bullets":
            lines += [f"· {t}" for t in texts]
        else:
            lines += texts
    return scrub("\n".join(lines))


def utf16_units(text: str) -> int:
    """Length as an SMS counts it (UCS-2): characters outside the BMP take two."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def shorten(text: str, budget: int, measure: Callable[[str], int]) -> str:
    """The longest prefix within ``budget``, ending at a sentence end when one is in its second half."""
    size = 0
    end = 0
    for i, ch in enumerate(text):
        size += measure(ch)
        if size > budget:
            break
        end = i + 1
    cut = text[:end]
    stop = max(cut.rfind(p) for p in SENTENCE_ENDS)
    if stop >= 0 and stop + 1 >= end // 2:
        cut = cut[: stop + 1]
    return cut.rstrip()


def split_units(text: str, size: int) -> list[str]:
    """``text`` in consecutive parts of at most ``size`` UCS-2 units (a character is never split)."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        units = utf16_units(ch)
        if used + units > size:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += units
    if current:
        parts.append("".join(current))
    return parts
