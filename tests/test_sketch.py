"""sketch: values identical to datasketch, shared work, band keys."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from ipguard.config import ChannelConfig
from ipguard.sketch import (
    TokenHasher,
    band_keys,
    shingle_bytes,
    shingle_hash,
    shingle_hashes,
    sketch_windows,
    window_starts,
)

CHANNEL = ChannelConfig(shingle=4, window=24, index_stride=8, query_stride=4)


def _datasketch(ids: np.ndarray, start: int, length: int, num_perm: int, seed: int) -> MinHash:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)
    m.update_batch(shingle_bytes(ids, CHANNEL.shingle)[start : start + length])
    return m


@given(
    st.lists(st.integers(0, 2**32 - 1), min_size=4, max_size=120),
    st.sampled_from([16, 64, 128]),
    st.integers(1, 2**16),
    st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_signatures_are_identical_to_datasketch(
    ids: list[int], num_perm: int, seed: int, query: bool
) -> None:
    arr = np.array(ids, dtype=np.uint32)
    sketches = sketch_windows(arr, CHANNEL, num_perm=num_perm, seed=seed, query=query)
    assert len(sketches) >= 1
    windows = zip(sketches.starts, sketches.lengths, sketches.signatures, strict=True)
    for start, length, signature in windows:
        expected = _datasketch(arr, int(start), int(length), num_perm, seed)
        assert np.array_equal(expected.hashvalues, signature)
        lean = LeanMinHash(seed=seed, hashvalues=signature, scheme="affine32")
        assert lean.jaccard(LeanMinHash(expected)) == 1.0


def test_vectorised_shingle_hashes_equal_the_datasketch_hashfunc() -> None:
    ids = np.arange(1000, 1100, dtype=np.uint32)
    vector = shingle_hashes(ids, 4)
    scalar = [shingle_hash(b) for b in shingle_bytes(ids, 4)]
    assert vector.tolist() == scalar


def test_windows_cover_the_tail() -> None:
    assert window_starts(0, 24, 8).tolist() == []
    assert window_starts(5, 24, 8).tolist() == [0]
    starts = window_starts(100, 24, 8)
    assert starts[-1] + 24 == 100


def test_similar_windows_share_band_keys_and_different_ones_do_not() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2**32, 60, dtype=np.uint64).astype(np.uint32)
    b = a.copy()
    b[30] = 12345  # one token edited
    c = rng.integers(0, 2**32, 60, dtype=np.uint64).astype(np.uint32)
    keys = [
        band_keys(sketch_windows(x, CHANNEL, num_perm=64, seed=1, query=False).signatures, 21, 3)
        for x in (a, b, c)
    ]
    assert len(set(keys[0].ravel()) & set(keys[1].ravel())) > 0
    assert len(set(keys[0].ravel()) & set(keys[2].ravel())) == 0


def test_token_hasher_is_keyed_and_salted_by_channel() -> None:
    one = TokenHasher(b"k" * 32)
    two = TokenHasher(b"j" * 32)
    assert one.ids("code", ["def"]).tolist() != two.ids("code", ["def"]).tolist()
    assert one.ids("code", ["def"]).tolist() != one.ids("text", ["def"]).tolist()
    assert one.ids("code", ["x", "x"])[0] == one.ids("code", ["x"])[0]


def test_permutations_equal_datasketch_without_importing_it() -> None:
    from ipguard.sketch import permutations

    for num_perm, seed in ((64, 1), (128, 7), (16, 12345)):
        a, b = permutations(num_perm, seed)
        da, db = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        assert np.array_equal(a, da) and np.array_equal(b, db)


@given(st.integers(0, 2**32 - 1), st.integers(1, 700))
@settings(max_examples=40, deadline=None)
def test_mersenne_twister_draws_what_numpy_random_state_draws(seed: int, count: int) -> None:
    from ipguard.sketch import _mt19937_words

    expected = np.random.RandomState(seed).randint(0, 1 << 32, count, dtype=np.uint32)
    assert _mt19937_words(seed, count) == expected.tolist()


def test_permutations_reject_seeds_random_state_rejects() -> None:
    from ipguard.sketch import permutations

    for seed in (-1, 2**32):
        with pytest.raises(ValueError):
            permutations(8, seed)


def test_token_ids_do_not_depend_on_what_the_cache_remembers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ipguard.sketch as sketch

    tokens = [f"t{i % 37}" for i in range(300)]
    expected = sketch.TokenHasher(b"k" * 32).ids("code", tokens)
    monkeypatch.setattr(sketch, "CACHED_TOKENS", 5)  # starts over again and again
    hasher = sketch.TokenHasher(b"k" * 32)
    for _ in range(3):
        assert (hasher.ids("code", tokens) == expected).all()
    assert (hasher.ids("text", tokens) != expected).any()  # the channel salts the hash


_WORDLIKE = st.text(alphabet="abcXYZ019_", min_size=1, max_size=24)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(_WORDLIKE, max_size=80), min_size=1, max_size=4),
    st.sampled_from([" ", ", ", ".\n", "--", "\t"]),
    st.integers(4, 5000),
)
def test_ids_from_the_bytes_of_ascii_prose_equal_ids_from_its_words(
    texts: list[list[str]], gap: str, cached: int
) -> None:
    # Words of 1 to 24 bytes: read whole in two 64-bit words up to 16, by
    # string past it; one hasher over several texts, its table growing,
    # spilling past its first probes and starting over when full.
    import ipguard.sketch as sketch
    from ipguard.index import stream_ids
    from ipguard.normalize import normalize
    from ipguard.normalize.text import word_spans

    by_bytes = sketch.TokenHasher(b"k" * 32)
    by_words = sketch.TokenHasher(b"k" * 32)
    previous = sketch.CACHED_TOKENS
    sketch.CACHED_TOKENS = cached
    try:
        for words in texts:
            text = gap.join(words)
            stream = normalize(text, kind="text").text
            assert stream.folded is not None
            # The words the bytes stand for are those the regular expression finds.
            expected_words, expected_spans = word_spans(text)
            assert list(stream.tokens) == expected_words
            assert stream.spans.tolist() == expected_spans.tolist()
            got = stream_ids(by_bytes, stream)
            assert got.tolist() == by_words.ids("text", list(stream.tokens)).tolist()
            assert [stream.token(i) for i in range(len(stream))] == list(stream.tokens)
    finally:
        sketch.CACHED_TOKENS = previous


def test_words_that_differ_in_one_byte_get_their_own_ids() -> None:
    # Every length up to 24 bytes, each byte changed in turn: a fingerprint
    # that dropped or shifted a byte would give two of these one id.
    from ipguard.index import stream_ids
    from ipguard.normalize import normalize
    from ipguard.sketch import TokenHasher

    base = "abcdefghijklmnopqrstuvwx"
    words = [base[:n] for n in range(1, 25)]
    words += [w[:j] + "z" + w[j + 1 :] for w in words for j in range(len(w))]
    stream = normalize(" ".join(words), kind="text").text
    got = stream_ids(TokenHasher(b"k" * 32), stream).tolist()
    assert got == TokenHasher(b"k" * 32).ids("text", words).tolist()
    assert len(set(got)) == len(set(words))


def test_known_lsh_parameters_equal_datasketch_choice() -> None:
    from datasketch.lsh import _optimal_param

    from ipguard.config import KNOWN_OPTIMA, IndexConfig

    for (threshold, num_perm), pair in KNOWN_OPTIMA.items():
        assert _optimal_param(threshold, num_perm, 0.5, 0.5) == pair
    # A setting outside the table still asks datasketch.
    assert IndexConfig(lsh_threshold=0.5).bands_rows == _optimal_param(0.5, 64, 0.5, 0.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 3000), min_size=1, max_size=6),
    st.integers(0, 12),
    st.integers(0, 2**32 - 1),
)
def test_fingerprint_table_finds_every_id_it_was_given(
    batches: list[int], shared_low_bits: int, seed: int
) -> None:
    # Batches of new fingerprints, the table growing past its first 4,096
    # slots; fingerprints that share their low bits want the same slots, so
    # some go past their first probes to the dictionary, and growing the
    # table must keep those too.
    import numpy as np

    from ipguard.sketch import _FingerprintTable

    rng = np.random.default_rng(seed)
    table = _FingerprintTable(b"k" * 32)
    given: dict[int, int] = {}
    for size in batches:
        prints = rng.integers(0, 2**63, size, dtype=np.int64).astype(np.uint64) * np.uint64(2)
        prints &= ~np.uint64((1 << shared_low_bits) - 1)
        prints = np.unique(prints[~np.isin(prints, np.array(list(given), dtype=np.uint64))])
        values = rng.integers(0, 2**32, len(prints), dtype=np.int64)
        table.add(prints, values)
        given.update(zip(prints.tolist(), values.tolist(), strict=True))
        known = np.array(list(given), dtype=np.uint64)
        assert table.find(known).tolist() == list(given.values())
        assert table.count == len(given)
    absent = np.array([p + 1 for p in given], dtype=np.uint64)  # all of them even
    assert (table.find(absent) == -1).all()


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_strided_window_minima_equal_a_plain_minimum(
    stride: int, width: int, count: int, seed: int
) -> None:
    import numpy as np

    from ipguard.sketch import strided_min

    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**32, ((count - 1) * stride + width, 3), dtype=np.uint64)
    expected = [values[k * stride : k * stride + width].min(axis=0) for k in range(count)]
    assert strided_min(values, count, stride, width).tolist() == np.array(expected).tolist()
