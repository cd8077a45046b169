"""Project configuration, baselines and reports (SARIF, HTML)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from samples import UNRELATED, disguise

from ipguard.cli import cli
from ipguard.settings import ConfigError, load_config


@pytest.fixture()
def project(tmp_path: Path, built_index: Path) -> Path:
    """A repository-like folder with a config naming the test index, a copy and a novel file."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "copy.rs").write_text(disguise("rust"))
    (tmp_path / "novel.py").write_text(UNRELATED["python"])
    (tmp_path / ".ipguard.toml").write_text(f'index = "{built_index}"\n')
    return tmp_path


def _run(project: Path, *args: str) -> object:
    cwd = os.getcwd()
    os.chdir(project)
    try:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(cwd)


def test_config_file_supplies_the_index(project: Path) -> None:
    result = _run(project, "check", "copy.rs", "novel.py")
    assert result.exit_code == 1, result.output
    assert "copy.rs: BLOCK" in result.output and "novel.py: ALLOW" in result.output


def test_pyproject_tool_table_and_unknown_key_warning(project: Path, built_index: Path) -> None:
    (project / ".ipguard.toml").unlink()
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "x"\n\n[tool.ipguard]\nindex = "{built_index}"\nmin_code_evidnce = 5\n'
    )
    result = _run(project, "config", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["config_file"].endswith("pyproject.toml") and data["index"] == str(built_index)
    assert "unknown key 'min_code_evidnce'" in result.stderr


def test_per_licence_and_per_source_actions(project: Path, built_index: Path) -> None:
    (project / ".ipguard.toml").write_text(
        f'index = "{built_index}"\n[licenses]\n"LicenseRef-*" = "flag"\n'
    )
    flagged = _run(project, "check", "copy.rs")
    assert flagged.exit_code == 0 and "copy.rs: FLAG" in flagged.output
    (project / ".ipguard.toml").write_text(
        f'index = "{built_index}"\n[licenses]\n"LicenseRef-*" = "flag"\n'
        '[sources]\nsamples = "block"\n'
    )
    assert _run(project, "check", "copy.rs").exit_code == 1


def test_command_line_overrides_the_file(project: Path, built_index: Path) -> None:
    (project / ".ipguard.toml").write_text(
        f'index = "{built_index}"\nmin_code_evidence = 100000\nmin_short_evidence = 100000\n'
    )
    assert _run(project, "check", "copy.rs").exit_code == 0
    assert _run(project, "check", "--min-code-evidence", "24", "copy.rs").exit_code == 1
    assert _run(project, "check", "--exclude", "*.rs", "copy.rs").exit_code == 0


def test_invalid_configuration_is_a_clear_error(project: Path) -> None:
    (project / ".ipguard.toml").write_text('action = "explode"\n')
    result = _run(project, "check", "copy.rs")
    assert result.exit_code == 2 and "action must be one of" in result.output
    (project / ".ipguard.toml").write_text("not toml = = =\n")
    with pytest.raises(ConfigError):
        load_config(project / ".ipguard.toml")


def test_pyproject_without_an_ipguard_table_is_not_configuration(tmp_path: Path) -> None:
    from ipguard.settings import find_config

    (tmp_path / ".git").mkdir()  # the search stops at the repository's root
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert find_config(tmp_path) is None
    # Another tool's broken file is not ours to judge...
    (tmp_path / "pyproject.toml").write_text("[tool.black\nline-length = = 1\n")
    assert find_config(tmp_path) is None
    # ...a dependency on ipguard is not a table of ours...
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["ipguard"]\n')
    assert find_config(tmp_path) is None
    # ...and a table of ours, however spelled, is found.
    (tmp_path / "pyproject.toml").write_text('[tool]\nipguard.action = "flag"\n')
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    assert load_config(start=str(tmp_path)).policy.action == "flag"
    sub = tmp_path / "src"
    sub.mkdir()
    (sub / "pyproject.toml").mkdir()  # not a file: passed over
    assert find_config(sub) == tmp_path / "pyproject.toml"


def test_baseline_accepts_reviewed_matches_and_survives_edits(project: Path) -> None:
    first = _run(project, "baseline", "--baseline", "accepted.json", "copy.rs")
    assert first.exit_code == 3, first.output  # written
    text = (project / "accepted.json").read_text()
    assert "merge_intervals" not in text and "line" not in text.lower().replace("baseline", "")
    assert _run(project, "baseline", "--baseline", "accepted.json", "copy.rs").exit_code == 0
    assert _run(project, "check", "--baseline", "accepted.json", "copy.rs").exit_code == 0
    # edits elsewhere in the file keep the match accepted
    original = (project / "copy.rs").read_text()
    (project / "copy.rs").write_text(
        "// a new header comment\n\n\n" + original + "\nfn extra() {}\n"
    )
    still = _run(project, "check", "--baseline", "accepted.json", "copy.rs")
    assert still.exit_code == 0, still.output
    # a new copy in another file is not accepted
    (project / "other.go").write_text(disguise("go"))
    assert _run(project, "check", "--baseline", "accepted.json", "other.go").exit_code == 1


def test_baseline_from_another_version_is_refused(project: Path) -> None:
    (project / "old.json").write_text(json.dumps({"version": 0, "generated_by": "ipguard 0.0.1"}))
    result = _run(project, "check", "--baseline", "old.json", "copy.rs")
    assert result.exit_code == 2
    assert "regenerate it with 'ipguard baseline'" in result.output


def test_sarif_report_validates_against_the_typed_model(project: Path) -> None:
    sarif_pydantic = pytest.importorskip("sarif_pydantic")
    result = _run(project, "check", "--format", "sarif", "copy.rs", "novel.py")
    assert result.exit_code == 1
    data = json.loads(result.output)
    log = sarif_pydantic.Sarif.model_validate(data)
    assert log.version == "2.1.0"
    (run,) = data["runs"]
    assert run["tool"]["driver"]["name"] == "ipguard"
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert run["results"] and all(r["ruleId"] in rule_ids for r in run["results"])
    first = run["results"][0]
    region = first["locations"][0]["physicalLocation"]["region"]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "copy.rs"
    assert 1 <= region["startLine"] <= region["endLine"]
    related = first["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"]["uri"].endswith("intervals_rust.rs")
    assert first["level"] == "error"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is required in CI (.ci/run installs Debian's chromium)")
    pytest.skip("no Chromium on this machine")
    return None


def test_html_report_renders_side_by_side_in_headless_chromium(
    project: Path, tmp_path: Path
) -> None:
    result = _run(
        project, "check", "--format", "html", "--output", "report.html", "copy.rs", "novel.py"
    )
    assert result.exit_code == 1
    page = (project / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    browser = _chromium()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ]
    url = (project / "report.html").as_uri()
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "intervals_rust.rs" in dom.stdout and 'class="ln hit"' in dom.stdout
    assert "pub fn merge_intervals" in dom.stdout  # the protected side, read from the source file
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1400,1000", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
