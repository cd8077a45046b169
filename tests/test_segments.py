"""Band segments: lookups equal a scan, damage is reported, writers keep them few."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import PROTECTED_PROSE, copy_index
from hypothesis import given, settings
from hypothesis import strategies as st

from ipguard import Guard
from ipguard.model import Document
from ipguard.stores import BULK_SEGMENTS, DOC_SHIFT, segments
from ipguard.stores.segments import BLOCK, Segment, SegmentError, _sorted_half, write_segment
from ipguard.stores.sqlite import MAX_SEGMENTS, SQLiteStore


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 2**20) | st.integers(0, 40), min_size=0, max_size=600),
    st.integers(-(2**62), 2**62),
    st.sampled_from(["random", "runs", "sorted"]),
)
def test_segment_order_equals_a_stable_argsort(values: list[int], base: int, shape: str) -> None:
    # Small values added to one large base differ only in low bits, which the
    # fast path replaces: the fix-up must put them in order, also where
    # repeated keys and different ones share the high bits.
    keys = np.array(values, dtype=np.int64) + np.int64(base)
    if shape == "runs":
        keys = np.concatenate([np.sort(part) for part in np.array_split(keys, 3)])
    elif shape == "sorted":
        keys = np.sort(keys)
    _assert_halves_sorted_stably(keys)


def _assert_halves_sorted_stably(keys: np.ndarray) -> None:
    expected = np.argsort(keys, kind="stable")
    negative = int(np.count_nonzero(keys < 0))
    for chunk in (segments._TAG_CHUNK, 7):  # and chunks that end between neighbours
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(segments, "_TAG_CHUNK", chunk)
            for sign, part in ((-1, expected[:negative]), (1, expected[negative:])):
                ordered, order = _sorted_half(keys, sign)
                assert np.array_equal(order, part)
                assert np.array_equal(ordered, keys[part])


def test_a_segment_written_in_chunks_is_the_segment_written_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(-1000, 1000, 3 * BLOCK + 5, dtype=np.int64)
    wins = np.arange(len(keys), dtype=np.int64)
    whole = write_segment(str(tmp_path / "whole.seg"), keys, wins)
    monkeypatch.setattr(segments, "_WRITE_CHUNK", 100)  # chunks that end inside blocks
    chunked = write_segment(str(tmp_path / "chunked.seg"), keys, wins)
    assert chunked == whole == segments.file_digest(str(tmp_path / "chunked.seg"))
    assert (tmp_path / "whole.seg").read_bytes() == (tmp_path / "chunked.seg").read_bytes()
    seg = Segment(str(tmp_path / "chunked.seg"), len(keys))
    query = np.unique(keys[::4])
    found = seg.lookup(query)
    assert sorted(zip(*(a.tolist() for a in found), strict=True)) == _scan(keys, wins, query)
    seg.close()


def _reference_segment(keys: np.ndarray, wins: np.ndarray, light: bool) -> bytes:
    """The bytes a segment of these pairs must have, built the plain way."""
    size, probes = segments._filter_shape(
        len(keys), segments.LIGHT_PROBES if light else segments.MAX_PROBES
    )
    order = np.argsort(keys, kind="stable")
    block = segments.block_pairs(len(keys))
    fence = keys[order[::block]].astype("<i8")
    bloom = np.zeros(size // 8, dtype="<u8")
    # A key's word and probe bits, a bit at a time (`_word_masks` looks two up at once).
    x = keys.view(np.uint64)
    word = ((x >> np.uint64(32)) * np.uint64(len(bloom))) >> np.uint64(32)
    mixed = x * segments._MIX2
    mask = np.zeros(len(x), dtype=np.uint64)
    for probe in range(1, probes + 1):
        mask |= np.uint64(1) << ((mixed >> np.uint64(64 - 6 * probe)) & np.uint64(63))
    np.bitwise_or.at(bloom, word.astype(np.int64), mask)
    pairs = np.stack([keys[order], wins[order]], axis=1).astype("<i8")
    header = segments._HEADER.pack(segments.MAGIC, len(keys), block, len(fence), size, probes)
    return header + fence.tobytes() + bloom.tobytes() + pairs.tobytes()


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 3000),
    st.sampled_from(["mixed", "negative", "positive", "few"]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_a_segment_written_by_two_threads_is_the_plain_segment(
    tmp_path_factory: pytest.TempPathFactory, count: int, signs: str, light: bool, seed: int
) -> None:
    # Thresholds lowered so that small segments (but light ones) take the
    # threaded path, with blocks of 256 to 1,024 pairs and write chunks that
    # end inside blocks: the halves' fence keys, filter words and CRCs must
    # join up exactly, with one thread or two.
    rng = np.random.default_rng(seed)
    keys = rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64)
    if signs == "negative":
        keys = -np.abs(keys) - 1
    elif signs == "positive":
        keys = np.abs(keys + 1)
    elif signs == "few":  # long runs of equal keys, on both sides of zero
        keys = rng.choice(np.array([-(2**40), -3, 0, 5, 2**50], dtype=np.int64), count)
    wins = rng.integers(0, 2**40, count, dtype=np.int64)
    folder = tmp_path_factory.mktemp("halves")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segments, "_WRITE_CHUNK", 300)
        patch.setattr(segments, "_MARK_CHUNK", 70)
        patch.setattr(segments, "MAX_FENCE_KEYS", 3)
        expected = _reference_segment(keys, wins, light)
        for threaded in (1, 10**9):
            patch.setattr(segments, "_THREADED_PAIRS", threaded)
            path = str(folder / f"t{threaded}.seg")
            digest = write_segment(path, keys, wins, light=light)
            assert Path(path).read_bytes() == expected
            assert digest == segments.file_digest(path)
            seg = Segment(path, count)
            query = np.unique(np.concatenate([keys[::3], rng.integers(-9, 9, 20)]))
            found = seg.lookup(query)
            assert sorted(zip(*(a.tolist() for a in found), strict=True)) == _scan(
                keys, wins, query
            )
            seg.close()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 3 * BLOCK), min_size=1, max_size=4),
    st.sampled_from(["random", "few keys", "one sign"]),
    st.integers(1, 4 * BLOCK),
    st.booleans(),
    st.booleans(),
)
def test_a_merged_segment_is_the_segment_of_the_pairs_laid_end_to_end(
    tmp_path_factory: pytest.TempPathFactory,
    sizes: list[int],
    shape: str,
    chunk: int,
    threads: bool,
    drop: bool,
) -> None:
    # Merges are written a key range at a time: small ranges (`MERGE_CHUNK`),
    # keys repeated across segments and within them, a run of one key wider
    # than a range, a sign left empty, documents dropped.
    with pytest.MonkeyPatch.context() as monkeypatch:
        folder = tmp_path_factory.mktemp("merge")
        rng = np.random.default_rng(len(sizes) * 1000 + chunk)
        monkeypatch.setattr(segments, "MERGE_CHUNK", chunk)
        monkeypatch.setattr(segments, "_THREADED_PAIRS", 1 if threads else 1 << 40)
        parts, opened = [], []
        for i, size in enumerate(sizes):
            if shape == "random":
                keys = rng.integers(-(2**63), 2**63 - 1, size, dtype=np.int64)
            elif shape == "few keys":
                keys = rng.integers(-3, 4, size, dtype=np.int64) * (1 << 60)
            else:
                keys = rng.integers(0, 2**40, size, dtype=np.int64)
            wins = (rng.integers(1, 6, size, dtype=np.int64) << DOC_SHIFT) + np.arange(size)
            path = str(folder / f"{i}.seg")
            write_segment(path, keys, wins, light=bool(i % 2))
            parts.append((keys, wins))
            opened.append(Segment(path, size))
        dropped = np.array([2, 4] if drop else [], dtype=np.int64)
        keys = np.concatenate([k for k, _ in parts])
        wins = np.concatenate([w for _, w in parts])
        kept = ~np.isin(wins >> DOC_SHIFT, dropped)
        merged = str(folder / "merged.seg")
        # The last pass over each segment lets the page cache drop every pair
        # it read, once, and nothing else of the file (a counting pass first
        # would read them again). A sign whose pairs are all dropped is not read.
        forgotten: dict[str, list[tuple[int, int]]] = {}
        forget = Segment.forget_pairs

        def recorded(self: Segment, start: int, stop: int) -> None:
            forgotten.setdefault(self.path, []).append((start, stop))
            forget(self, start, stop)

        advised: list[tuple[int, int, int]] = []
        advise = os.posix_fadvise
        monkeypatch.setattr(Segment, "forget_pairs", recorded)
        monkeypatch.setattr(
            segments.os,
            "posix_fadvise",
            lambda fd, at, size, how: advised.append((fd, at, size)) or advise(fd, at, size, how),
        )
        digest, count = segments.write_merged(merged, opened, dropped, DOC_SHIFT)
        assert count == int(kept.sum())
        if count:
            signs_read = [bool((keys[kept] < 0).any()), bool((keys[kept] >= 0).any())]
            for seg, (seg_keys, _) in zip(opened, parts, strict=True):
                spans = sorted(forgotten.get(seg.path, []))
                assert all(a[1] <= b[0] for a, b in zip(spans[:-1], spans[1:], strict=True))
                read = signs_read[0] * int((seg_keys < 0).sum())
                read += signs_read[1] * int((seg_keys >= 0).sum())
                assert sum(stop - start for start, stop in spans) == read
            files = {seg._fd: seg for seg in opened}
            for fd, at, size in advised:
                pairs_at = os.path.getsize(files[fd].path) - 16 * files[fd].entries
                assert pairs_at <= at and at + size <= pairs_at + 16 * files[fd].entries
            monkeypatch.setattr(segments, "_THREADED_PAIRS", 1 << 40)
            expected = write_segment(str(folder / "whole.seg"), keys[kept], wins[kept])
            assert digest == expected == segments.file_digest(merged)
            assert Path(merged).read_bytes() == (folder / "whole.seg").read_bytes()
        else:
            assert not forgotten
            assert not Path(merged).exists()
        for seg in opened:
            seg.close()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=3000))
def test_crc32_combine_equals_the_crc_of_the_concatenation(first: bytes, second: bytes) -> None:
    import zlib

    from ipguard.stores.segments import crc32_combine

    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


def test_segment_order_of_random_hashes_with_repeats() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(-(2**63), 2**63 - 1, 50_000, dtype=np.int64)
    keys[::5] = keys[1::5][: len(keys[::5])]  # repeated band keys (repeated code)
    _assert_halves_sorted_stably(keys)


def _scan(
    keys: np.ndarray, wins: np.ndarray, query: np.ndarray, limit: int | None = None
) -> list[tuple[int, int]]:
    """The pairs whose key is asked for; with `limit`, each key's lowest windows only."""
    hit = np.isin(keys, query)
    found = sorted(zip(keys[hit].tolist(), wins[hit].tolist(), strict=True))
    if limit is None:
        return found
    taken: dict[int, int] = {}
    kept = []
    for key, win in found:
        taken[key] = taken.get(key, 0) + 1
        if taken[key] <= limit:
            kept.append((key, win))
    return kept


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=1, max_size=4 * BLOCK),
    st.lists(st.integers(-60, 60), max_size=40),
    st.one_of(st.none(), st.integers(1, 3 * BLOCK)),
)
def test_lookup_finds_exactly_what_a_scan_finds(
    tmp_path_factory: pytest.TempPathFactory,
    stored: list[int],
    asked: list[int],
    limit: int | None,
) -> None:
    # Few distinct keys among many pairs: runs of one key cross block borders.
    # A key's pairs lie in the order written: with a limit, its first windows.
    path = str(tmp_path_factory.mktemp("seg") / "s.seg")
    keys = np.array(stored, dtype=np.int64)
    wins = np.arange(len(keys), dtype=np.int64) * 7
    write_segment(path, keys, wins)
    seg = Segment(path, len(keys))
    query = np.unique(np.array(asked, dtype=np.int64))
    found_keys, found_wins = seg.lookup(query, limit)
    assert sorted(zip(found_keys.tolist(), found_wins.tolist(), strict=True)) == _scan(
        keys, wins, query, limit
    )
    seg.close()


