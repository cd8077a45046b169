"""LSH postings in immutable, memory-mapped segment files.

A segment holds (band key, window id) pairs sorted by key. Every `BLOCK`-th
key is copied into a fence that a reader keeps in memory, so looking up an
output's keys is a vectorised binary search over the fence and then over one
block of the mapped file per key: a page touch per key instead of a B-tree
descent per key. With 21 M pairs (1 M windows) 900 keys took 0.46 ms p50,
where the SQLite table they replace took 3.5-7 ms (bench/speed.py, W3).

Pages a lookup touched are handed back to the kernel after it
(`MADV_DONTNEED`), so a checking process's RSS does not grow with the index:
a mapped B-tree without that reached 316 MB after 1,000 checks at 1 M windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import struct
from collections.abc import Sequence

import numpy as np

MAGIC = b"IPGSEG01"
#: Pairs per fence entry. 128 keeps the fence at 1/128 of the keys (1.3 MB of
#: RAM per million windows) and the search inside a block at 8 steps.
BLOCK = 128
_HEADER = struct.Struct("<8sQQQ")  # magic, entries, block, fence entries
_EMPTY = np.zeros(0, dtype=np.int64)


class SegmentError(Exception):
    """A segment file is missing, truncated or not a segment."""


def _layout(entries: int, fence: int) -> tuple[int, int, int]:
    """Byte offsets of the fence, the keys and the window ids; then the file size."""
    keys_at = _HEADER.size + 8 * fence
    wins_at = keys_at + 8 * entries
    return keys_at, wins_at, wins_at + 8 * entries


def write_segment(path: str, keys: np.ndarray, wins: np.ndarray) -> str:
    """Write pairs (sorted here) to a new file, flushed to disk; its digest."""
    keys = np.ascontiguousarray(keys, dtype="<i8")
    wins = np.ascontiguousarray(wins, dtype="<i8")
    # Stable timsort: merged segments arrive as a few sorted runs (O(n log runs)).
    order = np.argsort(keys, kind="stable")
    keys, wins = keys[order], wins[order]
    fence = np.ascontiguousarray(keys[::BLOCK])
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "xb") as out:
        for part in (
            _HEADER.pack(MAGIC, len(keys), BLOCK, len(fence)),
            fence.tobytes(),
            keys.tobytes(),
            wins.tobytes(),
        ):
            digest.update(part)
            out.write(part)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def file_digest(path: str) -> str:
    """The digest `write_segment` returned for this file, recomputed."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Segment:
    """One mapped segment file, read-only."""

    def __init__(self, path: str, entries: int) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                head = f.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    raise SegmentError(f"{path} is truncated")
                magic, count, block, fence_len = _HEADER.unpack(head)
                keys_at, wins_at, size = _layout(count, fence_len)
                if magic != MAGIC or block != BLOCK or count != entries:
                    raise SegmentError(f"{path} is not the segment the index lists")
                if os.fstat(f.fileno()).st_size != size or count == 0:
                    raise SegmentError(f"{path} is truncated")
                self.fence = np.frombuffer(f.read(8 * fence_len), dtype="<i8").astype(np.int64)
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError as exc:
            raise SegmentError(f"{path} is missing") from exc
        except (OSError, ValueError, struct.error) as exc:
            raise SegmentError(f"{path} is unreadable ({exc})") from exc
        self.entries = count
        self.keys = np.frombuffer(self._map, dtype="<i8", count=count, offset=keys_at)
        self.wins = np.frombuffer(self._map, dtype="<i8", count=count, offset=wins_at)

    def _bound(self, query: np.ndarray, *, after: bool) -> np.ndarray:
        """First position whose key is >= each query key (> with `after`)."""
        n = self.entries
        side = "right" if after else "left"
        block = np.searchsorted(self.fence, query, side=side)
        lo = np.maximum(block - 1, 0) * BLOCK
        hi = np.minimum(block * BLOCK, n)
        keys = self.keys
        while True:
            active = lo < hi
            if not active.any():
                return lo
            mid = (lo + hi) >> 1
            value = keys[np.minimum(mid, n - 1)]
            right = (value <= query) if after else (value < query)
            right &= active
            lo = np.where(right, mid + 1, lo)
            hi = np.where(active & ~right, mid, hi)

    def lookup(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(key, window id) of every pair whose key is in `query` (sorted, unique)."""
        if len(query) == 0:
            return _EMPTY, _EMPTY
        start = self._bound(query, after=False)
        hit = start < self.entries
        hit[hit] = self.keys[start[hit]] == query[hit]
        if not hit.any():
            return _EMPTY, _EMPTY
        query, start = query[hit], start[hit]
        counts = self._bound(query, after=True) - start
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        positions = np.repeat(start, counts) + offsets
        return np.repeat(query, counts), self.wins[positions].astype(np.int64)

    def release(self) -> None:
        """Give the pages the last lookups touched back to the kernel (RSS stays flat)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        self.keys = self.wins = _EMPTY
        # A caller may still hold a view: the map then goes with it.
        with contextlib.suppress(BufferError):
            self._map.close()


def merge(
    segments: Sequence[Segment], drop_docs: np.ndarray, doc_shift: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of several segments, without those of the documents in `drop_docs`."""
    keys = np.concatenate([s.keys for s in segments]) if segments else _EMPTY
    wins = np.concatenate([s.wins for s in segments]) if segments else _EMPTY
    if len(drop_docs):
        keep = ~np.isin(wins >> doc_shift, drop_docs)
        keys, wins = keys[keep], wins[keep]
    return keys, wins
