"""index: normalized documents -> keyed token ids, window sketches and LSH keys in a store.

The index describes itself: its manifest records the ipguard version, the
normalizer version and every sketch parameter, and an index written with
another configuration is refused rather than silently mis-read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ._version import __version__
from .config import NORMALIZER_VERSION, IndexConfig
from .errors import (
    IndexConfigMismatchError,
    IndexConflictError,
    IndexCorruptError,
    LimitExceededError,
)
from .model import CHANNELS, Channel, Document, NormalizedDocument, TokenStream
from .sketch import TokenHasher, band_keys, sketch_windows
from .stores import (
    MAX_CHANNEL_TOKENS,
    ChannelRecord,
    DocumentInfo,
    DocumentRecord,
    PackedLines,
    Removal,
    Store,
    StoreConflict,
    open_store,
    unpack_window_ids,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 7
#: Attempts at a batch that concurrent writers keep invalidating.
WRITE_ATTEMPTS = 8


def content_hash(text: str) -> str:
    """Stable hash of a document's text, to skip re-indexing unchanged inputs."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True, eq=False)
class QueryChannel:
    """A channel of an output ready for lookup and verification."""

    channel: Channel
    ids: np.ndarray
    spans: np.ndarray
    starts: np.ndarray
    keys: np.ndarray


@dataclass(frozen=True, eq=False)
class Candidates:
    """Protected windows whose LSH keys an output's windows share."""

    channel: Channel
    query_starts: np.ndarray  # first token of the query window
    doc_ids: np.ndarray
    protected_starts: np.ndarray  # first token of the protected window
    band_hits: np.ndarray  # LSH bands the two windows share (a rough similarity)


def _newlines(text: str) -> np.ndarray:
    """Character offsets of a text's newlines.

    ASCII text (most of it) is read as bytes, not as UTF-32, which made four
    times as many.
    """
    if text.isascii():
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        raw = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return np.flatnonzero(raw == 10)


