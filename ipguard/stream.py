"""Guarding generation pipelines: a streaming guard and a regeneration helper.

`GuardedStream` wraps the iterator of text chunks an LLM streams and yields
text only once it is known to be safe: it holds back the last windows' worth
of tokens (a copy could still be starting there) and any span that already
aligns with protected material, and stops or redacts as soon as protected
content is confirmed. Its verdict equals `Guard.check` on the text received.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .config import Action
from .guard import Analysis, Guard
from .model import Kind, Match, Verdict
from .policy import redact

#: Characters received between two checks of the growing text: checking after
#: every token would cost a full analysis per token.
DEFAULT_CHECK_EVERY = 256


class GuardedStream:
    """Safe text from a stream of chunks; iterate it once.

    >>> import os, tempfile
    >>> from ipguard import Guard
    >>> path = os.path.join(tempfile.mkdtemp(), "s.ipguard.db")
    >>> secret = " ".join(f"verse {i} of the sealed ledger tells of tides" for i in range(8))
    >>> intro = " ".join(f"plain word {i}" for i in range(60))
    >>> with Guard.open(path, create=True) as guard:
    ...     _ = guard.index_texts([("ledger", secret)])
    ...     words = (intro + " " + secret).split(" ")
    ...     stream = GuardedStream(guard, (w + " " for w in words), check_every=40)
    ...     shown = "".join(stream)
    >>> shown.startswith("plain word 0 plain word 1"), shown.endswith("protected material]")
    (True, True)
    >>> "sealed" in shown, stream.verdict.action
    (False, 'block')
    """

    def __init__(
        self,
        guard: Guard,
        chunks: Iterable[str],
        *,
        kind: Kind | None = None,
        language: str | None = None,
        action: Action | None = None,
        check_every: int = DEFAULT_CHECK_EVERY,
    ) -> None:
        self.guard = guard
        self.chunks = chunks
        self.kind = kind
        self.language = language
        self.action: Action = action or guard.policy.action
        self.check_every = max(1, check_every)
        self.received = ""
        self.emitted = 0  # characters of `received` already released
        self.verdict: Verdict | None = None
        self.stopped = False
        config = guard.index.config
        # A region can still grow over the last window plus the merge gap.
        self._hold_tokens = {
            "code": 2 * config.code.window_tokens,
            "text": 2 * config.text.window_tokens,
        }

    def __iter__(self) -> Iterator[str]:
        pending = 0
        for chunk in self.chunks:
            if not chunk:
                continue
            self.received += chunk
            pending += len(chunk)
            if pending >= self.check_every:
                pending = 0
                yield from self._release(final=False)
                if self.stopped:
                    return
        yield from self._release(final=True)

    def _release(self, *, final: bool) -> Iterator[str]:
        analysis = self.guard.analyse(self.received, kind=self.kind, language=self.language)
        verdict = self.guard.decide(analysis)
        acting = [m for m in verdict.matches if m.action in ("block", "redact")]
        if acting and (
            self.action == "block" or verdict.action == "block" and self.action != "redact"
        ):
            self.verdict = verdict
            self.stopped = True
            yield self.guard.policy.block_message
            return
        end = len(self.received) if final else self._safe_end(analysis)
        for m in acting:  # a confirmed copy still growing is held until it is closed
            if not final and m.output_span[1] > end:
                end = min(end, m.output_span[0])
        end = max(end, self.emitted)
        if end > self.emitted:
            spans = [
                m for m in acting if m.output_span[1] > self.emitted and m.output_span[0] < end
            ]
            piece = self._redacted(self.emitted, end, spans)
            self.emitted = end
            if piece:
                yield piece
        if final:
            self.verdict = verdict

    def _safe_end(self, analysis: Analysis) -> int:
        end = len(self.received)
        for channel, spans in analysis.channel_spans.items():
            if len(spans) == 0:
                continue
            hold = self._hold_tokens[channel]
            end = min(end, int(spans[max(0, len(spans) - hold), 0]))
            for region in analysis.regions:
                if region.channel == channel and region.query_tokens[1] >= len(spans) - hold:
                    end = min(end, region.output_span[0])
        return end

    def _redacted(self, start: int, end: int, matches: list[Match]) -> str:
        text = self.received[start:end]
        if not matches:
            return text
        shifted = [
            dataclasses.replace(
                m,
                output_span=(
                    max(m.output_span[0], start) - start,
                    min(m.output_span[1], end) - start,
                ),
            )
            for m in matches
        ]
        return redact(text, shifted, self.guard.policy.redact_marker)


def openai_text(chunks: Iterable[Any]) -> Iterator[str]:
    """The text deltas of an OpenAI-style chat-completion stream (objects or dicts)."""
    for chunk in chunks:
        choices = chunk["choices"] if isinstance(chunk, dict) else getattr(chunk, "choices", [])
        for choice in choices or []:
            delta = choice["delta"] if isinstance(choice, dict) else getattr(choice, "delta", None)
            if delta is None:
                continue
            content = (
                delta.get("content") if isinstance(delta, dict) else getattr(delta, "content", None)
            )
            if content:
                yield content


@dataclass(frozen=True)
class Regenerated:
    """The outcome of `generate_safely`."""

    text: str
    verdict: Verdict
    attempts: int
    fell_back: bool


def generate_safely(
    guard: Guard,
    generate: Callable[[int], str],
    *,
    attempts: int = 3,
    kind: Kind | None = None,
    language: str | None = None,
) -> Regenerated:
    """Call `generate(attempt)` until an output is not blocked, at most `attempts` times.

    A redacting verdict returns the redacted text; after the last blocked
    attempt the policy's block message is returned instead.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    from .policy import apply

    verdict: Verdict | None = None
    for attempt in range(1, attempts + 1):
        text = generate(attempt)
        verdict = guard.check(text, kind=kind, language=language)
        if verdict.action != "block":
            return Regenerated(apply(text, verdict, guard.policy), verdict, attempt, False)
    assert verdict is not None
    return Regenerated(guard.policy.block_message, verdict, attempts, True)
