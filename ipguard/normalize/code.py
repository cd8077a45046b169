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

from .languages import LanguageSpec, parser_for
from .lexical import DROPPED, LONG_STRING, lexical_tokens
from .text import word_tokens

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

    def __call__(self, offset: int) -> int:
        if self.table is None:
            return self.base + offset
        return self.base + int(self.table[offset])

    def end(self, offset: int) -> int:
        """Character offset just past the character that holds byte `offset - 1`."""
        if self.table is None or offset == 0:
            return self(offset)
        return self.base + int(self.table[offset - 1]) + 1


def code_tokens(
    text: str,
    start: int,
    end: int,
    spec: LanguageSpec,
    code: list[tuple[str, int, int]],
    prose: list[tuple[str, int, int]],
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
    try:
        tree = parser_for(spec.name).parse(wrapper + data)
    except Exception as exc:  # a grammar failure must not lose the input
        log.warning("tree-sitter failed on %s input: %s", spec.name, exc)
        lexical_tokens(text, start, end, code, prose)
        return f"{spec.name} parser failed; lexical fallback used"
    to_char = ByteToChar(segment, start)
    leaves, bound, error_bytes = _walk(tree.root_node, spec, wrapper + data)
    if wrapper:
        cut = len(wrapper)
        leaves = [
            (kind, ntype, tok, s - cut, e - cut, parent, fld)
            for kind, ntype, tok, s, e, parent, fld in leaves
            if s >= cut
        ]
    imported = {
        tok
        for kind, _, tok, _, _, parent, _ in leaves
        if kind == 0 and parent in spec.import_parents
    }
    note = None
    if data and error_bytes > MAX_ERROR_SHARE * len(data):
        if not spec.free_names_local:
            lexical_tokens(text, start, end, code, prose)
            return f"{spec.name} parse mostly failed; lexical fallback used"
        # Names are placeholders unless known anyway, so the binding analysis
        # that a broken parse spoils matters little: the grammar's own tokens
        # (strings, numbers, comments) still beat the lexical fallback's.
        note = f"{spec.name} parse mostly failed; tokens kept, names taken for locals"
    keep = spec.keep_positions
    local = spec.local_identifiers
    member = _MEMBER_ACCESS if spec.keep_after_dot else frozenset()
    previous = ""
    ascii_base = start if to_char.table is None else None
    for kind, node_type, tok, s, e, parent, field in leaves:
        if ascii_base is not None:  # the common case, without two calls per token
            cs, ce = ascii_base + s, ascii_base + e
        else:
            cs, ce = to_char(s), to_char.end(e)
        if kind == 0:  # plain leaf
            raw = tok
            if (
                node_type in local
                and (parent, field) not in keep
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
                tok = PLACEHOLDER
            previous = raw
            code.append((tok, cs, ce))
        elif kind == 1:  # comment
            _prose(text, cs, ce, prose)
        elif kind == 2:  # string in code
            code.append((STRING, cs, ce))
            if ce - cs - 2 >= LONG_STRING:
                _prose(text, cs, ce, prose)
        elif kind == 3:  # docstring: prose only
            _prose(text, cs, ce, prose)
        else:  # number
            code.append((NUMBER, cs, ce))
    return note


def _prose(text: str, start: int, end: int, prose: list[tuple[str, int, int]]) -> None:
    words, starts, ends = word_tokens(text, start, end)
    prose.extend(zip(words, starts, ends, strict=False))


Leaf = tuple[int, str, str, int, int, str, str]


#: What the walk does with a node of a kind (classified once per grammar symbol).
_OTHER, _ERROR, _COMMENT, _STRING, _NUMBER = range(5)
_KINDS: dict[str, dict[int, tuple[int, str, bool]]] = {}


def _kind(node: Any, spec: LanguageSpec) -> tuple[int, str, bool]:
    """(category, type, binds names) of a node's grammar symbol."""
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
    return category, ntype, ntype in spec.binders


def _walk(root: Any, spec: LanguageSpec, data: bytes) -> tuple[list[Leaf], set[str], int]:
    """One pass over the tree: leaves in order, names bound anywhere, bytes in ERROR nodes.

    A node's kind is looked up by its symbol id: reading its type string and
    testing it against the categories for every node took a third of the walk.
    """
    leaves: list[Leaf] = []
    bound: set[str] = set()
    binders = spec.binders
    kinds = _KINDS.setdefault(spec.name, {})
    error_bytes = 0
    cursor = root.walk()
    parents: list[str] = []
    while True:
        node = cursor.node
        known = kinds.get(node.kind_id)
        if known is None:
            known = kinds[node.kind_id] = _kind(node, spec)
        category, ntype, binds = known
        descend = False
        if binds:
            _collect_bound(node, binders[ntype], spec, data, bound)
        start, end = node.start_byte, node.end_byte
        if start == end:
            pass
        elif category == _OTHER:
            if node.child_count == 0:
                tok = data[start:end].decode("utf-8", "replace")
                if tok not in DROPPED:
                    leaves.append(
                        (
                            0,
                            ntype,
                            tok,
                            start,
                            end,
                            parents[-1] if parents else "",
                            cursor.field_name or "",
                        )
                    )
            else:
                descend = True
        elif category == _ERROR:
            error_bytes += end - start
            descend = True
        elif category == _COMMENT:
            leaves.append((1, ntype, "", start, end, "", ""))
        elif category == _STRING:
            parent = parents[-1] if parents else ""
            is_doc = (
                parent == "expression_statement"
                and len(parents) >= 2
                and parents[-2] in spec.docstring_parents
                and node.parent is not None
                and node.parent.named_child_count == 1
            )
            leaves.append((3 if is_doc else 2, ntype, "", start, end, "", ""))
        else:
            leaves.append((4, ntype, "", start, end, "", ""))
        if descend and cursor.goto_first_child():
            parents.append(ntype)
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return leaves, bound, error_bytes
            parents.pop()


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
