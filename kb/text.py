"""What any text Zhiku takes in must be, whichever way it comes (API, import, CLI).

Text may contain neither NUL (PostgreSQL cannot store it) nor a lone UTF-16 surrogate such as
``"\\ud800"`` (JSON allows the escape; no database or response can encode it). The API applies
:func:`text_problem` to every request (``api.inputs.clean_text``), an import to every value of
its files (``kb.transfer.plan``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import opencc


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored or sent back as text; None when it can."""
    if "\x00" in value:
        return "text must not contain NUL characters (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode: a lone surrogate (such as \\ud800) is not"
    return None


def printable(value: object, limit: int = 100) -> object:
    """``value`` as an error message may echo it: encodable, and not too long."""
    if not isinstance(value, str):
        return value
    text = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text if len(text) <= limit else text[:limit] + "…"


def strings_in(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string of parsed data (a JSON body, a content file's values; dict keys too) with
    its dotted path under ``path``, depth first: a stack, not recursion, however deep it nests."""
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                inner = f"{where}.{key}" if where else str(key)
                stack.append((inner, item))
                stack.append((inner, str(key)))
        elif isinstance(value, list):
            for i in reversed(range(len(value))):
                stack.append((f"{where}.{i}" if where else str(i), value[i]))


@cache
def _t2s() -> opencc.OpenCC:
    import opencc  # loaded with the first text normalized, not with every command

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    """NFKC then Traditional → Simplified, the characters only; case is kept."""
    return str(_t2s().convert(unicodedata.normalize("NFKC", text)))


@cache
def _tw2sp() -> opencc.OpenCC:
    import opencc

    return opencc.OpenCC("tw2sp")


@lru_cache(maxsize=4096)
def encoder_form(text: str) -> str:
    """The form the encoder reads: :func:`to_simplified`, and where ``text`` is written in
    Traditional, Taiwan's words turned into the mainland's as well (OpenCC ``tw2sp``: 軟體 →
    软件, 網路 → 网络, 簡訊 → 短信), which e5 knows far better than the same words in Simplified
    characters (软体). The lexical side keeps the characters only (:func:`normalize`): a KB's
    synonym dictionary carries its word pairs there (docs/benchmarks.md, "Questions in
    Traditional")."""
    simplified = to_simplified(text)
    written = unicodedata.normalize("NFKC", text)
    return simplified if simplified == written else str(_tw2sp().convert(written))


def normalize(text: str) -> str:
    """The canonical form of ``text`` (the analyzer's, a synonym's): NFKC, Simplified,
    case-folded."""
    return to_simplified(text).casefold()


def term_form(term: str) -> str:
    """A dictionary term as the analyzer compares it: normalized, stripped, one space where a
    phrase has any run of whitespace (Apple Pay, "apple  pay" and ＡＰＰＬＥ　ＰＡＹ are one)."""
    return " ".join(normalize(term).split())
