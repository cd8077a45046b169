"""Inline exemptions: `ipguard: allow` in a comment exempts a line, or the block after it.

A pragma at the end of a line of code exempts that line. A pragma on a line of
its own exempts the block that follows: the next non-blank line and every
line after it that is indented deeper, or that is still inside brackets it
opened.
"""

from __future__ import annotations

import re

#: The pragma inside a comment of any common syntax (#, //, /*, --, ;, %, <!--).
PRAGMA = re.compile(r"(?:#|//|/\*|--|;|%|<!--)\s*ipguard:\s*allow\b", re.IGNORECASE)
_OPEN = "([{"
_CLOSE = ")]}"


def exempt_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` that pragmas exempt.

    >>> text = "a = 1  # ipguard: allow\\nb = 2\\n"
    >>> text += "# ipguard: allow\\ndef f():\\n    return 3\\nc = 4\\n"
    >>> [text[s:e] for s, e in exempt_spans(text)]
    ['a = 1  # ipguard: allow', '# ipguard: allow\\ndef f():\\n    return 3']
    """
    if "ipguard" not in text:
        return []
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = PRAGMA.search(line)
        if not match:
            i += 1
            continue
        if line[: match.start()].strip():  # trailing pragma: this line only
            spans.append((starts[i], starts[i] + len(line.rstrip("\r\n"))))
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j == len(lines):
            break
        end = _block_end(lines, j)
        spans.append((starts[i], starts[end] + len(lines[end].rstrip("\r\n"))))
        i = end + 1
    return spans


def _block_end(lines: list[str], first: int) -> int:
    """Index of the last line of the block that starts at line `first`."""
    indent = len(lines[first]) - len(lines[first].lstrip())
    depth = _depth_change(lines[first])
    entered = depth > 0
    last = first
    for k in range(first + 1, len(lines)):
        line = lines[k]
        if not line.strip():
            continue
        deeper = len(line) - len(line.lstrip()) > indent
        # A brace on a line of its own opens the block's body (Allman style).
        opens_body = not entered and line.lstrip()[0] in _OPEN
        if depth <= 0 and not deeper and not opens_body:
            break
        depth += _depth_change(line)
        entered = entered or depth > 0
        last = k
    return last


def _depth_change(line: str) -> int:
    return sum(line.count(c) for c in _OPEN) - sum(line.count(c) for c in _CLOSE)
