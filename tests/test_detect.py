"""Inputs without a language or kind: telling code from prose, and which grammar reads it.

A renamed copy matches only when the output is read with the grammar its
protected original was indexed with (or one that gives the same tokens), so
the guesses are tested by the tokens they lead to.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import LEXICAL, LEXICAL_LOCALS, LOCALS, PROTECTED, UNRELATED, reformat, rename

from ipguard.normalize import code, detect_kind, detect_language, normalize
from ipguard.normalize.detect import language_scores
from ipguard.normalize.languages import language_names
from ipguard.normalize.lexical import lexical_tokens
from ipguard.normalize.text import Tokens

LANGUAGES = sorted(PROTECTED)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unlabelled_disguised_copy_normalizes_like_its_labelled_original(
    language: str,
) -> None:
    original = normalize(PROTECTED[language], kind="code", language=language).code.tokens
    disguised = reformat(rename(PROTECTED[language], LOCALS[language]), language)
    guessed = normalize(disguised).code.tokens
    assert guessed == original


@pytest.mark.parametrize("language", sorted(UNRELATED))
def test_unrelated_code_of_each_language_is_code_of_that_language(language: str) -> None:
    # supersets read them (see detect._READ_AS); TSX without elements is TypeScript
    readers = {"c": {"cpp"}, "javascript": {"typescript"}, "tsx": {"typescript", "tsx"}}
    assert detect_kind(UNRELATED[language]) == "code"
    assert detect_language(UNRELATED[language]) in readers.get(language, {language})


def test_python_of_assignments_and_calls_is_code() -> None:
    body = """
def setup(self, host, port=110, timeout=None):
    self.host = host
    self.port = port
    self.secure = False
    log.audit('connect', self, host, port)
    self.sock = self.open_socket(timeout)
    self.file = self.sock.makefile('rb')
    self.debugging = 0
    self.banner = self.read_response()
"""
    assert detect_kind(body) == "code"
    assert detect_language(body) == "python"


def test_prose_opening_with_keywords_and_holding_separators_is_text() -> None:
    prose = (
        "for these purposes and others (whatever they are); you may use the work as you like,"
        " if the notice stays with every copy that you give to anyone else\n"
        "use of the name of the author to promote a product needs written permission first;"
        " return any copy you cannot keep under these terms to the person who sent it"
    )
    assert detect_kind(prose) == "text"


def test_a_hash_within_a_line_of_prose_opens_no_comment() -> None:
    paragraph = (
        "Two things changed in this release: #12 fixed the parser, which no longer stops at"
        " the first blank line, and the reader now keeps every heading that it finds"
    )
    assert detect_kind(paragraph) == "text"


def test_words_in_comments_do_not_name_the_language() -> None:
    java = """
    /**
     * Ends the session: do |this| in the end, then is it done? elif and fi.
     * @param reader where the records come from
     * @return the number of records read
     */
    public int drain(Reader reader) throws IOException {
        int count = 0;
        while (reader.ready()) {
            reader.read();
            count++;
        }
        return count;
    }
"""
    assert detect_language(java) == "java"
    scores = language_scores(java)
    assert scores.get("ruby", 0) <= 0
    assert scores.get("bash", 0) <= 0
    assert scores.get("python", 0) <= 0


def test_names_that_are_keywords_elsewhere_do_not_name_the_language() -> None:
    javascript = """
var takeUntil = curry(function takeUntil(fn, val, list) {
  var end = list.length;
  var done = false;
  for (var idx = 0; idx < end && !done; idx += 1) {
    done = fn(list[idx], val) === true;
  }
  return list.slice(0, idx);
});
"""
    assert detect_language(javascript) == "typescript"


def test_jsx_is_read_with_the_tsx_grammar() -> None:
    component = """
