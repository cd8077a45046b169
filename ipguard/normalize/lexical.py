"""Language-agnostic code tokenizer: for languages without a grammar here, and parse failures.

Without a grammar, names are known to be bound only where a declaration shows
it in a way many languages share (`local x`, `my ($a, $b)`, `let x`, `val x`,
`func f(a: Int)`, `function(a, b)`, `for k, v in`, `foreach my $x`, `x = ...`
or `x <- ...` opening a line); those become the same placeholder as in the
tree-sitter normalizer, so that consistent renaming changes nothing. Other
names stay as written; numbers and strings are abstracted and layout is
dropped, as there.
"""

from __future__ import annotations

import re

import numpy as np

from .text import Tokens, words_in_ranges

#: Comments: `//`, `/* */`, `#` or `--` before a space, Lua's `--[[ ]]`, and
#: documentation blocks from a line opening `=word` to `=cut` or `=end`
#: (Perl's POD, Ruby's `=begin`), prose in a code file.
_LEXEME = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z)|(?:(?<=\s)|^)(?:\#|--)(?=\s)[^\n]*|--\[\[.*?(?:\]\]|\Z)
        |^=[a-zA-Z]\w*.*?(?:^=(?:cut|end)\b[^\n]*|\Z))
      |(?P<string>"(?:[^"\\\n]|\\.){0,4000}"|'(?:[^'\\\n]|\\.){0,4000}'|`[^`]{0,4000}`)
      |(?P<number>\d[\w.]*)
      |(?P<name>[^\W\d]\w*)
      |(?P<punct>[^\w\s])""",
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)
#: Strings at least this long are prose (messages, documentation) as well as code.
LONG_STRING = 40
DROPPED = frozenset({",", ";"})


_NEWLINE = re.compile("\n")
PLACEHOLDER = "$v"
#: Words that declare what follows them: a name, a list of names, or (for a
#: function) a name and its parameters.
_DECLARERS = frozenset(
    {"my", "our", "local", "let", "var", "val", "const", "mut", "lazy", "def", "defp", "defn"}
    | {"fn", "func", "fun", "function", "sub", "proc"}
)
_FUNCTIONS = frozenset({"def", "defp", "defn", "fn", "func", "fun", "function", "sub", "proc"})
#: Words never taken for bound names, whatever they follow.
_TRIGGERS = _DECLARERS | {"{", "case", "for", "foreach"}
_RESERVED = frozenset(
    {"if", "else", "elif", "elseif", "elsif", "unless", "then", "end", "do", "in", "for"}
    | {"foreach", "while", "return", "and", "or", "not", "nil", "null", "true", "false"}
    | {"self", "this", "super", "new", "case", "match", "when", "of", "is", "as"}
    | _DECLARERS
)
_SIGILS = frozenset({"$", "@", "%", "&", "*"})
_OPEN = frozenset({"(", "[", "{"})
_CLOSE = frozenset({")", "]", "}"})
#: Lexemes a declared list (parameters, `my (...)`, `<T>`) is read through at
#: most: an unclosed bracket must not make every declaration read to the end
#: of the input (quadratic time).
_LIST_LIMIT = 256
#: Brackets a declared list nests at most (`f(a: Map[K, List[(A, B)]])`).
_LIST_DEPTH = 4
#: What may follow a name in a list of names being declared.
_AFTER_DECLARED = frozenset({",", ")", "]", "}", "=", ":", ";"})


def lexical_tokens(
    text: str,
    start: int,
    end: int,
    code: Tokens,
    prose: Tokens,
) -> None:
    """Append code tokens and prose words of `text[start:end]` to `code` and `prose`."""
    ranges: list[tuple[int, int]] = []
    # Every lexeme but comments, dropped ones too: declarations are read from them.
    kinds: list[str] = []
    texts: list[str] = []
    starts: list[int] = []
    # The tokens, and where each lexeme's token is (-1: dropped).
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    token_of: list[int] = []
    for m in _LEXEME.finditer(text, start, end):
        kind = m.lastgroup or "punct"
        s, e = m.span()
        if kind == "comment":
            ranges.append((s, e))
            continue
        lexeme = m.group()
        kinds.append(kind)
        texts.append(lexeme)
        starts.append(s)
        if kind == "punct" and lexeme in DROPPED:
            token_of.append(-1)
            continue
        token_of.append(len(words))
        if kind == "string":
            words.append("$s")
            if e - s - 2 >= LONG_STRING:
                ranges.append((s + 1, e - 1))
        elif kind == "number":
            words.append("$n")
        else:
            words.append(lexeme)
        spans.append((s, e))
    bound = _bound_names(kinds, texts, starts, _first_on_line(text, start, end, starts))
    if bound:
        for i in [i for i, lexeme in enumerate(texts) if lexeme in bound]:
            if kinds[i] == "name" and not _member(texts, starts, i):
                words[token_of[i]] = PLACEHOLDER
    code.extend(words, np.array(spans, dtype=np.int64).reshape(-1, 2))
    prose.extend(*words_in_ranges(text, ranges, words=prose.folded is None))


def _first_on_line(text: str, start: int, end: int, starts: list[int]) -> list[bool]:
    """Whether each lexeme (at `starts`) is the first of its line."""
    breaks = np.array([m.start() for m in _NEWLINE.finditer(text, start, end)], dtype=np.int64)
    line = np.searchsorted(breaks, np.array(starts, dtype=np.int64))
    first = np.ones(len(starts), dtype=bool)
    first[1:] = line[1:] != line[:-1]
    return first.tolist()


def _member(texts: list[str], starts: list[int], i: int) -> bool:
    """Whether name `i` is reached through something else (`.x`, `->x`, `::x`)."""
    if i == 0:
        return False
    before = texts[i - 1]
    if before == ".":
        return i < 2 or texts[i - 2] != "."  # `..` is Lua's concatenation
    # `a->b` and `A::b`, not Scala's `head :: tail`.
    if before in (">", ":") and i >= 2 and starts[i - 2] == starts[i - 1] - 1:
        return texts[i - 2] + before in ("->", "::") and starts[i] == starts[i - 1] + 1
    return False


def _bound_names(
    kinds: list[str], texts: list[str], starts: list[int], first: list[bool]
) -> set[str]:
    """Names the lexemes declare, in the ways many languages share (see the module)."""
    bound: set[str] = set()
    count = len(texts)

    def name_at(j: int) -> int:
        """Index of the name at `j` past any sigils, or -1."""
        while j < count and texts[j] in _SIGILS:
            j += 1
        return j if j < count and kinds[j] == "name" and texts[j] not in _RESERVED else -1

    def names_from(j: int) -> tuple[list[str], int]:
        """The names `a`, `a, b` or `$a, @b` from `j`, and the index past the last."""
        names: list[str] = []
        while True:
            at = name_at(j)
            if at < 0:
                return names, j
            names.append(texts[at])
            j = at + 1
            if j < count - 1 and texts[j] == "," and name_at(j + 1) >= 0:
                j += 1
            else:
                return names, j

    def bind_list(j: int) -> None:
        """Bind the names of the bracketed list opening at `j` (parameters, `my ($a, $b)`)."""
        depth = 0
        for k in range(j, min(count, j + _LIST_LIMIT)):
            lexeme = texts[k]
            if lexeme in _OPEN:
                depth += 1
                if depth > _LIST_DEPTH:
                    return  # no list of names nests so deep
            elif lexeme in _CLOSE:
                depth -= 1
                if depth == 0:
                    return
            elif depth == 1 and kinds[k] == "name" and lexeme not in _RESERVED:
                before = texts[k - 1]
                after = texts[k + 1] if k + 1 < count else ")"
                if after not in _AFTER_DECLARED:
                    continue
                if before in _OPEN or before == "," or before in _SIGILS:
                    bound.add(lexeme)
                elif after == ":" and kinds[k - 1] == "name" and texts[k - 2] in ("(", ","):
                    bound.add(lexeme)  # Swift's `label name: Type`: the name is bound

    # Only lexemes that can open a declaration are visited: a loop over every
    # lexeme cost a third of the tokenizer's time.
    visit = [
        i
        for i, (lexeme, opens) in enumerate(zip(texts, first, strict=True))
        if opens or lexeme in _TRIGGERS or (i and texts[i - 1] == ";")
    ]
    for i in visit:
        lexeme = texts[i]
        if lexeme == "{":
            names, j = names_from(i + 1)  # a closure's `{ a, b in` (Swift)
            if names and j < count and texts[j] == "in":
                bound.update(names)
        elif i > 0 and texts[i - 1] in _DECLARERS:
            pass  # `local function f` is read from its first word
        elif lexeme in _DECLARERS:
            j, function = i, False
            while j < count and texts[j] in _DECLARERS:
                function |= texts[j] in _FUNCTIONS
                j += 1
            if j < count and texts[j] in _OPEN and not function:
                bind_list(j)  # `my ($a, $b)`, `let (a, b)`
                continue
            names, j = names_from(j)
            bound.update(names)
            if function:
                # Parameters: the next bracketed list, past type parameters (`<T>`, `[T]`).
                if j < count and texts[j] in ("<", "["):
                    j = _past_brackets(texts, j)
                if j < count and texts[j] == "(":
                    bind_list(j)
        elif lexeme == "case":
            # A pattern's lower-case names are bound (Scala, Rust, OCaml,
            # Elixir); constructors are capitalised, constants reached by `.`.
            for k in range(i + 1, min(count, i + _LIST_LIMIT)):
                if first[k] or (texts[k] in ("=", "-", ":") and texts[k + 1 : k + 2] == [">"]):
                    break
                if (
                    kinds[k] == "name"
                    and texts[k][0].islower()
                    and texts[k] not in _RESERVED
                    and texts[k - 1] != "."
                    and texts[k + 1 : k + 2] != ["("]
                ):
                    bound.add(texts[k])
        elif lexeme in ("for", "foreach"):
            j = i + 1
            if j < count and texts[j] == "(":
                j += 1
            while j < count and texts[j] in _DECLARERS:
                j += 1
            names, j = names_from(j)
            # A loop's names are followed by `in`, `=`, `<-`, `:` or (Perl) the list.
            if names and j < count and texts[j] in ("in", "=", "<", ":", "(", "of"):
                bound.update(names)
        else:  # a statement's start: `x = ...`, `$x = ...`, `a, b = ...`, `x <- ...`
            names, j = names_from(i)
            if names and _assigns(texts, starts, j):
                bound.update(names)
    return bound


def _past_brackets(texts: list[str], j: int) -> int:
    """The index past the bracketed run opening at `j` (`<...>` or `[...]`)."""
    closer = ">" if texts[j] == "<" else "]"
    depth = 0
    for k in range(j, min(len(texts), j + _LIST_LIMIT)):
        if texts[k] == texts[j]:
            depth += 1
        elif texts[k] == closer:
            depth -= 1
            if depth == 0:
                return k + 1
    return len(texts)


def _assigns(texts: list[str], starts: list[int], j: int) -> bool:
    """Whether the lexemes at `j` are `=` (not `==` or `=>`), `:=` or `<-`."""
    if j + 1 >= len(texts):
        return False
    first, second = texts[j], texts[j + 1]
    adjacent = starts[j + 1] == starts[j] + 1
    if first == "=":
        return not (adjacent and second in ("=", ">", "~"))
    return adjacent and (first, second) in ((":", "="), ("<", "-"))
