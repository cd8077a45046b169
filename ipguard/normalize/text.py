"""Prose normalization: Unicode NFKC, casefold, word tokens with their spans."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

_WORD = re.compile(r"\w+")
#: The ASCII characters `\w` matches (in ASCII text, exactly [A-Za-z0-9_]), as int8 flags.
_ASCII_WORD = np.zeros(256, dtype=np.int8)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _ASCII_WORD[_c] = 1


class Tokens:
    """One channel's tokens and character spans as they are collected.

    Kept as a list of words and chunks of span arrays, not a tuple per token:
    building and transposing a tuple per token cost a tenth of normalizing code.
    """

    __slots__ = ("words", "_spans")

    def __init__(self) -> None:
        self.words: list[str] = []
        self._spans: list[np.ndarray] = []

    def extend(self, words: list[str], spans: np.ndarray) -> None:
        """Append `words` with their (start, end) character `spans` (shape n x 2)."""
        if words:
            self.words += words
            self._spans.append(spans)

    def spans(self) -> np.ndarray:
        """All spans so far, in the order they were added."""
        if not self._spans:
            return np.empty((0, 2), dtype=np.int64)
        if len(self._spans) == 1:
            return self._spans[0]
        return np.concatenate(self._spans)


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

    No Python code runs per word: a match object per word made this half of
    indexing prose. ASCII text (most of it) finds its word edges with numpy
    and is searched once; other text sums the lengths of words and gaps.
    """
    segment = text[start:end] if start or end is not None else text
    if segment.isascii():
        tokens = _WORD.findall(segment.lower())
        spans, _ = ascii_word_spans(segment)
        spans += start
        return tokens, spans
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
    return list(map(normalize_word, words)), spans


def ascii_word_spans(text: str) -> tuple[np.ndarray, bytes]:
    """The (start, end) of each word of ASCII text, and the text lowercased as bytes.

    The words are the spans of those bytes; no string is made of them.
    """
    folded = text.lower().encode("ascii")
    is_word = _ASCII_WORD[np.frombuffer(folded, dtype=np.uint8)]
    # +1 where a word starts, -1 just past its end: starts and ends alternate.
    edges = np.flatnonzero(np.diff(is_word, prepend=np.int8(0), append=np.int8(0)))
    return edges.reshape(-1, 2), folded


def words_in_ranges(text: str, ranges: list[tuple[int, int]]) -> tuple[list[str], np.ndarray]:
    """Words of each `text[start:end]` range, in one pass over all of them.

    The ranges (comments and strings of one file, sorted, disjoint) are
    joined with a space, which no word crosses, and split once: splitting
    each comment alone cost 38 µs of fixed overhead, a tenth of indexing code.
    """
    if not ranges:
        return [], np.empty((0, 2), dtype=np.int64)
    if len(ranges) == 1:
        return word_spans(text, *ranges[0])
    bounds = np.array(ranges, dtype=np.int64)
    tokens, spans = word_spans(" ".join([text[s:e] for s, e in ranges]))
    # Where each range starts in the joined string, and by how much its words move back.
    joined_starts = np.zeros(len(ranges), dtype=np.int64)
    np.cumsum(bounds[:-1, 1] - bounds[:-1, 0] + 1, out=joined_starts[1:])
    which = np.searchsorted(joined_starts, spans[:, 0], side="right") - 1
    spans += (bounds[:, 0] - joined_starts)[which][:, None]
    return tokens, spans
