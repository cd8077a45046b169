"""The small frozen values that cross stage boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .config import Action

Kind = Literal["code", "text", "markdown"]
Channel = Literal["code", "text"]
CHANNELS: tuple[Channel, ...] = ("code", "text")


@dataclass(frozen=True)
class Document:
    """One input to index or check: its text and where it came from."""

    source: str
    text: str
    kind: Kind
    language: str | None = None
    license: str | None = None
    source_name: str | None = None
    path: str | None = None
    #: "protected", or "allow" for content that must never block.
    role: str = "protected"
    #: Size and modification time of the file it was read from (see
    #: `ipguard.ingest.file_stamp`); None when there is no file or it is too
    #: fresh to trust.
    stamp: str | None = None


class TokenStream:
    """Normalized tokens of one channel with their character spans in the input.

    `spans[i]` is the half-open character range of token `i` in the original
    text, so every match can be cited by characters and lines.

    Prose read whole from ASCII text also keeps that text lowercased, as
    bytes (`folded`), in which each token is its span: its tokens become
    strings only when `tokens` is read, and indexing never reads it (token ids
    come from the bytes, see `TokenHasher.ascii_ids`). Making a string of each
    word was a tenth of indexing prose.
    """

    __slots__ = ("channel", "spans", "folded", "_tokens")

    def __init__(
        self,
        channel: Channel,
        tokens: tuple[str, ...] | None,
        spans: np.ndarray,
        folded: bytes | None = None,
    ) -> None:
        if tokens is None and folded is None:
            raise ValueError("a token stream needs its tokens or the text they are spans of")
        # Immutable like the other values stages exchange; only the lazy tuple is set later.
        object.__setattr__(self, "channel", channel)
        object.__setattr__(self, "spans", spans)  # shape (n, 2), int64
        object.__setattr__(self, "folded", folded)
        object.__setattr__(self, "_tokens", tokens)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TokenStream is immutable (setting {name})")

    def __reduce__(self) -> tuple[object, ...]:
        return (TokenStream, (self.channel, self._tokens, self.spans, self.folded))

    @property
    def tokens(self) -> tuple[str, ...]:
        """The tokens, in order."""
        if self._tokens is None:
            assert self.folded is not None
            raw = self.folded
            made = tuple([raw[s:e].decode("ascii") for s, e in self.spans.tolist()])
            object.__setattr__(self, "_tokens", made)
        return self._tokens  # type: ignore[return-value]

    def token(self, i: int) -> str:
        """Token `i`, without making strings of the others."""
        if self._tokens is None and self.folded is not None:
            start, end = self.spans[i]
            return self.folded[start:end].decode("ascii")
        return self.tokens[i]

    def __len__(self) -> int:
        return len(self.spans)

    def __repr__(self) -> str:
        return f"TokenStream({self.channel!r}, {len(self)} tokens)"

    @classmethod
    def empty(cls, channel: Channel) -> TokenStream:
        return cls(channel, (), np.zeros((0, 2), dtype=np.int64))


@dataclass(frozen=True)
class NormalizedDocument:
    """A document's code and prose channels; `notes` says where a fallback was used."""

    code: TokenStream
    text: TokenStream
    notes: tuple[str, ...] = ()

    def channel(self, name: Channel) -> TokenStream:
        return self.code if name == "code" else self.text


@dataclass(frozen=True)
class Match:
    """One maximal matched region between an output and a protected document."""

    source: str
    license: str | None
    source_name: str | None
    channel: Channel
    similarity: float
    evidence: int
    output_span: tuple[int, int]
    source_lines: tuple[int, int]
    action: Action

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "license": self.license,
            "source_name": self.source_name,
            "channel": self.channel,
            "similarity": round(self.similarity, 4),
            "evidence": self.evidence,
            "action": self.action,
            "output_span": list(self.output_span),
            "source_lines": list(self.source_lines),
        }


@dataclass(frozen=True)
class Verdict:
    """The decision on one output, with the matches that explain it."""

    action: Action
    score: float
    matches: tuple[Match, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action,
            "score": round(self.score, 4),
            "matches": [m.to_json() for m in self.matches],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Skipped:
    """An input that was not indexed or checked, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Unchanged:
    """A file the index already holds as it is now (same size and modification time)."""

    source: str
    size: int


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    windows: int = 0
    bytes_read: int = 0
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "windows": self.windows,
            "bytes_read": self.bytes_read,
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
        }


@dataclass(frozen=True)
class IndexStats:
    """Size and configuration of an index."""

    location: str
    documents: int
    windows: int
    bytes_on_disk: int
    config: dict[str, object]

    def to_json(self) -> dict[str, object]:
        return {
            "location": self.location,
            "documents": self.documents,
            "windows": self.windows,
            "bytes_on_disk": self.bytes_on_disk,
            "config": self.config,
        }
