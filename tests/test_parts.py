"""Long channels stored in parts: read back exactly, checked exactly as if whole."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import random_python_module

import ipguard.stores as stores
import ipguard.stores.sqlite as sqlite_store
from ipguard import Guard
from ipguard.demo import disguise_python_function
from ipguard.errors import IndexCorruptError
from ipguard.stores import PART_TOKENS, WHOLE_TOKENS, PartedIds, PartedLines


@pytest.fixture(scope="module")
def long_module() -> tuple[str, list[str]]:
    """A module of about 94 K tokens (past `WHOLE_TOKENS`), and its functions."""
    return random_python_module(5, 900)


def _index(path: Path, text: str, whole_tokens: int, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(stores, "WHOLE_TOKENS", whole_tokens)
        patch.setattr(sqlite_store, "WHOLE_TOKENS", whole_tokens)
        with Guard.open(str(path)) as guard:
            report = guard.index_texts([("long.py", text)], language="python")
        assert report.added == 1, report


@pytest.fixture(scope="module")
def indexes(
    long_module: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The long module indexed in parts, and (one row allowed to hold it) whole.

    One empty index copied, so that both have the same token key.
    """
    root = tmp_path_factory.mktemp("parts")
    Guard.open(str(root / "parted.db"), create=True).close()
    shutil.copy(root / "parted.db", root / "whole.db")
    with pytest.MonkeyPatch.context() as patch:
        _index(root / "parted.db", long_module[0], WHOLE_TOKENS, patch)
        _index(root / "whole.db", long_module[0], 1 << 30, patch)
    return root / "parted.db", root / "whole.db"


def _copy(index: Path, to: Path) -> None:
    """A copy of an index and its segments."""
    src, dst = sqlite3.connect(index), sqlite3.connect(to)
    src.backup(dst)
    src.close()
    dst.close()
    shutil.copytree(index.with_name(index.name + ".bands"), to.with_name(to.name + ".bands"))


def _rows(path: Path) -> list[tuple[int, int, int]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT part, tokens, length(ids) / 4 FROM channels WHERE channel = 0 ORDER BY part"
        ).fetchall()
    finally:
        db.close()


