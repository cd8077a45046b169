"""The SQLite store and the index manifest: configuration, corruption, secrecy."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import PROTECTED_PROSE
from samples import PROTECTED

from ipguard import Guard, IndexConfig
from ipguard.errors import IndexConfigMismatchError, IndexCorruptError, IndexNotFoundError
from ipguard.index import Index


def test_missing_index_is_an_error_unless_created(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        Guard.open(str(tmp_path / "none.db"))
    Guard.open(str(tmp_path / "new.db"), create=True).close()


def test_foreign_and_garbage_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(IndexCorruptError):
        Guard.open(str(garbage))
    foreign = tmp_path / "foreign.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE people (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(IndexCorruptError, match="not an ipguard index"):
        Guard.open(str(foreign))


def test_truncated_index_is_refused(built_index: Path, tmp_path: Path) -> None:
    data = built_index.read_bytes()
    broken = tmp_path / "truncated.db"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(IndexCorruptError), Guard.open(str(broken)) as guard:
        guard.check(PROTECTED_PROSE)
        guard.stats()


def test_manifest_records_the_configuration(built_index: Path) -> None:
    with Guard.open(str(built_index)) as guard:
        config = guard.stats().config
    for key in (
        "ipguard_version",
        "normalizer_version",
        "num_perm",
        "seed",
        "bands",
        "rows",
        "code",
        "text",
    ):
        assert key in config
    assert config["code"]["shingle"] == 4


def test_a_different_configuration_is_refused(built_index: Path) -> None:
    with pytest.raises(IndexConfigMismatchError, match="num_perm"):
        Index.open(str(built_index), config=IndexConfig(num_perm=128))


def test_an_index_from_another_normalizer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Guard.open(str(path), create=True).close()
    db = sqlite3.connect(path)
    record = json.loads(db.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
    record["normalizer_version"] = 0
    db.execute("UPDATE meta SET value=? WHERE key='config'", (json.dumps(record),))
    db.commit()
    db.close()
    with pytest.raises(IndexConfigMismatchError, match="normalizer"):
        Guard.open(str(path))


def test_an_index_of_another_format_is_refused_with_a_rebuild_hint(tmp_path: Path) -> None:
    # Format 7 stores long documents in parts: an older file's channel rows
    # are not readable as they are, and a newer ipguard's may not be either.
    from ipguard.index import FORMAT_VERSION

    path = tmp_path / "old.db"
    Guard.open(str(path), create=True).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value=? WHERE key='format_version'", (str(FORMAT_VERSION - 1),))
    db.commit()
    db.close()
    with pytest.raises(
        IndexConfigMismatchError, match=f"index format {FORMAT_VERSION - 1};.*rebuild"
    ):
        Guard.open(str(path))


def test_no_protected_text_is_stored_in_the_clear(built_index: Path) -> None:
    raw = built_index.read_bytes()
    wal = Path(str(built_index) + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    for segment in Path(f"{built_index}.bands").iterdir():
        raw += segment.read_bytes()
    samples = [PROTECTED_PROSE[i : i + 12] for i in range(0, len(PROTECTED_PROSE) - 12, 40)]
    samples += ["merge_intervals", "tolerance", "cartographers", "mergeIntervals"]
    for sample in samples:
        assert sample.encode() not in raw, sample
    assert b"merged.append" not in raw
    assert PROTECTED["python"].splitlines()[3].strip().encode() not in raw


class _FailingExecutemany:
    """A store's connection whose executemany fails, as a disk error mid-write would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._db, name)

    def executemany(self, *args):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("disk I/O error (simulated)")


def test_a_failed_batch_leaves_no_half_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "atomic.db")
    with Guard.open(path, create=True) as guard:
        guard.index_texts([("a", PROTECTED_PROSE)])
        store = guard.index.store
        original = store._db
        monkeypatch.setattr(store, "_db", _FailingExecutemany(original))
        with pytest.raises(sqlite3.OperationalError):
            guard.index_texts([("b", PROTECTED["python"])], language="python")
        monkeypatch.setattr(store, "_db", original)
        assert guard.stats().documents == 1
        db = sqlite3.connect(path)
        assert db.execute("SELECT COUNT(*) FROM channels").fetchone()[0] == 1


