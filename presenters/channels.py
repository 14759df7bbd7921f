"""The presenters of the agent view, the web, SMS and WeChat (voice: :mod:`presenters.voice`).

Customer channels carry the standard answer (标准答复) only, never an internal field; the agent
view carries the whole entry.
"""

from __future__ import annotations

from kb.markup import as_markdown, plain_text
from presenters.base import Entry, OutputChannel, PresentOptions, Rendering
from presenters.html import safe_markdown, to_html
from presenters.plain import (
    field_lines,
    handset_link,
    shorten,
    split_units,
    utf8_bytes,
    utf16_units,
)


def agent(entry: Entry, options: PresentOptions) -> Rendering:
    """The whole entry as plain text: title and code, path, every field under its label."""
    lines = [f"{entry.title}（{entry.code}）", " › ".join(entry.path)]
    for f in entry.fields:
        text = plain_text(f.value, f.type)
        if not text:
            continue
        lines.append(f"【{f.label}{'·内部' if f.internal else ''}】")
        lines.append(text)
    text = "\n".join(lines)
    return Rendering(OutputChannel.AGENT, text, (text,))


def web(entry: Entry, options: PresentOptions) -> Rendering:
    """The answer as sanitized Markdown (``text``) and HTML."""
    answer = entry.customer_answer
    if answer is None:
        return Rendering(OutputChannel.WEB, "", ("",), html="")
    markdown = safe_markdown(as_markdown(answer.value, answer.type))
    return Rendering(
        OutputChannel.WEB, markdown, (markdown,), html=to_html(answer.value, answer.type)
    )


def _answer_text(entry: Entry, options: PresentOptions) -> str:
    answer = entry.customer_answer
    if answer is None:
        return ""
    return field_lines(answer, lambda label, url: handset_link(label, url, options.public_url))


def sms(entry: Entry, options: PresentOptions) -> Rendering:
    """Plain text in segments of ``sms_segment_chars``; over ``sms_max_segments`` it is cut at a
    sentence and ends with a pointer to the full answer (its FAQ page, or the table's code)."""
    text = _answer_text(entry, options)
    size, most = options.sms_segment_chars, options.sms_max_segments
    truncated = False
    if most and len(split_units(text, size)) > most:
        # Counted in segments, not units: a character outside the BMP (two units) never
        # splits, so a segment may end a unit short and the whole need one more.
        url = options.full_answer_url(entry)
        pointer = f"…全文：{url}" if url else f"…详情请咨询客服（编号{entry.code}）"
        if utf16_units(pointer) >= size * most:
            pointer = "…"
        budget = size * most - utf16_units(pointer)
        while True:
            cut = shorten(text, budget, utf16_units) + pointer
            if len(split_units(cut, size)) <= most or budget <= 0:
                break
            budget -= 1
        text, truncated = cut, True
    return Rendering(OutputChannel.SMS, text, tuple(split_units(text, size)), truncated)


def wechat(entry: Entry, options: PresentOptions) -> Rendering:
    """Plain text (a WeChat text message shows no HTML) within ``wechat_max_bytes`` of UTF-8."""
    text = _answer_text(entry, options)
    truncated = False
    if utf8_bytes(text) > options.wechat_max_bytes:
        url = options.full_answer_url(entry)
        pointer = (
            f"…\n查看完整答复：{url}" if url else f"…\n完整答复请咨询人工客服（编号{entry.code}）"
        )
        text = shorten(text, options.wechat_max_bytes - utf8_bytes(pointer), utf8_bytes) + pointer
        truncated = True
    return Rendering(OutputChannel.WECHAT, text, (text,), truncated)
