"""Helpers shared by the benchmarks."""

from __future__ import annotations

from pathlib import Path

from ipguard import Guard
from ipguard.errors import IndexConfigMismatchError, IndexCorruptError, IndexNotFoundError


def discard_stale_index(path: Path) -> None:
    """Delete a cached benchmark index that this ipguard cannot open (older format)."""
    try:
        Guard.open(str(path)).close()
    except (IndexConfigMismatchError, IndexCorruptError, IndexNotFoundError):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
