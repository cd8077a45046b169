"""The `Store` protocol behind an index, and how a location picks a backend."""

from __future__ import annotations

import contextlib
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import numpy as np

from ..errors import IndexConflictError, IndexCorruptError

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

    @property
    def nbytes(self) -> int:
        """Bytes held: the packed lines, and the lines once unpacked."""
        return len(self._blob) + (0 if self._values is None else self._values.nbytes)

    def __len__(self) -> int:
        return len(self.array())


#: Tokens of a stored channel that the SQLite store keeps in one row (128 KB
#: of ids); a longer channel is stored in rows of `PART_TOKENS`. A check
#: aligns a few hundred tokens of each candidate document, but a row is read
#: whole, its second blob only after walking the first's overflow pages:
#: against 40 files of 1.9 MB (430 K tokens; bench/speed.py W6), reading a
#: file's ids took 1.8 ms and unpacking its lines 1.4 ms, for each of the 17
#: documents a check verified. The standard library's largest file has 19 K
#: tokens: parts from 4 K tokens on made its checks slower (W2 p50 1.96 ->
#: 2.16 ms, p99 7.6 -> 10.7 ms: more queries, fewer documents cached).
WHOLE_TOKENS = 1 << 15
#: Tokens per row of a longer channel (16 KB of ids): W6 p50 85 -> 35 ms for
#: outputs quoting the function all 40 files share, 169 -> 40 ms for copies
#: (44 / 62-65 ms with parts of 16 K tokens, in the same hour).
PART_TOKENS = 1 << 12
#: Parts of one long channel kept once read (about 270 KB with their lines
#: unpacked); a check's clusters that need more read them all the same.
HELD_PARTS = 8

#: Reads the rows of some parts of a channel: (part, ids, lines) each. Raises
#: `DocumentGone` when the document is no longer the one its first part was
#: read from (another process removed or replaced it meanwhile).
PartReader = Callable[[Sequence[int]], "list[tuple[int, bytes, bytes]]"]


class DocumentGone(IndexConflictError):
    """A long document being read in parts was removed or replaced by another writer.

    Verification leaves such a document out, as it does one removed before
    it was loaded; elsewhere it is a conflict between writers.
    """


