"""Project configuration: `[tool.ipguard]` in pyproject.toml, or a `.ipguard.toml` file.

The file is found by walking up from the working directory (as pre-commit
runs hooks at the repository root). Command-line options override it; unknown
keys produce warnings, never silent surprises.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ACTIONS, Policy
from .errors import IpguardError

log = logging.getLogger(__name__)

CONFIG_FILE = ".ipguard.toml"
_POLICY_KEYS = {
    f.name
    for f in dataclasses.fields(Policy)
    if f.name not in ("license_actions", "source_actions")
}
_OTHER_KEYS = {"index", "exclude", "baseline", "licenses", "sources"}


class ConfigError(IpguardError):
    """The configuration file cannot be read or holds an invalid value."""


@dataclass(frozen=True)
class ProjectConfig:
    """The effective configuration of a run: file values with overrides applied."""

    index: str | None = None
    exclude: tuple[str, ...] = ()
    baseline: str | None = None
    policy: Policy = Policy()
    path: str | None = None  # the file it came from, if any
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        policy = dataclasses.asdict(self.policy)
        policy["license_actions"] = dict(self.policy.license_actions)
        policy["source_actions"] = dict(self.policy.source_actions)
        return {
            "config_file": self.path,
            "index": self.index,
            "exclude": list(self.exclude),
            "baseline": self.baseline,
            "policy": policy,
            "warnings": list(self.warnings),
        }


def find_config(start: str | os.PathLike[str] = ".") -> Path | None:
    """The nearest `.ipguard.toml`, or pyproject.toml with a `[tool.ipguard]` table."""
    here = Path(start).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if _mentions_ipguard(pyproject) and "ipguard" in _read_toml(pyproject).get("tool", {}):
            return pyproject
        if (directory / ".git").exists():
            break  # never read configuration from outside the repository
    return None


def _mentions_ipguard(path: Path) -> bool:
    """Whether the file exists and names ipguard at all (else no table of ours is in it).

    Most projects' pyproject.toml has no `[tool.ipguard]`; loading the TOML
    parser and parsing the file to learn that was 9-12 ms of a cold check.
    """
    try:
        with open(path, "rb") as fh:
            return b"ipguard" in fh.read()
    except OSError:  # missing, a directory or unreadable: not a configuration
        return False


def _read_toml(path: Path) -> dict[str, Any]:
    # Imported here: a check with no configuration file need not load it.
    try:  # Python 3.11+
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration ({exc})") from exc


def load_config(path: str | os.PathLike[str] | None = None, *, start: str = ".") -> ProjectConfig:
    """Read the project configuration (`path`, else the one found from `start`)."""
    found = Path(path) if path is not None else find_config(start)
    if found is None:
        return ProjectConfig()
    if not found.is_file():
        raise ConfigError(f"{found}: no such configuration file")
    data = _read_toml(found)
    if found.name == "pyproject.toml" or "tool" in data:
        table = data.get("tool", {}).get("ipguard", {})
    else:
        table = data
    if not isinstance(table, dict):
        raise ConfigError(f"{found}: [tool.ipguard] must be a table")
    return _from_table(table, found)


def _from_table(table: dict[str, Any], origin: Path) -> ProjectConfig:
    warnings = [
        f"{origin}: unknown key {key!r} ignored"
        for key in sorted(table)
        if key not in _POLICY_KEYS and key not in _OTHER_KEYS
    ]
    for w in warnings:
        log.warning(w)
    base = origin.parent

    def relative(value: Any, key: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: {key} must be a string")
        if "://" in value or os.path.isabs(value):
            return value
        return str(base / value)

    exclude = table.get("exclude", [])
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise ConfigError(f"{origin}: exclude must be a list of glob patterns")
    policy_values = {k: v for k, v in table.items() if k in _POLICY_KEYS}
    if "background" in policy_values:
        policy_values["background"] = relative(policy_values["background"], "background")
    policy_values["license_actions"] = _actions(table.get("licenses", {}), "licenses", origin)
    policy_values["source_actions"] = _actions(table.get("sources", {}), "sources", origin)
    try:
        policy = Policy(**policy_values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: {exc}") from exc
    return ProjectConfig(
        index=relative(table.get("index"), "index"),
        exclude=tuple(exclude),
        baseline=relative(table.get("baseline"), "baseline"),
        policy=policy,
        path=str(origin),
        warnings=tuple(warnings),
    )


def _actions(value: Any, key: str, origin: Path) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: [{key}] must be a table of pattern = action")
    out = []
    for pattern, action in value.items():
        if action not in ACTIONS:
            raise ConfigError(
                f"{origin}: [{key}] {pattern!r} = {action!r}: "
                f"action must be one of {', '.join(ACTIONS)}"
            )
        out.append((str(pattern), str(action)))
    return tuple(out)


def with_overrides(config: ProjectConfig, **overrides: Any) -> ProjectConfig:
    """`config` with command-line values (those not None) taking precedence."""
    policy_changes = {k: v for k, v in overrides.items() if k in _POLICY_KEYS and v is not None}
    other = {k: v for k, v in overrides.items() if k not in _POLICY_KEYS and v is not None}
    if "exclude" in other:
        other["exclude"] = tuple(config.exclude) + tuple(other["exclude"])
    try:
        policy = dataclasses.replace(config.policy, **policy_changes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return dataclasses.replace(config, policy=policy, **other)
