"""Invariants: renaming changes nothing; offsets always map back into the input."""

from __future__ import annotations

import keyword
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipguard.normalize import normalize

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: (
        not keyword.iskeyword(s) and s not in {"len", "print", "range", "sum", "max", "min", "x"}
    )
)

TEMPLATE = """def {f}({a}, {b}=3):
    {c} = []
    for {d} in range({a}):
        if {d} % {b}:
            {c}.append({d} * {b})
    {e} = sum({c})
    return {e} + len({c})
"""


LUA_TEMPLATE = """local function {f}({a}, {b})
  local {c} = {{}}
  for {d}, {e} in ipairs({a}) do
    if {e} > {b} then
      {c}[#{c} + 1] = {e} * {d}
    end
  end
  return {c}
end
"""
#: Words of the template and words the lexer never takes for names.
LUA_WORDS = {"local", "function", "for", "in", "ipairs", "do", "if", "then", "end", "return"}
LUA_WORDS |= {"my", "our", "let", "var", "val", "const", "mut", "lazy", "def", "defp", "defn"}
LUA_WORDS |= {"fn", "func", "fun", "sub", "proc", "case", "foreach", "self", "this", "nil"}
LUA_WORDS |= {"true", "false", "and", "or", "not", "is", "as", "of", "new", "super", "when"}
LUA_WORDS |= {"null", "elseif", "elsif", "unless", "while", "match"}


#: Each language's template, the indentation it is written with, and how
#: many placeholders its six names give (Lua has no grammar: the lexical
#: tokenizer reads it).
TEMPLATES = {"python": (TEMPLATE, "    ", 15), "lua": (LUA_TEMPLATE, "  ", 14)}


@given(
    st.sampled_from(sorted(TEMPLATES)),
    st.lists(identifiers.filter(lambda s: s not in LUA_WORDS), min_size=6, max_size=6, unique=True),
    st.sampled_from(["  ", "    ", "\t"]),
)
@settings(max_examples=100, deadline=None)
def test_consistent_renaming_and_reindenting_leave_the_tokens_unchanged(
    language: str, names: list[str], indent: str
) -> None:
    template, unit, placeholders = TEMPLATES[language]
    base = normalize(template.format(**{n: f"{n}0" for n in "fabcde"}), language=language)
    renamed = template.format(**dict(zip("fabcde", names, strict=True))).replace(unit, indent)
    assert normalize(renamed, language=language).code.tokens == base.code.tokens
    assert base.code.tokens.count("$v") == placeholders


@given(
    st.text(max_size=400),
    st.sampled_from([None, "code", "text", "markdown"]),
    st.sampled_from([None, "python", "javascript", "c", "rust", "go", "nosuchlang", "perl", "lua"]),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_offsets_always_map_back_into_the_input(
    text: str, kind: str | None, language: str | None
) -> None:
    doc = normalize(text, kind=kind, language=language)  # type: ignore[arg-type]
    for stream in (doc.code, doc.text):
        assert len(stream.tokens) == len(stream.spans)
        for start, end in stream.spans:
            assert 0 <= start < end <= len(text)


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_random_bytes_decoded_as_code_never_crash(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    for language in ("python", "cpp", "typescript"):
        doc = normalize(text, kind="code", language=language)
        for start, end in doc.code.spans:
            assert 0 <= start < end <= len(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), min_size=2, max_size=200),
    st.sampled_from([4, 16, 50]),
)
def test_clustering_few_pairs_in_python_equals_clustering_with_numpy(
    pairs: list[tuple[int, int]], width: int
) -> None:
    import numpy as np

    from ipguard.verify import _clusters_listed, _clusters_vectorised

    q = np.array([a for a, _ in pairs], dtype=np.uint32)
    p = np.array([b for _, b in pairs], dtype=np.uint32)
    assert _clusters_listed(q.tolist(), p.tolist(), width) == _clusters_vectorised(q, p, width)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 500))
