"""Rarity of normalized structure in a background corpus of public code and prose.

Independently written code for the same task shares idioms and skeletons with
protected code (MEASURED.md, point 6). Each matched shingle is weighted by how
rare it is in a background corpus, so common structure does not block on its
own. The background is hashed with a fixed public key, not an index's key: it
holds only public material and one file serves every index.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import NORMALIZER_VERSION, IndexConfig
from .errors import IpguardError
from .model import CHANNELS, NormalizedDocument
from .sketch import TokenHasher, shingle_hashes

log = logging.getLogger(__name__)

#: Public, fixed: background hashes must be comparable across indexes.
BACKGROUND_KEY = b"ipguard-background-corpus-key-v1"
FORMAT = 1


class BackgroundError(IpguardError):
    """A background file that cannot be read or was built for another normalizer."""


def hasher() -> TokenHasher:
    """The token hasher of background corpora."""
    return TokenHasher(BACKGROUND_KEY)


def document_shingles(
    normalized: NormalizedDocument, config: IndexConfig, tokens: TokenHasher
) -> np.ndarray:
    """Distinct background shingle hashes of one document (both channels)."""
    parts = []
    for channel in CHANNELS:
        stream = normalized.channel(channel)
        if len(stream):
            ids = tokens.ids(channel, stream.tokens)
            parts.append(shingle_hashes(ids, config.channel(channel).shingle))
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint32)


@dataclass(frozen=True, eq=False)
class Background:
    """Document frequencies of shingles seen in at least two background documents."""

    hashes: np.ndarray  # sorted uint32
    df: np.ndarray  # uint32, aligned with hashes
    documents: int
    sources: tuple[str, ...] = ()

    @classmethod
    def from_documents(
        cls, per_document: Iterable[np.ndarray], sources: Sequence[str] = ()
    ) -> Background:
        """Count, over documents given as arrays of distinct shingle hashes."""
        arrays = list(per_document)
        if not arrays:
            return cls(np.zeros(0, np.uint32), np.zeros(0, np.uint32), 0, tuple(sources))
        hashes, counts = np.unique(np.concatenate(arrays), return_counts=True)
        keep = counts >= 2  # a shingle seen once weighs 1 anyway: not stored
        return cls(
            hashes[keep].astype(np.uint32),
            counts[keep].astype(np.uint32),
            len(arrays),
            tuple(sources),
        )

    def frequency(self, hashes: np.ndarray) -> np.ndarray:
        """Background documents holding each shingle (1 for shingles not stored)."""
        if len(self.hashes) == 0 or len(hashes) == 0:
            return np.ones(len(hashes), dtype=np.uint32)
        pos = np.searchsorted(self.hashes, hashes)
        pos = np.minimum(pos, len(self.hashes) - 1)
        found = self.hashes[pos] == hashes
        return np.where(found, self.df[pos], 1).astype(np.uint32)

    def weights(self, hashes: np.ndarray, scale: float) -> np.ndarray:
        """Weight of each shingle: 1 when rare, `scale / df` when common."""
        return np.minimum(1.0, scale / self.frequency(hashes).astype(np.float64))

    def save(self, path: str | Path) -> None:
        meta = {
            "format": FORMAT,
            "normalizer_version": NORMALIZER_VERSION,
            "documents": self.documents,
            "sources": list(self.sources),
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp.npz")
        np.savez_compressed(tmp, hashes=self.hashes, df=self.df, meta=np.array(json.dumps(meta)))
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | Path) -> Background:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                hashes = data["hashes"].astype(np.uint32)
                df = data["df"].astype(np.uint32)
        except (OSError, KeyError, ValueError) as exc:
            raise BackgroundError(f"{path}: not a readable background corpus ({exc})") from exc
        if meta.get("format") != FORMAT or meta.get("normalizer_version") != NORMALIZER_VERSION:
            raise BackgroundError(
                f"{path}: built for normalizer {meta.get('normalizer_version')}, this ipguard uses "
                f"{NORMALIZER_VERSION}: rebuild it with 'ipguard background'"
            )
        if len(hashes) != len(df) or (
            len(hashes) > 1 and not (np.diff(hashes.astype(np.int64)) > 0).all()
        ):
            raise BackgroundError(f"{path}: damaged background corpus")
        return cls(hashes, df, int(meta["documents"]), tuple(meta.get("sources", ())))
