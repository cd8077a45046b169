"""LSH postings in immutable segment files: a Bloom filter, a fence and sorted pairs.

A segment holds (band key, window id) pairs sorted by key. Looking up an
output's keys is three vectorised steps: the segment's Bloom filter drops
the keys it does not hold (most of a novel output's), a fence of each block's
first key (blocks of `BLOCK` pairs, more in very large segments) kept in
memory names the one block of pairs where each remaining key can be, and one
`pread` per key fetches it: the whole block, or, for many keys, the 64 pairs
around the place the block's bounds predict (`Segment._lookup_near`).

Why not a memory map of the pairs: this machine's kernel maps large page-cache
folios whole (2 MB per fault), so 256 random keys mapped half of a 1 M-window
segment into the checking process's RSS (369 MB peak, bench/speed.py W3),
whatever `madvise` said. Reads do not count in RSS; the filter, which is
mapped, is capped at `MAX_FILTER_BYTES` and the fence at `MAX_FENCE_KEYS`,
and the filters and fences of all of an index's segments together are held
within `MAX_LOOKUP_BYTES` (`fit_filters`), so RSS stays bounded however large
the index grows and however many segments it has.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

MAGIC = b"IPGSEG04"
#: Pairs per fence entry: one block is 4 KB, one page read per key.
BLOCK = 256
#: Fence keys a segment may hold; a segment that would need more has blocks
#: of 2, 4, ... times `BLOCK` pairs. The fence is read into the checking
#: process, 8 bytes per block: uncapped, it would take a checker past 150 MB
#: RSS at about 60 M windows (a 52 MB process, the 64 MB filter and 8 bytes
#: per 256 pairs). 1 M keys (8 MB) hold 256 M pairs, 12 M windows, at 4 KB.
MAX_FENCE_KEYS = 1 << 20
#: Pairs read around where a key's block bounds place it (1 KB); see
#: `Segment._lookup_near`.
NEAR_PAIRS = 64
#: Keys from which reads near a guess pay for guessing: its dozen numpy calls
#: cost more than they save for the few keys a novel output leaves at 1 M
#: windows (about 7; lookup p50 0.31-0.33 -> 0.34-0.48 ms when they guessed).
NEAR_KEYS = 32
#: The largest block a reader accepts (16 MB of pairs per read).
MAX_BLOCK = 1 << 20
#: Bloom filter bits per stored pair. Blocked in 64-bit words, 16 bits let
#: about 0.5% of absent keys through (measured at 1 K to 2 M pairs: 0.52% with
#: 4 probes, 0.41% with 6, 0.44% with 8): of a 2 KB output's ~2,000 keys about
#: 10 need a read for nothing. 4 probes: building costs half of 8's.
BITS_PER_PAIR = 16
MAX_PROBES = 4
#: Probes of the light filter of a segment that is soon merged (an indexing
#: run's batches): one probe lets 6% of absent keys through instead of 0.5%,
#: and builds 12x faster (672 k pairs: 7 ms against 83 ms). With no filter at
#: all, a check during a run read a block per key per segment: 31 ms p50
#: instead of 5 ms against the standard library's 11 batches.
LIGHT_PROBES = 1
#: The filter is mapped into the checking process; past this size (about 33 M
#: pairs, 1.6 M windows) it keeps the size and lets more false positives through.
MAX_FILTER_BYTES = 64 << 20
#: What the filters and fences of all of an index's segments may take in a
#: checking process (which is about 55 MB without them): more than one
#: segment's `MAX_FILTER_BYTES` and `MAX_FENCE_KEYS`, so that a small segment
#: beside a large one keeps some of its filter (see `fit_filters`).
MAX_LOOKUP_BYTES = 80 << 20
#: Filters larger than this are a multiple of it (512 words), so that
#: `fit_filters` can halve them nine times.
_FILTER_ROUND = 4096
#: Filter words read at once when a filter is loaded folded (8 MB).
_FOLD_CHUNK = 1 << 20
_PAIR = 16
_HEADER = struct.Struct("<8sQQQQQ")  # magic, pairs, block, fence keys, filter bytes, probes
_EMPTY = np.zeros(0, dtype=np.int64)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)
#: Filter bits of the probes in a 12-bit slice of a key's mix: the first
#: 6 bits' probe alone, then both 6-bit halves' (see `_word_masks`).
_PAIR_MASKS = (
    np.left_shift(np.uint64(1), np.arange(4096, dtype=np.uint64) >> np.uint64(6)),
    np.left_shift(np.uint64(1), np.arange(4096, dtype=np.uint64) >> np.uint64(6))
    | np.left_shift(np.uint64(1), np.arange(4096, dtype=np.uint64) & np.uint64(63)),
)


class SegmentError(Exception):
    """A segment file is missing, truncated or not a segment."""


def block_pairs(pairs: int) -> int:
    """Pairs per block of a segment of `pairs` pairs: `BLOCK`, doubled until the fence fits."""
    block = BLOCK
    while -(-pairs // block) > MAX_FENCE_KEYS and block < MAX_BLOCK:
        block *= 2
    return block


def _layout(pairs: int, fence: int, filter_bytes: int) -> tuple[int, int, int]:
    """Byte offsets of the filter and of the pairs (after the fence); the file size."""
    filter_at = _HEADER.size + 8 * fence
    pairs_at = filter_at + filter_bytes
    return filter_at, pairs_at, pairs_at + _PAIR * pairs


def _word_masks(keys: np.ndarray, words: int, probes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per key, the 64-bit word of the filter that holds its probes, and their bits in it.

    A blocked filter: one cache line (and one page) per key, where a classic
    one scattered eight probes over the whole filter and building it for 21 M
    pairs took 6 s of cache misses. Band keys are already mixed hashes: the
    word comes from a key's high half, the bits from 6-bit slices of one more
    multiply. One word and one mask per key: building or testing a filter is
    then one scatter or gather of words, where a bit each took four.
    """
    x = np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64)
    word = x >> np.uint64(32)
    word *= np.uint64(words)
    word >>= np.uint64(32)
    with np.errstate(over="ignore"):
        mixed = x * _MIX2
    if probes > 2 * len(_PAIR_MASKS):
        mask = np.zeros(len(x), dtype=np.uint64)
        bit = np.empty_like(mask)
        for probe in range(1, probes + 1):
            np.right_shift(mixed, np.uint64(64 - 6 * probe), out=bit)
            bit &= np.uint64(63)
            np.left_shift(np.uint64(1), bit, out=bit)
            mask |= bit
    else:
        # Two probes' slices at once, looked up: 12 bits index a table of
        # their two bits (32 KB, in cache). Marking 10.5 M sorted keys in
        # chunks of 16 K took 0.077 s so, 0.085 s a bit at a time.
        top = mixed >> np.uint64(52)
        mask = np.take(_PAIR_MASKS[min(probes, 2) - 1], top.view(np.int64))
        if probes > 2:
            mixed >>= np.uint64(40)
            mixed &= np.uint64(0xFFF)
            mask |= np.take(_PAIR_MASKS[probes - 3], mixed.view(np.int64))
    # int64 positions: numpy indexes with uint64 ten times slower.
    return word.view(np.int64), mask


