"""verify: candidate window pairs -> aligned, maximal matched regions.

Candidates only say that two windows look alike. Verification aligns the
output's tokens with the protected document's (rapidfuzz Indel alignment on
token-id sequences), merges the matching blocks into maximal regions, and
measures evidence as the number of distinct matched shingles, because
distinct matched structure separates copies from shared idioms far better than
matched token counts (MEASURED.md, point 2).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import ChannelConfig
from .index import Candidates, QueryChannel
from .model import Channel
from .sketch import shingle_hashes
from .stores import DocumentGone, PartedIds, StoredIds, StoredLines

#: Protected documents verified per output channel, those sharing the most
#: candidate windows first: it bounds the time of an output made of words common
#: everywhere (p99 check latency 229 ms -> see bench/reports/speed.md).
MAX_DOCUMENTS = 32
#: A document is verified only when some window pair shares this many LSH
#: bands. Measured at 2: checks 13% faster, but novel code blocked rose from
#: 0.7% to 1.6%, because the shared-structure cap then sees fewer of the
#: documents an idiom appears in (bench/accuracy.py). So every candidate counts.
MIN_BAND_HITS = 1
#: Clusters aligned per protected document; beyond this a document is
#: repetitive enough that more alignments add nothing.
MAX_CLUSTERS_PER_DOCUMENT = 8


@dataclass(frozen=True)
class Region:
    """A maximal aligned region between an output channel and a protected document."""

    doc_id: int
    channel: Channel
    query_tokens: tuple[int, int]  # first and last matched token, inclusive
    protected_tokens: tuple[int, int]
    matched: int  # tokens inside matching blocks
    evidence: int  # distinct matched shingles
    similarity: float  # matched / aligned length
    output_span: tuple[int, int]  # characters in the output
    source_lines: tuple[int, int]  # lines in the protected source
    #: (first query token, length) of each matching block, for re-weighting evidence.
    blocks: tuple[tuple[int, int], ...] = ()
    #: Matched shingles counted with repeats (evidence counts each one once).
    matched_shingles: int = 0

    def with_evidence(self, evidence: int) -> Region:
        """This region with its evidence re-weighted (`dataclasses.replace`, faster).

        A check re-weighs every region it verified (tens per 2 KB of code);
        `replace` re-ran the checked constructor for each.
        """
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.__dict__["evidence"] = evidence
        return copy


Loader = Callable[[int], "tuple[StoredIds, StoredLines] | None"]


def rank_documents(candidates: Candidates) -> np.ndarray:
    """The candidate documents worth verifying, strongest first (at most MAX_DOCUMENTS):
    by the most LSH bands any one window pair shares, then by window pairs."""
    if len(candidates.doc_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    doc_ids, inverse, pair_counts = np.unique(
        candidates.doc_ids, return_inverse=True, return_counts=True
    )
    best_hits = np.zeros(len(doc_ids), dtype=np.int64)
    np.maximum.at(best_hits, inverse, candidates.band_hits)
    ranked = np.lexsort((-pair_counts, -best_hits))
    ranked = ranked[best_hits[ranked] >= MIN_BAND_HITS]
    return doc_ids[ranked][:MAX_DOCUMENTS]


def verify(
    query: QueryChannel,
    candidates: Candidates,
    load: Loader,
    channel: ChannelConfig,
    *,
    documents: Sequence[int] | None = None,
    deadline: float | None = None,
) -> list[Region]:
    """Aligned regions of `query` against the protected `documents` (default: the
    ranked candidates, see `rank_documents`).

    Raises TimeoutError once `time.monotonic()` passes `deadline`.
    """
    if len(candidates.doc_ids) == 0:
        return []
    q_hashes = shingle_hashes(query.ids, channel.shingle).tolist()
    q_list = query.ids.tolist()
    regions: list[Region] = []
    strongest = rank_documents(candidates) if documents is None else documents
    for doc_id in strongest:
        loaded = load(int(doc_id))
        if loaded is None:
            continue
        mask = candidates.doc_ids == doc_id
        clusters = _clusters(
            candidates.query_starts[mask], candidates.protected_starts[mask], channel.window_tokens
        )
        try:
            found = _aligned(
                int(doc_id), loaded, clusters, query, q_list, q_hashes, channel, deadline
            )
        except DocumentGone:  # another writer removed or replaced it since it was loaded
            continue
        regions.extend(_distinct(found))
    return regions


def _aligned(
    doc_id: int,
    loaded: tuple[StoredIds, StoredLines],
    clusters: list[tuple[int, int, int, int]],
    query: QueryChannel,
    q_list: list[int],
    q_hashes: list[int],
    channel: ChannelConfig,
    deadline: float | None,
) -> list[Region]:
    """The regions of one protected document's clusters, aligned with the output's tokens."""
    # Imported here: 12 ms that commands which never verify (index) need not pay.
    from rapidfuzz.distance import Indel

    width, shingle = channel.window_tokens, channel.shingle
    p_ids, p_lines = loaded
    if isinstance(p_ids, PartedIds):  # the parts the alignments read, in one query
        p_ids.hold([(max(0, pa - width), pb + width) for _, _, pa, pb in clusters])
    found: list[Region] = []
    for qa, qb, pa, pb in clusters:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("verification deadline passed")
        qa, qb = max(0, qa - width), min(len(q_list), qb + width)
        pa, pb = max(0, pa - width), min(len(p_ids), pb + width)
        # The edit script's matching blocks are its opcodes' (those were
        # made from it), a fifth sooner.
        blocks = Indel.editops(q_list[qa:qb], p_ids[pa:pb].tolist()).as_matching_blocks()
        spans = [(qa + b.a, pa + b.b, b.size) for b in blocks if b.size >= shingle]
        for merged in _merge(spans, width):
            group = _extend(_trim(merged), q_list, p_ids)
            found.append(_region(doc_id, query, q_hashes, p_lines, group, shingle))
    return found


#: Window pairs up to which `_clusters` groups them in plain Python (about
#: 0.8 us a pair) rather than with numpy (about 70 us, whatever the count):
#: 81% of the documents verified in W2 have at most 64 pairs.
SMALL_CLUSTERING = 64


def _clusters(
    q_starts: np.ndarray, p_starts: np.ndarray, width: int
) -> list[tuple[int, int, int, int]]:
    """Group window pairs that lie on nearby diagonals and touch along the output.

    Returns (query start, query end, protected start, protected end) token
    ranges of the `MAX_CLUSTERS_PER_DOCUMENT` clusters with the most window
    pairs, most first.
    """
    if len(q_starts) == 1:  # one window pair (3% of documents in W2): nothing to group
        q0, p0 = int(q_starts[0]), int(p_starts[0])
        return [(q0, q0 + width, p0, p0 + width)]
    if len(q_starts) <= SMALL_CLUSTERING:
        return _clusters_listed(q_starts.tolist(), p_starts.tolist(), width)
    return _clusters_vectorised(q_starts, p_starts, width)


def _clusters_listed(q: list[int], p: list[int], width: int) -> list[tuple[int, int, int, int]]:
    """`_clusters` of a few pairs, in plain Python (the same clusters, in the same order)."""
    band, previous = 0, None
    banded = []
    for diag, qs, ps in sorted(zip([b - a for a, b in zip(q, p, strict=True)], q, p, strict=True)):
        if previous is not None and diag - previous > width:
            band += 1
        previous = diag
        banded.append((band, qs, ps))
    banded.sort()
    groups: list[list[int]] = []  # [pairs, q_lo, q_hi, p_lo, p_hi]
    last_band, last_q = -1, 0
    for bnd, qs, ps in banded:
        if bnd != last_band or qs - last_q > width:
            current = [0, qs, qs, ps, ps]
            groups.append(current)
        current[0] += 1
        current[2] = qs
        if ps < current[3]:
            current[3] = ps
        elif ps > current[4]:
            current[4] = ps
        last_band, last_q = bnd, qs
    groups.sort(key=lambda g: -g[0])  # stable: ties keep their order
    return [(g[1], g[2] + width, g[3], g[4] + width) for g in groups[:MAX_CLUSTERS_PER_DOCUMENT]]


def _clusters_vectorised(
    q_starts: np.ndarray, p_starts: np.ndarray, width: int
) -> list[tuple[int, int, int, int]]:
    """`_clusters` with numpy, for documents with many window pairs."""
    q = q_starts.astype(np.int64)
    p = p_starts.astype(np.int64)
    diag = p - q
    order = np.lexsort((q, diag))
    breaks = np.zeros(len(order), dtype=bool)
    breaks[1:] = np.diff(diag[order]) > width
    band = np.cumsum(breaks)[np.argsort(order)]  # diagonal group of each pair
    order = np.lexsort((q, band))
    qs, ps, bs = q[order], p[order], band[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (np.diff(bs) != 0) | (np.diff(qs) > width)
    first = np.flatnonzero(starts)
    counts = np.diff(np.append(first, len(order)))
    q_lo = np.minimum.reduceat(qs, first)
    q_hi = np.maximum.reduceat(qs, first) + width
    p_lo = np.minimum.reduceat(ps, first)
    p_hi = np.maximum.reduceat(ps, first) + width
    # Only the clusters verification aligns: against a long document with
    # thousands of clusters, the list of them all took 9 ms a check (W6).
    ranked = np.argsort(-counts, kind="stable")[:MAX_CLUSTERS_PER_DOCUMENT].tolist()
    return [(int(q_lo[i]), int(q_hi[i]), int(p_lo[i]), int(p_hi[i])) for i in ranked]


def _merge(blocks: list[tuple[int, int, int]], gap: int) -> list[list[tuple[int, int, int]]]:
    """Join matching blocks separated by at most `gap` tokens on both sides."""
    groups: list[list[tuple[int, int, int]]] = []
    for block in blocks:
        if groups:
            a, b, size = groups[-1][-1]
            if block[0] - (a + size) <= gap and block[1] - (b + size) <= gap:
                groups[-1].append(block)
                continue
        groups.append([block])
    return groups


def _trim(group: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Drop edge runs of blocks that match fewer tokens than the gap joining them to the rest.

    A few tokens that happen to align across a long gap (a neighbouring
    function's signature) would otherwise stretch the cited span and lines.
    """
    if len(group) == 1:  # 84% of the regions of W2's outputs: nothing to trim
        return group

    def gap(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
        return max(b[0] - (a[0] + a[2]), b[1] - (a[1] + a[2]))

    def leading_cut(blocks: list[tuple[int, int, int]], reverse: bool) -> int:
        cut, mass = 0, 0
        for i in range(len(blocks) - 1):
            mass += blocks[i][2]
            a, b = (blocks[i + 1], blocks[i]) if reverse else (blocks[i], blocks[i + 1])
            if mass < gap(a, b):
                cut, mass = i + 1, 0
        return cut

    group = group[leading_cut(group, False) :]
    tail = leading_cut(group[::-1], True)
    return group[: len(group) - tail] if tail else group


def _extend(
    group: list[tuple[int, int, int]], q_ids: Sequence[int], p_ids: StoredIds
) -> list[tuple[int, int, int]]:
    """Grow the first and last blocks over identical neighbouring tokens.

    Alignment ties can place a region's first tokens elsewhere (then `_trim`
    drops them); the identical tokens right before the region belong to it.
    """
    a, b, size = group[0]
    while a > 0 and b > 0 and q_ids[a - 1] == p_ids[b - 1]:
        a, b, size = a - 1, b - 1, size + 1
    group = [(a, b, size), *group[1:]]
    a, b, size = group[-1]
    while a + size < len(q_ids) and b + size < len(p_ids) and q_ids[a + size] == p_ids[b + size]:
        size += 1
    return [*group[:-1], (a, b, size)]


def _region(
    doc_id: int,
    query: QueryChannel,
    q_hashes: list[int],
    p_lines: StoredLines,
    group: list[tuple[int, int, int]],
    shingle: int,
) -> Region:
    q_first, p_first = group[0][0], group[0][1]
    q_last = group[-1][0] + group[-1][2] - 1
    p_last = group[-1][1] + group[-1][2] - 1
    matched = sum(size for _, _, size in group)
    shingles: list[int] = []
    for a, _, size in group:
        shingles += q_hashes[a : a + size - shingle + 1]
    evidence = len(set(shingles))
    aligned = max(q_last - q_first + 1, p_last - p_first + 1)
    return Region(
        doc_id=doc_id,
        channel=query.channel,
        query_tokens=(q_first, q_last),
        protected_tokens=(p_first, p_last),
        matched=matched,
        evidence=evidence,
        matched_shingles=len(shingles),
        similarity=matched / aligned,
        output_span=(int(query.spans[q_first, 0]), int(query.spans[q_last, 1])),
        source_lines=(p_lines[p_first], p_lines[p_last]),
        blocks=tuple((a, size) for a, _, size in group),
    )


def shingle_positions(region: Region, shingle: int) -> np.ndarray:
    """Query shingle positions lying wholly inside the region's matching blocks."""
    parts = [np.arange(a, a + size - shingle + 1) for a, size in region.blocks if size >= shingle]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def weighted_evidence(
    region: Region, q_hashes: Sequence[int], weights: Sequence[float], shingle: int
) -> float:
    """Distinct matched shingles, each counted with its weight (rarity, exemptions).

    A shingle repeated in the output counts once, at its first position. The
    sum is exact (`math.fsum`), so the order of summing cannot change it.
    Lists, not arrays: a region holds tens of shingles, where numpy's fixed
    cost per call made this (with the region's copy) a tenth of checking code (W2).
    """
    hashes: list[int] = []
    chosen: list[float] = []
    for a, size in region.blocks:
        if size >= shingle:
            hashes += q_hashes[a : a + size - shingle + 1]
            chosen += weights[a : a + size - shingle + 1]
    # Built backwards, each hash keeps the weight at its first position.
    first = dict(zip(reversed(hashes), reversed(chosen), strict=True))
    return math.fsum(first.values())


def _distinct(regions: list[Region]) -> list[Region]:
    """Drop regions of one document that mostly repeat a stronger one."""
    kept: list[Region] = []
    for region in sorted(regions, key=lambda r: -r.evidence):
        a, b = region.query_tokens
        duplicate = False
        for other in kept:
            lo = max(a, other.query_tokens[0])
            hi = min(b, other.query_tokens[1])
            if hi >= lo and (hi - lo + 1) > 0.5 * (b - a + 1):
                duplicate = True
                break
        if not duplicate:
            kept.append(region)
    return kept
