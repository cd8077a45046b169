"""The embedded default store: an SQLite file in WAL mode and its band segments.

Documents, tokens and the list of band segments live in the SQLite file; the
LSH postings live in immutable segment files in the folder `NAME.bands`
beside it (`segments.py` says why). Every batch is one transaction: its
segment is written and flushed first and only the commit makes it part of the
index, so a killed run leaves whole documents only and at most an unlisted
file, which the next writer deletes. Readers never block the writer and the
index is not loaded into memory on open.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import sqlite3
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import Future

from ..errors import IndexCorruptError, IndexNotFoundError
from . import (
    BULK_SEGMENTS,
    CHANNEL_CODES,
    DOC_SHIFT,
    PART_TOKENS,
    WHOLE_TOKENS,
    DocumentGone,
    DocumentInfo,
    DocumentRecord,
    PackedLines,
    PartReader,
    Removal,
    StoreConflict,
    StoredIds,
    StoredLines,
    as_whole,
    first_per_key,
    parted,
    segments,
    split_parts,
    unpack_increasing,
    window_base,
)
from .segments import (
    Segment,
    SegmentError,
    file_digest,
    fit_filters,
    merge,
    write_merged,
    write_segment,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    source_name TEXT,
    path TEXT,
    license TEXT,
    kind TEXT NOT NULL,
    language TEXT,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    windows INTEGER NOT NULL,
    role TEXT NOT NULL DEFAULT 'protected',
    stamp TEXT
);
CREATE INDEX IF NOT EXISTS documents_by_name ON documents(source_name);
CREATE TABLE IF NOT EXISTS channels (
    doc_id INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    part INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    ids BLOB NOT NULL,
    lines BLOB NOT NULL,
    PRIMARY KEY (doc_id, channel, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segments (
    seq INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    entries INTEGER NOT NULL,
    digest TEXT NOT NULL
);
"""
#: Tables every index has had; a file without them is not an index (an index
#: of an older format has them, and its manifest then asks for a rebuild).
_TABLES = {"meta", "documents", "channels"}
#: Segments a lookup may have to visit (each visit costs it about 0.1 ms):
#: past this, a write merges the `MERGE_FANIN` smallest, so sizes grow like a
#: base-4 counter and a pair is rewritten about log4(batches / 8) times.
#: Merging after every batch made building 1 M windows 2.3x slower.
MAX_SEGMENTS = 8
MERGE_FANIN = 4
#: `compact` merges everything into one segment once the segments other than
#: the largest hold this share of the pairs: after a large run, not after
#: every small addition to a large index. It also does once their filters
#: and fences would not fit `segments.MAX_LOOKUP_BYTES` (see `_lookup_bytes`).
COMPACT_SHARE = 0.1
#: Attempts at opening the listed segments while a writer replaces them.
_OPEN_ATTEMPTS = 5
#: Documents' metadata a store keeps between checks (`documents`): a few MB.
_CACHED_INFOS = 4096
#: Bytes of documents' tokens and lines a store keeps between checks
#: (`load_channels`). 16 MB took W2's checking process from 62 to 71 MB RSS
#: and 10 M windows' from 119 to 132 MB; 8 MB saved as many instructions
#: (W2's first 300 outputs: 7.53 against 7.52 G beyond start-up).
_CACHED_CHANNEL_BYTES = 8 << 20
_DOC_COLUMNS = "id, source, source_name, path, license, content_hash, windows, role, stamp"


