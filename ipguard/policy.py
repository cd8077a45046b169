"""decide: verified regions -> a Verdict, and the filtered text that follows from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .config import Action, Policy
from .model import Match, Verdict
from .stores import DocumentInfo
from .verify import Region

SEVERITY: dict[str, int] = {"allow": 0, "flag": 1, "redact": 2, "block": 3}


def region_action(region: Region, channel_tokens: int, policy: Policy) -> Action:
    """What one verified region calls for under `policy` (before per-source overrides)."""
    strength = region_strength(region, channel_tokens, policy)
    if strength == "strong":
        return policy.action
    if strength == "weak" and policy.action != "allow":
        return "flag"
    return "allow"


def region_strength(region: Region, channel_tokens: int, policy: Policy) -> str:
    """ "strong" (enough evidence to act), "weak" (worth a flag) or "none"."""
    if region.similarity < policy.min_similarity:
        return "none"
    needed = policy.min_code_evidence if region.channel == "code" else policy.min_text_evidence
    first, last = region.query_tokens
    coverage = (last - first + 1) / max(channel_tokens, 1)
    # Repetitive structure (a run of one-line class declarations) is not the
    # signature of a copy: the short rule wants mostly distinct shingles.
    distinct = region.evidence / max(region.matched_shingles, 1)
    strong = region.evidence >= needed or (
        region.evidence >= policy.min_short_evidence
        and coverage >= policy.short_coverage
        and region.similarity >= policy.short_similarity
        and distinct >= policy.short_distinct
    )
    if strong:
        return "strong"
    if region.evidence >= policy.flag_ratio * needed:
        return "weak"
    return "none"


def decide(
    regions: Sequence[Region],
    channel_tokens: Mapping[str, int],
    documents: Mapping[int, DocumentInfo],
    policy: Policy,
    notes: Sequence[str] = (),
) -> Verdict:
    """The verdict on an output: the most severe action any region calls for."""
    matches: list[Match] = []
    score = 0.0
    for region in regions:
        info = documents.get(region.doc_id)
        if info is None or info.role == "allow":  # removed meanwhile, or allowed content
            continue
        strength = region_strength(region, channel_tokens.get(region.channel, 0), policy)
        chosen = policy.action_for(info.license, info.source_name)
        if strength == "strong":
            action: Action = chosen
        elif strength == "weak" and chosen != "allow":
            action = "flag"
        else:
            continue
        if action == "allow":
            continue
        needed = policy.min_code_evidence if region.channel == "code" else policy.min_text_evidence
        score = max(score, min(1.0, region.evidence / needed) * region.similarity)
        matches.append(
            Match(
                source=info.source,
                license=info.license,
                source_name=info.source_name,
                channel=region.channel,
                similarity=region.similarity,
                evidence=region.evidence,
                output_span=region.output_span,
                source_lines=region.source_lines,
                action=action,
            )
        )
    # Strongest first: the match that explains the verdict leads the report.
    matches.sort(key=lambda m: (-SEVERITY[m.action], -m.evidence, m.output_span))
    verdict_action: Action = "allow"
    for m in matches:
        if SEVERITY[m.action] > SEVERITY[verdict_action]:
            verdict_action = m.action
    return Verdict(action=verdict_action, score=score, matches=tuple(matches), notes=tuple(notes))


def redact(text: str, matches: Sequence[Match], marker: str) -> str:
    """`text` with the output spans of `matches` replaced by `marker` (overlaps merged).

    >>> m = Match("s", None, None, "text", 1.0, 30, (6, 11), (1, 1), "redact")
    >>> redact("hello world!", [m], "[x]")
    'hello [x]!'
    """
    spans = sorted(m.output_span for m in matches)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out = []
    pos = 0
    for start, end in merged:
        out.append(text[pos:start])
        out.append(marker)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def apply(text: str, verdict: Verdict, policy: Policy, action: Action | None = None) -> str:
    """The text a user may see: unchanged, redacted, or replaced by the block message.

    `action` overrides what acting matches do (as `ipguard filter --action`).
    """
    acting = [m for m in verdict.matches if m.action in ("redact", "block")]
    if not acting:
        return text
    chosen = action or ("block" if verdict.action == "block" else "redact")
    if chosen == "block":
        return policy.block_message
    if chosen == "redact":
        return redact(text, acting, policy.redact_marker)
    return text
