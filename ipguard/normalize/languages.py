"""The typed registry of supported code languages.

Each entry names its official tree-sitter grammar wheel (loaded lazily, never
downloaded) and the syntax that binds a name inside a snippet. Names bound in
the snippet become placeholders; all other names stay as written, because
abstracting every identifier raised false positives on novel code from about
1% to 15% at the same recall (MEASURED.md, point 1).
"""

from __future__ import annotations

import builtins
import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class LanguageSpec:
    """How one language is recognised, parsed and normalized."""

    name: str
    module: str
    function: str
    extensions: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    #: node type -> fields whose subtrees are binding patterns ("*" = the whole
    #: node, "#TYPE" = its direct children of that node type).
    binders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: identifier node types that a binding may rename.
    local_identifiers: tuple[str, ...] = ("identifier",)
    #: (parent type, field) positions where an identifier keeps its name anyway.
    keep_positions: frozenset[tuple[str, str]] = frozenset()
    #: node types whose docstring-like bare strings go to the prose channel.
    docstring_parents: tuple[str, ...] = ()
    #: An identifier right after `.`, `?.` or `::` names a member and keeps its
    #: name (for grammars whose member accesses carry no field names).
    keep_after_dot: bool = False
    #: Names the language itself provides (builtins); with `free_names_local`,
    #: any other name that the snippet neither binds nor imports is taken for a
    #: local of a scope the snippet leaves out (a partial copy's parameters).
    known_globals: frozenset[str] = frozenset()
    free_names_local: bool = False
    #: Parent node types of identifiers that name imported modules and symbols.
    import_parents: frozenset[str] = frozenset()


_JS_BINDERS: dict[str, tuple[str, ...]] = {
    "function_declaration": ("name", "parameters"),
    "generator_function_declaration": ("name", "parameters"),
    "function_expression": ("name", "parameters"),
    "function": ("name", "parameters"),
    "arrow_function": ("parameters", "parameter"),
    "method_definition": ("parameters",),
    "class_declaration": ("name",),
    "variable_declarator": ("name",),
    "catch_clause": ("parameter",),
    "for_in_statement": ("left",),
}
# A shorthand property ({name}) reads or binds the local variable of that name.
_JS_LOCALS = (
    "identifier",
    "shorthand_property_identifier_pattern",
    "shorthand_property_identifier",
)