def _filter_shape(pairs: int, max_probes: int = MAX_PROBES) -> tuple[int, int]:
    """(bytes, probes) of the filter for `pairs` pairs.

    Past `_FILTER_ROUND` bytes the size is a multiple of it, so that
    `fit_filters` may halve it several times. A full filter has at least
    two probes, a light one `LIGHT_PROBES`: readers tell them apart so.
    """
    size = min(MAX_FILTER_BYTES, max(8, math.ceil(BITS_PER_PAIR * pairs / 8)))
    unit = _FILTER_ROUND if size > _FILTER_ROUND else 8
    size = -(-size // unit) * unit
    probes = round(8 * size / max(pairs, 1) * math.log(2))
    return size, max(min(max_probes, LIGHT_PROBES + 1), min(max_probes, probes))


#: Keys a sort's tags and neighbour checks take at once (512 KB temporaries).
_TAG_CHUNK = 1 << 16
#: Pairs gathered into sorted order and written at once (16 MB).
_WRITE_CHUNK = 1 << 20
#: Keys whose words and masks are computed at once: their temporaries (128 KB
#: each) stay in the CPU's nearest caches. Marking 10.5 M sorted keys took
#: 0.18 s in chunks of 64 K, 0.08 s in chunks of 16 K and 0.10-0.12 s in
#: chunks of 4 K; chunks of 1 M keys were 2.3x slower than chunks of 64 K.
_MARK_CHUNK = 1 << 14
#: Pairs a merge reads, sorts and writes at once, per thread (64 MB of pairs;
#: with their order and sorted copy about 160 MB).
MERGE_CHUNK = 1 << 22
#: Pairs below which a segment is written by one thread even when more are
#: allowed: starting a second one costs more than half of the work.
_THREADED_PAIRS = 1 << 18


def _mark_sorted(words: np.ndarray, keys: np.ndarray, probes: int, shared: int) -> int:
    """Set the probe bits of sorted `keys` (all of one sign) in the filter `words`.

    Sorted keys of one sign have non-decreasing words, so the masks of each
    run of keys that share a word are ORed together first and every word is
    written once: 0.72 s for 21 M keys, where setting them in input order and
    setting again the bits that collided took 1.4-1.7 s. The bits for word
    `shared`, which keys of both signs may want, are returned, not set: the
    other sign's thread may be writing it.
    """
    bits = 0
    for at in range(0, len(keys), _MARK_CHUNK):
        word, mask = _word_masks(keys[at : at + _MARK_CHUNK], len(words), probes)
        runs = np.flatnonzero(np.concatenate(([True], word[1:] != word[:-1])))
        word, mask = word[runs], np.bitwise_or.reduceat(mask, runs)
        if word[0] == shared or word[-1] == shared:
            mine = word != shared
            bits |= int(np.bitwise_or.reduce(mask[~mine]))
            word, mask = word[mine], mask[mine]
        words[word] |= mask
    return bits


def _sorted_half(keys: np.ndarray, sign: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys of one sign (-1: negative) sorted, and their positions in `keys` in that order.

    Equal keys keep the order of their positions, as a stable argsort would.
    The keys come sorted by value and their positions from a sort of plain
    integers, the keys' high bits over their position: numpy sorts both with
    its vectorised sort, where a stable argsort of 2.7 M keys took 0.24 s,
    and nothing is gathered from the keys in random order (gathering the
    sorted keys through the permutation, and the pairs of keys sharing high
    bits, took more than the sorts; see `_fix_shared_high_bits`).
    """
    order = np.flatnonzero(keys < 0 if sign < 0 else keys >= 0)
    mine = keys[order]
    low = np.int64((1 << max(len(keys) - 1, 1).bit_length()) - 1)
    # The positions become the tagged values in place, a chunk at a time:
    # fresh memory is slow to fault in here (see tune_memory_for_indexing),
    # and a third array of the half's size cost more than the chunks' loop.
    scratch = np.empty(min(len(mine), _TAG_CHUNK), dtype=np.int64)
    for at in range(0, len(mine), _TAG_CHUNK):
        part = mine[at : at + _TAG_CHUNK]
        order[at : at + len(part)] |= np.bitwise_and(part, ~low, out=scratch[: len(part)])
    order.sort()
    order &= low
    mine.sort()
    # Neighbours that differ only in the low bits (their xor, of one sign, is
    # in 1..low) were ordered by position, not by key.
    links = []
    for at in range(0, len(mine) - 1, _TAG_CHUNK):
        part = mine[at + 1 : at + 1 + _TAG_CHUNK]
        apart = np.bitwise_xor(part, mine[at : at + len(part)], out=scratch[: len(part)])
        apart -= 1
        found = np.flatnonzero(apart.view(np.uint64) < np.uint64(low))
        if len(found):
            links.append(found + at)
    if links:
        _fix_shared_high_bits(keys, mine, order, low, np.concatenate(links))
    return mine, order


def _fix_shared_high_bits(
    keys: np.ndarray, ordered: np.ndarray, order: np.ndarray, low: np.int64, links: np.ndarray
) -> None:
    """Sort by key, stably, each group of keys that share their high bits but differ.

    Such a group is a range of the sorted keys, in position order in `order`.
    Random 64-bit keys have such groups from about a million keys on (10.5 M
    keys: about 50), a few keys each.
    """
    # Sorted and deduplicated by hand: `np.unique` imports `numpy.ma` on its
    # first call, 8 ms of a build's final write.
    high = np.sort(ordered[links] & ~low)
    high = high[np.concatenate(([True], high[1:] != high[:-1]))]
    starts = np.searchsorted(ordered, high, side="left").tolist()
    ends = np.searchsorted(ordered, high | low, side="right").tolist()
    for start, end in zip(starts, ends, strict=True):
        group = order[start:end]
        order[start:end] = group[np.argsort(keys[group], kind="stable")]


def _members(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which of `values` are in `sorted_set` (sorted, not empty), as `np.isin` says.

    `np.isin` calls `np.unique`, whose first plain call imports `numpy.ma`:
    16-18 ms of a cold `ipguard check`, for a lookup that needs none of it.
    """
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


#: Bytes given to one `pwrite`. Where the file system caches a file in large
#: folios (ext4 from Linux 6.16), a write of 2 MB or more gets 2 MB folios,
#: which on this project's benchmark machine (a virtual machine whose host
#: backs memory when it is first touched) are fresh memory: 336 MB written
#: 16 MB at a time took 0.70-0.88 s, 1 MB at a time 0.07-0.08 s (256 KB
#: 0.07 s, 4 KB 0.32 s), a new file each time, 6 s apart.
_PWRITE_PIECE = 1 << 20


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        done = os.pwrite(fd, data[:_PWRITE_PIECE], offset)
        data, offset = data[done:], offset + done


class _Half:
    """The pairs of one key sign: sorted, marked in the filter and written at their place.

    Negative keys sort first and fill the upper half of the filter's words,
    the others follow and fill the lower half, so two threads can each take
    a half without touching the other's bytes (but for one shared word).
    `chunks` yields the half's pairs in sorted order, as (n, 2) arrays.
    """

    def __init__(
        self, first: int, count: int, chunks: Callable[[], Iterator[np.ndarray]] | None
    ) -> None:
        # Pairs first..first + count of the segment; `chunks` None in a
        # subclass that has its own.
        self.first, self.count, self._chunks = first, count, chunks
        self.digest = 0
        self.fence = _EMPTY
        self.shared_bits = 0

    def chunks(self) -> Iterator[np.ndarray]:
        """The half's pairs in sorted order, as (n, 2) arrays."""
        assert self._chunks is not None
        return self._chunks()

    def write(
        self,
        fd: int,
        pairs_at: int,
        block: int,
        bloom: np.ndarray,
        probes: int,
        sync: _EarlySync | None = None,
        writing: threading.Lock | None = None,
        *,
        mark: bool = True,
    ) -> None:
        """Write this half and mark its keys in the filter `bloom` (unless not `mark`).

        `writing`, shared by the halves written at once, is held for each
        write: the file system lets one write into a file at a time, and a
        thread waiting in the kernel spun on its lock (`rwsem_spin_on_owner`,
        4-5% of a 10 M-window build's samples, CPU its indexing workers wanted)
        where a thread waiting here sleeps: that build 25.72 -> 25.15 s
        (medians of four, alternating).
        """
        shared = len(bloom) // 2
        fences = []
        at = self.first
        for pairs in self.chunks():
            # Fence keys are those at the whole segment's multiples of `block`.
            fences.append(pairs[(-at) % block :: block, 0].copy())
            view = memoryview(pairs).cast("B")
            self.digest = zlib.crc32(view, self.digest)
            with writing or contextlib.nullcontext():
                _pwrite_all(fd, view, pairs_at + _PAIR * at)
            if sync is not None:
                sync.written()
            if mark:
                self.shared_bits |= _mark_sorted(bloom, pairs[:, 0], probes, shared)
            at += len(pairs)
        if at != self.first + self.count:
            raise RuntimeError(f"a half of {self.count} pairs wrote {at - self.first}")
        self.fence = np.concatenate(fences) if fences else _EMPTY


class _KeysHalf(_Half):
    """A half of a new segment: the keys of one sign, sorted (`sort`) before they are written.

    Its sorted keys stay at hand, so that its filter bits can be set apart
    from its writing (see `_write_crossed`).
    """

    def __init__(
        self, first: int, count: int, keys: np.ndarray, sign: int, wins: np.ndarray, per: int
    ) -> None:
        # `chunks` is this class's method, not a bound method kept on the
        # instance: that reference cycle left each write's sorted arrays to
        # the garbage collector, and a 10 M-window build's peak RSS went from
        # 1.2 to 4.4 GB.
        super().__init__(first, count, None)
        self._keys, self._sign, self._wins, self._per = keys, sign, wins, per
        self.ordered: np.ndarray | None = None
        self._order = _EMPTY

    def sort(self) -> None:
        self.ordered, self._order = _sorted_half(self._keys, self._sign)

    def chunks(self) -> Iterator[np.ndarray]:
        if self.ordered is None:
            self.sort()
        assert self.ordered is not None
        return _gathered(self.ordered, self._order, self._wins, self._per)

    def mark(self, bloom: np.ndarray, probes: int) -> None:
        """Set this half's filter bits (it is sorted), as `write` would have."""
        assert self.ordered is not None
        self.shared_bits |= _mark_sorted(bloom, self.ordered, probes, len(bloom) // 2)


def _gathered(
    ordered: np.ndarray, order: np.ndarray, wins: np.ndarray, per: int
) -> Iterator[np.ndarray]:
    """Pairs in sorted order, `_WRITE_CHUNK` at a time, as (n, 2) arrays.

    `ordered` holds the sorted keys, `order` their positions; pair i's window
    is `wins[i // per]`.
    """
    size = min(_WRITE_CHUNK, len(order))
    chunk = np.empty((size, 2), dtype="<i8")
    at_window = np.empty(size, dtype=np.int64) if per > 1 else None
    for at in range(0, len(order), _WRITE_CHUNK):
        part = order[at : at + _WRITE_CHUNK]
        pairs = chunk[: len(part)]
        pairs[:, 0] = ordered[at : at + len(part)]
        if at_window is not None:
            part = np.floor_divide(part, per, out=at_window[: len(part)])
        # Gathered straight into the column: `pairs[:, 1] = wins[part]` made
        # and copied a temporary.
        np.take(wins, part, out=pairs[:, 1], mode="clip")
        yield pairs


def write_segment(
    path: str, keys: np.ndarray, wins: np.ndarray, *, light: bool = False, per: int = 1
) -> str:
    """Write pairs (sorted here) to a new file, flushed to disk; its digest.

    Pair i is `keys[i]` and `wins[i // per]`: a write's windows each hold one
    key per band, and their window ids need not be repeated for each (at
    2.7 M pairs a gather from the repeated ids took 17 ms, from the windows'
    own 4 ms). A `light` segment has a filter of `LIGHT_PROBES` probes:
    cheaper to build, for a segment that is soon merged into another.
    Segments of `_THREADED_PAIRS` pairs or more are written by two threads,
    which sort the negative and the other keys, then write and mark them
    (`_write_crossed`; numpy, zlib and the writes release the GIL). The file
    is the same either way.
    """
    # Columns of an array of pairs (merges read them so) are used in place.
    keys = np.asarray(keys, dtype=np.int64)
    wins = np.asarray(wins, dtype=np.int64)
    size, probes = _filter_shape(len(keys), LIGHT_PROBES if light else MAX_PROBES)
    bloom = np.zeros(size // 8, dtype="<u8")
    count = int(np.count_nonzero(keys < 0))
    # A run's commits of 32 M pairs (light) took one thread 8 s while its
    # workers, 1-2 s ahead, waited.
    threaded = len(keys) >= _THREADED_PAIRS and 0 < count < len(keys)

    halves: list[_Half] = [
        _KeysHalf(0, count, keys, -1, wins, per),
        _KeysHalf(count, len(keys) - count, keys, 1, wins, per),
    ]
    return _write_file(path, halves, bloom, probes, threaded=threaded)


def _write_file(
    path: str,
    halves: list[_Half],
    bloom: np.ndarray,
    probes: int,
    *,
    threaded: bool,
) -> str:
    """Write a segment from its two halves, flushed to disk; its digest.

    The halves mark the filter as they write, in two threads if `threaded`.
    """
    pairs = sum(h.count for h in halves)
    block = block_pairs(pairs)
    fence_len = -(-pairs // block)
    filter_at, pairs_at, _ = _layout(pairs, fence_len, 8 * len(bloom))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    sync = _EarlySync(fd) if pairs >= _EARLY_SYNC_PAIRS else None
    try:
        work = [h for h in halves if h.count]
        if threaded and len(work) > 1:
            # writers only: 5 ms a check need not pay
            from concurrent.futures import ThreadPoolExecutor

            writing = threading.Lock()
            with ThreadPoolExecutor(max_workers=2) as pool:
                if all(isinstance(h, _KeysHalf) for h in work):
                    first, second = cast("list[_KeysHalf]", work)
                    writes = _write_crossed(
                        pool, first, second, fd, pairs_at, block, bloom, probes, sync, writing
                    )
                else:
                    writes = [
                        pool.submit(h.write, fd, pairs_at, block, bloom, probes, sync, writing)
                        for h in work
                    ]
                for done in writes:
                    done.result()
        else:
            for h in work:
                h.write(fd, pairs_at, block, bloom, probes, sync)
        if len(bloom):
            bloom[len(bloom) // 2] |= np.uint64(halves[0].shared_bits | halves[1].shared_bits)
        fence = np.concatenate([h.fence for h in halves]).astype("<i8")
        # The filter (16 bits a pair) is written from where it lies, not
        # joined to the header first: 42 MB less fresh memory for 21 M pairs.
        head = _HEADER.pack(MAGIC, pairs, block, fence_len, 8 * len(bloom), probes)
        head += memoryview(fence).cast("B")
        filter_bytes = memoryview(bloom).cast("B")
        _pwrite_all(fd, memoryview(head), 0)
        _pwrite_all(fd, filter_bytes, filter_at)
        if sync is not None:
            early, sync = sync, None  # closed here, and not again below
            early.close()
        os.fsync(fd)
    except BaseException:
        if sync is not None:
            with contextlib.suppress(OSError):
                sync.close()
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    digest = zlib.crc32(filter_bytes, zlib.crc32(head))
    for h in halves:
        digest = crc32_combine(digest, h.digest, _PAIR * h.count)
    return f"crc32:{digest:08x}"


def _write_crossed(
    pool: Executor,
    first: _KeysHalf,
    second: _KeysHalf,
    fd: int,
    pairs_at: int,
    block: int,
    bloom: np.ndarray,
    probes: int,
    sync: _EarlySync | None,
    writing: threading.Lock,
) -> list[Future[None]]:
    """Sort both halves, then write and mark them in two threads that never mark at once.

    Marking is thousands of small numpy calls, each taking and giving back
    the GIL: two threads marking at once took 0.23 s for 21 M keys where one
    took 0.075 s for each half. So one thread writes the first half and then
    marks the second while the other marks the first and then writes the
    second: writing is a few large calls per million pairs. `write_segment`,
    five each, alternating: 21 M pairs 0.593 -> 0.558 s, 5.5 M pairs 0.150
    -> 0.133 s; the same files.
    """
    halves = (first, second)
    # Set when a half is sorted, and when the first half is marked; set
    # however the step ended, so that no thread waits forever on a failed one.
    sorted_, first_marked = [threading.Event(), threading.Event()], threading.Event()

    def sort(i: int) -> None:
        try:
            halves[i].sort()
        finally:
            sorted_[i].set()

    def mark(i: int) -> None:
        sorted_[i].wait()
        if halves[i].ordered is not None:  # else its sort failed, and its thread says why
            halves[i].mark(bloom, probes)

    def write(i: int) -> None:
        halves[i].write(fd, pairs_at, block, bloom, probes, sync, writing, mark=False)

    def one() -> None:
        sort(0)
        write(0)
        first_marked.wait()
        mark(1)

    def two() -> None:
        try:
            sort(1)
            mark(0)
        finally:
            first_marked.set()
        write(1)

    return [pool.submit(one), pool.submit(two)]


#: Pairs from which a segment's pages are flushed to disk while it is written
#: (`_EarlySync`): 4 MB; a thread costs more than it saves below that.
_EARLY_SYNC_PAIRS = 1 << 18


class _EarlySync:
    """Flushes a file to disk from a thread while it is being written.

    The final fsync then finds little left to write: a 21 M-pair segment took
    1.68-1.97 s to write where it took 2.03-2.72 s with one fsync at the end
    (three pairs, taking turns), whose 340 MB took 0.55-0.66 s alone. An error
    the thread's fdatasync meets is raised by `close`: the file's error state
    is then consumed, and the final fsync would not report it.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake = threading.Event()
        self._closing = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="ipguard-sync", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """More of the file was written: flush it when the last flush is done."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self._error = exc
                return

    def close(self) -> None:
        """Stop flushing; raise the error a flush met, if any."""
        self._closing = True
        self._wake.set()
        self._thread.join()
        if self._error is not None:
            raise self._error


#: CRC-32's reversed polynomial, and x^(2^k) modulo it for k = 0..31.
_CRC_POLY = 0xEDB88320


def _multiply_mod_crc(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (bit-reflected, as zlib keeps them); a != 0."""
    m = 1 << 31
    product = 0
    while True:
        if a & m:
            product ^= b
            if not a & (m - 1):
                return product
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1


_X_POW_2K = [1 << 30]
for _ in range(31):
    _X_POW_2K.append(_multiply_mod_crc(_X_POW_2K[-1], _X_POW_2K[-1]))


def crc32_combine(first: int, second: int, second_length: int) -> int:
    """`zlib.crc32(a + b)` from `crc32(a)`, `crc32(b)` and `len(b)`, as zlib's crc32_combine.

    Two threads write the halves of a segment, each with its own CRC; the
    file's digest is theirs combined (about 0.1 ms), not a second pass over it.
    """
    shift = 1 << 31  # x^0
    n, k = second_length, 3  # x^(8 n): 8 bits per byte
    while n:
        if n & 1:
            shift = _multiply_mod_crc(_X_POW_2K[k & 31], shift)
        n >>= 1
        k += 1
    return _multiply_mod_crc(shift, first) ^ second


def file_digest(path: str) -> str:
    """The digest `write_segment` returned for this file, recomputed.

    CRC-32 finds damage (a torn or altered file); nobody forges segments, and
    it is 4.6x faster than BLAKE2b (200 MB: 0.06 s against 0.26 s).
    """
    digest = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest = zlib.crc32(chunk, digest)
    return f"crc32:{digest:08x}"


class Segment:
    """One segment file, open for lookups."""

    def __init__(self, path: str, entries: int) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise SegmentError(f"{path} is missing") from exc
        except OSError as exc:
            raise SegmentError(f"{path} is unreadable ({exc})") from exc
        try:
            head = os.pread(self._fd, _HEADER.size, 0)
            if len(head) < _HEADER.size:
                raise SegmentError(f"{path} is truncated")
            magic, count, block, fence_len, filter_bytes, probes = _HEADER.unpack(head)
            if (
                magic != MAGIC
                or not BLOCK <= block <= MAX_BLOCK
                or block & (block - 1)
                or fence_len != -(-count // block)
                or count != entries
                or not 0 < probes <= 64
            ):
                raise SegmentError(f"{path} is not the segment the index lists")
            filter_at, self._pairs_at, size = _layout(count, fence_len, filter_bytes)
            if os.fstat(self._fd).st_size != size or count == 0 or filter_bytes % 8:
                raise SegmentError(f"{path} is truncated")
            raw = os.pread(self._fd, 8 * fence_len, _HEADER.size)
            self.fence = np.frombuffer(raw, dtype="<i8").astype(np.int64)
        except SegmentError:
            os.close(self._fd)
            raise
        except (OSError, ValueError) as exc:
            os.close(self._fd)
            raise SegmentError(f"{path} is unreadable ({exc})") from exc
        self.entries = count
        self.block = block
        #: Bytes of the filter in the file, and how many times smaller the one
        #: in memory is (see `load_filter`).
        self.filter_bytes = filter_bytes
        self.fold = 1
        self._filter_at = filter_at
        self._map: mmap.mmap | None = None
        self._bloom: np.ndarray | None = None
        self._probes = probes
        #: Whether the filter is a light one (see `write_segment`), which
        #: merging replaces by a full one. Full filters have two probes or more.
        self.light = probes <= LIGHT_PROBES

    def load_filter(self, fold: int = 1) -> None:
        """Bring the filter into memory, `fold` times smaller (a power of two).

        Folding ORs each run of `fold` neighbouring words into one: the
        word a key picks, ``(high half * words) >> 32``, becomes itself
        divided by `fold` when `fold` divides the words, so the smaller
        filter still holds every stored key and only lets more absent ones
        through. `fit_filters` folds to keep the filters of all of an
        index's segments within `MAX_FILTER_BYTES`. A segment's filter is
        loaded on its first lookup if no one loaded it before; merges read
        no filter.
        """
        words = self.filter_bytes // 8
        if fold < 1 or fold & (fold - 1) or words % fold:
            raise ValueError(f"cannot fold {words} filter words {fold} times")
        if self._bloom is not None and fold <= self.fold:
            return
        try:
            if fold == 1:
                # Only the filter (from its page on) is mapped, and its pages
                # are populated now: a fresh process's first checks faulted them
                # in a few at a time. 10 M windows, a fresh process's first 300
                # checks, five alternating pairs: p50 6.10 -> 5.77 ms on average,
                # for 3-7 ms more at the first lookup (0.4-1.4 ms at 0.26 M windows).
                map_at = self._filter_at - self._filter_at % mmap.ALLOCATIONGRANULARITY
                self._map = mmap.mmap(
                    self._fd,
                    self._pairs_at - map_at,
                    flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                    prot=mmap.PROT_READ,
                    offset=map_at,
                )
                self._bloom = np.frombuffer(
                    self._map, dtype="<u8", count=words, offset=self._filter_at - map_at
                )
            elif self._bloom is not None:
                self._bloom = _folded(self._bloom, fold // self.fold)
            else:
                # Read in chunks, not mapped: mapped pages would count in RSS.
                folded = np.empty(words // fold, dtype="<u8")
                step = max(fold, (_FOLD_CHUNK // fold) * fold)
                for at in range(0, words, step):
                    count = min(step, words - at)
                    raw = os.pread(self._fd, 8 * count, self._filter_at + 8 * at)
                    if len(raw) != 8 * count:
                        raise SegmentError(f"{self.path} is truncated")
                    chunk = np.frombuffer(raw, dtype="<u8")
                    folded[at // fold : (at + count) // fold] = _folded(chunk, fold)
                self._bloom = folded
        except OSError as exc:
            raise SegmentError(f"{self.path} is unreadable ({exc})") from exc
        if fold > 1 and self._map is not None:
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None
        self.fold = fold

    def might_hold(self, query: np.ndarray) -> np.ndarray:
        """Which keys the Bloom filter lets through (every stored one, and a few others)."""
        if self._bloom is None:
            self.load_filter()
        assert self._bloom is not None
        if not len(self._bloom):
            return np.ones(len(query), dtype=bool)
        word, mask = _word_masks(query, len(self._bloom), self._probes)
        return (self._bloom[word] & mask) == mask

    def lookup(self, query: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(key, window id) of every pair whose key is in `query` (sorted, unique).

        With a `limit`, at most that many pairs per key: the first it holds.
        """
        if len(query) == 0:
            return _EMPTY, _EMPTY
        query = query[self.might_hold(query)]
        if len(query) == 0:
            return _EMPTY, _EMPTY
        # The first pair >= q lies after fence[j - 1] < q and at the latest at
        # fence[j], the first pair of the next block.
        rank = np.searchsorted(self.fence, query, side="left")
        keys: list[np.ndarray] = []
        wins: list[np.ndarray] = []
        if len(query) >= NEAR_KEYS and self.block > NEAR_PAIRS:
            whole = np.ones(len(query), dtype=bool)
            inner = np.flatnonzero((rank >= 1) & (rank < len(self.fence)))
            if len(inner):
                near = self._lookup_near(query[inner], rank[inner], keys, wins, limit)
                whole[inner[near]] = False
            query, rank = query[whole], rank[whole]
        if len(query):
            # Reading block + 1 pairs from block j - 1 covers it.
            first = np.maximum(rank - 1, 0) * self.block
            self._lookup_reads(query, first, self.block + 1, keys, wins, limit=limit)
        if not keys:
            return _EMPTY, _EMPTY
        return np.concatenate(keys), np.concatenate(wins).astype(np.int64)

    def _lookup_near(
        self,
        query: np.ndarray,
        rank: np.ndarray,
        keys: list[np.ndarray],
        wins: list[np.ndarray],
        limit: int | None,
    ) -> np.ndarray:
        """Look up keys in `NEAR_PAIRS` pairs around where their block's bounds place them.

        Band keys are hashes, spread evenly between a block's first key and
        the next block's: a key's place is guessed from them, and the read
        holds it unless the guess is off by more than half of it (for 256
        random keys a block, about 8 pairs is one standard deviation). Which
        keys were settled is returned; the others need their whole block. At
        10 M windows a novel 2 KB output reads 390 blocks: 1 KB reads took
        0.6 ms where 4 KB ones took 0.8-0.9 ms, and fewer keys to search.
        """
        block, near = self.block, NEAR_PAIRS
        low = self.fence[rank - 1].astype(np.float64)
        gap = self.fence[rank].astype(np.float64) - low
        spread = gap > 0
        guess = np.where(spread, (query.astype(np.float64) - low) / np.where(spread, gap, 1), 0)
        offset = np.clip(np.rint(guess * block).astype(np.int64) - near // 2, 0, block + 1 - near)
        first = (rank - 1) * block + offset
        found_keys: list[np.ndarray] = []
        found_wins: list[np.ndarray] = []
        held = self._lookup_reads(
            query, first, near, found_keys, found_wins, trusted=spread, limit=limit
        )
        if held.all():
            keys.extend(found_keys)
            wins.extend(found_wins)
            return held
        # Keys whose read did not hold them give no pairs here.
        missed = np.sort(query[~held])
        for k, w in zip(found_keys, found_wins, strict=True):
            mine = ~_members(k, missed)
            keys.append(k[mine])
            wins.append(w[mine])
        return held

    def _lookup_reads(
        self,
        query: np.ndarray,
        first: np.ndarray,
        span: int,
        keys: list[np.ndarray],
        wins: list[np.ndarray],
        trusted: np.ndarray | None = None,
        limit: int | None = None,
    ) -> np.ndarray:
        """Read `span` pairs from `first` for each key; append the pairs with its key
        (at most `limit` per key).

        Returns, per key, whether its read holds the first pair not smaller
        than it (a read from a block's first pair to the next block's first
        always does; `trusted` False marks keys to report as not held).
        """
        starts, row = np.unique(first, return_inverse=True)
        # Each read goes straight into its row of one buffer.
        blocks = np.empty((len(starts), span, 2), dtype="<i8")
        filled = np.minimum(self.entries - starts, span)
        rows = memoryview(blocks.reshape(len(starts), span * _PAIR // 8)).cast("B")
        fd, base = self._fd, self._pairs_at
        for i, (at, count) in enumerate(zip(starts.tolist(), filled.tolist(), strict=True)):
            if (
                os.preadv(
                    fd, [rows[i * span * _PAIR : (i * span + count) * _PAIR]], base + _PAIR * at
                )
                != _PAIR * count
            ):
                raise SegmentError(f"{self.path} is truncated")
        for i in np.flatnonzero(filled < span).tolist():  # reads past the last pair
            blocks[i, filled[i] :, 0] = np.iinfo(np.int64).max  # sorts after every key
        # Reads may overlap, so each key is compared with its own read only.
        mine = blocks[row, :, 0]
        lo = (mine < query[:, None]).sum(axis=1)
        hi = np.minimum((mine <= query[:, None]).sum(axis=1), filled[row])
        if trusted is None:  # whole blocks: held by construction
            held = np.ones(len(query), dtype=bool)
        else:
            held = trusted & ((mine[:, 0] < query) | (first % self.block == 0))
            held &= (lo < filled[row]) | (starts[row] + filled[row] >= self.entries)
        counts = hi - lo
        # A run of one key that fills its read to the end may go on past it.
        runs_on = held & (counts > 0) & (hi == filled[row]) & (filled[row] == span)
        if limit is not None:  # a run cut here goes no further (`_run_after` reads none)
            counts = np.minimum(counts, limit)
        keys.append(np.repeat(query, counts))
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        wins.append(blocks[np.repeat(row, counts), np.repeat(lo, counts) + offsets, 1])
        for i in np.flatnonzero(runs_on).tolist():
            more = self._run_after(
                int(starts[row[i]]) + span,
                int(query[i]),
                None if limit is None else limit - int(counts[i]),
            )
            keys.append(np.full(len(more), query[i], dtype=np.int64))
            wins.append(more)
        return held

    def _read(self, start: int, count: int) -> bytes:
        count = min(count, self.entries - start)
        return os.pread(self._fd, _PAIR * count, self._pairs_at + _PAIR * start)

    def _run_after(self, start: int, key: int, limit: int | None = None) -> np.ndarray:
        """Window ids of the pairs with `key` from pair `start` on, until the key
        changes (or `limit` of them)."""
        out = []
        while start < self.entries and (limit is None or limit > 0):
            read = 4 * self.block if limit is None else min(4 * self.block, limit)
            chunk = np.frombuffer(self._read(start, read), dtype="<i8").reshape(-1, 2)
            same = chunk[:, 0] == key
            stop = int(np.argmin(same)) if not same.all() else len(same)
            out.append(chunk[:stop, 1])
            if stop < len(same):
                break
            start += len(chunk)
            if limit is not None:
                limit -= len(chunk)
        return np.concatenate(out) if out else _EMPTY

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (key, window id) pair, read whole: for merges and checks.

        The two arrays are the columns of one array of pairs (strided views).
        """
        pairs = np.empty((self.entries, 2), dtype="<i8")
        self.read_pairs_into(pairs)
        return pairs[:, 0], pairs[:, 1]

    def read_pairs_into(self, pairs: np.ndarray, start: int = 0) -> None:
        """Fill `pairs`, an (n, 2) array of little-endian int64, with pairs start..start + n.

        Read in place: splitting each chunk read into a key and a window
        array was 0.63 of the 0.71 s that reading 21 M pairs took.
        """
        view = memoryview(pairs).cast("B")
        at = self._pairs_at + _PAIR * start
        done = 0
        while done < len(view):
            got = os.preadv(self._fd, [view[done : done + (64 << 20)]], at + done)
            if got == 0:
                raise SegmentError(f"{self.path} is truncated")
            done += got

    def forget_pairs(self, start: int, stop: int) -> None:
        """Let the kernel drop pairs start..stop from its page cache: a merge has read them.

        The segment is being replaced, and its pages are on disk. Pages the
        merge's output then takes are ones just freed, not fresh memory:
        copying 1 GB from a cached file into a new one took 2.0-2.1 s, 0.46-0.58 s
        with each 64 MB read dropped (on this project's benchmark machine, whose
        host backs memory when it is first touched; see `_PWRITE_PIECE`).
        """
        advise = getattr(os, "posix_fadvise", None)
        if advise is None or stop <= start:
            return
        with contextlib.suppress(OSError):  # only a cache: nothing is lost
            advise(
                self._fd,
                self._pairs_at + _PAIR * start,
                _PAIR * (stop - start),
                os.POSIX_FADV_DONTNEED,
            )

    def chunks(self, size: int | None = None) -> Iterator[np.ndarray]:
        """Every pair in file order, `size` (`MERGE_CHUNK`) at a time, as new (n, 2) arrays."""
        size = size or MERGE_CHUNK
        for start in range(0, self.entries, size):
            pairs = np.empty((min(size, self.entries - start), 2), dtype="<i8")
            self.read_pairs_into(pairs, start)
            yield pairs

    def lower_bounds(self, keys: np.ndarray) -> np.ndarray:
        """Per key, the position of the first pair whose key is not smaller (one read each)."""
        out = np.zeros(len(keys), dtype=np.int64)
        blocks = np.searchsorted(self.fence, keys, side="left")
        for i, (key, j) in enumerate(zip(keys.tolist(), blocks.tolist(), strict=True)):
            if j == 0:
                continue  # not above the first key
            # As in `lookup`: after fence[j - 1] < key, at the latest at fence[j].
            start = (j - 1) * self.block
            read = np.frombuffer(self._read(start, self.block + 1), dtype="<i8")
            out[i] = start + int(np.searchsorted(read[::2], key, side="left"))
        return out

    def close(self) -> None:
        self._bloom = np.zeros(0, dtype="<u8")
        # A caller may still hold a view of the map: it then goes with that view.
        if self._map is not None:
            with contextlib.suppress(BufferError):
                self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _folded(words: np.ndarray, fold: int) -> np.ndarray:
    """`words` with each run of `fold` neighbours ORed into one."""
    if fold == 1:
        return words.copy()
    return np.bitwise_or.reduce(words.reshape(-1, fold), axis=1)


def fit_filters(segments: Sequence[Segment], budget: int | None = None) -> None:
    """Load the segments' filters, folded so that with the fences they take at most `budget` bytes.

    Each segment caps its own filter at `MAX_FILTER_BYTES`, but an index may
    hold several large segments (a small addition to a large index stays
    separate; an indexing run commits several): their filters, all in
    memory, took a checking process past its RSS bound (163.6 MB, a 10 M- and
    a 1 M-window segment). The filter with the most bits per pair is halved
    until they fit, so that what folding lets through is spread evenly.
    Filters already in memory are never unfolded.
    """
    budget = MAX_LOOKUP_BYTES if budget is None else budget
    folds = {id(s): s.fold for s in segments}

    def size(seg: Segment) -> int:
        return seg.filter_bytes // folds[id(seg)]

    total = sum(size(s) + 8 * len(s.fence) for s in segments)
    while total > budget:
        foldable = [s for s in segments if (size(s) // 8) % 2 == 0]
        if not foldable:
            break  # filters of an older format's sizes: the bound is then missed
        richest = max(foldable, key=lambda s: size(s) / s.entries)
        total -= size(richest) // 2
        folds[id(richest)] *= 2
    for seg in segments:
        seg.load_filter(folds[id(seg)])


def write_merged(
    path: str,
    segments: Sequence[Segment],
    drop_docs: np.ndarray,
    doc_shift: int,
    *,
    light: bool = False,
    dropped: tuple[int, int] | None = None,
) -> tuple[str, int]:
    """Write the pairs of several segments, less the documents in `drop_docs`, as one file.

    Returns its digest and its pairs (0: nothing was left, and no file was
    written). The file is the one `write_segment` writes from the segments'
    pairs laid end to end, but it is built a range of keys at a time: each
    segment's pairs in the range are read, sorted together (their sorted
    runs merge) and written, so a merge holds `MERGE_CHUNK` pairs per thread
    where it held all of them, and then their sorting order, at once (a 10 M
    window build's final merge of 210 M pairs peaked at 9.6-10.2 GB).

    `dropped`, when the caller knows it, is how many pairs of `drop_docs`
    the segments hold per key sign (negative first): the pass over every
    pair that would count them is skipped. A wrong count fails the write.
    """
    ranges = _merge_ranges(segments, MERGE_CHUNK)
    if len(drop_docs) and dropped is None:
        counts = [
            sum(len(p) for p in _range_pairs(segments, bounds, drop_docs, doc_shift))
            for bounds in ranges
        ]
    else:
        counts = [int((bounds[:, -1] - bounds[:, 0]).sum()) for bounds in ranges]
        if dropped is not None:
            counts = [held - gone for held, gone in zip(counts, dropped, strict=True)]
    total = sum(counts)
    if total == 0:
        return "", 0
    size, probes = _filter_shape(total, LIGHT_PROBES if light else MAX_PROBES)
    bloom = np.zeros(size // 8, dtype="<u8")

    def chunks(bounds: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
        def sorted_pairs() -> Iterator[np.ndarray]:
            for pairs in _range_pairs(segments, bounds, drop_docs, doc_shift, forget=True):
                # Sorted runs, one per segment: timsort merges them.
                yield pairs[np.argsort(pairs[:, 0], kind="stable")]

        return sorted_pairs

    halves = [
        _Half(0, counts[0], chunks(ranges[0])),
        _Half(counts[0], counts[1], chunks(ranges[1])),
    ]
    threaded = total >= _THREADED_PAIRS
    return _write_file(path, halves, bloom, probes, threaded=threaded), total


def _merge_ranges(segments: Sequence[Segment], chunk: int) -> list[np.ndarray]:
    """Per key sign (negative first), each segment's positions that cut it into key ranges.

    Row i of a sign's array holds segment i's positions; a range ends where
    the next begins. The cuts are keys of the segments' fences, about
    `chunk` pairs apart counting every segment; all pairs of one key fall
    in one range.
    """
    fence = np.concatenate([s.fence for s in segments])
    weight = np.concatenate([np.full(len(s.fence), s.block, dtype=np.int64) for s in segments])
    order = np.argsort(fence, kind="stable")
    fence, passed = fence[order], np.cumsum(weight[order])
    cuts = np.unique(fence[np.searchsorted(passed, np.arange(chunk, int(passed[-1]), chunk))])
    below, above = cuts[cuts < 0], cuts[cuts > 0]
    asked = np.concatenate((below, [0], above)).astype(np.int64)
    at = np.array([s.lower_bounds(asked) for s in segments], dtype=np.int64).reshape(
        len(segments), len(asked)
    )
    zero = len(below)
    starts = np.zeros((len(segments), 1), dtype=np.int64)
    ends = np.array([[s.entries] for s in segments], dtype=np.int64)
    return [
        np.hstack((starts, at[:, : zero + 1])),
        np.hstack((at[:, zero:], ends)),
    ]


def _range_pairs(
    segments: Sequence[Segment],
    bounds: np.ndarray,
    drop_docs: np.ndarray,
    doc_shift: int,
    *,
    forget: bool = False,
) -> Iterator[np.ndarray]:
    """Each key range's pairs, segment after segment (unsorted), less the dropped documents.

    With `forget`, each range's pages are dropped from the page cache once
    read (`Segment.forget_pairs`): for the merge's last pass over segments
    it replaces.
    """
    for r in range(bounds.shape[1] - 1):
        lo, hi = bounds[:, r].tolist(), bounds[:, r + 1].tolist()
        pairs = np.empty((sum(h - lo_ for lo_, h in zip(lo, hi, strict=True)), 2), dtype="<i8")
        at = 0
        for seg, first, stop in zip(segments, lo, hi, strict=True):
            if stop > first:
                seg.read_pairs_into(pairs[at : at + stop - first], first)
                if forget:
                    seg.forget_pairs(first, stop)
                at += stop - first
        if len(drop_docs):
            pairs = pairs[~np.isin(pairs[:, 1] >> doc_shift, drop_docs)]
        if len(pairs):
            yield pairs


def merge(
    segments: list[Segment], drop_docs: np.ndarray, doc_shift: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of several segments, without those of the documents in `drop_docs`."""
    if not segments:
        return _EMPTY, _EMPTY
    total = sum(s.entries for s in segments)
    pairs = np.empty((total, 2), dtype="<i8")
    at = 0
    for seg in segments:  # straight into place: no copy of every segment's pairs
        seg.read_pairs_into(pairs[at : at + seg.entries])
        at += seg.entries
    if len(drop_docs):
        pairs = pairs[~np.isin(pairs[:, 1] >> doc_shift, drop_docs)]
    keys, wins = pairs[:, 0], pairs[:, 1]
    return keys, wins
