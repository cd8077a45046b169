"""`make demo`: index the interpreter's standard library and the team's sample
texts, then check disguised copies and novel outputs through the real CLI.

Every disguised output is built at run time from material on this machine; no
third-party text or code is committed.
"""

from __future__ import annotations

import argparse
import ast
import re
import sysconfig
from pathlib import Path

from .cli import main as cli_main
from .errors import IndexConfigMismatchError, IndexCorruptError
from .guard import Guard
from .stores import delete_index_files

#: Standard-library functions to disguise, tried in order (the first that exists is used).
DEMO_FUNCTIONS = (("fnmatch.py", "translate"), ("shlex.py", "split"), ("textwrap.py", "dedent"))


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node


def disguise_python_function(function_source: str, prefix: str = "my") -> str:
    """Rename every locally bound name and reformat a Python function (comments dropped).

    >>> source = "def add(a, b):\\n    total = a + b  # sum\\n    return total"
    >>> print(disguise_python_function(source))
    def my_add(my_a, my_b):
        my_total = my_a + my_b
        return my_total
    """
    tree = ast.parse(function_source)
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
    mapping = {name: f"{prefix}_{name.strip('_')}" for name in sorted(bound)}
    return ast.unparse(_Renamer(mapping).visit(tree))


def disguise_prose(paragraph: str) -> str:
    """Change casing, punctuation and whitespace of a paragraph, keeping its words."""
    words = re.sub(
        r"[,;:.]", lambda m: {",": " -", ";": ",", ":": " -", ".": "!"}[m.group()], paragraph
    )
    return "  ".join(
        w.upper() if i % 3 == 0 else w.capitalize() for i, w in enumerate(words.split())
    )


def _function_source(path: Path, name: str) -> tuple[str, int, int] | None:
    source = path.read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            lines = source.splitlines()[node.lineno - 1 : node.end_lineno]
            return "\n".join(lines), node.lineno, node.end_lineno or node.lineno
    return None


def build_outputs(stdlib: Path, corpora: Path, outdir: Path) -> list[Path]:
    """Write the demo's outputs: two disguised copies and two novel texts."""
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for module, name in DEMO_FUNCTIONS:
        found = _function_source(stdlib / module, name) if (stdlib / module).exists() else None
        if found is None:
            continue
        code, first, last = found
        disguised = disguise_python_function(code)
        target = outdir / "1-disguised-stdlib-function.md"
        target.write_text(
            f"Sure! Here is a function that does what you asked"
            f" (it is {module}:{first}-{last} in disguise):\n\n```python\n{disguised}\n```\n",
            encoding="utf-8",
        )
        written.append(target)
        break
    paragraph = (corpora / "protected" / "harbour-lights.md").read_text(encoding="utf-8")
    first_paragraph = paragraph.split("\n\n")[1]
    target = outdir / "2-disguised-protected-paragraph.txt"
    target.write_text(
        "Here is a short story you might enjoy.\n\n" + disguise_prose(first_paragraph) + "\n",
        encoding="utf-8",
    )
    written.append(target)
    for name in ("novel-code.md", "novel-prose.md"):
        target = outdir / f"{len(written) + 1}-{name}"
        target.write_text(
            (corpora / "outputs" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
        written.append(target)
    return written


def _discard_stale(index: Path) -> None:
    """The demo owns its index: one built by another ipguard version is rebuilt."""
    if not index.exists():
        return
    try:
        Guard.open(str(index)).close()
    except (IndexConfigMismatchError, IndexCorruptError) as exc:
        print(f"(rebuilding the demo index: {exc})")
        delete_index_files(str(index))


def run(workdir: Path, corpora: Path) -> int:
    """Index, then check every demo output; returns the check's exit code."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    index = str(workdir / "demo.ipguard.db")
    workdir.mkdir(parents=True, exist_ok=True)
    _discard_stale(Path(index))
    print(f"== 1. index the standard library at {stdlib} (top-level modules) ==")
    modules = sorted(str(p) for p in stdlib.glob("*.py"))
    code = cli_main(
        ["index", "--index", index, "--license", "PSF-2.0", "--source-name", "stdlib", *modules]
    )
    if code:
        return code
    print("\n== 2. index the team's sample protected texts ==")
    code = cli_main(
        [
            "index",
            "--index",
            index,
            "--license",
            "LicenseRef-team-sample",
            "--source-name",
            "team-samples",
            str(corpora / "protected"),
        ]
    )
    if code:
        return code
    outputs = build_outputs(stdlib, corpora, workdir / "outputs")
    print("\n== 3. check generated outputs (two disguised copies, two novel) ==")
    for path in outputs:
        print(f"\n--- {path.name} ---")
        print(path.read_text(encoding="utf-8").rstrip()[:1200])
        print("--- verdict ---")
        cli_main(["check", "--index", index, str(path)])
    print("\n== 4. the same through `ipguard filter --action redact` ==")
    print(f"(try: ipguard filter --index {index} --action redact < {outputs[0]})")
    return 0


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="demo-out", help="where the index and outputs go")
    parser.add_argument(
        "--corpora",
        default=str(Path(__file__).resolve().parent.parent / "corpora"),
        help="the team's sample corpora",
    )
    args = parser.parse_args()
    return run(Path(args.workdir), Path(args.corpora))


if __name__ == "__main__":
    raise SystemExit(_main())
