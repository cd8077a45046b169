"""The same store suite over every backend: SQLite and a real Redis server."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS_FILES, PROTECTED_PROSE
from samples import EXTENSIONS, PROTECTED, UNRELATED, disguise

from ipguard import Guard, IndexConfig
from ipguard.errors import IndexConfigMismatchError, IndexNotFoundError


def _index_samples(location: str, corpus_dir: Path) -> Guard:
    guard = Guard.open(location, create=True)
    report = guard.index_paths([str(corpus_dir)], license="LicenseRef-test", source_name="samples")
    assert report.added == CORPUS_FILES and not report.skipped
    return guard


def test_index_check_and_stats(store_location: str, corpus_dir: Path) -> None:
    with _index_samples(store_location, corpus_dir) as guard:
        for language in ("python", "rust", "java"):
            verdict = guard.check(f"```{language}\n{disguise(language)}\n```")
            assert verdict.action == "block"
            assert verdict.matches[0].source.endswith(f"intervals_{language}{EXTENSIONS[language]}")
            assert guard.check(UNRELATED[language], language=language).action == "allow"
        stats = guard.stats()
        assert stats.documents == CORPUS_FILES and stats.windows > 0 and stats.bytes_on_disk > 0


def _pairs(found: tuple[np.ndarray, np.ndarray]) -> list[tuple[int, int]]:
    return sorted(zip(*(a.tolist() for a in found), strict=True))


@pytest.mark.parametrize("copies", [6, 600])  # Redis: small sets, and sets past its intsets
def test_a_lookup_with_a_limit_gives_each_key_that_many_of_its_windows(
    store_location: str, copies: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipguard.normalize import normalize

    snippet = "def area(width, height):\n    return width * height + border(width, height)\n"
    with Guard.open(store_location, create=True) as guard:
        guard.index_texts([(f"copy_{n}.py", snippet) for n in range(copies)], language="python")
        channels = guard.index.query_channels(normalize(snippet, language="python"))
        keys = np.concatenate([c.keys.ravel() for c in channels])
        store = guard.index.store
        whole = _pairs(store.lookup(keys))
        # Redis reads the keys in several scripts when they are many: the same answer.
        monkeypatch.setattr("ipguard.stores.redis.LOOKUP_KEYS_PER_CALL", 7)
        assert _pairs(store.lookup(keys)) == whole
        held: dict[int, set[int]] = {}
        for key, win in whole:
            held.setdefault(key, set()).add(win)
        assert min(len(wins) for wins in held.values()) >= copies
        for limit in (1, 4, copies // 2):
            kept = _pairs(store.lookup(keys, limit))
            assert kept == _pairs(store.lookup(keys, limit))  # the same ones each time
            per_key: dict[int, set[int]] = {}
            for key, win in kept:
                per_key.setdefault(key, set()).add(win)
            assert per_key.keys() == held.keys()
            assert all(len(per_key[k]) == min(limit, len(held[k])) for k in held)
            assert all(per_key[k] <= held[k] for k in held)


def test_channels_load_one_by_one_or_together_alike(store_location: str, corpus_dir: Path) -> None:
    with _index_samples(store_location, corpus_dir) as guard:
        store = guard.index.store
        ids = sorted(store.documents(range(1, 100)))
        for channel in ("code", "text"):
            together = store.load_channels([*ids, 10_000], channel)  # 10,000 is no document
            alone = {d: store.load_channel(d, channel) for d in ids}
            assert set(together) == {d for d, got in alone.items() if got is not None}
            for doc_id, (token_ids, lines) in together.items():
                assert token_ids.tolist() == alone[doc_id][0].tolist()
                assert lines.array().tolist() == alone[doc_id][1].array().tolist()
        assert store.load_channels([], "code") == {}


def test_missing_index_and_mismatched_configuration(store_location: str, corpus_dir: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        Guard.open(store_location)
    _index_samples(store_location, corpus_dir).close()
    with pytest.raises(IndexConfigMismatchError):
        Guard.open(store_location, config=IndexConfig(seed=99))


def test_reindex_is_a_no_op_and_changes_replace(store_location: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text(PROTECTED["python"])
    (src / "b.txt").write_text(PROTECTED_PROSE)
    with Guard.open(store_location, create=True) as guard:
        assert guard.index_paths([str(src)]).added == 2
        again = guard.index_paths([str(src)])
        assert (again.added, again.unchanged) == (0, 2)
        (src / "b.txt").write_text(
            "Different words about rivers, bridges and the people who cross them."
        )
        assert guard.index_paths([str(src)]).replaced == 1
        assert guard.stats().documents == 2
        assert guard.check(PROTECTED_PROSE).action == "allow"


def _age(path: Path, seconds: int = 3600) -> None:
    """Move a file's modification time into the past, keeping it exact to the ns."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