def test_a_region_with_new_evidence_is_the_replaced_dataclass(evidence: int, start: int) -> None:
    import dataclasses

    from ipguard.verify import Region

    region = Region(
        doc_id=7,
        channel="code",
        query_tokens=(start, start + 9),
        protected_tokens=(3, 12),
        matched=10,
        evidence=4,
        similarity=1.0,
        output_span=(start * 4, start * 4 + 40),
        source_lines=(2, 5),
        blocks=((start, 10),),
        matched_shingles=7,
    )
    changed = region.with_evidence(evidence)
    assert changed == dataclasses.replace(region, evidence=evidence)
    assert type(changed) is Region and region.evidence == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        changed.evidence = 0  # type: ignore[misc]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(identifiers, st.text(alphabet="abcDEF xyz_09.,'\"é\t", max_size=30)),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["python", "cpp", None]),
    st.sampled_from(["code", "markdown"]),
)
def test_prose_words_as_spans_are_the_words_as_strings(
    monkeypatch: pytest.MonkeyPatch, lines: list[tuple[str, str]], language: str | None, kind: str
) -> None:
    """A long ASCII text's prose words are kept as spans: the same tokens, spans and ids."""
    import ipguard.normalize as normalize_module
    from ipguard.index import stream_ids
    from ipguard.sketch import TokenHasher

    body = "".join(
        f"def {name}(x):\n    # {comment}\n    return '{comment} {name}'\n"
        for name, comment in lines
    )
    text = f"Some words first.\n\n```python\n{body}```\n" if kind == "markdown" else body
    hasher = TokenHasher(b"p" * 32)
    streams = []
    for threshold in (0, 10**9):
        monkeypatch.setattr(normalize_module, "FOLDED_PROSE_CHARS", threshold)
        doc = normalize(text, kind=kind, language=language)  # type: ignore[arg-type]
        streams.append(
            (doc.text.tokens, doc.text.spans.tolist(), stream_ids(hasher, doc.text).tolist())
        )
        assert (doc.text.folded is not None) == (
            threshold == 0 and text.isascii() and len(doc.text) > 0
        )
    assert streams[0] == streams[1]


#: (document, key, window start, output windows holding the key) of a check's
#: looked-up pairs, each pair once.
looked_up_pairs = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 6), st.integers(0, 40), st.integers(0, 4)),
    max_size=60,
    unique_by=lambda p: (p[0], p[1], p[2]),
)


@given(
    looked_up_pairs,
    st.integers(0, 50),
    st.randoms(use_true_random=False),
)
def test_a_checks_bound_keeps_the_same_pairs_whatever_their_order(
    pairs: list[tuple[int, int, int, int]], budget: int, rng: random.Random
) -> None:
    import numpy as np

    from ipguard.index import _best_documents_first
    from ipguard.stores import window_base

    def kept(rows: list[tuple[int, int, int, int]]) -> set[tuple[int, int]]:
        keys = np.array([r[1] for r in rows], dtype=np.int64)
        wins = np.array([window_base(r[0], "code") + r[2] for r in rows], dtype=np.int64)
        counts = np.array([r[3] for r in rows], dtype=np.int64)
        keep = _best_documents_first(keys, wins, counts, budget)
        return set(zip(keys[keep].tolist(), wins[keep].tolist(), strict=True))

    in_order = sorted(pairs, key=lambda r: (r[1], window_base(r[0], "code") + r[2]))
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    assert kept(in_order) == kept(shuffled)


@given(st.text(alphabet=st.sampled_from("ab \n\t\u00e9\u4e2d\U0001f600\ud800"), max_size=200))
def test_newlines_are_the_character_offsets_of_each_newline(text: str) -> None:
    from ipguard.index import _newlines

    assert _newlines(text).tolist() == [i for i, c in enumerate(text) if c == "\n"]


@given(
    looked_up_pairs,
    st.integers(0, 50),
)
def test_a_checks_bound_keeps_the_documents_sharing_most_keys_first(
    pairs: list[tuple[int, int, int, int]], budget: int
) -> None:
    import numpy as np

    from ipguard.index import _best_documents_first
    from ipguard.stores import window_base

    docs = np.array([p[0] for p in pairs], dtype=np.int64)
    keys = np.array([p[1] for p in pairs], dtype=np.int64)
    wins = np.array([window_base(p[0], "code") + p[2] for p in pairs], dtype=np.int64)
    counts = np.array([p[3] for p in pairs], dtype=np.int64)
    keep = _best_documents_first(keys, wins, counts, budget)
    assert int(counts[keep].sum()) <= budget
    assert not (keep & (counts == 0)).any()  # a key no output window has adds nothing
    held = list(zip(keys.tolist(), docs.tolist(), counts.tolist(), strict=True))
    shared = {d: len({k for k, dd, c in held if dd == d and c}) for d in docs.tolist()}
    # a document loses pairs only when every document kept shares as many keys or more
    for lost in set(docs[~keep & (counts > 0)].tolist()):
        assert all(shared[d] >= shared[lost] for d in set(docs[keep].tolist()))
    dropped = ~keep & (counts > 0)
    if dropped.any():  # the budget is spent, up to the pair that did not fit
        assert int(counts[keep].sum()) > budget - int(counts.max())
    else:
        assert int(counts.sum()) <= budget
