"""The one family of exceptions ipguard raises.

The library raises and logs; only the CLI and the service turn these into
messages and exit codes.
"""

from __future__ import annotations


class IpguardError(Exception):
    """Base class of every error ipguard raises on purpose."""


class IndexNotFoundError(IpguardError):
    """The index named does not exist (and was not to be created)."""


class IndexCorruptError(IpguardError):
    """The file is not an ipguard index, or its contents are damaged."""


class IndexConfigMismatchError(IpguardError):
    """The index was built with another configuration or ipguard version."""


class InputError(IpguardError):
    """An input cannot be read or is not acceptable (binary, too large, bad JSONL)."""


class IndexConflictError(IpguardError):
    """Concurrent writers kept changing the documents a batch replaces."""


class WorkerDiedError(IpguardError):
    """A worker process of an indexing run died (killed, or out of memory)."""


class LimitExceededError(InputError):
    """An input went over a configured limit (size, tokens or time); never a silent allow."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit
