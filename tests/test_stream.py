"""The streaming guard and the regeneration helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import PROTECTED_PROSE
from samples import disguise

from ipguard import Guard, Policy
from ipguard.stream import GuardedStream, generate_safely, openai_text

NOVEL = " ".join(
    f"Sentence {i} describes the weather over the allotments and the price of seed potatoes."
    for i in range(12)
)


def _words(text: str) -> Iterator[str]:
    parts = text.split(" ")
    for i, word in enumerate(parts):
        yield word if i == len(parts) - 1 else word + " "


@pytest.fixture()
def guard(built_index: Path) -> Iterator[Guard]:
    with Guard.open(str(built_index)) as g:
        yield g


def test_novel_stream_passes_through_unchanged(guard: Guard) -> None:
    stream = GuardedStream(guard, _words(NOVEL), check_every=50)
    pieces = list(stream)
    assert "".join(pieces) == NOVEL
    assert len(pieces) > 3  # released progressively, not all at the end
    assert stream.verdict == guard.check(NOVEL)


def test_block_stops_as_soon_as_protected_content_appears(guard: Guard) -> None:
    pulled = 0
    text = NOVEL + " " + PROTECTED_PROSE + " " + NOVEL

    def counting() -> Iterator[str]:
        nonlocal pulled
        for word in _words(text):
            pulled += 1
            yield word

    stream = GuardedStream(guard, counting(), check_every=40)
    shown = "".join(stream)
    assert shown.endswith(guard.policy.block_message)
    assert "cartographers" not in shown and "lead lines" not in shown
    assert stream.stopped and pulled < len(text.split(" "))  # generation stopped early
    assert stream.verdict == guard.check(stream.received)
    assert guard.check(text).action == "block"


def test_redact_mode_equals_filtering_the_whole_text(built_index: Path) -> None:
    text = NOVEL + " " + PROTECTED_PROSE + " " + NOVEL
    with Guard.open(str(built_index), policy=Policy(action="redact")) as guard:
        stream = GuardedStream(guard, _words(text), check_every=30)
        shown = "".join(stream)
        assert shown == guard.filter(text)
        assert "[ipguard: redacted]" in shown and shown.startswith("Sentence 0")
        assert stream.verdict == guard.check(text)


def test_code_in_a_streamed_markdown_answer_is_blocked(guard: Guard) -> None:
    answer = "Here is an implementation:\n\n```go\n" + disguise("go") + "\n```\n"
    chunks = [answer[i : i + 7] for i in range(0, len(answer), 7)]
    stream = GuardedStream(guard, chunks, check_every=64)
    assert "".join(stream).endswith(guard.policy.block_message)
    assert stream.verdict is not None and stream.verdict.action == "block"


def test_openai_style_chunks_faked_locally(guard: Guard) -> None:
    def fake_completion(text: str) -> Iterator[object]:
        yield {"choices": [{"delta": {"role": "assistant"}}]}
        for i, word in enumerate(_words(text)):
            delta = {"content": word}
            yield (
                {"choices": [{"delta": delta}]}
                if i % 2
                else SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=word))])
            )
        yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}

    stream = GuardedStream(guard, openai_text(fake_completion(NOVEL)))
    assert "".join(stream) == NOVEL
    blocked = GuardedStream(guard, openai_text(fake_completion(PROTECTED_PROSE)))
    assert "".join(blocked) == guard.policy.block_message


def test_regeneration_retries_then_falls_back(guard: Guard) -> None:
    calls: list[int] = []

    def flaky(attempt: int) -> str:
        calls.append(attempt)
        return PROTECTED_PROSE if attempt < 2 else NOVEL

    result = generate_safely(guard, flaky, attempts=3)
    assert (result.text, result.attempts, result.fell_back) == (NOVEL, 2, False)
    assert calls == [1, 2]
    stuck = generate_safely(guard, lambda attempt: PROTECTED_PROSE, attempts=2)
    assert stuck.fell_back and stuck.attempts == 2 and stuck.text == guard.policy.block_message
    assert stuck.verdict.action == "block"
