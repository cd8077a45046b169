"""The embedded default store: one SQLite file in WAL mode.

Every batch of documents is one transaction, so a killed run leaves whole
documents only; readers never block the writer and the index is not loaded
into memory on open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import zlib
from collections.abc import Sequence

import numpy as np

from ..errors import IndexCorruptError, IndexNotFoundError
from . import (
    CHANNEL_CODES,
    DOC_SHIFT,
    DocumentInfo,
    DocumentRecord,
    Removal,
    StoreConflict,
    window_ids,
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
    role TEXT NOT NULL DEFAULT 'protected'
);
CREATE INDEX IF NOT EXISTS documents_by_name ON documents(source_name);
CREATE TABLE IF NOT EXISTS channels (
    doc_id INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    ids BLOB NOT NULL,
    lines BLOB NOT NULL,
    PRIMARY KEY (doc_id, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bands (
    key INTEGER NOT NULL,
    win INTEGER NOT NULL,
    PRIMARY KEY (key, win)
) WITHOUT ROWID;
"""
_DOC_COLUMNS = "id, source, source_name, path, license, content_hash, windows, role"


def pack_increasing(values: np.ndarray) -> bytes:
    """Delta-encode a non-decreasing uint32 array and compress it."""
    deltas = np.diff(values.astype(np.int64), prepend=0).astype("<u4")
    return zlib.compress(deltas.tobytes(), 6)


def unpack_increasing(blob: bytes) -> np.ndarray:
    deltas = np.frombuffer(zlib.decompress(blob), dtype="<u4")
    return np.cumsum(deltas, dtype=np.int64).astype(np.uint32)


class SQLiteStore:
    """`Store` over one SQLite file."""

    def __init__(self, path: str, *, create: bool) -> None:
        self.location = os.path.abspath(path)
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
                if tables and not {"meta", "documents", "channels", "bands"} <= tables:
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
        rows = self._query(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([int(d) for d in doc_ids]),),
        )
        return {r[0]: self._info(r) for r in rows}

    def load_channel(self, doc_id: int, channel: str) -> tuple[np.ndarray, np.ndarray] | None:
        rows = self._query(
            "SELECT ids, lines FROM channels WHERE doc_id = ? AND channel = ?",
            (doc_id, CHANNEL_CODES[channel]),
        )
        if not rows:
            return None
        try:
            ids = np.frombuffer(rows[0][0], dtype="<u4").astype(np.uint32)
            lines = unpack_increasing(rows[0][1])
        except (zlib.error, ValueError) as exc:
            raise IndexCorruptError(f"index {self.location}: document {doc_id} is damaged") from exc
        return ids, lines

    def write(self, adds: Sequence[DocumentRecord], removes: Sequence[Removal]) -> list[int]:
        new_ids: list[int] = []
        db = self._db
        removed_ids = {r.doc_id for r in removes}
        with self._transaction():
            for doc in adds:
                row = db.execute(
                    "SELECT id FROM documents WHERE source = ?", (doc.source,)
                ).fetchone()
                if row is not None and row[0] not in removed_ids:
                    raise StoreConflict(f"{doc.source} was indexed concurrently")
            for removal in removes:
                doc_id = removal.doc_id
                for ch in removal.channels:
                    if len(ch.starts):
                        wins = np.repeat(
                            window_ids(doc_id, ch.channel, ch.starts), ch.keys.shape[1]
                        )
                        db.executemany(
                            "DELETE FROM bands WHERE key = ? AND win = ?",
                            zip(ch.keys.ravel().tolist(), wins.tolist(), strict=False),
                        )
                db.execute("DELETE FROM channels WHERE doc_id = ?", (doc_id,))
                db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            band_keys: list[np.ndarray] = []
            band_wins: list[np.ndarray] = []
            for doc in adds:
                cur = db.execute(
                    "INSERT INTO documents (source, source_name, path, license, kind, language,"
                    " content_hash, size, windows, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
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
                    ),
                )
                doc_id = int(cur.lastrowid or 0)
                new_ids.append(doc_id)
                for ch in doc.channels:
                    db.execute(
                        "INSERT INTO channels (doc_id, channel, ids, lines) VALUES (?, ?, ?, ?)",
                        (
                            doc_id,
                            CHANNEL_CODES[ch.channel],
                            np.ascontiguousarray(ch.ids, dtype="<u4").tobytes(),
                            pack_increasing(ch.lines),
                        ),
                    )
                    if len(ch.starts):
                        band_keys.append(ch.keys.ravel())
                        band_wins.append(
                            np.repeat(window_ids(doc_id, ch.channel, ch.starts), ch.keys.shape[1])
                        )
            if band_keys:
                # Inserting in key order keeps the B-tree's page writes local.
                keys = np.concatenate(band_keys)
                wins = np.concatenate(band_wins)
                order = np.lexsort((wins, keys))
                db.executemany(
                    "INSERT OR IGNORE INTO bands (key, win) VALUES (?, ?)",
                    zip(keys[order].tolist(), wins[order].tolist(), strict=False),
                )
        return new_ids

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(keys) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        rows = self._query(
            "SELECT key, win FROM bands WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(np.unique(keys).tolist()),),
        )
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        arr = np.array(rows, dtype=np.int64)
        return arr[:, 0], arr[:, 1]

    def counts(self) -> tuple[int, int]:
        row = self._query("SELECT COUNT(*), COALESCE(SUM(windows), 0) FROM documents")[0]
        return int(row[0]), int(row[1])

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.location + suffix)
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
        for doc_id, channel, ids, lines in self._query(
            "SELECT doc_id, channel, ids, lines FROM channels"
        ):
            try:
                if len(ids) % 4 or len(unpack_increasing(lines)) != len(ids) // 4:
                    problems.append(f"document {doc_id} channel {channel}: tokens and lines differ")
            except (zlib.error, ValueError):
                problems.append(f"document {doc_id} channel {channel}: undecodable lines")
        expected = dict(self._query("SELECT id, windows FROM documents"))
        found = dict(self._query(f"SELECT win >> {DOC_SHIFT}, COUNT(*) FROM bands GROUP BY 1"))
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