const Badge = ({ label, count }) => {
  const shown = count > 99 ? "99+" : String(count);
  return (
    <span className="badge" title={label}>
      {shown}
    </span>
  );
};
"""
    assert detect_language(component) == "tsx"


def test_too_little_to_tell_is_no_language() -> None:
    assert detect_language("x") is None
    assert detect_language("a b c d") is None


def test_php_without_its_tag_is_read_as_php(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each grammar classifies its own symbols: PHP's two number them differently.
    monkeypatch.setattr(code, "_KINDS", {})
    body = "function total($items, $rate) {\n  $sum = 0;\n  foreach ($items as $item) {\n"
    body += "    $sum += $item->price * $rate;\n  }\n  return $sum;\n}\n"
    renamed = body.replace("$items", "$xs").replace("$sum", "$acc").replace("$item", "$x")
    bare = normalize(renamed, kind="code", language="php").code.tokens
    tagged = normalize("<?php\n" + body, kind="code", language="php").code.tokens
    assert tagged == ("<?php", *bare)
    assert "$v" in bare  # the variables are placeholders, not one token of text
    assert normalize(renamed).code.tokens == bare  # and guessed as PHP


def test_code_of_a_language_without_a_grammar_is_left_to_the_lexer() -> None:
    perl = """
use strict;
use warnings;