def test_a_batch_adding_a_source_another_writer_stored_replaces_it_once(tmp_path: Path) -> None:
    from ipguard.guard import DocumentPreparer
    from ipguard.model import Document
    from ipguard.stores import StoreConflict

    location = str(tmp_path / "race.ipguard.db")
    with Guard.open(location, create=True) as guard:
        index = guard.index
        prepare = DocumentPreparer(index.config, index.hasher.key, 1_000_000)
        sources = [f"doc{i}.txt" for i in range(1200)]  # past one query's sources
        guard.index_texts([(sources[700], PROTECTED_PROSE), ("other", PROTECTED["python"])])
        # Prepared by a writer that did not see sources[700] stored.
        batch = [
            prepare(Document(source=s, text=f"{s}: {PROTECTED_PROSE}", kind="text"))
            for s in sources
        ]
        with pytest.raises(StoreConflict, match="doc700.txt"):
            index.store.write(batch, [])
        assert guard.stats().documents == 2
        index.write(batch, [])  # reads what it replaces, and writes again
        assert guard.stats().documents == 1201
        stored = index.store.document_by_source(sources[700])
        assert stored is not None and stored.content_hash == batch[700].content_hash


def test_document_metadata_a_checker_keeps_follows_every_writer(tmp_path: Path) -> None:
    """A long-lived checker's store caches documents' metadata: commits make it stale."""
    location = str(tmp_path / "cached.ipguard.db")
    with Guard.open(location, create=True) as checker:
        checker.index_texts([("kept", PROTECTED_PROSE)])
        checker.index_texts([("gone", PROTECTED["python"])], language="python")
        store = checker.index.store
        kept = store.document_by_source("kept")
        gone = store.document_by_source("gone")
        assert kept is not None and gone is not None
        assert set(store.documents([kept.doc_id, gone.doc_id])) == {kept.doc_id, gone.doc_id}
        assert set(store.load_channels([kept.doc_id, gone.doc_id], "code")) == {gone.doc_id}
        # Another connection's commit.
        with Guard.open(location) as writer:
            assert writer.remove(source="gone") == 1
        assert set(store.documents([kept.doc_id, gone.doc_id])) == {kept.doc_id}
        assert store.load_channels([gone.doc_id], "code") == {}
        # This connection's own writes.
        store.update_stamps([(kept.doc_id, "12:34")])
        assert store.documents([kept.doc_id])[kept.doc_id].stamp == "12:34"
        assert set(store.load_channels([kept.doc_id], "text")) == {kept.doc_id}
        checker.remove(source="kept")
        assert store.documents([kept.doc_id]) == {}
        assert store.load_channels([kept.doc_id], "text") == {}


def test_tokens_a_checker_keeps_stay_within_their_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipguard.stores.sqlite as sqlite_store

    location = str(tmp_path / "budget.ipguard.db")
    texts = [(f"doc{i}", f"Document {i}. " + PROTECTED_PROSE) for i in range(12)]
    with Guard.open(location, create=True) as guard:
        guard.index_texts(texts)
    ids = list(range(1, 13))
    with Guard.open(location) as fresh:
        expected = fresh.index.store.load_channels(ids, "text")
        lines = {d: loaded[1].array().tolist() for d, loaded in expected.items()}
    assert len(expected) == 12
    one = 2 * expected[1][0].nbytes + len(expected[1][1].packed())
    monkeypatch.setattr(sqlite_store, "_CACHED_CHANNEL_BYTES", 3 * one)
    with Guard.open(location) as guard:
        store = guard.index.store
        for _ in range(2):
            for start in range(0, 12, 5):  # overlapping batches, some held, some not
                batch = ids[start : start + 7]
                got = store.load_channels(batch, "text")
                assert set(got) == set(batch)
                for d, (tokens, packed) in got.items():
                    assert tokens.tolist() == expected[d][0].tolist()
                    assert packed.array().tolist() == lines[d]
                assert 0 < store._channel_bytes <= 3 * one
                assert len(store._channels) <= 3


