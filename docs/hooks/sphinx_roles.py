"""MkDocs hook: show the docstrings' Sphinx roles as the code they name.

Several docstrings write cross-references in Sphinx's syntax (``:class:`Estimator```,
``:func:`~stochrobust.metrics.w2_empirical```). Google-style Markdown has no roles, so
mkdocstrings prints the role's name as text before the code span
(":meth:<code>forward_seeds</code>"). This hook drops the role's name and, as Sphinx does,
shortens a ``~``-prefixed target to its last component.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const):\s*"
    r"<code>(?P<tilde>~?)(?P<target>[^<]*)</code>"
)


def _code(match: re.Match[str]) -> str:
    target = match.group("target")
    if match.group("tilde"):
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def strip_roles(page_html: str) -> str:
    """Return `page_html` with every ``:role:<code>target</code>`` shown as ``<code>``."""
    return _ROLE.sub(_code, page_html)


def on_page_content(page_html: str, **kwargs: Any) -> str:
    """MkDocs entry point: clean the roles of one rendered page."""
    return strip_roles(page_html)
