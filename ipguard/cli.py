"""The `ipguard` command: a thin layer over the library that prints and picks exit codes.

Exit codes: 0 nothing blocked, 1 something blocked, 2 usage, input or index
error, 3 an unexpected internal error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from ._version import __version__
from .config import Policy
from .errors import IndexNotFoundError, IpguardError
from .guard import Guard
from .ingest import DEFAULT_MAX_FILE_BYTES, classify, read_input
from .model import Match, Verdict

EXIT_CLEAN = 0
EXIT_BLOCKED = 1
EXIT_ERROR = 2
EXIT_INTERNAL = 3

INDEX_HELP = "Index file (SQLite). Defaults to $IPGUARD_INDEX."
_index_option = click.option(
    "--index",
    "index_path",
    envvar="IPGUARD_INDEX",
    required=True,
    metavar="PATH",
    help=INDEX_HELP,
)


def _fail(message: str) -> NoReturn:
    click.echo(f"ipguard: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _open(index_path: str, *, create: bool = False, policy: Policy | None = None) -> Guard:
    try:
        return Guard.open(index_path, create=create, policy=policy)
    except IndexNotFoundError:
        _fail(
            f"no index at {index_path} "
            f"(build one with 'ipguard index --index {index_path} PATH...')"
        )
    except IpguardError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ipguard")
def cli() -> None:
    """Stop generated text and code from reproducing protected material.

    Build an index of protected corpora with `ipguard index`, then scan outputs
    with `ipguard check` (a verdict per file) or `ipguard filter` (stdin to
    stdout, with copied spans redacted or the whole output blocked).

    \b
    Exit codes:
      0  nothing blocked
      1  at least one input blocked (check)
      2  usage, input or index error
      3  unexpected internal error
    """


@cli.command("index")
@_index_option
@click.option(
    "--license", "license_", metavar="SPDX", help="Licence of the material (e.g. GPL-3.0-only)."
)
@click.option(
    "--source-name", metavar="NAME", help="Name of this corpus, for reports and `remove`."
)
@click.option(
    "--exclude", multiple=True, metavar="GLOB", help="Skip paths matching GLOB (repeatable)."
)
@click.option(
    "--jsonl-field",
    default="text",
    show_default=True,
    metavar="FIELD",
    help="Field holding the text in .jsonl/.ndjson files.",
)
@click.option(
    "--max-file-size",
    default=DEFAULT_MAX_FILE_BYTES,
    show_default=True,
    metavar="BYTES",
    type=click.IntRange(min=1),
    help="Skip files larger than this.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def index_cmd(
    index_path: str,
    license_: str | None,
    source_name: str | None,
    exclude: tuple[str, ...],
    jsonl_field: str,
    max_file_size: int,
    fmt: str,
    paths: tuple[str, ...],
) -> None:
    """Add files, directories (recursively) and JSONL files to the index.

    Unchanged files are skipped; changed files replace their old version.
    Binary and oversized files are skipped with a reason. The index is
    created if it does not exist.
    """
    guard = _open(index_path, create=True)
    show_bar = sys.stderr.isatty() and fmt == "text"
    bar = (
        click.progressbar(length=_total_bytes(paths), label="indexing", file=sys.stderr)
        if show_bar
        else contextlib.nullcontext()
    )
    try:
        with bar as progress:
            report = guard.index_paths(
                paths,
                license=license_,
                source_name=source_name,
                exclude=exclude,
                jsonl_field=jsonl_field,
                max_file_bytes=max_file_size,
                progress=progress.update if progress is not None else None,
            )
    except IpguardError as exc:
        _fail(str(exc))
    finally:
        guard.close()
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(
        f"indexed {report.added + report.replaced} documents "
        f"({report.added} new, {report.replaced} replaced, {report.unchanged} unchanged), "
        f"{report.windows} windows, {report.bytes_read / 1e6:.1f} MB read; "
        f"{len(report.skipped)} skipped"
    )
    for item in report.skipped:
        click.echo(f"  skipped {item.source}: {item.reason}")


def _total_bytes(paths: Sequence[str]) -> int:
    total = 0
    for p in paths:
        if os.path.isdir(p):
            for dirpath, _dirs, files in os.walk(p):
                for f in files:
                    with contextlib.suppress(OSError):
                        total += os.path.getsize(os.path.join(dirpath, f))
        elif os.path.isfile(p):
            total += os.path.getsize(p)
    return total


@cli.command("check")
@_index_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--kind",
    type=click.Choice(["code", "text", "markdown"]),
    help="How to read the inputs (guessed by default).",
)
@click.option(
    "--language", metavar="LANG", help="Code language of the inputs (guessed by default)."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
def check_cmd(
    index_path: str, fmt: str, kind: str | None, language: str | None, files: tuple[str, ...]
) -> None:
    """Check FILES (`-` for stdin) and report what each reproduces.

    Exits 1 when any input is blocked, 0 otherwise.
    """
    guard = _open(index_path)
    results: list[tuple[str, Verdict]] = []
    try:
        stdin = sys.stdin.buffer.read() if "-" in files else None
        for path in files:
            name, text = read_input(path, max_bytes=guard.policy.max_input_bytes, stdin=stdin)
            file_kind, file_language = (None, None) if path == "-" else classify(path, text)
            verdict = guard.check(
                text,
                kind=kind or file_kind,  # type: ignore[arg-type]
                language=language or file_language,
            )
            results.append((name, verdict))
    except IpguardError as exc:
        _fail(str(exc))
    finally:
        guard.close()
    if fmt == "json":
        payload = {"results": [{"path": name, **v.to_json()} for name, v in results]}
        click.echo(json.dumps(payload, indent=2))
    else:
        for name, verdict in results:
            _print_verdict(name, verdict)
    sys.exit(EXIT_BLOCKED if any(v.blocked for _, v in results) else EXIT_CLEAN)


def _print_verdict(name: str, verdict: Verdict) -> None:
    colour = {"allow": "green", "flag": "yellow", "redact": "magenta", "block": "red"}[
        verdict.action
    ]
    click.echo(
        f"{name}: "
        + click.style(verdict.action.upper(), fg=colour, bold=True)
        + f" (score {verdict.score:.2f}, {len(verdict.matches)} match"
        + ("es" if len(verdict.matches) != 1 else "")
        + ")"
    )
    for match in verdict.matches:
        _print_match(match)
    for note in verdict.notes:
        click.echo(f"  note: {note}")


def _print_match(match: Match) -> None:
    first, last = match.source_lines
    licence = f", licence {match.license}" if match.license else ""
    click.echo(
        f"  {match.action}: output chars {match.output_span[0]}-{match.output_span[1]} match "
        f"{match.source}:{first}-{last} ({match.channel}, similarity {match.similarity:.2f}, "
        f"evidence {match.evidence}{licence})"
    )
    for line in _source_lines(match.source, first, last):
        click.echo(f"    | {line}")


def _source_lines(source: str, first: int, last: int, limit: int = 8) -> list[str]:
    """Lines of the protected source for a report, when the original file is at hand."""
    if not os.path.isfile(source):
        return []
    try:
        with open(source, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()[first - 1 : last]
    except OSError:
        return []
    if len(lines) > limit:
        lines = lines[: limit - 1] + [f"... ({len(lines) - limit + 1} more lines)"]
    return lines


@cli.command("filter")
@_index_option
@click.option(
    "--action",
    type=click.Choice(["redact", "block"]),
    default=None,
    help="What to do with protected content: redact the matched spans, or block the whole "
    "output (default: the policy's action, block).",
)
@click.option(
    "--kind",
    type=click.Choice(["code", "text", "markdown"]),
    help="How to read stdin (guessed by default).",
)
@click.option("--language", metavar="LANG", help="Code language of stdin (guessed by default).")
def filter_cmd(index_path: str, action: str | None, kind: str | None, language: str | None) -> None:
    """Read an output on stdin and write what a user may see to stdout."""
    guard = _open(index_path)
    try:
        _name, text = read_input(
            "-", max_bytes=guard.policy.max_input_bytes, stdin=sys.stdin.buffer.read()
        )
        out = guard.filter(text, kind=kind, language=language, action=action)  # type: ignore[arg-type]
    except IpguardError as exc:
        _fail(str(exc))
    finally:
        guard.close()
    click.echo(out, nl=False)


@cli.command("remove")
@_index_option
@click.option("--source", metavar="PATH", help="Remove the document indexed from PATH.")
@click.option("--source-name", metavar="NAME", help="Remove every document indexed under NAME.")
def remove_cmd(index_path: str, source: str | None, source_name: str | None) -> None:
    """Delete documents, and every trace of them, from the index."""
    if (source is None) == (source_name is None):
        raise click.UsageError("give exactly one of --source or --source-name")
    guard = _open(index_path)
    try:
        removed = guard.remove(source=source, source_name=source_name)
    except IpguardError as exc:
        _fail(str(exc))
    finally:
        guard.close()
    if removed == 0:
        _fail(f"no document matches {source or source_name!r}")
    click.echo(f"removed {removed} document{'s' if removed != 1 else ''}")


@cli.command("stats")
@_index_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def stats_cmd(index_path: str, fmt: str) -> None:
    """Show documents, windows, bytes on disk and the configuration of an index."""
    guard = _open(index_path)
    try:
        stats = guard.stats()
    except IpguardError as exc:
        _fail(str(exc))
    finally:
        guard.close()
    if fmt == "json":
        click.echo(json.dumps(stats.to_json(), indent=2))
        return
    click.echo(f"index:              {stats.location}")
    click.echo(f"documents:          {stats.documents}")
    click.echo(f"windows:            {stats.windows}")
    click.echo(f"disk:               {stats.bytes_on_disk / 1e6:.2f} MB")
    per = stats.bytes_on_disk / stats.windows if stats.windows else 0
    click.echo(f"per window:         {per:.0f} bytes")
    for key, value in stats.config.items():
        click.echo(f"{key + ':':<20}{json.dumps(value) if isinstance(value, dict) else value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (for `python -m ipguard` and the console script)."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None, prog_name="ipguard", standalone_mode=True
        )
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("ipguard: interrupted", err=True)
        return 130
    except Exception as exc:  # the one place an unexpected error becomes a message
        click.echo(f"ipguard: internal error: {type(exc).__name__}: {exc}", err=True)
        return EXIT_INTERNAL
    return EXIT_CLEAN


def _entry() -> Any:
    sys.exit(main())
