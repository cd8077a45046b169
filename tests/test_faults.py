"""Hostile input and faults: fuzzed inputs, pathological code, killed indexing, broken indexes."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import PROTECTED_PROSE, copy_index
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import PROTECTED, UNRELATED

from ipguard import Guard, Policy
from ipguard.cli import cli
from ipguard.errors import LimitExceededError
from ipguard.normalize import normalize
from ipguard.normalize.languages import language_names
from ipguard.stores.segments import write_segment
from ipguard.stores.sqlite import SQLiteStore

#: Normalization measured at most ~9 s per MB on the worst of these inputs;
#: the bound leaves room for a slow CI machine.
SECONDS_PER_MB = 30.0

PATHOLOGICAL = {
    "nested-parentheses": "x = " + "(" * 10_000 + "1" + ")" * 10_000,
    "nested-braces": "int f() " + "{" * 10_000 + "}" * 10_000,
    "one-megabyte-line": "a = 1; " * (1024 * 1024 // 7),
    "distinct-identifiers": "\n".join(f"v{i} = w{i} + {i}" for i in range(100_000)),
    "nul-bytes": "def f(x):\x00\n    return x\x00\x00" * 1000,
    "mixed-line-endings": "def f(x):\r\n    y = x\r    return y\n" * 5000,
    "unclosed-string": '"' + "a" * 300_000,
    "fence-storm": "```python\n" * 5000,
    "surrogates-and-controls": "def f():\n    return '\ud800\udfff\x1b[31m\u202e'\n" * 2000,
    # Scanners read to the end of the input from each unclosed comment:
    # JavaScript's grammar took 14 s for 60 KB of these, quadratically more.
    "comment-opened-every-line": "/* a\n" * 60_000,
    # Java's grammar crashed the process (a C stack overflow) from 200 KB on.
    "brackets-opened-deeply": "({" * 150_000,
    "indented-blocks-storm": "Some prose.\n\n" + "    a = 1\n\n" * 30_000,
    "numbered-lines": "".join(f"{i} | x = {i}\n" for i in range(1, 20_000)),
}


def _assert_spans_inside(text: str, kind: str | None, language: str | None) -> None:
    doc = normalize(text, kind=kind, language=language)  # type: ignore[arg-type]
    for stream in (doc.code, doc.text):
        assert len(stream.spans) == len(stream.tokens)
        if len(stream.spans):
            assert stream.spans[:, 0].min() >= 0 and stream.spans[:, 1].max() <= len(text)
            assert (stream.spans[:, 0] < stream.spans[:, 1]).all()


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
@pytest.mark.parametrize("language", ["python", "javascript", "java", "c", "rust", "go", None])
def test_pathological_code_is_bounded_in_time_and_offsets(name: str, language: str | None) -> None:
    text = PATHOLOGICAL[name]
    started = time.perf_counter()
    _assert_spans_inside(text, "code" if language else None, language)
    elapsed = time.perf_counter() - started
    megabytes = max(len(text.encode("utf-8", "surrogatepass")) / 1e6, 0.05)
    assert elapsed <= SECONDS_PER_MB * megabytes, f"{elapsed:.1f}s for {megabytes:.2f} MB"


@given(st.binary(max_size=2000), st.sampled_from([*language_names(), None, "cobol"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_through_every_normalizer(data: bytes, language: str | None) -> None:
    text = data.decode("utf-8", errors="replace")
    _assert_spans_inside(text, "code" if language else None, language)


@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=1500),
    st.sampled_from(["code", "text", "markdown"]),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_unicode_through_every_kind(text: str, kind: str) -> None:
    _assert_spans_inside(text, kind, None)


@given(st.binary(max_size=3000))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cli_input_path_never_crashes(built_index: Path, data: bytes) -> None:
    result = CliRunner().invoke(
        cli, ["check", "--index", str(built_index), "--format", "json", "-"], input=data
    )
    assert result.exit_code in (0, 1, 2), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    if result.exit_code == 2:
        assert "binary input" in result.output
    else:
        assert json.loads(result.stdout)["results"][0]["action"] in ("allow", "flag", "block")


def test_atheris_fuzzes_the_normalizers(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    harness = Path(__file__).with_name("fuzz_normalize.py")
    result = subprocess.run(
        [
            sys.executable,
            str(harness),
            "-runs=4000",
            "-max_len=4096",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 4000 runs" in result.stderr


def test_limits_are_reported_never_an_allow(built_index: Path, tmp_path: Path) -> None:
    with Guard.open(str(built_index), policy=Policy(max_check_seconds=1e-9)) as guard:
        with pytest.raises(LimitExceededError, match="max_check_seconds") as exc:
            guard.check(PROTECTED_PROSE)
        assert exc.value.limit == "max_check_seconds"
    small = Policy(max_input_bytes=10)
    with Guard.open(str(built_index), policy=small) as guard, pytest.raises(LimitExceededError):
        guard.filter(PROTECTED_PROSE)
    (tmp_path / "big.py").write_text(PROTECTED["python"])
    result = CliRunner().invoke(
        cli,
        [
            "index",
            "--index",
            str(tmp_path / "t.db"),
            "--max-tokens",
            "20",
            str(tmp_path / "big.py"),
        ],
    )
    assert result.exit_code == 0
    assert (
        "big.py:" in result.output
        and "exceed the limit of 20 per document (max_tokens)" in result.output
    )
    (tmp_path / ".ipguard.toml").write_text("max_input_bytes = 5\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        refused = CliRunner().invoke(
            cli, ["check", "--index", str(built_index), "-"], input="hello world"
        )
    finally:
        os.chdir(cwd)
    assert refused.exit_code == 2
    assert "<stdin>: larger than the 5-byte input limit (max_input_bytes)" in refused.output


def _write_corpus(root: Path, files: int) -> None:
    rng = random.Random(11)
    root.mkdir()
    bodies = [*PROTECTED.values(), *UNRELATED.values(), PROTECTED_PROSE]
    for i in range(files):
        parts = [rng.choice(bodies).replace("merge", f"merge{i}_{j}") for j in range(12)]
        suffix = rng.choice([".py", ".js", ".txt", ".go"])
        (root / f"f{i:03d}{suffix}").write_text(f"// file {i}\n" + "\n\n".join(parts))


def _reference_and_copies(tmp_path: Path, files: int, *names: str) -> tuple[Path, list[Path]]:
    """A corpus indexed by one process, and empty indexes with its manifest and token key."""
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, files)
    reference = tmp_path / "reference.ipguard.db"
    Guard.open(str(reference), create=True).close()
    copies = [tmp_path / f"{name}.ipguard.db" for name in names]
    for copy in copies:
        copy_index(reference, copy)
    assert CliRunner().invoke(cli, ["index", "--index", str(reference), str(corpus)]).exit_code == 0
    return reference, copies


def _dump(path: Path) -> dict[str, object]:
    """The index's logical content, with document ids replaced by sources."""
    db = sqlite3.connect(path)
    sources = dict(db.execute("SELECT id, source FROM documents"))
    docs = sorted(db.execute("SELECT source, content_hash, windows, kind, language FROM documents"))
    channels = sorted(
        (sources[d], c, part, tokens, bytes(i), bytes(lines))
        for d, c, part, tokens, i, lines in db.execute(
            "SELECT doc_id, channel, part, tokens, ids, lines FROM channels"
        )
    )
    meta = dict(db.execute("SELECT key, value FROM meta"))
    db.close()
    store = SQLiteStore(str(path), create=False)
    keys, wins = store.band_pairs()
    store.close()
    bands = sorted(
        (key, sources[win >> 24], win & ((1 << 24) - 1))
        for key, win in zip(keys.tolist(), wins.tolist(), strict=True)
    )
    return {"docs": docs, "channels": channels, "bands": bands, "meta": meta}