def test_random_keys_at_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    keys = rng.integers(-(2**62), 2**62, 200_000, dtype=np.int64)
    keys[:1000] = keys[1000:2000]  # shared keys
    wins = rng.integers(0, 2**40, len(keys), dtype=np.int64)
    path = str(tmp_path / "big.seg")
    write_segment(path, keys, wins)
    seg = Segment(path, len(keys))
    asked = [keys[rng.integers(0, len(keys), 300)], rng.integers(0, 9, 300)]
    query = np.unique(np.concatenate(asked))
    k, w = seg.lookup(query)
    assert sorted(zip(k.tolist(), w.tolist(), strict=True)) == _scan(keys, wins, query)
    seg.close()


@pytest.mark.parametrize("near", [4, 16, segments.NEAR_PAIRS])
def test_reads_near_a_guessed_place_find_what_a_scan_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, near: int
) -> None:
    # Random keys over many blocks, with runs of one key (some longer than a
    # read, some across block borders): small reads miss their key often and
    # fall back to whole blocks.
    rng = np.random.default_rng(near)
    keys = rng.integers(-(2**63), 2**63 - 1, 40 * BLOCK, dtype=np.int64)
    keys[::97] = keys[0]
    keys[5 : 5 + 3 * near] = keys[5]
    wins = np.arange(len(keys), dtype=np.int64)
    path = str(tmp_path / "near.seg")
    write_segment(path, keys, wins)
    monkeypatch.setattr(segments, "NEAR_PAIRS", near)
    monkeypatch.setattr(segments, "NEAR_KEYS", 1)
    seg = Segment(path, len(keys))
    stored = np.unique(keys)
    asked = np.unique(
        np.concatenate(
            [
                stored[::3],
                seg.fence,
                seg.fence + 1,
                rng.integers(-(2**63), 2**63 - 1, 500, dtype=np.int64),
                [np.iinfo(np.int64).min, np.iinfo(np.int64).max],
            ]
        )
    )
    found = seg.lookup(asked)
    assert sorted(zip(*(a.tolist() for a in found), strict=True)) == _scan(keys, wins, asked)
    for limit in (1, near - 1, near, near + 1, 2 * near + 3):
        found = seg.lookup(asked, limit)
        assert sorted(zip(*(a.tolist() for a in found), strict=True)) == _scan(
            keys, wins, asked, limit
        )
    seg.close()


