"""The CLI contract, through click's runner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CORPUS_FILES, PROTECTED_PROSE
from samples import UNRELATED, disguise

from ipguard.cli import cli


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def _outputs(tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "copy.md"
    copy.write_text(f"Sure:\n\n```go\n{disguise('go')}\n```\n")
    novel = tmp_path / "novel.py"
    novel.write_text(UNRELATED["python"])
    return copy, novel


def test_check_exit_codes_and_json_contract(
    runner: CliRunner, built_index: Path, tmp_path: Path
) -> None:
    copy, novel = _outputs(tmp_path)
    ok = runner.invoke(cli, ["check", "--index", str(built_index), str(novel)])
    assert ok.exit_code == 0, ok.output
    assert "ALLOW" in ok.output
    result = runner.invoke(
        cli, ["check", "--index", str(built_index), "--format", "json", str(novel), str(copy)]
    )
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert [r["path"] for r in payload["results"]] == [str(novel), str(copy)]
    blocked = payload["results"][1]
    assert blocked["action"] == "block" and 0 < blocked["score"] <= 1
    match = blocked["matches"][0]
    assert set(match) >= {"source", "license", "similarity", "output_span", "source_lines"}
    assert match["source"].endswith("intervals_go.go")
    assert match["license"] == "LicenseRef-test"
    start, end = match["output_span"]
    assert 0 <= start < end <= len(copy.read_text())
    assert match["source_lines"][0] <= match["source_lines"][1]


def test_check_text_report_names_source_and_lines(
    runner: CliRunner, built_index: Path, tmp_path: Path
) -> None:
    copy, _ = _outputs(tmp_path)
    result = runner.invoke(cli, ["check", "--index", str(built_index), str(copy)])
    assert result.exit_code == 1
    assert "BLOCK" in result.output and "intervals_go.go:" in result.output
    assert "| func MergeIntervals" in result.output  # the source snippet, read from the file


def test_check_reads_stdin(runner: CliRunner, built_index: Path) -> None:
    result = runner.invoke(
        cli, ["check", "--index", str(built_index), "-"], input="Look: " + PROTECTED_PROSE
    )
    assert result.exit_code == 1
    assert "<stdin>: BLOCK" in result.output


def test_index_from_environment_variable(runner: CliRunner, built_index: Path) -> None:
    result = runner.invoke(
        cli, ["stats", "--format", "json"], env={"IPGUARD_INDEX": str(built_index)}
    )
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert (
        stats["documents"] == CORPUS_FILES and stats["windows"] > 0 and stats["bytes_on_disk"] > 0
    )
    assert stats["config"]["bands"] * stats["config"]["rows"] <= stats["config"]["num_perm"]


def test_filter_redacts_or_blocks(runner: CliRunner, built_index: Path) -> None:
    text = "Start. " + PROTECTED_PROSE + " End."
    redacted = runner.invoke(
        cli, ["filter", "--index", str(built_index), "--action", "redact"], input=text
    )
    assert redacted.exit_code == 0
    assert redacted.output.startswith("Start. [ipguard: redacted]") and redacted.output.endswith(
        " End."
    )
    blocked = runner.invoke(cli, ["filter", "--index", str(built_index)], input=text)
    assert blocked.output.startswith("[ipguard: output withheld")
    clean = runner.invoke(cli, ["filter", "--index", str(built_index)], input="Nothing to see.")
    assert clean.output == "Nothing to see."


def test_index_summary_skips_binary_and_oversized_with_reasons(
    runner: CliRunner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text(PROTECTED_PROSE)
    (src / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    (src / "huge.txt").write_text("word " * 5000)
    (src / "skip_me.txt").write_text("excluded")
    (src / "data.jsonl").write_text(
        json.dumps({"text": "first record words here"}) + "\nnot json\n"
    )
    index = str(tmp_path / "cli.db")
    result = runner.invoke(
        cli,
        [
            "index",
            "--index",
            index,
            "--max-file-size",
            "10000",
            "--exclude",
            "skip_*",
            "--license",
            "MIT",
            str(src),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "indexed 2 documents" in result.output
    assert "blob.bin: binary file" in result.output
    assert "huge.txt: larger than the 10000-byte limit" in result.output
    assert "data.jsonl:2: invalid JSON" in result.output
    assert "skip_me" not in result.output
    again = runner.invoke(cli, ["index", "--index", index, "--format", "json", str(src)])
    assert json.loads(again.output)["unchanged"] == 2


def test_remove_by_source_and_name(runner: CliRunner, tmp_path: Path, corpus_dir: Path) -> None:
    index = str(tmp_path / "rm.db")
    runner.invoke(cli, ["index", "--index", index, "--source-name", "samples", str(corpus_dir)])
    one = runner.invoke(
        cli, ["remove", "--index", index, "--source", str(corpus_dir / "chart.txt")]
    )
    assert one.exit_code == 0 and "removed 1 document" in one.output
    rest = runner.invoke(cli, ["remove", "--index", index, "--source-name", "samples"])
    assert rest.exit_code == 0 and f"removed {CORPUS_FILES - 1} documents" in rest.output
    none = runner.invoke(cli, ["remove", "--index", index, "--source-name", "samples"])
    assert none.exit_code == 2
    usage = runner.invoke(cli, ["remove", "--index", index])
    assert usage.exit_code == 2


def _run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipguard", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_subprocess_check_blocks_and_allows(built_index: Path, tmp_path: Path) -> None:
    copy, novel = _outputs(tmp_path)
    blocked = _run("check", "--index", str(built_index), str(copy))
    assert blocked.returncode == 1, blocked.stderr
    assert "intervals_go.go" in blocked.stdout
    allowed = _run("check", "--index", str(built_index), str(novel))
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize("problem", ["missing", "garbage", "directory"])
def test_subprocess_bad_index_is_one_clear_line_and_exit_2(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "index.db"
    if problem == "garbage":
        path.write_bytes(os.urandom(4096))
    elif problem == "directory":
        path.mkdir()
    result = _run("check", "--index", str(path), "-", stdin="hello")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipguard: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_subprocess_usage_errors_exit_2(built_index: Path) -> None:
    assert _run("check").returncode == 2
    assert _run("check", "--index", str(built_index), "/no/such/file").returncode == 2
    assert _run("frobnicate").returncode == 2


def test_help_explains_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for command in ("index", "check", "filter", "remove", "stats"):
        assert command in result.stdout
        sub = _run(command, "--help")
        assert sub.returncode == 0 and "--index" in sub.stdout
    # What `--language` takes: the grammars, and the languages read without one.
    for command in ("check", "filter"):
        words = " ".join(_run(command, "--help").stdout.split())
        assert "kotlin" in words and "perl, lua, swift" in words


def test_an_index_of_an_older_format_exits_2_with_one_line_asking_for_a_rebuild(
    runner: CliRunner, tmp_path: Path
) -> None:
    import sqlite3

    index = tmp_path / "old.db"
    made = runner.invoke(cli, ["index", "--index", str(index), "--format", "json", str(tmp_path)])
    assert made.exit_code == 0, made.output
    db = sqlite3.connect(index)
    db.execute("UPDATE meta SET value='6' WHERE key='format_version'")
    db.commit()
    db.close()
    (tmp_path / "out.md").write_text("Some output.\n")
    result = runner.invoke(cli, ["check", "--index", str(index), str(tmp_path / "out.md")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "index format 6" in lines[0] and "rebuild" in lines[0]