def test_a_long_channel_is_stored_a_part_per_row(indexes: tuple[Path, Path]) -> None:
    parted, whole = indexes
    rows = _rows(parted)
    tokens = rows[0][1]
    assert tokens > WHOLE_TOKENS and len(rows) == -(-tokens // PART_TOKENS) >= 3
    assert [r[0] for r in rows] == list(range(len(rows)))
    assert all(r[2] == PART_TOKENS for r in rows[:-1]) and sum(r[2] for r in rows) == tokens
    assert _rows(whole) == [(0, tokens, tokens)]


@pytest.fixture(scope="module")
def loaded(indexes: tuple[Path, Path]) -> tuple[object, object, np.ndarray, np.ndarray]:
    parted, whole = indexes
    with Guard.open(str(whole)) as guard:
        ids, lines = guard.index.store.load_channels([1], "code")[1]
        whole_ids, whole_lines = np.array(ids), lines.array()
    guard = Guard.open(str(parted))
    p_ids, p_lines = guard.index.store.load_channels([1], "code")[1]
    return p_ids, p_lines, whole_ids, whole_lines


def test_a_parted_channel_reads_back_as_written(loaded: tuple) -> None:
    p_ids, p_lines, ids, lines = loaded
    assert isinstance(p_ids, PartedIds) and isinstance(p_lines, PartedLines)
    assert len(p_ids) == len(ids) == len(p_lines) > 3 * PART_TOKENS
    assert np.array_equal(p_ids.array(), ids) and np.array_equal(p_lines.array(), lines)
    for at in (0, PART_TOKENS - 1, PART_TOKENS, len(ids) - 1, -1):
        assert p_ids[at] == ids[at]
    for at in (0, PART_TOKENS - 1, PART_TOKENS, 3 * PART_TOKENS, len(ids) - 1):
        assert p_lines[at] == lines[at]
    with pytest.raises(IndexError):
        p_ids[len(ids)]
    with pytest.raises(IndexError):
        p_lines[len(ids)]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_slice_of_a_parted_channel_is_the_slice_of_the_whole(
    loaded: tuple, data: st.DataObject
) -> None:
    p_ids, _, ids, _ = loaded
    # Slices near part boundaries, across several, and out of range.
    edge = st.sampled_from([0, 1, PART_TOKENS - 1, PART_TOKENS, 2 * PART_TOKENS + 3, len(ids)])
    point = st.one_of(edge, st.integers(-len(ids) - 5, len(ids) + 5))
    start, stop = data.draw(point), data.draw(point)
    assert np.array_equal(p_ids[start:stop], ids[start:stop])


def test_checks_against_parts_find_what_checks_against_the_whole_find(
    indexes: tuple[Path, Path], long_module: tuple[str, list[str]]
) -> None:
    parted, whole = indexes
    _, functions = long_module
    # The first function, ones in the middle, around where parts meet, and the last.
    picks = [0, 1, 200, 201, 450, 451, 452, 700, len(functions) - 1]
    outputs = [
        "```python\n" + disguise_python_function(functions[i] + "\n" + functions[i + 1]) + "```\n"
        if i + 1 < len(functions)
        else "```python\n" + disguise_python_function(functions[i]) + "```\n"
        for i in picks
    ]
    found = []
    for path in (parted, whole):
        with Guard.open(str(path)) as guard:
            found.append(
                [
                    [
                        (r.protected_tokens, r.source_lines, r.evidence, r.similarity)
                        for r in guard.analyse(out).regions
                    ]
                    for out in outputs
                ]
            )
    assert found[0] == found[1]
    assert all(regions for regions in found[0])  # every copy was found


def test_a_missing_part_is_reported_and_fails_a_check_that_needs_it(
    indexes: tuple[Path, Path], long_module: tuple[str, list[str]], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.db"
    _copy(indexes[0], broken)
    parts = len(_rows(indexes[0]))
    gone = parts // 2
    db = sqlite3.connect(broken)
    db.execute("DELETE FROM channels WHERE channel = 0 AND part = ?", (gone,))
    db.commit()
    db.close()
    with Guard.open(str(broken)) as guard:
        assert any("parts missing" in p for p in guard.verify())
        # A function from the middle of the missing part (functions are about
        # as long as each other).
        inside = int((gone + 0.5) / parts * len(long_module[1]))
        with pytest.raises(IndexCorruptError, match=f"part {gone} is missing"):
            guard.analyse(_copy_of(long_module, inside))


def _copy_of(long_module: tuple[str, list[str]], i: int) -> str:
    return "```python\n" + disguise_python_function(long_module[1][i]) + "```\n"


def test_removing_a_parted_document_leaves_none_of_its_parts(
    indexes: tuple[Path, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy.db"
    _copy(indexes[0], copy)
    with Guard.open(str(copy)) as guard:
        assert guard.remove(source="long.py") == 1
        assert guard.verify() == []
        assert guard.stats().documents == 0
    db = sqlite3.connect(copy)
    assert db.execute("SELECT COUNT(*) FROM channels").fetchone()[0] == 0
    db.close()


def test_parts_an_alignment_needs_are_read_in_one_query_and_kept() -> None:
    tokens = 6 * PART_TOKENS + 7
    ids = np.arange(tokens, dtype="<u4") * 3
    rows = {
        p: (
            ids[at : at + PART_TOKENS].tobytes(),
            stores.pack_increasing(ids[at : at + PART_TOKENS]),
        )
        for p, at in enumerate(range(0, tokens, PART_TOKENS))
    }
    reads: list[list[int]] = []

    def read(parts: list[int]) -> list[tuple[int, bytes, bytes]]:
        reads.append(list(parts))
        return [(p, *rows[p]) for p in parts if p in rows]

    p_ids, p_lines = stores.parted(tokens, read, "a test document")
    spans = [(at * PART_TOKENS - 5, at * PART_TOKENS + 5) for at in (1, 3, 5)]
    spans.append((tokens - 3, tokens + 40))  # past the end: the last part
    p_ids.hold(spans)
    assert reads == [[0, 1, 2, 3, 4, 5, 6]]
    for start, stop in spans:
        assert np.array_equal(p_ids[start:stop], ids[start:stop])
        assert p_lines[start] == ids[start]
    assert len(reads) == 1  # all seven parts were kept


def test_a_document_replaced_while_a_check_reads_its_parts_is_left_out(
    indexes: tuple[Path, Path],
    long_module: tuple[str, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy = tmp_path / "copy.db"
    _copy(indexes[0], copy)
    other_text, other_functions = random_python_module(6, 900)
    with Guard.open(str(copy)) as checker, Guard.open(str(copy)) as writer:
        store = checker.index.store
        stale = store.load_channels([1], "code")  # its first part read, as a check does
        # Another writer replaces it; the new document gets the freed id.
        assert writer.remove(source="long.py") == 1
        writer.index_texts([("other.py", other_text)], language="python")
        assert writer.index.store.document_by_source("other.py").doc_id == 1
        ids, _ = stale[1]
        with pytest.raises(stores.DocumentGone):
            ids[5 * PART_TOKENS : 5 * PART_TOKENS + 10]
        # A check that loaded the old document's first part before the
        # replacement leaves it out, rather than failing or citing its lines.
        monkeypatch.setattr(store, "load_channels", lambda docs, channel: dict(stale))
        middle = other_functions[len(other_functions) // 2]
        analysis = checker.analyse("```python\n" + disguise_python_function(middle) + "```\n")
        assert analysis.regions == ()
        monkeypatch.undo()
        assert checker.check("```python\n" + disguise_python_function(middle) + "```\n").matches


def test_a_cached_long_channel_counts_the_parts_it_reads(indexes: tuple[Path, Path]) -> None:
    with Guard.open(str(indexes[0])) as guard:
        store = guard.index.store
        ids, lines = store.load_channels([1], "code")[1]
        first = store._channel_bytes
        ids[3 * PART_TOKENS : 6 * PART_TOKENS]  # three more parts
        lines[4 * PART_TOKENS]  # and one part's lines unpacked
        store.load_channels([1], "code")  # a later check counts them
        assert store._channel_bytes == ids.nbytes > first + 3 * 4 * PART_TOKENS
        ids[: stores.HELD_PARTS * PART_TOKENS * 2]  # more parts than it keeps
        store.load_channels([1], "code")
        assert store._channel_bytes == ids.nbytes <= stores.HELD_PARTS * PART_TOKENS * 9
