"""Language-agnostic code tokenizer: the fallback for unknown languages and parse failures.

Without a grammar nothing is known about which names are bound, so identifiers
stay as written; numbers and strings are abstracted and layout is dropped, as in
the tree-sitter normalizer.
"""

from __future__ import annotations

import re

from .text import word_tokens

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
    code: list[tuple[str, int, int]],
    prose: list[tuple[str, int, int]],
) -> None:
    """Append code tokens and prose words of `text[start:end]` to `code` and `prose`."""
    for m in _LEXEME.finditer(text, start, end):
        kind = m.lastgroup
        s, e = m.span()
        if kind == "comment":
            _add_prose(text, s, e, prose)
        elif kind == "string":
            code.append(("$s", s, e))
            if e - s - 2 >= LONG_STRING:
                _add_prose(text, s + 1, e - 1, prose)
        elif kind == "number":
            code.append(("$n", s, e))
        elif kind == "name" or m.group() not in DROPPED:
            code.append((m.group(), s, e))


def _add_prose(text: str, start: int, end: int, prose: list[tuple[str, int, int]]) -> None:
    words, starts, ends = word_tokens(text, start, end)
    prose.extend(zip(words, starts, ends, strict=False))
