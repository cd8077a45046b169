"""The pre-commit hook, run by the real pre-commit on a temporary git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from samples import UNRELATED, disguise

REPO = Path(__file__).resolve().parent.parent


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pre-commit") or str(Path(os.sys.executable).parent / "pre-commit")
    return subprocess.run(
        [exe, "try-repo", str(REPO), "ipguard", "--verbose"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PRE_COMMIT_HOME": str(home)},
    )


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs this project as a git checkout")
def test_hook_blocks_a_disguised_copy_and_passes_novel_code(
    tmp_path: Path, built_index: Path, pre_commit_home: Path
) -> None:
    repo = tmp_path / "work"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.invalid")
    _git(repo, "config", "user.name", "Dev")
    (repo / ".ipguard.toml").write_text(f'index = "{built_index}"\n')
    _git(repo, "add", ".ipguard.toml")
    _git(repo, "commit", "-q", "-m", "config", "--no-verify")

    (repo / "merge.py").write_text(disguise("python"))
    _git(repo, "add", "merge.py")
    blocked = _try_repo(repo, pre_commit_home)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "merge.py: BLOCK" in blocked.stdout
    assert "intervals_python.py:" in blocked.stdout  # names the protected source and its lines

    _git(repo, "rm", "-q", "--cached", "merge.py")
    (repo / "invoice.py").write_text(UNRELATED["python"])
    _git(repo, "add", "invoice.py")
    passed = _try_repo(repo, pre_commit_home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
