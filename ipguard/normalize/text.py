"""Prose normalization: Unicode NFKC, casefold, word tokens with their spans."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

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
    tokens, spans = word_spans(text, start, end)
    return tokens, spans[:, 0].tolist(), spans[:, 1].tolist()


def word_spans(text: str, start: int = 0, end: int | None = None) -> tuple[list[str], np.ndarray]:
    """Words of `text[start:end]`, normalized, and their (start, end) spans as an array.

    Spans come from the lengths of the words and of the gaps between them,
    summed, so no Python code runs per word (a match object per word made
    this half of indexing prose).
    """
    segment = text[start:end] if start or end is not None else text
    words = _WORD.findall(segment)
    n = len(words)
    spans = np.empty((n, 2), dtype=np.int64)
    if not n:
        return [], spans
    gaps = _WORD.split(segment)  # the text around and between the words
    word_len = np.fromiter(map(len, words), dtype=np.int64, count=n)
    gap_len = np.fromiter(map(len, gaps), dtype=np.int64, count=n + 1)[:n]
    starts = spans[:, 0]
    np.cumsum(gap_len, out=starts)
    starts += start
    starts[1:] += np.cumsum(word_len)[:-1]
    spans[:, 1] = starts + word_len
    if segment.isascii():
        tokens = _WORD.findall(segment.lower())
    else:
        tokens = list(map(normalize_word, words))
    return tokens, spans