def test_pairs_written_while_rows_are_inserted_make_the_same_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large write's segment is written by a thread while its rows go in
    # (_OVERLAPPED_PAIRS 0: every write); the index is the one without it.
    from ipguard.stores import sqlite as sqlite_store

    template = tmp_path / "template.db"
    Guard.open(str(template), create=True).close()  # one key for both indexes
    texts = [("a", PROTECTED_PROSE), ("b.py", PROTECTED["python"] * 3)]
    found = []
    for overlapped in (0, 1 << 62):
        path = tmp_path / f"x{overlapped}.db"
        path.write_bytes(template.read_bytes())
        monkeypatch.setattr(sqlite_store, "_OVERLAPPED_PAIRS", overlapped)
        with Guard.open(str(path)) as guard:
            guard.index_texts(texts)
        db = sqlite3.connect(path)
        found.append(
            (
                db.execute("SELECT entries, digest FROM segments").fetchall(),
                db.execute("SELECT id, source FROM documents ORDER BY id").fetchall(),
                db.execute("SELECT * FROM channels ORDER BY doc_id, channel").fetchall(),
            )
        )
        db.close()
    assert found[0] == found[1]
    assert found[0][0][0][0] > 0 and [s for _, s in found[0][1]] == ["a", "b.py"]


def test_a_failed_insert_leaves_no_segment_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from ipguard.stores import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "_OVERLAPPED_PAIRS", 0)
    write_segment = sqlite_store.write_segment

    def slow_write_segment(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.1)  # the insert fails first, while the file is yet to be written
        return write_segment(*args, **kwargs)

    monkeypatch.setattr(sqlite_store, "write_segment", slow_write_segment)
    path = tmp_path / "x.db"
    with Guard.open(str(path), create=True) as guard:
        store = guard.index.store
        original = store._db
        monkeypatch.setattr(store, "_db", _FailingExecutemany(original))
        with pytest.raises(sqlite3.OperationalError):
            guard.index_texts([("a", PROTECTED_PROSE)])
        monkeypatch.setattr(store, "_db", original)
        assert guard.stats().documents == 0
    time.sleep(0.5)  # a thread left writing would have made its file by now
    assert list(Path(f"{path}.bands").glob("*.seg")) == []


def test_band_pairs_of_a_write_are_each_windows_keys_under_its_id() -> None:
    import numpy as np

    from ipguard.stores import ChannelRecord, DocumentRecord, PackedLines, window_ids
    from ipguard.stores.sqlite import _band_pairs

    rng = np.random.default_rng(7)
    docs = []
    for d in range(5):
        channels = []
        for channel in ("code", "text")[: 1 + d % 2]:
            windows = int(rng.integers(0, 6))  # some channels have none
            channels.append(
                ChannelRecord(
                    channel=channel,
                    ids=np.zeros(0, dtype=np.uint32),
                    lines=PackedLines.of(np.zeros(0, dtype=np.uint32)),
                    starts=np.sort(rng.choice(1000, windows, replace=False)),
                    keys=rng.integers(-(2**63), 2**63 - 1, (windows, 3), dtype=np.int64),
                )
            )
        docs.append(
            DocumentRecord(f"d{d}", None, None, None, "code", None, "h", 1, tuple(channels))
        )
    ids = [11, 12, 40, 41, 7]
    keys, wins, bands = _band_pairs(docs, ids)
    assert bands == 3
    expected = [
        (int(k), int(w))
        for doc_id, doc in zip(ids, docs, strict=True)
        for ch in doc.channels
        for row, w in zip(ch.keys, window_ids(doc_id, ch.channel, ch.starts), strict=True)
        for k in row
    ]
    assert list(zip(keys.tolist(), np.repeat(wins, bands).tolist(), strict=True)) == expected


