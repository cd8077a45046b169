"""The core (sketch, index, verify, policy, stores) imports neither tree-sitter nor click."""

from __future__ import annotations

import os
import subprocess
import sys

CORE = [
    "ipguard.sketch",
    "ipguard.index",
    "ipguard.verify",
    "ipguard.policy",
    "ipguard.stores.sqlite",
]


def test_core_modules_do_not_import_tree_sitter_or_click() -> None:
    code = (
        "import sys\n"
        f"for m in {CORE!r}: __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tree_sitter', 'click'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_library_never_prints(capsys) -> None:  # type: ignore[no-untyped-def]
    import tempfile
    from pathlib import Path

    from ipguard import Guard

    with (
        tempfile.TemporaryDirectory() as tmp,
        Guard.open(str(Path(tmp) / "x.db"), create=True) as g,
    ):
        g.index_texts([("a", "some words " * 20)])
        g.check("some words " * 20)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_check_does_not_import_numpy_ma(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # np.unique and np.isin import numpy.ma on first use: 16-18 ms of every
    # cold `ipguard check`, which a lookup or a verification never needs.
    from ipguard import Guard

    index = str(tmp_path / "x.db")
    code = (
        "def total(values, start):\n"
        "    acc = start\n"
        "    for v in values:\n"
        "        acc += v * 2\n"
        "    return acc\n"
    )
    prose = " ".join(f"word{i % 97} other{i % 13} thing{i % 31}" for i in range(400))
    with Guard.open(index, create=True) as g:
        g.index_texts([("a.py", code * 6)], language="python")
        g.index_texts([("b.txt", prose)], kind="text")
    script = (
        "import sys\n"
        "from ipguard import Guard\n"
        "from ipguard.stores import segments\n"
        # Reads of 4 pairs from the first key on: many miss and are sorted out.
        "segments.NEAR_PAIRS, segments.NEAR_KEYS = 4, 1\n"
        f"with Guard.open({index!r}) as g:\n"
        f"    g.check({code!r}, language='python')\n"
        f"    g.check({prose[:3000]!r})\n"
        "    g.check('Nothing like the indexed text, written for this test alone.')\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_indexing_from_the_cli_turns_numpy_huge_pages_off_and_the_library_leaves_them(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    # Process-wide allocator settings are the CLI's to choose (and its
    # workers'); a program that indexes through the library keeps its own.
    (tmp_path / "a.py").write_text("def f(a):\n    return a + 1\n")
    script = (
        "try:\n"
        "    from numpy._core.multiarray import _set_madvise_hugepage as advice\n"
        "except ImportError:\n"
        "    from numpy.core.multiarray import _set_madvise_hugepage as advice\n"
        "from ipguard import Guard\n"
        "from ipguard.cli import main\n"
        f"with Guard.open({str(tmp_path / 'lib.db')!r}, create=True) as g:\n"
        f"    g.index_paths([{str(tmp_path)!r}])\n"
        "library = advice(True)\n"
        f"code = main(['index', '--index', {str(tmp_path / 'cli.db')!r}, "
        f"{str(tmp_path / 'a.py')!r}])\n"
        "print(library, advice(True), code)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-3:] == ["True", "False", "0"]


def test_the_cli_process_starts_no_blas_threads_and_the_package_imports_no_numpy() -> None:
    # ipguard makes no BLAS calls; OpenBLAS's idle threads spun 0.1 s of CPU
    # in every CLI run. The package defers numpy so that the CLI can say so first.
    script = (
        "import os, sys\n"
        "import ipguard\n"
        "before = 'numpy' in sys.modules\n"
        "import ipguard.cli\n"
        "print(before, 'numpy' in sys.modules, os.environ.get('OPENBLAS_NUM_THREADS'),"
        " len(os.listdir('/proc/self/task')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "True", "1", "1"]
    # A user's own setting is kept.
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split()[2] == "2"
