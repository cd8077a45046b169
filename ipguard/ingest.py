"""ingest: files, directories, JSONL and stdin -> Documents (or Skipped, with a reason)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .errors import InputError, LimitExceededError
from .model import Document, Kind, Skipped, Unchanged
from .normalize import detect_kind, languages

#: Files above this size are skipped with a reason (configurable per call).
DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
_BINARY_PROBE = 8192
_TEXT_EXTENSIONS = {".txt", ".text", ".rst", ".adoc", ".tex", ""}
_MARKDOWN_EXTENSIONS = {".md", ".markdown", ".mdx"}
_JSONL_EXTENSIONS = {".jsonl", ".ndjson"}


@dataclass(frozen=True)
class IngestOptions:
    """How paths become documents."""

    license: str | None = None
    source_name: str | None = None
    exclude: tuple[str, ...] = ()
    jsonl_field: str = "text"
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    role: str = "protected"
    #: (source, stamp) -> whether the index holds that file with that stamp;
    #: such files are not read again.
    unchanged: Callable[[str, str], bool] | None = None


#: A file modified this recently may change again within the same clock tick
#: and keep its stamp: its stamp is not recorded, so the next run reads it.
FRESH_NS = 2_000_000_000


def file_stamp(st: os.stat_result, now_ns: int) -> str | None:
    """ "size:mtime_ns" of a regular file, or None when it is too fresh to trust."""
    if now_ns - st.st_mtime_ns < FRESH_NS:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def decode(data: bytes) -> str:
    """UTF-8 text of `data`; invalid bytes become U+FFFD rather than failing."""
    return data.decode("utf-8", errors="replace")


def is_binary(data: bytes) -> bool:
    """A NUL byte near the start marks a binary file (as git decides)."""
    return b"\0" in data[:_BINARY_PROBE]


def classify(path: str, text: str) -> tuple[Kind, str | None]:
    """Kind and language of a file from its name, its `#!` line, then its content."""
    spec = languages.for_file(path, text)
    if spec is not None:
        return "code", spec.name
    shebang = languages.shebang_language(text[:200].split("\n", 1)[0])
    named = languages.lexical_language_for_path(path) or shebang
    if named is not None:
        return "code", named
    ext = os.path.splitext(path)[1].lower()
    if ext in _MARKDOWN_EXTENSIONS:
        return "markdown", None
    if ext in _TEXT_EXTENSIONS:
        return detect_kind(text), None
    return detect_kind(text), None


def _exclusion(patterns: tuple[str, ...]) -> Callable[[str, str], bool]:
    """(path, root) -> whether a pattern matches its path relative to root, name or path.

    The patterns are compiled into one expression (as `fnmatch.fnmatch` would
    match each): matching them one by one took half of re-indexing an unchanged tree.
    """
    if not patterns:
        return lambda path, root: False
    either = re.compile("|".join(f"(?:{fnmatch.translate(os.path.normcase(p))})" for p in patterns))

    def excluded(path: str, root: str) -> bool:
        path = os.path.normcase(path)
        return bool(
            either.match(os.path.normcase(_relative(path, root)))
            or either.match(os.path.basename(path))
            or either.match(path)
        )

    return excluded


def _relative(path: str, root: str) -> str:
    """`os.path.relpath(path, root)`, without its two `abspath`s for a path `walk` built under root.

    relpath was two thirds of matching the exclusions, 33 of 140 ms of
    re-indexing the unchanged standard library's 850 paths.
    """
    prefix = root.rstrip(os.sep) + os.sep
    if root and path.startswith(prefix):
        rest = path[len(prefix) :].lstrip(os.sep)
        # Both sides normalise the shared prefix alike; the rest must be plain.
        if all(part not in ("", os.curdir, os.pardir) for part in rest.split(os.sep)):
            return rest
    return os.path.relpath(path, root)


def walk(paths: Iterable[str], options: IngestOptions) -> Iterator[Document | Skipped | Unchanged]:
    """Every document under `paths`, in a stable order; unreadable inputs as Skipped."""
    excluded = _exclusion(options.exclude)
    for given in paths:
        if os.path.isdir(given):
            root = given
            for dirpath, dirnames, filenames in os.walk(given):
                dirnames[:] = sorted(
                    d
                    for d in dirnames
                    if not d.startswith(".")
                    and d != "__pycache__"
                    and not excluded(os.path.join(dirpath, d), root)
                )
                for name in sorted(filenames):
                    path = os.path.join(dirpath, name)
                    if not excluded(path, root):
                        yield from read_path(path, options)
        elif os.path.exists(given):
            if not excluded(given, os.path.dirname(given) or "."):
                yield from read_path(given, options)
        else:
            yield Skipped(given, "no such file or directory")


def read_path(path: str, options: IngestOptions) -> Iterator[Document | Skipped | Unchanged]:
    """The document(s) in one file: one, or one per JSONL line."""
    source = os.path.abspath(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        if os.path.islink(path) and not os.path.exists(path):
            yield Skipped(source, "broken symbolic link")
            return
        st = os.stat(path)
        size = st.st_size
        if size > options.max_file_bytes:
            yield Skipped(
                source, f"larger than the {options.max_file_bytes}-byte limit ({size} bytes)"
            )
            return
        # A JSONL file holds many documents, each with its own source.
        stamp = None if ext in _JSONL_EXTENSIONS else file_stamp(st, time.time_ns())
        if stamp is not None and options.unchanged is not None and options.unchanged(source, stamp):
            yield Unchanged(source, size)
            return
        with open(path, "rb") as fh:
            head = fh.read(_BINARY_PROBE)
            if ext not in _JSONL_EXTENSIONS and is_binary(head):
                # Known from its first bytes: the rest is not read (the
                # standard library's 95 binaries, 18.6 MB, were read in full
                # on every re-index).
                yield Skipped(source, "binary file")
                return
            # Read on, not again from the start: a pipe cannot seek.
            data = head + fh.read(options.max_file_bytes + 1 - len(head))
    except OSError as exc:
        yield Skipped(source, f"unreadable: {exc.strerror or exc}")
        return
    if len(data) > options.max_file_bytes:
        yield Skipped(source, f"larger than the {options.max_file_bytes}-byte limit")
        return
    if ext in _JSONL_EXTENSIONS:
        yield from _jsonl(source, data, options)
        return
    if is_binary(data):
        yield Skipped(source, "binary file")
        return
    text = decode(data)
    kind, language = classify(path, text)
    yield Document(
        source=source,
        text=text,
        kind=kind,
        language=language,
        license=options.license,
        source_name=options.source_name,
        path=source,
        role=options.role,
        stamp=stamp,
    )


def _jsonl(source: str, data: bytes, options: IngestOptions) -> Iterator[Document | Skipped]:
    for lineno, line in enumerate(decode(data).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(where, f"invalid JSON ({exc.msg})")
            continue
        value = record.get(options.jsonl_field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            yield Skipped(where, f"no string field {options.jsonl_field!r}")
            continue
        language = record.get("language") if isinstance(record.get("language"), str) else None
        spec = languages.lookup(language)
        lexical = None if spec else languages.lexical_language(language)
        kind: Kind = "code" if spec or lexical else detect_kind(value)
        license_ = record.get("license") if isinstance(record.get("license"), str) else None
        yield Document(
            source=where,
            text=value,
            kind=kind,
            language=spec.name if spec else lexical,
            license=license_ or options.license,
            source_name=options.source_name,
            path=None,
            role=options.role,
        )


def read_input(path: str, *, max_bytes: int, stdin: bytes | None = None) -> tuple[str, str]:
    """(display name, text) of one input to check; `-` reads `stdin`.

    Raises InputError for binary, oversized or unreadable inputs: a check never
    silently passes what it could not read.
    """
    if path == "-":
        data = stdin or b""
        name = "<stdin>"
    else:
        name = path
        try:
            with open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise LimitExceededError(
            f"{name}: larger than the {max_bytes}-byte input limit (max_input_bytes)",
            limit="max_input_bytes",
        )
    if is_binary(data):
        raise InputError(f"{name}: binary input cannot be checked")
    return name, decode(data)
