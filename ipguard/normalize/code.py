"""Code normalization with tree-sitter.

Layout is dropped; names bound inside the snippet become one placeholder so
that consistent renaming changes nothing; names with meaning beyond the snippet
(attributes, keyword-argument names, imports, builtins) stay as written; number
literals and short strings are abstracted; comments, docstrings and long
strings go to the prose channel.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

from .languages import LanguageSpec, parser_for_source
from .lexical import DROPPED, LONG_STRING, lexical_tokens
from .text import Tokens, words_in_ranges

log = logging.getLogger(__name__)

PLACEHOLDER = "$v"
NUMBER = "$n"
STRING = "$s"

_STRING_UNITS = frozenset(
    {
        "string",
        "template_string",
        "string_literal",
        "raw_string_literal",
        "interpreted_string_literal",
        "char_literal",
        "character_literal",
        "concatenated_string",
        "text_block",
        "system_lib_string",
        "interpolated_string_expression",
        "verbatim_string_literal",
        "encapsed_string",
        "heredoc",
        "nowdoc",
        "heredoc_body",
        "raw_string",
        "ansi_c_string",
    }
)
_NUMBER_UNITS = frozenset(
    {
        "integer",
        "float",
        "number",
        "number_literal",
        "int_literal",
        "float_literal",
        "imaginary_literal",
        "integer_literal",
        "decimal_integer_literal",
        "hex_integer_literal",
        "octal_integer_literal",
        "binary_integer_literal",
        "decimal_floating_point_literal",
        "hex_floating_point_literal",
        "real_literal",
    }
)
# Fields and node types inside a binding pattern that hold no bound name:
# default values, type annotations, and accesses through another object.
_PATTERN_SKIP_FIELDS = frozenset(
    {"value", "type", "default", "return_type", "body", "right", "size", "condition", "update"}
)
_PATTERN_SKIP_TYPES = frozenset(
    {
        "attribute",
        "subscript",
        "call",
        "member_expression",
        "subscript_expression",
        "call_expression",
        "field_expression",
        "selector_expression",
        "index_expression",
        "scoped_identifier",
        "qualified_identifier",
        "field_access",
        "method_invocation",
        "type_annotation",
        "user_type",
        "nullable_type",
        "function_type",
        "type_arguments",
        "navigation_expression",
    }
)
_MEMBER_ACCESS = frozenset({".", "?.", "::", "!!."})
#: Parse results with more than this share of bytes inside ERROR nodes are
#: not trusted and the lexical fallback is used instead.
MAX_ERROR_SHARE = 0.5


_PY_WRAPPER = b"if 1:\n"
#: Lexemes of a leaf that error recovery made of many lines: a grammar whose
#: scanner took a stray quote for a string swallowed the rest of a Kotlin
#: snippet after a line of prose (886 bytes, one token). Operators are kept
#: whole, as the grammar's own leaves are.
_SWALLOWED_BYTES = 80
_SWALLOWED = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z)|\#[ \t][^\n]*)
      |(?P<string>"(?:[^"\\\n]|\\.){0,4000}"|'(?:[^'\\\n]|\\.){0,4000}')
      |(?P<number>\d[\w.]*)
      |(?P<name>[^\W\d]\w*)
      |(?P<op>===|!==|==|!=|<=|>=|&&|\|\||->|=>|::|\+\+|--|[-+*/%&|^]=|<<|>>|\?\.|\?:|\.\.|[^\w\s])""",
    re.VERBOSE | re.DOTALL,
)
#: The first non-blank line starts with spaces or tabs.
_INDENTED = re.compile(rb"(?:[ \t]*\r?\n)*[ \t]+\S")


class ByteToChar:
    """Maps UTF-8 byte offsets of a segment to character offsets of the whole text."""

    def __init__(self, segment: str, base: int) -> None:
        self.base = base
        self.table: np.ndarray | None = None
        if not segment.isascii():
            raw = np.frombuffer(segment.encode("utf-8", "surrogatepass"), dtype=np.uint8)
            is_start = (raw & 0xC0) != 0x80
            table = np.empty(len(raw) + 1, dtype=np.int64)
            table[:-1] = np.cumsum(is_start) - 1
            table[-1] = len(segment)
            # A byte inside a character maps to the character's end when it ends a span.
            self.table = table

    def spans(self, spans: np.ndarray) -> np.ndarray:
        """(start, end) byte offsets of the segment -> character offsets of the text.

        An end inside a character maps to that character's end.
        """
        if self.table is None or not len(spans):
            return spans + self.base
        out = np.empty_like(spans)
        out[:, 0] = self.table[spans[:, 0]]
        out[:, 1] = self.table[spans[:, 1] - 1] + 1
        return out + self.base


