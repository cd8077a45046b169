"""The `ipguard` command: a thin layer over the library that prints and picks exit codes.

Exit codes: 0 nothing blocked, 1 something blocked, 2 usage, input or index
error, 3 baseline rewritten, 4 an unexpected internal error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from . import _process  # noqa: F401  (first: it sets up the process before numpy loads)
from ._version import __version__
from .config import Policy
from .errors import IndexNotFoundError, IpguardError, LimitExceededError
from .guard import DEFAULT_CHECKPOINT_SECONDS, Guard, tune_memory_for_indexing
from .ingest import DEFAULT_MAX_FILE_BYTES, classify, read_input
from .model import Match
from .normalize.languages import language_names, lexical_language_names
from .report import CheckedFile, line_col, source_lines
from .settings import ProjectConfig, load_config, with_overrides

#: What `--language` accepts, for its help.
_LANGUAGES = (
    f"Guessed by default. Read with a grammar: {', '.join(language_names())}; "
    f"by the lexical tokenizer: {', '.join(lexical_language_names())}. "
    "Another name is guessed from the content, as no name is."
)

EXIT_CLEAN = 0
EXIT_BLOCKED = 1
EXIT_ERROR = 2
EXIT_BASELINE_REWRITTEN = 3
EXIT_INTERNAL = 4

INDEX_HELP = "Index file (SQLite). Defaults to $IPGUARD_INDEX, then `index` in the config file."
_index_option = click.option(
    "--index",
    "index_path",
    envvar="IPGUARD_INDEX",
    metavar="PATH",
    help=INDEX_HELP,
)
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Configuration file (default: the nearest .ipguard.toml or pyproject.toml "
    "with [tool.ipguard]).",
)


def _settings(config_path: str | None, **overrides: Any) -> ProjectConfig:
    """The effective configuration; its warnings go to stderr."""
    try:
        config = with_overrides(load_config(config_path), **overrides)
    except IpguardError as exc:
        _fail(str(exc))
    for warning in config.warnings:
        click.echo(f"ipguard: warning: {warning}", err=True)
    return config


def _index_of(config: ProjectConfig) -> str:
    if not config.index:
        _fail("no index given: use --index, $IPGUARD_INDEX, or `index = ...` in .ipguard.toml")
    return config.index


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

    Configuration comes from `[tool.ipguard]` in pyproject.toml or from a
    `.ipguard.toml` file (see `ipguard config`); options override it.

    \b
    Exit codes:
      0  nothing blocked
      1  at least one input blocked (check)
      2  usage, input, configuration or index error
      3  baseline rewritten (baseline)
      4  unexpected internal error
    """


