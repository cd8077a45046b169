"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    text = README.read_text(encoding="utf-8")
    match = re.search(r"## Python API\n\n```python\n(.*?)\n```\n\n- ", text, re.DOTALL)
    assert match, "README has no Python API example"
    exec(compile(match.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("block stats/moving.py (2, 10)")
    assert "[ipguard: redacted]" in out
