"""Accuracy benchmark: recall on disguised copies, false positives on novel output.

Cases are built at run time from material on this machine (nothing third-party
is committed): protected code is the interpreter's top-level standard-library
modules; novel code is functions from standard-library packages that were not
indexed; protected prose is the system's licence texts
(/usr/share/common-licenses) and the team's sample texts; novel prose is long
docstrings of the unindexed packages.

Every output is analysed once; policies are then applied to the verified
regions, so the defaults can be swept without re-running the pipeline.

    python bench/accuracy.py [--quick] [--sweep]
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import random
import re
import sys
import textwrap
import time
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sysconfig  # noqa: E402

from common import discard_stale_index  # noqa: E402

from ipguard import Guard, Policy  # noqa: E402
from ipguard.demo import disguise_python_function  # noqa: E402
from ipguard.guard import Analysis, build_background  # noqa: E402
from ipguard.policy import SEVERITY, region_action  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
LICENCES = Path("/usr/share/common-licenses")
CACHE = ROOT / "bench" / ".cache"
REPORTS = ROOT / "bench" / "reports"
FILLER_CODE = """
def summarise_orders(orders, currency="EUR"):
    totals = {}
    for order in orders:
        bucket = totals.setdefault(order.customer, [])
        bucket.append(order.amount)
    return {name: round(sum(values), 2) for name, values in totals.items()}