def test_a_key_shared_by_more_windows_than_a_block_holds(tmp_path: Path) -> None:
    # A boilerplate window in thousands of documents: its run spans many blocks.
    keys = np.concatenate([np.full(3 * BLOCK + 7, 42), np.arange(1000) * 3 + 1]).astype(np.int64)
    wins = np.arange(len(keys), dtype=np.int64)
    path = str(tmp_path / "run.seg")
    write_segment(path, keys, wins)
    seg = Segment(path, len(keys))
    query = np.array([1, 41, 42, 43, 2998], dtype=np.int64)
    k, w = seg.lookup(query)
    assert sorted(zip(k.tolist(), w.tolist(), strict=True)) == _scan(keys, wins, query)
    for limit in (5, BLOCK, BLOCK + 1, 2 * BLOCK + 9, 10 * BLOCK):
        k, w = seg.lookup(query, limit)
        assert sorted(zip(k.tolist(), w.tolist(), strict=True)) == _scan(keys, wins, query, limit)
    seg.close()


def test_the_largest_key_in_a_part_filled_last_block(tmp_path: Path) -> None:
    # A lookup pads the unfilled end of the last block it reads with the largest key.
    top = np.iinfo(np.int64).max
    keys = np.concatenate([np.arange(BLOCK + 3), [top, top - 1, top]]).astype(np.int64)
    wins = np.arange(len(keys), dtype=np.int64)
    path = str(tmp_path / "top.seg")
    write_segment(path, keys, wins)
    seg = Segment(path, len(keys))
    query = np.array([5, BLOCK + 2, top - 1, top], dtype=np.int64)
    k, w = seg.lookup(query)
    assert sorted(zip(k.tolist(), w.tolist(), strict=True)) == _scan(keys, wins, query)
    seg.close()


