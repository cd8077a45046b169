"""Prose normalization: Unicode NFKC, casefold, word tokens with their spans."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")


def normalize_word(word: str) -> str:
    """One word as it is compared: NFKC-normalized and casefolded."""
    if word.isascii():
        return word.lower()
    return unicodedata.normalize("NFKC", word).casefold()


def word_tokens(
    text: str, start: int = 0, end: int | None = None
) -> tuple[list[str], list[int], list[int]]:
    """Words of `text[start:end]`, normalized, with absolute character spans.

    >>> word_tokens("Hello, WORLD!")
    (['hello', 'world'], [0, 7], [5, 12])
    """
    tokens: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _WORD.finditer(text, start, len(text) if end is None else end):
        tokens.append(normalize_word(m.group()))
        starts.append(m.start())
        ends.append(m.end())
    return tokens, starts, ends