#: Bracket nesting past which no grammar parses: Java's crashed the process
#: (a C stack overflow in tree-sitter) on `({` repeated 100,000 times, 200 KB,
#: and held at 70,000; no other grammar failed up to 1.3 M. Code nests a few
#: dozen deep.
MAX_NESTING = 20_000
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[list(b"([{")] = 1
_BRACKET_STEP[list(b")]}")] = -1


def _opened(data: bytes) -> int:
    """Brackets opened in `data`: a bound on its nesting, counted at memory speed."""
    return data.count(b"(") + data.count(b"[") + data.count(b"{")


def _nesting(data: bytes) -> int:
    """The deepest bracket nesting of `data` (brackets in strings and comments too)."""
    depth = np.cumsum(_BRACKET_STEP[np.frombuffer(data, dtype=np.uint8)], dtype=np.int32)
    return int(depth.max()) if len(depth) else 0


#: Bytes a parse may read, as a multiple of its input (plus `PARSE_SLACK`).
#: tree-sitter's scanners read on to the end of the input from every
#: unclosed comment or string: 60 KB of lines opening `/*` took JavaScript's
#: grammar 14 s (and four times as long for twice as much), reading the input
#: 9,000 times over for 10 KB. The standard library's Python and npm's
#: JavaScript read theirs at most 1.5 times, 1.02 on average.
PARSE_BUDGET = 16
#: Bytes a parse may read beyond that. An input this small parses whole (at
#: worst 0.25 s: 8 KB of JavaScript's worst case).
PARSE_SLACK = 1 << 13
#: Bytes handed to the parser at a time: no slower than the whole input at once.
_PARSE_CHUNK = 1 << 16


def _parse_within_budget(parser: Any, data: bytes) -> Any:
    """The parse tree of `data`, or None where the parser read past its budget.

    Input of up to `PARSE_SLACK` bytes is parsed whole: the budget would not
    stop it, and the reading callback cost 4% of parsing a 2 KB output.
    """
    if len(data) <= PARSE_SLACK:
        return parser.parse(data)
    budget = PARSE_BUDGET * len(data) + PARSE_SLACK
    served = 0

    def read(offset: int, _point: Any) -> bytes:
        nonlocal served
        if served > budget:
            return b""  # the parser takes it for the end of the input, and stops
        chunk = data[offset : offset + _PARSE_CHUNK]
        served += len(chunk)
        return chunk

    tree = parser.parse(read)
    if served > budget:
        parser.reset()
        return None
    return tree


def code_tokens(
    text: str,
    start: int,
    end: int,
    spec: LanguageSpec,
    code: Tokens,
    prose: Tokens,
) -> str | None:
    """Append the normalized tokens of `text[start:end]` parsed as `spec`.

    Returns a note when the parse was not trusted and the lexical fallback was
    used instead, else None.
    """
    segment = text[start:end]
    data = segment.encode("utf-8", "surrogatepass")
    # An indented Python snippet (a method without its class) parses as the
    # body of a block; the wrapper's own tokens are dropped again.
    wrapper = _PY_WRAPPER if spec.name == "python" and _INDENTED.match(data) else b""
    if _opened(data) > MAX_NESTING and _nesting(data) > MAX_NESTING:
        log.info("%s input nests deeper than %d brackets", spec.name, MAX_NESTING)
        lexical_tokens(text, start, end, code, prose)
        return f"brackets nested deeper than {MAX_NESTING}; lexical fallback used"
    try:
        parser = parser_for_source(spec.name, wrapper + data)
        tree = _parse_within_budget(parser, wrapper + data)
    except Exception as exc:  # a grammar failure must not lose the input
        log.warning("tree-sitter failed on %s input: %s", spec.name, exc)
        lexical_tokens(text, start, end, code, prose)
        return f"{spec.name} parser failed; lexical fallback used"
    if tree is None:
        log.info("%s parse of %d bytes stopped at its work budget", spec.name, len(data))
        lexical_tokens(text, start, end, code, prose)
        return f"{spec.name} parse stopped at its work budget; lexical fallback used"
    walk = _Walk(spec, wrapper + data, len(wrapper), id(parser.language))
    walk.run(tree.root_node)
    note = None
    if data and walk.error_bytes > MAX_ERROR_SHARE * len(data):
        if not spec.free_names_local:
            lexical_tokens(text, start, end, code, prose)
            return f"{spec.name} parse mostly failed; lexical fallback used"
        # Names are placeholders unless known anyway, so the binding analysis
        # that a broken parse spoils matters little: the grammar's own tokens
        # (strings, numbers, comments) still beat the lexical fallback's.
        note = f"{spec.name} parse mostly failed; tokens kept, names taken for locals"
    tokens = walk.tokens
    _abstract_names(spec, walk)
    to_char = ByteToChar(segment, start)
    cut = len(wrapper)
    spans = to_char.spans(np.array(walk.spans, dtype=np.int64).reshape(-1, 2) - cut)
    ranges = to_char.spans(np.array(walk.prose, dtype=np.int64).reshape(-1, 2) - cut)
    if walk.strings:  # long strings are prose (messages, documentation) as well
        strings = spans[walk.strings]
        ranges = np.concatenate([ranges, strings[strings[:, 1] - strings[:, 0] - 2 >= LONG_STRING]])
        ranges = ranges[np.argsort(ranges[:, 0], kind="stable")]
    code.extend(tokens, spans)
    prose.extend(*words_in_ranges(text, ranges.tolist(), words=prose.folded is None))
    return note


