"""Helpers shared by the benchmarks."""

from __future__ import annotations

from pathlib import Path

from ipguard import Guard
from ipguard.errors import IndexConfigMismatchError, IndexCorruptError, IndexNotFoundError
from ipguard.stores import delete_index_files


def discard_stale_index(path: Path) -> None:
    """Delete a cached benchmark index that this ipguard cannot open (older format)."""
    try:
        Guard.open(str(path)).close()
    except (IndexConfigMismatchError, IndexCorruptError, IndexNotFoundError):
        delete_index_files(str(path))
