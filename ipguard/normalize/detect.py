"""Guessing what an unlabelled input is: markdown, code or prose, and which language.

An output checked without a language (a completion, a file without an
extension, an untagged fence) must be read the way its protected original
was indexed: a renamed copy matches only after the same grammar has made its
names placeholders. Every guess here is a count of telltales, weighted by how
much each says about a language; nothing is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from ..model import Kind
from .languages import lexical_language_names
from .markdown import has_fence

#: Lines that look like code whatever the language: a statement keyword at
#: the start, an assignment or a call standing alone, an operator prose does
#: not use, a closing bracket, a string literal alone (a table's row), or a
#: line ending as statements and blocks end.
_CODE_LINE = r"""^\s*(?:
        (?:def|class|import|from|return|if|elif|else|for|while|try|except|finally|with|fn|func|
           let|const|var|val|fun|function|public|private|protected|static|package|use|struct|
           impl|pub|raise|yield|assert|del|lambda|await|throw|echo|local|export|unless|elsif|
           defer|typedef|extern|foreach|using|namespace|switch|case|template|
           \#include|\#define|\#if|\#ifdef|\#ifndef|\#endif)\b
      | (?:break|continue|pass|end|fi|done|esac|else)\s*;?\s*$
      | [}{)\]]
      | @\w+
      | [\w.$\[\]'"]+(?:\s*,\s*[\w.$\[\]]+)*\s*(?:[-+*/%&|^@.]|//|\*\*|<<|>>|\?\?)?=(?!=)
      | [\w.$]+(?:::\w+)*\s*\(.*\)\s*;?\s*$
      | [rRbBuUfF]{0,2}(["'])(?:\\.|(?!\1).)*\1\s*[,+)\]]?\s*$
    )|(?:==|!=|<=|>=|&&|\|\||->|=>|::|\w\+\+[;)\]]|\+\+\w|\+=|-=|:=|<-)
    |[;{}:,(\[]\s*$|^\s*(?://|/\*|\*|\#)"""

#: A line that opens as a comment does (a preprocessor directive or a `#!`
#: line does not).
_COMMENT_LINE = re.compile(
    r"\s*(?://|/\*|\*|\#(?!!|[ \t]*(?:include|define|if|ifdef|ifndef|endif|else|elif|pragma|"
    r"undef|error)\b))"
)
#: A line of eight words or more with at most one symbol a statement needs
#: per eight words is prose, whatever word it opens with ("For these
#: purposes, use ..."): `raise ValueError('too large for the max width')`
#: has 8 words and two brackets.
_WORD = re.compile(r"[^\W\d_]{2,}")
_SYMBOL = re.compile(r"[=;{}()<>\[\]|&$#@\\*+/]")
_SENTENCE_WORDS = 8

#: Where a sentence ends within a line: a full stop, question or exclamation
#: mark after a word, then a space and a capital.
_SENTENCE_END = re.compile(r"(?<=[a-z)][.!?])[ \t]+(?=[A-Z])")
#: Characters of an input whose lines `detect_kind` reads.
_KIND_PROBE = 32_768
#: Characters of a long line's start and end that `detect_kind` looks at.
_LINE_ENDS = 200


@cache
def _regex(pattern: str, flags: int) -> re.Pattern[str]:
    """`pattern` compiled on first use: compiling them all took 11 ms of every
    start, which a check of labelled code never needs."""
    return re.compile(pattern, flags)


_COMMENT_FLAGS = re.DOTALL | re.MULTILINE | re.VERBOSE


def detect_kind(text: str) -> Kind:
    """Guess whether an unlabelled input is markdown, code or prose."""
    if has_fence(text):
        return "markdown"
    # Comments (and lines opening as they do: markdown headings and bullets)
    # are left out, unless nothing else is there: a header file's licence
    # and documentation read as prose, and so does `* emphasis` in prose.
    probe = text[:_KIND_PROBE]
    uncommented = _uncommented(probe, "").splitlines()
    sample = [ln for ln in uncommented if ln.strip() and not _COMMENT_LINE.match(ln)][:400]
    if not sample:
        sample = [ln for ln in probe.splitlines() if ln.strip()][:400]
        if not sample:
            return "text"
    # A paragraph kept on one line (as models write prose) is judged by its
    # sentences, not as one line, which a single `(x)` or `->` made code.
    sample = [part for ln in sample for part in _sentences(ln)]
    code_like = sum(1 for ln in sample if _code_line(ln))
    # Half of the lines looking like code separates source files from prose;
    # prose lines rarely end in ;{}:, or start with a keyword.
    return "code" if code_like >= 0.5 * len(sample) else "text"


def _sentences(line: str) -> list[str]:
    """A line longer than `_LINE_ENDS` cut into its sentences (itself if it has none)."""
    if len(line) <= _LINE_ENDS:
        return [line]
    return _SENTENCE_END.split(line)


def _code_line(line: str) -> bool:
    """Whether a line looks like code: its start and its end decide.

    A long line is searched at both ends only: a paragraph kept on one line
    (21 KB) took 0.6 ms per search, a twentieth of indexing it.
    """
    words = len(_WORD.findall(line, 0, 2 * _LINE_ENDS))
    if (
        words >= _SENTENCE_WORDS
        and _SENTENCE_WORDS * len(_SYMBOL.findall(line, 0, 2 * _LINE_ENDS)) <= words
    ):
        return False
    if len(line) <= 2 * _LINE_ENDS:
        return _regex(_CODE_LINE, re.VERBOSE).search(line) is not None
    return bool(
        _regex(_CODE_LINE, re.VERBOSE).search(line[:_LINE_ENDS])
        or _regex(_CODE_LINE, re.VERBOSE).search(line[-_LINE_ENDS:])
    )


# -- languages ----------------------------------------------------------------

#: Words, and what each says: "language weight" pairs per word. A weight of
#: 3 is a telltale (the word is rare elsewhere), 1 a habit. Keywords that
#: other languages use as names (`fn`, `val`, `end`, `type`, `template`,
#: `int`) are matched as patterns below, in the place only the keyword takes.
_TOKEN_HINTS = """
elif            python 4
self            python 1    ruby 0.5
None            python 1.5  rust 1
True            python 1.5
False           python 1.5
def             python 1.5  ruby 1.5
lambda          python 2
except          python 3
raise           python 2    ruby 1.5
pass            python 1.5
nonlocal        python 3
isinstance      python 3
__init__        python 3
kwargs          python 2
len             python 1    go 1
range           python 1    go 1
print           python 1
is              python 1
not             python 1    ruby 0.5
and             python 0.5  ruby 0.5
or              python 0.5  ruby 0.5
in              python 0.5
NULL            c 3         cpp 1
printf          c 2         cpp 1       bash 0.5
malloc          c 3         cpp 1
memcpy          c 2         cpp 1
strlen          c 2         cpp 1
sizeof          c 2         cpp 1
typedef         c 2         cpp 1
struct          c 1.5       cpp 1       go 1    rust 1   csharp 0.5
unsigned        c 2         cpp 1.5
volatile        c 2         cpp 1.5     java 0.5  csharp 0.5
inline          c 1.5       cpp 1.5
register        c 2
static          c 1         cpp 1       java 1    csharp 1   php 0.5
const           c 0.5       cpp 0.5     javascript 1.5  typescript 1.5  rust 0.5
goto            c 1         cpp 0.5     go 0.5
extern          c 1.5       cpp 1
std             cpp 3
namespace       cpp 2       csharp 2    php 0.5
typename        cpp 3
nullptr         cpp 3
constexpr       cpp 3
noexcept        cpp 3
virtual         cpp 2       csharp 1
auto            cpp 1.5     c 0.5
explicit        cpp 2
public          java 1      csharp 1    cpp 0.5  php 0.5  typescript 0.5  kotlin 0.5
private         java 1      csharp 1    cpp 0.5  php 0.5  typescript 0.5  kotlin 0.5
protected       java 1      csharp 1    cpp 0.5  php 0.5
final           java 2      php 0.5     kotlin 0.5
boolean         java 2      typescript 1
String          java 1      kotlin 1
extends         java 1.5    typescript 1  php 1
implements      java 1.5    typescript 1  php 1
throws          java 3
instanceof      java 2      javascript 1  typescript 1  php 1
Override        java 2      kotlin 1
synchronized    java 3
System          java 2      csharp 1
new             java 1      csharp 1    javascript 0.5  typescript 0.5  cpp 0.5  php 0.5
null            java 1      csharp 1    javascript 1    typescript 1  kotlin 1  php 0.5
this            java 0.5    csharp 0.5  javascript 1    typescript 1  cpp 0.5
function        javascript 2  typescript 1.5  php 1
let             javascript 1.5  typescript 1.5  rust 1.5
var             javascript 1.5  typescript 0.5  csharp 1.5  go 1  kotlin 1
undefined       javascript 3  typescript 2
require         javascript 2  ruby 1.5  php 1
exports         javascript 3
console         javascript 2  typescript 2
prototype       javascript 3  typescript 1
async           javascript 1  typescript 1  csharp 1  rust 0.5  python 0.5
await           javascript 1  typescript 1  csharp 1  rust 0.5  python 0.5
interface       typescript 2  java 1      go 1    csharp 1   kotlin 1  php 1
readonly        typescript 3  csharp 1.5
keyof           typescript 3
package         go 2        java 1.5    kotlin 1.5
nil             go 2        ruby 2
chan            go 3
defer           go 3
fmt             go 3
mut             rust 4
impl            rust 4
pub             rust 3
Some            rust 3
Ok              rust 2
Err             rust 2
Vec             rust 3
usize           rust 3
unwrap          rust 3
crate           rust 3
elsif           ruby 4      perl 4
unless          ruby 2      perl 2
puts            ruby 3
attr_accessor   ruby 4
attr_reader     ruby 4
croak           perl 4
confess         perl 4
bless           perl 4
wantarray       perl 4
__PACKAGE__     perl 4
ipairs          lua 4
pairs           lua 3
pcall           lua 4
setmetatable    lua 4
tostring        lua 2
implicit        scala 4
sealed          scala 2     kotlin 2
yield           python 1    scala 1     javascript 0.5
NA              r 3
TRUE            r 2
FALSE           r 2
nrow            r 4
ncol            r 4
seq_len         r 4
seq_along       r 4
lapply          r 4
sapply          r 4
rbind           r 4
cbind           r 4
paste0          r 4
library         r 2
mutating        swift 4
DispatchQueue   swift 4
using           csharp 2    cpp 1
foreach         csharp 2    php 2       perl 1
Console         csharp 3
override        csharp 1.5  kotlin 1.5  cpp 0.5
echo            php 2       bash 2
isset           php 4
companion       kotlin 4
fi              bash 4
esac            bash 4
export          bash 1      javascript 1  typescript 1
"""

#: Symbols, keywords in their place, and lines of a shape, that tell
#: languages apart.
_PATTERN_HINTS: tuple[tuple[tuple[str, ...], str, tuple[tuple[str, float], ...]], ...] = (
    # a block opened with a colon and no brace: Python
    (
        (":",),
        r"^[ \t]*(?:if|elif|else|for|while|def|class|try|except|finally|with|async[ \t]+def)\b"
        r"[^\n{;]*:[ \t]*$",
        (("python", 3),),
    ),
    (("self",), r"\([ \t]*self\b", (("python", 3),)),
    ((";",), r";[ \t]*$", (("python", -1.5), ("ruby", -1), ("go", -0.5), ("kotlin", -0.5))),
    (("{",), r"\{[ \t]*$", (("python", -2.5), ("ruby", -1.5))),
    (("::",), r"::", (("cpp", 1.5), ("rust", 1.5), ("php", 1), ("ruby", 0.5))),
    (("->",), r"->", (("c", 1.5), ("cpp", 1.5), ("php", 0.5), ("rust", 1))),
    (
        ("=>",),
        r"=>",
        (("javascript", 1), ("typescript", 1), ("php", 0.5), ("rust", 1), ("csharp", 1)),
    ),
    ((":=",), r":=", (("go", 3),)),
    (("==",), r"===|!==", (("javascript", 2), ("typescript", 2), ("php", 1))),
    (("?", "!!"), r"\?\.|\?:|!!\.", (("kotlin", 1.5), ("typescript", 0.5), ("csharp", 0.5))),
    (
        ("int", "char", "long", "short", "unsigned", "void", "double", "float", "bool"),
        r"\b(?:int|char|long|short|unsigned|void|double|float|bool)[ \t]+\**[ \t]*[A-Za-z_]",
        (("c", 1), ("cpp", 1), ("java", 0.7), ("csharp", 0.7)),
    ),
    (("_t",), r"\b\w+_t\b", (("c", 1.5), ("cpp", 1))),
    (("#",), r"^[ \t]*\#[ \t]*(?:define|ifn?def|endif|if|undef|pragma)\b", (("c", 2), ("cpp", 1))),
    (("include",), r"^[ \t]*\#[ \t]*include[ \t]*[<\"]", (("c", 2), ("cpp", 1))),
    (("std::",), r"\bstd::", (("cpp", 2),)),
    (("template",), r"\btemplate[ \t]*<", (("cpp", 3),)),
    (("operator",), r"\boperator[ \t]*(?:[^\w\s(]{1,3}|\(\))[ \t]*\(", (("cpp", 3),)),
    (
        ("public", "private", "protected"),
        r"^[ \t]*(?:public|private|protected)[ \t]*:",
        (("cpp", 3),),
    ),
    (("String",), r"\bString[ \t]+\w+[ \t]*[=;,)]", (("java", 2), ("csharp", 0.5))),
    (("java.",), r"^[ \t]*import[ \t]+java\.", (("java", 6),)),
    # `package a.b;` is Java's, `package a.b` Kotlin's, `package a` Go's
    (("package",), r"^package[ \t]+\w+(?:\.\w+)+[ \t]*;", (("java", 4),)),
    (("package",), r"^package[ \t]+\w+(?:\.\w+)+[ \t]*$", (("kotlin", 3),)),
    (("package",), r"^package[ \t]+\w+[ \t]*$", (("go", 3),)),
    (("module.exports",), r"\bmodule\.exports\b", (("javascript", 3),)),
    (
        ("function",),
        r"\bfunction\b[ \t]*\*?[ \t]*\w*[ \t]*\([\w$, \t]*\)[ \t]*\{",
        (("javascript", 2), ("php", 0.5)),
    ),
    (
        ("type",),
        r"^[ \t]*(?:export[ \t]+)?type[ \t]+\w+[ \t]*(?:<[^>\n]*>)?[ \t]*=",
        (("typescript", 3),),
    ),
    (
        ("string", "number", "boolean", "void", "any", "unknown", "never"),
        r"\w[?!]?:[ \t]*(?:string|number|boolean|void|any|unknown|never)\b",
        (("typescript", 3),),
    ),
    (("func",), r"^[ \t]*func[ \t]+(?:\([^)\n]*\)[ \t]*)?\w+[ \t]*\(", (("go", 4),)),
    (("func",), r"\bfunc[ \t]*\(", (("go", 2),)),
    (("fmt.", "err != nil"), r"\bfmt\.\w+\(|\berr != nil\b", (("go", 4),)),
    (("fn",), r"\bfn[ \t]+\w+[ \t]*[<(]", (("rust", 4),)),
    (("match",), r"\bmatch[ \t]+[\w.&*]+[ \t]*\{", (("rust", 2),)),
    (
        ("i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "size", "&mut", "&self"),
        r"\b(?:i|u)(?:8|16|32|64|size)\b|&mut\b|&self\b",
        (("rust", 3),),
    ),
    (("end",), r"^[ \t]*end[ \t]*$", (("ruby", 2),)),
    (("|",), r"\bdo[ \t]*\|[^|\n]*\|", (("ruby", 4),)),
    (("@",), r"(?<![\w@])@[a-z_]\w*(?![\w(])", (("ruby", 1.5),)),
    (("@",), r"^[ \t]*@\w+", (("python", 1), ("java", 1.5), ("kotlin", 1), ("typescript", 0.5))),
    (("get", "set"), r"\{[ \t]*get;|\bget[ \t]*\{|\bset[ \t]*\{", (("csharp", 3),)),
    (("System",), r"^[ \t]*using[ \t]+System", (("csharp", 6),)),
    (("<?php",), r"<\?php", (("php", 20),)),
    (("$this",), r"\$this\b", (("php", 4),)),
    # Variables with a sigil: PHP's and Perl's alike; what follows tells them apart.
    (("$",), r"(?<![\w$])\$[a-z_]\w*\s*(?:=[^=]|->|\[|\))", (("php", 2), ("perl", 2))),
    (("foreach",), r"\bforeach[ \t]*\([^\n]*?[ \t]as[ \t]+&?\$", (("php", 4),)),
    (("function",), r"\bfunction[ \t]+&?\w+[ \t]*\([ \t]*(?:\??[\w\\]+[ \t]+)?&?\$", (("php", 4),)),
    (("array",), r"\barray[ \t]*\(", (("php", 1.5),)),
    (("fun",), r"\bfun[ \t]+[\w.<>]+[ \t]*\(", (("kotlin", 4),)),
    (("val",), r"\bval[ \t]+\w+[ \t]*[:=]", (("kotlin", 3), ("scala", 2))),
    (("when",), r"\bwhen[ \t]*(?:\([^\n]*\))?[ \t]*\{", (("kotlin", 3),)),
    (("is",), r"^[ \t]*!?is[ \t]+[A-Z][\w.<>]*[ \t]*->", (("kotlin", 3),)),
    (("$",), r"\$[0-9@#?*]|\"\$\{?[A-Za-z_]|\$\([a-z]", (("bash", 1.5),)),
    (("[",), r"\[\[ |\[ +-[a-z] ", (("bash", 3),)),
    (
        ("done", "then", "fi", "esac", "do"),
        r"^[ \t]*(?:done|then|fi|esac)[ \t]*$|;[ \t]*(?:then|do)[ \t]*$",
        (("bash", 4),),
    ),
    (("local",), r"\blocal[ \t]+\w+=", (("bash", 2),)),
    (("#!",), r"^\#!\S*(?:ba|z|k|da)?sh\b", (("bash", 20),)),
    (("#!",), r"^\#!\S*python", (("python", 20),)),
    (("#!",), r"^\#!\S*ruby", (("ruby", 20),)),
    (("#!",), r"^\#!\S*(?:node|deno)", (("javascript", 20),)),
    # Languages without a grammar here, told apart so that their code is not
    # read with a grammar it does not fit (Perl's `$self->{x}` looks like PHP)
    # but by the lexical tokenizer, the same way in a file and in a snippet.
    (("#!",), r"^\#!\S*perl", (("perl", 20),)),
    (("my",), r"\bmy[ \t]*[$@%(]", (("perl", 4),)),
    (("->",), r"->[{\[]", (("perl", 3),)),
    (("{",), r"\$\w+\{", (("perl", 2),)),
    (("foreach",), r"\bforeach[ \t]+my\b", (("perl", 3),)),
    (("sub",), r"^[ \t]*sub[ \t]+\w+[ \t]*\{", (("perl", 4),)),
    (("=~",), r"=~[ \t]*[msy]?/", (("perl", 3), ("ruby", 1))),
    (("qw",), r"\bqw[ \t]*[(\[{/]", (("perl", 3),)),
    (("@_", "$_"), r"@_\b|\$_\b|\$_\[", (("perl", 2),)),
    (("use",), r"^use[ \t]+(?:strict|warnings)\b", (("perl", 6),)),
    (("=",), r"^=(?:head\d|pod|cut|item|over|back)\b", (("perl", 4),)),
    (("local",), r"\blocal[ \t]+function\b", (("lua", 5),)),
    # `local x = 1` (Bash writes `local x=1`), a loop's `do` ending its line
    # without Bash's `;`, an anonymous function ended by `end`, `#list`.
    (("local",), r"\blocal[ \t]+\w+(?:[ \t]*,[ \t]*\w+)*[ \t]+=", (("lua", 3),)),
    (("do",), r"^[ \t]*(?:for|while)\b[^;\n]*[^;\s][ \t]+do[ \t]*$", (("lua", 3),)),
    (("end",), r"\bfunction[ \t]*\([^)\n]*\)[^\n]*\bend\b", (("lua", 4),)),
    (("#",), r"[\[(=,{][ \t]*\#[A-Za-z_]", (("lua", 2),)),
    (("function",), r"^[ \t]*function[ \t]+\w+[.:]\w+[ \t]*\(", (("lua", 4),)),
    (
        ("table.", "string."),
        r"\b(?:table|string)\.(?:insert|remove|sort|concat|format|sub|gsub|gmatch|find|rep)\b",
        (("lua", 3),),
    ),
    (("~=",), r"~=", (("lua", 2),)),
    (("elseif",), r"\belseif\b", (("lua", 2), ("php", 1))),
    (("then",), r"\bthen[ \t]*$", (("lua", 1.5), ("ruby", 0.5), ("bash", 0.5))),
    (("--",), r"^[ \t]*--", (("lua", 1), ("sql", 1), ("haskell", 1))),
    (("guard",), r"\bguard[ \t]+(?:let|var)\b", (("swift", 5),)),
    (("import",), r"^import[ \t]+(?:UIKit|Foundation|SwiftUI|Combine)\b", (("swift", 6),)),
    (
        ("func",),
        r"\bfunc[ \t]+\w+[ \t]*(?:<[^>\n]*>)?\([^\n]*\)[ \t]*"
        r"(?:(?:throws|rethrows|async)[ \t]*)*->",
        # Go's `func` never returns with `->`.
        (("swift", 6),),
    ),
    # Swift: an unlabelled parameter, a closure's `{ a, b in`, `if let`, an
    # attribute, a range, a typed `let`/`var` of a capitalised type.
    (("_",), r"\([ \t]*_[ \t]+\w+[ \t]*:", (("swift", 5),)),
    (("try ", "try?", "try!"), r"\btry[?!]?[ \t]+\w", (("swift", 3),)),
    ((".self",), r"\w\.self\b", (("swift", 3),)),
    (("=", "(", ","), r"[=(,][ \t]*\.[a-z]\w*", (("swift", 3),)),
    (
        ("in",),
        r"\{[ \t]*(?:\[[^\]\n]*\][ \t]*)?\w+(?:[ \t]*,[ \t]*\w+)*[ \t]+in\b",
        (("swift", 4),),
    ),
    (("let",), r"\bif[ \t]+let[ \t]+\w+[ \t]*=", (("swift", 3),)),
    (
        ("@",),
        r"@(?:escaping|objc|State|Published|MainActor|discardableResult|Binding)\b",
        (("swift", 4),),
    ),
    (("..",), r"\w[ \t]*\.\.[.<][ \t]*\w", (("swift", 2), ("ruby", 1))),
    (
        ("let", "var"),
        r"\b(?:let|var)[ \t]+\w+[ \t]*:[ \t]*\[?[A-Z]\w*",
        (("swift", 2), ("kotlin", 1)),
    ),
    (("case",), r"\bcase[ \t]+class\b", (("scala", 5),)),
    (("def",), r"\bdef[ \t]+\w+[^\n=]*\)[ \t]*:[^\n=]*=", (("scala", 5),)),
    # Scala: `x match {`, `case ... =>`, `x <- xs` in a `for`, `[T]` type
    # arguments of a capitalised type, `object`, a lambda's `_.name`.
    (("match",), r"\w[ \t]+match[ \t]*\{", (("scala", 4),)),
    (("case",), r"\bcase[ \t][^\n]*=>", (("scala", 3),)),
    (("<-",), r"^[ \t]*\w+[ \t]*<-[ \t]*\w+[ \t]*$|\bfor[ \t]*[({][^\n]*<-", (("scala", 3),)),
    (("[",), r"\b[A-Z]\w*\[[A-Z(]", (("scala", 1.5),)),
    (("object",), r"^[ \t]*(?:case[ \t]+)?object[ \t]+\w+", (("scala", 3), ("kotlin", 1))),
    (("_.",), r"[(\s]_\.\w", (("scala", 3),)),
    # R: `<-` assignment, `function(` assigned, `x$name`, `c(`.
    (("<-",), r"^[ \t]*[\w.]+(?:\$\w+|\[[^\]\n]*\])?[ \t]*<-[ \t]*\S", (("r", 3),)),
    (("<-",), r"<-[ \t]*function[ \t]*\(", (("r", 5),)),
    (("$",), r"[a-z0-9)\]]\$[a-z_]", (("r", 3),)),
    (("c(",), r"(?<![\w.])c\([^)\n]*,", (("r", 2),)),
    (("::",), r"^\w+[ \t]+::[ \t]", (("haskell", 5),)),
    (("import",), r"^import[ \t]+qualified\b", (("haskell", 6),)),
    (("SELECT", "select"), r"(?i)\bselect\b[^;]*?\bfrom\b", (("sql", 4),)),
    (("CREATE", "create"), r"(?i)\bcreate[ \t]+(?:table|index|view)\b", (("sql", 5),)),
    (("</", "/>"), r"</\w+>|/>", (("javascript", 1), ("typescript", 0.5), ("php", 0.5))),
)

_HINT_TOKEN = re.compile(r"[A-Za-z_]\w*")


def _token_table(spec: str) -> dict[str, tuple[tuple[str, float], ...]]:
    table: dict[str, tuple[tuple[str, float], ...]] = {}
    for line in spec.strip().splitlines():
        word, *rest = line.split()
        table[word] = tuple((rest[i], float(rest[i + 1])) for i in range(0, len(rest), 2))
    return table


_TOKENS = _token_table(_TOKEN_HINTS)

#: Characters of an input scored: the first 8 K named the language of 699
#: of 700 files of seven languages as the first 20 K did, in half the time.
_PROBE = 8_192
#: A token counts at most this often: one loop's `append` is not a language.
_MAX_HITS = 8
#: Score below which no language is guessed (the lexical fallback reads it).
#: Guessing from little evidence beats not guessing: on the accuracy
#: benchmark's unlabelled cases, recall 0.968 at 4, 0.978 at 1, the same
#: false positives; the language was right for 91% of its code at 4 and 99%
#: at 1, for held-out snippets 78% and 83%.
MIN_SCORE = 1.0


#: Comments and docstrings, whose English words (`in`, `end`, `is`) and
#: markup (`@param`, `->`) say nothing about the code around them. A `#`
#: opens a comment at a line's start, unless a directive (`#include`, `#!`,
#: `#[derive]`, `#region`) follows; within a line only before a space, as
#: prose rarely writes it ("issue #12" cut a paragraph on one line there).
_COMMENTS = r"""/\*.*?(?:\*/|\Z)|(?<![:\w])//[^\n]*|^[ \t]*\*(?:[ \t][^\n]*)?$
      |\"\"\".*?(?:\"\"\"|\Z)|'''.*?(?:'''|\Z)
      |(?<=[ \t])\#[ \t][^\n]*
      |^[ \t]*\#(?![!\[]|[ \t]*(?:include|define|if|ifdef|ifndef|endif|else|elif|
          pragma|undef|error|region|endregion)\b)[^\n]*"""


#: What every comment `_COMMENTS` removes starts with (one character each
#: where it can be: a search for a character took 0.3 us of 21 KB, for
#: two or three 8-14 us).
_COMMENT_MARKS = ("#", "*", "/", '"""', "'''")


def _uncommented(text: str, gap: str) -> str:
    """`text` with its comments replaced by `gap`.

    Searched only when a comment can be there: the search took 0.9 ms of a
    21 KB paragraph, which holds none (2,000 of them: 1.8 s of a 3 s build).
    """
    if not any(mark in text for mark in _COMMENT_MARKS):
        return text
    return _regex(_COMMENTS, _COMMENT_FLAGS).sub(gap, text)


def language_scores(code: str) -> dict[str, float]:
    """Each language's weighted count of telltales in `code`, comments left out."""
    probe = _uncommented(code[:_PROBE], " ")
    counts: dict[str, int] = {}
    for word in _HINT_TOKEN.findall(probe):
        if word in _TOKENS:
            counts[word] = counts.get(word, 0) + 1
    scores: dict[str, float] = {}
    for word, n in counts.items():
        _add(scores, _TOKENS[word], min(n, _MAX_HITS))
    for gates, pattern, weights in _PATTERN_HINTS:
        # A pattern needs one of its gates, found faster than it is.
        if not any(g in probe for g in gates):
            continue
        n = len(_regex(pattern, re.MULTILINE).findall(probe))
        if n:
            _add(scores, weights, min(n, _MAX_HITS))
    return scores


def _add(scores: dict[str, float], weights: Iterable[tuple[str, float]], n: int) -> None:
    for lang, w in weights:
        scores[lang] = scores.get(lang, 0.0) + w * n


def detect_language(code: str) -> str | None:
    """Guess the language of a code snippet from telltale constructs, or None."""
    scores = language_scores(code)
    if not scores:
        return None
    best = max(scores, key=lambda n: scores[n])
    if scores[best] < MIN_SCORE:
        return None
    if best in _WITHOUT_GRAMMAR:
        return None
    if best in _JS_FAMILY:
        return "tsx" if _JSX.search(code, 0, _PROBE) else "typescript"
    return _READ_AS.get(best, best)


#: A grammar that reads a language's code as its own grammar does, and more
#: besides: C code normalizes to the same tokens with the C++ grammar (all of
#: the accuracy benchmark's C cases), C++ code with the C grammar to 82% of
#: its own; JavaScript with TypeScript's grammar to the same tokens as with
#: its own. Telling them apart in a snippet is a guess; the superset makes a
#: wrong guess cost nothing.
_READ_AS = {"c": "cpp"}
#: Languages scored only to be recognised: read by the lexical tokenizer.
_WITHOUT_GRAMMAR = frozenset(lexical_language_names())
_JS_FAMILY = frozenset({"javascript", "typescript"})
#: JSX elements (`</Tag>` or a self-closing `/>`): TSX's grammar reads them.
_JSX = re.compile(r"</[A-Za-z][\w.]*>|/>")
