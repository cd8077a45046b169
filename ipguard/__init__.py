"""ipguard: stop generated text and code from reproducing protected material.

>>> from ipguard import Guard, Policy, Verdict
"""

import logging

from ._version import __version__
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
