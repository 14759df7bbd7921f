"""Safe HTML: field values from their Markdown blocks, and snippets with the match marked.

Everything that is not interpreted is escaped, and a link keeps its ``href`` only for http(s),
mailto:, tel: or a site-relative path, so a knowledge table can never inject markup into a page.
"""

from __future__ import annotations

import html
import re

from kb.markup import BOLD, CODE, ITALIC, LINK, Block, blocks

# A site-relative path may not start "//" or "/\\" (browsers read a backslash as a slash in
# http(s) addresses: both lead off site), nor hold a backslash anywhere.
_SAFE_HREF = re.compile(r"^(https?://|mailto:|tel:|/(?![/\\]))")


def safe_href(url: str) -> bool:
    """Whether a link may keep ``url`` (already unescaped) as its target."""
    return bool(_SAFE_HREF.match(url)) and "\\" not in url


def safe_markdown(markdown: str) -> str:
    """Markdown a web page can take as is: raw HTML escaped, unsafe link targets dropped."""
    escaped = html.escape(markdown, quote=False)
    return re.sub(
        r"\[([^\]]+)\]\(([^)\s]+)\)",
        lambda m: m.group(0) if safe_href(html.unescape(m.group(2))) else m.group(1),
        escaped,
    )


def inline(text: str) -> str:
    """One line of inline Markdown as HTML (a link's target is never read as emphasis)."""
    out = html.escape(text, quote=True)
    parts, last = [], 0
    for match in LINK.finditer(out):
        label, url = _emphasis(match.group(1)), match.group(2)
        parts.append(_emphasis(out[last : match.start()]))
        parts.append(
            f'<a href="{url}" rel="noopener">{label}</a>'
            if safe_href(html.unescape(url))
            else label
        )
        last = match.end()
    parts.append(_emphasis(out[last:]))
    return "".join(parts)


def _emphasis(text: str) -> str:
    text = CODE.sub(r"<code>\1</code>", text)
    text = BOLD.sub(r"<strong>\1</strong>", text)
    return ITALIC.sub(r"<em>\1</em>", text)


def _block(block: Block) -> str:
    def line(text: str) -> str:
        return html.escape(text) if block.literal else inline(text)

    if block.kind == "heading":
        return f"<h{block.level}>{line(block.lines[0])}</h{block.level}>"
    if block.kind == "paragraph":
        return "<p>" + "<br>".join(line(x) for x in block.lines) + "</p>"
    tag = "ol" if block.kind == "numbered" else "ul"
    return f"<{tag}>" + "".join(f"<li>{line(x)}</li>" for x in block.lines) + f"</{tag}>"


def to_html(value: str | list[str], field_type: str = "markdown") -> str:
    """A field value as HTML (see the module docstring for what is kept)."""
    return "\n".join(_block(b) for b in blocks(value, field_type))


def highlight(snippet: str, spans: list[tuple[int, int]]) -> str:
    """The snippet as HTML: everything escaped, the matched spans wrapped in <mark>."""
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out += [
            html.escape(snippet[last:start]),
            "<mark>",
            html.escape(snippet[start:end]),
            "</mark>",
        ]
        last = end
    out.append(html.escape(snippet[last:]))
    return "".join(out)