#: Globals of the ECMAScript standard library and of the common hosts (browser,
#: Node). Any other name a snippet uses without binding or importing it is
#: taken for a local of a scope the snippet leaves out.
def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_JS_GLOBALS = _names(
    """
    Array ArrayBuffer Atomics BigInt BigInt64Array BigUint64Array Boolean DataView Date
    Error EvalError FinalizationRegistry Float32Array Float64Array Function Infinity
    Int8Array Int16Array Int32Array Intl JSON Map Math NaN Number Object Promise Proxy
    RangeError ReferenceError Reflect RegExp Set SharedArrayBuffer String Symbol
    SyntaxError TypeError URIError Uint8Array Uint8ClampedArray Uint16Array Uint32Array
    WeakMap WeakRef WeakSet arguments decodeURI decodeURIComponent encodeURI
    encodeURIComponent escape eval globalThis isFinite isNaN parseFloat parseInt
    undefined unescape this super null true false
    AbortController Blob Buffer URL URLSearchParams TextDecoder TextEncoder clearInterval
    clearTimeout console crypto document exports fetch global localStorage location
    module navigator performance process queueMicrotask require setImmediate
    setInterval setTimeout structuredClone window
    """
)
_JS_IMPORTS = frozenset({"import_specifier", "import_clause", "namespace_import"})
#: Names of the C and C++ standard libraries (and their usual macros) that a
#: snippet uses without declaring them; any other undeclared name is taken for
#: a local, parameter or sibling function of the file the snippet came from.
_C_GLOBALS = _names(
    """
    NULL EOF errno stdin stdout stderr assert offsetof va_start va_end va_arg va_copy
    true false bool INT_MAX INT_MIN UINT_MAX LONG_MAX LONG_MIN SIZE_MAX CHAR_BIT
    memcpy memmove memset memcmp memchr strlen strnlen strcmp strncmp strcpy strncpy
    strcat strncat strchr strrchr strstr strdup strndup strtok strerror malloc calloc
    realloc free printf fprintf sprintf snprintf vprintf vfprintf vsnprintf puts fputs
    putchar fputc getchar fgetc fgets fopen fclose fread fwrite fseek ftell fflush
    perror exit abort atexit atoi atol strtol strtoul strtoll strtoull strtod qsort
    bsearch abs labs isalpha isdigit isspace isalnum isupper islower isxdigit toupper
    tolower time clock read write open close pthread_mutex_lock pthread_mutex_unlock
    std move forward swap begin end size make_pair make_tuple make_shared make_unique
    cout cerr endl min max get
    """
)
# Builtins and the standard library's most used names in the other languages:
# with free-name abstraction on, anything else a snippet does not declare is
# taken for a local of the scope it leaves out, as in Python.
_JAVA_GLOBALS = _names(
    """
    System Math String Integer Long Double Boolean Character Object Objects Arrays
    Collections List ArrayList Map HashMap Set HashSet Optional Stream Collectors
    Exception RuntimeException IllegalArgumentException IllegalStateException
    StringBuilder Thread Iterator length null true false this super
    """
)
_GO_GLOBALS = _names(
    """
    append cap clear close complex copy delete imag len make max min new panic print
    println real recover nil true false iota bytes context errors fmt io json log math
    os sort strconv strings sync time filepath http
    """
)
_RUST_GLOBALS = _names(
    """
    println print eprintln eprint format write writeln vec panic assert assert_eq
    assert_ne debug_assert unreachable todo unimplemented matches Some None Ok Err Box
    Vec String Option Result HashMap HashSet BTreeMap Rc Arc RefCell Cell Default
    Clone Iterator std core alloc self Self super crate
    """
)
_CSHARP_GLOBALS = _names(
    """
    Console Math String Int32 Int64 Double Boolean Object Exception
    ArgumentException ArgumentNullException InvalidOperationException List
    Dictionary HashSet IEnumerable Task Enumerable StringBuilder DateTime TimeSpan
    Guid Array Convert nameof var value
    """
)
_KOTLIN_GLOBALS = _names(
    """
    println print listOf mutableListOf mapOf mutableMapOf setOf mutableSetOf arrayOf
    emptyList emptyMap require requireNotNull check checkNotNull error TODO repeat
    maxOf minOf lazy run let apply also with takeIf String Int Long Double Boolean
    Any Unit List Map Set Pair it this super null true false
    """
)
_RUBY_GLOBALS = _names(
    """
    puts print p pp require require_relative raise attr_accessor attr_reader
    attr_writer include extend private protected public lambda proc loop format
    sprintf block_given? Array Hash String Integer Float Kernel Struct Comparable
    Enumerable StandardError ArgumentError RuntimeError nil true false self
    """
)
_C_BINDERS: dict[str, tuple[str, ...]] = {
    "function_definition": ("declarator",),
    "declaration": ("declarator",),
    "parameter_declaration": ("declarator",),
    "optional_parameter_declaration": ("declarator",),
    "for_range_loop": ("declarator",),
}

SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "python",
        "tree_sitter_python",
        "language",
        (".py", ".pyi", ".pyw"),
        ("py", "python3", "py3"),
        binders={
            "function_definition": ("name", "parameters"),
            "class_definition": ("name",),
            "assignment": ("left",),
            "augmented_assignment": ("left",),
            "for_statement": ("left",),
            "for_in_clause": ("left",),
            "as_pattern_target": ("*",),
            "lambda": ("parameters",),
            "named_expression": ("name",),
        },
        keep_positions=frozenset({("attribute", "attribute"), ("keyword_argument", "name")}),
        docstring_parents=("module", "block"),
        known_globals=frozenset(dir(builtins)) | {"__file__", "__name__", "__all__", "__doc__"},
        free_names_local=True,
        import_parents=frozenset({"dotted_name", "aliased_import"}),
    ),
    LanguageSpec(
        "javascript",
        "tree_sitter_javascript",
        "language",
        (".js", ".mjs", ".cjs", ".jsx"),
        ("js", "jsx", "node", "nodejs"),
        binders=_JS_BINDERS,
        local_identifiers=_JS_LOCALS,
        known_globals=_JS_GLOBALS,
        free_names_local=True,
        import_parents=_JS_IMPORTS,
    ),
    LanguageSpec(
        "typescript",
        "tree_sitter_typescript",
        "language_typescript",
        (".ts", ".mts", ".cts"),
        ("ts",),
        binders=_JS_BINDERS,
        local_identifiers=_JS_LOCALS,
        known_globals=_JS_GLOBALS,
        free_names_local=True,
        import_parents=_JS_IMPORTS,
    ),
    LanguageSpec(
        "tsx",
        "tree_sitter_typescript",
        "language_tsx",
        (".tsx",),
        (),
        binders=_JS_BINDERS,
        local_identifiers=_JS_LOCALS,
        known_globals=_JS_GLOBALS,
        free_names_local=True,
        import_parents=_JS_IMPORTS,
    ),
    LanguageSpec(
        "java",
        "tree_sitter_java",
        "language",
        (".java",),
        (),
        binders={
            "method_declaration": ("name", "parameters"),
            "constructor_declaration": ("parameters",),
            "variable_declarator": ("name",),
            "formal_parameter": ("name",),
            "spread_parameter": ("*",),
            "catch_formal_parameter": ("name",),
            "enhanced_for_statement": ("name",),
            "lambda_expression": ("parameters",),
        },
        keep_positions=frozenset({("field_access", "field")}),
        keep_after_dot=True,
        known_globals=_JAVA_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "c",
        "tree_sitter_c",
        "language",
        (".c", ".h"),
        (),
        binders=_C_BINDERS,
        keep_after_dot=True,
        known_globals=_C_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "cpp",
        "tree_sitter_cpp",
        "language",
        # Besides sources and headers: template implementations (.ipp, .tpp,
        # .inl, libstdc++'s .tcc) and C++20 module interfaces (.ixx, .cppm).
        (
            ".cc",
            ".cpp",
            ".cxx",
            ".hpp",
            ".hh",
            ".hxx",
            ".c++",
            ".h++",
            ".ipp",
            ".tpp",
            ".inl",
            ".tcc",
            ".ixx",
            ".cppm",
        ),
        ("c++", "cxx", "cc"),
        binders=_C_BINDERS,
        keep_after_dot=True,
        known_globals=_C_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "go",
        "tree_sitter_go",
        "language",
        (".go",),
        ("golang",),
        binders={
            "function_declaration": ("name", "parameters", "result"),
            "method_declaration": ("receiver", "parameters", "result"),
            "func_literal": ("parameters", "result"),
            "parameter_declaration": ("name",),
            "variadic_parameter_declaration": ("name",),
            "short_var_declaration": ("left",),
            "var_spec": ("name",),
            "const_spec": ("name",),
            "range_clause": ("left",),
        },
        known_globals=_GO_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "rust",
        "tree_sitter_rust",
        "language",
        (".rs",),
        ("rs",),
        binders={
            "function_item": ("name", "parameters"),
            "parameter": ("pattern",),
            "let_declaration": ("pattern",),
            "for_expression": ("pattern",),
            "closure_parameters": ("*",),
            "match_arm": ("pattern",),
            "let_condition": ("pattern",),
        },
        keep_after_dot=True,
        known_globals=_RUST_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "csharp",
        "tree_sitter_c_sharp",
        "language",
        (".cs", ".csx"),
        ("cs", "c#", "csharp"),
        binders={
            "method_declaration": ("name", "parameters"),
            "local_function_statement": ("name", "parameters"),
            "parameter": ("name",),
            "variable_declarator": ("name",),
            "foreach_statement": ("left",),
            "catch_declaration": ("name",),
            "lambda_expression": ("parameters",),
            "implicit_parameter": ("*",),
        },
        local_identifiers=("identifier", "implicit_parameter"),
        # Type names stay: C#'s grammar gives them plain identifiers.
        keep_positions=frozenset(
            {
                ("member_access_expression", "name"),
                ("argument", "name"),
                ("method_declaration", "returns"),
                ("local_function_statement", "type"),
                ("parameter", "type"),
                ("variable_declaration", "type"),
                ("property_declaration", "type"),
                ("object_creation_expression", "type"),
                ("cast_expression", "type"),
                ("array_type", "type"),
                ("nullable_type", "type"),
                ("generic_name", ""),
                ("type_argument_list", ""),
                ("base_list", ""),
                ("qualified_name", ""),
                ("typeof_expression", "type"),
            }
        ),
        known_globals=_CSHARP_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "ruby",
        "tree_sitter_ruby",
        "language",
        (".rb", ".rake", ".gemspec"),
        ("rb",),
        binders={
            "method": ("name", "parameters"),
            "singleton_method": ("name", "parameters"),
            "optional_parameter": ("name",),
            "splat_parameter": ("name",),
            "hash_splat_parameter": ("name",),
            "keyword_parameter": ("name",),
            "block_parameter": ("name",),
            "block_parameters": ("*",),
            "lambda_parameters": ("*",),
            "assignment": ("left",),
            "operator_assignment": ("left",),
            "for": ("pattern",),
            "exception_variable": ("*",),
        },
        keep_positions=frozenset({("call", "method")}),
        known_globals=_RUBY_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "php",
        "tree_sitter_php",
        "language_php",
        (".php", ".phtml"),
        (),
        binders={"function_definition": ("name",), "variable_name": ("*",)},
        local_identifiers=("name",),
        keep_positions=frozenset(
            {
                ("member_access_expression", "name"),
                ("member_call_expression", "name"),
                ("scoped_call_expression", "name"),
                ("class_constant_access_expression", "name"),
                ("function_call_expression", "function"),
                ("named_type", ""),
                ("qualified_name", ""),
            }
        ),
    ),
    LanguageSpec(
        "kotlin",
        "tree_sitter_kotlin",
        "language",
        (".kt", ".kts"),
        ("kt",),
        binders={
            "function_declaration": ("name",),
            "parameter": ("#identifier",),
            "class_parameter": ("#identifier",),
            "variable_declaration": ("#identifier",),
            "lambda_parameters": ("*",),
            "catch_block": ("#identifier",),
        },
        keep_after_dot=True,
        # Type names stay: Kotlin's grammar gives them plain identifiers.
        keep_positions=frozenset({("user_type", "")}),
        known_globals=_KOTLIN_GLOBALS,
        free_names_local=True,
    ),
    LanguageSpec(
        "bash",
        "tree_sitter_bash",
        "language",
        (".sh", ".bash", ".zsh"),
        ("sh", "shell", "zsh", "console", "shellscript"),
        binders={
            "variable_assignment": ("name",),
            "for_statement": ("variable",),
            "function_definition": ("name",),
        },
        local_identifiers=("variable_name", "word"),
        keep_positions=frozenset({("command_name", ""), ("command", "argument")}),
    ),
)

