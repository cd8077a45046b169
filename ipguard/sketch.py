"""sketch: token ids -> shingle hashes -> MinHash signatures of overlapping windows.

The values are datasketch's own: `MinHash(num_perm, seed,
hashfunc=shingle_hash)` fed the same shingles (as `shingle_bytes`) holds the
same hash values (affine32 scheme), so a `LeanMinHash` can be built from any
signature here. The work is vectorised and shared: each shingle's permuted
hashes are computed once, and window minima come from blocks of rows that tile
the windows (`strided_min`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import repeat

import numpy as np

from .config import ChannelConfig

_U32 = np.uint32
_U64 = np.uint64
_MASK64 = (1 << 64) - 1
# Per-position multipliers for combining the token ids of a shingle (odd
# 64-bit constants from the SplitMix64 / golden-ratio family).
_SHINGLE_MULTIPLIERS = (
    0x9E3779B97F4A7C15,
    0xBF58476D1CE4E5B9,
    0x94D049BB133111EB,
    0xD6E8FEB86659FD93,
    0xA0761D6478BD642F,
    0xE7037ED1A0B428DB,
    0x8EBC6AF09C88C6E3,
    0x589965CC75374CC3,
)
MAX_SHINGLE = len(_SHINGLE_MULTIPLIERS)
#: Shingles whose permuted values are computed at once (see sketch_windows).
CACHE_SHINGLES = 8192


#: Distinct tokens a hasher remembers per channel before starting over.
CACHED_TOKENS = 2_000_000


class TokenHasher:
    """Maps normalized token strings to 32-bit keyed hashes (BLAKE2b with the index key).

    The index keeps only these ids, never the tokens themselves; the key is
    per index, so ids of one index say nothing about another's.
    """

    def __init__(self, key: bytes) -> None:
        if not 16 <= len(key) <= 64:
            raise ValueError("token key must be 16 to 64 bytes")
        self._key = key
        self._caches: dict[str, dict[str, int]] = {}
        self._tables: dict[str, _FingerprintTable] = {}
        self._keyed: dict[str, hashlib._Hash] = {}

    @property
    def key(self) -> bytes:
        return self._key

    def _digests(self, channel: str, tokens: Sequence[str]) -> list[int]:
        """The keyed hash of each token, computed (no cache)."""
        keyed = self._keyed.get(channel)
        if keyed is None:
            # The key block and the channel's prefix absorbed once: a copy per
            # token is a fifth faster than a new keyed hash (1.6 against 2.0 us).
            keyed = hashlib.blake2b(
                b"c\0" if channel == "code" else b"t\0", key=self._key, digest_size=4
            )
            self._keyed[channel] = keyed
        out = []
        for tok in tokens:
            h = keyed.copy()
            h.update(tok.encode("utf-8", "surrogatepass"))
            out.append(int.from_bytes(h.digest(), "little"))
        return out

    def ids(self, channel: str, tokens: Sequence[str]) -> np.ndarray:
        """uint32 ids of `tokens` in `channel` (the channel salts the hash).

        Tokens seen before are a dictionary lookup mapped over the sequence,
        without a Python loop; only the others are hashed one by one.
        """
        cache = self._caches.setdefault(channel, {})
        # dict.get with a default of -1, mapped in C: no set of the tokens is built.
        found = np.fromiter(map(cache.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        unknown = np.flatnonzero(found < 0)
        if len(unknown):
            missing = list({tokens[i] for i in unknown.tolist()})
            if len(cache) + len(missing) > CACHED_TOKENS:
                cache.clear()
            cache.update(zip(missing, self._digests(channel, missing), strict=True))
            found[unknown] = [cache[tokens[i]] for i in unknown.tolist()]
        return found.astype(_U32)

    def ascii_ids(self, channel: str, folded: bytes, spans: np.ndarray) -> np.ndarray:
        """`ids(channel, tokens)` of words of ASCII text, found from the text's bytes.

        `folded` is the lowercased ASCII text and `spans` the (start, end) of
        each token in it. A token of up to 16 bytes is read as two 64-bit
        words and mixed into a keyed fingerprint, which an open-addressing
        table maps to its id: no Python call per token, where a dictionary
        lookup per token was a sixth of indexing prose. Strings are cut from
        `folded` only for new tokens, which are hashed, and for longer ones,
        which take `ids`.
        """
        table = self._tables.get(channel)
        if table is None:
            table = self._tables[channel] = _FingerprintTable(self._key)
        prints, short = table.fingerprints(folded, spans)
        found = table.find(prints)
        found[~short] = -1
        unknown = np.flatnonzero((found < 0) & short)
        if len(unknown):
            new, first = np.unique(prints[unknown], return_index=True)
            firsts = unknown[first]
            # New words are hashed straight away: the table is their cache.
            values = np.array(self._digests(channel, _cut(folded, spans[firsts])), dtype=np.int64)
            if table.count + len(new) > CACHED_TOKENS:
                table.clear()
            table.add(new, values)
            found[unknown] = table.find(prints[unknown])
        if not short.all():
            longer = np.flatnonzero(~short)
            found[longer] = self.ids(channel, _cut(folded, spans[longer]))
        return found.astype(_U32)


def _cut(folded: bytes, spans: np.ndarray) -> list[str]:
    """The strings of the tokens at `spans` of ASCII `folded`."""
    return [folded[start:end].decode("ascii") for start, end in spans.tolist()]


#: Bytes of a token that `_FingerprintTable.fingerprints` reads (two words).
_SHORT_TOKEN = 16
#: Table slots `_FingerprintTable.find` reads per fingerprint with numpy.
_PROBES = 2


class _FingerprintTable:
    """Keyed 64-bit fingerprints of short ASCII tokens and an id for each, in numpy arrays.

    The fingerprint of a token of at most 16 bytes mixes its bytes (held whole
    in two 64-bit words) and its length with multipliers derived from the
    index key; distinct tokens share one with probability about 2^-64 per pair.
    """

    def __init__(self, key: bytes) -> None:
        derived = hashlib.blake2b(key, digest_size=24, person=b"ipguard-fp").digest()
        self._mul = [_U64(int.from_bytes(derived[i : i + 8], "little") | 1) for i in (0, 8, 16)]
        self.clear()

    def clear(self) -> None:
        """Forget every fingerprint."""
        self.count = 0
        self._spilled: dict[int, int] = {}  # fingerprint -> id past the first probes
        self._keys = np.zeros(1 << 12, dtype=_U64)
        self._values = np.full(1 << 12, -1, dtype=np.int64)

    def fingerprints(self, folded: bytes, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fingerprints of the tokens at `spans` of `folded`, and which are short enough."""
        padded = np.frombuffer(folded + bytes(_SHORT_TOKEN), dtype=np.uint8)
        # Every byte offset read as a little-endian 64-bit word (x86 reads unaligned words).
        words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
        starts = spans[:, 0]
        lengths = spans[:, 1] - starts
        short = lengths <= _SHORT_TOKEN
        low_bits = np.clip(lengths, 0, 8).astype(_U64) * _U64(8)
        high_bits = np.clip(lengths - 8, 0, 8).astype(_U64) * _U64(8)
        ones = _U64(0xFFFFFFFFFFFFFFFF)
        with np.errstate(over="ignore"):
            # A mask of the token's bytes in each word (a shift by 64 is no shift in numpy).
            low = words[starts] & np.where(low_bits == 64, ones, (_U64(1) << low_bits) - _U64(1))
            high = words[np.minimum(starts + 8, len(words) - 1)] & np.where(
                high_bits == 64, ones, (_U64(1) << high_bits) - _U64(1)
            )
            mixed = low * self._mul[0]
            mixed ^= high * self._mul[1]
            mixed ^= lengths.astype(_U64)
            mixed ^= mixed >> _U64(31)
            mixed *= self._mul[2]
            mixed ^= mixed >> _U64(29)
        return mixed, short

    def _slots(self, prints: np.ndarray) -> np.ndarray:
        return (prints & _U64(len(self._keys) - 1)).view(np.int64)

    def find(self, prints: np.ndarray) -> np.ndarray:
        """The id of each fingerprint, -1 where unknown.

        The first `_PROBES` slots of each fingerprint's probe sequence are
        read for all of them at once; the few found further on (linear
        probing's chains run to 8-20 slots in a table a third full) are looked
        up in a dictionary, where probing on cost a round of numpy calls each.
        """
        slots = self._slots(prints)
        values = self._values[slots]
        # The first probe, over all of them: no index arrays.
        found = np.where(self._keys[slots] == prints, values, -1)
        # An empty slot ends a probe sequence: the fingerprint is unknown.
        todo = np.flatnonzero((found < 0) & (values >= 0))
        mask = len(self._keys) - 1
        for _ in range(_PROBES - 1):
            if not len(todo):
                return found
            at = (slots[todo] + 1) & mask
            slots[todo] = at
            values = self._values[at]
            hit = (values >= 0) & (self._keys[at] == prints[todo])
            found[todo[hit]] = values[hit]
            todo = todo[~hit & (values >= 0)]
        if len(todo):
            found[todo] = list(map(self._spilled.get, prints[todo].tolist(), repeat(-1)))
        return found

    def add(self, prints: np.ndarray, values: np.ndarray) -> None:
        """Remember `values` (ids) for new, distinct `prints`; the table stays under half full.

        Each fingerprint takes the first free one of its first `_PROBES`
        slots, all of them at once a probe at a time (the first of several
        that want one slot gets it); the few left over go to the dictionary
        `find` reads last. A loop over the fingerprints cost 3.7 us each, a
        third of a fresh process's first check of prose (1 M windows, W3).
        """
        if 2 * (self.count + len(prints)) > len(self._keys):
            size = len(self._keys)
            while 2 * (self.count + len(prints)) > size:
                size *= 2
            held = self._values >= 0
            old_keys = np.concatenate(
                (self._keys[held], np.fromiter(self._spilled, dtype=_U64, count=len(self._spilled)))
            )
            old_values = np.concatenate(
                (
                    self._values[held],
                    np.fromiter(self._spilled.values(), dtype=np.int64, count=len(self._spilled)),
                )
            )
            self._keys = np.zeros(size, dtype=_U64)
            self._values = np.full(size, -1, dtype=np.int64)
            self._spilled = {}
            self.count = 0
            self.add(old_keys, old_values)
        mask = len(self._keys) - 1
        slots = self._slots(prints)
        todo = np.arange(len(prints))
        for _ in range(_PROBES):
            at = slots[todo]
            free = self._values[at] < 0
            # Of several fingerprints that want one free slot, the first takes it.
            wanted, first = np.unique(at[free], return_index=True)
            taken = todo[np.flatnonzero(free)[first]]
            self._keys[wanted] = prints[taken]
            self._values[wanted] = values[taken]
            placed = np.zeros(len(todo), dtype=bool)
            placed[np.flatnonzero(free)[first]] = True
            todo = todo[~placed]
            if not len(todo):
                break
            slots[todo] = (slots[todo] + 1) & mask
        if len(todo):
            self._spilled.update(zip(prints[todo].tolist(), values[todo].tolist(), strict=True))
        self.count += len(prints)