def test_the_filter_passes_every_stored_key_and_few_others(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    keys = rng.integers(-(2**63), 2**63 - 1, 100_000, dtype=np.int64)
    path = str(tmp_path / "f.seg")
    write_segment(path, keys, np.zeros(len(keys), dtype=np.int64))
    seg = Segment(path, len(keys))
    assert seg.might_hold(keys).all()
    absent = rng.integers(-(2**63), 2**63 - 1, 100_000, dtype=np.int64)
    # 16 bits and 4 probes per pair in 64-bit blocks: 0.52% measured.
    assert seg.might_hold(absent).mean() < 0.008
    assert not seg.light
    seg.close()
    write_segment(
        str(tmp_path / "light.seg"), keys, np.zeros(len(keys), dtype=np.int64), light=True
    )
    light = Segment(str(tmp_path / "light.seg"), len(keys))
    assert light.light and light.might_hold(keys).all()
    # One probe: about 6% (1 - e^(-1/16)).
    assert 0.03 < light.might_hold(absent).mean() < 0.09
    light.close()


def test_a_folded_filter_still_passes_every_stored_key(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    keys = rng.integers(-(2**63), 2**63 - 1, 50_000, dtype=np.int64)
    absent = rng.integers(-(2**63), 2**63 - 1, 50_000, dtype=np.int64)
    path = str(tmp_path / "f.seg")
    write_segment(path, keys, np.zeros(len(keys), dtype=np.int64))
    let_through = []
    for fold in (1, 2, 8, 32):
        seg = Segment(path, len(keys))
        seg.load_filter(fold)
        assert seg.fold == fold and len(seg._bloom) == seg.filter_bytes // 8 // fold
        assert seg.might_hold(keys).all()
        let_through.append(seg.might_hold(absent).mean())
        seg.close()
    assert let_through == sorted(let_through) and let_through[-1] > 10 * let_through[0]
    # Folding a filter already in memory gives the filter folded at once.
    stepwise, direct = Segment(path, len(keys)), Segment(path, len(keys))
    stepwise.load_filter(1)
    stepwise.load_filter(4)
    stepwise.load_filter(2)  # never unfolded
    direct.load_filter(4)
    assert stepwise.fold == 4 and np.array_equal(stepwise._bloom, direct._bloom)
    with pytest.raises(ValueError):
        direct.load_filter(3)
    stepwise.close()
    direct.close()


def test_filters_of_several_segments_are_folded_to_fit_their_budget(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    segs = []
    for i, count in enumerate((40_000, 30_000, 3_000)):
        keys = rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64)
        write_segment(str(tmp_path / f"{i}.seg"), keys, np.zeros(count, dtype=np.int64))
        segs.append((Segment(str(tmp_path / f"{i}.seg"), count), keys))
    unfolded = sum(s.filter_bytes + 8 * len(s.fence) for s, _ in segs)
    budget = unfolded // 3
    segments.fit_filters([s for s, _ in segs], budget)
    assert sum(s._bloom.nbytes + s.fence.nbytes for s, _ in segs) <= budget
    # The segment with the most bits per pair is folded first: here, the
    # small one, whose filter was rounded up the most.
    bits = [8 * s._bloom.nbytes / s.entries for s, _ in segs]
    assert max(bits) < 2 * min(bits), bits
    for seg, keys in segs:
        assert seg.might_hold(keys).all()
        seg.close()


def _filter_by_definition(keys: list[int], words: int, probes: int) -> bytes:
    """The filter words as the format defines them, one key at a time."""
    out = [0] * words
    for key in keys:
        x = key % 2**64
        word = ((x >> 32) * words) >> 32
        mixed = (x * 0xC2B2AE3D27D4EB4F) % 2**64
        for probe in range(1, probes + 1):
            out[word] |= 1 << ((mixed >> (64 - 6 * probe)) & 63)
    return b"".join(w.to_bytes(8, "little") for w in out)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=400),
    st.integers(1, 3),
    st.booleans(),
)
def test_the_filter_is_the_one_its_definition_gives(
    tmp_path_factory: pytest.TempPathFactory, keys: list[int], repeat: int, light: bool
) -> None:
    # Repeated keys, and more keys than words, share words: every bit must land.
    keys = keys * repeat
    path = str(tmp_path_factory.mktemp("f") / "f.seg")
    write_segment(path, np.array(keys, dtype=np.int64), np.zeros(len(keys), np.int64), light=light)
    head = segments._HEADER.unpack(Path(path).read_bytes()[: segments._HEADER.size])
    _, pairs, _, fence, size, probes = head
    at = segments._HEADER.size + 8 * fence
    stored = Path(path).read_bytes()[at : at + size]
    assert stored == _filter_by_definition(keys, size // 8, probes)


def test_truncated_or_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.seg"
    write_segment(str(path), np.arange(500, dtype=np.int64), np.arange(500, dtype=np.int64))
    with pytest.raises(SegmentError, match="not the segment"):
        Segment(str(path), 499)
    data = path.read_bytes()
    path.write_bytes(data[:-9])
    with pytest.raises(SegmentError, match="truncated"):
        Segment(str(path), 500)
    path.write_bytes(b"x" * len(data))
    with pytest.raises(SegmentError, match="not the segment"):
        Segment(str(path), 500)
    with pytest.raises(SegmentError, match="missing"):
        Segment(str(tmp_path / "gone.seg"), 500)


def _listed(index: Path) -> list[str]:
    db = sqlite3.connect(index)
    names = [name for (name,) in db.execute("SELECT name FROM segments ORDER BY seq")]
    db.close()
    return names


def test_segments_stay_few_and_compact_to_one(tmp_path: Path) -> None:
    index = tmp_path / "few.ipguard.db"
    with Guard.open(str(index), create=True) as guard:
        _write_one_by_one(guard, 40)  # one batch (so one new segment) each
        counts = len(_listed(index))
        assert 1 < counts <= MAX_SEGMENTS, counts  # the smallest are merged as they come
        store = guard.index.store
        assert isinstance(store, SQLiteStore)
        before = store.band_pairs()
        guard.index.compact()
        assert len(_listed(index)) == 1
        after = store.band_pairs()
        assert sorted(zip(*(a.tolist() for a in before), strict=True)) == sorted(
            zip(*(a.tolist() for a in after), strict=True)
        )
        assert set(os.listdir(f"{index}.bands")) == set(_listed(index))
        assert not guard.verify()


def test_an_indexing_run_merges_once_at_its_end(tmp_path: Path) -> None:
    index = tmp_path / "bulk.ipguard.db"
    with Guard.open(str(index), create=True) as guard:
        with guard.index.bulk():
            _write_one_by_one(guard, 40)
            during = len(_listed(index))
            assert MAX_SEGMENTS < during <= BULK_SEGMENTS, during
        assert len(_listed(index)) == 1
        # A small addition to a large index is not worth rewriting it all.
        with guard.index.bulk():
            guard.index.write([guard.index.prepare(*_prepared(("late", "one two three " * 9)))], [])
        assert len(_listed(index)) == 2
        assert all(_filtered(guard))  # the addition's segment was given its filter
        assert not guard.verify()
        assert not guard.index.store.bulk


def test_segments_whose_filters_exceed_the_lookup_budget_are_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "budget.ipguard.db"
    texts = [(f"doc{i}", _made_up_text(i, 400)) for i in range(12)]
    with Guard.open(str(index), create=True) as guard:
        guard.index_texts(texts[:11])
        guard.index_texts(texts[11:])  # under a tenth of the pairs: kept apart
        assert len(_listed(index)) == 2
    store_bytes = _lookup_bytes(index)
    # A checker holds the filters within a smaller budget by folding them,
    # and still finds every document.
    monkeypatch.setattr(segments, "MAX_LOOKUP_BYTES", store_bytes // 3)
    with Guard.open(str(index)) as guard:
        assert all(guard.check(text).action == "block" for _, text in texts)
        store = guard.index.store
        assert isinstance(store, SQLiteStore)
        held = store._segments()
        assert sum(s._bloom.nbytes + s.fence.nbytes for s in held) <= store_bytes // 3
        assert any(s.fold > 1 for s in held)
    # The next run's compaction merges them, as one filter then fits.
    monkeypatch.setattr(segments, "MAX_LOOKUP_BYTES", store_bytes - 1)
    with Guard.open(str(index)) as guard:
        guard.index_texts([("late", _made_up_text(99, 30))])
        assert len(_listed(index)) == 1
        assert all(guard.check(text).action == "block" for _, text in texts)
        assert not guard.verify()


def test_verify_reads_segments_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "verify.ipguard.db"
    with Guard.open(str(index), create=True) as guard:
        guard.index_texts([(f"doc{i}", _made_up_text(i, 300)) for i in range(4)])
    monkeypatch.setattr(segments, "MERGE_CHUNK", 7)  # counts and order span chunks
    with Guard.open(str(index)) as guard:
        assert not guard.verify()
    (name,) = _listed(index)
    path = f"{index}.bands/{name}"
    with Guard.open(str(index)) as guard:
        store = guard.index.store
        assert isinstance(store, SQLiteStore)
        seg = store._segment(name, store._segment_rows()[0][2])
        pairs_at = seg._pairs_at
        keys, _ = seg.pairs()
    # Swap two pairs of different keys that straddle a chunk border.
    at = next(i for i in range(6, len(keys), 7) if keys[i] != keys[i + 1])
    with open(path, "r+b") as f:
        f.seek(pairs_at + 16 * at)
        two = f.read(32)
        f.seek(pairs_at + 16 * at)
        f.write(two[16:] + two[:16])
    db = sqlite3.connect(index)
    db.execute("UPDATE segments SET digest = ?", (segments.file_digest(path),))
    db.commit()
    db.close()
    with Guard.open(str(index)) as guard:
        assert any("is not sorted" in p for p in guard.verify())


def _made_up_text(seed: int, words: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(f"w{n}" for n in rng.integers(0, 5000, words))


def _lookup_bytes(index: Path) -> int:
    with Guard.open(str(index)) as guard:
        store = guard.index.store
        assert isinstance(store, SQLiteStore)
        return store._lookup_bytes(store._segment_rows())


def _filtered(guard: Guard) -> list[bool]:
    """Per listed segment, whether it has a full filter."""
    store = guard.index.store
    assert isinstance(store, SQLiteStore)
    return [not seg.light for seg in store._segments()]


def test_segments_of_a_run_get_a_full_filter_when_it_ends(tmp_path: Path) -> None:
    index = tmp_path / "filters.ipguard.db"
    with Guard.open(str(index), create=True) as guard:
        store = guard.index.store
        assert isinstance(store, SQLiteStore)
        with guard.index.bulk():
            _write_one_by_one(guard, 12)
            assert _filtered(guard) == [False] * len(_listed(index))
            keys, wins = store.band_pairs()
            query = np.unique(keys[::3])
            # Lookups during the run see through the light filters.
            found = store.lookup(query)
            assert sorted(zip(*(a.tolist() for a in found), strict=True)) == _scan(
                keys, wins, query
            )
            # Repeated and unsorted keys are looked up once; no keys, nothing.
            again = store.lookup(np.concatenate([query[::-1], query[:5]]))
            assert sorted(zip(*(a.tolist() for a in again), strict=True)) == _scan(
                keys, wins, query
            )
            assert all(len(a) == 0 for a in store.lookup(np.zeros(0, dtype=np.int64)))
            # A limit holds across segments: each key's earliest windows.
            assert len(store._segment_rows()) > 1
            for limit in (1, 2):
                found = store.lookup(query, limit)
                assert sorted(zip(*(a.tolist() for a in found), strict=True)) == _scan(
                    keys, wins, query, limit
                )
        assert _filtered(guard) == [True]


def test_an_interrupted_run_leaves_light_filters_the_next_run_replaces(
    tmp_path: Path,
) -> None:
    index = tmp_path / "interrupted.ipguard.db"
    with Guard.open(str(index), create=True) as guard:
        _write_one_by_one(guard, 9)  # a finished earlier run, outside a bulk run
        with pytest.raises(KeyboardInterrupt), guard.index.bulk():
            _write_one_by_one(guard, 3, first=100)
            raise KeyboardInterrupt
        assert _filtered(guard).count(False) == 3
        assert (
            guard.check(" ".join(f"word{(100 * 31 + j * 7) % 997}" for j in range(120))).action
            == "block"
        )
        assert not guard.verify()
        with guard.index.bulk():
            guard.index.write([guard.index.prepare(*_prepared(("late", "one two three " * 9)))], [])
        assert all(_filtered(guard))
        assert not guard.verify()


def _write_one_by_one(guard: Guard, count: int, first: int = 0) -> None:
    """Index `count` made-up texts, one write (one segment) each."""
    for i in range(first, first + count):
        words = " ".join(f"word{(i * 31 + j * 7) % 997}" for j in range(120))
        guard.index.write([guard.index.prepare(*_prepared((f"doc{i}", words)))], [])


def _prepared(item: tuple[str, str]):  # type: ignore[no-untyped-def]
    from ipguard.model import Document
    from ipguard.normalize import normalize

    doc = Document(source=item[0], text=item[1], kind="text")
    return doc, normalize(doc.text, kind="text")


def test_a_reader_sees_what_another_connection_wrote(tmp_path: Path) -> None:
    index = str(tmp_path / "shared.ipguard.db")
    with Guard.open(index, create=True) as writer, Guard.open(index) as reader:
        assert reader.check(PROTECTED_PROSE).action == "allow"
        writer.index_texts([("chart", PROTECTED_PROSE)])
        assert reader.check(PROTECTED_PROSE).action == "block"
        writer.remove(source="chart")
        assert reader.check(PROTECTED_PROSE).action == "allow"


def test_a_file_left_by_a_killed_writer_is_deleted_by_the_next(tmp_path: Path) -> None:
    index = tmp_path / "left.ipguard.db"
    with Guard.open(str(index), create=True) as guard:
        guard.index_texts([("chart", PROTECTED_PROSE)])
    left = Path(f"{index}.bands/0123456789abcdef.seg")
    write_segment(str(left), np.array([5], np.int64), np.array([77 << DOC_SHIFT], np.int64))
    with Guard.open(str(index)) as guard:
        assert not guard.verify()  # not listed, so not part of the index
        assert guard.check(PROTECTED_PROSE).action == "block"
        guard.index_texts([("other", "A few words of a note about nothing in particular.")])
    assert not left.exists()
    assert set(os.listdir(f"{index}.bands")) == set(_listed(index))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(-300, 300), min_size=1, max_size=6 * BLOCK),
    st.lists(st.integers(-320, 320), max_size=60),
    st.integers(1, 5),
)
def test_blocks_grow_so_the_fence_stays_within_its_cap(
    tmp_path_factory: pytest.TempPathFactory,
    stored: list[int],
    asked: list[int],
    cap: int,
) -> None:
    # The cap is lowered so that a few hundred pairs need blocks of 512 to 2,048.
    keys = np.array(stored, dtype=np.int64)
    wins = np.arange(len(keys), dtype=np.int64) * 3
    path = str(tmp_path_factory.mktemp("fence") / "s.seg")
    original = segments.MAX_FENCE_KEYS
    segments.MAX_FENCE_KEYS = cap
    try:
        write_segment(path, keys, wins)
    finally:
        segments.MAX_FENCE_KEYS = original
    seg = Segment(path, len(keys))
    assert len(seg.fence) <= max(cap, -(-len(keys) // segments.MAX_BLOCK))
    assert seg.block >= BLOCK and seg.block & (seg.block - 1) == 0
    query = np.unique(np.array(asked, dtype=np.int64))
    found_keys, found_wins = seg.lookup(query)
    assert sorted(zip(found_keys.tolist(), found_wins.tolist(), strict=True)) == _scan(
        keys, wins, query
    )
    seg.close()


def test_block_sizes_and_headers_that_disagree_are_refused(tmp_path: Path) -> None:
    assert segments.block_pairs(256 * segments.MAX_FENCE_KEYS) == BLOCK
    assert segments.block_pairs(256 * segments.MAX_FENCE_KEYS + 1) == 2 * BLOCK
    path = tmp_path / "s.seg"
    write_segment(str(path), np.arange(700, dtype=np.int64), np.arange(700, dtype=np.int64))
    data = path.read_bytes()
    head = list(segments._HEADER.unpack(data[: segments._HEADER.size]))
    for block in (300, 128):  # not a power of two; smaller than the smallest block
        head[2] = block
        path.write_bytes(segments._HEADER.pack(*head) + data[segments._HEADER.size :])
        with pytest.raises(SegmentError, match="not the segment"):
            Segment(str(path), 700)
    head[2] = 512  # a valid size, but the fence was written for blocks of 256
    path.write_bytes(segments._HEADER.pack(*head) + data[segments._HEADER.size :])
    with pytest.raises(SegmentError, match="not the segment"):
        Segment(str(path), 700)


def _made_up_documents(count: int) -> list[Document]:
    return [
        Document(
            source=f"doc{i}",
            text=" ".join(f"word{(i * 31 + j * 7) % 997}" for j in range(150)),
            kind="text",
        )
        for i in range(count)
    ]


def _run(index: Path, monkeypatch: pytest.MonkeyPatch, **options: float) -> list[bool]:
    """Index the made-up documents in one run; whether each store write was a run's last."""
    writes: list[bool] = []
    real = SQLiteStore.write

    def write(self: SQLiteStore, adds, removes, *, last: bool = False):  # type: ignore[no-untyped-def]
        writes.append(last)
        return real(self, adds, removes, last=last)

    monkeypatch.setattr(SQLiteStore, "write", write)
    with Guard.open(str(index), create=True) as guard:
        guard.index_documents(_made_up_documents(24), **options)  # type: ignore[arg-type]
        assert not guard.verify()
    monkeypatch.setattr(SQLiteStore, "write", real)
    return writes


def _segment_digests(index: Path) -> list[str]:
    db = sqlite3.connect(index)
    digests = [d for (d,) in db.execute("SELECT digest FROM segments ORDER BY seq")]
    db.close()
    return digests


def test_a_run_within_its_checkpoint_writes_its_pairs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    once, every, bounded = (tmp_path / f"{n}.ipguard.db" for n in ("once", "every", "bounded"))
    Guard.open(str(once), create=True).close()  # one token key for the three
    copy_index(once, every)
    copy_index(once, bounded)
    assert _run(once, monkeypatch) == [True]  # one commit, written for lookups
    assert len(_listed(once)) == 1
    with Guard.open(str(once)) as guard:
        assert _filtered(guard) == [True]
    # Committing after every document, or whenever the pairs held pass a
    # bound, builds the same segment file.
    assert _run(every, monkeypatch, checkpoint_seconds=0) == [False] * 24
    monkeypatch.setattr("ipguard.guard.FLUSH_PAIRS", 2000)  # 483 pairs a document
    assert _run(bounded, monkeypatch) == [False] * 4 + [True]
    assert _segment_digests(every) == _segment_digests(bounded) == _segment_digests(once)


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=60),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20),
    st.booleans(),
)
def test_members_is_isin(values: list[int], members: list[int], overlap: bool) -> None:
    if overlap:
        values = values + members[::2]
    wanted = np.array(values, dtype=np.int64)
    held = np.sort(np.array(members, dtype=np.int64))
    assert segments._members(wanted, held).tolist() == np.isin(wanted, held).tolist()