@cli.command("index")
@_index_option
@_config_option
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
    "--allow",
    "allow_corpus",
    is_flag=True,
    help="Index PATHS as the allow corpus: templates and boilerplate that must never block.",
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
    "--jobs",
    "-j",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Worker processes for normalizing and sketching (0: one per CPU). "
    "The index is the same whatever the number.",
)
@click.option(
    "--checkpoint",
    "checkpoint_seconds",
    default=DEFAULT_CHECKPOINT_SECONDS,
    show_default=True,
    metavar="SECONDS",
    type=click.FloatRange(min=0),
    help="Commit the work done at least this often: a killed or interrupted run "
    "keeps it and the next run goes on from there. A run that ends sooner "
    "commits once, which is fastest.",
)
@click.option(
    "--max-tokens",
    default=2_000_000,
    show_default=True,
    metavar="N",
    type=click.IntRange(min=1),
    help="Skip documents with more normalized tokens than this.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def index_cmd(
    index_path: str | None,
    config_path: str | None,
    license_: str | None,
    source_name: str | None,
    exclude: tuple[str, ...],
    allow_corpus: bool,
    jsonl_field: str,
    max_file_size: int,
    jobs: int,
    checkpoint_seconds: float,
    max_tokens: int,
    fmt: str,
    paths: tuple[str, ...],
) -> None:
    """Add files, directories (recursively) and JSONL files to the index.

    Unchanged files are skipped (a file with the size and modification time
    recorded when it was indexed is not read again); changed files replace
    their old version.
    Binary and oversized files are skipped with a reason. The index is
    created if it does not exist.
    """
    config = _settings(config_path, index=index_path)
    tune_memory_for_indexing()  # this process indexes, and it is the CLI's own
    guard = _open(_index_of(config), create=True)
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
                max_tokens=max_tokens,
                allow=allow_corpus,
                jobs=jobs or os.cpu_count() or 1,
                checkpoint_seconds=checkpoint_seconds,
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
@_config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "html"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts, sarif for code scanning, html for review.",
)
@click.option(
    "--output",
    "-o",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write the report here.",
)
@click.option(
    "--kind",
    type=click.Choice(["code", "text", "markdown"]),
    help="How to read the inputs (guessed by default).",
)
@click.option("--language", metavar="LANG", help=f"Code language of the inputs. {_LANGUAGES}")
@click.option(
    "--baseline", metavar="FILE", help="Matches recorded here are accepted, not reported."
)
@click.option("--exclude", multiple=True, metavar="GLOB", help="Do not check files matching GLOB.")
@click.option(
    "--action",
    type=click.Choice(["flag", "redact", "block"]),
    help="What a match does (overrides the configuration).",
)
@click.option(
    "--background", metavar="FILE", help="Background corpus (`ipguard background`) for rarity."
)
@click.option(
    "--min-code-evidence", type=click.IntRange(min=1), help="Override the policy's value."
)
@click.option(
    "--min-text-evidence", type=click.IntRange(min=1), help="Override the policy's value."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
def check_cmd(
    index_path: str | None,
    config_path: str | None,
    fmt: str,
    output: Any,
    kind: str | None,
    language: str | None,
    baseline: str | None,
    exclude: tuple[str, ...],
    action: str | None,
    background: str | None,
    min_code_evidence: int | None,
    min_text_evidence: int | None,
    files: tuple[str, ...],
) -> None:
    """Check FILES (`-` for stdin) and report what each reproduces.

    Exits 1 when any input is blocked, 0 otherwise. With a baseline, only
    matches not recorded in it count.
    """
    config = _settings(
        config_path,
        index=index_path,
        baseline=baseline,
        exclude=exclude or None,
        action=action,
        background=background,
        min_code_evidence=min_code_evidence,
        min_text_evidence=min_text_evidence,
    )
    checked = _check_files(config, files, kind=kind, language=language)
    if config.baseline:
        from .baseline import apply_baseline, load_baseline

        try:
            accepted = load_baseline(config.baseline)
        except IpguardError as exc:
            _fail(str(exc))
        checked = [
            CheckedFile(c.path, c.text, apply_baseline(c.path, c.text, c.verdict, accepted))
            for c in checked
        ]
    if fmt == "json":
        payload = {"results": [{"path": c.path, **c.verdict.to_json()} for c in checked]}
        output.write(json.dumps(payload, indent=2) + "\n")
    elif fmt == "sarif":
        from .report.sarif import sarif_log

        output.write(json.dumps(sarif_log(checked), indent=2) + "\n")
    elif fmt == "html":
        from .report.html import html_report

        output.write(html_report(checked))
    else:
        for c in checked:
            _print_verdict(c, output)
    sys.exit(EXIT_BLOCKED if any(c.verdict.blocked for c in checked) else EXIT_CLEAN)


def _check_files(
    config: ProjectConfig, files: Sequence[str], *, kind: str | None, language: str | None
) -> list[CheckedFile]:
    """Check each file not excluded by the configuration."""
    guard = _open(_index_of(config), policy=config.policy)
    checked: list[CheckedFile] = []
    try:
        stdin = sys.stdin.buffer.read() if "-" in files else None
        for path in files:
            if path != "-" and _excluded(path, config.exclude):
                continue
            name, text = read_input(path, max_bytes=guard.policy.max_input_bytes, stdin=stdin)
            file_kind, file_language = (None, None) if path == "-" else classify(path, text)
            try:
                verdict = guard.check(
                    text,
                    kind=kind or file_kind,  # type: ignore[arg-type]
                    language=language or file_language,
                )
            except LimitExceededError as exc:  # name the input that hit the limit
                raise LimitExceededError(f"{name}: {exc}", limit=exc.limit) from exc
            checked.append(CheckedFile(name, text, verdict))
    except IpguardError as exc:
        _fail(str(exc))
    finally:
        guard.close()
    return checked


def _excluded(path: str, patterns: Sequence[str]) -> bool:
    normalized = path.replace(os.sep, "/")
    return any(
        fnmatch.fnmatch(normalized, p) or fnmatch.fnmatch(os.path.basename(path), p)
        for p in patterns
    )


@cli.command("baseline")
@_index_option
@_config_option
@click.option(
    "--baseline",
    metavar="FILE",
    help="Baseline file to write (default: `baseline` in the config, else .ipguard-baseline.json).",
)
@click.argument("files", nargs=-1, required=True, type=click.Path())
def baseline_cmd(
    index_path: str | None, config_path: str | None, baseline: str | None, files: tuple[str, ...]
) -> None:
    """Record the current matches in FILES as reviewed and accepted.

    Later checks with the baseline report only new matches. Entries hold
    hashes, never protected text or line numbers. Exits 3 when the baseline
    file was rewritten, 0 when it was already up to date.
    """
    config = _settings(config_path, index=index_path, baseline=baseline)
    target = config.baseline or ".ipguard-baseline.json"
    checked = _check_files(config, files, kind=None, language=None)
    from .baseline import baseline_from, save_baseline

    accepted = baseline_from((c.path, c.text, c.verdict) for c in checked)
    try:
        changed = save_baseline(target, accepted)
    except OSError as exc:
        _fail(f"{target}: cannot write baseline ({exc.strerror or exc})")
    count = sum(len(v) for v in accepted.entries.values())
    click.echo(f"{'wrote' if changed else 'unchanged'} {target}: {count} accepted match(es)")
    sys.exit(EXIT_BASELINE_REWRITTEN if changed else EXIT_CLEAN)


@cli.command("background")
@click.option(
    "--output",
    "-o",
    required=True,
    metavar="FILE",
    help="Where to write the background corpus (.npz); point `background` at it.",
)
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip paths matching GLOB.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def background_cmd(output: str, exclude: tuple[str, ...], paths: tuple[str, ...]) -> None:
    """Build a background corpus of public code from PATHS.

    Defaults to this interpreter's standard library and installed packages.
    Matched structure that is common there weighs less as evidence, so idioms
    and textbook skeletons do not block on their own. Only shingle hashes and
    counts are stored.
    """
    from .guard import build_background, default_background_paths

    roots = list(paths) or default_background_paths()
    show_bar = sys.stderr.isatty()
    bar = (
        click.progressbar(length=_total_bytes(roots), label="counting", file=sys.stderr)
        if show_bar
        else contextlib.nullcontext()
    )
    try:
        with bar as progress:
            background = build_background(
                roots, exclude=exclude, progress=progress.update if progress is not None else None
            )
        background.save(output)
    except (IpguardError, OSError) as exc:
        _fail(str(exc))
    click.echo(
        f"wrote {output}: {background.documents} documents, "
        f"{len(background.hashes)} shingles seen in two or more"
    )


@cli.command("config")
@_config_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def config_cmd(config_path: str | None, fmt: str) -> None:
    """Print the effective configuration and the file it came from."""
    config = _settings(config_path, index=os.environ.get("IPGUARD_INDEX"))
    data = config.to_json()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"config file:  {data['config_file'] or '(none found; defaults)'}")
    click.echo(f"index:        {data['index'] or '(not set)'}")
    click.echo(f"baseline:     {data['baseline'] or '(not set)'}")
    click.echo(f"exclude:      {', '.join(config.exclude) or '(none)'}")
    for key, value in data["policy"].items():  # type: ignore[attr-defined]
        click.echo(f"{key + ':':<22}{value}")


