"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _section_code(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"## {heading}\n.*?\n```python\n(.*?)\n```\n\n(?!```)", text, re.DOTALL)
    assert match, f"README has no example under {heading!r}"
    return match.group(1)


def test_readme_python_examples_run(capsys) -> None:  # type: ignore[no-untyped-def]
    api, streaming = _section_code("Python API"), _section_code("Streaming and regeneration")
    namespace: dict[str, object] = {}
    exec(compile(api, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("block stats/moving.py (2, 10)")
    assert "[ipguard: redacted]" in out
    exec(compile(streaming, "README.md", "exec"), namespace)  # reuses index_path
    out = capsys.readouterr().out
    assert "roses are red, violets are blue" in out and " allow" in out
    assert "fresh text, attempt 1 1 False" in out
