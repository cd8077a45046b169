"""Language-agnostic code tokenizer: the fallback for unknown languages and parse failures.

Without a grammar nothing is known about which names are bound, so identifiers
stay as written; numbers and strings are abstracted and layout is dropped, as in
the tree-sitter normalizer.
"""

from __future__ import annotations

import re

import numpy as np

from .text import Tokens, words_in_ranges

_LEXEME = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z)|(?:(?<=\s)|^)\#(?=\s)[^\n]*)
      |(?P<string>"(?:[^"\\\n]|\\.){0,4000}"|'(?:[^'\\\n]|\\.){0,4000}'|`[^`]{0,4000}`)
      |(?P<number>\d[\w.]*)
      |(?P<name>[^\W\d]\w*)
      |(?P<punct>[^\w\s])""",
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)
#: Strings at least this long are prose (messages, documentation) as well as code.
LONG_STRING = 40
DROPPED = frozenset({",", ";"})


def lexical_tokens(
    text: str,
    start: int,
    end: int,
    code: Tokens,
    prose: Tokens,
) -> None:
    """Append code tokens and prose words of `text[start:end]` to `code` and `prose`."""
    ranges: list[tuple[int, int]] = []
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in _LEXEME.finditer(text, start, end):
        kind = m.lastgroup
        s, e = m.span()
        if kind == "comment":
            ranges.append((s, e))
        elif kind == "string":
            words.append("$s")
            spans.append((s, e))
            if e - s - 2 >= LONG_STRING:
                ranges.append((s + 1, e - 1))
        elif kind == "number":
            words.append("$n")
            spans.append((s, e))
        elif kind == "name" or m.group() not in DROPPED:
            words.append(m.group())
            spans.append((s, e))
    code.extend(words, np.array(spans, dtype=np.int64).reshape(-1, 2))
    prose.extend(*words_in_ranges(text, ranges, words=prose.folded is None))
