"""Speed and scale benchmark: W1-W7, the sketch stage, and datasketch on the same windows.

    python bench/speed.py [--large]     (--large adds a 10 M-window index,
                                         and then the 1 M windows to it)

Writes bench/reports/speed.md and speed.json. Every figure comes from this
machine in this run; nothing is copied from elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache"
REPORTS = ROOT / "bench" / "reports"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
EXCLUDES = ["test", "tests", "idle_test", "site-packages", "lib2to3", "__pycache__"]

from ipguard import Document, Guard  # noqa: E402
from ipguard.config import IndexConfig  # noqa: E402
from ipguard.demo import disguise_python_function  # noqa: E402
from ipguard.guard import DocumentPreparer  # noqa: E402
from ipguard.normalize.languages import parser_for  # noqa: E402
from ipguard.sketch import shingle_bytes, shingle_hash, sketch_windows  # noqa: E402
from ipguard.stores import delete_index_files  # noqa: E402

# Peak RSS is read from /proc/self/status (VmHWM): getrusage's ru_maxrss would
# carry the benchmark process's own peak across fork and exec.
PEAK_RSS = (
    "def peak_kb():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
    "    return 0\n"
)
RUNNER = (
    "import sys\n" + PEAK_RSS + "from ipguard.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(f'RSS {peak_kb()} 0', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def machine_pace() -> float:
    """Seconds a fixed pure-Python loop takes: how fast this shared machine is right now.

    Every figure here moves with it on a shared machine, so the report gives
    it at the start and at the end of the run: figures of two runs compare
    only when their paces do.
    """
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i * i % 7
    return round(time.perf_counter() - started, 2)


class CliRun(NamedTuple):
    """One CLI run: wall seconds, own and workers' peak RSS (KB), stdout, CPU seconds."""

    wall: float
    own_kb: int
    kids_kb: int
    stdout: str
    #: User and system time of the CLI process and its workers (they are its
    #: children, waited for): what "per core" divides by, where wall time on
    #: two CPUs would not say how much of them a run used.
    cpu_s: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(*args: str, cwd: str | None = None) -> CliRun:
    """Run the CLI in a fresh interpreter (the checkout's ipguard) and measure it."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    # The checkout's ipguard, whatever the working folder.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"ipguard {' '.join(args)} failed: {proc.stderr[-2000:]}")
    own, kids = (int(x) for x in proc.stderr.strip().splitlines()[-1].split()[1:3])
    return CliRun(wall, own, kids, proc.stdout, _children_cpu() - cpu_before)


def fresh(path: Path) -> Path:
    delete_index_files(str(path))
    return path


def stdlib_bytes() -> int:
    total = 0
    for dirpath, dirnames, files in os.walk(STDLIB):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDES and not d.startswith(".")]
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files if f.endswith(".py"))
    return total


def parse_floor() -> dict:
    """What tree-sitter alone costs on the stdlib's Python files, in this process.

    The floor under end-to-end code indexing: parsing, then visiting every
    node with the cursor and nothing else (no node objects, no tokens).
    """
    files = []
    for dirpath, dirnames, names in os.walk(STDLIB):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDES and not d.startswith(".")]
        files += [Path(dirpath, n).read_bytes() for n in names if n.endswith(".py")]
    size = sum(map(len, files))
    parser = parser_for("python")
    started = time.perf_counter()
    trees = [parser.parse(data) for data in files]
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    nodes = 0
    for tree in trees:
        cursor = tree.root_node.walk()
        while True:
            nodes += 1
            if cursor.goto_first_child():
                continue
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    break
            else:
                continue
            break
    walk_s = time.perf_counter() - started
    return {
        "treesitter_parse_MB_per_s": round(size / parse_s / 1e6, 2),
        "treesitter_parse_and_bare_walk_MB_per_s": round(size / (parse_s + walk_s) / 1e6, 2),
        "treesitter_nodes": nodes,
    }


def two_process_ceiling(trials: int) -> list[float]:
    """What two processes preparing documents at once get done against one alone.

    The same 60 standard-library files are normalized and sketched by one
    process, then by two at once (each all of them: no pipes, no writing),
    then by one again; a trial's ratio is twice the time alone over the time
    both took. This machine's two CPUs share caches and memory bandwidth, so
    `--jobs 2` can scale no further than this, whatever ipguard does. W1
    takes trials between its builds: the ratio moves with the machine's hour.
    """
    docs = []
    for path in sorted(STDLIB.glob("*.py"))[:60]:
        docs.append(Document(source=str(path), text=path.read_text(encoding="utf-8"), kind="code"))
    prepare = DocumentPreparer(IndexConfig(), bytes(32), 2_000_000)
    for doc in docs[:20]:
        prepare(doc)

    def alone() -> float:
        started = time.perf_counter()
        for doc in docs:
            prepare(doc)
        return time.perf_counter() - started

    def together() -> float:
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            alone()
            os._exit(0)
        alone()
        os.waitpid(pid, 0)
        return time.perf_counter() - started

    ratios = []
    for _ in range(trials):
        before, both, after = alone(), together(), alone()
        ratios.append(round((before + after) / both, 2))
    return ratios


def startup_seconds(trials: int = 5) -> float:
    """Wall seconds of a fresh interpreter importing the CLI (median of `trials`).

    What `ipguard index` spends before it can start a worker, whatever
    `--jobs` is: the one part of a build no second process can share.
    """
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    runs = []
    for _ in range(trials):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import ipguard.cli"],
            check=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def jobs2_bound(jobs1_s: float, startup_s: float, ceiling: float) -> float:
    """The most `--jobs 2` could gain over `--jobs 1` on this machine (Amdahl's law).

    Generous: as if everything after the interpreter's start, the final
    write included, were shared by two processes at the machine's measured
    two-process ceiling, with no cost for sharing it. The final write cannot
    start before the last document is prepared, so a real build stays below.
    """
    return jobs1_s / (startup_s + (jobs1_s - startup_s) / ceiling)


def sketch_stage(results: dict) -> None:
    cfg = IndexConfig()
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 2**32, 2_000_000, dtype=np.uint64).astype(np.uint32)
    sketch_windows(ids[:10000], cfg.code, num_perm=64, seed=1, query=False)  # warm up
    # The median of five runs: one run moved between 4.5 and 5.5 M/s with the
    # rest of this shared machine (sessions 5-7), more than any change did.
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        ours = sketch_windows(ids, cfg.code, num_perm=64, seed=1, query=False)
        runs.append(time.perf_counter() - started)
    ours_s = statistics.median(runs)
    shingles = len(ids) - cfg.code.shingle + 1
    # datasketch on the same windows (first 2,000): one MinHash per window
    from datasketch import MinHash

    sample = ids[: 2000 * cfg.code.index_stride + cfg.code.window_tokens]
    sk = sketch_windows(sample, cfg.code, num_perm=64, seed=1, query=False)
    data = shingle_bytes(sample, cfg.code.shingle)
    prototype = MinHash(num_perm=64, seed=1, hashfunc=shingle_hash)  # permutations drawn once
    started = time.perf_counter()
    identical = True
    updates = 0
    for start, length, signature in zip(sk.starts, sk.lengths, sk.signatures, strict=True):
        m = MinHash(
            num_perm=64,
            hashfunc=shingle_hash,
            permutations=prototype.permutations,
            scheme="affine32",
        )
        m.update_batch(data[start : start + length])
        updates += int(length)
        identical &= bool(np.array_equal(m.hashvalues, signature))
    ds_s = time.perf_counter() - started
    results["sketch"] = {
        "shingles": shingles,
        "windows": len(ours),
        "ipguard_M_shingles_per_s": round(shingles / ours_s / 1e6, 2),
        "ipguard_runs_M_shingles_per_s": [round(shingles / r / 1e6, 2) for r in runs],
        "datasketch_update_batch_M_shingle_updates_per_s": round(updates / ds_s / 1e6, 3),
        "datasketch_windows_per_s": round(len(sk) / ds_s, 1),
        "ipguard_windows_per_s": round(len(ours) / ours_s, 1),
        "windows_per_s_ratio": round((len(ours) / ours_s) / (len(sk) / ds_s), 1),
        "values_identical_to_datasketch": identical,
    }


def datasketch_lsh(results: dict, count: int = 20000) -> None:
    from datasketch import LeanMinHash, MinHashLSH

    cfg = IndexConfig()
    ids = (
        np.random.default_rng(2)
        .integers(0, 2**32, count * 8 + 40, dtype=np.uint64)
        .astype(np.uint32)
    )
    sk = sketch_windows(ids, cfg.code, num_perm=64, seed=1, query=False)
    lean = [LeanMinHash(seed=1, hashvalues=s, scheme="affine32") for s in sk.signatures[:count]]
    tracemalloc.start()
    lsh = MinHashLSH(threshold=cfg.lsh_threshold, num_perm=64)
    started = time.perf_counter()
    for i, m in enumerate(lean):
        lsh.insert(i, m)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    results["datasketch_lsh"] = {
        "signatures": count,
        "inserts_per_s": round(count / elapsed),
        "bytes_per_signature_in_memory": round(peak / count),
    }


#: W2's novel code is ipguard's own as of this commit (the one session 6's
#: report ran at), read from git where the checkout has it. Cut from the
#: working tree, the outputs changed with every edit: on one index, 1/800
#: novel outputs blocked at 4eed4a6 and 7/800 at d97702b.
NOVEL_REVISION = "4eed4a6b8eed38c4d72c9eb0cd1cfd7e7a53e1d6"


def novel_code() -> list[str]:
    """ipguard's modules at `NOVEL_REVISION`, or in the working tree without git."""
    try:
        listed = subprocess.run(
            ["git", "ls-tree", "-r", "--name-only", NOVEL_REVISION, "ipguard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        names = sorted((n for n in listed if n.endswith(".py")), key=lambda n: n.split("/"))
        return [
            subprocess.run(
                ["git", "show", f"{NOVEL_REVISION}:{name}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for name in names
        ]
    except (OSError, subprocess.CalledProcessError):
        print(f"W2: no git revision {NOVEL_REVISION[:7]}; novel code from the working tree")
        return [p.read_text(encoding="utf-8") for p in sorted((ROOT / "ipguard").rglob("*.py"))]


def outputs_for(
    index_sources: list[Path], count: int, rng: random.Random
) -> list[tuple[str, bool]]:
    """About 2 KB each; one in five holds a disguised fragment of an indexed function."""
    import ast
    import textwrap

    functions: list[str] = []
    for path in index_sources:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        lines = source.splitlines()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.FunctionDef)
                and 10 <= (node.end_lineno or 0) - node.lineno <= 40
            ):
                functions.append(
                    textwrap.dedent("\n".join(lines[node.lineno - 1 : node.end_lineno]))
                )
    # Novel text is the team's own code: W1 indexes the whole standard library,
    # and installed packages such as click copy parts of it (textwrap, optparse).
    novel = novel_code()
    out = []
    for i in range(count):
        text = rng.choice(novel)
        start = rng.randrange(0, max(1, len(text) - 2000))
        body = text[start : start + 2000]
        copied = i % 5 == 0
        if copied:
            try:
                fragment = disguise_python_function(rng.choice(functions))
            except SyntaxError:
                fragment = rng.choice(functions)
            body = body[:600] + "\n```python\n" + fragment[:1400] + "\n```\n"
        out.append((f"Here is the answer.\n\n```python\n{body}\n```\n", copied))
    return out


CHECKER = (
    "import json, statistics, sys, time\n" + PEAK_RSS + "from ipguard import Guard\n"
    "outs = json.load(open(sys.argv[2]))\n"
    "with Guard.open(sys.argv[1]) as guard:\n"
    "    for text, _ in outs[:20]:\n"
    "        guard.check(text)\n"
    "    times, blocked, novel_blocked = [], 0, 0\n"
    "    for text, copied in outs:\n"
    "        t = time.perf_counter()\n"
    "        action = guard.check(text).action\n"
    "        times.append(time.perf_counter() - t)\n"
    "        blocked += copied and action == 'block'\n"
    "        novel_blocked += (not copied) and action == 'block'\n"
    "rss = peak_kb()\n"
    "print(json.dumps({'times': times, 'blocked': blocked, 'novel_blocked': novel_blocked,"
    " 'rss_kb': rss}))\n"
)


def check_latency(index: Path, outs: list[tuple[str, bool]]) -> dict:
    """Per-output check latency, measured in a fresh checking process (its peak RSS too)."""
    data = CACHE / "outputs.json"
    data.write_text(json.dumps(outs))
    proc = subprocess.run(
        [sys.executable, "-c", CHECKER, str(index), str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout)
    times = sorted(result["times"])
    return {
        "outputs": len(outs),
        "p50_ms": round(1000 * statistics.median(times), 2),
        "p99_ms": round(1000 * times[int(0.99 * (len(times) - 1))], 2),
        "copies_blocked": f"{result['blocked']}/{sum(c for _, c in outs)}",
        "novel_blocked": f"{result['novel_blocked']}/{sum(not c for _, c in outs)}",
        "checking_process_peak_rss_mb": round(result["rss_kb"] / 1024, 1),
    }


#: Word frequencies of the synthetic corpus. At 1.3 a quarter of all words were
#: the commonest one, so random outputs shared long runs with every document
#: and all of them blocked; 1.1 gives the commonest word about 9%, near "the"
#: in English, and outputs that are novel in fact.
ZIPF = 1.1


def synthetic(
    results: dict, windows: int, name: str, *, both_jobs: bool = False
) -> tuple[Path, list[tuple[str, bool]]]:
    """A text index of about `windows` windows from random words, built with the real pipeline.

    With `both_jobs`, built three times each with `--jobs 1` and `--jobs 2`,
    taking turns as W1's builds do: "per core" is then what one indexing
    process does, as W1 counts it for code, beside a two-process run's rate
    halved (which also charges the write, one process's work, to two cores).
    """
    rng = np.random.default_rng(3)
    vocabulary = np.array([f"w{i:05d}" for i in range(50_000)])
    words_per_doc = 3000
    stride = IndexConfig().text.index_stride
    docs = max(1, windows * stride // words_per_doc)
    folder = CACHE / f"synthetic-{name}"
    marker = CACHE / f"synthetic-{name}.zipf-{ZIPF}"
    if not marker.exists() or len(list(folder.glob("*.txt"))) != docs:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.txt"):
            old.unlink()
        for i in range(docs):
            words = vocabulary[rng.zipf(ZIPF, words_per_doc) % len(vocabulary)]
            (folder / f"d{i:06d}.txt").write_text(" ".join(words))
        for old in CACHE.glob(f"synthetic-{name}.zipf-*"):
            old.unlink()
        marker.write_text("")
    index = CACHE / f"synthetic-{name}.ipguard.db"
    builds: dict[int, list[CliRun]] = {1: [], 2: []}
    for _ in range(3 if both_jobs else 1):
        for jobs in (1, 2) if both_jobs else (2,):
            builds[jobs].append(
                run_cli("index", "--index", str(fresh(index)), "--jobs", str(jobs), str(folder))
            )
    source = sum(p.stat().st_size for p in folder.glob("*.txt"))
    with Guard.open(str(index)) as guard:
        stats = guard.stats()
    texts = sorted(folder.glob("*.txt"))
    py = random.Random(4)
    outs = []
    # Outputs draw from their own generator: the corpus's would repeat its
    # documents word for word whenever they are reused from the cache.
    out_rng = np.random.default_rng(4)
    for i in range(300):
        words = vocabulary[out_rng.zipf(ZIPF, 330) % len(vocabulary)]
        text = " ".join(words)
        if i % 5 == 0:
            donor = py.choice(texts).read_text()
            start = py.randrange(0, len(donor) - 1200)
            text = text[:800] + " " + donor[start : start + 1200]
        outs.append((text, i % 5 == 0))
    latency = check_latency(index, outs)
    rates = {}
    for jobs, done in builds.items():
        if not done:
            continue
        wall = statistics.median(r.wall for r in done)
        cpu = statistics.median(r.cpu_s for r in done)
        rates[f"jobs{jobs}"] = {
            "build_s": round(wall, 2),
            "runs_s": [round(r.wall, 2) for r in done],
            "MB_per_s_per_core": round(source / wall / jobs / 1e6, 2),
            "cpu_s": round(cpu, 2),
            "MB_per_cpu_s": round(source / cpu / 1e6, 2),
            "peak_rss_mb": round(max(max(r.own_kb, r.kids_kb) for r in done) / 1024, 1),
        }
    results[f"W3_{name}"] = {
        "documents": stats.documents,
        "windows": stats.windows,
        "source_MB": round(source / 1e6, 1),
        **{f"{jobs}_{k}": v for jobs, rate in rates.items() for k, v in rate.items()},
        "bytes_per_window": round(stats.bytes_on_disk / max(stats.windows, 1), 1),
        **latency,
    }
    return index, outs


def added_to(results: dict, index: Path, outs: list[tuple[str, bool]], added: str) -> None:
    """Index another synthetic corpus into a built index, then check against both.

    An addition under a tenth of the pairs is kept apart unless the filters
    of the two would not fit a checking process's budget: the RSS bound must
    hold for an index of several segments too.
    """
    folder = CACHE / f"synthetic-{added}"
    run = run_cli("index", "--index", str(index), "--jobs", "2", str(folder))
    with Guard.open(str(index)) as guard:
        stats = guard.stats()
    results[f"W3_plus_{added}"] = {
        "windows": stats.windows,
        "add_s": round(run.wall, 1),
        "segment_files_after": len(list(Path(f"{index}.bands").glob("*.seg"))),
        "index_rss_mb": round(max(run.own_kb, run.kids_kb) / 1024, 1),
        **check_latency(index, outs),
    }


#: The notice every file of W5's corpus opens with (the team's own words).
SHARED_NOTICE = """# Copyright the Orchard Valley Cooperative and its contributors.
#
# This file is part of the orchard scheduling suite. You may use it only
# under the terms of the cooperative's member licence, version three, which
# came with this program in the file called MEMBERS. Redistribution of this
# file, whole or in part, outside the cooperative needs written consent of the
# board; changes must carry a notice saying who made them and when. There is
# no warranty of any kind: the suite is offered as it is, and the cooperative
# is not liable for lost harvests, spoiled stock or missed deliveries that
# follow from its use, however they come about.
"""


def _expression(rng: random.Random, names: list[str], depth: int = 0) -> str:
    """A random Python expression: names, numbers, calls, attributes, operators."""
    pick = rng.randrange(7 if depth < 2 else 2)
    if pick == 0:
        return rng.choice(names)
    if pick == 1:
        return str(rng.randint(0, 99))
    if pick == 2:
        op = rng.choice(["+", "-", "*", "//", "%", "<<", "&", "|"])
        return f"{_expression(rng, names, depth + 1)} {op} {_expression(rng, names, depth + 1)}"
    args = ", ".join(_expression(rng, names, depth + 1) for _ in range(rng.randint(0, 3)))
    if pick == 3:
        return f"{rng.choice(names)}({args})"
    if pick == 4:
        return f"{rng.choice(names)}.{rng.choice(names)}({args})"
    if pick == 5:
        return f"[{args}]"
    return f"{rng.choice(names)}[{_expression(rng, names, depth + 1)}]"


def _statements(rng: random.Random, names: list[str], indent: str, count: int) -> list[str]:
    """Random statements, some opening a nested block."""
    out = []
    for _ in range(count):
        kind = rng.randrange(8 if len(indent) < 12 else 4)
        target = rng.choice(names)
        if kind <= 1:
            out.append(f"{indent}{target} = {_expression(rng, names)}")
        elif kind == 2:
            out.append(
                f"{indent}{target} {rng.choice(['+=', '-=', '|=', '*='])} {rng.randint(1, 9)}"
            )
        elif kind == 3:
            out.append(f"{indent}{_expression(rng, names)}")
        else:
            head = {
                4: f"if {target} {rng.choice(['<', '>', '==', 'in'])} {_expression(rng, names)}:",
                5: f"for {target} in {_expression(rng, names)}:",
                6: f"while {target}:",
                7: f"with {_expression(rng, names)} as {target}:",
            }[kind]
            out.append(indent + head)
            out.extend(_statements(rng, names, indent + "    ", rng.randint(1, 3)))
    return out


def generated_function(rng: random.Random, name: str) -> str:
    """A function of random statements and expressions: unlike any other once normalized."""
    names = ["total", "items", "seen", "limit", "entry", "queue", "level", "parts"]
    body = _statements(rng, names, "    ", rng.randint(12, 20))
    return f"def {name}({', '.join(names[:4])}):\n" + "\n".join(body) + "\n    return total\n"


def built_and_checked(index: Path, files: int, build: CliRun, outs: list[tuple[str, bool]]) -> dict:
    """A workload's index size and build time, then its outputs' check latency."""
    with Guard.open(str(index)) as guard:
        stats = guard.stats()
    return {
        "files": files,
        "windows": stats.windows,
        "build_s": round(build.wall, 1),
        **check_latency(index, outs),
    }


def shared_notice(results: dict, files: int = 20_000) -> None:
    """W5: a corpus whose every file opens with the same notice, checked with outputs quoting it.

    Each of the notice's band keys then holds `files` windows: a check must
    not read them all (its RSS stays under budget), while a copy of one
    file's function after the notice is still caught and the notice alone
    is not (it is shared structure). Half the outputs are each kind.
    """
    folder = CACHE / f"shared-notice-{files}"
    rng = random.Random(9)
    functions = [generated_function(rng, f"step_{i}") for i in range(files)]
    if len(list(folder.glob("*/*.py"))) != files:
        for i, function in enumerate(functions):
            part = folder / f"part{i // 1000:02d}"
            part.mkdir(parents=True, exist_ok=True)
            (part / f"step_{i}.py").write_text(SHARED_NOTICE + "\n\n" + function)
    index = fresh(CACHE / "shared-notice.ipguard.db")
    build = run_cli("index", "--index", str(index), "--jobs", "2", str(folder))
    novel = novel_code()
    outs = []
    for i in range(200):
        copied = i % 2 == 0
        if copied:
            body = disguise_python_function(rng.choice(functions))
        else:
            text = rng.choice(novel)
            start = rng.randrange(0, max(1, len(text) - 1200))
            body = text[start : start + 1200]
        outs.append((f"Here it is.\n\n```python\n{SHARED_NOTICE}\n{body}\n```\n", copied))
    results["W5_shared_notice"] = built_and_checked(index, files, build, outs)


def large_documents(results: dict, files: int = 40, size: int = 1_900_000) -> None:
    """W6: files near the default size limit that all hold one function, checked with outputs.

    Every file is a candidate for an output quoting the shared function, and
    each is about 50,000 windows: the checking process must not hold them all
    at once. Half the outputs quote the shared function (shared structure:
    allowed), half a disguised copy of a function found in one file only.
    """
    folder = CACHE / f"large-documents-{files}"
    rng = random.Random(11)
    shared = generated_function(random.Random(12), "shared_step")
    own: list[str] = []
    if len(list(folder.glob("*.py"))) != files:
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        parts, held = [shared], len(shared)
        while held < size:
            parts.append(generated_function(rng, f"part_{i}_{held}"))
            held += len(parts[-1])
        own.append(parts[1])
        path = folder / f"large_{i}.py"
        if not path.exists():
            path.write_text("\n\n".join(parts))
    index = fresh(CACHE / "large-documents.ipguard.db")
    build = run_cli("index", "--index", str(index), "--jobs", "2", str(folder))
    outs = [
        (
            f"```python\n{shared if i % 2 else disguise_python_function(own[i % files])}```\n",
            not i % 2,
        )
        for i in range(100)
    ]
    results["W6_large_documents"] = built_and_checked(index, files, build, outs)


def long_prose(results: dict, books: int = 16, words: int = 150_000) -> None:
    """W7: book-length prose, checked with outputs quoting a passage or novel ones.

    Each book (about 1 MB) has about 150,000 tokens: a check verifies a few
    hundred of them per candidate, where the store read and unpacked all of
    each (see `ipguard.stores.PART_TOKENS`). Words are drawn as W3's are, in
    sentences and paragraphs; half the outputs quote about 300 words of one
    book after a sentence of their own, half are random words.
    """
    rng = np.random.default_rng(21)
    vocabulary = np.array([f"w{i:05d}" for i in range(50_000)])
    folder = CACHE / f"long-prose-{books}"
    marker = CACHE / f"long-prose-{books}.zipf-{ZIPF}"
    texts = []
    for _ in range(books):
        drawn = vocabulary[rng.zipf(ZIPF, words) % len(vocabulary)].tolist()
        sentences, at = [], 0
        while at < len(drawn):
            n = int(rng.integers(8, 21))
            sentences.append(" ".join(drawn[at : at + n]).capitalize() + ".")
            at += n
        texts.append(
            "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5))
        )
    if not marker.exists() or len(list(folder.glob("*.txt"))) != books:
        folder.mkdir(parents=True, exist_ok=True)
        for b, text in enumerate(texts):
            (folder / f"book{b:02d}.txt").write_text(text)
        marker.write_text("")
    index = fresh(CACHE / "long-prose.ipguard.db")
    build = run_cli("index", "--index", str(index), "--jobs", "2", str(folder))
    pick = random.Random(3)
    outs = []
    for i in range(200):
        if i % 2 == 0:
            text = texts[pick.randrange(books)]
            start = pick.randrange(0, len(text) - 2500)
            outs.append(("As the novel puts it: " + text[start : start + 1800], True))
        else:
            drawn = vocabulary[rng.zipf(ZIPF, 300) % len(vocabulary)].tolist()
            outs.append((" ".join(drawn), False))
    results["W7_long_prose"] = built_and_checked(index, books, build, outs)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="also build a 10 M-window index")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "command": "python bench/speed.py" + (" --large" if args.large else ""),
        "cpus": os.cpu_count(),
    }
    # An installed ipguard has its bytecode compiled (pip does it on install);
    # a source checkout run with PYTHONDONTWRITEBYTECODE set, as on this
    # machine, would compile its modules again in every CLI run (about 50 ms
    # of a cold check or a re-index).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "ipguard")], check=True)
    pace = {"start_s": machine_pace()}
    sketch_stage(results)
    datasketch_lsh(results)
    excludes = [x for e in EXCLUDES for x in ("--exclude", e)]
    size = stdlib_bytes()
    w1 = {}
    # Three builds each, jobs 1 and 2 taking turns, and the median: one run
    # moved by 10-30% with the rest of this shared machine, and a ratio of two
    # single runs twice that.
    runs: dict[int, list[CliRun]] = {1: [], 2: []}
    ceiling: list[float] = []
    for _ in range(3):
        ceiling += two_process_ceiling(3)
        for jobs in (1, 2):
            index = fresh(CACHE / f"stdlib-j{jobs}.ipguard.db")
            run = run_cli(
                "index",
                "--index",
                str(index),
                "--jobs",
                str(jobs),
                *excludes,
                "--format",
                "json",
                str(STDLIB),
            )
            runs[jobs].append(run)
    for jobs, done in runs.items():
        wall = statistics.median(r.wall for r in done)
        cpu = statistics.median(r.cpu_s for r in done)
        w1[f"jobs{jobs}"] = {
            "seconds": round(wall, 2),
            "runs_s": [round(r.wall, 2) for r in done],
            "MB_per_s": round(size / wall / 1e6, 2),
            "MB_per_s_per_core": round(size / wall / jobs / 1e6, 2),
            "cpu_s": round(cpu, 2),
            "MB_per_cpu_s": round(size / cpu / 1e6, 2),
            "windows_per_s": round(json.loads(done[0].stdout)["windows"] / wall),
            "peak_rss_mb": round(max(max(r.own_kb, r.kids_kb) for r in done) / 1024, 1),
        }
    index = CACHE / "stdlib-j1.ipguard.db"
    # Median of three: one run of a third of a second moves with the machine.
    again = statistics.median(
        run_cli("index", "--index", str(index), *excludes, str(STDLIB)).wall for _ in range(3)
    )
    startup = startup_seconds()
    with Guard.open(str(index)) as guard:
        stats = guard.stats()
    w1.update(
        {
            "source_MB": round(size / 1e6, 1),
            "documents": stats.documents,
            "windows": stats.windows,
            "bytes_per_window": round(stats.bytes_on_disk / stats.windows, 1),
            "jobs2_speedup": round(w1["jobs1"]["seconds"] / w1["jobs2"]["seconds"], 2),
            "two_process_ceiling": round(statistics.median(ceiling), 2),
            "two_process_trials": ceiling,
            "startup_s": round(startup, 3),
            "jobs2_bound": round(
                jobs2_bound(w1["jobs1"]["seconds"], startup, statistics.median(ceiling)), 2
            ),
            "reindex_unchanged_s": round(again, 2),
            "reindex_speedup": round(w1["jobs1"]["seconds"] / again, 1),
            **parse_floor(),
        }
    )
    results["W1_index_stdlib"] = w1
    sources = sorted(STDLIB.glob("*.py"))
    results["W2_check_2KB"] = check_latency(index, outputs_for(sources, 1000, random.Random(5)))
    synthetic(results, 1_000_000, "1M", both_jobs=True)
    shared_notice(results)
    large_documents(results)
    long_prose(results)
    if args.large:
        large, large_outs = synthetic(results, 10_000_000, "10M")
        added_to(results, large, large_outs, "1M")
    # Checked from a folder outside this repository, as in a project with no
    # configuration: this repository's pyproject.toml names ipguard, so a
    # check here would read and parse it.
    with tempfile.TemporaryDirectory() as project:
        sample = Path(project) / "one-output.md"
        sample.write_text(outputs_for(sources, 1, random.Random(6))[0][0])
        colds = [
            run_cli("check", "--index", str(index.resolve()), sample.name, cwd=project).wall
            for _ in range(5)
        ]
    results["W4_cold_check_s"] = round(statistics.median(colds), 3)
    pace["end_s"] = machine_pace()
    results["machine_pace_10M_loop_iterations"] = pace
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "speed.json").write_text(json.dumps(results, indent=2) + "\n")
    md = ["# Speed benchmark", "", f"`{results['command']}` on {results['cpus']} CPUs.", ""]
    for key, value in results.items():
        if isinstance(value, dict):
            md.append(f"## {key}")
            md.append("")
            md.extend(f"- {k}: {v}" for k, v in value.items())
            md.append("")
        elif key not in ("command", "cpus"):
            md.append(f"- {key}: {value}")
    (REPORTS / "speed.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