def test_killed_indexing_leaves_whole_documents_and_resumes_exactly(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 160)
    killed = tmp_path / "killed.ipguard.db"
    reference = tmp_path / "reference.ipguard.db"
    Guard.open(str(killed), create=True).close()  # one manifest (and token key) for both
    copy_index(killed, reference)
    # Committing after every document: kills land between commits, as in a
    # long run with the default checkpoint.
    command = [sys.executable, "-m", "ipguard", "index", "--checkpoint", "0", "--index"]
    started = time.perf_counter()
    subprocess.run([*command, str(reference), str(corpus)], check=True, capture_output=True)
    full_run = time.perf_counter() - started
    rng = random.Random(3)
    counts = []
    for _ in range(20):
        proc = subprocess.Popen(
            [*command, str(killed), str(corpus)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, max(0.3, full_run * 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        verify = subprocess.run(
            [
                sys.executable,
                "-m",
                "ipguard",
                "stats",
                "--verify",
                "--format",
                "json",
                "--index",
                str(killed),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        report = json.loads(verify.stdout)
        assert report["verify"]["ok"], report["verify"]["problems"]
        counts.append(report["documents"])
    assert counts == sorted(counts)  # committed documents are never lost
    subprocess.run([*command, str(killed), str(corpus)], check=True, capture_output=True)
    assert _dump(killed) == _dump(reference)
    # Files of the killed runs' uncommitted batches are gone; listed ones remain.
    db = sqlite3.connect(killed)
    listed = {name for (name,) in db.execute("SELECT name FROM segments")}
    db.close()
    assert set(os.listdir(f"{killed}.bands")) == listed


def test_broken_indexes_exit_2_with_one_line_and_verify_explains(
    built_index: Path, tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ipguard", *args], capture_output=True, text=True, timeout=60
        )

    data = built_index.read_bytes()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    other = tmp_path / "other.db"
    copy_index(built_index, other)
    db = sqlite3.connect(other)
    record = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    record["normalizer_version"] = 999
    db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(record),))
    db.commit()
    db.close()
    for path in (truncated, foreign, other):
        for args in (
            ("check", "--index", str(path), str(built_index)),
            ("stats", "--verify", "--index", str(path)),
        ):
            result = run(*args)
            assert result.returncode == 2, (path, args, result.stdout, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("ipguard: error:"), result.stderr
    # Damage that SQLite still opens: a band row of a document that does not
    # exist, a document without tokens, a segment file changed on disk.
    damaged = tmp_path / "damaged.db"
    copy_index(built_index, damaged)
    stray = write_segment(
        f"{damaged}.bands/stray.seg", np.array([1], np.int64), np.array([999 << 24], np.int64)
    )
    db = sqlite3.connect(damaged)
    db.execute("INSERT INTO segments (name, entries, digest) VALUES ('stray.seg', 1, ?)", (stray,))
    db.execute("DELETE FROM channels WHERE doc_id = (SELECT MIN(doc_id) FROM channels)")
    (listed,) = db.execute("SELECT name FROM segments ORDER BY seq LIMIT 1").fetchone()
    db.commit()
    db.close()
    with open(f"{damaged}.bands/{listed}", "r+b") as seg:
        seg.seek(-8, os.SEEK_END)
        seg.write(b"\xff" * 8)
    result = run("stats", "--verify", "--index", str(damaged))
    assert result.returncode == 2
    assert "band rows of a missing document 999" in result.stdout
    assert "has windows but no tokens" in result.stdout
    assert "does not match its digest" in result.stdout
    # A listed segment that is gone: the index is broken, one line, exit 2.
    os.unlink(f"{damaged}.bands/{listed}")
    output = tmp_path / "output.txt"
    output.write_text(PROTECTED_PROSE)
    result = run("check", "--index", str(damaged), str(output))
    assert result.returncode == 2 and "is missing" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("checkpoint", ["30", "0"])
def test_parallel_indexing_builds_the_same_index(tmp_path: Path, checkpoint: str) -> None:
    # With --checkpoint 0 every document is a write, after which the workers'
    # shared memory of the keys written is given back: keys still to be
    # written must be untouched by it.
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 40)
    one = tmp_path / "one.ipguard.db"
    Guard.open(str(one), create=True).close()
    two = tmp_path / "two.ipguard.db"
    copy_index(one, two)  # same manifest and token key
    for path, jobs in ((one, "1"), (two, "2")):
        result = CliRunner().invoke(
            cli,
            [
                "index",
                "--index",
                str(path),
                "--jobs",
                jobs,
                "--checkpoint",
                checkpoint,
                str(corpus),
            ],
        )
        assert result.exit_code == 0, result.output
    assert _dump(one) == _dump(two)


def test_indexing_without_its_key_buffers_builds_the_same_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the memory cannot be mapped (strict overcommit, say), workers send
    # their records through the pipe and one process keeps each record's keys.
    from ipguard.guard import _KeyArena, _RunKeys

    reference, made = _reference_and_copies(tmp_path, 12, "jobs1", "jobs2")
    copies = dict(zip(("1", "2"), made, strict=True))
    corpus = tmp_path / "corpus"

    def refused(*args: object, **kwargs: object) -> None:  # their mmap
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(_KeyArena, "__init__", refused)
    monkeypatch.setattr(_RunKeys, "__init__", refused)
    for jobs, copy in copies.items():
        result = CliRunner().invoke(
            cli, ["index", "--index", str(copy), "--jobs", jobs, str(corpus)]
        )
        assert result.exit_code == 0, result.output
        assert _dump(copy) == _dump(reference)


def test_workers_shared_keys_are_given_back_as_they_are_received(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writing process copies each record's keys into its run's buffer on
    # receipt, so the shared pages can go before the run's one write.
    from ipguard import guard
    from ipguard.index import Index

    reference, (two,) = _reference_and_copies(tmp_path, 40, "two")
    corpus = tmp_path / "corpus"
    freed_before_write: list[int] = []
    arenas: list[guard._KeyArena] = []
    real_create, real_write = guard._KeyArena.create, Index.write

    def create(jobs: int) -> guard._KeyArena | None:
        arena = real_create(jobs)
        assert arena is not None
        arenas.append(arena)
        return arena

    def write(self: Index, *args, **kwargs):  # type: ignore[no-untyped-def]
        freed_before_write.append(sum(sum(a._freed) for a in arenas))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(guard._KeyArena, "create", staticmethod(create))
    monkeypatch.setattr(Index, "write", write)
    result = CliRunner().invoke(cli, ["index", "--index", str(two), "--jobs", "2", str(corpus)])
    assert result.exit_code == 0, result.output
    assert len(freed_before_write) == 1 and freed_before_write[0] > 0
    assert _dump(two) == _dump(reference)


def test_keys_the_run_buffer_cannot_take_stay_shared_until_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A record too big for the buffer keeps its keys in the workers' shared
    # memory: nothing read after it is given back before the write.
    from ipguard import guard

    reference, (two,) = _reference_and_copies(tmp_path, 40, "two")
    corpus = tmp_path / "corpus"
    adopted: list[bool] = []
    real_adopt = guard._RunKeys.adopt

    def adopt(self: guard._RunKeys, result):  # type: ignore[no-untyped-def]
        out = real_adopt(self, result)
        adopted.append(out is not result)
        return out

    monkeypatch.setattr(guard, "RUN_KEYS_BYTES", 1 << 18)  # 32 K keys: a few records
    monkeypatch.setattr(guard._RunKeys, "adopt", adopt)
    result = CliRunner().invoke(cli, ["index", "--index", str(two), "--jobs", "2", str(corpus)])
    assert result.exit_code == 0, result.output
    assert any(adopted) and not all(adopted)
    assert _dump(two) == _dump(reference)


def test_a_worker_killed_mid_run_fails_it_and_keeps_what_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipguard.guard import DocumentPreparer

    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 40)
    victim = sorted(corpus.iterdir())[30].name
    real = DocumentPreparer.__call__

    def prepare(self: DocumentPreparer, doc):  # type: ignore[no-untyped-def]
        if doc.source.endswith(victim):  # as the out-of-memory killer would
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, doc)

    monkeypatch.setattr(DocumentPreparer, "__call__", prepare)
    index = tmp_path / "killed-worker.ipguard.db"
    reference = tmp_path / "reference.ipguard.db"
    Guard.open(str(index), create=True).close()
    copy_index(index, reference)
    command = ["index", "--index", str(index), "--jobs", "2", "--checkpoint", "0", str(corpus)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2, result.output
    assert "a worker process died" in result.output
    with Guard.open(str(index)) as guard:
        assert not guard.verify()
        assert 0 < guard.stats().documents < 40  # documents before the victim's
    monkeypatch.setattr(DocumentPreparer, "__call__", real)
    assert CliRunner().invoke(cli, command).exit_code == 0
    assert CliRunner().invoke(cli, command[:2] + [str(reference)] + command[3:]).exit_code == 0
    assert _dump(index) == _dump(reference)


def test_damaged_token_lines_are_an_index_error_when_a_match_reads_them(
    built_index: Path, tmp_path: Path
) -> None:
    # Lines are unpacked only for documents a check reports; a damaged blob
    # must still surface as a damaged index then, not as a crash or an allow.
    from ipguard.errors import IndexCorruptError

    damaged = tmp_path / "lines.db"
    copy_index(built_index, damaged)
    db = sqlite3.connect(damaged)
    db.execute("UPDATE channels SET lines = X'00010203'")
    db.commit()
    db.close()
    with Guard.open(str(damaged)) as guard:
        store = guard.index.store
        doc_ids = sorted(store.documents(range(1, 100)))
        loaded = store.load_channels(doc_ids, "code")  # tokens load; lines wait
        assert loaded
        for token_ids, lines in loaded.values():
            assert len(token_ids) > 0
            with pytest.raises(IndexCorruptError, match="damaged"):
                lines.array()
        with pytest.raises(IndexCorruptError, match="damaged"):
            guard.check(PROTECTED["python"], language="python")