def _abstract_names(spec: LanguageSpec, walk: _Walk) -> None:
    """Replace the walk's identifiers that name locals of the snippet by the placeholder."""
    keep = spec.keep_positions
    member = _MEMBER_ACCESS if spec.keep_after_dot else frozenset()
    bound, imported, tokens = walk.bound, walk.imported, walk.tokens
    for i, parent, field, previous in walk.names:
        tok = tokens[i]
        if (
            (parent, field) not in keep
            and previous not in member
            and (
                tok in bound
                or (
                    spec.free_names_local
                    and tok not in imported
                    and tok not in spec.known_globals
                    and parent not in spec.import_parents
                )
            )
        ):
            tokens[i] = PLACEHOLDER


#: What the walk does with a node of a kind (classified once per grammar symbol).
_OTHER, _ERROR, _COMMENT, _STRING, _NUMBER = range(5)
#: grammar (its `Language` object's id: PHP has two, whose symbol ids differ)
#: -> symbol id -> (category, type, binds names, is a local identifier type).
_KINDS: dict[int, dict[int, tuple[int, str, bool, bool]]] = {}


def _kind(node: Any, spec: LanguageSpec) -> tuple[int, str, bool, bool]:
    """(category, type, binds names, may be a local) of a node's grammar symbol."""
    ntype = node.type
    if ntype == "ERROR":
        category = _ERROR
    elif "comment" in ntype:
        category = _COMMENT
    elif ntype in _STRING_UNITS and node.is_named:
        category = _STRING
    elif ntype in _NUMBER_UNITS and node.is_named:
        category = _NUMBER
    else:
        category = _OTHER
    return category, ntype, ntype in spec.binders, ntype in spec.local_identifiers


def _utf8(latin: str) -> str:
    """UTF-8 bytes held one per character (Latin-1) as the text they encode."""
    return latin.encode("latin-1").decode("utf-8", "replace")