def test_a_segment_flushed_while_written_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    keys = rng.integers(-(2**63), 2**63 - 1, 3 * segments._WRITE_CHUNK, dtype=np.int64)
    wins = np.arange(len(keys), dtype=np.int64)
    synced = []
    fdatasync = os.fdatasync
    monkeypatch.setattr(segments.os, "fdatasync", lambda fd: synced.append(fd) or fdatasync(fd))
    files = []
    for early in (0, 1 << 62):
        monkeypatch.setattr(segments, "_EARLY_SYNC_PAIRS", early)
        path = tmp_path / f"s{early}.seg"
        digest = write_segment(str(path), keys, wins)
        files.append((digest, path.read_bytes()))
    assert synced  # the first file was flushed while it was written
    assert files[0] == files[1]


def test_an_error_flushing_a_segment_is_raised_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "simulated write-back error")

    monkeypatch.setattr(segments, "_EARLY_SYNC_PAIRS", 0)
    monkeypatch.setattr(segments.os, "fdatasync", failing)
    keys = np.arange(2 * segments._WRITE_CHUNK, dtype=np.int64) * 7919 - 2**40
    path = tmp_path / "s.seg"
    with pytest.raises(OSError, match="write-back"):
        write_segment(str(path), keys, np.arange(len(keys), dtype=np.int64))
    assert not path.exists()


