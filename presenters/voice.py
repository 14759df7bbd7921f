"""Text a speech engine reads well (IVR): sentences only, no symbols, links, tables or markup.

Steps become "第一步，…。第二步，…。"; links keep their words and lose their address; web
addresses and e-mail addresses are left out; dates, times, ranges and percentages are written as
they are said; a run of five or more digits (a hotline, an account number) is read digit by
digit, as numbers are read out on the phone.
"""

from __future__ import annotations

import re
import unicodedata

from kb.markup import blocks, inline_plain
from presenters.base import Entry, OutputChannel, PresentOptions, Rendering
from presenters.plain import scrub, shorten

_DIGITS = "零一二三四五六七八九"
_PHONE_DIGITS = "零幺二三四五六七八九"  # "1" is read 幺 in numbers read digit by digit
_URL = re.compile(r"(https?://|www\.)[^\s\u3000-\u303f\uff00-\uffef]*", re.I)
_DOMAIN = re.compile(
    r"(?<![\w.])[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.(com|cn|net|org|gov|edu|info|io)\b[^\s\u3000-\u303f\uff00-\uffef]*",
    re.I,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_PHONE = re.compile(r"(?<!\d)(?:400|800|0\d{2,3})(?:-\d{3,8}){1,2}(?!\d)")
_TIME = re.compile(r"(?<!\d)(\d{1,2})[:：](\d{2})(?!\d)")
_RANGE = re.compile(r"(\d[点分时日号元天]?)\s*[-~～—–]+\s*(?=\d)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_MONEY = re.compile(r"[¥￥]\s*(\d+(?:\.\d+)?)")
_DOLLARS = re.compile(r"\$\s*(\d+(?:\.\d+)?)")
# Five or more digits not followed by a unit: a hotline or an account number, read one by one.
_LONG_NUMBER = re.compile(
    r"(?<!\d)(?<!\d\.)(?<!百分之)\d{5,}(?!\d|\.\d|\s*[元块万亿人次个天年月日分秒米克件张笔条户])"
)
_PER = re.compile(
    r"/(?=(年|月|日|天|周|次|小时|分钟|秒|条|个|张|笔|人|户|GB|MB|G|M)(?![A-Za-z]))", re.I
)
_SPOKEN = {"+": "加", "&": "和", "=": "等于", "×": "乘", "/": "或"}
_ASCII_PUNCT = {",": "，", ";": "；", "!": "！", "?": "？", ":": "："}
KEEP_PUNCT = "，。！？；：、"
_ENDS = "。！？；"


def ordinal(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十, 105 → 一百零五 (what 第…步 needs)."""
    if n < 10:
        return _DIGITS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        head = "十" if tens == 1 else _DIGITS[tens] + "十"
        return head + (_DIGITS[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    if not rest:
        return _DIGITS[hundreds] + "百"
    return _DIGITS[hundreds] + "百" + ("零" if rest < 10 else "") + ordinal(rest)


def _sentence(text: str) -> str:
    text = text.strip(" ，、：")
    if not text:
        return ""
    return text if text[-1] in _ENDS else text + "。"


def _digit_by_digit(digits: str) -> str:
    return "".join(_PHONE_DIGITS[int(d)] for d in digits if d.isdigit())


def _kept(text: str, i: int) -> bool:
    ch = text[i]
    if ch == "." and 0 < i < len(text) - 1:
        return text[i - 1].isdigit() and text[i + 1].isdigit()
    return ch == " " or ch in KEEP_PUNCT or unicodedata.category(ch)[0] in "LN"


def speakable(text: str) -> str:
    """One line of plain text as it should be spoken (see the module docstring).

    Whatever is left that is not a letter, a digit, a space, Chinese sentence punctuation or a
    decimal point is dropped: a speech engine would read it out as a symbol's name.
    """
    text = _URL.sub("", text)
    text = _EMAIL.sub("", text)
    text = _DOMAIN.sub("", text)
    text = _DATE.sub(lambda m: f"{m[1]}年{int(m[2])}月{int(m[3])}日", text)
    text = _PHONE.sub(lambda m: _digit_by_digit(m[0]), text)
    text = _TIME.sub(lambda m: f"{int(m[1])}点" + (f"{int(m[2])}分" if int(m[2]) else ""), text)
    text = _RANGE.sub(r"\1到", text)
    text = _PERCENT.sub(r"百分之\1", text)
    text = _MONEY.sub(r"\1元", text)
    text = _DOLLARS.sub(r"\1美元", text)
    text = _LONG_NUMBER.sub(lambda m: _digit_by_digit(m[0]), text)
    text = _PER.sub("每", text)
    for symbol, word in {**_ASCII_PUNCT, **_SPOKEN}.items():
        text = text.replace(symbol, word)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", "。", text)
    text = re.sub(r"[（(]\s*[）)]", "", text)  # brackets emptied by a removed address
    text = re.sub(r"[（()）\-—–]+", "，", text)
    text = "".join(ch for i, ch in enumerate(text) if _kept(text, i))
    # A dropped symbol may join digits into a long number ("0000[1"): read digit by digit too.
    text = _LONG_NUMBER.sub(lambda m: _digit_by_digit(m[0]), text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" ?([，。！？；：、]) ?", r"\1", text)
    text = re.sub(r"[，、：]+([。！？；])", r"\1", text)
    text = re.sub(r"([，。！？；：、])[，、]+", r"\1", text)
    text = re.sub(r"。{2,}", "。", text)
    return text.strip(" ，、")


def _link_words(label: str, url: str) -> str:
    return label


def voice(entry: Entry, options: PresentOptions) -> Rendering:
    """The answer as spoken sentences, at most ``voice_max_chars`` (then: "more from an agent")."""
    answer = entry.customer_answer
    sentences: list[str] = []
    if answer is not None:
        for block in blocks(answer.value, answer.type):
            lines = [speakable(scrub(inline_plain(x, _link_words))) for x in block.lines]
            lines = [x for x in lines if x.strip(" ，。、：")]
            if block.kind == "numbered":
                sentences += [_sentence(f"第{ordinal(i)}步，{x}") for i, x in enumerate(lines, 1)]
            else:
                sentences += [_sentence(x) for x in lines]
    text = "".join(s for s in sentences if s)
    truncated = False
    most = options.voice_max_chars
    if most and len(text) > most:
        tail = "内容较长，详细信息请转人工服务。"
        if len(tail) >= most:  # a limit too short for the tail: the answer's start alone
            tail = ""
        # _sentence may end the cut with "。": one character of the budget is kept for it.
        text = _sentence(shorten(text, most - len(tail) - 1, len)) + tail
        truncated = True
    return Rendering(OutputChannel.VOICE, text, (text,), truncated)
