"""Immutable, validated settings.

`IndexConfig` fixes how windows and sketches are built; it is written into the
index and a mismatch is refused. `Policy` decides what a verified match means;
it is applied at check time and may differ between callers of one index.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Literal

from ._version import __version__

#: datasketch's choice for the default settings, so that building an index
#: does not import it: its LSH module imports scipy, 0.6 s of every `ipguard
#: index` run. A test checks each entry against datasketch.
KNOWN_OPTIMA: dict[tuple[float, int], tuple[int, int]] = {(0.35, 64): (21, 3)}


@cache
def _optimal_bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's choice of LSH bands and rows (it integrates numerically: cached)."""
    known = KNOWN_OPTIMA.get((threshold, num_perm))
    if known is not None:
        return known
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


Action = Literal["allow", "flag", "redact", "block"]
ACTIONS: tuple[Action, ...] = ("allow", "flag", "redact", "block")

#: Bumped whenever normalization output changes, or which language a file is read
#: as (7: C++ headers named .h, .tcc and the like, scripts by their #! line; 8:
#: unlabelled text guessed anew, PHP without its `<?php` tag parsed as PHP; 9:
#: Perl, Lua, Swift and 19 more languages without a grammar known by extension,
#: label and `#!` line, Perl told from PHP; 10: the lexical tokenizer makes
#: declared names placeholders and reads POD and `--` comments as prose; 11:
#: unlabelled Lua, Swift, Scala and R no longer guessed as Ruby, Go, Kotlin or
#: PHP; 12: numbered listings read without their numbers, a many-line leaf of
#: a grammar's error recovery lexed; 13: a paragraph on one line judged by its
#: sentences, `C++` no longer code; 14: each character of Chinese, Japanese,
#: Thai and other unspaced scripts a word; 15: a parse past its work budget or
#: nesting bound read lexically; 16: code indented between paragraphs of prose
#: or markdown read as code), so old indexes are refused.
NORMALIZER_VERSION = 16


