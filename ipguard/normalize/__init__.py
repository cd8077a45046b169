"""normalize: Document text -> code and prose token channels with character spans.

This stage owns tree-sitter; nothing else in ipguard imports it.
"""

from __future__ import annotations

import numpy as np

from ..model import Kind, NormalizedDocument, TokenStream
from . import languages
from .code import code_tokens
from .detect import detect_kind, detect_language
from .lexical import lexical_tokens
from .listing import without_line_numbers
from .markdown import indented_blocks, split_markdown
from .text import Tokens, ascii_word_spans, word_spans

__all__ = ["normalize", "detect_kind", "detect_language", "languages"]

#: Texts from which prose words are taken as spans rather than strings. A
#: fixed cost per text (numpy calls), against one per word: 2 KB outputs
#: (W2) took 2.4% more instructions that way, 60 standard-library modules
#: (17 KB on average) 3.5% fewer.
FOLDED_PROSE_CHARS = 8192


def normalize(
    text: str, *, kind: Kind | None = None, language: str | None = None
) -> NormalizedDocument:
    """Normalize `text` into code and prose token channels.

    `kind` says how to read it ("code", "text" or "markdown"; guessed when
    None); `language` names the code language (guessed when None or unknown).
    The lexical tokenizer reads languages without a grammar here
    (`languages.lexical_language`) and code no grammar fits. Never raises on
    bad input.

    >>> doc = normalize("def add(a, b):\\n    return a + b\\n", language="python")
    >>> doc.code.tokens
    ('def', '$v', '(', '$v', '$v', ')', ':', 'return', '$v', '+', '$v')
    """
    notes: list[str] = []
    if kind in (None, "code"):
        listing = without_line_numbers(text)
        if listing is not None:
            known = kind or languages.lookup(language) or languages.lexical_language(language)
            if known or detect_kind(listing) == "code":
                text, kind = listing, "code"
                notes.append("line numbers ignored")
    if kind is None:
        known = languages.lookup(language) or languages.lexical_language(language)
        kind = "code" if known else detect_kind(text)
    code = Tokens()
    # Prose words of a long ASCII text (most code files) are their spans of
    # the text lowercased (see Tokens); a short one's are looked up faster
    # as strings.
    folded = len(text) >= FOLDED_PROSE_CHARS and text.isascii()
    prose = Tokens(text.lower().encode("ascii") if folded else None)
    if kind == "markdown":
        for seg in split_markdown(text):
            if seg.kind == "code":
                _code(text, seg.start, seg.end, seg.language_tag, code, prose, notes)
            else:
                _prose(
                    text,
                    seg.start,
                    seg.end,
                    _code_blocks(text, seg.start, seg.end),
                    code,
                    prose,
                    notes,
                )
    elif kind == "code":
        _code(text, 0, len(text), language, code, prose, notes)
    elif blocks := _code_blocks(text, 0, len(text)):
        _prose(text, 0, len(text), blocks, code, prose, notes)
    else:  # plain prose: the words are the stream, already in order
        if text.isascii():
            spans, folded = ascii_word_spans(text)
            stream = TokenStream("text", None, spans, folded)
        else:
            words, spans = word_spans(text)
            stream = TokenStream("text", tuple(words), spans)
        return NormalizedDocument(TokenStream.empty("code"), stream, ())
    return NormalizedDocument(_stream("code", code), _stream("text", prose), tuple(notes))


def _code_blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The indented blocks of prose `text[start:end]` that read as code.

    An answer's or a README's code indented between paragraphs, without a
    fence, had been read as prose words: a copy in it never met its original.
    """
    return [
        (s, e) for s, e in indented_blocks(text, start, end) if detect_kind(text[s:e]) == "code"
    ]


def _prose(
    text: str,
    start: int,
    end: int,
    blocks: list[tuple[int, int]],
    code: Tokens,
    prose: Tokens,
    notes: list[str],
) -> None:
    """Prose words of `text[start:end]`, but for its code `blocks`, normalized as code."""
    at = start
    for block_start, block_end in blocks:
        prose.extend(*word_spans(text, at, block_start, words=prose.folded is None))
        _code(text, block_start, block_end, None, code, prose, notes)
        at = block_end
    prose.extend(*word_spans(text, at, end, words=prose.folded is None))


def _code(
    text: str,
    start: int,
    end: int,
    language: str | None,
    code: Tokens,
    prose: Tokens,
    notes: list[str],
) -> None:
    spec = languages.lookup(language)
    if spec is None and languages.lexical_language(language):
        # Known, without a grammar: never guessed as another language, which
        # would read it otherwise than its indexed original was read.
        lexical_tokens(text, start, end, code, prose)
        return
    if spec is None:
        spec = languages.lookup(detect_language(text[start:end]))
        if spec is None:
            if language:
                notes.append(f"unknown language {language!r}; lexical fallback used")
            lexical_tokens(text, start, end, code, prose)
            return
    note = code_tokens(text, start, end, spec, code, prose)
    if note:
        notes.append(note)


def _stream(channel: str, collected: Tokens) -> TokenStream:
    if not collected.count:
        return TokenStream.empty(channel)  # type: ignore[arg-type]
    spans = collected.spans()
    starts = spans[:, 0]
    ordered = bool((starts[1:] >= starts[:-1]).all())  # most inputs
    order = None if ordered else np.argsort(starts, kind="stable")  # code and comments interleave
    if collected.wordless:
        in_order = spans if order is None else spans[order]
        return TokenStream(channel, None, in_order, collected.folded)  # type: ignore[arg-type]
    words = collected.words()
    if order is None:
        return TokenStream(channel, tuple(words), spans)  # type: ignore[arg-type]
    return TokenStream(channel, tuple([words[i] for i in order.tolist()]), spans[order])  # type: ignore[arg-type]