class _Parts:
    """The parts of one long stored channel read so far, the most recently used kept."""

    def __init__(self, tokens: int, read: PartReader, what: str) -> None:
        self.tokens = tokens
        self._read = read
        self._what = what
        self._held: OrderedDict[int, tuple[np.ndarray, PackedLines]] = OrderedDict()

    def add(self, part: int, ids: bytes, lines: bytes) -> tuple[np.ndarray, PackedLines]:
        """Hold a part's row, checked against the length its place gives it.

        Past `HELD_PARTS`, the least recently used part goes.
        """
        expected = min(PART_TOKENS, self.tokens - part * PART_TOKENS)
        if len(ids) != 4 * expected:
            raise IndexCorruptError(f"{self._what} is damaged (part {part})")
        held = self._held[part] = (np.frombuffer(ids, dtype="<u4"), PackedLines(lines, self._what))
        while len(self._held) > HELD_PARTS:
            self._held.popitem(last=False)
        return held

    def hold(self, spans: Sequence[tuple[int, int]]) -> None:
        """Hold the parts of the token ranges [start, stop) `spans`, those missing read at once."""
        self.parts(
            sorted(
                {
                    p
                    for start, stop in spans
                    if stop > start
                    for p in range(
                        start // PART_TOKENS, (min(stop, self.tokens) - 1) // PART_TOKENS + 1
                    )
                }
            )
        )

    def parts(self, wanted: Sequence[int]) -> list[tuple[np.ndarray, PackedLines]]:
        """The `wanted` parts (however many), those not held read in one query."""
        found = {}
        for p in wanted:
            held = self._held.get(p)
            if held is not None:
                self._held.move_to_end(p)
                found[p] = held
        missing = [p for p in wanted if p not in found]
        if missing:
            for part, ids, lines in self._read(missing):
                if part in missing and part not in found:
                    found[part] = self.add(part, ids, lines)
        try:
            return [found[p] for p in wanted]
        except KeyError as exc:
            raise IndexCorruptError(f"{self._what} is damaged (part {exc} is missing)") from None

    def nbytes(self) -> int:
        """Bytes the parts held take (ids, packed and unpacked lines)."""
        return sum(ids.nbytes + lines.nbytes for ids, lines in self._held.values())

    def whole(self) -> tuple[np.ndarray, np.ndarray]:
        """Every token id and line, read now."""
        parts = self.parts(range(max(1, -(-self.tokens // PART_TOKENS))))
        return (
            np.concatenate([ids for ids, _ in parts]),
            np.concatenate([lines.array() for _, lines in parts]),
        )


class PartedIds:
    """The token ids of a long stored channel, its parts read as they are asked for.

    Supports what verification does with a document's ids: `len`, a slice
    (an array) and an item (an int).
    """

    __slots__ = ("_parts",)

    def __init__(self, parts: _Parts) -> None:
        self._parts = parts

    def __len__(self) -> int:
        return self._parts.tokens

    def __getitem__(self, at: int | slice) -> Any:
        tokens = self._parts.tokens
        if isinstance(at, slice):
            start, stop, step = at.indices(tokens)
            if step != 1:
                raise ValueError("stored token ids are sliced with step 1 only")
            if stop <= start:
                return np.zeros(0, dtype="<u4")
            first, last = start // PART_TOKENS, (stop - 1) // PART_TOKENS
            joined = [ids for ids, _ in self._parts.parts(range(first, last + 1))]
            whole = joined[0] if len(joined) == 1 else np.concatenate(joined)
            offset = first * PART_TOKENS
            return whole[start - offset : stop - offset]
        index = at + tokens if at < 0 else at
        if not 0 <= index < tokens:
            raise IndexError(f"token {at} of {tokens}")
        part = index // PART_TOKENS
        return int(self._parts.parts((part,))[0][0][index - part * PART_TOKENS])

    def hold(self, spans: Sequence[tuple[int, int]]) -> None:
        """Read the parts holding these token ranges [start, stop) now, in one query."""
        self._parts.hold(spans)

    @property
    def nbytes(self) -> int:
        """Bytes the parts read so far take, with their lines (at most `HELD_PARTS` parts)."""
        return self._parts.nbytes()

    def array(self) -> np.ndarray:
        """Every token id, read now."""
        return self._parts.whole()[0]


class PartedLines:
    """The token lines of a long stored channel, read a part at a time (see `PartedIds`)."""

    __slots__ = ("_parts",)

    def __init__(self, parts: _Parts) -> None:
        self._parts = parts

    def __len__(self) -> int:
        return self._parts.tokens

    def __getitem__(self, token: int) -> int:
        if not 0 <= token < self._parts.tokens:
            raise IndexError(f"token {token} of {self._parts.tokens}")
        part = token // PART_TOKENS
        return self._parts.parts((part,))[0][1][token - part * PART_TOKENS]

    def array(self) -> np.ndarray:
        """The 1-based line of each token (uint32), read now."""
        return self._parts.whole()[1]


#: A stored channel's token ids and lines as a check reads them: whole, or by part.
StoredIds: TypeAlias = np.ndarray | PartedIds
StoredLines: TypeAlias = PackedLines | PartedLines


def parted(
    tokens: int, read: PartReader, what: str, first: tuple[bytes, bytes] | None = None
) -> tuple[PartedIds, PartedLines]:
    """Views of a long stored channel of `tokens` tokens whose parts `read` returns.

    `first`, the rows of part 0 when the caller has them already.
    """
    parts = _Parts(tokens, read, what)
    if first is not None:
        parts.add(0, *first)
    return PartedIds(parts), PartedLines(parts)


def as_whole(loaded: tuple[StoredIds, StoredLines]) -> tuple[np.ndarray, PackedLines]:
    """A loaded channel's ids and lines as arrays, its parts read now if it has any."""
    ids, lines = loaded
    if isinstance(ids, PartedIds) or isinstance(lines, PartedLines):
        return np.asarray(ids.array()), PackedLines.of(lines.array())
    return ids, lines


def split_parts(ids: np.ndarray, lines: PackedLines) -> list[tuple[bytes, bytes]]:
    """A channel's (ids, packed lines) rows as stored: one, or one per `PART_TOKENS` tokens.

    Channels of up to `WHOLE_TOKENS` tokens are one row.
    """
    ids = np.ascontiguousarray(ids, dtype="<u4")
    if len(ids) <= WHOLE_TOKENS:
        return [(ids.tobytes(), lines.packed())]
    values = lines.array()
    return [
        (ids[at : at + PART_TOKENS].tobytes(), pack_increasing(values[at : at + PART_TOKENS]))
        for at in range(0, len(ids), PART_TOKENS)
    ]


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
    ) -> dict[int, tuple[StoredIds, StoredLines]]:
        """`load_channel` of several documents in one round trip (absent ones left out).

        A long channel may come as views that read its parts as they are asked
        for (`PartedIds`, `PartedLines`): what verification needs of it.
        """
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
