"""A shared index in Redis: many generation workers and machines, one index.

Every batch of documents is one MULTI/EXEC transaction (removals included),
guarded by WATCH on the source table so that concurrent indexers never leave
two documents for one source; a reader looks up its keys in scripts, in one round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import numpy as np

from ..errors import IndexCorruptError, IndexNotFoundError, IpguardError
from . import (
    CHANNEL_CODES,
    DOC_SHIFT,
    PART_TOKENS,
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
    parted,
    split_parts,
    window_ids,
)

log = logging.getLogger(__name__)

_FIELDS = (
    "source",
    "source_name",
    "path",
    "license",
    "kind",
    "language",
    "content_hash",
    "size",
    "windows",
)


#: HSET stamp on a document hash only when the document is still stored.
_SET_IF_STORED = (
    "if redis.call('HEXISTS', KEYS[1], 'source') == 1 then "
    "redis.call('HSET', KEYS[1], 'stamp', ARGV[1]) end"
)


#: Each band key's windows, at most ARGV[1] of them, in one call for all keys.
#: A larger set gives the members of its first hash buckets (SSCAN from the
#: start: the same ones while the set is unchanged); SORT .. LIMIT took 8 ms
#: for a set of 20,000 windows where SSCAN took 0.5 ms.
_FIRST_MEMBERS = """
local limit = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
    if redis.call('SCARD', key) > limit then
        local some = redis.call('SSCAN', key, 0, 'COUNT', limit)[2]
        local kept = {}
        for j = 1, math.min(limit, #some) do kept[j] = some[j] end
        out[i] = kept
    else
        out[i] = redis.call('SMEMBERS', key)
    end
end
return out
"""
#: The limit that keeps every window (a set holds fewer).
_NO_LIMIT = 1 << 53
#: Keys one lookup script reads (a 2 KB output has about 1,000).
LOOKUP_KEYS_PER_CALL = 4096


class IndexUnavailableError(IpguardError):
    """The index server cannot be reached."""


def _redis():  # type: ignore[no-untyped-def]
    try:
        import redis
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise IpguardError(
            "a redis:// index needs the redis extra: pip install 'ipguard[redis]'"
        ) from exc
    return redis


class RedisStore:
    """`Store` over a Redis server: `redis://host:port/db?prefix=NAME`."""

    def __init__(self, url: str, *, create: bool) -> None:
        self.bulk = False  # Redis sets are looked up directly: nothing to defer
        redis = _redis()
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        self.prefix = (query.pop("prefix", ["ipguard"]) or ["ipguard"])[0]
        clean = urlunparse(parsed._replace(query=urlencode(query, doseq=True)))
        # The location shown in reports and errors never carries the password.
        netloc = parsed.hostname or ""
        if parsed.port:
            netloc = f"{netloc}:{parsed.port}"
        self.location = urlunparse(parsed._replace(netloc=netloc, query=f"prefix={self.prefix}"))
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._watch_error = redis.exceptions.WatchError
        try:
            self._r = redis.Redis.from_url(clean, socket_timeout=30, socket_connect_timeout=5)
            self._first_members = self._r.register_script(_FIRST_MEMBERS)
            exists = bool(self._r.exists(self._k("meta")))
        except self._errors as exc:
            raise IndexUnavailableError(f"cannot reach Redis at {self.location}: {exc}") from exc
        except redis.exceptions.RedisError as exc:
            raise IndexCorruptError(f"{self.location}: {exc}") from exc
        if not exists and not create:
            raise IndexNotFoundError(f"no index at {self.location}")

    def _k(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    def _call(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except self._errors as exc:
            raise IndexUnavailableError(f"lost Redis at {self.location}: {exc}") from exc

    def read_meta(self) -> dict[str, str]:
        raw = self._call(self._r.hgetall, self._k("meta"))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def write_meta(self, meta: dict[str, str]) -> None:
        # HSETNX per field: two processes creating one index agree on one manifest.
        pipe = self._r.pipeline(transaction=True)
        for key, value in meta.items():
            pipe.hsetnx(self._k("meta"), key, value)
        self._call(pipe.execute)

    def _info(self, doc_id: int, raw: dict[bytes, bytes]) -> DocumentInfo | None:
        if not raw:
            return None
        d = {k.decode(): v.decode() for k, v in raw.items()}
        return DocumentInfo(
            doc_id=doc_id,
            source=d["source"],
            source_name=d.get("source_name") or None,
            path=d.get("path") or None,
            license=d.get("license") or None,
            content_hash=d["content_hash"],
            windows=int(d["windows"]),
            role=d.get("role") or "protected",
            stamp=d.get("stamp") or None,
        )

    def document_by_source(self, source: str) -> DocumentInfo | None:
        doc_id = self._call(self._r.hget, self._k("sources"), source)
        if doc_id is None:
            return None
        return self.documents([int(doc_id)]).get(int(doc_id))

    def documents_by_name(self, source_name: str) -> list[DocumentInfo]:
        ids = sorted(int(i) for i in self._call(self._r.smembers, self._k("names", source_name)))
        found = self.documents(ids)
        return [found[i] for i in ids if i in found]

    def documents(self, doc_ids: Sequence[int]) -> dict[int, DocumentInfo]:
        pipe = self._r.pipeline(transaction=False)
        for doc_id in doc_ids:
            pipe.hgetall(self._k("doc", doc_id))
        out = {}
        for doc_id, raw in zip(doc_ids, self._call(pipe.execute), strict=True):
            info = self._info(int(doc_id), raw)
            if info is not None:
                out[int(doc_id)] = info
        return out

    def load_channel(self, doc_id: int, channel: str) -> tuple[np.ndarray, PackedLines] | None:
        loaded = self.load_channels([doc_id], channel).get(doc_id)
        return None if loaded is None else as_whole(loaded)

    def load_channels(
        self, doc_ids: Sequence[int], channel: str
    ) -> dict[int, tuple[StoredIds, StoredLines]]:
        # A long channel's first part only: the others are read as a check
        # asks for them (see `PART_TOKENS`).
        fields = [f"{channel}:{f}" for f in ("ids", "lines", "tokens", "ids:0", "lines:0")]
        with self._r.pipeline(transaction=False) as pipe:
            for doc_id in doc_ids:
                pipe.hmget(self._k("ch", doc_id), fields)
            replies = self._call(pipe.execute)
        out: dict[int, tuple[StoredIds, StoredLines]] = {}
        for doc_id, (ids, lines, tokens, first_ids, first_lines) in zip(
            doc_ids, replies, strict=True
        ):
            what = f"{self.location}: document {doc_id}"
            if ids is not None and lines is not None:
                if len(ids) % 4:
                    raise IndexCorruptError(f"{what} is damaged")
                out[int(doc_id)] = (np.frombuffer(ids, dtype="<u4"), PackedLines(lines, what))
            elif tokens is not None:
                if first_ids is None or first_lines is None:
                    raise IndexCorruptError(f"{what} is damaged (part 0 is missing)")
                read = self._part_reader(int(doc_id), channel)
                out[int(doc_id)] = parted(int(tokens), read, what, (first_ids, first_lines))
        return out

    def _part_reader(self, doc_id: int, channel: str) -> PartReader:
        """Reads parts of one stored channel (see `PartedIds`)."""

        def read(parts: Sequence[int]) -> list[tuple[int, bytes, bytes]]:
            fields = [f"{channel}:{f}:{p}" for p in parts for f in ("ids", "lines")]
            values = self._call(self._r.hmget, self._k("ch", doc_id), fields)
            rows = [
                (p, values[2 * i], values[2 * i + 1])
                for i, p in enumerate(parts)
                if values[2 * i] is not None and values[2 * i + 1] is not None
            ]
            # Ids are never reused here: a document gone is one removed or replaced.
            if len(rows) < len(parts) and not self._call(self._r.exists, self._k("doc", doc_id)):
                raise DocumentGone(f"document {doc_id} was removed or replaced")
            return rows

        return read

    def write(
        self, adds: Sequence[DocumentRecord], removes: Sequence[Removal], *, last: bool = False
    ) -> list[int]:
        sources_key = self._k("sources")
        removed_ids = {r.doc_id for r in removes}
        new_ids: list[int] = []
        if adds:
            last = int(self._call(self._r.incrby, self._k("next_id"), len(adds)))
            new_ids = list(range(last - len(adds) + 1, last + 1))
        with self._r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(sources_key)
                if adds:
                    current = pipe.hmget(sources_key, [d.source for d in adds])
                    for doc, existing in zip(adds, current, strict=True):
                        if existing is not None and int(existing) not in removed_ids:
                            raise StoreConflict(f"{doc.source} was indexed concurrently")
                removed_info = self.documents(sorted(removed_ids))
                pipe.multi()
                for removal in removes:
                    info = removed_info.get(removal.doc_id)
                    for ch in removal.channels:
                        wins = window_ids(removal.doc_id, ch.channel, ch.starts).tolist()
                        for row, win in zip(ch.keys.tolist(), wins, strict=True):
                            for key in row:
                                pipe.srem(self._k("b", key), win)
                    pipe.delete(self._k("ch", removal.doc_id), self._k("doc", removal.doc_id))
                    if info is not None:
                        pipe.hdel(sources_key, info.source)
                        if info.source_name:
                            pipe.srem(self._k("names", info.source_name), removal.doc_id)
                        pipe.hincrby(self._k("stats"), "documents", -1)
                        pipe.hincrby(self._k("stats"), "windows", -info.windows)
                for doc_id, doc in zip(new_ids, adds, strict=True):
                    fields = {
                        "source": doc.source,
                        "source_name": doc.source_name or "",
                        "path": doc.path or "",
                        "license": doc.license or "",
                        "kind": doc.kind,
                        "language": doc.language or "",
                        "content_hash": doc.content_hash,
                        "size": doc.size,
                        "windows": doc.windows,
                        "role": doc.role,
                        "stamp": doc.stamp or "",
                    }
                    pipe.hset(self._k("doc", doc_id), mapping=fields)
                    channels: dict[str, bytes] = {}
                    for ch in doc.channels:
                        parts = split_parts(ch.ids, ch.lines)
                        if len(parts) == 1:
                            channels[f"{ch.channel}:ids"], channels[f"{ch.channel}:lines"] = parts[
                                0
                            ]
                        else:  # read a part at a time (see `PART_TOKENS`)
                            channels[f"{ch.channel}:tokens"] = str(len(ch.ids)).encode()
                            for p, (part_ids, part_lines) in enumerate(parts):
                                channels[f"{ch.channel}:ids:{p}"] = part_ids
                                channels[f"{ch.channel}:lines:{p}"] = part_lines
                        wins = window_ids(doc_id, ch.channel, ch.starts).tolist()
                        for row, win in zip(ch.keys.tolist(), wins, strict=True):
                            for key in row:
                                pipe.sadd(self._k("b", key), win)
                    if channels:
                        pipe.hset(self._k("ch", doc_id), mapping=channels)
                    pipe.hset(sources_key, doc.source, doc_id)
                    if doc.source_name:
                        pipe.sadd(self._k("names", doc.source_name), doc_id)
                    pipe.hincrby(self._k("stats"), "documents", 1)
                    pipe.hincrby(self._k("stats"), "windows", doc.windows)
                self._call(pipe.execute)
            except self._watch_error as exc:
                raise StoreConflict("the index changed during the write") from exc
        return new_ids

    def lookup(self, keys: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        unique = np.unique(keys).tolist()
        if not unique:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        # A script for many keys at once: a pipeline of SMEMBERS took 10-11 ms
        # at the median for 300 code outputs where this took 6.6-8.4 ms. A
        # large output's keys go in several, so that none holds the server long.
        names = [self._k("b", key) for key in unique]
        pipe = self._r.pipeline(transaction=False)
        for start in range(0, len(names), LOOKUP_KEYS_PER_CALL):
            self._first_members(
                keys=names[start : start + LOOKUP_KEYS_PER_CALL],
                args=[_NO_LIMIT if limit is None else limit],
                client=pipe,
            )
        answers = [members for part in self._call(pipe.execute) for members in part]
        found_keys: list[int] = []
        found_wins: list[int] = []
        for key, members in zip(unique, answers, strict=True):
            for win in members:
                found_keys.append(key)
                found_wins.append(int(win))
        return np.array(found_keys, dtype=np.int64), np.array(found_wins, dtype=np.int64)

    def compact(self) -> None:
        """Nothing to do: Redis sets are looked up directly."""

    def update_stamps(self, stamps: Sequence[tuple[int, str]]) -> None:
        # Only documents that still exist: another writer may have removed one.
        pipe = self._r.pipeline(transaction=False)
        for doc_id, stamp in stamps:
            pipe.eval(_SET_IF_STORED, 1, self._k("doc", doc_id), stamp)
        self._call(pipe.execute)

    def counts(self) -> tuple[int, int]:
        documents, windows = self._call(self._r.hmget, self._k("stats"), "documents", "windows")
        return int(documents or 0), int(windows or 0)

    def size_bytes(self) -> int:
        info = self._call(self._r.info, "memory")
        return int(info.get("used_memory_dataset", info.get("used_memory", 0)))

    def integrity_problems(self, bands: int) -> list[str]:
        """The index's invariants over every key of this prefix: whole documents only."""
        problems: list[str] = []
        sources = {
            int(v): k.decode() for k, v in self._call(self._r.hgetall, self._k("sources")).items()
        }
        docs = self.documents(sorted(sources))
        for doc_id, source in sources.items():
            info = docs.get(doc_id)
            if info is None:
                problems.append(f"source {source} names a missing document {doc_id}")
            elif info.source != source:
                problems.append(f"document {doc_id} is filed under another source")
        band_rows: dict[int, int] = {}
        # The members of a scan's batch of keys in one round trip: one each
        # took 5.3 s for a 37 K-token document's 100 K keys.
        cursor = 0
        while True:
            cursor, keys = self._call(self._r.scan, cursor, f"{self.prefix}:b:*", 1000)
            with self._r.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.smembers(key)
                members = self._call(pipe.execute)
            for wins in members:
                for win in wins:
                    doc_id = int(win) >> DOC_SHIFT
                    band_rows[doc_id] = band_rows.get(doc_id, 0) + 1
            if not cursor:
                break
        for doc_id, info in docs.items():
            if info.windows and band_rows.get(doc_id, 0) != info.windows * bands:
                problems.append(
                    f"document {doc_id}: {band_rows.get(doc_id, 0)} band rows, "
                    f"expected {info.windows * bands}"
                )
            if info.windows and not self._call(self._r.exists, self._k("ch", doc_id)):
                problems.append(f"document {doc_id} has windows but no tokens")
            problems += self._parts_problems(doc_id)
        for doc_id, rows in band_rows.items():
            if doc_id not in docs:
                problems.append(f"{rows} band rows of a missing document {doc_id}")
        documents, windows = self.counts()
        if documents != len(docs) or windows != sum(i.windows for i in docs.values()):
            problems.append("document and window counters disagree with the documents")
        return problems

    def _parts_problems(self, doc_id: int) -> list[str]:
        """Parts missing from a document's long channels, or of the wrong length."""
        key = self._k("ch", doc_id)
        fields = {f.decode() for f in self._call(self._r.hkeys, key)}
        problems = []
        for name in CHANNEL_CODES:
            if f"{name}:tokens" not in fields:
                continue
            tokens = int(self._call(self._r.hget, key, f"{name}:tokens"))
            expected = range(-(-tokens // PART_TOKENS))
            present = {f for f in fields if f.startswith(f"{name}:ids:")}
            if present != {f"{name}:ids:{p}" for p in expected} or any(
                f"{name}:lines:{p}" not in fields for p in expected
            ):
                problems.append(f"document {doc_id} channel {name}: parts missing or extra")
                continue
            with self._r.pipeline(transaction=False) as pipe:
                for p in expected:
                    pipe.hstrlen(key, f"{name}:ids:{p}")
                lengths = self._call(pipe.execute)
            if [int(n) for n in lengths] != [
                4 * min(PART_TOKENS, tokens - p * PART_TOKENS) for p in expected
            ]:
                problems.append(f"document {doc_id} channel {name}: parts of the wrong length")
        return problems

    def close(self) -> None:
        try:
            self._r.close()
        except Exception:  # closing must never raise over another error
            log.debug("closing %s failed", self.location, exc_info=True)
