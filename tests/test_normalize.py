"""normalize: channels, placeholders, offsets, fallbacks."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import LEXICAL, LEXICAL_LOCALS, LOCALS, PROTECTED, UNRELATED, reformat, rename

from ipguard.normalize import detect_kind, detect_language, normalize
from ipguard.normalize.languages import language_names
from ipguard.normalize.listing import without_line_numbers
from ipguard.normalize.text import (
    _UNSPACED,
    normalize_word,
    word_spans,
    word_tokens,
    words_in_ranges,
)

LANGUAGES = sorted(PROTECTED)


def test_every_required_language_has_a_grammar() -> None:
    for name in ("python", "javascript", "typescript", "tsx", "java", "c", "cpp", "go", "rust"):
        assert name in language_names()


@pytest.mark.parametrize("language", LANGUAGES)
def test_renaming_and_reformatting_leave_the_code_stream_unchanged(language: str) -> None:
    original = normalize(PROTECTED[language], kind="code", language=language)
    disguised = normalize(
        reformat(rename(PROTECTED[language], LOCALS[language]), language),
        kind="code",
        language=language,
    )
    assert original.notes == () and disguised.notes == ()
    assert disguised.code.tokens == original.code.tokens
    assert "$v" in original.code.tokens


@pytest.mark.parametrize("language", LANGUAGES)
def test_unrelated_code_normalizes_to_another_stream(language: str) -> None:
    a = normalize(PROTECTED[language], kind="code", language=language).code.tokens
    b = normalize(UNRELATED[language], kind="code", language=language).code.tokens
    assert a != b


def test_attributes_keywords_and_builtins_keep_their_names() -> None:
    doc = normalize("def f(x, key=1):\n    return len(x.items, key=key)\n", language="python")
    tokens = doc.code.tokens
    assert "len" in tokens and "items" in tokens
    # the keyword-argument name stays, its value (a parameter) is a placeholder
    i = tokens.index("=", tokens.index("len"))
    assert tokens[i - 1] == "key" and tokens[i + 1] == "$v"


def test_imported_module_names_are_not_placeholders() -> None:
    doc = normalize("import os\n\ndef f(p):\n    return os.path.join(p, 'x')\n", language="python")
    assert "os" in doc.code.tokens and "join" in doc.code.tokens


def test_numbers_and_short_strings_are_abstracted() -> None:
    a = normalize("x = 42 + len('ab')", language="python").code.tokens
    b = normalize("x = 7 + len('zzz')", language="python").code.tokens
    assert a == b and "$n" in a and "$s" in a


def test_comments_and_docstrings_go_to_the_prose_channel() -> None:
    code = 'def f():\n    """Frobnicate the widgets."""\n    # carefully now\n    return 1\n'
    doc = normalize(code, language="python")
    assert doc.text.tokens == ("frobnicate", "the", "widgets", "carefully", "now")
    assert "frobnicate" not in doc.code.tokens


def test_text_is_nfkc_casefolded_words() -> None:
    doc = normalize("ＨＥＬＬＯ, Straße!", kind="text")
    assert doc.text.tokens == ("hello", "strasse")
    assert len(doc.code) == 0


def test_markdown_fences_are_code_and_the_rest_prose() -> None:
    text = "Here you go:\n\n```python\ndef f(a):\n    return a\n```\n\nEnjoy it."
    doc = normalize(text)
    assert doc.code.tokens == ("def", "$v", "(", "$v", ")", ":", "return", "$v")
    assert doc.text.tokens == ("here", "you", "go", "enjoy", "it")


def test_untagged_fence_language_is_detected() -> None:
    text = "```\nfn main() {\n    let mut x = 1;\n    x += 2;\n}\n```"
    doc = normalize(text)
    assert doc.notes == ()
    assert "let" in doc.code.tokens and "$v" in doc.code.tokens


def test_unknown_language_falls_back_to_the_lexer() -> None:
    doc = normalize("proc foo {a b} { return [expr $a + $b] }", kind="code", language="tcl")
    assert any("lexical fallback" in n for n in doc.notes)
    assert len(doc.code) > 5


@pytest.mark.parametrize("language", sorted(LEXICAL))
def test_renaming_what_a_language_without_a_grammar_declares_changes_nothing(
    language: str,
) -> None:
    original = normalize(LEXICAL[language], language=language)
    renamed = reformat(rename(LEXICAL[language], LEXICAL_LOCALS[language]), language)
    assert normalize(renamed, language=language).code.tokens == original.code.tokens
    assert original.notes == ()
    # Not every name is a placeholder: what the code calls or reaches through
    # another value stays as written.
    assert "$v" in original.code.tokens
    assert len(set(original.code.tokens) - {"$v", "$n", "$s"}) > 10


@pytest.mark.parametrize(
    ("language", "called", "other"),
    [("lua", "ipairs", "pairs"), ("swift", "lowerBound", "start"), ("r", "nrow", "ncol")],
)
def test_renaming_what_the_code_uses_but_does_not_declare_changes_its_tokens(
    language: str, called: str, other: str
) -> None:
    code = LEXICAL[language]
    assert called in normalize(code, language=language).code.tokens
    changed = re.sub(rf"\b{called}\b", other, code)
    assert (
        normalize(changed, language=language).code.tokens
        != normalize(code, language=language).code.tokens
    )


@pytest.mark.parametrize(
    ("code", "declared", "kept"),
    [
        ("local total, count = 0, 0\ncount = count + 1", {"total", "count"}, set()),
        ("my ($self, %args) = @_;\nreturn $self->{name};", {"args"}, {"self", "name"}),
        ("function(left, right) return left.size < right.size end", {"left", "right"}, {"size"}),
        ("for (item <- items) println(item)", {"item"}, {"items", "println"}),
        ("xs.map { a, b in a + b }", {"a", "b"}, {"xs", "map"}),
        ("case head :: tail => head + sum(tail)", {"head", "tail"}, {"sum"}),
        ("Foo::bar($x); my $x = 1", {"x"}, {"Foo", "bar"}),
        ("total <- sum(values)\nif (total == 0) stop()", {"total"}, {"sum", "values"}),
        ("a == b\nc => d", set(), {"a", "b", "c", "d"}),
    ],
)
def test_the_lexer_takes_declared_names_for_placeholders(
    code: str, declared: set[str], kept: set[str]
) -> None:
    tokens = normalize(code, language="lua").code.tokens
    assert not declared & set(tokens)
    assert kept <= set(tokens)


@pytest.mark.parametrize(
    ("code", "tokens"),
    [
        ("local count = stats.count", ("local", "$v", "=", "stats", ".", "count")),
        ("my $next = $it->next;", ("my", "$", "$v", "=", "$", "it", "-", ">", "next")),
        ("val rest = Lists::rest", ("val", "$v", "=", "Lists", ":", ":", "rest")),
        ("val rest = xs\nhead :: rest", ("val", "$v", "=", "xs", "head", ":", ":", "$v")),
        ("local s = a .. s", ("local", "$v", "=", "a", ".", ".", "$v")),
    ],
)
def test_a_declared_name_reached_through_another_value_stays_a_name(
    code: str, tokens: tuple[str, ...]
) -> None:
    assert normalize(code, language="lua").code.tokens == tokens


def test_documentation_and_dash_comments_are_prose_for_the_lexer() -> None:
    code = (
        "sub first { 1 }\n\n=head1 USAGE\n\nCall first, then second.\n\n=cut\n\n"
        "-- counts the rows\nlocal n = 0 --[[ a block\ncomment ]]\nn = n - -1\n"
    )
    doc = normalize(code, language="perl")
    assert {"usage", "second", "counts", "block"} <= set(doc.text.tokens)
    assert not {"USAGE", "second", "counts", "block"} & set(doc.code.tokens)


def test_unparseable_code_falls_back_without_crashing() -> None:
    doc = normalize(")))(((}}}{{{ ;;; def def class ]]]" * 20, kind="code", language="python")
    assert len(doc.code) > 0


@pytest.mark.parametrize("text", ["", " ", "\n\n", "\x00\x01", "```", "```python\n"])
def test_degenerate_inputs_normalize(text: str) -> None:
    doc = normalize(text)
    assert len(doc.code.spans) == len(doc.code.tokens)


def test_offsets_point_at_the_token_text_with_non_ascii() -> None:
    code = "def f(näme):\n    s = 'héllo wörld'\n    return näme + s  # çomment\n"
    doc = normalize(code, language="python")
    for tok, (start, end) in zip(doc.code.tokens, doc.code.spans, strict=False):
        if tok not in ("$v", "$n", "$s"):
            assert code[start:end] == tok
    assert [code[s:e] for s, e in doc.code.spans if code[s:e] == "näme"] == ["näme", "näme"]
    assert code[doc.text.spans[0][0] : doc.text.spans[0][1]] == "çomment"


def test_detect_kind_and_language() -> None:
    assert detect_kind("def f(x):\n    return x\n") == "code"
    assert detect_kind("The quick brown fox.\nIt jumps over the dog.") == "text"
    assert detect_kind("Text\n```js\nlet a = 1;\n```") == "markdown"
    assert detect_language("package main\n\nfunc main() {\n\tx := 1\n}") == "go"
    # C is read with the C++ grammar, which gives C code the same tokens
    assert detect_language('#include <stdio.h>\nint main(void) { printf("hi"); }') == "cpp"


def test_python_names_the_snippet_neither_binds_nor_imports_are_placeholders() -> None:
    # A partial copy uses the parameters of a function it leaves out: they must
    # normalize as they do in the full protected function.
    full = "def f(items, limit):\n    total = helper(items)\n    return min(total, limit)\n"
    part = "    total = helper(items)\n    return min(total, limit)\n"
    full_tokens = normalize(full, language="python").code.tokens
    part_tokens = normalize(part.replace("    ", ""), language="python").code.tokens
    assert full_tokens[-len(part_tokens) :] == part_tokens
    kept = normalize("import os\nx = os.sep + len(y)\n", language="python").code.tokens
    assert "os" in kept and "len" in kept and "sep" in kept and "y" not in kept


def test_an_indented_python_snippet_normalizes_like_its_dedented_self() -> None:
    method = "    @property\n    def size(self):\n        return len(self._items)\n"
    indented = normalize(method, language="python")
    dedented = normalize(method.replace("    ", "", 1).replace("\n    ", "\n"), language="python")
    assert indented.notes == ()
    assert indented.code.tokens == dedented.code.tokens
    assert [method[s:e] for s, e in indented.code.spans][:4] == ["@", "property", "def", "size"]


@pytest.mark.parametrize(
    ("language", "full", "part", "kept"),
    [
        (
            "javascript",
            "function total(items, limit) {\n  const sum = helper(items);\n"
            "  return Math.min(sum, limit);\n}\n",
            "const sum = helper(items);\nreturn Math.min(sum, limit);\n",
            ("Math", "min"),
        ),
        (
            "c",
            "static int total(int *items, int limit) {\n  int sum = helper(items);\n"
            "  return memcmp(items, &sum, limit);\n}\n",
            "int sum = helper(items);\nreturn memcmp(items, &sum, limit);\n",
            ("memcmp",),
        ),
    ],
)
def test_free_names_are_locals_of_the_scope_a_snippet_leaves_out(
    language: str, full: str, part: str, kept: tuple[str, ...]
) -> None:
    full_tokens = normalize(full, kind="code", language=language).code.tokens
    part_tokens = normalize(part, kind="code", language=language).code.tokens
    # the snippet's statements normalize as they do inside the whole function
    assert all(tok in full_tokens for tok in part_tokens)
    assert "helper" not in part_tokens and "items" not in part_tokens
    assert all(name in part_tokens for name in kept)


def test_a_broken_javascript_snippet_keeps_its_grammar_tokens() -> None:
    # A fragment cut from inside a call: most of it sits in ERROR nodes.
    fragment = "id = provider.request((stamp) => {\n  id = 0;\n  next({ at: stamp, label: 'x' });\n"
    doc = normalize(fragment, kind="code", language="javascript")
    assert doc.notes == ("javascript parse mostly failed; tokens kept, names taken for locals",)
    assert "$s" in doc.code.tokens and "request" in doc.code.tokens


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.text(), st.text(st.characters(max_codepoint=127))),
    st.integers(0, 40),
    st.integers(0, 40),
)
def test_word_spans_equal_a_match_per_word(text: str, start: int, length: int) -> None:
    # ASCII text takes its own (numpy) path: both are drawn. A word is a run
    # of word characters, but each character of an unspaced script is one.
    start = min(start, len(text))
    end = min(len(text), start + length)
    expected: tuple[list[str], list[int], list[int]] = ([], [], [])
    one_word = re.compile(f"[{_UNSPACED}]|(?:(?![{_UNSPACED}])\\w)+")
    for m in one_word.finditer(text, start, end):
        expected[0].append(normalize_word(m.group()))
        expected[1].append(m.start())
        expected[2].append(m.end())
    assert word_tokens(text, start, end) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(), st.lists(st.integers(0, 60), max_size=12))
def test_words_of_joined_ranges_equal_each_range_split_alone(text: str, cuts: list[int]) -> None:
    points = sorted({min(c, len(text)) for c in cuts})
    ranges = list(zip(points[::2], points[1::2], strict=False))
    expected_words: list[str] = []
    expected_spans: list[list[int]] = []
    for start, end in ranges:
        words, spans = word_spans(text, start, end)
        expected_words += words
        expected_spans += spans.tolist()
    words, spans = words_in_ranges(text, ranges)
    assert (words, spans.tolist()) == (expected_words, expected_spans)


def test_a_prose_stream_kept_as_bytes_is_immutable_and_pickles_whole() -> None:
    import pickle

    stream = normalize("Hello there, General Kenobi", kind="text").text
    assert stream.folded == b"hello there, general kenobi"
    with pytest.raises(AttributeError):
        stream.channel = "code"  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(stream))
    assert copy.tokens == stream.tokens == ("hello", "there", "general", "kenobi")
    assert copy.spans.tolist() == stream.spans.tolist() and len(copy) == 4


def test_non_ascii_names_kept_as_written_are_their_own_text() -> None:
    code = "from café import crème as brûlée\n\ndef f(größe):\n    return brûlée(größe.länge)\n"
    tokens = normalize(code, language="python").code.tokens
    # Imported names stay at every use (the alias too), attributes as written.
    assert tokens.count("brûlée") == 2
    assert {"café", "crème", "länge"} <= set(tokens)
    js = normalize("const wert = größe.länge ?? maß.höhe;\n", language="javascript").code.tokens
    assert {"länge", "höhe"} <= set(js)


def _numbered(code: str, start: int = 1, gutter: str = "{:4d} | ") -> str:
    return "\n".join(gutter.format(start + i) + line for i, line in enumerate(code.splitlines()))


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_listing_copied_with_its_line_numbers_reads_as_the_code(language: str) -> None:
    code = reformat(rename(PROTECTED[language], LOCALS[language]), language)
    plain = normalize(code, language=language).code.tokens
    for numbered in (_numbered(code), _numbered(code, 120, "{}. "), _numbered(code, 7, "{:>3}  ")):
        assert normalize(numbered, language=language).code.tokens == plain
        doc = normalize(numbered)  # unlabelled: still code, in its language
        assert doc.code.tokens == normalize(code).code.tokens
        assert "line numbers ignored" in doc.notes


def test_numbers_that_are_not_a_listing_are_left_alone() -> None:
    steps = "1. Unpack the archive.\n2. Run the installer.\n3. Restart the machine.\n"
    assert without_line_numbers(steps) is not None  # numbered, but prose:
    assert normalize(steps).code.tokens == ()
    assert normalize(steps).text.tokens == normalize(steps, kind="text").text.tokens
    table = "10 20 30\n40 50 60\n70 80 90\n"
    assert without_line_numbers(table) is None  # not one more than the last
    assert without_line_numbers("x = 1\ny = 2\nz = 3\n") is None


@given(st.lists(st.text(alphabet="ab =()\t", max_size=20), min_size=3, max_size=12))
@settings(max_examples=80, deadline=None)
def test_blanking_line_numbers_keeps_every_offset(lines: list[str]) -> None:
    text = "\n".join(f"{i + 1:3d}  {line}" for i, line in enumerate(lines))
    listing = without_line_numbers(text)
    assert listing is not None and len(listing) == len(text)
    assert listing.split("\n") == [f"     {line}" for line in lines]


def test_each_character_of_a_script_without_spaces_is_a_word() -> None:
    text = "Python 的列表 list 很好用, café naïve"
    tokens, spans = word_spans(text)
    assert tokens == ["python", "的", "列", "表", "list", "很", "好", "用", "café", "naïve"]
    assert [text[s:e].casefold() for s, e in spans.tolist()] == tokens
    assert word_spans("สวัสดีครับ")[0] == list("สวัสดีครับ")
    assert word_spans("한국어 문장입니다")[0] == ["한국어", "문장입니다"]  # Korean spaces its words


def test_code_indented_between_paragraphs_is_code_and_indented_prose_is_prose() -> None:
    text = (
        "Merge the spans first.\n\n"
        "    def merge(spans):\n        return sorted(spans)\n\n"
        "1. Then list them:\n\n"
        "    every span on a line of its own, with the words that name it.\n"
        "    The list ends with the total of all the spans you were given.\n"
        "Not a block:\n    x = merge(spans)\n    y = len(x)\n"
    )
    doc = normalize(text, kind="text")
    assert doc.code.tokens == ("def", "$v", "(", "$v", ")", ":", "return", "sorted", "(", "$v", ")")
    assert {"merge", "spans", "every", "total", "not", "block", "len"} <= set(doc.text.tokens)
    assert normalize(f"```\nx\n```\n{text}").code.tokens[-11:] == doc.code.tokens
