"""SARIF 2.1.0 output, as GitHub code scanning and other tools accept it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .._version import __version__
from ..baseline import fingerprint
from . import CheckedFile, line_col

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_RULES = {
    "code": ("IPG001", "ProtectedCodeCopy", "Output reproduces protected code"),
    "text": ("IPG002", "ProtectedTextCopy", "Output reproduces protected text"),
}
_LEVELS = {"block": "error", "redact": "error", "flag": "warning"}


def _uri(path: str) -> str:
    if path.startswith("<"):
        return path.strip("<>")
    p = Path(path)
    return p.as_uri() if p.is_absolute() else path.replace(os.sep, "/")


def sarif_log(files: Sequence[CheckedFile]) -> dict[str, object]:
    """One SARIF run with a result per match."""
    results = []
    for checked in files:
        for match in checked.verdict.matches:
            rule_id = _RULES[match.channel][0]
            start, end = match.output_span
            start_line, start_col = line_col(checked.text, start)
            end_line, end_col = line_col(checked.text, end)
            first, last = match.source_lines
            licence = f", licence {match.license}" if match.license else ""
            results.append(
                {
                    "ruleId": rule_id,
                    "ruleIndex": 0 if rule_id == "IPG001" else 1,
                    "level": _LEVELS.get(match.action, "note"),
                    "message": {
                        "text": f"{match.action}: lines {start_line}-{end_line} reproduce "
                        f"{match.source}:{first}-{last} "
                        f"(similarity {match.similarity:.2f}{licence})"
                    },
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": _uri(checked.path)},
                                "region": {
                                    "startLine": start_line,
                                    "startColumn": start_col,
                                    "endLine": end_line,
                                    "endColumn": end_col,
                                    "charOffset": start,
                                    "charLength": end - start,
                                },
                            }
                        }
                    ],
                    "relatedLocations": [
                        {
                            "id": 1,
                            "message": {"text": "protected source"},
                            "physicalLocation": {
                                "artifactLocation": {"uri": _uri(match.source)},
                                "region": {"startLine": first, "endLine": last},
                            },
                        }
                    ],
                    "partialFingerprints": {
                        "ipguardMatch/v1": fingerprint(checked.path, checked.text, match)
                    },
                    "properties": {
                        "action": match.action,
                        "similarity": round(match.similarity, 4),
                        "evidence": match.evidence,
                        "license": match.license,
                        "sourceName": match.source_name,
                    },
                }
            )
    rules = [
        {
            "id": rule_id,
            "name": name,
            "shortDescription": {"text": text},
            "fullDescription": {
                "text": text + ", possibly with renamed identifiers and new formatting."
            },
            "defaultConfiguration": {"level": "error"},
            "help": {
                "text": "Rewrite the code independently, or record an accepted match "
                "with 'ipguard baseline'."
            },
        }
        for rule_id, name, text in _RULES.values()
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ipguard",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://pypi.org/project/ipguard/",
                        "rules": rules,
                    }
                },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