sub count_words {
    my ($self, $path) = @_;
    my %seen;
    open(my $fh, '<', $path) or die "cannot open $path: $!";
    while (my $line = <$fh>) {
        $seen{lc $_}++ for grep { /\\w/ } split /\\s+/, $line;
    }
    $self->{counts} = \\%seen;
    return scalar keys %seen;
}
"""
    assert detect_kind(perl) == "code"
    assert language_scores(perl)["perl"] > language_scores(perl).get("php", 0)
    assert detect_language(perl) is None
    assert normalize(perl).code.tokens == normalize(perl, kind="code", language="perl").code.tokens


#: A Perl method in the style of CPAN modules: no `use strict`, no `@_`, but
#: `$self->` on every line, as in PHP (1,522 of 4,400 Debian Perl subs were
#: read as PHP).
PERL_METHOD = """
sub refresh_totals {
    my $self = shift;
    my $ledger = $self->{ledger};
    unless ( $ledger->is_open ) {
        $self->warn_once("ledger closed");
        return;
    }
    foreach my $entry ( $ledger->entries ) {
        $self->{totals}{ $entry->account } += $entry->amount;
    }
    return $self->{totals};
}
"""
#: Nothing but `sub`, `my` and method calls tells this one from PHP.
PERL_CALLS = """
sub reload_ledger {
    my $self = shift;
    my $ledger = $self->ledger;
    $ledger->reload;
    $self->totals( $ledger->sum_by_account );
    $self->log( 'reloaded', $ledger->name );
    return $self->totals;
}
"""
PHP_FUNCTION = """
function refresh_totals($ledger, $limit)
{
    $totals = [];
    foreach ($ledger->entries() as $entry) {
        $totals[$entry->account] = ($totals[$entry->account] ?? 0) + $entry->amount;
    }
    return array_slice($totals, 0, $limit);
}
"""

PHP_CALLS = """
function reload_ledger($ledger)
{
    foreach ($ledger->entries() as $entry) {
        $entry->reload();
    }
    return $ledger->total();
}
"""


@pytest.mark.parametrize("language", sorted(LEXICAL))
def test_an_unlabelled_copy_in_a_language_without_a_grammar_is_read_by_the_lexer(
    language: str,
) -> None:
    # Read by a grammar it does not fit (Lua as Ruby, Swift as Go, Scala as
    # Kotlin, R as PHP), it would not give its indexed original's tokens.
    original = normalize(LEXICAL[language], language=language).code.tokens
    disguised = reformat(rename(LEXICAL[language], LEXICAL_LOCALS[language]), language)
    assert detect_kind(disguised) == "code"
    assert detect_language(disguised) is None
    assert normalize(disguised).code.tokens == original


def test_perl_and_php_variables_are_told_apart_by_what_surrounds_them() -> None:
    for php in (PHP_FUNCTION, PHP_CALLS):
        scores = language_scores(php)
        assert scores["php"] > scores.get("perl", 0)
        assert detect_language(php) == "php"
    for perl in (PERL_METHOD, PERL_CALLS):
        scores = language_scores(perl)
        assert scores["perl"] > scores.get("php", 0)
        assert detect_language(perl) is None  # left to the lexer


@pytest.mark.parametrize(
    ("line", "favoured", "over"),
    [
        ("foreach ($ledger->entries() as $entry) {", "php", "perl"),
        ("function reload($ledger, $limit = 10) {", "php", "perl"),
        ("function reload(?Ledger $ledger) {", "php", "javascript"),
        ("foreach my $entry (@entries) {", "perl", "php"),
        ("$totals{$account} += $amount;", "perl", "php"),
        ("return $self->{totals}->[0];", "perl", "php"),
        ("my $self = shift;", "perl", "php"),
        ("for i, v in ipairs(items) do", "lua", "ruby"),
        ("local total, count = 0, 0", "lua", "bash"),
        ("table.sort(rows, function(a, b) return a.n > b.n end)", "lua", "javascript"),
        ("func load(from url: URL) throws -> Data {", "swift", "go"),
        ("let names = people.map { person in person.name }", "swift", "rust"),
        ("decoder.keyDecodingStrategy = .convertFromSnakeCase", "swift", "java"),
        ("val total = orders.map(_.amount).sum", "scala", "kotlin"),
        ("def area(shape: Shape): Double = shape match {", "scala", "python"),
        ("for (line <- lines) println(line)", "scala", "kotlin"),
        ("totals <- aggregate(amount ~ customer, data = orders)", "r", "php"),
        ("scores$grade <- cut(scores$points, breaks = c(0, 50, 100))", "r", "php"),
        ("when (val state = load()) {", "kotlin", "cpp"),
        ("    is Failed -> error(state.reason)", "kotlin", "c"),
        ("val first = names.firstOrNull() ?: return", "kotlin", "scala"),
    ],
)
def test_a_telltale_line_favours_its_language(line: str, favoured: str, over: str) -> None:
    scores = language_scores(line)
    assert scores.get(favoured, 0) > scores.get(over, 0)


def test_a_language_without_a_grammar_is_read_by_the_lexer_when_labelled() -> None:
    # However much it looks like another language: its file was read so.
    lexical = Tokens()
    lexical_tokens(PHP_FUNCTION, 0, len(PHP_FUNCTION), lexical, Tokens())
    for label in ("perl", "Perl", "pm", "lua"):
        doc = normalize(PHP_FUNCTION, language=label)
        assert doc.code.tokens == tuple(lexical.words())
        assert doc.notes == ()
    fenced = normalize(f"Here it is:\n\n```perl\n{PERL_METHOD}```\n")
    assert fenced.code.tokens == normalize(PERL_METHOD, language="perl").code.tokens
    assert "$v" in normalize(PHP_FUNCTION, language="php").code.tokens


def test_a_paragraph_on_one_line_is_judged_by_its_sentences() -> None:
    # Models write a paragraph as one line; its `C++`, `(...)` and paths made
    # the whole of it one line of code.
    paragraph = (
        "Since release 8.0 (stretch), compilers from gcc-5 on provide a stable C++ ABI "
        "for the new library. The links in /usr/bin (gcc, g++, cpp) are not managed by "
        "the alternatives system. Builds that mix the two ABIs (old and new) fail at link "
        "time, so rebuild every library you depend on. Ask on the list if unsure."
    )
    assert "\n" not in paragraph and len(paragraph) > 200
    assert detect_kind(paragraph) == "text"
    assert detect_kind(paragraph.replace(". ", ".\n")) == "text"
    # One sentence dense with symbols does not make the others code.
    mapping = (
        "The release notes list three changes to the build of the libraries. Each of them "
        "needs a rebuild of every program that depends on the compiler you use. The third "
        "maps old names (foo, bar) -> new names {baz, qux} in /usr/lib [see notes]; read it."
    )
    assert detect_kind(mapping) == "text"
    loop = "for (i = 0; i < n; i++) total += weight[i] * value[i]; count++;"
    assert detect_kind("\n".join([loop] * 12)) == "code"
    minified = "function f(a,b){return a.map(function(x){return x*b}).filter(Boolean)};" * 20
    assert detect_kind(minified) == "code"


def test_rows_with_trailing_comments_are_code() -> None:
    rows = "\n".join(
        f"    0x{i:04x}: 0x{i + 0x20:04x},     #  LATIN LETTER NUMBER {i} OF THE TABLE"
        for i in range(40)
    )
    assert detect_kind("table = {\n" + rows + "\n}\n") == "code"


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("abcdefmnpsuy_$@#*/\\\"'{}();:=<>|&!? \n\t-")), max_size=600
    )
)
def test_a_guess_is_a_kind_and_a_grammar_ipguard_has(text: str) -> None:
    assert detect_kind(text) in ("markdown", "code", "text")
    guessed = detect_language(text)
    # never a language read through a superset or without a grammar
    assert guessed is None or (guessed in language_names() and guessed not in ("c", "javascript"))
