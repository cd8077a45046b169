"""The tools people use today, run on the same cases as ipguard.

- the naive pipeline a user would write with datasketch: whole-file MinHash
  over word 5-grams, MinHashLSH at threshold 0.5;
- copydetect (winnowing, as MOSS does) at its default thresholds.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any


class NaivePeer:
    """Whole-file MinHash over word 5-grams, MinHashLSH at threshold 0.5."""

    name = "datasketch whole-file MinHash"

    def __init__(self, documents: list[tuple[str, str]]) -> None:
        from datasketch import MinHash, MinHashLSH

        self._minhash = MinHash
        self.lsh = MinHashLSH(threshold=0.5, num_perm=128)
        for name, text in documents:
            self.lsh.insert(name, self._sketch(text))

    def _sketch(self, text: str) -> Any:
        words = re.findall(r"\w+", text.lower())
        grams = [" ".join(words[i : i + 5]).encode() for i in range(max(1, len(words) - 4))]
        m = self._minhash(num_perm=128)
        m.update_batch(grams)
        return m

    def acts(self, text: str, *, extension: str) -> bool:
        return bool(self.lsh.query(self._sketch(text)))


def _extension(name: str) -> str:
    """The file's extension when it names code, else .txt (copydetect lexes by it)."""
    suffix = Path(name).suffix
    return suffix if suffix in {".py", ".c", ".cpp", ".js", ".ts", ".java"} else ".txt"


class CopydetectPeer:
    """copydetect's defaults: noise threshold 25, guarantee 25, reported from 0.33 similarity."""

    name = "copydetect (winnowing)"

    def __init__(self, documents: list[tuple[str, str]]) -> None:
        from copydetect import CodeFingerprint, compare_files

        self._fingerprint_class = CodeFingerprint
        self._compare = compare_files
        self.documents = [self._fingerprint(_extension(name), text) for name, text in documents]
        self.by_hash: dict[int, list[int]] = {}
        for i, fp in enumerate(self.documents):
            for h in set(fp.hashes):
                self.by_hash.setdefault(h, []).append(i)

    def _fingerprint(self, extension: str, text: str) -> Any:
        return self._fingerprint_class(f"case{extension}", 25, 1, fp=io.StringIO(text))

    def acts(self, text: str, *, extension: str) -> bool:
        try:
            fp = self._fingerprint(extension, text)
        except Exception:  # copydetect failing on an input counts as no detection
            return False
        candidates = {i for h in set(fp.hashes) for i in self.by_hash.get(h, ())}
        for i in candidates:
            _, similarities, _ = self._compare(fp, self.documents[i])
            if max(similarities) >= 0.33:
                return True
        return False


BOILERPLATE_NAMES = ["order", "invoice", "sensor", "account", "parcel", "ticket", "meter", "route"]
BOILERPLATE_FIELDS = ["id", "name", "total", "status", "owner", "created", "weight", "price"]


def boilerplate(kind: int, noun: str, field: str) -> tuple[str, str]:
    """(language, text) of boilerplate template `kind` (the team's own templates)."""
    cls = noun.title()
    templates = [
        ("python", 'if __name__ == "__main__":\n    main()\n'),
        (
            "python",
            'if __name__ == "__main__":\n    import sys\n\n    sys.exit(main(sys.argv[1:]))\n',
        ),
        (
            "python",
            f"class {cls}:\n    def __init__(self, {field}, owner=None):\n"
            f"        self.{field} = {field}\n        self.owner = owner\n\n"
            f"    def __repr__(self):\n        return f'{cls}({{self.{field}!r}})'\n",
        ),
        (
            "python",
            "import os\nimport sys\nimport json\n"
            "from pathlib import Path\nfrom typing import Any\n",
        ),
        (
            "python",
            f"# Copyright (c) 2025 The {cls} Authors. All rights reserved.\n"
            "# Use of this source code is governed by a BSD-style license that can be\n"
            "# found in the LICENSE file.\n",
        ),
        (
            "java",
            f"public class {cls} {{\n    private String {field};\n\n"
            f"    public String get{field.title()}() {{\n        return {field};\n    }}\n\n"
            f"    public void set{field.title()}(String {field}) {{\n"
            f"        this.{field} = {field};\n    }}\n}}\n",
        ),
        (
            "python",
            f"    @property\n    def {field}(self):\n        return self._{field}\n\n"
            f"    @{field}.setter\n    def {field}(self, value):\n        self._{field} = value\n",
        ),
        (
            "python",
            f"def __eq__(self, other):\n"
            f"    return isinstance(other, {cls}) and self.{field} == other.{field}\n",
        ),
    ]
    return templates[kind % len(templates)]
