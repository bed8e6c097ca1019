"""MkDocs hook: render the math that ``pymdownx.arithmatex`` marks as MathML at build time.

``arithmatex`` (generic mode) wraps ``$…$`` in ``<span class="arithmatex">\\(…\\)</span>``
and ``$$…$$`` in ``<div class="arithmatex">\\[…\\]</div>``. This hook converts each
to MathML with ``latex2mathml``, which browsers render natively, so the site needs
no JavaScript math engine and references no external asset. A formula that does not
convert fails the build.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.DOTALL)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.DOTALL)


def _mathml(latex: str, display: str, where: str) -> str:
    source = html.unescape(latex).strip()
    try:
        return convert(source, display=display)
    except Exception as error:  # latex2mathml raises several exception types
        raise ValueError(f"{where}: cannot render the formula {source!r}: {error}") from error


def on_page_content(html_text: str, page: Any, **_: Any) -> str:
    where = page.file.src_path
    html_text = _BLOCK.sub(lambda m: _mathml(m.group(1), "block", where), html_text)
    return _INLINE.sub(lambda m: _mathml(m.group(1), "inline", where), html_text)