class _Walk:
    """One pass over a parse tree, collecting what normalization needs.

    `tokens` and `spans` (bytes of the parsed data) are the code channel in
    order, with strings and numbers already abstracted; `names` lists the
    identifiers that may become placeholders, as (token index, parent type,
    field, previous token); `strings` indexes the string tokens; `prose` holds
    the byte ranges of comments and docstrings. Leaves before `cut` (a wrapper
    added for parsing) are left out.
    """

    def __init__(self, spec: LanguageSpec, data: bytes, cut: int, grammar: int) -> None:
        self.spec = spec
        self.data = data
        self.cut = cut
        self.grammar = grammar
        self.tokens: list[str] = []
        self.spans: list[int] = []
        self.names: list[tuple[int, str, str, str]] = []
        self.strings: list[int] = []
        self.prose: list[int] = []
        self.bound: set[str] = set()
        self.imported: set[str] = set()
        self.error_bytes = 0

    def run(self, root: Any) -> None:
        """Walk the tree under `root`.

        A node's kind is looked up by its symbol id: reading its type string
        and testing it against the categories for every node took a third of
        the walk. Per-leaf work is kept to appends on flat lists.
        """
        spec, data, cut = self.spec, self.data, self.cut
        tokens, spans, names, prose = self.tokens, self.spans, self.names, self.prose
        imported, import_parents = self.imported, spec.import_parents
        binders = spec.binders
        # A name's field matters only under the parents of `keep_positions`:
        # reading it for every name was 0.05 s of the standard library's walk.
        keep_parents = frozenset(parent for parent, _ in spec.keep_positions)
        kinds = _KINDS.setdefault(self.grammar, {})
        swallowed = _SWALLOWED_BYTES
        # Tokens are cut from a string of the input's bytes, one character
        # each (Latin-1), so that byte offsets index it; `_recode` then gives
        # the few that are not ASCII their UTF-8 reading. A decode per token
        # of a file holding any non-ASCII byte was 5% of indexing npm's JS.
        ascii = data.isascii()
        source = data.decode("ascii" if ascii else "latin-1")
        cursor = root.walk()
        parents: list[str] = [""]  # the root's parent, so that a leaf always has one
        previous = ""
        while True:
            node = cursor.node
            try:
                known = kinds[node.kind_id]
            except KeyError:  # a kind's first node
                known = kinds[node.kind_id] = _kind(node, spec)
            category, ntype, binds, is_local = known
            if binds:
                _collect_bound(node, binders[ntype], spec, data, self.bound)
            if category == _OTHER:
                # An inner node: its extent is not needed (an empty one has
                # only empty leaves, which are skipped). On a leaf the move fails.
                if cursor.goto_first_child():
                    parents.append(ntype)
                    continue
                start, end = node.start_byte, node.end_byte
                if start != end and start >= cut:
                    tok = source[start:end]
                    # The length first: it is two locals, the rest is per leaf.
                    if end - start > swallowed and parents[-1] == "ERROR" and "\n" in tok:
                        previous = self._relex(source, start, end, previous)
                    elif tok not in DROPPED:
                        parent = parents[-1]
                        if parent in import_parents:
                            imported.add(tok)
                        if is_local:
                            field = (cursor.field_name or "") if parent in keep_parents else ""
                            names.append((len(tokens), parent, field, previous))
                        previous = tok
                        tokens.append(tok)
                        spans += (start, end)
            else:
                start, end = node.start_byte, node.end_byte
                if start == end:
                    pass
                elif category == _ERROR:
                    self.error_bytes += end - start
                    if cursor.goto_first_child():
                        parents.append(ntype)
                        continue
                elif start < cut:
                    pass
                elif category == _COMMENT:
                    prose += (start, end)
                elif category == _STRING:
                    if self._is_docstring(node, parents):
                        prose += (start, end)
                    else:
                        self.strings.append(len(tokens))
                        tokens.append(STRING)
                        spans += (start, end)
                else:
                    tokens.append(NUMBER)
                    spans += (start, end)
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    if not ascii:
                        self._recode()
                    return
                parents.pop()

    def _relex(self, source: str, start: int, end: int, previous: str) -> str:
        """Tokens of a many-line leaf inside an error, lexed (see `_SWALLOWED`).

        Its names may become placeholders, as a local identifier's may; the
        last token is returned as the walk's `previous`.
        """
        for m in _SWALLOWED.finditer(source, start, end):
            kind = m.lastgroup
            s, e = m.span()
            if kind == "comment":
                self.prose += (s, e)
                continue
            tok = m.group()
            if kind == "string":
                self.strings.append(len(self.tokens))
                tok = STRING
            elif kind == "number":
                tok = NUMBER
            elif kind == "name":
                self.names.append((len(self.tokens), "ERROR", "", previous))
            elif tok in DROPPED:
                continue
            previous = tok
            self.tokens.append(tok)
            self.spans += (s, e)
        return previous

    def _recode(self) -> None:
        """Read the tokens cut from Latin-1 characters as the UTF-8 they are."""
        tokens = self.tokens
        for i, tok in enumerate(tokens):
            if not tok.isascii():
                tokens[i] = _utf8(tok)
        self.imported = {_utf8(t) if not t.isascii() else t for t in self.imported}

    def _is_docstring(self, node: Any, parents: list[str]) -> bool:
        """A bare string that is the first statement of a documented definition."""
        return (
            len(parents) >= 2
            and parents[-1] == "expression_statement"
            and parents[-2] in self.spec.docstring_parents
            and node.parent is not None
            and node.parent.named_child_count == 1
        )


def _collect_bound(
    node: Any, fields: tuple[str, ...], spec: LanguageSpec, data: bytes, bound: set[str]
) -> None:
    """Add the names that `node` binds through `fields` to `bound`."""
    stack = []
    for f in fields:
        if f == "*":
            stack.append(node)
        elif f.startswith("#"):
            stack.extend(c for c in node.children if c.type == f[1:])
        else:
            stack.extend(node.children_by_field_name(f))
    local = spec.local_identifiers
    while stack:
        current = stack.pop()
        ctype = current.type
        if ctype in local:
            bound.add(data[current.start_byte : current.end_byte].decode("utf-8", "replace"))
            continue
        if ctype in _PATTERN_SKIP_TYPES:
            continue
        if ctype == "pair_pattern":  # {key: name}: only the name is bound
            stack.extend(current.children_by_field_name("value"))
            continue
        for i, child in enumerate(current.children):
            field = current.field_name_for_child(i)
            if field not in _PATTERN_SKIP_FIELDS:
                stack.append(child)