@pytest.mark.parametrize("threaded", [1, 10**9])
def test_a_segment_of_windows_of_several_keys_is_that_of_their_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threaded: int
) -> None:
    # write_segment(per=bands) takes one id per window, for `bands` keys each.
    monkeypatch.setattr(segments, "_THREADED_PAIRS", threaded)
    monkeypatch.setattr(segments, "_WRITE_CHUNK", 70)
    rng = np.random.default_rng(11)
    keys = rng.integers(-(2**63), 2**63 - 1, 3 * 400, dtype=np.int64)
    keys[::7] = keys[3]  # a repeated key, in windows of both signs' neighbours
    wins = np.sort(rng.choice(2**40, 400, replace=False)).astype(np.int64)
    per_window = write_segment(str(tmp_path / "per.seg"), keys, wins, per=3)
    per_pair = write_segment(str(tmp_path / "pairs.seg"), keys, np.repeat(wins, 3))
    assert per_window == per_pair
    assert (tmp_path / "per.seg").read_bytes() == (tmp_path / "pairs.seg").read_bytes()


@pytest.mark.parametrize("probes", range(1, 9))
def test_filter_words_and_probe_bits_are_those_of_six_bit_slices(probes: int) -> None:
    # Large segments' filters have 2 or 3 probes (the filter's size is capped).
    rng = np.random.default_rng(probes)
    keys = rng.integers(-(2**63), 2**63 - 1, 5000, dtype=np.int64)
    x = keys.view(np.uint64)
    words = 77_777
    mixed = x * segments._MIX2
    expected = np.zeros(len(x), dtype=np.uint64)
    for probe in range(1, probes + 1):
        expected |= np.uint64(1) << ((mixed >> np.uint64(64 - 6 * probe)) & np.uint64(63))
    word, mask = segments._word_masks(keys, words, probes)
    assert np.array_equal(word, (((x >> np.uint64(32)) * np.uint64(words)) >> np.uint64(32)))
    assert np.array_equal(mask, expected)


