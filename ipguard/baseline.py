"""Baselines: matches a team reviewed and accepted, so that only new ones block.

A baselined match is identified by the file it is in, the protected source it
matches and a hash of the matched output text with whitespace collapsed: no
protected text, no line numbers, so the entry survives edits elsewhere in the
file and reformatting of the match itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._version import __version__
from .errors import IpguardError
from .model import Match, Verdict

BASELINE_VERSION = 1
_SPACE = re.compile(r"\s+")


class BaselineError(IpguardError):
    """A baseline file that cannot be read or was written by an incompatible version."""


def fingerprint(path: str, text: str, match: Match) -> str:
    """The identity of one match in one file, independent of line numbers."""
    matched = _SPACE.sub(" ", text[match.output_span[0] : match.output_span[1]]).strip()
    digest = hashlib.sha256()
    for part in (path.replace(os.sep, "/"), match.source, matched):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Baseline:
    """Accepted match fingerprints, per file."""

    entries: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    def accepts(self, path: str, hash_: str) -> bool:
        return hash_ in self.entries.get(path.replace(os.sep, "/"), frozenset())

    def to_json(self) -> dict[str, object]:
        return {
            "version": BASELINE_VERSION,
            "generated_by": f"ipguard {__version__}",
            "results": {
                path: [{"hash": h} for h in sorted(hashes)]
                for path, hashes in sorted(self.entries.items())
                if hashes
            },
        }


def load_baseline(path: str) -> Baseline:
    """Read a baseline file; a missing file is an empty baseline."""
    if not os.path.exists(path):
        return Baseline()
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{path}: not a readable ipguard baseline ({exc})") from exc
    if not isinstance(data, dict) or "version" not in data:
        raise BaselineError(f"{path}: not an ipguard baseline (no version field)")
    version = data["version"]
    if version != BASELINE_VERSION:
        writer = data.get("generated_by", "an unknown version")
        raise BaselineError(
            f"{path}: baseline format {version!r} (written by {writer}) "
            f"is not format {BASELINE_VERSION}; regenerate it with 'ipguard baseline'"
        )
    results = data.get("results", {})
    try:
        entries = {p: frozenset(e["hash"] for e in items) for p, items in results.items()}
    except (AttributeError, KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: damaged baseline entries ({exc})") from exc
    return Baseline(entries)


def save_baseline(path: str, baseline: Baseline) -> bool:
    """Write `baseline`; True when the file's content changed."""
    new = json.dumps(baseline.to_json(), indent=2, sort_keys=True) + "\n"
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == new:
                return False
    except OSError:
        pass
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(new)
    os.replace(tmp, path)
    return True


def baseline_from(results: Iterable[tuple[str, str, Verdict]]) -> Baseline:
    """A baseline accepting every acting match in `results` (path, text, verdict)."""
    entries: dict[str, set[str]] = {}
    for path, text, verdict in results:
        for match in verdict.matches:
            if match.action in ("block", "redact"):
                entries.setdefault(path.replace(os.sep, "/"), set()).add(
                    fingerprint(path, text, match)
                )
    return Baseline({p: frozenset(h) for p, h in entries.items()})


def apply_baseline(path: str, text: str, verdict: Verdict, baseline: Baseline) -> Verdict:
    """`verdict` without the matches the baseline accepts, its action recomputed."""
    from .policy import SEVERITY

    kept = tuple(
        m for m in verdict.matches if not baseline.accepts(path, fingerprint(path, text, m))
    )
    if len(kept) == len(verdict.matches):
        return verdict
    action = "allow"
    for m in kept:
        if SEVERITY[m.action] > SEVERITY[action]:
            action = m.action
    note = f"{len(verdict.matches) - len(kept)} match(es) accepted by the baseline"
    return dataclasses.replace(
        verdict,
        action=action,  # type: ignore[arg-type]
        matches=kept,
        score=verdict.score if kept else 0.0,
        notes=(*verdict.notes, note),
    )
