"""Accuracy cases in C, C++, JavaScript and TypeScript, built at run time.

Protected and novel material per language (nothing third-party is committed):

- C: protected = the interpreter's headers (static inline functions);
  novel = the system's other headers under /usr/include.
- C++: protected = libstdc++'s bits/ headers; novel = Node's V8 headers,
  libstdc++'s policy-based data structures (ext/pb_ds) and gmpxx.h.
- JavaScript: protected = lodash's modules; novel = ramda's sources.
- TypeScript: protected = rxjs's sources; novel = zod's, immer's and TanStack's sources.

The npm packages are fetched with `npm pack` into bench/.cache/npm (ignored);
without npm, or without the headers, that language is skipped and the report
says so. Mutations are made with tree-sitter, independently of ipguard's
normalizer: bound names are the identifiers a declaration, parameter or
function name introduces.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sysconfig
import tarfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipguard.normalize.languages import parser_for

CACHE = Path(__file__).resolve().parent / ".cache"
NPM = CACHE / "npm"
INCLUDE = Path("/usr/include")
PY_INCLUDE = Path(sysconfig.get_paths()["include"])

#: Node types whose whole text is one token when reformatting.
_ATOMIC = re.compile(r"string|template|char_literal|comment|regex|preproc_arg|raw_string")
#: Parent node types whose direct identifier children a declaration binds.
_DECLARING = frozenset(
    {
        # C / C++
        "init_declarator",
        "pointer_declarator",
        "array_declarator",
        "parameter_declaration",
        "function_declarator",
        "reference_declarator",
        "optional_parameter_declaration",
        "declaration",
        # JavaScript / TypeScript
        "variable_declarator",
        "formal_parameters",
        "required_parameter",
        "optional_parameter",
        "function_declaration",
        "function_expression",
        "arrow_function",
        "catch_clause",
        "assignment_pattern",
        "array_pattern",
        "object_pattern",
        "rest_pattern",
        "for_in_statement",
    }
)
_FUNCTION_NODES = frozenset(
    {
        "function_definition",
        "function_declaration",
        "method_definition",
        "function_expression",
        "arrow_function",
    }
)
_TIGHT_BEFORE = {")", "]", ",", ";", ".", "->", "?.", "::", "++", "--"}
_OPENERS = {"{", "(", "["}
_CLOSERS = {"}", ")", "]"}
_TIGHT_AFTER = {"(", "[", ".", "->", "?.", "::", "!", "~"}


@dataclass(frozen=True)
class Language:
    """One language's protected files, novel files and the team's filler code."""

    name: str
    fence: str
    extension: str
    protected: Callable[[], list[Path]]
    novel: Callable[[], list[Path]]
    filler: str
    inserted: str


def npm_package(spec: str) -> Path | None:
    """The unpacked `package/` folder of an npm package, fetched once into the cache."""
    name = spec.rsplit("@", 1)[0]
    target = NPM / name
    if (target / "package").is_dir():
        return target / "package"
    if shutil.which("npm") is None:
        return None
    NPM.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=NPM, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        return None
    tarball = NPM / done.stdout.strip().splitlines()[-1]
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(target, filter="data")
    tarball.unlink()
    return target / "package"


def _cxx_root() -> Path | None:
    versions = sorted((INCLUDE / "c++").glob("[0-9]*"), key=lambda p: p.name)
    return versions[-1] if versions else None


def _files(root: Path | None, pattern: str, exclude: str = r"$^") -> list[Path]:
    if root is None or not root.is_dir():
        return []
    return sorted(p for p in root.glob(pattern) if p.is_file() and not re.search(exclude, str(p)))


def _c_novel() -> list[Path]:
    skip = r"/(c\+\+|python[0-9.]+)/"
    return _files(INCLUDE, "**/*.h", skip)


def _cxx_novel() -> list[Path]:
    # Not libstdc++'s other directories: ext/vstring, tr1/ and debug/ derive
    # from bits/ (renamed copies, which ipguard rightly caught). Node's V8
    # headers, the policy-based data structures (written apart) and GMP's.
    root = _cxx_root()
    pb_ds = _files(root / "ext" / "pb_ds", "**/*") if root else []
    return _files(INCLUDE / "node", "**/*.h") + pb_ds + _files(INCLUDE, "gmpxx.h")


def _lodash() -> list[Path]:
    return _files(npm_package("lodash@4.17.21"), "*.js", r"/(lodash|core|fp)(\.min)?\.js$")


def _ramda() -> list[Path]:
    return _files(npm_package("ramda@0.29.1"), "src/**/*.js")


def _rxjs() -> list[Path]:
    return _files(npm_package("rxjs@7.8.1"), "src/internal/**/*.ts")


def _ts_novel() -> list[Path]:
    tests = r"__tests__|\.test\.|\.spec\."
    specs = (
        "zod@3.22.4",
        "immer@10.0.3",
        "@tanstack/query-core@5.17.0",
        "@tanstack/table-core@8.11.2",
    )
    return [p for spec in specs for p in _files(npm_package(spec), "src/**/*.ts", tests)]


LANGUAGES = (
    Language(
        "c",
        "c",
        ".c",
        lambda: _files(PY_INCLUDE, "**/*.h"),
        _c_novel,
        "static int count_positive(const int *values, int n)\n{\n    int total = 0;\n"
        "    for (int k = 0; k < n; k++) {\n        if (values[k] > 0) total++;\n    }\n"
        "    return total;\n}\n",
        "audit_count += 1;",
    ),
    Language(
        "cpp",
        "cpp",
        ".cpp",
        lambda: _files(_cxx_root(), "bits/*.h"),
        _cxx_novel,
        "template <typename Range>\nstd::size_t count_positive(const Range& values)\n{\n"
        "    std::size_t total = 0;\n    for (const auto& v : values)\n"
        "        if (v > 0) ++total;\n    return total;\n}\n",
        "++audit_count;",
    ),
    Language(
        "javascript",
        "js",
        ".js",
        _lodash,
        _ramda,
        "function summariseOrders(orders) {\n  const totals = new Map();\n"
        "  for (const order of orders) {\n"
        "    totals.set(order.customer, (totals.get(order.customer) || 0) + order.amount);\n"
        "  }\n  return totals;\n}\n",
        "auditLog.push(auditLog.length);",
    ),
    Language(
        "typescript",
        "ts",
        ".ts",
        _rxjs,
        _ts_novel,
        "function summariseOrders(orders: Order[]): Map<string, number> {\n"
        "  const totals = new Map<string, number>();\n"
        "  for (const order of orders) {\n"
        "    totals.set(order.customer, (totals.get(order.customer) ?? 0) + order.amount);\n"
        "  }\n  return totals;\n}\n",
        "auditLog.push(auditLog.length);",
    ),
)


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def functions(path: Path, language: str, min_lines: int) -> list[str]:
    """Source of the function definitions in `path` with at least `min_lines` lines of code."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if b"\0" in data[:4096] or len(data) > 2_000_000:
        return []
    tree = parser_for(language).parse(data)
    out = []
    for node in _walk(tree.root_node):
        if node.type not in _FUNCTION_NODES or node.has_error:
            continue
        body = node.child_by_field_name("body")
        if body is None or body.type not in ("compound_statement", "statement_block"):
            continue
        if body.end_point[0] - body.start_point[0] < 2:
            continue
        start = data.rfind(b"\n", 0, node.start_byte) + 1
        text = data[start : node.end_byte].decode("utf-8", errors="replace")
        text = textwrap.dedent(text)
        lines = [ln for ln in text.splitlines() if len(ln.strip()) > 1]
        if len(lines) >= min_lines and len(text) <= 6000:
            out.append(text)
    return out