def test_a_segment_written_in_small_pieces_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writes are cut into pieces (large page-cache folios are slow to get on
    # some machines); the pieces must land where the whole would have.
    rng = np.random.default_rng(12)
    keys = rng.integers(-(2**63), 2**63 - 1, 5000, dtype=np.int64)
    wins = np.arange(len(keys), dtype=np.int64)
    sizes = []
    pwrite = os.pwrite
    monkeypatch.setattr(
        segments.os, "pwrite", lambda fd, data, at: sizes.append(len(data)) or pwrite(fd, data, at)
    )
    files = []
    for piece in (1 << 40, 4093):
        monkeypatch.setattr(segments, "_PWRITE_PIECE", piece)
        sizes.clear()
        path = tmp_path / f"s{piece}.seg"
        digest = write_segment(str(path), keys, wins)
        files.append((digest, path.read_bytes()))
    assert max(sizes) == 4093
    assert files[0] == files[1]


def test_the_halves_of_a_segment_never_write_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file system serializes writes into one file; threads waiting in the
    # kernel spun. Each write here lasts a while, so unserialized halves overlap.
    import threading
    import time

    monkeypatch.setattr(segments, "_THREADED_PAIRS", 1)
    monkeypatch.setattr(segments, "_WRITE_CHUNK", 500)
    rng = np.random.default_rng(13)
    keys = rng.integers(-(2**63), 2**63 - 1, 8000, dtype=np.int64)
    busy, most = [0], [0]
    count = threading.Lock()
    pwrite = os.pwrite

    def slow(fd: int, data: bytes, at: int) -> int:
        with count:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.002)
        try:
            return pwrite(fd, data, at)
        finally:
            with count:
                busy[0] -= 1

    monkeypatch.setattr(segments.os, "pwrite", slow)
    digest = write_segment(str(tmp_path / "s.seg"), keys, np.arange(len(keys), dtype=np.int64))
    monkeypatch.setattr(segments.os, "pwrite", pwrite)
    assert most[0] == 1
    assert digest == segments.file_digest(str(tmp_path / "s.seg"))


