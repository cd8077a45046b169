"""ipguard: stop generated text and code from reproducing protected material.

>>> from ipguard import Guard, Policy, Verdict
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .config import IndexConfig, Policy
    from .errors import (
        IndexConfigMismatchError,
        IndexCorruptError,
        IndexNotFoundError,
        InputError,
        IpguardError,
        WorkerDiedError,
    )
    from .guard import Guard
    from .model import Document, IndexReport, IndexStats, Match, Skipped, Verdict

# A library logs but never prints: without a handler configured by the
# application, ipguard's log records go nowhere.
logging.getLogger(__name__).addHandler(logging.NullHandler())

#: The public names and their modules, imported on first use: importing the
#: package imports no numpy, so that the `ipguard` command can set up the
#: process before numpy is loaded (see `ipguard._process`).
_EXPORTS = {
    "Guard": "guard",
    "Policy": "config",
    "IndexConfig": "config",
    "Verdict": "model",
    "Match": "model",
    "Document": "model",
    "IndexReport": "model",
    "IndexStats": "model",
    "Skipped": "model",
    "IpguardError": "errors",
    "IndexNotFoundError": "errors",
    "IndexCorruptError": "errors",
    "IndexConfigMismatchError": "errors",
    "InputError": "errors",
    "WorkerDiedError": "errors",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "__version__",
    "Guard",
    "Policy",
    "IndexConfig",
    "Verdict",
    "Match",
    "Document",
    "IndexReport",
    "IndexStats",
    "Skipped",
    "IpguardError",
    "IndexNotFoundError",
    "IndexCorruptError",
    "IndexConfigMismatchError",
    "InputError",
    "WorkerDiedError",
]