def _print_verdict(checked: CheckedFile, out: Any) -> None:
    verdict = checked.verdict
    colour = {"allow": "green", "flag": "yellow", "redact": "magenta", "block": "red"}
    plural = "es" if len(verdict.matches) != 1 else ""
    click.echo(
        f"{checked.path}: "
        + click.style(verdict.action.upper(), fg=colour[verdict.action], bold=True)
        + f" (score {verdict.score:.2f}, {len(verdict.matches)} match{plural})",
        file=out,
    )
    for match in verdict.matches:
        _print_match(checked.text, match, out)
    for note in verdict.notes:
        click.echo(f"  note: {note}", file=out)


def _print_match(text: str, match: Match, out: Any, limit: int = 8) -> None:
    first, last = match.source_lines
    out_first, _ = line_col(text, match.output_span[0])
    out_last, _ = line_col(text, max(match.output_span[0], match.output_span[1] - 1))
    licence = f", licence {match.license}" if match.license else ""
    click.echo(
        f"  {match.action}: lines {out_first}-{out_last} match {match.source}:{first}-{last} "
        f"({match.channel}, similarity {match.similarity:.2f}, evidence {match.evidence}{licence})",
        file=out,
    )
    lines = source_lines(match.source, first, last) or []
    if len(lines) > limit:
        lines = lines[: limit - 1] + [f"... ({len(lines) - limit + 1} more lines)"]
    for line in lines:
        click.echo(f"    | {line}", file=out)


