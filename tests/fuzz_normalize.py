"""atheris harness: every normalizer on arbitrary bytes; spans must stay inside the input.

Run by tests/test_faults.py with a bounded number of runs; usable by hand too:
    python tests/fuzz_normalize.py -runs=100000
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from ipguard.normalize import normalize
    from ipguard.normalize.languages import language_names

LANGUAGES = [*language_names(), None]


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    language = LANGUAGES[fdp.ConsumeIntInRange(0, len(LANGUAGES) - 1)]
    kind = [None, "code", "text", "markdown"][fdp.ConsumeIntInRange(0, 3)]
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    doc = normalize(text, kind=kind, language=language)
    for stream in (doc.code, doc.text):
        for start, end in stream.spans:
            if not 0 <= start < end <= len(text):
                raise AssertionError(f"span {start}-{end} outside a {len(text)}-character input")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
