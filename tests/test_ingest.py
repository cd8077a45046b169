"""ingest: classification, bad input, JSONL."""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipguard.ingest import IngestOptions, _exclusion, _relative, classify, walk
from ipguard.model import Document, Skipped, Unchanged


def _items(path: Path, **kw: object) -> list[Document | Skipped | Unchanged]:
    return list(walk([str(path)], IngestOptions(**kw)))  # type: ignore[arg-type]


def test_language_from_extension_shebang_and_content() -> None:
    assert classify("x.rs", "") == ("code", "rust")
    assert classify("tool", "#!/usr/bin/env python3\nprint(1)\n") == ("code", "python")
    assert classify("notes.md", "# Title") == ("markdown", None)
    assert classify("README", "Plain words here.\nMore words.") == ("text", None)


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("Words.pm", "perl"),
        ("tool.pl", "perl"),
        ("init.lua", "lua"),
        ("View.swift", "swift"),
        ("Main.scala", "scala"),
        ("stats.R", "r"),
        ("report.sql", "sql"),
        ("lib.ex", "elixir"),
    ],
)
def test_a_language_without_a_grammar_is_code_by_its_extension(name: str, language: str) -> None:
    # Mostly documentation (POD), a Perl module read as prose by its content.
    pod = "=head1 NAME\n\nWords - counts the words of a file, as the team wrote it.\n\n" * 5
    assert classify(name, pod + "1;\n") == ("code", language)


def test_a_jsonl_record_in_a_language_without_a_grammar_is_code(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    record = {"text": "Counts the words of a file, as the team wrote it.", "language": "Perl"}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    [doc] = _items(path)
    assert isinstance(doc, Document)
    assert (doc.kind, doc.language) == ("code", "perl")


_CPP_HEADERS = {
    "template": "#pragma once\ntemplate <typename T>\nT larger(T a, T b) { return a < b ? b : a; }",
    "namespace": "namespace meter {\nint reading(void);\n}\n",
    "base class": "struct Gauge : public Dial {\n    int needle;\n};\n",
    "class body": "class Gauge\n{\n    int needle;\n};\n",
    "access label": "struct Gauge {\n  private:\n    int needle;\n};\n",
    "using": "#include <stdio.h>\nusing namespace meter;\n",
    "std line": "inline void log_it(const char* s) {\n    std::puts(s);\n}\n",
    "std include": "#ifndef GAUGE_H\n#define GAUGE_H\n#include <vector>\n#endif\n",
    "extern C++": 'extern "C++" {\nint twice(int);\n}\n',
}
_C_HEADER = """/* gauge.h: the meter's C interface.
 * namespace { } and std:: in a comment say nothing,
 * nor does a member named class.
 */
#ifndef GAUGE_H
#define GAUGE_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
struct gauge {
    int class;
    size_t needle;
};
int gauge_read(const struct gauge *g);
#ifdef __cplusplus
}
#endif
#endif
"""


@pytest.mark.parametrize("construct", sorted(_CPP_HEADERS))
def test_a_cpp_header_named_dot_h_is_read_as_cpp(construct: str) -> None:
    assert classify("include/gauge.h", _CPP_HEADERS[construct]) == ("code", "cpp")
    assert classify("GAUGE.H", _CPP_HEADERS[construct]) == ("code", "cpp")
    # Only a header's name leaves the language open: a .c file is C.
    assert classify("gauge.c", _CPP_HEADERS[construct]) == ("code", "c")


def test_a_c_header_stays_c_with_its_cplusplus_guard() -> None:
    assert classify("gauge.h", _C_HEADER) == ("code", "c")


@pytest.mark.parametrize(
    ("first_line", "language"),
    [
        ("#!/bin/sh -e", "bash"),
        ("#!/usr/bin/env bash", "bash"),
        ("#!/bin/zsh", "bash"),
        ("#!/usr/bin/env ruby", "ruby"),
        ("#!/usr/bin/php", "php"),
        ("#!/usr/bin/env python3.11 -u", "python"),
        ("#!/usr/bin/env -S node --no-warnings", "javascript"),
        ("#!/usr/bin/perl -w", "perl"),
        ("#!/usr/bin/env lua5.4", "lua"),
    ],
)
def test_a_script_without_extension_is_read_by_its_interpreter(
    first_line: str, language: str
) -> None:
    assert classify("bin/tool", f"{first_line}\necho done\n") == ("code", language)


@pytest.mark.parametrize("name", ["ring.ipp", "ring.tpp", "ring.inl", "ring.tcc", "ring.ixx"])
def test_cpp_template_and_module_files_are_cpp(name: str) -> None:
    assert classify(name, "int twice(int x) { return 2 * x; }\n") == ("code", "cpp")


def test_binary_oversized_and_missing_inputs_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"ab\x00cd")
    (tmp_path / "big.txt").write_text("x" * 2000)
    items = _items(tmp_path, max_file_bytes=1000)
    reasons = {Path(i.source).name: i.reason for i in items if isinstance(i, Skipped)}
    assert reasons == {
        "a.bin": "binary file",
        "big.txt": "larger than the 1000-byte limit (2000 bytes)",
    }
    missing = list(walk([str(tmp_path / "nope")], IngestOptions()))
    assert isinstance(missing[0], Skipped) and "no such file" in missing[0].reason