def _leaves(node: Any) -> Iterator[Any]:
    if not node.children or _ATOMIC.search(node.type):
        yield node
        return
    for child in node.children:
        yield from _leaves(child)


def bound_names(code: str, language: str) -> set[str]:
    tree = parser_for(language).parse(code.encode())
    names = set()
    for node in _walk(tree.root_node):
        if node.type == "identifier" and node.parent and node.parent.type in _DECLARING:
            names.add(node.text.decode())
    return names


def rename(code: str, language: str) -> str:
    """Consistent renaming of every bound identifier, layout and comments kept."""
    names = bound_names(code, language)
    data = code.encode()
    tree = parser_for(language).parse(data)
    out, last = [], 0
    for leaf in _leaves(tree.root_node):
        if leaf.type == "identifier" and leaf.text.decode() in names:
            out.append(data[last : leaf.start_byte])
            out.append(b"v_" + leaf.text[::-1].strip(b"_"))
            last = leaf.end_byte
    out.append(data[last:])
    return b"".join(out).decode()


def reformat(code: str, language: str, rng: random.Random) -> str:
    """Rename, drop comments, re-space every token, re-indent, maybe move braces."""
    data = rename(code, language).encode()
    tree = parser_for(language).parse(data)
    indent = rng.choice(["  ", "    ", "\t"])
    allman = rng.random() < 0.5
    lines: list[list[str]] = [[]]
    row = None
    for leaf in _leaves(tree.root_node):
        if "comment" in leaf.type:
            continue
        text = leaf.text.decode("utf-8", errors="replace")
        if not text:
            continue
        if row is not None and leaf.start_point[0] > row and lines[-1]:
            lines.append([])
        lines[-1].append(text)
        row = leaf.end_point[0]
    if allman:
        # Block braces on their own line; braces that open a literal stay.
        moved: list[list[str]] = []
        for tokens in lines:
            if (
                len(tokens) > 1
                and tokens[-1] == "{"
                and not {"=", "return", "(", ","} & set(tokens[-2:-1])
                and "return" not in tokens
            ):
                moved += [tokens[:-1], ["{"]]
            else:
                moved.append(tokens)
        lines = moved
    out, depth = [], 0
    for tokens in lines:
        if not tokens:
            continue
        line = ""
        for tok in tokens:
            if (
                line
                and tok not in _TIGHT_BEFORE
                and line[-1:] not in "([."
                and not (line.endswith(tuple(_TIGHT_AFTER)))
            ):
                line += " "
            line += tok
        if tokens[0].startswith("#"):
            out.append(line)
            continue
        lead = 1 if tokens[0] in _CLOSERS else 0
        depth -= lead
        out.append(indent * max(0, depth) + line)
        depth += sum(t in _OPENERS for t in tokens) - sum(t in _CLOSERS for t in tokens[lead:])
    return "\n".join(out) + "\n"