def test_the_halves_of_a_segment_never_mark_the_filter_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Marking is many small numpy calls: two threads doing it at once fought
    # over the GIL. Each marking here lasts a while, so unordered ones overlap.
    import threading
    import time

    monkeypatch.setattr(segments, "_THREADED_PAIRS", 1)
    rng = np.random.default_rng(17)
    keys = rng.integers(-(2**63), 2**63 - 1, 8000, dtype=np.int64)
    wins = np.arange(len(keys), dtype=np.int64)
    expected = _reference_segment(keys, wins, False)
    busy, most = [0], [0]
    count = threading.Lock()
    mark = segments._mark_sorted

    def slow(*args):  # type: ignore[no-untyped-def]
        with count:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.05)
        try:
            return mark(*args)
        finally:
            with count:
                busy[0] -= 1

    monkeypatch.setattr(segments, "_mark_sorted", slow)
    path = tmp_path / "s.seg"
    write_segment(str(path), keys, wins)
    assert most[0] == 1
    assert path.read_bytes() == expected


@pytest.mark.parametrize("failing", [-1, 1])
def test_a_half_that_fails_to_sort_fails_the_write_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    monkeypatch.setattr(segments, "_THREADED_PAIRS", 1)
    real = segments._sorted_half

    def sort(keys: np.ndarray, sign: int):  # type: ignore[no-untyped-def]
        if sign == failing:
            raise MemoryError("no memory for the sort")
        return real(keys, sign)

    monkeypatch.setattr(segments, "_sorted_half", sort)
    keys = np.random.default_rng(19).integers(-(2**63), 2**63 - 1, 5000, dtype=np.int64)
    raised: list[BaseException] = []

    def write() -> None:
        try:
            write_segment(str(tmp_path / "s.seg"), keys, np.arange(len(keys), dtype=np.int64))
        except BaseException as exc:
            raised.append(exc)

    import threading

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(60)
    assert not writer.is_alive(), "the write hangs: a thread waits for a half that failed"
    assert [type(e) for e in raised] == [MemoryError]
    assert list(tmp_path.iterdir()) == []


def test_a_written_segment_keeps_no_reference_to_its_keys(tmp_path: Path) -> None:
    # Without the garbage collector: a reference cycle through the write's
    # halves kept each write's sorted arrays until a collection, and a 10 M
    # window build's peak RSS rose from 1.2 to 4.4 GB.
    import gc
    import weakref

    keys = np.random.default_rng(23).integers(-(2**63), 2**63 - 1, 1 << 19, dtype=np.int64)
    wins = np.arange(len(keys), dtype=np.int64)
    gone = weakref.ref(keys)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        write_segment(str(tmp_path / "s.seg"), keys, wins)  # threaded: 512 K pairs
        del keys
        assert gone() is None
    finally:
        if was_enabled:
            gc.enable()