"""


@dataclass(frozen=True)
class Case:
    group: str  # mutation or negative family
    positive: bool
    text: str
    kind: str | None = None
    language: str | None = None


def python_functions(
    paths: list[Path], min_lines: int, rng: random.Random, limit: int
) -> list[str]:
    out: list[str] = []
    for path in paths:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        lines = source.splitlines()
        fns = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and (n.end_lineno or 0) - n.lineno + 1 >= min_lines
        ]
        for fn in rng.sample(fns, min(2, len(fns))):
            code = textwrap.dedent("\n".join(lines[fn.lineno - 1 : fn.end_lineno]))
            try:
                body = strip_docstrings(code)
            except SyntaxError:
                continue
            # A function must keep `min_lines` lines of code once its docstring
            # is gone: a three-line accessor is not evidence of copying.
            if len([ln for ln in body.splitlines() if ln.strip()]) >= min_lines:
                out.append(code)
    rng.shuffle(out)
    return out[:limit]


def rename_only(code: str) -> str:
    """Consistent renaming of bound names, keeping layout and comments."""
    tree = ast.parse(code)
    bound = {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    bound |= {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    toks = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in bound:
            tok = tok._replace(string="v_" + tok.string[::-1].strip("_"))
        toks.append(tok)
    return tokenize.untokenize(toks)


def strip_docstrings(code: str) -> str:
    tree = ast.parse(code)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body.pop(0)
            if not body:
                body.append(ast.Pass())
    return ast.unparse(tree)


def edit_statements(code: str, rng: random.Random) -> str:
    """Delete about one statement in eight and insert a new one."""
    lines = code.splitlines()
    simple = [
        i
        for i, ln in enumerate(lines)
        if ln.strip()
        and not ln.rstrip().endswith(":")
        and not ln.strip().startswith(("return", "def ", "@"))
    ]
    for i in sorted(rng.sample(simple, max(1, len(lines) // 8) if simple else 0), reverse=True):
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        del lines[i]
        if i < len(lines) and not lines[i].strip().startswith(
            ("elif", "else", "except", "finally")
        ):
            lines.insert(i, indent + "pass")
    at = rng.randrange(1, max(2, len(lines)))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())] if at < len(lines) else "    "
    lines.insert(at, indent + "audit_log.append(('checkpoint', len(audit_log)))")
    return "\n".join(lines)


def partial(code: str, rng: random.Random) -> str | None:
    lines = rename_only(code).splitlines()
    share = rng.uniform(0.5, 0.7)
    count = max(3, int(len(lines) * share))
    start = rng.randrange(0, len(lines) - count + 1)
    chunk = textwrap.dedent("\n".join(lines[start : start + count]))
    if len(chunk) < 200:
        return None
    return (
        FILLER_CODE
        + "\n\ndef combined_step(state):\n"
        + textwrap.indent(chunk, "    ")
        + "\n"
        + FILLER_CODE
    )


#: Negatives dropped because they really share code with the protected set.
REMOVED_NEGATIVES: list[str] = []


def _significant(line: str) -> str | None:
    text = line.strip()
    if len(text) < 25 or text.startswith(("#", '"', "'")):
        return None
    return text


def protected_lines(paths: list[Path]) -> set[str]:
    """Every significant source line of the protected files, as written."""
    lines: set[str] = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if (text := _significant(line)) is not None:
                lines.add(text)
    return lines


def really_copied(code: str, shared: set[str]) -> bool:
    """A vendored or upstream copy: three consecutive significant lines found verbatim,
    or a third of them. Renamed code cannot pass this test, so it only removes copies."""
    significant = [t for line in code.splitlines() if (t := _significant(line)) is not None]
    hits = [t in shared for t in significant]
    run = best = 0
    for hit in hits:
        run = run + 1 if hit else 0
        best = max(best, run)
    return best >= 3 or (len(hits) >= 3 and sum(hits) >= len(hits) / 3)


def code_cases(rng: random.Random, limit: int, negatives: int) -> list[Case]:
    protected = sorted(STDLIB.glob("*.py"))
    cases: list[Case] = []
    for code in python_functions(protected, 8, rng, limit):
        try:
            renamed = rename_only(code)
            reformatted = disguise_python_function(strip_docstrings(code), prefix="q")
            edited = edit_statements(reformatted, rng)
        except (SyntaxError, tokenize.TokenError, IndentationError, ValueError):
            continue
        cases.append(
            Case(
                "code/verbatim-in-markdown",
                True,
                f"Sure:\n\n```python\n{code}\n```\nDone.",
                "markdown",
            )
        )
        cases.append(Case("code/renamed", True, renamed, "code", "python"))
        cases.append(Case("code/renamed+reformatted", True, reformatted, "code", "python"))
        cases.append(Case("code/edited-statements", True, edited, "code", "python"))
        piece = partial(code, rng)
        if piece:
            cases.append(Case("code/partial", True, piece, "code", "python"))
    unindexed = sorted(
        p
        for p in STDLIB.glob("*/**/*.py")
        if not re.search(r"/(test|tests|idle_test|site-packages|lib2to3/tests)/", str(p))
    )
    shared = protected_lines(protected)
    for code in python_functions(unindexed, 5, rng, negatives):
        if really_copied(code, shared):
            REMOVED_NEGATIVES.append(code)
            continue
        cases.append(Case("code/novel", False, code, "code", "python"))
    return cases


def paragraphs(text: str, min_chars: int = 200) -> list[str]:
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return [p for p in paras if len(p) >= min_chars and len(re.findall(r"\w+", p)) >= 30]


def sentences(p: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", p) if s]


def substitute_words(p: str, rng: random.Random) -> str:
    words = p.split()
    for i in rng.sample(range(len(words)), max(1, len(words) // 10)):
        words[i] = rng.choice(["nevertheless", "blue", "quietly", "seven", "garden", "however"])
    sents = sentences(" ".join(words))
    if len(sents) > 2:
        del sents[rng.randrange(len(sents))]
    return " ".join(sents)


def novel_prose(rng: random.Random, limit: int) -> list[str]:
    unindexed = sorted(
        p
        for p in STDLIB.glob("*/**/*.py")
        if "/test" not in str(p) and "site-packages" not in str(p)
    )
    docs: list[str] = []
    for path in unindexed:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if doc:
                    docs.extend(paragraphs(doc, 160))
    rng.shuffle(docs)
    return docs[:limit]


def text_cases(rng: random.Random, limit: int, negatives: int) -> list[Case]:
    protected_paras: list[str] = []
    for path in sorted(LICENCES.glob("*")) + sorted((ROOT / "corpora" / "protected").glob("*.md")):
        if path.is_file():
            protected_paras.extend(paragraphs(path.read_text(encoding="utf-8", errors="replace")))
    rng.shuffle(protected_paras)
    filler = novel_prose(random.Random(99), 400)
    novel = novel_prose(rng, negatives + 400)[400:]
    cases: list[Case] = []
    for p in protected_paras[:limit]:
        before, after = rng.choice(filler), rng.choice(filler)
        cases.append(Case("text/verbatim-in-prose", True, f"{before}\n\n{p}\n\n{after}", "text"))
        casing = re.sub(r"[,;:.]", lambda m: rng.choice(["", " -", "!", ";"]), p)
        casing = " ".join(w.upper() if rng.random() < 0.3 else w.lower() for w in casing.split())
        cases.append(Case("text/casing+punctuation", True, casing, "text"))
        cases.append(Case("text/substituted+dropped", True, substitute_words(p, rng), "text"))
        sents = sentences(p)
        for n in (3, 2):
            if len(sents) >= n:
                start = rng.randrange(len(sents) - n + 1)
                chunk = " ".join(sents[start : start + n])
                if len(chunk) >= 200:
                    cases.append(
                        Case("text/sentences-in-prose", True, f"{before} {chunk} {after}", "text")
                    )
                    break
    for p in novel[:negatives]:
        cases.append(Case("text/novel", False, p, "text"))
    return cases


def build_bench_background(path: Path) -> None:
    """Background from the installed third-party packages: never from the stdlib,
    whose unindexed packages are this benchmark's negatives."""
    purelib = sysconfig.get_paths()["purelib"]
    background = build_background([purelib], exclude=("ipguard", "test", "tests", "*_test.py"))
    background.save(path)


