r"""MkDocs hook: render the guide pages' LaTeX as MathML when the site is built.

`pymdownx.arithmatex` (generic mode) keeps every `$...$` and `$$...$$` of a page away from
Markdown and wraps it in `<span class="arithmatex">\(...\)</span>` or
`<div class="arithmatex">\[...\]</div>`. This hook replaces each wrapper by the MathML that
`latex2mathml` makes of it, so the built site shows equations with no JavaScript, no CDN and
no network: every current browser renders MathML Core natively. A formula that
`latex2mathml` cannot convert fails the build instead of reaching the page as raw LaTeX.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

_INLINE = re.compile(r'<span class="arithmatex">\\\((?P<tex>.*?)\\\)</span>', re.DOTALL)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(?P<tex>.*?)\\\]</div>', re.DOTALL)


def _to_mathml(match: re.Match[str], display: str) -> str:
    tex = html.unescape(match.group("tex")).strip()
    try:
        mathml = convert(tex, display=display)
    except Exception as exc:  # latex2mathml raises bare exceptions of several kinds
        raise ValueError(f"cannot render this LaTeX as MathML: {tex!r} ({exc})") from exc
    if "\\" in re.sub(r"<[^>]*>", "", mathml):
        # latex2mathml copies commands it does not know into the output as text.
        raise ValueError(f"unsupported LaTeX command in {tex!r}: {mathml}")
    return mathml if display == "inline" else f'<div class="math-display">{mathml}</div>'


def render_math(page_html: str) -> str:
    """Return `page_html` with every arithmatex wrapper replaced by MathML."""
    page_html = _BLOCK.sub(lambda m: _to_mathml(m, "block"), page_html)
    return _INLINE.sub(lambda m: _to_mathml(m, "inline"), page_html)


def on_page_content(page_html: str, **kwargs: Any) -> str:
    """MkDocs entry point: convert the math of one rendered page."""
    return render_math(page_html)
