"""Whatever a table holds, no presenter emits what its channel forbids (Hypothesis)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from presenters import Entry, Field, PresentOptions, present
from presenters.plain import utf16_units
from presenters.voice import KEEP_PUNCT

PIECES = [
    "**粗体**",
    "*斜*",
    "`代码`",
    "# 标题\n",
    "- 项\n",
    "1. 步\n",
    "[官网](https://www.example.cn/a?b=1&c=2)",
    "[站内](/faq/tables/X-1)",
    "[坏](javascript:alert(1))",
    "[协议相对](//evil.example/x)",
    "<script>alert(1)</script>",
    "<b>",
    "[拼]<i>(https://x.cn)",
    "</i>",
    "<img src=x onerror=alert(1)>",
    "| 列一 | 列二 |\n|---|---|\n",
    "https://example.cn/p",
    "www.example.cn",
    "a@b.cn",
    "95588",
    "400-820-8820",
    "0.5%",
    "¥200",
    "9:00-18:00",
    "2026-01-05",
    "😀",
    "\n\n",
]
URL_SCHEME = re.compile(r"(\S*)://")


def _web_addresses_only(text: str) -> bool:
    return all(s.lower().endswith(("http", "https")) for s in URL_SCHEME.findall(text))


# Answers whose only addresses are web ones: what the author typed ("abc://" included) is
# theirs to send; the property is that the presenter makes no other address of a link.
TEXT = (
    st.lists(
        st.one_of(
            st.sampled_from(PIECES),
            st.text(
                alphabet=st.sampled_from(
                    list(
                        "改号计费已停止，。！？；：、 abcXYZ0123456789*#[]()<>/|-_~%&=+:.,;!?`\"'\n"
                    )
                ),
                max_size=12,
            ),
        ),
        max_size=25,
    )
    .map("".join)
    .filter(_web_addresses_only)
)
FIELD_TYPES = st.sampled_from(["markdown", "text"])

TAG = re.compile(r"</?[A-Za-z!][^<>]*>")
MD_LINK = re.compile(r"\[[^\]]+\]\([^)\s]+\)")


def entry(text: str, field_type: str, *, steps: list[str] | None = None) -> Entry:
    fields = [Field("answer", "标准答复", field_type, text)]
    if steps is not None:
        fields.append(Field("steps", "操作步骤", "steps", steps))
    return Entry("P-1", "标题", ("大类", "知识包"), tuple(fields), public=True)


def no_markup(text: str) -> None:
    assert not TAG.search(text), text
    assert "**" not in text and "`" not in text, text
    assert not MD_LINK.search(text), text
    assert not re.search(r"(?m)^\s*#", text), text


def only_web_addresses(text: str) -> None:
    """Every address a handset would try to open is an absolute http(s) one."""
    for scheme in URL_SCHEME.findall(text):
        assert scheme.lower().endswith(("http", "https")), text


@settings(max_examples=150, deadline=None)
@given(TEXT, FIELD_TYPES, st.integers(min_value=0, max_value=4))
def test_sms_is_plain_segmented_and_within_its_limit(
    text: str, field_type: str, max_segments: int
) -> None:
    options = PresentOptions(sms_max_segments=max_segments, public_url="https://kb.example.cn")
    rendering = present(entry(text, field_type), "sms", options)
    no_markup(rendering.text)
    only_web_addresses(rendering.text)
    assert "".join(rendering.parts) == rendering.text
    assert all(1 <= utf16_units(p) <= 70 for p in rendering.parts)
    if max_segments:
        assert len(rendering.parts) <= max_segments


@settings(max_examples=150, deadline=None)
@given(TEXT, FIELD_TYPES, st.integers(min_value=200, max_value=600))
def test_wechat_is_plain_and_within_its_bytes(text: str, field_type: str, limit: int) -> None:
    rendering = present(entry(text, field_type), "wechat", PresentOptions(wechat_max_bytes=limit))
    no_markup(rendering.text)
    only_web_addresses(rendering.text)
    assert len(rendering.text.encode("utf-8")) <= limit


def _speakable_char(text: str, i: int) -> bool:
    ch = text[i]
    if ch == ".":
        return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
    return ch == " " or ch in KEEP_PUNCT or ch.isalnum()


@settings(max_examples=150, deadline=None)
@given(TEXT, FIELD_TYPES, st.lists(TEXT, max_size=3))
def test_voice_has_no_symbols_addresses_or_long_digit_strings(
    text: str, field_type: str, steps: list[str]
) -> None:
    spoken = present(entry(text, field_type, steps=steps), "voice").text
    assert all(_speakable_char(spoken, i) for i in range(len(spoken))), spoken
    assert "www" not in spoken.lower() and "http" not in spoken.lower(), spoken
    # Only amounts (with their unit), percentages and decimals stay in digits.
    for run in re.finditer(r"(?<![\d.])(?<!百分之)\d{5,}(?![\d.])", spoken):
        assert re.match(r"\s*[元块万亿人次个天年月日分秒米克件张笔条户]", spoken[run.end() :]), (
            spoken
        )
    assert len(spoken) <= PresentOptions().voice_max_chars


ALLOWED_TAGS = {
    "p",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ol",
    "ul",
    "li",
    "strong",
    "em",
    "code",
    "a",
}


@settings(max_examples=150, deadline=None)
@given(TEXT, FIELD_TYPES)
def test_web_html_has_only_its_own_tags_and_safe_links(text: str, field_type: str) -> None:
    rendering = present(entry(text, field_type), "web")
    html = rendering.html or ""
    for tag in re.findall(r"</?([A-Za-z0-9]+)[^>]*>", html):
        assert tag in ALLOWED_TAGS, html
    for href in re.findall(r'href="([^"]*)"', html):
        assert re.match(r"^(https?://|mailto:|tel:|/(?!/))", href), html
    assert not re.search(r"<[^>]*\son\w+=", html), html
    assert "<" not in rendering.text.replace("&lt;", ""), rendering.text