def edit(code: str, inserted: str, rng: random.Random) -> str:
    """Delete about one statement in eight, insert a new one."""
    lines = code.splitlines()
    simple = [i for i, ln in enumerate(lines) if _statement(ln)]
    for i in sorted(rng.sample(simple, min(len(simple), max(1, len(lines) // 8))), reverse=True):
        del lines[i]
    after = [i + 1 for i, ln in enumerate(lines) if ln.rstrip().endswith((";", "{"))]
    at = rng.choice(after[:-1] or after or [1])
    lead = lines[at][: len(lines[at]) - len(lines[at].lstrip())] if at < len(lines) else "  "
    lines.insert(at, lead + inserted)
    return "\n".join(lines) + "\n"


def _statement(line: str) -> bool:
    """A whole simple statement on one line: ends with `;`, brackets balanced."""
    text = line.strip()
    if not text.endswith(";") or text.startswith(("}", ")", "]", "return", "#")):
        return False
    return all(text.count(a) == text.count(b) for a, b in ("()", "[]", "{}"))


def partial(code: str, lang: Language, rng: random.Random) -> tuple[str, tuple[int, int]] | None:
    """50-70% of the renamed function's lines (>= 200 characters) inside novel code."""
    lines = rename(code, lang.name).splitlines()
    count = max(3, int(len(lines) * rng.uniform(0.5, 0.7)))
    start = rng.randrange(0, len(lines) - count + 1)
    chunk = textwrap.dedent("\n".join(lines[start : start + count]))
    if len(chunk) < 200:
        return None
    head = lang.filler + "\n"
    return head + chunk + "\n\n" + lang.filler, (len(head), len(head) + len(chunk))