class SQLiteStore:
    """`Store` over one SQLite file."""

    def __init__(self, path: str, *, create: bool) -> None:
        self.location = os.path.abspath(path)
        self.folder = self.location + ".bands"
        self._open_segments: dict[str, Segment] = {}
        self._listed: list[Segment] | None = None
        self._seen_version: int | None = None
        # Caches of stored documents (`documents`, `load_channels`).
        self._infos: dict[int, DocumentInfo] = {}
        # (doc, channel) -> (ids, lines, bytes counted against _CACHED_CHANNEL_BYTES)
        self._channels: OrderedDict[tuple[int, int], tuple[StoredIds, StoredLines, int]] = (
            OrderedDict()
        )
        self._channel_bytes = 0
        self._parted: set[tuple[int, int]] = set()  # cached channels read in parts
        self._cache_version: int | None = None
        self.bulk = False
        exists = os.path.exists(path)
        if not exists and not create:
            raise IndexNotFoundError(f"no index at {path}")
        if exists and os.path.isdir(path):
            raise IndexCorruptError(f"{path} is a directory, not an index file")
        try:
            # check_same_thread=False: the HTTP service hands one store to its
            # worker threads, one at a time under a lock.
            self._db = sqlite3.connect(
                path, timeout=60, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout = 60000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # No mmap_size: a memory map made an output's LSH lookup faster
            # (2.6 -> 1.7 ms p50) but every page it touched counted in the
            # checking process's RSS (190 MB after 1,000 checks at 0.26 M
            # windows, 316 MB at 1 M; bench/speed.py), over the 150 MB bound.
            if exists:
                tables = {
                    r[0]
                    for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if tables and not tables >= _TABLES:
                    raise IndexCorruptError(f"{path} is an SQLite file but not an ipguard index")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{path} is not a readable ipguard index ({exc})") from exc

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"index {self.location} is damaged ({exc})") from exc

    def read_meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def write_meta(self, meta: dict[str, str]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", sorted(meta.items())
            )

    def _info(self, row: tuple) -> DocumentInfo:
        return DocumentInfo(
            doc_id=row[0],
            source=row[1],
            source_name=row[2],
            path=row[3],
            license=row[4],
            content_hash=row[5],
            windows=row[6],
            role=row[7],
            stamp=row[8],
        )

    def document_by_source(self, source: str) -> DocumentInfo | None:
        rows = self._query(f"SELECT {_DOC_COLUMNS} FROM documents WHERE source = ?", (source,))
        return self._info(rows[0]) if rows else None

    def documents_by_name(self, source_name: str) -> list[DocumentInfo]:
        rows = self._query(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE source_name = ?", (source_name,)
        )
        return [self._info(r) for r in rows]

    def documents(self, doc_ids: Sequence[int]) -> dict[int, DocumentInfo]:
        if not doc_ids:
            return {}
        # A check asks for the documents it verified (their roles) and again
        # for those it reports, and checks keep meeting the same documents: a
        # query each time was 3% of checking code (W2).
        self._check_caches()
        wanted = [int(d) for d in doc_ids]
        missing = [d for d in wanted if d not in self._infos]
        if missing:
            rows = self._query(
                f"SELECT {_DOC_COLUMNS} FROM documents"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(missing),),
            )
            if len(self._infos) + len(rows) > _CACHED_INFOS:
                self._infos.clear()
            self._infos.update((r[0], self._info(r)) for r in rows)
        infos = self._infos
        return {d: infos[d] for d in wanted if d in infos}

    def load_channel(self, doc_id: int, channel: str) -> tuple[np.ndarray, PackedLines] | None:
        loaded = self.load_channels([doc_id], channel).get(doc_id)
        return None if loaded is None else as_whole(loaded)

    def load_channels(
        self, doc_ids: Sequence[int], channel: str
    ) -> dict[int, tuple[StoredIds, StoredLines]]:
        if not doc_ids:
            return {}
        # Checks keep verifying the same documents (a corpus's common code):
        # their tokens, and their lines once unpacked, are kept in a cache
        # of bounded size, in the order of use.
        self._check_caches()
        code = CHANNEL_CODES[channel]
        cache = self._channels
        self._recount_parted()
        out: dict[int, tuple[StoredIds, StoredLines]] = {}
        missing = []
        for doc_id in doc_ids:
            held = cache.get((int(doc_id), code))
            if held is None:
                missing.append(int(doc_id))
            else:
                cache.move_to_end((int(doc_id), code))
                out[int(doc_id)] = held[:2]
        if not missing:
            return out
        # A long channel's first part only: the others are read as a check
        # asks for them (see `PART_TOKENS`).
        rows = self._query(
            "SELECT c.doc_id, c.tokens, c.ids, c.lines, d.content_hash"
            " FROM channels c JOIN documents d ON d.id = c.doc_id"
            " WHERE c.channel = ? AND c.part = 0"
            " AND c.doc_id IN (SELECT value FROM json_each(?))",
            (code, json.dumps(missing)),
        )
        for doc_id, tokens, ids, lines, version in rows:
            what = f"index {self.location}: document {doc_id}"
            if len(ids) % 4 or tokens < len(ids) // 4:
                raise IndexCorruptError(f"{what} is damaged")
            loaded: tuple[StoredIds, StoredLines]
            if tokens == len(ids) // 4:
                loaded = (
                    # Read-only, over the row's bytes: a copy per document was
                    # for nothing, as nothing writes to stored ids.
                    np.frombuffer(ids, dtype="<u4"),
                    PackedLines(lines, what),
                )
                # The ids, the packed lines and the lines once unpacked (4 bytes a token).
                size = 2 * len(ids) + len(lines)
            else:
                read = self._part_reader(doc_id, code, version)
                loaded = parted(tokens, read, what, (ids, lines))
                size = loaded[0].nbytes  # counted again as it reads parts
                self._parted.add((doc_id, code))
            out[doc_id] = loaded
            cache[(doc_id, code)] = (*loaded, size)
            self._channel_bytes += size
        while self._channel_bytes > _CACHED_CHANNEL_BYTES and cache:
            key, (_, _, size) = cache.popitem(last=False)
            self._channel_bytes -= size
            self._parted.discard(key)
        return out

    def _recount_parted(self) -> None:
        """Count the parts that cached long channels have read since they were counted."""
        for key in self._parted:
            ids, lines, size = self._channels[key]
            now = ids.nbytes
            if now != size:
                self._channels[key] = (ids, lines, now)
                self._channel_bytes += now - size

    def _part_reader(self, doc_id: int, code: int, version: str) -> PartReader:
        """Reads parts of one stored channel (see `PartedIds`) of the document as loaded.

        Ids are reused (the largest plus one), so the parts are read only while
        the document under `doc_id` has the content hash it had when loaded.
        """

        def read(parts: Sequence[int]) -> list[tuple[int, bytes, bytes]]:
            rows = self._query(
                "SELECT c.part, c.ids, c.lines FROM channels c JOIN documents d ON d.id = c.doc_id"
                " WHERE c.doc_id = ? AND c.channel = ? AND d.content_hash = ?"
                " AND c.part IN (SELECT value FROM json_each(?))",
                (doc_id, code, version, json.dumps([int(p) for p in parts])),
            )
            if len(rows) < len(parts) and not self._query(
                "SELECT 1 FROM documents WHERE id = ? AND content_hash = ?", (doc_id, version)
            ):
                raise DocumentGone(f"document {doc_id} was removed or replaced")
            return rows

        return read

    def _check_caches(self) -> None:
        """Empty the caches of stored documents when another connection committed.

        PRAGMA data_version changes with every other connection's commit;
        this connection's own writes empty them (`_forget`).
        """
        version = self._query("PRAGMA data_version")[0][0]
        if version != self._cache_version:
            self._forget()
            self._cache_version = version

    def _forget(self) -> None:
        self._infos.clear()
        self._channels.clear()
        self._parted.clear()
        self._channel_bytes = 0

    def write(
        self, adds: Sequence[DocumentRecord], removes: Sequence[Removal], *, last: bool = False
    ) -> list[int]:
        new_ids: list[int] = []
        db = self._db
        removed_ids = {r.doc_id for r in removes}
        written: list[str] = []  # files of this attempt: deleted unless it commits
        replaced: list[str] = []  # files the commit unlists: deleted once it has
        try:
            with self._transaction():
                for source, doc_id in self._ids_of_sources([doc.source for doc in adds]):
                    if doc_id not in removed_ids:
                        raise StoreConflict(f"{source} was indexed concurrently")
                self._delete_unlisted()
                for doc_id in removed_ids:
                    db.execute("DELETE FROM channels WHERE doc_id = ?", (doc_id,))
                    db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
                listed = self._segment_rows()
                if removes:
                    listed = self._rewrite_without(listed, removes, written, replaced)
                # The ids SQLite would give the new rows (the largest plus one,
                # this transaction being the only writer), given explicitly, so
                # that the pairs can be written while the rows are inserted.
                first = int(
                    db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM documents").fetchone()[0]
                )
                new_ids = list(range(first, first + len(adds)))
                # The last write of a run is written for lookups: with one
                # write per run, nothing is merged at its end.
                light = self.bulk and not last
                segment = self._write_pairs(adds, new_ids, written, light)
                try:
                    self._insert_documents(adds, new_ids)
                except BaseException:
                    segment.wait()  # its file is deleted with this attempt's
                    raise
                row = segment.listed()
                if row is not None:
                    listed.append(row)
                    limit = BULK_SEGMENTS if self.bulk else MAX_SEGMENTS
                    self._merge_down(listed, limit, written, replaced)
        except BaseException:
            self._unlink(written)
            raise
        self._listed = None
        self._forget()
        self._unlink(replaced)
        return new_ids

    def _ids_of_sources(self, sources: Sequence[str]) -> list[tuple[str, int]]:
        """(source, id) of the stored documents among `sources`.

        A query per `_SOURCES_PER_QUERY` sources: a query per source took
        15 ms of the final write of npm's 4,541 files, these 2 ms.
        """
        found: list[tuple[str, int]] = []
        for at in range(0, len(sources), _SOURCES_PER_QUERY):
            part = sources[at : at + _SOURCES_PER_QUERY]
            marks = ", ".join("?" * len(part))
            found += self._db.execute(
                f"SELECT source, id FROM documents WHERE source IN ({marks})", part
            ).fetchall()
        return found

    def _insert_documents(self, adds: Sequence[DocumentRecord], ids: Sequence[int]) -> None:
        """Insert the rows of new documents (and of their channels) under `ids`."""
        self._db.executemany(
            "INSERT INTO documents (id, source, source_name, path, license, kind, language,"
            " content_hash, size, windows, role, stamp)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    doc_id,
                    doc.source,
                    doc.source_name,
                    doc.path,
                    doc.license,
                    doc.kind,
                    doc.language,
                    doc.content_hash,
                    doc.size,
                    doc.windows,
                    doc.role,
                    doc.stamp,
                )
                for doc_id, doc in zip(ids, adds, strict=True)
            ],
        )
        self._db.executemany(
            "INSERT INTO channels (doc_id, channel, part, tokens, ids, lines)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (doc_id, CHANNEL_CODES[ch.channel], part, len(ch.ids), part_ids, part_lines)
                for doc_id, doc in zip(ids, adds, strict=True)
                for ch in doc.channels
                for part, (part_ids, part_lines) in enumerate(split_parts(ch.ids, ch.lines))
            ],
        )

    def _write_pairs(
        self, adds: Sequence[DocumentRecord], ids: Sequence[int], written: list[str], light: bool
    ) -> _PendingSegment:
        """Start writing the band pairs of new documents (under `ids`) to a new segment.

        A large one is written by a thread while the caller inserts the rows:
        the 1 M-window prose build spent 1.2 s of its 4 s write on rows and
        the pairs' arrays before the segment's 2.9 s began.
        """
        pairs = sum(ch.keys.size for doc in adds for ch in doc.channels)
        if pairs == 0:
            return _PendingSegment(self, None, None)
        name = self._segment_name(written)

        def write() -> str:
            keys, wins, bands = _band_pairs(adds, ids)
            path = os.path.join(self.folder, name)
            return write_segment(path, keys, wins, light=light, per=bands)

        if pairs < _OVERLAPPED_PAIRS:
            return _PendingSegment(self, (name, pairs), write())
        from concurrent.futures import ThreadPoolExecutor  # writers only

        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(write)
        pool.shutdown(wait=False)  # its thread ends with the write
        return _PendingSegment(self, (name, pairs), None, future)

    # -- band segments ------------------------------------------------------

    def _segment_rows(self) -> list[tuple[int, str, int]]:
        """(seq, file name, pairs) of the listed segments, oldest first."""
        return [
            (int(r[0]), str(r[1]), int(r[2]))
            for r in self._query("SELECT seq, name, entries FROM segments ORDER BY seq")
        ]

    def _segment(self, name: str, entries: int) -> Segment:
        seg = self._open_segments.get(name)
        if seg is None:
            seg = Segment(os.path.join(self.folder, name), entries)
            self._open_segments[name] = seg
        return seg

    def _list_segment(
        self, write: Callable[[str], tuple[str, int]], written: list[str]
    ) -> tuple[int, str, int]:
        """List the file `write` writes (its digest and pairs), unless it holds none."""
        name = self._segment_name(written)
        digest, entries = write(os.path.join(self.folder, name))
        return self._list_file(name, digest, entries)

    def _segment_name(self, written: list[str]) -> str:
        """A new segment file's name, noted in `written` (deleted unless its write commits)."""
        os.makedirs(self.folder, exist_ok=True)
        name = f"{secrets.token_hex(8)}.seg"
        written.append(name)
        return name

    def _list_file(self, name: str, digest: str, entries: int) -> tuple[int, str, int]:
        """List a written segment file (none, seq -1, if it holds no pairs)."""
        if entries == 0:
            return (-1, "", 0)
        cur = self._db.execute(
            "INSERT INTO segments (name, entries, digest) VALUES (?, ?, ?)",
            (name, entries, digest),
        )
        return int(cur.lastrowid or 0), name, entries

    def _unlist(self, rows: Sequence[tuple[int, str, int]], replaced: list[str]) -> None:
        for seq, name, _ in rows:
            self._db.execute("DELETE FROM segments WHERE seq = ?", (seq,))
            replaced.append(name)

    def _merge_rows(
        self,
        rows: Sequence[tuple[int, str, int]],
        written: list[str],
        replaced: list[str],
        drop: np.ndarray | None = None,
        dropped: tuple[int, int] | None = None,
    ) -> tuple[int, str, int]:
        """Replace segments by one holding their pairs (less those of `drop`'s documents).

        `dropped`: how many pairs of those documents the segments hold per key
        sign, when known (see `write_merged`).
        """
        segs = [self._segment(name, entries) for _, name, entries in rows]
        self._unlist(rows, replaced)
        docs = np.zeros(0, np.int64) if drop is None else drop
        return self._list_segment(
            lambda path: write_merged(
                path, segs, docs, DOC_SHIFT, light=self.bulk, dropped=dropped
            ),
            written,
        )

    def _rewrite_without(
        self,
        rows: list[tuple[int, str, int]],
        removes: Sequence[Removal],
        written: list[str],
        replaced: list[str],
    ) -> list[tuple[int, str, int]]:
        """Segments with every pair of the removed documents gone (rewritten where held).

        A segment is searched for the removed documents' own band keys, when
        they are few against its pairs: that finds whether it holds their
        pairs, and how many, with a read per key, where a pass over all of a
        10 M-window segment's pairs (3.7 GB) counted them before the rewrite.
        """
        drop = np.array(sorted({r.doc_id for r in removes}), dtype=np.int64)
        parts = [ch.keys.ravel() for r in removes for ch in r.channels]
        keys = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        out = []
        for row in rows:
            segment = self._segment(row[1], row[2])
            if len(keys) <= row[2] // LOOKUP_SHARE:
                found, wins = segment.lookup(keys)
                mine = segments._members(wins >> DOC_SHIFT, drop)
                if mine.any():
                    negative = int(np.count_nonzero(found[mine] < 0))
                    gone = (negative, int(np.count_nonzero(mine)) - negative)
                    row = self._merge_rows([row], written, replaced, drop, gone)
            # A chunk at a time: the pairs of a 10 M-window segment are 3.4 GB.
            elif any(np.isin(pairs[:, 1] >> DOC_SHIFT, drop).any() for pairs in segment.chunks()):
                row = self._merge_rows([row], written, replaced, drop)
            if row[2] != 0:
                out.append(row)
        return out

    def _merge_down(
        self,
        listed: list[tuple[int, str, int]],
        limit: int,
        written: list[str],
        replaced: list[str],
    ) -> None:
        """Merge the smallest segments, `MERGE_FANIN` at a time, until at most `limit` remain."""
        while len(listed) > limit:
            listed.sort(key=lambda row: row[2])
            smallest = listed[:MERGE_FANIN]
            del listed[:MERGE_FANIN]
            listed.append(self._merge_rows(smallest, written, replaced))

    def update_stamps(self, stamps: Sequence[tuple[int, str]]) -> None:
        self._forget()
        with self._transaction():
            self._db.executemany(
                "UPDATE documents SET stamp = ? WHERE id = ?", [(s, d) for d, s in stamps]
            )

    def compact(self) -> None:
        """Delete files interrupted writers left; merge the segments into one when it pays."""
        written: list[str] = []
        replaced: list[str] = []
        try:
            with self._transaction():
                self._delete_unlisted()
                rows = self._segment_rows()
                sizes = [entries for _, _, entries in rows]
                if len(rows) > 1 and (
                    sum(sizes) - max(sizes) >= COMPACT_SHARE * sum(sizes)
                    or self._lookup_bytes(rows) > segments.MAX_LOOKUP_BYTES
                ):
                    self._merge_rows(rows, written, replaced)
                else:
                    # Segments an indexing run wrote with a light filter get a full one.
                    light = [r for r in rows if self._segment(r[1], r[2]).light]
                    if light:
                        rows = [r for r in rows if r not in light]
                        rows.append(self._merge_rows(light, written, replaced))
                    self._merge_down(rows, MAX_SEGMENTS, written, replaced)
        except BaseException:
            self._unlink(written)
            raise
        self._listed = None
        self._unlink(replaced)

    def _lookup_bytes(self, rows: Sequence[tuple[int, str, int]]) -> int:
        """Bytes the segments' filters and fences take in a checking process, unfolded.

        Past `segments.MAX_LOOKUP_BYTES`, checks would fold the filters (see
        `fit_filters`) and read blocks for a third or more of an output's
        keys in each large segment: 10.1-10.5 ms p50 instead of 6.2 against
        a 10 M- and a 1 M-window segment. One merged segment lets through
        what one capped filter does (p50 about 5 ms at 10 M windows).
        """
        total = 0
        for _, name, entries in rows:
            seg = self._segment(name, entries)
            total += seg.filter_bytes + 8 * len(seg.fence)
        return total

    def _delete_unlisted(self) -> None:
        """Delete files a killed writer left (callers hold the write lock)."""
        if not os.path.isdir(self.folder):
            return
        listed = {name for _, name, _ in self._segment_rows()}
        for name in os.listdir(self.folder):
            if name.endswith(".seg") and name not in listed:
                log.info("deleting %s, left by an interrupted write", name)
                self._unlink([name])

    def _unlink(self, names: Sequence[str]) -> None:
        for name in names:
            seg = self._open_segments.pop(name, None)
            if seg is not None:
                seg.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.folder, name))

    def _segments(self) -> list[Segment]:
        """The listed segments, opened; re-read when another connection committed."""
        version = self._query("PRAGMA data_version")[0][0]
        if self._listed is not None and version == self._seen_version:
            return self._listed
        for attempt in range(_OPEN_ATTEMPTS):
            rows = self._segment_rows()
            try:
                listed = [self._segment(name, entries) for _, name, entries in rows]
                break
            except SegmentError as exc:
                # A writer may have merged the file away since the list was read.
                if attempt == _OPEN_ATTEMPTS - 1:
                    raise IndexCorruptError(f"index {self.location}: {exc}") from exc
        names = {name for _, name, _ in rows}
        for name in [n for n in self._open_segments if n not in names]:
            self._open_segments.pop(name).close()
        try:
            fit_filters(listed)
        except SegmentError as exc:
            raise IndexCorruptError(f"index {self.location}: {exc}") from exc
        self._listed, self._seen_version = listed, version
        return listed

    def band_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored (band key, window id) pair: for dumps and checks, not lookups."""
        segs = self._segments()
        return merge(segs, np.zeros(0, np.int64), DOC_SHIFT)

    def lookup(self, keys: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        query = np.sort(keys.astype(np.int64).ravel())
        if len(query) > 1:  # sorted, unique
            query = query[np.concatenate(([True], query[1:] != query[:-1]))]
        found_keys: list[np.ndarray] = []
        found_wins: list[np.ndarray] = []
        for seg in self._segments():
            k, w = seg.lookup(query, limit)
            if len(k):
                found_keys.append(k)
                found_wins.append(w)
        if not found_keys:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        if len(found_keys) == 1 or limit is None:
            return np.concatenate(found_keys), np.concatenate(found_wins)
        return first_per_key(np.concatenate(found_keys), np.concatenate(found_wins), limit)

    def counts(self) -> tuple[int, int]:
        row = self._query("SELECT COUNT(*), COALESCE(SUM(windows), 0) FROM documents")[0]
        return int(row[0]), int(row[1])

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.location + suffix)
        for _, name, _ in self._segment_rows():
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(self.folder, name))
        return total

    def integrity_problems(self, bands: int) -> list[str]:
        """SQLite's own integrity check, then the index's invariants: whole documents only."""
        problems = [
            f"sqlite: {r[0]}" for r in self._query("PRAGMA integrity_check") if r[0] != "ok"
        ]
        if problems:
            return problems
        for (doc_id,) in self._query(
            "SELECT id FROM documents d WHERE windows > 0 AND NOT EXISTS "
            "(SELECT 1 FROM channels c WHERE c.doc_id = d.id)"
        ):
            problems.append(f"document {doc_id} has windows but no tokens")
        for (doc_id,) in self._query(
            "SELECT DISTINCT doc_id FROM channels c WHERE NOT EXISTS "
            "(SELECT 1 FROM documents d WHERE d.id = c.doc_id)"
        ):
            problems.append(f"tokens of a missing document {doc_id}")
        rows = self._query(
            "SELECT doc_id, channel, part, tokens, ids, lines FROM channels"
            " ORDER BY doc_id, channel, part"
        )
        for (doc_id, channel), group in itertools.groupby(rows, key=lambda r: r[:2]):
            parts = list(group)
            tokens = parts[0][3]
            expected = [tokens]
            if tokens > WHOLE_TOKENS:
                expected = [min(PART_TOKENS, tokens - at) for at in range(0, tokens, PART_TOKENS)]
            if [r[2] for r in parts] != list(range(len(expected))) or any(
                r[3] != tokens for r in parts
            ):
                problems.append(f"document {doc_id} channel {channel}: parts missing or extra")
                continue
            for (_, _, part, _, ids, lines), count in zip(parts, expected, strict=True):
                try:
                    if len(ids) != 4 * count or len(unpack_increasing(lines)) != count:
                        problems.append(
                            f"document {doc_id} channel {channel} part {part}: "
                            "tokens and lines differ"
                        )
                except (zlib.error, ValueError):
                    problems.append(
                        f"document {doc_id} channel {channel} part {part}: undecodable lines"
                    )
        expected = dict(self._query("SELECT id, windows FROM documents"))
        doc_ids: list[np.ndarray] = []  # per chunk, its documents and their pairs
        doc_rows: list[np.ndarray] = []
        for _, name, entries in self._segment_rows():
            path = os.path.join(self.folder, name)
            digest = self._query("SELECT digest FROM segments WHERE name = ?", (name,))[0][0]
            try:
                seg = Segment(path, entries)
            except SegmentError as exc:
                problems.append(f"band segment {exc}")
                continue
            try:
                if file_digest(path) != digest:
                    problems.append(f"band segment {path} does not match its digest")
                    continue
                last = np.iinfo(np.int64).min
                for pairs in seg.chunks():  # a chunk at a time, as merges read them
                    if pairs[0, 0] < last or bool((np.diff(pairs[:, 0]) < 0).any()):
                        problems.append(f"band segment {path} is not sorted")
                        break
                    last = int(pairs[-1, 0])
                    ids, rows = np.unique(pairs[:, 1] >> DOC_SHIFT, return_counts=True)
                    doc_ids.append(ids)
                    doc_rows.append(rows)
            except SegmentError as exc:
                problems.append(f"band segment {exc}")
            finally:
                seg.close()
        found: dict[int, int] = {}
        if doc_ids:
            ids, where = np.unique(np.concatenate(doc_ids), return_inverse=True)
            rows = np.bincount(where, weights=np.concatenate(doc_rows)).astype(np.int64)
            found = dict(zip(ids.tolist(), rows.tolist(), strict=True))
        for doc_id, rows in found.items():
            if doc_id not in expected:
                problems.append(f"{rows} band rows of a missing document {doc_id}")
            elif rows != expected[doc_id] * bands:
                problems.append(
                    f"document {doc_id}: {rows} band rows, expected {expected[doc_id] * bands}"
                )
        for doc_id, windows in expected.items():
            if windows and doc_id not in found:
                problems.append(f"document {doc_id}: no band rows for {windows} windows")
        return problems

    def close(self) -> None:
        for seg in self._open_segments.values():
            seg.close()
        self._open_segments.clear()
        self._listed = None
        self._forget()
        try:
            self._db.close()
        except sqlite3.Error:  # closing must never raise over another error
            log.debug("closing %s failed", self.location, exc_info=True)

    def _transaction(self) -> _Transaction:
        return _Transaction(self)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        try:
            self._store._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"index {self._store.location}: {exc}") from exc

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        db = self._store._db
        if exc_type is None:
            try:
                db.execute("COMMIT")
            except sqlite3.DatabaseError as err:
                db.execute("ROLLBACK")
                raise IndexCorruptError(f"index {self._store.location}: {err}") from err
        else:
            db.execute("ROLLBACK")


#: A removal looks its documents' keys up in a segment (a read each, about
#: 3-5 us) rather than pass over all its pairs (about 20 ns each) while it has
#: at most one key per this many pairs.
LOOKUP_SHARE = 256


#: Sources looked up in one query (SQLite allows 32,766 parameters).
_SOURCES_PER_QUERY = 500

#: Pairs from which a write's segment is written by a thread while its rows
#: are inserted (a thread costs more than the overlap saves on small writes).
_OVERLAPPED_PAIRS = 1 << 18


def _band_pairs(
    adds: Sequence[DocumentRecord], ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, int]:
    """The band keys of new documents stored under `ids`, their windows' ids, and keys per window.

    Window i holds keys `bands * i` to `bands * (i + 1)`: the pairs are
    (band key, its window's id), as `write_segment(..., per=bands)` takes
    them. Built with a handful of numpy calls for the whole write, where a
    few per document and channel took 0.07-0.13 s of the standard library's
    write.
    """
    held = [
        (i, ch) for i, doc in zip(ids, adds, strict=True) for ch in doc.channels if len(ch.starts)
    ]
    keys = _joined([ch.keys for _, ch in held])
    counts = np.array([len(ch.starts) for _, ch in held], dtype=np.int64)
    wins = np.concatenate([ch.starts for _, ch in held]).astype(np.int64)
    wins |= np.repeat(np.array([window_base(i, ch.channel) for i, ch in held], np.int64), counts)
    # An index has one configuration: every window has its number of bands.
    return keys, wins, held[0][1].keys.shape[1]


def _joined(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The parts raveled end to end: a view where they already lie so in one array, else a copy.

    A run with one process lays its records' keys end to end as it prepares
    them (`ipguard.guard`), so that a write need not copy them again: 1 M
    text windows' keys are 168 MB.
    """
    filled = [part for part in parts if part.size]  # an empty view may point anywhere
    base = filled[0].base if filled else None
    if isinstance(base, np.ndarray) and base.ndim == 1 and base.flags.c_contiguous:
        origin = base.ctypes.data
        start = (filled[0].ctypes.data - origin) // base.itemsize
        at = start
        for part in filled:
            if (
                part.base is not base
                or part.dtype != base.dtype
                or not part.flags.c_contiguous
                or part.ctypes.data != origin + at * base.itemsize
            ):
                break
            at += part.size
        else:
            return base[start:at]
    return np.concatenate([part.ravel() for part in parts])


class _PendingSegment:
    """A segment being written for a write: its digest, or the future of it."""

    def __init__(
        self,
        store: SQLiteStore,
        file: tuple[str, int] | None,
        digest: str | None,
        future: Future[str] | None = None,
    ) -> None:
        self._store, self._file, self._digest, self._future = store, file, digest, future

    def wait(self) -> None:
        """Wait for the file to be written (or to fail), whatever came of it."""
        if self._future is not None:
            self._future.exception()

    def listed(self) -> tuple[int, str, int] | None:
        """The segment listed (raising what writing it raised); None without pairs."""
        if self._file is None:
            return None
        digest = self._future.result() if self._future is not None else self._digest
        assert digest is not None
        return self._store._list_file(self._file[0], digest, self._file[1])
