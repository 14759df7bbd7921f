"""Text analysis shared by indexing and querying.

Pipeline: NFKC (full-width → half-width) → Traditional → Simplified (OpenCC ``t2s``) → case
folding. Then lexical tokens, each prefixed by its channel so one BM25 index holds them all:

- ``w:`` words: jieba search mode with a user dictionary (the KB's domain terms, synonym terms,
  tags and short titles), stopwords dropped, synonyms replaced by their group's first term;
  ASCII runs such as ``5g``, ``paypal``, ``etc``, ``10000`` stay whole words. Han and ASCII
  runs are analyzed apart, so a term of both (U盾, 5G网络, 银行App: *mixed*), and a synonym
  phrase with a space (Apple Pay), is also looked for whole in the normalized text, and each
  one found adds its word (its group's first term) after the words of its parts, as search
  mode puts a word after its parts.
- ``c:`` single Han characters and ``b:`` Han character bigrams: short colloquial questions and
  typos share characters where the word segmentation differs.
- ``p:`` pinyin syllables and syllable bigrams (titles and questions only): customer typing and
  speech-to-text swap homophones (微利贷 / 微粒贷, 借贝 / 借呗).

The analyzer hash covers what decides the tokens of a text apart from the KB's own titles and
tags: the analyzer version, stopwords, synonyms and domain terms. A changed hash means the
lexical index must be rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import jieba
from pypinyin import Style, lazy_pinyin
from sqlalchemy.orm import Session

from kb import repository
from kb.text import normalize, term_form

# 2: Latin words map through the synonym groups too; 3: so do mixed terms (U盾, 银行App);
# 4: and phrases with a space (Apple Pay)
ANALYZER_VERSION = 4
CHANNELS = ("w", "c", "b", "p")
STOPWORDS_FILE = Path(__file__).with_name("stopwords.txt")
# A title this short is usually a product or service name worth keeping whole.
SHORT_TITLE_CHARS = 6

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+(?:[.\-_][a-z0-9]+)*")
_SEGMENT = re.compile(f"[{_HAN}]+|[a-z0-9]+(?:[.\\-_][a-z0-9]+)*")
# A mixed term's Latin end is a Latin word's end as _ASCII_WORD reads it: 5g网络 is not in
# 15g网络 nor in v-5g网络, 银行app not in 银行apple.
_LATIN_START = r"(?:(?<![a-z0-9])(?<![a-z0-9][.\-_])|(?![a-z0-9]))"
_LATIN_END = r"(?:(?<![a-z0-9])|(?![a-z0-9])(?![.\-_][a-z0-9]))"
# Longer terms are not looked for whole: the pattern nests a group per term ending on a path.
MIXED_MAX_CHARS = 100

_Trie = dict[str, "_Trie"]


@cache
def stopwords() -> frozenset[str]:
    text = _stopwords_text()
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@cache
def _stopwords_text() -> str:
    return STOPWORDS_FILE.read_text(encoding="utf-8")


def normalize_char(ch: str) -> str:
    """One character's canonical form, always one character (for highlighting, where offsets
    must stay put): the first of normalized, case-folded and lower-cased that is one character
    long ("ß" folds to "ss", "ﬁ" and "İ" to two), else the character itself."""
    for out in (normalize(ch), ch.casefold(), ch.lower()):
        if len(out) == 1:
            return out
    return ch


@dataclass(frozen=True)
class Dictionary:
    """The KB's synonym groups and domain terms, as the analyzer uses them."""

    synonyms: tuple[tuple[str, ...], ...] = ()
    terms: tuple[str, ...] = ()

    @classmethod
    def from_session(cls, session: Session) -> Dictionary:
        return cls(
            synonyms=tuple(tuple(g) for g in repository.synonym_groups(session)),
            terms=tuple(repository.domain_terms(session)),
        )

    @property
    def hash(self) -> str:
        """Hash of everything besides titles and tags that decides a text's tokens."""
        payload = json.dumps(
            {
                "version": ANALYZER_VERSION,
                "stopwords": _stopwords_text(),
                "synonyms": [list(g) for g in self.synonyms],
                "terms": list(self.terms),
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@cache
def _base_tokenizer() -> jieba.Tokenizer:
    logging.getLogger("jieba").setLevel(logging.WARNING)
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def _private_tokenizer() -> jieba.Tokenizer:
    """A tokenizer of our own (the global one is shared with other code), copied not reloaded."""
    base = _base_tokenizer()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = dict(base.FREQ)
    tokenizer.total = base.total
    tokenizer.initialized = True
    return tokenizer


def analyzer_hash(dictionary: Dictionary, channels: Iterable[str] = CHANNELS) -> str:
    """The :attr:`Analyzer.hash` of an analyzer of ``dictionary`` and ``channels``, without
    making one (that copies jieba's word list: ~35 ms, on every index update)."""
    kept = tuple(c for c in CHANNELS if c in set(channels))
    if kept == CHANNELS:
        return dictionary.hash
    return f"{dictionary.hash}-{''.join(kept)}"


class Analyzer:
    """Turns text into normalized words and channel-prefixed lexical tokens."""

    def __init__(
        self,
        dictionary: Dictionary | None = None,
        words: Iterable[str] = (),
        *,
        channels: Iterable[str] = CHANNELS,
    ) -> None:
        self.dictionary = dictionary or Dictionary()
        self.channels = tuple(c for c in CHANNELS if c in set(channels))
        self._tokenizer = _private_tokenizer()
        self._stop = stopwords()
        self._known: set[str] = set()
        self._cache: dict[str, tuple[str, ...]] = {}
        # Words of one Han run: titles and answers share runs ("北京个人客户", a product name).
        self._runs: dict[str, tuple[str, ...]] = {}
        self._canonical: dict[str, str] = {}
        for group in self.dictionary.synonyms:
            terms = [term_form(t) for t in group]
            for term in terms:
                self._canonical[term] = terms[0]
        # Words the script split cuts apart (see _add_mixed), and the pattern finding them.
        self._mixed: set[str] = set()
        self._mixed_pattern: re.Pattern[str] | None = None
        dictionary_words = [
            *self._canonical,
            *(term_form(t) for t in self.dictionary.terms),
        ]
        # Phrases (Apple Pay, 手机 银行) are the dictionary's only: jieba keeps no word with a
        # space, and a short title with one is a question whose words are already there.
        for word in dictionary_words:
            if " " in word:
                self._add_mixed(word)
        self.add_words(dictionary_words)
        self.add_words(words)

    @property
    def hash(self) -> str:
        return analyzer_hash(self.dictionary, self.channels)

    def add_words(self, words: Iterable[str]) -> None:
        """Teach the tokenizer words to keep whole (domain terms, tags, short titles)."""
        for raw in words:
            word = normalize(raw).strip()
            if len(word) < 2 or word in self._known or not _HAN_RUN.search(word):
                continue
            if any(ch.isspace() for ch in word):
                continue
            self._known.add(word)
            # freq=None lets jieba pick a frequency high enough to keep the word in one piece.
            self._tokenizer.add_word(word)
            self._add_mixed(word)
        if self._mixed and self._mixed_pattern is None:
            # Made here, under an index update, rather than by the next query.
            self._mixed_pattern = _terms_pattern(self._mixed)
        self._cache.clear()
        self._runs.clear()

    def _add_mixed(self, word: str) -> None:
        """Look for ``word`` (normalized) whole if it is Han and Latin runs side by side (U盾,
        5g网络, wi-fi密码), which the script split cuts apart before any lookup, or runs with
        one space between them (apple pay: a dictionary phrase, see ``__init__``)."""
        if word in self._mixed or len(word) > MIXED_MAX_CHARS:
            return
        runs = _SEGMENT.findall(word)
        # Not terms with other characters between the runs ("花呗,怎么还": short titles are
        # taught as words, often questions): only script or a space cuts a mixed term.
        if len(runs) < 2 or sum(map(len, runs)) + word.count(" ") != len(word):
            return
        self._mixed.add(word)
        self._mixed_pattern = None

    def _mixed_words(self, norm: str) -> list[str]:
        """The mixed terms in ``norm``, left to right, longest first, as their groups' words."""
        if self._mixed_pattern is None:
            return []
        found = (" ".join(m.group().split()) for m in self._mixed_pattern.finditer(norm))
        return [self._canonical.get(word, word) for word in found]

    def vocabulary_words(self, titles: Iterable[str], tags: Iterable[str]) -> list[str]:
        """The user-dictionary words a KB contributes: its tags and its short titles."""
        short = [t for t in titles if len(normalize(t)) <= SHORT_TITLE_CHARS]
        return [*tags, *short]

    def words(self, text: str) -> list[str]:
        """Normalized words without stopwords, synonyms mapped to their group's first term."""
        return list(self._words_cache(normalize(text)))

    def segments(self, text: str) -> list[str]:
        """``text`` normalized and cut into words that do not overlap, in order, without
        stopwords, synonyms mapped like :meth:`words`' (which also gives the shorter words
        inside a long one: right for matching, wrong for rewriting a text)."""
        return [
            self._canonical.get(word, word)
            for word in self._tokenizer.cut(normalize(text), HMM=True)
            if word.strip() and word not in self._stop
        ]

    def _words_cache(self, norm: str) -> tuple[str, ...]:
        found = self._cache.get(norm)
        if found is not None:
            return found
        out: list[str] = []
        for match in _SEGMENT.finditer(norm):
            piece = match.group()
            if _ASCII_WORD.fullmatch(piece):
                out.append(self._canonical.get(piece, piece))  # Wi-Fi, WiFi, 无线网: one word
            else:
                out.extend(self._run_words(piece))
        out.extend(self._mixed_words(norm))
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[norm] = words = tuple(out)
        return words

    def _run_words(self, run: str) -> tuple[str, ...]:
        found = self._runs.get(run)
        if found is None:
            found = tuple(
                self._canonical.get(word, word)
                for word in self._tokenizer.cut_for_search(run, HMM=True)
                if word not in self._stop
            )
            if len(self._runs) > 16384:
                self._runs.clear()
            self._runs[run] = found
        return found

    def tokens(self, text: str, *, phonetic: bool = True) -> list[str]:
        """Every lexical token of ``text`` with its channel prefix (see the module docstring)."""
        norm = normalize(text)
        wanted = self.channels
        out = [f"w:{w}" for w in self._words_cache(norm)] if "w" in wanted else []
        for run in _HAN_RUN.findall(norm):
            if "c" in wanted:
                out.extend(f"c:{ch}" for ch in run)
            if "b" in wanted:
                out.extend(f"b:{run[i : i + 2]}" for i in range(len(run) - 1))
            if phonetic and "p" in wanted:
                syllables = _pinyin(run)
                out.extend(f"p:{s}" for s in syllables)
                out.extend(f"p:{a}_{b}" for a, b in zip(syllables, syllables[1:], strict=False))
        return out

    def highlight_terms(self, text: str) -> list[str]:
        """Query terms worth marking in a snippet: words (and synonyms' forms), longest first."""
        terms: set[str] = set()
        for word in self.words(text):
            terms.add(word)
            for term, canon in self._canonical.items():
                if canon == word:
                    terms.add(term)
        return sorted((t for t in terms if len(t) >= 2 or not _HAN_RUN.fullmatch(t)), key=len)[::-1]


def _terms_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """A pattern finding any of ``terms`` (the longest where several start at one place) with
    Latin word ends, shaped as their trie: one pass over a text, each place tried against the
    terms' first characters at once (an alternation of the terms would try them one by one)."""
    trie: _Trie = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}
    first = "".join(re.escape(ch) for ch in sorted(trie))
    # The lookahead comes first: places no term starts at are skipped without the guards.
    return re.compile(f"(?=[{first}]){_LATIN_START}(?:{_trie_pattern(trie)}){_LATIN_END}")


def _trie_pattern(node: _Trie) -> str:
    branches = [_char(ch) + _trie_pattern(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    # Greedy: a longer term first (ii类账户 before i类账户), this one if what follows fails.
    return f"(?:{body})?" if "" in node else body


def _char(ch: str) -> str:
    """One character of a term in its pattern: a phrase's space matches any run of them."""
    return r"\s+" if ch == " " else re.escape(ch)


@lru_cache(maxsize=8192)
def _pinyin(run: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(run, style=Style.NORMAL, errors="ignore"))
