"""normalize: Document text -> code and prose token channels with character spans.

This stage owns tree-sitter; nothing else in ipguard imports it.
"""

from __future__ import annotations

import re

import numpy as np

from ..model import Kind, NormalizedDocument, TokenStream
from . import languages
from .code import code_tokens
from .lexical import lexical_tokens
from .markdown import has_fence, split_markdown
from .text import Tokens, ascii_word_spans, word_spans

__all__ = ["normalize", "detect_kind", "detect_language", "languages"]

_CODE_LINE = re.compile(
    r"""^\s*(?:
        (?:def|class|import|from|return|if|elif|else|for|while|try|except|with|fn|func|let|
           const|var|function|public|private|protected|static|package|use|struct|impl|
           \#include|\#define|template|namespace|switch|case)\b
      | [}{)\]]
      | @\w+
    )|[;{}:,(\[]\s*$|^\s*(?://|/\*|\*|\#)""",
    re.VERBOSE,
)

#: Characters of a long line's start and end that `detect_kind` looks at.
_LINE_ENDS = 200

_HINTS: tuple[tuple[str, str], ...] = (
    ("python", r"^\s*(def |class \w+.*:\s*$|import \w+$|from \S+ import |elif |print\()"),
    ("go", r"^\s*(package \w+$|func [\w(]|\w+ := )"),
    ("rust", r"^\s*(fn \w+|let mut |impl |pub fn |use \w+::)|->\s*\w+\s*\{|&mut "),
    (
        "java",
        r"^\s*(public |private |protected )?(static )?(final )?class \w+|System\.out\.|@Override",
    ),
    ("cpp", r"^\s*#include\s*<(iostream|vector|string|map|memory|algorithm)>|std::|template\s*<"),
    ("c", r"^\s*#include\s*[<\"]|\bprintf\(|\bmalloc\(|\bsizeof\("),
    ("typescript", r":\s*(string|number|boolean|void)\b|^\s*interface \w+|^\s*export type "),
    ("javascript", r"^\s*(const|let|var) \w+\s*=|=>|function\s*\w*\(|console\.log|require\("),
)


def detect_kind(text: str) -> Kind:
    """Guess whether an unlabelled input is markdown, code or prose."""
    if has_fence(text):
        return "markdown"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "text"
    sample = lines[:400]
    code_like = sum(1 for ln in sample if _code_line(ln))
    # Half of the lines looking like code separates source files from prose;
    # prose lines rarely end in ;{}:, or start with a keyword.
    return "code" if code_like >= 0.5 * len(sample) else "text"


def _code_line(line: str) -> bool:
    """Whether a line looks like code: its start and its end decide.

    A long line is searched at both ends only: a paragraph kept on one line
    (21 KB) took 0.6 ms per search, a twentieth of indexing it.
    """
    if len(line) <= 2 * _LINE_ENDS:
        return _CODE_LINE.search(line) is not None
    return bool(_CODE_LINE.search(line[:_LINE_ENDS]) or _CODE_LINE.search(line[-_LINE_ENDS:]))


def detect_language(code: str) -> str | None:
    """Guess the language of a code snippet from telltale constructs, or None."""
    scores: dict[str, int] = {}
    for name, pattern in _HINTS:
        hits = len(re.findall(pattern, code[:20000], re.MULTILINE))
        if hits:
            scores[name] = hits
    if not scores:
        return None
    if "cpp" in scores and "c" in scores:
        scores["cpp"] += scores["c"]
    if "typescript" in scores and "javascript" in scores:
        scores["typescript"] += scores["javascript"]
    return max(scores, key=lambda n: scores[n])


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
    None); `language` names the code language (guessed when None or unknown,
    lexical fallback when no grammar fits). Never raises on bad input.

    >>> doc = normalize("def add(a, b):\\n    return a + b\\n", language="python")
    >>> doc.code.tokens
    ('def', '$v', '(', '$v', '$v', ')', ':', 'return', '$v', '+', '$v')
    """
    code = Tokens()
    # Prose words of a long ASCII text (most code files) are their spans of
    # the text lowercased (see Tokens); a short one's are looked up faster
    # as strings.
    folded = len(text) >= FOLDED_PROSE_CHARS and text.isascii()
    prose = Tokens(text.lower().encode("ascii") if folded else None)
    notes: list[str] = []
    if kind is None:
        kind = "code" if language and languages.lookup(language) else detect_kind(text)
    if kind == "markdown":
        for seg in split_markdown(text):
            if seg.kind == "code":
                _code(text, seg.start, seg.end, seg.language_tag, code, prose, notes)
            else:
                prose.extend(*word_spans(text, seg.start, seg.end, words=prose.folded is None))
    elif kind == "code":
        _code(text, 0, len(text), language, code, prose, notes)
    else:  # plain prose: the words are the stream, already in order
        if text.isascii():
            spans, folded = ascii_word_spans(text)
            stream = TokenStream("text", None, spans, folded)
        else:
            words, spans = word_spans(text)
            stream = TokenStream("text", tuple(words), spans)
        return NormalizedDocument(TokenStream.empty("code"), stream, ())
    return NormalizedDocument(_stream("code", code), _stream("text", prose), tuple(notes))


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
    if spec is None:
        guessed = detect_language(text[start:end])
        spec = languages.lookup(guessed)
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
