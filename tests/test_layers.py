"""The core (sketch, index, verify, policy, stores) imports neither tree-sitter nor click."""

from __future__ import annotations

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
