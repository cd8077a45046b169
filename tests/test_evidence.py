"""What counts as evidence: pragmas, the allow corpus, shared structure, background rarity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from samples import PROTECTED, UNRELATED, disguise

from ipguard import Guard, Policy
from ipguard.background import Background, BackgroundError
from ipguard.cli import cli
from ipguard.pragma import exempt_spans


def _index(tmp_path: Path, files: dict[str, str], **kw: object) -> str:
    folder = tmp_path / "protected"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    index = str(tmp_path / "e.ipguard.db")
    with Guard.open(index, create=True) as guard:
        guard.index_paths([str(folder)], **kw)  # type: ignore[arg-type]
    return index


def test_pragma_exempts_the_block_after_it_and_a_single_line(tmp_path: Path) -> None:
    index = _index(tmp_path, {"m.py": PROTECTED["python"]})
    copy = disguise("python")
    with Guard.open(index) as guard:
        assert guard.check(copy, language="python").action == "block"
        exempted = "# ipguard: allow\n" + copy.strip("\n") + "\n"
        assert guard.check(exempted, language="python").action == "allow"
        # only the block after the pragma is exempt: a second copy after it still blocks
        both = exempted + "\n\n" + copy
        assert guard.check(both, language="python").action == "block"
    text = "x = 1\ny = 2  // ipguard: allow\nz = 3\n"
    assert [text[s:e] for s, e in exempt_spans(text)] == ["y = 2  // ipguard: allow"]


def test_pragma_in_c_like_block(tmp_path: Path) -> None:
    index = _index(tmp_path, {"m.c": PROTECTED["c"]})
    with Guard.open(index) as guard:
        copy = disguise("c")
        assert guard.check(copy, language="c").action == "block"
        assert guard.check("/* ipguard: allow */\n" + copy.lstrip(), language="c").action == "allow"


def test_allow_corpus_never_blocks_and_exempts_what_it_covers(tmp_path: Path) -> None:
    index = _index(tmp_path, {"m.go": PROTECTED["go"], "r.rs": PROTECTED["rust"]})
    template = tmp_path / "templates"
    template.mkdir()
    (template / "scaffold.go").write_text(PROTECTED["go"])
    result = CliRunner().invoke(cli, ["index", "--index", index, "--allow", str(template)])
    assert result.exit_code == 0, result.output
    with Guard.open(index) as guard:
        go = guard.check(f"```go\n{disguise('go')}\n```")
        assert go.action == "allow" and not go.matches
        both = guard.check(f"```go\n{disguise('go')}\n```\n\n```rust\n{disguise('rust')}\n```")
        assert both.action == "block"
        assert all(m.source.endswith("r.rs") for m in both.matches)


def test_structure_shared_by_many_protected_documents_stops_counting(tmp_path: Path) -> None:
    common = {f"copy{i}.java": PROTECTED["java"] + f"\n// file {i}\n" for i in range(8)}
    index = _index(tmp_path, {**common, "k.kt": PROTECTED["kotlin"]})
    with Guard.open(index) as guard:
        assert guard.check(disguise("java"), language="java").action == "allow"
        assert guard.check(disguise("kotlin"), language="kotlin").action == "block"
    with Guard.open(index, policy=Policy(common_across_documents=20)) as guard:
        assert guard.check(disguise("java"), language="java").action == "block"


def test_background_rarity_discounts_common_structure(tmp_path: Path) -> None:
    index = _index(tmp_path, {"m.ts": PROTECTED["typescript"], "p.php": PROTECTED["php"]})
    public = tmp_path / "public"
    public.mkdir()
    # The TypeScript function is everywhere in "public code"; the PHP one is not.
    for i in range(30):
        (public / f"lib{i}.ts").write_text(
            PROTECTED["typescript"].replace("mergeIntervals", f"m{i}")
        )
        (public / f"other{i}.py").write_text(UNRELATED["python"])
    bg = tmp_path / "bg.npz"
    result = CliRunner().invoke(cli, ["background", "--output", str(bg), str(public)])
    assert result.exit_code == 0, result.output
    assert "60 documents" in result.output

    def evidence(guard: Guard, language: str) -> int:
        regions = guard.analyse(disguise(language), language=language).regions
        return max(r.evidence for r in regions)

    with Guard.open(index) as plain, Guard.open(index, policy=Policy(background=str(bg))) as rare:
        # common in public code (df 30, weight 2/30 each): most of its evidence is gone
        common, full = evidence(rare, "typescript"), evidence(plain, "typescript")
        assert common <= full / 8 and common < Policy().min_code_evidence
        assert plain.check(disguise("typescript"), language="typescript").action == "block"
        # absent from public code: nearly untouched
        assert evidence(rare, "php") >= 0.9 * evidence(plain, "php")
        assert rare.check(disguise("php"), language="php").action == "block"


def test_background_file_round_trip_and_errors(tmp_path: Path) -> None:
    docs = [np.array([1, 2, 3], np.uint32), np.array([2, 3], np.uint32), np.array([3], np.uint32)]
    bg = Background.from_documents(docs)
    assert bg.documents == 3 and bg.hashes.tolist() == [2, 3] and bg.df.tolist() == [2, 3]
    assert bg.weights(np.array([1, 2, 3, 9], np.uint32), 2.0).tolist() == [1.0, 1.0, 2 / 3, 1.0]
    path = tmp_path / "b.npz"
    bg.save(path)
    again = Background.load(path)
    assert again.hashes.tolist() == bg.hashes.tolist() and again.documents == 3
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(BackgroundError):
        Background.load(tmp_path / "junk.npz")


def test_structure_of_only_placeholders_and_punctuation_weighs_less(tmp_path: Path) -> None:
    # Index arithmetic over subscripts: every token is a placeholder, a number
    # or punctuation, the kind of structure unrelated code shares.
    ops = ["+", "-", "*", "/", "%", "//", "**", "&", "|", "^", "<<", ">>"]
    terms = "".join(
        f" {ops[i]} (v{i}[w{i} {ops[(i + 5) % 12]} {i}] {ops[(i + 7) % 12]} u{i}[w{i}])"
        for i in range(3)
    )
    protected = f"total = 0{terms}\n"
    index = _index(tmp_path, {"sums.py": protected})
    renamed = protected.replace("v", "left").replace("u", "right").replace("w", "k")
    with Guard.open(index) as guard:
        assert guard.check(renamed, language="python").action == "block"
    with Guard.open(index, policy=Policy(anonymous_weight=0.5)) as guard:
        verdict = guard.check(renamed, language="python")
        assert verdict.action != "block", verdict.matches
    with pytest.raises(ValueError):
        Policy(anonymous_weight=1.5)


def test_a_run_of_repeated_declarations_is_not_a_short_copy(tmp_path: Path) -> None:
    def hierarchy(names: list[str]) -> str:
        head = f"class {names[0]}(Exception):\n    pass\n\n"
        body = "".join(f"class {n}({names[0]}):\n    pass\n\n" for n in names[1:])
        return head + body + "def describe(error):\n    return error\n"

    protected = hierarchy([f"Mail{i}Error" for i in range(10)])
    index = _index(tmp_path, {"mail_errors.py": protected})
    ours = hierarchy([f"Store{i}Problem" for i in range(10)])
    with Guard.open(index, policy=Policy(short_distinct=0.0)) as guard:
        assert guard.check(ours, language="python").action == "block"
    with Guard.open(index) as guard:
        assert guard.check(ours, language="python").action != "block"