def _token_lines(newlines: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """1-based line of each token's first character, given the text's `_newlines`."""
    return (np.searchsorted(newlines, spans[:, 0], side="right") + 1).astype(np.uint32)


def stream_ids(hasher: TokenHasher, stream: TokenStream) -> np.ndarray:
    """Token ids of a channel's stream (from its bytes when it has them)."""
    if stream.folded is not None:
        return hasher.ascii_ids(stream.channel, stream.folded, stream.spans)
    return hasher.ids(stream.channel, stream.tokens)


def window_keys(
    config: IndexConfig, channel: Channel, ids: np.ndarray, *, query: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and LSH band keys of a channel's token ids."""
    sketches = sketch_windows(
        ids, config.channel(channel), num_perm=config.num_perm, seed=config.seed, query=query
    )
    bands, rows = config.bands_rows
    return sketches.starts, band_keys(sketches.signatures, bands, rows)


def prepare_document(
    doc: Document,
    normalized: NormalizedDocument,
    config: IndexConfig,
    hasher: TokenHasher,
    *,
    max_tokens: int = MAX_CHANNEL_TOKENS,
) -> DocumentRecord:
    """Token ids, lines, window sketches and LSH keys of one document."""
    channels = []
    newlines: np.ndarray | None = None  # found once for both channels
    limit = min(max_tokens, MAX_CHANNEL_TOKENS)
    for name in CHANNELS:
        stream = normalized.channel(name)
        if len(stream) == 0:
            continue
        if len(stream) > limit:
            raise LimitExceededError(
                f"{len(stream)} {name} tokens exceed the limit of {limit} per document "
                "(max_tokens)",
                limit="max_tokens",
            )
        ids = stream_ids(hasher, stream)
        starts, keys = window_keys(config, name, ids, query=False)
        if newlines is None:
            newlines = _newlines(doc.text)
        lines = PackedLines.of(_token_lines(newlines, stream.spans))
        channels.append(ChannelRecord(name, ids, lines, starts, keys))
    return DocumentRecord(
        source=doc.source,
        source_name=doc.source_name,
        path=doc.path,
        license=doc.license,
        kind=doc.kind,
        language=doc.language,
        content_hash=content_hash(doc.text),
        size=len(doc.text.encode("utf-8", "surrogatepass")),
        channels=tuple(channels),
        role=doc.role,
        stamp=doc.stamp,
    )


#: (output window, protected window, band) triples past which a check keeps
#: only `KEY_WINDOWS_PER_DOCUMENT` windows of a document per key, and if that
#: is not enough, the pairs of the documents sharing most keys with the output
#: up to this many (`_best_documents_first`): a check's memory is bounded
#: whatever the index holds. An output of 30 repeated lines checked against a
#: file of 6,000 such lines (a generated table: every window alike) made 5 M
#: of them: 2.5 s and 680 MB for one check of 1.3 KB. W2 and the accuracy
#: benchmark never come near it. 2^18 let 2 KB of a generated table or of
#: minified code checked against lodash, ramda and rxjs (160 K windows) take
#: 15-20 ms, sorting the triples; at 2^16 the p99 of 300 such JavaScript
#: outputs went 14.9 -> 9.9 ms with the same verdicts, and the accuracy
#: benchmark's report stayed the same.
MAX_CANDIDATE_PAIRS = 1 << 16
#: A document's windows per key kept then: the first ones (lowest token
#: offsets); verification extends a match along the repetition from them.
KEY_WINDOWS_PER_DOCUMENT = 32
#: Protected windows a check looks up, spread over its distinct keys, each key
#: getting at least `MIN_WINDOWS_PER_KEY` (the store picks which). A licence
#: header in each of 20,000 files gave each of its band keys 20,000 windows:
#: checking an output that quoted it looked up 5.6 M pairs, 2.9 s and 800 MB.
#: Chosen on the accuracy benchmark (`--no-peers`, one index key): since the
#: triple budget is 2^16 (`MAX_CANDIDATE_PAIRS`), 2^16 and 2^17 windows catch
#: every copy 2^18 does and block one novel snippet fewer (10 of 2,336); at
#: 2^15 and 2^14 two edited copies are missed. 2^18 -> 2^16: W5 p50 23 ->
#: 11 ms, p99 37-40 -> 19-22 ms (its verdicts the same); 400 outputs against
#: libstdc++'s headers, p99 36-39 -> 17-18 ms, the slow ones quoting the
#: licence notice 700 of them share; W2 the same actions but 5 of its 800
#: novel outputs no longer flagged. Against lodash, ramda and rxjs, of 240
#: pieces of npm's own code one TypeScript-emitted getter is now blocked
#: (fewer of the files sharing that pattern are seen) and one helper no
#: longer flagged; 2^17 changed none of those, W5 p50 16 ms. (Session 16
#: chose 2^18 when 2^16 raised the false-positive rate, with a larger
#: triple budget.)
LOOKUP_WINDOWS = 1 << 16
MIN_WINDOWS_PER_KEY = 32


def _best_documents_first(
    keys: np.ndarray, wins: np.ndarray, counts: np.ndarray, budget: int
) -> np.ndarray:
    """Which looked-up pairs to keep so that they make at most `budget` triples.

    `counts[i]` is how many output windows pair `i`'s key has. Documents
    sharing the most distinct keys with the output come first: a copy's
    source shares many, a file that merely holds the same boilerplate as a
    thousand others shares that boilerplate's few. Their pairs are kept
    until the budget is spent (the last document's, key by key).
    """
    keep = np.zeros(len(keys), dtype=bool)
    live = np.flatnonzero(counts > 0)
    if len(live) == 0:
        return keep
    docs = unpack_window_ids(wins[live])[0]
    if _in_key_window_order(keys[live], wins[live]):
        # As `_few_per_document` leaves them: each (key, document) group lies
        # together, so documents' distinct keys are counted, and the pairs
        # ranked, without sorting by two columns (two lexsorts were most of
        # a W5 check's bounding).
        doc_ids = np.sort(docs)
        doc_ids = doc_ids[np.concatenate(([True], doc_ids[1:] != doc_ids[:-1]))]
        dense = np.searchsorted(doc_ids, docs)
        new_pair = np.ones(len(live), dtype=bool)
        new_pair[1:] = (keys[live][1:] != keys[live][:-1]) | (docs[1:] != docs[:-1])
        distinct = np.bincount(dense[new_pair], minlength=len(doc_ids))
        pair_rank = _ranks(doc_ids, distinct)[dense]
        # Stable: within a rank the pairs keep their (key, window) order. A
        # rank that fits 16 bits is sorted by numpy's radix sort.
        narrow = pair_rank.astype(np.uint16) if len(doc_ids) <= 1 << 16 else pair_rank
        by_rank = np.argsort(narrow, kind="stable")
    else:
        by_doc_key = np.lexsort((keys[live], docs))
        sorted_docs, sorted_keys = docs[by_doc_key], keys[live][by_doc_key]
        new_key = np.ones(len(live), dtype=bool)
        new_key[1:] = (sorted_docs[1:] != sorted_docs[:-1]) | (sorted_keys[1:] != sorted_keys[:-1])
        first_at = np.flatnonzero(np.concatenate(([True], sorted_docs[1:] != sorted_docs[:-1])))
        doc_ids = sorted_docs[first_at]
        distinct = np.add.reduceat(new_key.astype(np.int64), first_at)
        pair_rank = _ranks(doc_ids, distinct)[np.searchsorted(doc_ids, docs)]
        by_rank = np.lexsort((wins[live], keys[live], pair_rank))
    in_order = live[by_rank]
    spent = np.cumsum(counts[in_order])
    keep[in_order[spent <= budget]] = True
    return keep


def _ranks(doc_ids: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Each document's place: most distinct keys first, then lowest id."""
    rank = np.empty(len(doc_ids), dtype=np.int64)
    rank[np.lexsort((doc_ids, -distinct))] = np.arange(len(doc_ids))
    return rank


def _in_key_window_order(keys: np.ndarray, wins: np.ndarray) -> bool:
    """Whether the pairs are ordered by key, then window."""
    return bool(
        np.all((keys[1:] > keys[:-1]) | ((keys[1:] == keys[:-1]) & (wins[1:] >= wins[:-1])))
    )


def _by_key_then_window(keys: np.ndarray, wins: np.ndarray) -> np.ndarray:
    """The order of (key, window) pairs, as `np.lexsort((wins, keys))` gives it.

    A store returns each key's windows together and in ascending order, so a
    stable sort by key alone is nearly always that order, and checking it is
    one pass: 0.2 ms against 5.7 ms for the 140 K pairs of a W5 check.
    """
    order = np.argsort(keys, kind="stable")
    if _in_key_window_order(keys[order], wins[order]):
        return order
    return np.lexsort((wins, keys))


def _few_per_document(keys: np.ndarray, wins: np.ndarray) -> np.ndarray:
    """Which looked-up pairs to keep, in (key, window) order: a document's first windows per key.

    Indices, not the pairs: the caller takes its other columns (the output
    windows each key has) through them, where finding them again cost two
    searches of every pair.
    """
    by_key = _by_key_then_window(keys, wins)
    keys, wins = keys[by_key], wins[by_key]
    docs = unpack_window_ids(wins)[0]
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = (keys[1:] != keys[:-1]) | (docs[1:] != docs[:-1])
    group_start = np.flatnonzero(starts)
    rank = np.arange(len(keys)) - np.repeat(group_start, np.diff(np.append(group_start, len(keys))))
    return by_key[rank < KEY_WINDOWS_PER_DOCUMENT]


class Index:
    """An open index: configuration, token key and store.

    >>> import tempfile, os
    >>> from ipguard.normalize import normalize
    >>> path = os.path.join(tempfile.mkdtemp(), "doc.ipguard.db")
    >>> index = Index.open(path, create=True)
    >>> index.stats_counts()
    (0, 0)
    >>> index.close()
    """

    def __init__(self, store: Store, config: IndexConfig, key: bytes) -> None:
        self.store = store
        self.config = config
        self.hasher = TokenHasher(key)

    @classmethod
    def open(
        cls, location: str, *, create: bool = False, config: IndexConfig | None = None
    ) -> Index:
        """Open (or with `create`, make) the index at `location`.

        An existing index keeps its own configuration; passing a `config` that
        differs from it raises `IndexConfigMismatchError`.
        """
        store = open_store(location, create=create)
        try:
            meta = store.read_meta()
            if not meta:
                if not create:
                    raise IndexCorruptError(f"{location} holds no ipguard index manifest")
                config = config or IndexConfig()
                key = secrets.token_bytes(32)
                store.write_meta(
                    {
                        "format_version": str(FORMAT_VERSION),
                        "config": json.dumps(config.to_record(), sort_keys=True),
                        "token_key": key.hex(),
                    }
                )
                return cls(store, config, key)
            stored_config, key = cls._check_manifest(location, meta, config)
            return cls(store, stored_config, key)
        except BaseException:
            store.close()
            raise

    @staticmethod
    def _check_manifest(
        location: str, meta: dict[str, str], wanted: IndexConfig | None
    ) -> tuple[IndexConfig, bytes]:
        try:
            fmt = int(meta["format_version"])
            record = json.loads(meta["config"])
            key = bytes.fromhex(meta["token_key"])
        except (KeyError, ValueError) as exc:
            raise IndexCorruptError(f"{location}: damaged index manifest ({exc})") from exc
        if fmt != FORMAT_VERSION:
            raise IndexConfigMismatchError(
                f"{location} has index format {fmt}; this ipguard ({__version__}) reads format "
                f"{FORMAT_VERSION}: rebuild the index"
            )
        if record.get("normalizer_version") != NORMALIZER_VERSION:
            raise IndexConfigMismatchError(
                f"{location} was built by ipguard {record.get('ipguard_version')} with normalizer "
                f"version {record.get('normalizer_version')}; this ipguard uses "
                f"{NORMALIZER_VERSION}: rebuild the index"
            )
        try:
            stored = IndexConfig.from_record(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"{location}: damaged index configuration ({exc})") from exc
        if wanted is not None:
            mine = wanted.to_record()
            differing = sorted(
                k for k in mine if k != "ipguard_version" and mine.get(k) != record.get(k)
            )
            if differing:
                raise IndexConfigMismatchError(
                    f"{location} was built with another configuration (differs in "
                    f"{', '.join(differing)}): use the index's own settings or rebuild it"
                )
        return stored, key

    # -- building ---------------------------------------------------------

    def prepare(
        self, doc: Document, normalized: NormalizedDocument, *, max_tokens: int = MAX_CHANNEL_TOKENS
    ) -> DocumentRecord:
        """Token ids, lines, window sketches and LSH keys of one document."""
        return prepare_document(doc, normalized, self.config, self.hasher, max_tokens=max_tokens)

    def _window_keys(
        self, channel: Channel, ids: np.ndarray, *, query: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        return window_keys(self.config, channel, ids, query=query)

    def removal(self, info: DocumentInfo) -> Removal:
        """What must be deleted to remove a stored document without a trace."""
        channels = []
        for name in CHANNELS:
            loaded = self.store.load_channel(info.doc_id, name)
            if loaded is None:
                continue
            ids, lines = loaded
            starts, keys = self._window_keys(name, ids, query=False)
            channels.append(ChannelRecord(name, ids, lines, starts, keys))
        return Removal(info.doc_id, tuple(channels))

    def write(
        self,
        adds: Sequence[DocumentRecord],
        removes: Sequence[DocumentInfo],
        *,
        last: bool = False,
    ) -> list[int]:
        """Apply one batch (removals, then additions) in one transaction.

        `last` says no write of this indexing run (`bulk`) follows, so the
        store writes the batch as lookups want it, not for a merge to come.

        When another writer indexed one of the batch's sources meanwhile, the
        documents to replace are read again and the batch retried, so a source
        never ends up with two documents.
        """
        removals = [self.removal(info) for info in removes]
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return self.store.write(adds, removals, last=last)
            except StoreConflict:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise IndexConflictError(
                        "the index kept changing under this batch; try again"
                    ) from None
                current = {r.doc_id: r for r in removals}
                for doc in adds:
                    info = self.store.document_by_source(doc.source)
                    if info is not None and info.doc_id not in current:
                        current[info.doc_id] = self.removal(info)
                removals = list(current.values())
        raise AssertionError("unreachable")

    # -- querying ---------------------------------------------------------

    def query_channels(self, normalized: NormalizedDocument) -> list[QueryChannel]:
        """Token ids and query-stride LSH keys of an output's channels."""
        out = []
        for name in CHANNELS:
            stream = normalized.channel(name)
            if len(stream) == 0:
                continue
            ids = stream_ids(self.hasher, stream)
            starts, keys = self._window_keys(name, ids, query=True)
            out.append(QueryChannel(name, ids, stream.spans, starts, keys))
        return out

    def candidates(self, channels: Sequence[QueryChannel]) -> list[Candidates]:
        """Protected windows sharing an LSH key with the output: one batched lookup."""
        if not channels:
            return []
        all_keys = np.concatenate([c.keys.ravel() for c in channels])
        ordered = np.sort(all_keys)  # not np.unique: it imports numpy.ma (16 ms cold)
        distinct = 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
        per_key = max(MIN_WINDOWS_PER_KEY, LOOKUP_WINDOWS // distinct)
        every_key, every_win = self.store.lookup(all_keys, per_key)
        if len(every_key) == 0:
            return []
        out = []
        for ch in channels:
            if ch.keys.size == 0:
                continue
            bands = ch.keys.shape[1]
            flat = ch.keys.ravel()
            order = np.argsort(flat, kind="stable")
            sorted_keys = flat[order]
            found_keys, found_wins = every_key, every_win
            left = np.searchsorted(sorted_keys, found_keys, side="left")
            right = np.searchsorted(sorted_keys, found_keys, side="right")
            counts = right - left
            total = int(counts.sum())
            if total > MAX_CANDIDATE_PAIRS:
                few = _few_per_document(found_keys, found_wins)
                found_keys, found_wins = found_keys[few], found_wins[few]
                left, right, counts = left[few], right[few], counts[few]
                total = int(counts.sum())
            if total > MAX_CANDIDATE_PAIRS:  # many documents share keys with the output
                keep = _best_documents_first(found_keys, found_wins, counts, MAX_CANDIDATE_PAIRS)
                found_keys, found_wins = found_keys[keep], found_wins[keep]
                left, right, counts = left[keep], right[keep], counts[keep]
                total = int(counts.sum())
            if total == 0:
                continue
            # every (query window, protected window) pair that shares a key
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            query_windows = order[np.repeat(left, counts) + offsets] // bands
            windows = np.repeat(found_wins, counts)
            by_pair = np.lexsort((query_windows, windows))
            query_windows, windows = query_windows[by_pair], windows[by_pair]
            first = np.ones(len(windows), dtype=bool)  # one row per pair, counting its bands
            first[1:] = (np.diff(windows) != 0) | (np.diff(query_windows) != 0)
            hits = np.diff(np.append(np.flatnonzero(first), len(first)))
            query_windows, windows = query_windows[first], windows[first]
            doc_ids, chan_codes, p_starts = unpack_window_ids(windows)
            same = chan_codes == (0 if ch.channel == "code" else 1)
            out.append(
                Candidates(
                    ch.channel,
                    ch.starts[query_windows[same]],
                    doc_ids[same],
                    p_starts[same],
                    hits[same],
                )
            )
        return out

    def compact(self) -> None:
        """Reorganise the store for lookups; `bulk` calls it at the end of a run."""
        self.store.compact()

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Writes of one indexing run: segments are merged once, at its end."""
        outer = self.store.bulk
        self.store.bulk = True
        try:
            yield
        finally:
            self.store.bulk = outer
        if not outer:
            self.compact()  # not after a failure: the next run compacts

    def stats_counts(self) -> tuple[int, int]:
        """(documents, windows) in the index."""
        return self.store.counts()

    def close(self) -> None:
        self.store.close()
