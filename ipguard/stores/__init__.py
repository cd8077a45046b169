"""The `Store` protocol behind an index, and how a location picks a backend."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import IndexCorruptError

#: zlib level of packed lines: the standard library's lines at level 3 took
#: 0.021 s and 305 KB, at 6 0.063 s and 239 KB (400 files): 0.3 bytes per
#: window more on disk for a third of the time, in every indexing worker.
LINES_LEVEL = 3


def pack_increasing(values: np.ndarray) -> bytes:
    """Delta-encode a non-decreasing uint32 array and compress it."""
    values = np.asarray(values, dtype="<u4")
    # Subtracted in uint32, as `unpack_increasing` sums: `np.diff` cost 23 us
    # a call, a fifth of packing a small file's lines.
    deltas = np.empty(len(values), dtype="<u4")
    deltas[:1] = values[:1]
    np.subtract(values[1:], values[:-1], out=deltas[1:])
    return zlib.compress(deltas.tobytes(), LINES_LEVEL)


def unpack_increasing(blob: bytes) -> np.ndarray:
    deltas = np.frombuffer(zlib.decompress(blob), dtype="<u4")
    # Summed in uint32, which wraps exactly as the int64 sum cast to uint32
    # did: 9 us per stored document against 33 (the standard library's).
    return np.cumsum(deltas, dtype=np.uint32)


class PackedLines:
    """A document's token lines, packed (`pack_increasing`) and unpacked on first use.

    A check loads every candidate document's tokens but reads lines only
    where it reports a region, two per region: unpacking them all was 5% of
    checking 2 KB of code (bench/speed.py W2, 8 documents per check).
    """

    __slots__ = ("_blob", "_values", "_what")

    def __init__(self, blob: bytes, what: str) -> None:
        self._blob = blob
        self._values: np.ndarray | None = None
        self._what = what  # the document, for the error a damaged blob raises

    @classmethod
    def of(cls, values: np.ndarray) -> PackedLines:
        """The lines of a document being indexed, packed now.

        An indexing worker packs them: the process that writes the index then
        only stores the blob (it was the writer's to compress, 0.3 s of the
        main process's 3 s when indexing the standard library with --jobs 2),
        and the worker sends it a tenth of the bytes.
        """
        return cls(pack_increasing(values), "a document being indexed")

    def packed(self) -> bytes:
        """The lines as stored (`pack_increasing`)."""
        return self._blob

    def array(self) -> np.ndarray:
        """The 1-based line of each token (uint32)."""
        if self._values is None:
            try:
                self._values = unpack_increasing(self._blob)
            except (zlib.error, ValueError) as exc:
                raise IndexCorruptError(f"{self._what} is damaged") from exc
        return self._values

    def __getitem__(self, token: int) -> int:
        return int(self.array()[token])

    def __len__(self) -> int:
        return len(self.array())


@dataclass(frozen=True, eq=False)
class ChannelRecord:
    """What an index keeps of one channel of a document: keyed token ids and their lines."""

    channel: str
    ids: np.ndarray  # uint32 keyed hashes of normalized tokens
    lines: PackedLines  # 1-based source line of each token
    starts: np.ndarray  # first token of each indexed window
    keys: np.ndarray  # (windows, bands) int64 LSH keys


@dataclass(frozen=True, eq=False)
class DocumentRecord:
    """One document ready to store."""

    source: str
    source_name: str | None
    path: str | None
    license: str | None
    kind: str
    language: str | None
    content_hash: str
    size: int
    channels: tuple[ChannelRecord, ...]
    #: "protected", or "allow" for content that must never block (templates, boilerplate).
    role: str = "protected"
    #: The file's size and modification time when read (`ipguard.ingest.file_stamp`).
    stamp: str | None = None

    @property
    def windows(self) -> int:
        return sum(len(c.starts) for c in self.channels)


@dataclass(frozen=True, eq=False)
class Removal:
    """A stored document to delete, with the band keys its windows were stored under."""

    doc_id: int
    channels: tuple[ChannelRecord, ...]


@dataclass(frozen=True)
class DocumentInfo:
    """Metadata of a stored document, as matches report it."""

    doc_id: int
    source: str
    source_name: str | None
    path: str | None
    license: str | None
    content_hash: str
    windows: int
    role: str = "protected"
    stamp: str | None = None


#: Segments a write may leave during an indexing run (`Index.bulk`), which
#: compacts at its end: merging down to the usual 8 on the way cost 13% of
#: building 1 M text windows.
BULK_SEGMENTS = 32


class Store(Protocol):
    """Where an index lives. Every method is atomic on its own."""

    location: str
    #: True during an indexing run (`Index.bulk`), which calls `compact` at its
    #: end: a store may leave reorganising for lookups until then.
    bulk: bool

    def read_meta(self) -> dict[str, str]:
        """The index's manifest (empty for a new store)."""
        ...

    def write_meta(self, meta: dict[str, str]) -> None:
        """Write the manifest of a new index."""
        ...

    def document_by_source(self, source: str) -> DocumentInfo | None:
        """The stored document with this source, if any."""
        ...

    def documents_by_name(self, source_name: str) -> list[DocumentInfo]:
        """Every stored document indexed under this source name."""
        ...

    def documents(self, doc_ids: Sequence[int]) -> dict[int, DocumentInfo]:
        """Metadata of the documents with these ids."""
        ...

    def load_channel(self, doc_id: int, channel: str) -> tuple[np.ndarray, PackedLines] | None:
        """(token ids, token lines) of one channel of a stored document."""
        ...

    def load_channels(
        self, doc_ids: Sequence[int], channel: str
    ) -> dict[int, tuple[np.ndarray, PackedLines]]:
        """`load_channel` of several documents in one round trip (absent ones left out)."""
        ...

    def write(
        self, adds: Sequence[DocumentRecord], removes: Sequence[Removal], *, last: bool = False
    ) -> list[int]:
        """Remove documents and add others in one transaction; ids of the added ones.

        `last`: the last write of an indexing run (see `bulk`), which `compact`
        follows; a store that defers work to `compact` need not for this one.
        """
        ...

    def lookup(self, keys: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(keys, window ids) of every stored window that has one of `keys`.

        With a `limit`, at most that many windows per key, the same ones at
        every call while the index is unchanged: a key that boilerplate gave
        to every file of a large corpus must not load all of them.
        """
        ...

    def compact(self) -> None:
        """Reorganise for lookups after a run of writes (a no-op where nothing gains)."""
        ...

    def update_stamps(self, stamps: Sequence[tuple[int, str]]) -> None:
        """Record new file stamps of stored documents whose content did not change."""
        ...

    def counts(self) -> tuple[int, int]:
        """(documents, windows) held."""
        ...

    def size_bytes(self) -> int:
        """Bytes the index takes on disk (or in the server)."""
        ...

    def integrity_problems(self, bands: int) -> list[str]:
        """What is wrong with the stored data (empty when sound); `bands` rows per window."""
        ...

    def close(self) -> None: ...


#: Window ids pack the document, the channel and the window's first token.
WINDOW_BITS = 23
CHANNEL_BIT = 1 << WINDOW_BITS
DOC_SHIFT = WINDOW_BITS + 1
CHANNEL_CODES = {"code": 0, "text": 1}
CHANNEL_NAMES = {0: "code", 1: "text"}
#: Tokens one channel of one document may hold (the window start must fit).
MAX_CHANNEL_TOKENS = (1 << WINDOW_BITS) - 1


def window_ids(doc_id: int, channel: str, starts: np.ndarray) -> np.ndarray:
    """Packed ids of a document's windows."""
    return starts.astype(np.int64) | np.int64(window_base(doc_id, channel))


def window_base(doc_id: int, channel: str) -> int:
    """What the packed ids of a document's windows in a channel share (first token 0)."""
    return (doc_id << DOC_SHIFT) | (CHANNEL_BIT if CHANNEL_CODES[channel] else 0)


def first_per_key(keys: np.ndarray, wins: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs less all but the first `limit` of each key (in the order given)."""
    by_key = np.argsort(keys, kind="stable")
    keys, wins = keys[by_key], wins[by_key]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    rank = np.arange(len(keys)) - np.repeat(starts, np.diff(np.append(starts, len(keys))))
    keep = rank < limit
    return keys[keep], wins[keep]


def unpack_window_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(document ids, channel codes, first tokens) of packed window ids."""
    ids = ids.astype(np.int64)
    return ids >> DOC_SHIFT, (ids >> WINDOW_BITS) & 1, ids & (CHANNEL_BIT - 1)


class StoreConflict(Exception):
    """Another writer changed the documents a batch replaces; recompute and retry."""


def delete_index_files(path: str) -> None:
    """Delete an SQLite index from disk: its file, journal and band segments."""
    import os
    import shutil

    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)
    shutil.rmtree(path + ".bands", ignore_errors=True)


def open_store(location: str, *, create: bool) -> Store:
    """The store at `location`: `redis://host:port/db?prefix=NAME`, else a SQLite file path."""
    if location.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(location, create=create)
    from .sqlite import SQLiteStore

    return SQLiteStore(location, create=create)
