"""One self-contained HTML page: every match side by side, output and protected source."""

from __future__ import annotations

import html
from collections.abc import Sequence

from .._version import __version__
from . import CheckedFile, line_col, source_lines

CONTEXT_LINES = 2
#: Lines shown per side of one match; longer matches end with a count.
MAX_LINES = 80
_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} .meta{color:#555;margin-bottom:20px}
.file{background:#fff;border:1px solid #ddd;border-radius:8px;margin:18px 0;padding:12px 16px}
.file h2{font-size:16px;margin:4px 0 10px;font-family:ui-monospace,monospace}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-size:12px;
 font-weight:600;text-transform:uppercase;margin-left:8px}
.block{background:#c62828}.redact{background:#8e24aa}.flag{background:#ef6c00}.allow{background:#2e7d32}
.match{border-top:1px solid #eee;padding:10px 0}.match p{margin:4px 0 8px;font-size:13px}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px}
.side h3{font-size:12px;color:#666;margin:0 0 4px;font-weight:600;word-break:break-all}
pre{margin:0;background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:6px 0;
 overflow-x:auto;font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
.ln{display:block;padding:0 8px;white-space:pre}.hit{background:#ffe3e3}
.no{color:#999;display:inline-block;width:3.5em;text-align:right;margin-right:10px;user-select:none}
.missing{color:#777;font-style:italic;padding:6px 8px}
"""


def _lines(lines: list[str], first_number: int, hit: tuple[int, int]) -> str:
    out = []
    hidden = max(0, len(lines) - MAX_LINES)
    for i, line in enumerate(lines[:MAX_LINES]):
        number = first_number + i
        cls = "ln hit" if hit[0] <= number <= hit[1] else "ln"
        out.append(
            f'<span class="{cls}"><span class="no">{number}</span>{html.escape(line)}</span>'
        )
    if hidden:
        out.append(f'<span class="ln missing">... {hidden} more lines</span>')
    return "<pre>" + "".join(out) + "</pre>"


def html_report(files: Sequence[CheckedFile], *, title: str = "ipguard report") -> str:
    """The page, with inline CSS and no external resources."""
    sections = []
    total = sum(len(f.verdict.matches) for f in files)
    for checked in files:
        verdict = checked.verdict
        parts = [
            f'<section class="file"><h2>{html.escape(checked.path)}'
            f'<span class="badge {verdict.action}">{verdict.action}</span></h2>'
        ]
        text_lines = checked.text.splitlines()
        for match in verdict.matches:
            out_first, _ = line_col(checked.text, match.output_span[0])
            out_last, _ = line_col(
                checked.text, max(match.output_span[0], match.output_span[1] - 1)
            )
            lo = max(1, out_first - CONTEXT_LINES)
            hi = min(len(text_lines), out_last + CONTEXT_LINES)
            output_html = _lines(text_lines[lo - 1 : hi], lo, (out_first, out_last))
            first, last = match.source_lines
            s_lo = max(1, first - CONTEXT_LINES)
            protected = source_lines(match.source, s_lo, last + CONTEXT_LINES)
            protected_html = (
                _lines(protected, s_lo, (first, last))
                if protected is not None
                else '<pre><span class="missing">source file not available here</span></pre>'
            )
            licence = f" · licence {html.escape(match.license)}" if match.license else ""
            parts.append(
                f'<div class="match"><p><span class="badge {match.action}">{match.action}</span> '
                f"{match.channel} · similarity {match.similarity:.2f} · evidence {match.evidence}"
                f'{licence}</p><div class="pair">'
                f'<div class="side"><h3>output lines {out_first}-{out_last}</h3>{output_html}</div>'
                f'<div class="side"><h3>{html.escape(match.source)} lines {first}-{last}</h3>'
                f"{protected_html}</div></div></div>"
            )
        if not verdict.matches:
            parts.append('<p class="meta">No protected material found.</p>')
        parts.append("</section>")
        sections.append("".join(parts))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><div class="meta">{len(files)} file(s) checked, '
        f"{total} match(es) · ipguard {__version__}</div>{''.join(sections)}</body></html>\n"
    )