def test_unchanged_files_are_known_by_size_and_mtime_without_reading(
    store_location: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    old, fresh = src / "old.txt", src / "fresh.txt"
    old.write_text(PROTECTED_PROSE)
    fresh.write_text("Some words written a moment ago about a lighthouse keeper's cat.")
    _age(old)
    with Guard.open(store_location, create=True) as guard:
        assert guard.index_paths([str(src)]).added == 2
        # Same size, same mtime, other bytes: not read again, so not seen. This
        # is the trade-off every build tool makes (git, make, rsync).
        stamp = old.stat().st_mtime_ns
        old.write_text(PROTECTED_PROSE.upper())
        os.utime(old, ns=(stamp, stamp))
        report = guard.index_paths([str(src)])
        assert (report.unchanged, report.bytes_read) == (2, len(fresh.read_bytes()))
        assert guard.check(PROTECTED_PROSE).action == "block"
        # A fresh file has no stamp: it is read and hashed every time until it
        # is old enough, then its stamp is recorded.
        info = guard.index.store.document_by_source(str(fresh.resolve()))
        assert info is not None and info.stamp is None
        _age(fresh)
        assert guard.index_paths([str(src)]).unchanged == 2
        info = guard.index.store.document_by_source(str(fresh.resolve()))
        assert (
            info is not None and info.stamp == f"{fresh.stat().st_size}:{fresh.stat().st_mtime_ns}"
        )
        report = guard.index_paths([str(src)])
        assert (report.unchanged, report.bytes_read) == (2, 0)
        # Another size is another file.
        old.write_text(PROTECTED_PROSE + " An added sentence.")
        _age(old)
        assert guard.index_paths([str(src)]).replaced == 1
        # A stamp for a document another writer removed meanwhile is dropped.
        gone = guard.index.store.document_by_source(str(old.resolve()))
        assert gone is not None
        guard.remove(source=str(old))
        guard.index.store.update_stamps([(gone.doc_id, "1:2")])
        assert guard.index.store.documents([gone.doc_id]) == {}
        assert guard.stats().documents == 1


def test_remove_leaves_no_trace(store_location: str, corpus_dir: Path) -> None:
    with _index_samples(store_location, corpus_dir) as guard:
        assert guard.remove(source=str(corpus_dir / "chart.txt")) == 1
        assert guard.check(PROTECTED_PROSE).action == "allow"
        assert guard.remove(source_name="samples") == CORPUS_FILES - 1
        assert guard.stats().documents == 0 and guard.stats().windows == 0
        assert guard.check(f"```go\n{disguise('go')}\n```").action == "allow"
        if store_location.startswith("redis://"):
            store = guard.index.store
            keys = {k.decode() for k in store._r.scan_iter(f"{store.prefix}:*")}
            assert keys <= {f"{store.prefix}:{k}" for k in ("meta", "next_id", "stats", "sources")}
        else:
            import sqlite3

            db = sqlite3.connect(store_location)
            for table in ("documents", "channels", "segments"):
                assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
            assert not list(Path(f"{store_location}.bands").iterdir())


def test_no_protected_text_in_any_key_or_value(store_location: str, corpus_dir: Path) -> None:
    _index_samples(store_location, corpus_dir).close()
    if store_location.startswith("redis://"):
        import redis

        url, prefix = store_location.split("?prefix=")
        r = redis.Redis.from_url(url)
        blob = bytearray()
        for key in r.scan_iter(f"{prefix}:*"):
            blob += key
            kind = r.type(key)
            if kind == b"hash":
                for k, v in r.hgetall(key).items():
                    blob += k + v
            elif kind == b"set":
                for v in r.smembers(key):
                    blob += v
            elif kind == b"string":
                blob += r.get(key) or b""
        raw = bytes(blob)
    else:
        raw = Path(store_location).read_bytes()
        wal = Path(store_location + "-wal")
        raw += wal.read_bytes() if wal.exists() else b""
        for segment in Path(f"{store_location}.bands").iterdir():
            raw += segment.read_bytes()
    texts = [PROTECTED_PROSE, *(PROTECTED[lang] for lang in PROTECTED)]
    paths = " ".join(str(p) for p in corpus_dir.iterdir())  # metadata the index must keep
    for text in texts:
        for i in range(0, len(text) - 8, 7):
            piece = text[i : i + 8]
            # Every 8-character piece of protected text that is mostly letters
            # (pure indentation also occurs in the store's own schema).
            if "\n" not in piece and sum(c.isalnum() for c in piece) >= 5 and piece not in paths:
                assert piece.encode() not in raw, piece


def _indexer(location: str, folder: str, source_name: str) -> None:
    with Guard.open(location, create=True) as guard:
        guard.index_paths([folder], source_name=source_name)


def _checker(location: str, text: str, rounds: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    actions = []
    with Guard.open(location, create=True) as guard:
        for _ in range(rounds):
            actions.append(guard.check(text).action)
    out.put(actions)


def test_concurrent_indexers_and_checkers_lose_nothing(store_location: str, tmp_path: Path) -> None:
    """Indexing and checking processes on one index: no error, no lost or half document."""
    folders = []
    for n in range(3):
        folder = tmp_path / f"corpus{n}"
        folder.mkdir()
        for i in range(12):
            (folder / f"doc{i}.txt").write_text(
                f"Corpus {n} document {i}. " + PROTECTED_PROSE + f" ({n}-{i})"
            )
        (folder / "shared.py").write_text(PROTECTED["python"])  # the same name in every corpus
        folders.append(folder)
    # Two indexers share one folder, so they race on the same sources.
    jobs = [
        (str(folders[0]), "a"),
        (str(folders[0]), "a"),
        (str(folders[1]), "b"),
        (str(folders[2]), "c"),
    ]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    Guard.open(store_location, create=True).close()
    procs = [ctx.Process(target=_indexer, args=(store_location, f, name)) for f, name in jobs]
    procs += [
        ctx.Process(target=_checker, args=(store_location, PROTECTED_PROSE, 15, queue))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    for _ in range(2):
        actions = queue.get(timeout=10)
        assert set(actions) <= {"allow", "block"}
    with Guard.open(store_location) as guard:
        stats = guard.stats()
        assert stats.documents == 39  # 3 folders x 13 files, each source exactly once
        store = guard.index.store
        for folder in folders:
            for path in sorted(folder.iterdir()):
                info = store.document_by_source(str(path))
                assert info is not None, path
                loaded = [store.load_channel(info.doc_id, ch) for ch in ("code", "text")]
                assert any(item is not None for item in loaded)  # whole documents only
        # shared.py is in three corpora, under the common-structure cap; the
        # paragraph repeated in 36 documents is common structure and stops counting.
        assert guard.check(PROTECTED["python"], language="python").action == "block"
        assert guard.check("Intro. " + PROTECTED_PROSE).action == "allow"
        assert stats.windows == sum(i.windows for i in store.documents(range(1, 200)).values())


def test_a_long_document_is_read_in_parts_and_its_copies_found(store_location: str) -> None:
    from samples import random_python_module

    from ipguard.demo import disguise_python_function
    from ipguard.stores import PART_TOKENS, WHOLE_TOKENS, PartedIds

    text, functions = random_python_module(7, 360)
    with Guard.open(store_location, create=True) as guard:
        guard.index_texts([("long.py", text)], language="python")
        store = guard.index.store
        doc = store.document_by_source("long.py")
        assert doc is not None
        ids, lines = store.load_channels([doc.doc_id], "code")[doc.doc_id]
        whole_ids, whole_lines = store.load_channel(doc.doc_id, "code")
        assert isinstance(ids, PartedIds) and len(ids) == len(whole_ids) > WHOLE_TOKENS
        for start in (0, PART_TOKENS - 3, 5 * PART_TOKENS + 11, len(whole_ids) - 9):
            assert np.array_equal(ids[start : start + 20], whole_ids[start : start + 20])
            assert lines[start] == whole_lines[start]
        # Copies from the start, the middle and the end cite the lines they came from.
        for i in (0, 180, 359):
            first = text[: text.index(functions[i])].count("\n") + 1
            verdict = guard.check(f"```python\n{disguise_python_function(functions[i])}```\n")
            assert verdict.action == "block"
            cited = verdict.matches[0].source_lines
            assert first <= cited[0] <= cited[1] < first + functions[i].count("\n")
        assert guard.verify() == []
        # A part lost (a damaged store) is named by the integrity check.
        if store_location.startswith("redis://"):
            store._r.hdel(store._k("ch", doc.doc_id), "code:ids:3")
        else:
            store._db.execute("DELETE FROM channels WHERE doc_id = ? AND part = 3", (doc.doc_id,))
        assert any("parts missing" in problem for problem in guard.verify())


def test_a_long_document_removed_while_read_in_parts_is_gone_not_damaged(
    store_location: str,
) -> None:
    from samples import random_python_module

    from ipguard.stores import PART_TOKENS, DocumentGone

    text, _ = random_python_module(8, 360)
    with Guard.open(store_location, create=True) as writer:
        writer.index_texts([("long.py", text)], language="python")
        with Guard.open(store_location) as checker:
            doc = checker.index.store.document_by_source("long.py")
            assert doc is not None
            ids, _ = checker.index.store.load_channels([doc.doc_id], "code")[doc.doc_id]
            assert writer.remove(source="long.py") == 1
            with pytest.raises(DocumentGone):
                ids[3 * PART_TOKENS : 3 * PART_TOKENS + 10]