def shingle_hashes(ids: np.ndarray, k: int) -> np.ndarray:
    """32-bit hashes of every run of `k` consecutive ids (len(ids) - k + 1 of them)."""
    if not 1 <= k <= MAX_SHINGLE:
        raise ValueError(f"shingle size must be 1..{MAX_SHINGLE}")
    n = len(ids) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=_U32)
    wide = ids.astype(_U64)
    acc = np.zeros(n, dtype=_U64)
    for j in range(k):
        acc += wide[j : j + n] * _U64(_SHINGLE_MULTIPLIERS[j])
    return ((acc >> _U64(32)) ^ acc).astype(_U32)


def shingle_bytes(ids: np.ndarray, k: int) -> list[bytes]:
    """The shingles as bytes, the form `shingle_hash` (and datasketch) hash."""
    ids32 = np.ascontiguousarray(ids, dtype="<u4")
    return [ids32[i : i + k].tobytes() for i in range(len(ids32) - k + 1)]


def shingle_hash(data: bytes) -> int:
    """Hash of one shingle given as bytes; a datasketch `hashfunc`.

    >>> import numpy as np
    >>> ids = np.array([1, 2, 3, 4], dtype=np.uint32)
    >>> int(shingle_hashes(ids, 4)[0]) == shingle_hash(shingle_bytes(ids, 4)[0])
    True
    """
    acc = 0
    for j in range(len(data) // 4):
        tok = int.from_bytes(data[4 * j : 4 * j + 4], "little")
        acc = (acc + tok * _SHINGLE_MULTIPLIERS[j]) & _MASK64
    return ((acc >> 32) ^ acc) & 0xFFFFFFFF


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, the pre-mix datasketch applies (affine32)."""
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def _mt19937_words(seed: int, count: int) -> list[int]:
    """The first `count` 32-bit outputs of MT19937 seeded as numpy's RandomState(seed) is.

    RandomState seeds an integer with the reference init_genrand, and draws
    uint32 integers from [0, 2**k) as raw outputs masked to k bits. Importing
    numpy.random for 256 of them cost a cold `ipguard check` 11-12 ms; this
    takes about 0.5 ms. tests/test_sketch.py compares it with RandomState.
    """
    if not 0 <= seed <= 0xFFFFFFFF:
        raise ValueError(f"seed must be between 0 and 2**32 - 1, not {seed}")
    state = [seed]
    for i in range(1, 624):
        prev = state[-1]
        state.append((1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF)
    out: list[int] = []
    while len(out) < count:
        for i in range(624):  # the twist: a new block of 624 words
            y = (state[i] & 0x80000000) | (state[(i + 1) % 624] & 0x7FFFFFFF)
            state[i] = state[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        for y in state[: count - len(out)]:  # tempering
            y ^= y >> 11
            y ^= (y << 7) & 0x9D2C5680
            y ^= (y << 15) & 0xEFC60000
            out.append(y ^ (y >> 18))
    return out


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b) for `num_perm` and `seed`.

    Drawn the way datasketch 2 draws them (odd multipliers, then offsets, from
    a RandomState of `seed`), without importing datasketch: its import pulls
    in scipy and costs a cold `ipguard check` about half a second.
    tests/test_sketch.py proves the values equal datasketch's own.
    """
    words = np.array(_mt19937_words(seed, 2 * num_perm), dtype=_U32)
    a = (words[:num_perm] & _U32(0x7FFFFFFF)) * _U32(2) + _U32(1)
    return a, words[num_perm:].copy()


def permuted(hashes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """(len(hashes), num_perm) permuted values; a signature is their column minimum."""
    a, b = permutations(num_perm, seed)
    with np.errstate(over="ignore"):
        mixed = _fmix32(hashes.astype(_U32))
        return mixed[:, None] * a[None, :] + b[None, :]


def window_starts(n_shingles: int, window: int, stride: int) -> np.ndarray:
    """Start shingle of each window: every `stride`, plus one flush with the end.

    >>> window_starts(10, 4, 3).tolist()
    [0, 3, 6]
    >>> window_starts(11, 4, 3).tolist()
    [0, 3, 6, 7]
    """
    if n_shingles <= 0:
        return np.zeros(0, dtype=np.int64)
    if n_shingles <= window:
        return np.zeros(1, dtype=np.int64)
    last = n_shingles - window
    starts = np.arange(0, last + 1, stride, dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


@dataclass(frozen=True, eq=False)
class WindowSketches:
    """MinHash signatures of the windows of one token channel."""

    starts: np.ndarray  # first shingle (= first token) of each window
    lengths: np.ndarray  # shingles in each window
    signatures: np.ndarray  # (windows, num_perm) uint32

    def __len__(self) -> int:
        return len(self.starts)


def sketch_windows(
    ids: np.ndarray, channel: ChannelConfig, *, num_perm: int, seed: int, query: bool
) -> WindowSketches:
    """Signatures of the overlapping windows of `ids` (query or index stride)."""
    hashes = shingle_hashes(ids, channel.shingle)
    n = len(hashes)
    stride = channel.query_stride if query else channel.index_stride
    starts = window_starts(n, channel.window, stride)
    if n == 0:
        empty = np.zeros((0, num_perm), dtype=_U32)
        return WindowSketches(starts, np.zeros(0, dtype=np.int64), empty)
    width = min(channel.window, n)
    lengths = np.full(len(starts), width, dtype=np.int64)
    a, b = permutations(num_perm, seed)
    # Arrays of unsigned integers wrap silently (numpy warns of overflow only
    # in arithmetic on scalars): no `np.errstate`, which cost 4 us a use.
    mixed = _fmix32(hashes.astype(_U32))
    if len(starts) == 1:  # one window (a short comment): its minimum alone
        whole = mixed[:width, None] * a[None, :]
        whole += b[None, :]
        return WindowSketches(starts, lengths, whole.min(axis=0, keepdims=True))
    signatures = np.empty((len(starts), num_perm), dtype=_U32)
    # All windows but one flush with the end start at multiples of `stride`.
    regular = len(starts) if starts[-1] % stride == 0 else len(starts) - 1
    # Windows are sketched in groups whose shingles' permuted values stay in
    # the CPU cache: 8,192 shingles x 64 permutations is 2 MB. Measured on
    # 2 M shingles: 7.9 M shingles/s, against 0.8 M/s for one pass over all.
    group = max(1, CACHE_SHINGLES // stride)
    # No larger than the windows need: a small file's were 2 MB to allocate.
    values = np.empty(((min(group, max(regular, 1)) - 1) * stride + width, num_perm), dtype=_U32)
    for i in range(0, regular, group):
        count = min(group, regular - i)
        lo = i * stride
        part = values[: (count - 1) * stride + width]
        # Into one buffer: a new array per group cost its page faults each time.
        np.multiply(mixed[lo : lo + len(part), None], a[None, :], out=part)
        np.add(part, b[None, :], out=part)
        signatures[i : i + count] = strided_min(part, count, stride, width)
    if regular < len(starts):
        last = int(starts[-1])
        tail = mixed[last : last + width, None] * a[None, :] + b[None, :]
        signatures[-1] = tail.min(axis=0)
    return WindowSketches(starts, lengths, signatures)


def strided_min(values: np.ndarray, count: int, stride: int, width: int) -> np.ndarray:
    """Column minima of `values[k * stride : k * stride + width]` for k < `count`.

    Rows are first reduced to blocks of gcd(stride, width) rows, which tile
    every window; windows then take the minimum of their blocks by doubling.
    Code windows (24 rows every 8) are three blocks of 8: this took 11% less
    time than doubling over the rows themselves (best of 9 runs, 2 M shingles).
    """
    size = math.gcd(stride, width)
    per_window, per_stride = width // size, stride // size
    blocks = (count - 1) * per_stride + per_window
    level = values[0 : blocks * size : size]
    for row in range(1, size):
        level = np.minimum(level, values[row : blocks * size : size])
    span = 1
    while span * 2 <= per_window:
        level = np.minimum(level[:-span], level[span:])
        span *= 2
    at = np.arange(count) * per_stride
    if span == per_window:
        return level[at]
    return np.minimum(level[at], level[at + per_window - span])


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(windows, bands) int64 LSH keys: band index and its rows hashed together."""
    n = len(signatures)
    if n == 0:
        return np.zeros((0, bands), dtype=np.int64)
    grouped = signatures[:, : bands * rows].reshape(n, bands, rows)
    # In place, in two buffers (arrays of unsigned integers wrap silently):
    # a new array per step and `np.errstate` were most of a small file's keys.
    acc = np.empty((n, bands), dtype=_U64)
    shifted = np.empty((n, bands), dtype=_U64)
    acc[...] = _band_seeds(bands)
    for j in range(rows):
        np.bitwise_xor(acc, grouped[:, :, j], out=acc)
        np.multiply(acc, _U64(_SHINGLE_MULTIPLIERS[(j + 1) % MAX_SHINGLE]), out=acc)
        np.right_shift(acc, _U64(29), out=shifted)
        np.bitwise_xor(acc, shifted, out=acc)
    return acc.view(np.int64)


@cache
def _band_seeds(bands: int) -> np.ndarray:
    """Each band's starting value: its index (from 1) hashed."""
    return np.arange(1, bands + 1, dtype=_U64) * _U64(_SHINGLE_MULTIPLIERS[0])
