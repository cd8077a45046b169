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
import statistics
import sys
import textwrap
import time
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sysconfig  # noqa: E402

import polyglot  # noqa: E402
from common import discard_stale_index  # noqa: E402
from peers import (  # noqa: E402
    BOILERPLATE_FIELDS,
    BOILERPLATE_NAMES,
    CopydetectPeer,
    NaivePeer,
    boilerplate,
)

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
    #: Characters of `text` that copy protected material (positives only).
    copied: tuple[int, int] | None = None

    @property
    def extension(self) -> str:
        """File extension the peers see (copydetect picks its lexer by it)."""
        if self.kind == "text":
            return ".txt"
        lang = next((lg for lg in polyglot.LANGUAGES if lg.name == self.language), None)
        return lang.extension if lang else ".py"

    def __post_init__(self) -> None:
        if self.positive and self.copied is None:
            object.__setattr__(self, "copied", (0, len(self.text)))


def python_functions(
    paths: list[Path], min_lines: int, rng: random.Random, limit: int, per_file: int = 2
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
        for fn in rng.sample(fns, min(per_file, len(fns))):
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
    """Consistent renaming of bound names, keeping layout and comments.

    Attribute names (after `.`) and keyword-argument names in calls are not
    bound names, so they stay.
    """
    tree = ast.parse(code)
    bound = {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    bound |= {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    parens: list[str] = []  # "def" for a signature's parentheses, else "call"
    out = []
    for i, tok in enumerate(tokens):
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if tok.type == tokenize.OP and tok.string in "([{":
            is_def = i >= 2 and tokens[i - 2].string == "def"
            parens.append("def" if is_def and tok.string == "(" else "call")
        elif tok.type == tokenize.OP and tok.string in ")]}" and parens:
            parens.pop()
        keyword = after == "=" and parens and parens[-1] == "call"
        if tok.type == tokenize.NAME and tok.string in bound and before != "." and not keyword:
            tok = tok._replace(string="v_" + tok.string[::-1].strip("_"))
        out.append(tok)
    return tokenize.untokenize(out)


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


def partial(code: str, rng: random.Random) -> tuple[str, tuple[int, int]] | None:
    """50-70% of the renamed function's code lines (a cut through a docstring would
    leave an unterminated string, which no answer holds) inside novel code."""
    lines = strip_docstrings(rename_only(code)).splitlines()
    share = rng.uniform(0.5, 0.7)
    count = max(3, int(len(lines) * share))
    start = rng.randrange(0, len(lines) - count + 1)
    chunk = textwrap.dedent("\n".join(lines[start : start + count]))
    if len(chunk) < 200:
        return None
    head = FILLER_CODE + "\n\ndef combined_step(state):\n"
    body = textwrap.indent(chunk, "    ")
    return head + body + "\n" + FILLER_CODE, (len(head), len(head) + len(body))


#: Negatives dropped because they really share code with the protected set.
REMOVED_NEGATIVES: list[str] = []
#: Protected paragraphs not used as positives: they recur in many protected files.
COMMON_PARAGRAPHS: list[str] = []
#: Languages whose protected material is missing on this machine.
SKIPPED_LANGUAGES: list[str] = []


def _significant(line: str) -> str | None:
    text = line.strip()
    if len(text) < 25 or text.startswith(("#", '"', "'", "//", "/*", "*")):
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


#: A negative sharing this many distinct word 8-grams with the protected
#: material quotes it (upstream docstrings reused in another package).
QUOTED_NGRAMS = 2


def word_ngrams(text: str, n: int = 8) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1)}


def documentation(code: str) -> str:
    """The comments and string literals of a snippet: where its prose lives."""
    return "\n".join(
        m.group()
        for m in re.finditer(r"#[^\n]*|//[^\n]*|/\*.*?\*/|\"\"\"(?:.|\n)*?\"\"\"", code, re.S)
    )


def protected_files() -> list[tuple[str, Path]]:
    """(language, path) of every protected code file."""
    files = [("python", p) for p in sorted(STDLIB.glob("*.py"))]
    for lang in polyglot.LANGUAGES:
        files += [(lang.name, p) for p in lang.protected()]
    return files


def ngram_spread(paths: list[Path]) -> dict[int, int]:
    """For each word 8-gram, the number of files among `paths` that hold it."""
    spread: dict[int, int] = {}
    for path in paths:
        for gram in word_ngrams(path.read_text(encoding="utf-8", errors="replace")):
            spread[gram] = spread.get(gram, 0) + 1
    return spread


def protected_ngrams(paths: list[Path]) -> set[int]:
    """Word 8-grams of the protected files."""
    grams: set[int] = set()
    for path in paths:
        grams |= word_ngrams(path.read_text(encoding="utf-8", errors="replace"))
    return grams


def really_copied(code: str, shared: set[str], grams: set[int] | None = None) -> bool:
    """A vendored or upstream copy: three consecutive significant lines found verbatim,
    or a third of them, or documentation quoting the protected set's (QUOTED_NGRAMS
    word 8-grams). Renamed code cannot pass these tests, so they only remove copies."""
    if grams is not None and len(word_ngrams(documentation(code)) & grams) >= QUOTED_NGRAMS:
        return True
    significant = [t for line in code.splitlines() if (t := _significant(line)) is not None]
    hits = [t in shared for t in significant]
    run = best = 0
    for hit in hits:
        run = run + 1 if hit else 0
        best = max(best, run)
    return best >= 3 or (len(hits) >= 3 and sum(hits) >= len(hits) / 3)


def in_markdown(code: str, fence: str, intro: str) -> Case:
    """A verbatim copy inside a markdown answer, the copied span marked."""
    head = f"{intro}\n\n```{fence}\n"
    return Case(
        "code/verbatim-in-markdown",
        True,
        f"{head}{code}\n```\nDone.",
        "markdown",
        copied=(len(head), len(head) + len(code)),
    )


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
        cases.append(in_markdown(code, "python", "Sure:"))
        cases.append(Case("code/renamed", True, renamed, "code", "python"))
        cases.append(Case("code/renamed+reformatted", True, reformatted, "code", "python"))
        cases.append(Case("code/edited-statements", True, edited, "code", "python"))
        piece = partial(code, rng)
        if piece:
            text, span = piece
            cases.append(Case("code/partial", True, text, "code", "python", copied=span))
    unindexed = sorted(
        p
        for p in STDLIB.glob("*/**/*.py")
        if not re.search(r"/(test|tests|idle_test|site-packages|lib2to3/tests)/", str(p))
    )
    shared, grams = protected_lines(protected), protected_ngrams(protected)
    for code in python_functions(unindexed, 5, rng, negatives, per_file=6):
        if really_copied(code, shared, grams):
            REMOVED_NEGATIVES.append(code)
            continue
        cases.append(Case("code/novel", False, code, "code", "python"))
    return cases


def polyglot_cases(rng: random.Random, limit: int, negatives: int) -> list[Case]:
    """The same mutations in C, C++, JavaScript and TypeScript (bench/polyglot.py)."""
    cases: list[Case] = []
    for lang in polyglot.LANGUAGES:
        protected = lang.protected()
        if not protected:
            SKIPPED_LANGUAGES.append(lang.name)
            continue
        found = [f for path in protected for f in polyglot.functions(path, lang.name, 8)]
        rng.shuffle(found)
        for code in found[:limit]:
            reformatted = polyglot.reformat(code, lang.name, rng)
            cases += [
                in_markdown(code, lang.fence, "Here you go:"),
                Case("code/renamed", True, polyglot.rename(code, lang.name), "code", lang.name),
                Case("code/renamed+reformatted", True, reformatted, "code", lang.name),
                Case(
                    "code/edited-statements",
                    True,
                    polyglot.edit(reformatted, lang.inserted, rng),
                    "code",
                    lang.name,
                ),
            ]
            piece = polyglot.partial(code, lang, rng)
            if piece:
                cases.append(Case("code/partial", True, piece[0], "code", lang.name, piece[1]))
        shared, grams = protected_lines(protected), protected_ngrams(protected)
        novel = [f for path in lang.novel() for f in polyglot.functions(path, lang.name, 5)]
        rng.shuffle(novel)
        kept = 0
        for code in dict.fromkeys(novel):
            if kept >= negatives:
                break
            if really_copied(code, shared, grams):
                REMOVED_NEGATIVES.append(code)
                continue
            cases.append(Case("code/novel", False, code, "code", lang.name))
            kept += 1
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


def package_descriptions() -> list[str]:
    """Long descriptions of the installed packages (their METADATA bodies)."""
    texts = []
    for meta in sorted(Path(sysconfig.get_paths()["purelib"]).glob("*.dist-info/METADATA")):
        body = meta.read_text(encoding="utf-8", errors="replace").partition("\n\n")[2]
        texts.append(body)
    return texts


def novel_prose(rng: random.Random, limit: int) -> list[str]:
    """Docstring paragraphs of the unindexed stdlib packages and package descriptions."""
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
    for body in package_descriptions():
        # Prose paragraphs only: markup-heavy blocks (tables, code, badges) are not prose.
        docs.extend(p for p in paragraphs(body, 160) if not re.search(r"[|<>{}`]|\]\(|::", p))
    docs = list(dict.fromkeys(docs))
    rng.shuffle(docs)
    return docs[:limit]


def text_cases(rng: random.Random, limit: int, negatives: int) -> list[Case]:
    protected_paras: list[str] = []
    prose_files = [
        p
        for p in sorted(LICENCES.glob("*")) + sorted((ROOT / "corpora" / "protected").glob("*.md"))
        if p.is_file()
    ]
    for path in prose_files:
        protected_paras.extend(paragraphs(path.read_text(encoding="utf-8", errors="replace")))
    # A paragraph that recurs in common_across_documents (8) or more protected
    # files is a notice (a licence header carried by every libstdc++ header),
    # which the issue counts as common structure, not evidence: not a positive.
    spread = ngram_spread(prose_files + [p for _, p in protected_files()])
    common = Policy().common_across_documents
    kept_paras = []
    for p in protected_paras:
        grams = word_ngrams(p)
        if grams and sum(spread.get(g, 0) >= common for g in grams) * 2 >= len(grams):
            COMMON_PARAGRAPHS.append(p)
        else:
            kept_paras.append(p)
    protected_paras = kept_paras
    # The indexed Python modules' docstrings and comments are protected prose too.
    grams = protected_ngrams(prose_files + sorted(STDLIB.glob("*.py")))
    rng.shuffle(protected_paras)
    # Filler around copied paragraphs and the negatives come from one pool, disjoint.
    pool = novel_prose(rng, 100_000)
    filler, novel = pool[:300], pool[300:]
    cases: list[Case] = []
    for p in protected_paras[:limit]:
        before, after = rng.choice(filler), rng.choice(filler)
        start = len(before) + 2
        cases.append(
            Case(
                "text/verbatim-in-prose",
                True,
                f"{before}\n\n{p}\n\n{after}",
                "text",
                copied=(start, start + len(p)),
            )
        )
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
                    start = len(before) + 1
                    cases.append(
                        Case(
                            "text/sentences-in-prose",
                            True,
                            f"{before} {chunk} {after}",
                            "text",
                            copied=(start, start + len(chunk)),
                        )
                    )
                    break
    kept = 0
    for p in novel:
        if kept >= negatives:
            break
        if len(word_ngrams(p) & grams) >= QUOTED_NGRAMS:
            REMOVED_NEGATIVES.append(p)
            continue
        cases.append(Case("text/novel", False, p, "text"))
        kept += 1
    return cases


def boilerplate_cases(rng: random.Random, count: int) -> list[Case]:
    """Code that must never block: main guards, trivial methods, import blocks,
    licence headers, getters and setters, with random names."""
    cases = []
    for i in range(count):
        language, text = boilerplate(
            i, rng.choice(BOILERPLATE_NAMES), rng.choice(BOILERPLATE_FIELDS)
        )
        cases.append(Case("code/boilerplate", False, text, "code", language))
    return cases


def protected_documents() -> list[tuple[str, str]]:
    """The protected set as files, for the peers."""
    extra = sorted(LICENCES.glob("*")) + sorted((ROOT / "corpora" / "protected").glob("*.md"))
    paths = sorted(STDLIB.glob("*.py")) + [p for p in extra if p.is_file()]
    docs = [(str(p), p.read_text(encoding="utf-8", errors="replace")) for p in paths]
    for lang in polyglot.LANGUAGES:
        docs += [
            (str(p.with_suffix(p.suffix + lang.extension)), p.read_text(errors="replace"))
            for p in lang.protected()
        ]
    return docs


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
        for lang in polyglot.LANGUAGES:
            # Explicit languages: libstdc++'s headers have no extension or `.h`.
            files = [(str(p), p.read_text(errors="replace")) for p in lang.protected()]
            guard.index_texts(files, language=lang.name, license="various")


def case_language(case: Case) -> str:
    """The language of a case's copied or novel code ('prose' for text cases)."""
    if case.kind == "text":
        return "prose"
    if case.language:
        return case.language
    fence = re.search(r"```(\w+)", case.text)
    tag = fence.group(1) if fence else "python"
    return next((lg.name for lg in polyglot.LANGUAGES if lg.fence == tag), "python")


def evaluate(
    results: list[tuple[Case, Analysis]], policy: Policy, by_language: bool = False
) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int]] = {}
    for case, analysis in results:
        action = "allow"
        for region in analysis.regions:
            a = region_action(region, analysis.channel_tokens.get(region.channel, 0), policy)
            if SEVERITY[a] > SEVERITY[action]:
                action = a
        hit = action in ("block", "redact")
        group = f"{case.group} [{case_language(case)}]" if by_language else case.group
        groups.setdefault(group, [0, 0])
        groups[group][0] += int(hit)
        groups[group][1] += 1
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
    parser.add_argument("--no-peers", action="store_true", help="skip datasketch and copydetect")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    index = CACHE / "accuracy.ipguard.db"
    t0 = time.perf_counter()
    build_index(index)
    n_pos, n_neg = (40, 200) if args.quick else (150, 2000)
    cases = (
        code_cases(rng, n_pos, n_neg)
        + polyglot_cases(rng, n_pos // 3, n_neg // 8)
        + text_cases(rng, n_pos, n_neg // 2)
        + boilerplate_cases(rng, 60 if args.quick else 240)
    )
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
    coverage: list[tuple[float, float]] = []  # (share of copied chars redacted, extra share)
    with Guard.open(str(index), policy=policy) as guard:
        for case in cases:
            analysis = guard.analyse(case.text, kind=case.kind, language=case.language)  # type: ignore[arg-type]
            results.append((case, analysis))
            if case.positive and case.copied:
                verdict = guard.decide(analysis)
                acting = [m.output_span for m in verdict.matches if m.action in ("block", "redact")]
                if acting:
                    coverage.append(redaction_coverage(case.copied, acting))
        # The same cases as a caller passing neither kind nor language sees
        # them: a completion, stdin, a file without an extension.
        unlabelled = [(case, guard.analyse(case.text)) for case in cases]
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
        "protected_paragraphs_recurring_in_many_files": len(COMMON_PARAGRAPHS),
        "cases": len(cases),
        "seconds": round(elapsed, 1),
        "groups": table,
        "groups_by_language": evaluate(results, default, by_language=True),
        "unlabelled": {
            "groups": evaluate(unlabelled, default),
            "groups_by_language": evaluate(unlabelled, default, by_language=True),
        },
        "languages_skipped": SKIPPED_LANGUAGES,
        "overall": {
            "ipguard": overall(table),
            "ipguard unlabelled": overall(evaluate(unlabelled, default)),
        },
        "redaction": {
            "cases": len(coverage),
            "mean_share_of_copied_chars_covered": round(statistics.mean(c for c, _ in coverage), 4)
            if coverage
            else None,
            "mean_extra_beyond_copied": round(statistics.mean(e for _, e in coverage), 4)
            if coverage
            else None,
        },
    }
    if not args.no_peers:
        documents = protected_documents()
        report["peers"] = {}
        for peer_class in (NaivePeer, CopydetectPeer):
            peer = peer_class(documents)
            groups: dict[str, list[int]] = {}
            for case in cases:
                hit = peer.acts(case.text, extension=case.extension)
                groups.setdefault(case.group, [0, 0])
                groups[case.group][0] += int(hit)
                groups[case.group][1] += 1
            peer_table = {
                g: {"rate": h / n, "hits": h, "cases": n} for g, (h, n) in sorted(groups.items())
            }
            report["peers"][peer.name] = peer_table
            report["overall"][peer.name] = overall(peer_table)
    if args.sweep:
        # Channels are swept apart: code thresholds on code cases, prose on prose.
        sweep = []
        for code_min in (6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32):
            for short in (4, 6, 8, 10, 12, 16):
                if short > code_min:
                    continue
                text_min = code_min * 3 // 4
                swept = replace(
                    default,
                    min_code_evidence=code_min,
                    min_text_evidence=text_min,
                    min_short_evidence=short,
                )
                t = evaluate(results, swept)
                sweep.append(
                    {
                        "min_code_evidence": code_min,
                        "min_text_evidence": text_min,
                        "min_short_evidence": short,
                        **{g: round(v["rate"], 4) for g, v in t.items()},
                        **{f"overall_{k}": v for k, v in overall(t).items()},
                    }
                )
        report["sweep"] = sweep
    REPORTS.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        plot(report["sweep"], default.min_short_evidence, REPORTS / f"accuracy{args.tag}.png")
    (REPORTS / f"accuracy{args.tag}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Accuracy benchmark",
        "",
        f"`python bench/accuracy.py {' '.join(sys.argv[1:])}`".replace(" `", "`")
        + f" — {len(cases)} cases, seed {args.seed}; background: {report['background']}; "
        f"rarity_scale {args.rarity_scale}, common_across_documents {args.common}; "
        f"{len(REMOVED_NEGATIVES)} negatives removed as real copies of the protected set; "
        f"{len(COMMON_PARAGRAPHS)} protected paragraphs not used as positives because they "
        f"recur in {args.common}+ protected files (licence notices).",
        "",
    ]
    unlabelled_table = report["unlabelled"]["groups"]
    tools = ["ipguard", "ipguard unlabelled", *report.get("peers", {})]
    lines.append("| group | positive | " + " | ".join(tools) + " | cases |")
    lines.append("|---|---|" + "---|" * len(tools) + "---|")
    for g, v in table.items():
        pos = "no" if g.endswith(("novel", "boilerplate")) else "yes"
        rates = [f"{v['rate']:.3f}", f"{unlabelled_table[g]['rate']:.3f}"]
        rates += [f"{report['peers'][t][g]['rate']:.3f}" for t in tools[2:]]
        lines.append(f"| {g} | {pos} | " + " | ".join(rates) + f" | {v['cases']} |")
    lines += [
        "",
        "*ipguard unlabelled*: the same cases checked with neither kind nor language given,"
        " so that ipguard guesses both (`ipguard.normalize.detect`).",
    ]
    lines += ["", "| overall | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
    for metric in ("precision", "recall", "f1", "false_positive_rate"):
        values = " | ".join(f"{report['overall'][t][metric]:.3f}" for t in tools)
        lines.append(f"| {metric} | {values} |")
    lines += [
        "",
        "ipguard by language:",
        "",
        "| group | rate | unlabelled | cases |",
        "|---|---|---|---|",
    ]
    by_language_unlabelled = report["unlabelled"]["groups_by_language"]
    for g, v in report["groups_by_language"].items():
        lines.append(
            f"| {g} | {v['rate']:.3f} | {by_language_unlabelled[g]['rate']:.3f} | {v['cases']} |"
        )
    if SKIPPED_LANGUAGES:
        lines += ["", f"Skipped (no material on this machine): {', '.join(SKIPPED_LANGUAGES)}."]
    red = report["redaction"]
    lines += [
        "",
        f"Redaction (ipguard, {red['cases']} acted-on copies): covers "
        f"{red['mean_share_of_copied_chars_covered']} of the copied characters on average and "
        f"adds {red['mean_extra_beyond_copied']} of their length beyond them.",
    ]
    if args.sweep:
        lines += ["", f"Precision and recall against the threshold: accuracy{args.tag}.png."]
    (REPORTS / f"accuracy{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def overall(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """Micro-averaged precision, recall, F1 and false-positive rate over all cases."""
    tp = fn = fp = tn = 0
    for group, v in table.items():
        hits, cases = int(v["hits"]), int(v["cases"])
        if group.endswith(("novel", "boilerplate")):
            fp, tn = fp + hits, tn + cases - hits
        else:
            tp, fn = tp + hits, fn + cases - hits
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "false_positive_rate": round(fp / (fp + tn), 4) if fp + tn else 0.0,
    }


def redaction_coverage(
    copied: tuple[int, int], spans: list[tuple[int, int]]
) -> tuple[float, float]:
    """(Share of the copied characters redacted, redacted characters outside them / copied)."""
    marked = np.zeros(max(copied[1], *(end for _, end in spans)) + 1, dtype=bool)
    for start, end in spans:
        marked[start:end] = True
    length = max(1, copied[1] - copied[0])
    inside = int(marked[copied[0] : copied[1]].sum())
    return inside / length, (int(marked.sum()) - inside) / length


def plot(sweep: list[dict], short: int, path: Path) -> None:
    """Precision and recall against the code evidence threshold (prose at three quarters)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(
        (r for r in sweep if r["min_short_evidence"] == min(short, r["min_code_evidence"])),
        key=lambda r: r["min_code_evidence"],
    )
    x = [r["min_code_evidence"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(x, [r["overall_precision"] for r in rows], marker="o", label="precision")
    ax.plot(x, [r["overall_recall"] for r in rows], marker="s", label="recall")
    ax.plot(x, [r["overall_f1"] for r in rows], marker="^", linestyle="--", label="F1")
    ax.set_xlabel("minimum code evidence (distinct matched shingles; prose at 3/4)")
    ax.set_ylabel("share of cases")
    ax.set_ylim(0.5, 1.01)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("ipguard on the bench/accuracy.py cases")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