def build_index(path: Path) -> None:
    discard_stale_index(path)
    with Guard.open(str(path), create=True) as guard:
        guard.index_paths([str(p) for p in sorted(STDLIB.glob("*.py"))], license="PSF-2.0")
        guard.index_paths([str(LICENCES), str(ROOT / "corpora" / "protected")], license="various")


def evaluate(results: list[tuple[Case, Analysis]], policy: Policy) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int]] = {}
    for case, analysis in results:
        action = "allow"
        for region in analysis.regions:
            a = region_action(region, analysis.channel_tokens.get(region.channel, 0), policy)
            if SEVERITY[a] > SEVERITY[action]:
                action = a
        hit = action in ("block", "redact")
        groups.setdefault(case.group, [0, 0])
        groups[case.group][0] += int(hit)
        groups[case.group][1] += 1
    return {g: {"rate": h / n, "hits": h, "cases": n} for g, (h, n) in sorted(groups.items())}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer cases")
    parser.add_argument("--sweep", action="store_true", help="also sweep the evidence thresholds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--background",
        default="none",
        help="background corpus file, 'auto' (built from installed packages, cached) or 'none' "
        "(the product's default)",
    )
    parser.add_argument("--rarity-scale", type=float, default=Policy().rarity_scale)
    parser.add_argument("--common", type=int, default=Policy().common_across_documents)
    parser.add_argument("--tag", default="", help="suffix of the report files")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    index = CACHE / "accuracy.ipguard.db"
    t0 = time.perf_counter()
    build_index(index)
    n_pos, n_neg = (40, 200) if args.quick else (150, 1000)
    cases = code_cases(rng, n_pos, n_neg) + text_cases(rng, n_pos, n_neg // 2)
    background = None
    if args.background == "auto":
        background = str(CACHE / "background.npz")
        if not Path(background).exists():
            build_bench_background(Path(background))
    elif args.background != "none":
        background = args.background
    policy = Policy(
        background=background, rarity_scale=args.rarity_scale, common_across_documents=args.common
    )
    results: list[tuple[Case, Analysis]] = []
    with Guard.open(str(index), policy=policy) as guard:
        for case in cases:
            results.append((case, guard.analyse(case.text, kind=case.kind, language=case.language)))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    default = policy
    table = evaluate(results, default)
    report = {
        "policy": {
            k: getattr(default, k)
            for k in (
                "min_code_evidence",
                "min_text_evidence",
                "min_short_evidence",
                "short_coverage",
                "short_similarity",
                "min_similarity",
                "rarity_scale",
                "common_across_documents",
            )
        },
        "background": "installed packages (bench/.cache/background.npz)" if background else None,
        "negatives_removed_as_real_copies": len(REMOVED_NEGATIVES),
        "cases": len(cases),
        "seconds": round(elapsed, 1),
        "groups": table,
    }
    if args.sweep:
        # Channels are swept apart: code thresholds on code cases, prose on prose.
        sweep = []
        for code_min in (6, 8, 10, 12, 14, 16, 20, 24):
            for short in (4, 6, 8, 10, 12, 16):
                if short > code_min:
                    continue
                text_min = code_min * 3 // 4
                policy = replace(
                    default,
                    min_code_evidence=code_min,
                    min_text_evidence=text_min,
                    min_short_evidence=short,
                )
                t = evaluate(results, policy)
                sweep.append(
                    {
                        "min_code_evidence": code_min,
                        "min_text_evidence": text_min,
                        "min_short_evidence": short,
                        **{g: round(v["rate"], 4) for g, v in t.items()},
                    }
                )
        report["sweep"] = sweep
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"accuracy{args.tag}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Accuracy benchmark",
        "",
        f"`python bench/accuracy.py {' '.join(sys.argv[1:])}`".replace(" `", "`")
        + f" — {len(cases)} cases, seed {args.seed}; background: {report['background']}; "
        f"rarity_scale {args.rarity_scale}, common_across_documents {args.common}.",
        "",
        "| group | positive | acted on | cases | rate |",
        "|---|---|---|---|---|",
    ]
    for g, v in table.items():
        pos = "yes" if not g.endswith("novel") else "no"
        lines.append(f"| {g} | {pos} | {v['hits']} | {v['cases']} | {v['rate']:.3f} |")
    (REPORTS / f"accuracy{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.sweep:
        for row in report["sweep"]:
            print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