def test_a_binary_file_is_known_from_its_first_bytes_and_not_read_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipguard import ingest

    (tmp_path / "lib.so").write_bytes(b"\x7fELF\x00" + bytes(range(256)) * 400)
    # A NUL past the probe does not make a file binary (as git decides).
    late = b"x = 1\n" * (ingest._BINARY_PROBE // 6 + 1) + b"\x00"
    (tmp_path / "late.py").write_bytes(late)
    read: dict[str, int] = {}
    real_open = open

    class Counted:
        def __init__(self, path: str, mode: str) -> None:
            self.name, self.fh = Path(path).name, real_open(path, mode)

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def read(self, size: int = -1) -> bytes:
            data = self.fh.read(size)
            read[self.name] = read.get(self.name, 0) + len(data)
            return data

    monkeypatch.setattr(ingest, "open", Counted, raising=False)
    items = {Path(i.source).name: i for i in _items(tmp_path)}
    assert isinstance(items["lib.so"], Skipped) and items["lib.so"].reason == "binary file"
    assert read["lib.so"] <= ingest._BINARY_PROBE
    assert isinstance(items["late.py"], Document) and items["late.py"].text.endswith("\x00")


def test_a_named_pipe_is_read_to_its_end(tmp_path: Path) -> None:
    # As from `ipguard index <(generate)`: a pipe cannot seek back.
    import threading

    fifo = tmp_path / "generated.txt"
    os.mkfifo(fifo)
    text = "words from a pipe " * 1000  # past the binary probe

    def feed() -> None:
        with open(fifo, "w") as fh:
            fh.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    (doc,) = list(walk([str(fifo)], IngestOptions()))
    writer.join()
    assert isinstance(doc, Document) and doc.text == text


def test_invalid_utf8_is_decoded_with_replacement(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait \xff")
    (doc,) = _items(tmp_path)
    assert isinstance(doc, Document) and "\ufffd" in doc.text


def test_jsonl_records_become_documents(tmp_path: Path) -> None:
    lines = [
        json.dumps({"body": "def f(a):\n    return a\n", "language": "python", "license": "MIT"}),
        json.dumps({"body": "Some prose words."}),
        json.dumps({"other": 1}),
        "{broken",
        "",
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(lines))
    items = _items(tmp_path, jsonl_field="body", license="Apache-2.0")
    docs = [i for i in items if isinstance(i, Document)]
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert [(d.kind, d.language, d.license) for d in docs] == [
        ("code", "python", "MIT"),
        ("text", None, "Apache-2.0"),
    ]
    assert docs[0].source.endswith("c.jsonl:1")
    assert [s.source.rsplit(":", 1)[1] for s in skipped] == ["3", "4"]


def test_excludes_and_hidden_directories(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "lib.py").write_text("x = 1")
    (tmp_path / "main.py").write_text("x = 2")
    names = [Path(i.source).name for i in _items(tmp_path, exclude=("vendor",))]
    assert names == ["main.py"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text("ab*?[]!/.", min_size=1, max_size=6), min_size=1, max_size=3),
    st.lists(st.text("ab./", min_size=1, max_size=4), min_size=1, max_size=3),
)
def test_exclusion_matches_as_fnmatch_would_pattern_by_pattern(
    patterns: list[str], parts: list[str]
) -> None:
    root = "/r"
    path = os.path.join(root, *parts)
    rel = os.path.relpath(path, root)
    name = os.path.basename(path)
    expected = any(
        fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p)
        for p in patterns
    )
    assert _exclusion(tuple(patterns))(path, root) == expected


_PART = st.sampled_from(["src", "a", ".", "..", "", "b.py", ".hidden", "x y"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_PART, min_size=0, max_size=4), st.lists(_PART, min_size=0, max_size=4), st.booleans()
)
def test_relative_paths_equal_relpath(root: list[str], rest: list[str], absolute: bool) -> None:
    root_path = ("/" if absolute else "") + "/".join(root)
    if not root_path:
        root_path = "."
    path = root_path + "/" + "/".join(rest)
    assert _relative(path, root_path) == os.path.relpath(path, root_path)
