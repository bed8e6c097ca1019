"""MkDocs hook: run the tutorial chapters' code during the build.

Every ``python`` code block of a page under ``tutorial/`` (except ``index.md``) is
executed, in page order, in one namespace per page, with the working directory at
the repository root and matplotlib's non-interactive backend. The code shown is
the code that ran. It may call

* ``save_figure(fig, "name.png")`` — the PNG becomes ``tutorial/figures/name.png`` of
  the site (link it as ``figures/name.png``);

and the page's prose may quote any expression of the namespace as ``{{ expr }}``
(e.g. ``{{ f"{error:.3f}" }}``), replaced by its value after the code ran, so every
number in the text comes from this build. An exception in a block, a figure saved
twice or an unknown name fails the build.
"""

from __future__ import annotations

import io
import logging
import re
import time
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

_CODE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_FIELD = re.compile(r"\{\{(.*?)\}\}")
_NAMESPACES: dict[str, dict[str, Any]] = {}
_LOG = logging.getLogger("mkdocs.hooks.tutorial")


def _chapters(docs_dir: Path) -> list[Path]:
    return sorted(p for p in (docs_dir / "tutorial").glob("*.md") if p.name != "index.md")


def _run_chapter(path: Path, figures: dict[str, bytes]) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save_figure(fig: Any, name: str) -> None:
        if name in figures:
            raise ValueError(f"{path.name}: figure {name!r} saved twice")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        figures[name] = buffer.getvalue()

    namespace: dict[str, Any] = {"__name__": f"tutorial_{path.stem}", "save_figure": save_figure}
    start = time.perf_counter()
    for number, block in enumerate(_CODE.findall(path.read_text()), start=1):
        try:
            exec(compile(block, f"{path.name} (code block {number})", "exec"), namespace)
        except Exception as error:
            raise RuntimeError(
                f"tutorial {path.name}, code block {number} failed: {error!r}"
            ) from error
    namespace["_seconds"] = time.perf_counter() - start
    return namespace


def on_files(files: Files, config: Any, **_: Any) -> Files:
    figures: dict[str, bytes] = {}
    for path in _chapters(Path(config["docs_dir"])):
        _NAMESPACES[f"tutorial/{path.name}"] = _run_chapter(path, figures)
        seconds = _NAMESPACES[f"tutorial/{path.name}"]["_seconds"]
        _LOG.info("tutorial: ran %s in %.1f s", path.name, seconds)
    for name, content in figures.items():
        files.append(File.generated(config, f"tutorial/figures/{name}", content=content))
    return files


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    namespace = _NAMESPACES.get(page.file.src_path)
    if namespace is None:
        return markdown
    code_spans = [(m.start(), m.end()) for m in _CODE.finditer(markdown)]

    def field(match: re.Match[str]) -> str:
        if any(start <= match.start() < end for start, end in code_spans):
            return match.group(0)
        expression = match.group(1).strip()
        try:
            return str(eval(expression, namespace))
        except Exception as error:
            raise RuntimeError(
                f"{page.file.src_path}: {{{{ {expression} }}}}: {error!r}"
            ) from error

    return _FIELD.sub(field, markdown)