_BY_NAME: dict[str, LanguageSpec] = {s.name: s for s in SPECS}
_BY_ALIAS: dict[str, LanguageSpec] = {
    **{a: s for s in SPECS for a in s.aliases},
    **_BY_NAME,
}
_BY_EXTENSION: dict[str, LanguageSpec] = {e: s for s in SPECS for e in s.extensions}

#: Languages known by name, alias and file extension that have no grammar
#: wheel here: (aliases, extensions). Their code is read by the lexical
#: tokenizer, labelled or not. Guessed from a snippet instead, a Perl sub was
#: read by PHP's grammar (1,522 of the first 4,400 subs of Debian's Perl
#: modules), while its file, whole, was read lexically: a verbatim copy of
#: an indexed sub labelled `perl` then matched nothing.
_LEXICAL: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "perl": (("pl", "pm", "perl5"), (".pl", ".pm")),
    "lua": ((), (".lua",)),
    "swift": ((), (".swift",)),
    "scala": (("sc",), (".scala", ".sc")),
    "haskell": (("hs",), (".hs",)),
    "sql": (("plsql", "postgresql", "mysql", "sqlite"), (".sql",)),
    "r": (("rlang",), (".r",)),
    "julia": (("jl",), (".jl",)),
    "dart": ((), (".dart",)),
    "elixir": (("ex", "exs"), (".ex", ".exs")),
    "erlang": (("erl",), (".erl",)),
    "clojure": (("clj", "cljs"), (".clj", ".cljs", ".cljc")),
    "ocaml": (("ml",), (".ml", ".mli")),
    "fsharp": (("f#", "fs"), (".fs", ".fsx")),
    "groovy": (("gradle",), (".groovy", ".gradle")),
    "powershell": (("ps1", "pwsh", "posh"), (".ps1", ".psm1")),
    "objective-c": (("objc", "objectivec", "obj-c"), (".mm",)),
    "zig": ((), (".zig",)),
    "nim": ((), (".nim",)),
    "fortran": (("f90",), (".f90", ".f95")),
    "pascal": (("delphi", "pas"), (".pas",)),
    "vb": (("vbnet", "vb.net", "visual-basic"), (".vb",)),
}
_LEXICAL_BY_ALIAS = {a: name for name, (aliases, _) in _LEXICAL.items() for a in (name, *aliases)}
_LEXICAL_BY_EXTENSION = {e: name for name, (_, exts) in _LEXICAL.items() for e in exts}

#: Interpreters a `#!` line may name (a trailing version is ignored: python3.11).
_SHEBANG_NAMES = {
    "python": "python",
    "node": "javascript",
    "nodejs": "javascript",
    "bash": "bash",
    "sh": "bash",
    "dash": "bash",
    "ksh": "bash",
    "zsh": "bash",
    "ruby": "ruby",
    "php": "php",
    "perl": "perl",
    "lua": "lua",
    "pwsh": "powershell",
    "escript": "erlang",
    "Rscript": "r",
    "julia": "julia",
}


def language_names() -> tuple[str, ...]:
    """Names of every supported language."""
    return tuple(_BY_NAME)


