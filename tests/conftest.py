from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from samples import EXTENSIONS, PROTECTED  # noqa: E402

from ipguard import Guard  # noqa: E402

#: Files in the session corpus: one protected function per language (tsx shares
#: TypeScript's) and one paragraph.
CORPUS_FILES = len([lang for lang in PROTECTED if lang != "tsx"]) + 1

PROTECTED_PROSE = """The cartographers of the inland sea agreed on one rule before any other:
a coastline is drawn from the water, never from the shore, because the shore lies
about its own shape. Every survey boat carried two lead lines and a copper
sextant, and every reading was taken twice by different hands before it could
enter the master chart kept in the harbour office under lock and key."""


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Protected files written at run time: one function per language and a paragraph."""
    root = tmp_path_factory.mktemp("corpus")
    for language, code in PROTECTED.items():
        if language == "tsx":
            continue
        (root / f"intervals_{language}{EXTENSIONS[language]}").write_text(code, encoding="utf-8")
    (root / "chart.txt").write_text(PROTECTED_PROSE, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def built_index(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("index") / "protected.ipguard.db"
    with Guard.open(str(path), create=True) as guard:
        report = guard.index_paths(
            [str(corpus_dir)], license="LicenseRef-test", source_name="samples"
        )
    assert report.added == len(list(corpus_dir.iterdir()))
    return path


def copy_index(source: Path, target: Path) -> None:
    """Copy an SQLite index: its file and its folder of band segments."""
    shutil.copy(source, target)
    bands = Path(f"{source}.bands")
    if bands.is_dir():
        shutil.copytree(bands, f"{target}.bands")


@pytest.fixture()
def guard(built_index: Path) -> Iterator[Guard]:
    with Guard.open(str(built_index)) as g:
        yield g


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from stores_support import redis_server

    with redis_server(str(tmp_path_factory.mktemp("redis"))) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty index location on each backend."""
    import uuid

    if request.param == "sqlite":
        return str(tmp_path / "store.ipguard.db")
    url = request.getfixturevalue("redis_url")
    return f"{url}?prefix=t{uuid.uuid4().hex[:12]}"
