"""Reports for people and tools: SARIF 2.1.0 for code scanning, one HTML page for review."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..model import Verdict


@dataclass(frozen=True)
class CheckedFile:
    """One checked input with its text, for reports that cite lines."""

    path: str
    text: str
    verdict: Verdict


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def source_lines(source: str, first: int, last: int) -> list[str] | None:
    """Lines first..last of a protected source file, when it is still on disk."""
    if not os.path.isfile(source):
        return None
    try:
        with open(source, encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()[first - 1 : last]
    except OSError:
        return None