def test_keys_laid_end_to_end_in_one_array_are_joined_without_a_copy() -> None:
    import numpy as np

    from ipguard.stores.sqlite import _joined

    whole = np.arange(100, dtype=np.int64)
    adjacent = [whole[10:16].reshape(2, 3), whole[16:16], whole[16:25].reshape(3, 3)]
    joined = _joined(adjacent)
    assert joined.tolist() == list(range(10, 25))
    assert np.shares_memory(joined, whole)  # a view: nothing copied
    # A gap, another array, or a view out of order: copied, in the parts' order.
    for parts in (
        [whole[10:16], whole[17:20]],
        [whole[10:16], np.arange(3, dtype=np.int64)],
        [whole[16:20], whole[10:16]],
        [whole[10:20:2], whole[20:22]],
    ):
        expected = np.concatenate([part.ravel() for part in parts]).tolist()
        got = _joined(parts)
        assert got.tolist() == expected
        assert not np.shares_memory(got, whole)


def test_a_one_process_runs_keys_lie_end_to_end_until_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from ipguard import guard as guard_module
    from ipguard.config import IndexConfig
    from ipguard.guard import DocumentPreparer, _RunKeys
    from ipguard.model import Document
    from ipguard.stores.sqlite import _joined

    prepare = DocumentPreparer(IndexConfig(), bytes(32), 1_000_000)
    records = [
        prepare(Document(source=f"{i}.txt", text=PROTECTED_PROSE * (i + 2), kind="text"))
        for i in range(3)
    ]
    run = _RunKeys()
    adopted = [run.adopt(record) for record in records]
    keys = _joined([c.keys for record in adopted for c in record.channels])
    assert np.shares_memory(keys, run.whole)
    expected = np.concatenate([c.keys.ravel() for record in records for c in record.channels])
    assert (keys == expected).all()
    run.reset()  # written: the next batch starts again at the buffer's start
    again = run.adopt(records[2])
    assert again.channels[0].keys.ctypes.data == run.whole.ctypes.data
    assert (again.channels[0].keys == records[2].channels[0].keys).all()
    # Keys that do not fit stay with their record.
    held = sum(c.keys.nbytes for c in records[0].channels)
    monkeypatch.setattr(guard_module, "RUN_KEYS_BYTES", held - 8)
    small = _RunKeys()
    assert small.adopt(records[0]) is records[0]
    run.close()
    small.close()


def test_removals_found_by_their_keys_leave_the_index_a_full_pass_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A removal looks the removed documents' band keys up in a segment when
    # they are few against its pairs (LOOKUP_SHARE), and counts what it drops
    # from what it finds; otherwise it passes over every pair. Both must leave
    # the same files, with none of the removed documents' pairs.
    import numpy as np

    from ipguard.stores import DOC_SHIFT
    from ipguard.stores import sqlite as sqlite_store

    template = tmp_path / "template.db"
    Guard.open(str(template), create=True).close()  # one key for both indexes
    shared = PROTECTED_PROSE + " The harbour office kept a second copy of every chart."
    found = []
    for share in (1, 1 << 62):  # look keys up always, never
        monkeypatch.setattr(sqlite_store, "LOOKUP_SHARE", share)
        path = tmp_path / f"r{share}.db"
        path.write_bytes(template.read_bytes())
        with Guard.open(str(path)) as guard:
            # Two writes, two segments; "b" repeats "a", so keys hold both.
            guard.index_texts([("a", PROTECTED_PROSE), ("b", shared)])
            guard.index_texts([("c.py", PROTECTED["python"]), ("d", shared + " More.")])
            gone = {guard.index.store.document_by_source(s).doc_id for s in ("b", "c.py")}
            assert guard.remove(source="b") == 1 and guard.remove(source="c.py") == 1
            guard.index_texts([("a", PROTECTED_PROSE + " Changed at the end.")])  # a replacement
            assert guard.check(PROTECTED["python"], language="python").action == "allow"
            assert guard.check(shared).action != "allow"  # "d" still holds it
            store = guard.index.store
            rows = store._segment_rows()
            for _, name, entries in rows:
                pairs = np.concatenate(list(store._segment(name, entries).chunks()))
                assert not np.isin(pairs[:, 1] >> DOC_SHIFT, sorted(gone)).any()
        db = sqlite3.connect(path)
        found.append(
            (
                db.execute("SELECT entries, digest FROM segments ORDER BY seq").fetchall(),
                db.execute("SELECT id, source FROM documents ORDER BY id").fetchall(),
            )
        )
        db.close()
    assert found[0] == found[1]