@cli.command("filter")
@_index_option
@_config_option
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
@click.option("--language", metavar="LANG", help=f"Code language of stdin. {_LANGUAGES}")
def filter_cmd(
    index_path: str | None,
    config_path: str | None,
    action: str | None,
    kind: str | None,
    language: str | None,
) -> None:
    """Read an output on stdin and write what a user may see to stdout."""
    config = _settings(config_path, index=index_path)
    guard = _open(_index_of(config), policy=config.policy)
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
@_config_option
@click.option("--source", metavar="PATH", help="Remove the document indexed from PATH.")
@click.option("--source-name", metavar="NAME", help="Remove every document indexed under NAME.")
def remove_cmd(
    index_path: str | None, config_path: str | None, source: str | None, source_name: str | None
) -> None:
    """Delete documents, and every trace of them, from the index."""
    if (source is None) == (source_name is None):
        raise click.UsageError("give exactly one of --source or --source-name")
    guard = _open(_index_of(_settings(config_path, index=index_path)))
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
@_config_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--verify", is_flag=True, help="Check the index's integrity too (exit 2 if broken).")
def stats_cmd(index_path: str | None, config_path: str | None, fmt: str, verify: bool) -> None:
    """Show documents, windows, bytes on disk and the configuration of an index.

    With --verify, also check the index's integrity (exit 2 when anything is wrong).
    """
    guard = _open(_index_of(_settings(config_path, index=index_path)))
    problems: list[str] = []
    try:
        stats = guard.stats()
        if verify:
            problems = guard.verify()
    except IpguardError as exc:
        _fail(str(exc))
    finally:
        guard.close()
    if fmt == "json":
        data = stats.to_json()
        if verify:
            data["verify"] = {"ok": not problems, "problems": problems}
        click.echo(json.dumps(data, indent=2))
        sys.exit(EXIT_ERROR if problems else EXIT_CLEAN)
    click.echo(f"index:              {stats.location}")
    click.echo(f"documents:          {stats.documents}")
    click.echo(f"windows:            {stats.windows}")
    click.echo(f"disk:               {stats.bytes_on_disk / 1e6:.2f} MB")
    per = stats.bytes_on_disk / stats.windows if stats.windows else 0
    click.echo(f"per window:         {per:.0f} bytes")
    for key, value in stats.config.items():
        click.echo(f"{key + ':':<20}{json.dumps(value) if isinstance(value, dict) else value}")
    if verify:
        click.echo(f"{'verify:':<20}{'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            click.echo(f"  {problem}")
        sys.exit(EXIT_ERROR if problems else EXIT_CLEAN)


@cli.command("serve")
@_index_option
@_config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--max-body-bytes",
    default=4 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1),
    help="Larger requests get 413.",
)
@click.option(
    "--read-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client may stall while sending a request (then 408).",
)
def serve_cmd(
    index_path: str | None,
    config_path: str | None,
    host: str,
    port: int,
    max_body_bytes: int,
    read_timeout: float,
) -> None:
    """Serve the index over HTTP (needs the `serve` extra).

    POST /v1/check and /v1/filter take and return the JSON of `check --format
    json`; GET /v1/stats, GET /healthz; the OpenAPI document is at
    /openapi.json. Set IPGUARD_TOKEN to require `Authorization: Bearer TOKEN`.
    """
    try:
        import uvicorn

        from .service import create_app
    except ModuleNotFoundError:
        _fail("`ipguard serve` needs the serve extra: pip install 'ipguard[serve]'")
    config = _settings(config_path, index=index_path)
    guard = _open(_index_of(config), policy=config.policy)
    app = create_app(
        guard,
        token=os.environ.get("IPGUARD_TOKEN") or None,
        max_body_bytes=max_body_bytes,
        read_timeout=read_timeout,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5)
    finally:
        guard.close()


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