def lookup(name: str | None) -> LanguageSpec | None:
    """The language called `name` or one of its aliases (case-insensitive)."""
    if not name:
        return None
    return _BY_ALIAS.get(name.strip().lower())


def for_path(path: str) -> LanguageSpec | None:
    """The language a file name implies, by extension."""
    return _BY_EXTENSION.get(os.path.splitext(path)[1].lower())


def lexical_language(name: str | None) -> str | None:
    """The name of the language called `name` if it is one without a grammar here, else None.

    Code of such a language is read by the lexical tokenizer whether it was
    labelled or not (see `_LEXICAL`).
    """
    if not name:
        return None
    return _LEXICAL_BY_ALIAS.get(name.strip().lower())


def lexical_language_for_path(path: str) -> str | None:
    """The language without a grammar here that a file name implies, by extension."""
    return _LEXICAL_BY_EXTENSION.get(os.path.splitext(path)[1].lower())


def lexical_language_names() -> tuple[str, ...]:
    """Names of the languages recognised but read by the lexical tokenizer."""
    return tuple(_LEXICAL)


#: Lines only C++ has: a template, a namespace block, an access label, a
#: class with a base or a body, `using namespace`, a line opening with `std::`,
#: an include of a standard header without extension (<vector>, <cstdint>),
#: `extern "C++"`. A C header's `extern "C"` guard for C++ callers is none of
#: them.
_CPP_LINE = re.compile(
    r"""^[ \t]*(?:
        template[ \t]*<
      | (?:inline[ \t]+)?namespace(?:[ \t]+[\w:]+)?[ \t]*\{
      | (?:public|protected|private)[ \t]*:
      | (?:class|struct)[ \t]+\w+(?:[ \t]+final)?[ \t]*:[ \t]*(?:public|protected|private|virtual)\b
      | class[ \t]+\w+(?:[ \t]+final)?[ \t]*(?:\{|;|$)
      | using[ \t]+namespace\b
      | (?:const[ \t]+)?std::
      | \#[ \t]*include[ \t]*<[a-z_]+>
      | extern[ \t]+"C\+\+"
    )""",
    re.MULTILINE | re.VERBOSE,
)
#: Characters of a `.h` file searched for them: C++ shows itself early.
_HEADER_PROBE = 1 << 16


def for_file(path: str, text: str) -> LanguageSpec | None:
    """The language of a file from its name, with a `.h` file's content telling C++ from C.

    C++ projects name their headers `.h` as often as `.hpp`. Of a Debian
    /usr/include's 7,296 `.h` files, 2,081 read as C++ (LLVM's, libstdc++'s,
    ICU's, V8's): with the C grammar 33% of their bytes were in errors and
    they parsed at 4.5 MB/s, with C++'s 6% and 13.1 MB/s; their templates and
    `std::` had become placeholders, so a copy in C++ matched less of them.
    """
    spec = for_path(path)
    if (
        spec is not None
        and spec.name == "c"
        and path.lower().endswith(".h")
        and _CPP_LINE.search(text, 0, _HEADER_PROBE)
    ):
        return _BY_NAME["cpp"]
    return spec


def for_shebang(first_line: str) -> LanguageSpec | None:
    """The language a `#!` line names, if it is one with a grammar here."""
    return _BY_NAME.get(shebang_language(first_line) or "")


def shebang_language(first_line: str) -> str | None:
    """The name of the language a `#!` line names (with a grammar here or not), if any."""
    if not first_line.startswith("#!"):
        return None
    words = first_line[2:].replace("/", " ").split()
    for word in reversed(words):
        base = word.rstrip("0123456789.")
        if word in _SHEBANG_NAMES or base in _SHEBANG_NAMES:
            return _SHEBANG_NAMES.get(word, _SHEBANG_NAMES.get(base))
    return None


@cache
def parser_for(name: str) -> Any:
    """A tree-sitter parser for language `name`, built once from its grammar wheel."""
    import tree_sitter

    spec = _BY_NAME[name]
    module = importlib.import_module(spec.module)
    loader: Callable[[], object] = getattr(module, spec.function)
    return tree_sitter.Parser(tree_sitter.Language(loader()))


def parser_for_source(name: str, data: bytes) -> Any:
    """The parser for `data` in language `name`.

    PHP's grammar reads everything before a `<?php` tag as HTML: a snippet
    without the tag (as answers give PHP) was one token of text. Such a
    snippet is read by the grammar of PHP alone, which gives a file's code
    after its tag the same nodes.
    """
    if name == "php" and b"<?" not in data:
        return _php_only_parser()
    return parser_for(name)


@cache
def _php_only_parser() -> Any:
    import tree_sitter
    import tree_sitter_php

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_php.language_php_only()))
