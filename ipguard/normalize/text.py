"""Prose normalization: Unicode NFKC, casefold, word tokens with their spans."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

_WORD = re.compile(r"\w+")
#: Scripts written without spaces between words (Chinese, Japanese, Thai,
#: Lao, Khmer, Myanmar): each character is a word. As `\w+`, a clause was
#: one word, so a paragraph of Chinese made a few words, too few for one
#: window, and any changed character changed its clause.
_UNSPACED = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
_UNSPACED_WORD = re.compile(f"[{_UNSPACED}]|(?:(?![{_UNSPACED}])\\w)+")
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
#: The ASCII characters `\w` matches (in ASCII text, exactly [A-Za-z0-9_]), flagged.
_ASCII_WORD = np.zeros(256, dtype=np.bool_)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _ASCII_WORD[_c] = True


class Tokens:
    """One channel's tokens and character spans as they are collected.

    Kept as chunks of words and of span arrays, not a tuple per token:
    building and transposing a tuple per token cost a tenth of normalizing code.

    With `folded` (the whole text lowercased, as bytes, when it is ASCII),
    words may be left out: each is then the bytes of its span, and the
    channel's stream is made of spans alone (see `TokenStream`), as plain
    prose is. Comments and docstrings of code were found as strings and then
    looked up one by one.
    """

    __slots__ = ("folded", "count", "_words", "_spans")

    def __init__(self, folded: bytes | None = None) -> None:
        self.folded = folded
        self.count = 0
        self._words: list[list[str] | None] = []
        self._spans: list[np.ndarray] = []

    def extend(self, words: list[str] | None, spans: np.ndarray) -> None:
        """Append `words` with their (start, end) character `spans` (shape n x 2).

        `words` is None for words that are their spans of `folded`.
        """
        if len(spans):
            if words is None and self.folded is None:
                raise ValueError("words are needed where there is no folded text")
            self._words.append(words)
            self._spans.append(spans)
            self.count += len(spans)

    @property
    def wordless(self) -> bool:
        """Whether every token is its span of `folded` (no word was given)."""
        return self.folded is not None and all(w is None for w in self._words)

    def words(self) -> list[str]:
        """All words so far, in the order they were added."""
        out: list[str] = []
        for words, spans in zip(self._words, self._spans, strict=True):
            if words is None:
                assert self.folded is not None
                folded = self.folded
                out += [folded[start:end].decode("ascii") for start, end in spans.tolist()]
            else:
                out += words
        return out

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


def word_spans(
    text: str, start: int = 0, end: int | None = None, *, words: bool = True
) -> tuple[list[str] | None, np.ndarray]:
    """Words of `text[start:end]`, normalized, and their (start, end) spans as an array.

    No Python code runs per word: a match object per word made this half of
    indexing prose. ASCII text (most of it) finds its word edges with numpy
    and is searched once; other text sums the lengths of words and gaps.
    Without `words` (for ASCII text only), the words are not made: None.
    """
    segment = text[start:end] if start or end is not None else text
    if segment.isascii():
        tokens = _WORD.findall(segment.lower()) if words else None
        spans, _ = ascii_word_spans(segment)
        spans += start
        return tokens, spans
    if not words:
        raise ValueError("words can be left out of ASCII text only")
    # The per-character rule costs a third more where no such script is.
    pattern = _UNSPACED_WORD if _UNSPACED_CHAR.search(segment) else _WORD
    words = pattern.findall(segment)
    n = len(words)
    spans = np.empty((n, 2), dtype=np.int64)
    if not n:
        return [], spans
    gaps = pattern.split(segment)  # the text around and between the words
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
    # Word flags between two non-word bytes: a flag changes where a word
    # starts and just past its end, so starts and ends alternate. (`np.diff`
    # with `prepend` and `append` cost 20 us a call: a small file's comments.)
    is_word = np.zeros(len(folded) + 2, dtype=np.bool_)
    np.take(_ASCII_WORD, np.frombuffer(folded, dtype=np.uint8), out=is_word[1:-1], mode="clip")
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])
    return edges.reshape(-1, 2), folded


def words_in_ranges(
    text: str, ranges: list[tuple[int, int]], *, words: bool = True
) -> tuple[list[str] | None, np.ndarray]:
    """Words of each `text[start:end]` range, in one pass over all of them.

    The ranges (comments and strings of one file, sorted, disjoint) are
    joined with a space, which no word crosses, and split once: splitting
    each comment alone cost 38 µs of fixed overhead, a tenth of indexing code.
    Without `words` (ASCII text only), only the spans: see `word_spans`.
    """
    if not ranges:
        return ([] if words else None), np.empty((0, 2), dtype=np.int64)
    if len(ranges) == 1:
        return word_spans(text, *ranges[0], words=words)
    bounds = np.array(ranges, dtype=np.int64)
    tokens, spans = word_spans(" ".join([text[s:e] for s, e in ranges]), words=words)
    # Where each range starts in the joined string, and by how much its words move back.
    joined_starts = np.zeros(len(ranges), dtype=np.int64)
    np.cumsum(bounds[:-1, 1] - bounds[:-1, 0] + 1, out=joined_starts[1:])
    which = np.searchsorted(joined_starts, spans[:, 0], side="right") - 1
    spans += (bounds[:, 0] - joined_starts)[which][:, None]
    return tokens, spans