@dataclass(frozen=True)
class ChannelConfig:
    """Shingling and windowing of one token channel (code or prose).

    Windows of about 24 shingles for code and 16 words for prose found
    candidates that windows of 40 missed (MEASURED.md, point 5). The query
    stride is smaller than the index stride so that every copied fragment of a
    window's length overlaps some protected window almost exactly.
    """

    shingle: int
    window: int
    index_stride: int
    query_stride: int

    def __post_init__(self) -> None:
        for name in ("shingle", "window", "index_stride", "query_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.query_stride > self.index_stride:
            raise ValueError("query_stride must not exceed index_stride")
        if self.index_stride > self.window:
            raise ValueError("index_stride must not exceed window (windows would leave gaps)")

    @property
    def window_tokens(self) -> int:
        """Tokens covered by one full window."""
        return self.window + self.shingle - 1


DEFAULT_CODE_CHANNEL = ChannelConfig(shingle=4, window=24, index_stride=8, query_stride=4)
DEFAULT_TEXT_CHANNEL = ChannelConfig(shingle=3, window=16, index_stride=6, query_stride=3)


@dataclass(frozen=True)
class IndexConfig:
    """Everything that fixes the content of an index.

    >>> cfg = IndexConfig()
    >>> (cfg.bands, cfg.rows, cfg.num_perm)
    (21, 3, 64)
    """

    num_perm: int = 64
    seed: int = 1
    # LSH threshold 0.35: thresholds of 0.3-0.4 on ~24-shingle windows found the
    # candidates that verification needs (MEASURED.md, point 5).
    lsh_threshold: float = 0.35
    code: ChannelConfig = DEFAULT_CODE_CHANNEL
    text: ChannelConfig = DEFAULT_TEXT_CHANNEL
    #: LSH bands and rows; None chooses them with datasketch's optimal-parameter
    #: method. An index stores the pair, so opening one never recomputes it
    #: (that integration and the scipy import cost about 0.5 s per process).
    lsh_bands: int | None = None
    lsh_rows: int | None = None

    def __post_init__(self) -> None:
        if (self.lsh_bands is None) != (self.lsh_rows is None):
            raise ValueError("give both lsh_bands and lsh_rows, or neither")
        if self.lsh_bands is not None and self.lsh_rows is not None:
            if self.lsh_bands < 1 or self.lsh_rows < 1:
                raise ValueError("lsh_bands and lsh_rows must be positive")
            if self.lsh_bands * self.lsh_rows > self.num_perm:
                raise ValueError("lsh_bands * lsh_rows must not exceed num_perm")
        if not 8 <= self.num_perm <= 1024:
            raise ValueError("num_perm must be between 8 and 1024")
        if not 0.0 < self.lsh_threshold < 1.0:
            raise ValueError("lsh_threshold must be between 0 and 1")

    @property
    def bands_rows(self) -> tuple[int, int]:
        """(bands, rows): as given, else from datasketch's optimal-parameter method."""
        if self.lsh_bands is not None and self.lsh_rows is not None:
            return self.lsh_bands, self.lsh_rows
        return _optimal_bands_rows(self.lsh_threshold, self.num_perm)

    @property
    def bands(self) -> int:
        return self.bands_rows[0]

    @property
    def rows(self) -> int:
        return self.bands_rows[1]

    def channel(self, name: str) -> ChannelConfig:
        """The settings of channel `name` ("code" or "text")."""
        if name == "code":
            return self.code
        if name == "text":
            return self.text
        raise ValueError(f"unknown channel {name!r}")

    def to_record(self) -> dict[str, object]:
        """The manifest written into an index; compared on every open."""
        bands, rows = self.bands_rows
        return {
            "ipguard_version": __version__,
            "normalizer_version": NORMALIZER_VERSION,
            "num_perm": self.num_perm,
            "seed": self.seed,
            "lsh_threshold": self.lsh_threshold,
            "bands": bands,
            "rows": rows,
            "hash_scheme": "affine32",
            "code": dataclasses.asdict(self.code),
            "text": dataclasses.asdict(self.text),
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> IndexConfig:
        """Rebuild the configuration an index was written with."""
        code = record["code"]
        text = record["text"]
        assert isinstance(code, dict) and isinstance(text, dict)
        return cls(
            num_perm=int(record["num_perm"]),  # type: ignore[arg-type]
            seed=int(record["seed"]),  # type: ignore[arg-type]
            lsh_threshold=float(record["lsh_threshold"]),  # type: ignore[arg-type]
            code=ChannelConfig(**code),
            text=ChannelConfig(**text),
            lsh_bands=int(record["bands"]),  # type: ignore[arg-type]
            lsh_rows=int(record["rows"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Policy:
    """What a verified match means for an output.

    The minimum evidence is counted in distinct matched shingles of normalized
    tokens (MEASURED.md, point 2: distinct matched structure rather than matched
    tokens cut false positives on novel code from 4.7% to 1.0%).
    """

    #: Action taken on outputs with a match that reaches the block evidence.
    action: Action = "block"
    #: Distinct matched code shingles (4 tokens each) needed to act. Swept on
    #: bench/accuracy.py --sweep (6..32; Python, C, C++, JavaScript, TypeScript;
    #: 2,336 novel functions; no background; shared-structure cap 8): 20 blocks
    #: 0.39% of novel code (with min_short_evidence 16) and catches 0.96 of
    #: partial and 0.93 of edited copies; 24 blocks 0.30% but catches 0.93 and
    #: 0.90; 16 blocks 2.8% (bench/reports/accuracy.md).
    min_code_evidence: int = 20
    #: Distinct matched word shingles (3 words each) needed to act. On the same
    #: sweep no novel paragraph (of 1,000) reached 10; 12 keeps 0.99 of verbatim
    #: and 0.98 of substituted paragraphs, 15 loses verbatim ones (0.987).
    min_text_evidence: int = 12
    #: A shorter match still counts when it covers this share of the output
    #: channel and of the protected document (a copied small function or short
    #: paragraph; MEASURED.md, point 4).
    short_coverage: float = 0.8
    #: Floor on evidence for the coverage rule, so one-liners never block. On the
    #: same sweep 12 and 16 block none of the 240 boilerplate cases (10 blocks
    #: 13%: property pairs, main guards); 16 blocks less novel code at evidence
    #: 20 (0.39% vs 0.51%) for 0.6 points of edited copies.
    min_short_evidence: int = 16
    #: Similarity a short match needs: it must be a near-exact copy.
    short_similarity: float = 0.8
    #: Share of a short match's shingles that must be distinct. A file of
    #: exception classes (`class $v ( $v ) :` repeated) matched another with 17
    #: distinct of 63 shingles (0.27) and blocked; copied functions sit near 1.
    #: Checked on bench/accuracy.py --sweep (see the commit).
    short_distinct: float = 0.5
    #: Matched tokens / aligned tokens a region needs to count at all.
    min_similarity: float = 0.5
    #: Matches with at least this share of the minimum evidence are flagged.
    flag_ratio: float = 0.75
    block_message: str = "[ipguard: output withheld because it reproduces protected material]"
    redact_marker: str = "[ipguard: redacted]"
    #: Inputs larger than this are refused with a reason, never half-checked.
    max_input_bytes: int = 4 * 1024 * 1024
    #: A check that takes longer is abandoned with an error, never an allow.
    #: Normalization costs at most ~9 s per MB on pathological input (tests/test_faults.py).
    max_check_seconds: float = 60.0
    #: Background corpus file (`ipguard background`): matched structure common
    #: in public code weighs less. None: every matched shingle weighs 1.
    background: str | None = None
    #: A shingle found in `df` background documents weighs min(1, rarity_scale / df).
    rarity_scale: float = 2.0
    #: Output structure matching this many protected documents is common
    #: structure, not a copy of any one of them: it stops counting.
    common_across_documents: int = 8
    #: Weight of a code shingle made only of placeholders, literals and
    #: punctuation (`$v [ $v - $n ]`), structure unrelated code shares (an index
    #: walk-back, a slice). Off by default: on bench/accuracy.py --sweep at 0.5
    #: it traded recall for false positives no better than a higher threshold
    #: does (evidence 18: novel code 0.51%, partial 0.950; evidence 20: 0.26%,
    #: 0.934; against 0.39%, 0.959 at 20 unweighted).
    anonymous_weight: float = 1.0
    #: (licence glob, action) pairs: what a match against material under that
    #: licence does, e.g. block copyleft and flag permissive sources.
    license_actions: tuple[tuple[str, str], ...] = ()
    #: (source-name glob, action) pairs; they take precedence over licences.
    source_actions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        if not 0.0 <= self.min_similarity <= 1.0 or not 0.0 < self.short_coverage <= 1.0:
            raise ValueError("similarity and coverage must be within 0..1")
        if self.min_code_evidence < 1 or self.min_text_evidence < 1:
            raise ValueError("minimum evidence must be at least 1")
        if not 0.0 <= self.short_distinct <= 1.0:
            raise ValueError("short_distinct must be within 0..1")
        if not 0.0 <= self.anonymous_weight <= 1.0:
            raise ValueError("anonymous_weight must be within 0..1")
        if self.max_input_bytes < 1 or self.max_check_seconds <= 0:
            raise ValueError("max_input_bytes and max_check_seconds must be positive")
        for _pattern, action in (*self.license_actions, *self.source_actions):
            if action not in ACTIONS:
                raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")

    def action_for(self, license: str | None, source_name: str | None) -> Action:
        """The action a strong match takes, after per-source and per-licence overrides."""
        from fnmatch import fnmatchcase

        for pattern, action in self.source_actions:
            if source_name is not None and fnmatchcase(source_name, pattern):
                return action  # type: ignore[return-value]
        for pattern, action in self.license_actions:
            if license is not None and fnmatchcase(license, pattern):
                return action  # type: ignore[return-value]
        return self.action
