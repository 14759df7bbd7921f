"""Simplified ⇄ Traditional: tell a Traditional question, and give the answer in its script.

The knowledge base is written in Simplified Chinese; a customer who writes Traditional (Taiwan,
Hong Kong, Macau) should get the answer in Traditional. OpenCC converts phrases, not just
characters: ``s2twp`` also uses Taiwan's words (软件 → 軟體), ``s2hk`` Hong Kong's forms.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from functools import cache

import opencc


class Script(StrEnum):
    SIMPLIFIED = "simplified"
    TRADITIONAL = "traditional"


TRADITIONAL_VARIANTS = ("s2t", "s2tw", "s2twp", "s2hk")


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def script_of(text: str) -> Script:
    """Traditional when converting ``text`` to Simplified changes any of its characters."""
    text = unicodedata.normalize("NFKC", text)
    simplified = str(_converter("t2s").convert(text))
    return Script.TRADITIONAL if simplified != text else Script.SIMPLIFIED


def to_simplified(text: str) -> str:
    """``text`` in Simplified Chinese (OpenCC ``t2s``; characters other than Han pass as they are)."""
    return str(_converter("t2s").convert(text))


def to_traditional(text: str, variant: str = "s2twp") -> str:
    """``text`` in Traditional Chinese (``variant``: one of :data:`TRADITIONAL_VARIANTS`)."""
    if variant not in TRADITIONAL_VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(TRADITIONAL_VARIANTS)}")
    return str(_converter(variant).convert(text))
