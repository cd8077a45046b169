"""Code listings copied with their line numbers (from a book, a PDF, an editor's gutter).

A number opening every line puts a token between every line's tokens, so a
numbered copy of protected code shared no shingle with it. The numbers are
blanked, not cut, so that every offset still maps back into the input.
"""

from __future__ import annotations

import re

#: A line's gutter: its number, a separator (`12:`, `12.`, `12)`, `12 |`),
#: then a space or the end of the line. A `)` after a space is the code's.
_GUTTER = re.compile(r"[ \t]*(\d{1,6})(?:[|:.)\]]|[ \t]+\|)?(?=[ \t]|$)")
#: Numbered lines a listing has at least.
MIN_LINES = 3
#: Share of its non-blank lines a listing numbers, one more than the last.
MIN_SHARE = 0.9


def without_line_numbers(text: str) -> str | None:
    """`text` with its line numbers blanked, if it is a numbered listing; else None.

    A listing numbers nearly all its non-blank lines in sequence (1, 2, 3 or
    from any start, blank lines numbered or not).
    """
    first = text.lstrip()
    if not first[:1].isdigit():
        return None  # cheap way out: almost every input
    lines = text.split("\n")
    gutters: list[tuple[int, int, int]] = []  # (line, gutter end, number)
    filled = 0
    for no, line in enumerate(lines):
        if not line.strip():
            continue
        filled += 1
        m = _GUTTER.match(line)
        if m:
            gutters.append((no, m.end(), int(m.group(1))))
    if len(gutters) < MIN_LINES:
        return None
    in_turn = sum(1 for a, b in zip(gutters, gutters[1:], strict=False) if b[2] == a[2] + 1)
    if in_turn + 1 < MIN_SHARE * filled:
        return None
    for no, end, _ in gutters:
        lines[no] = " " * end + lines[no][end:]
    return "\n".join(lines)
