"""MkDocs hook: pages generated from the code at build time.

* ``catalogue.md`` — the model catalogue, one row per registered memory;
* ``examples/<name>.md`` — each script of ``examples/`` (its docstring and source);
* ``benchmarks.md`` — each ``benchmarks/bench_*.py`` (its docstring and command),
  plus a link to ``reproductions.md`` when that page exists;
* ``reference/<package>.md`` — the API reference, one page per subpackage of
  ``hopfield``, rendered by mkdocstrings from the docstrings.

Nav entries whose value is ``generated:examples``, ``generated:reference``,
``generated:migration`` (every ``docs/migration-*.md``) or ``generated:reproductions``
(``docs/reproductions.md``) are replaced by the list of those pages, or dropped when
there is none.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "hopfield"


def _module_docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc):`~?([\w.]+)`")


def _markdown(text: str) -> str:
    """Docstring text as Markdown: Sphinx roles become code spans of the last name part."""
    return _ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)


def _title_and_body(path: Path) -> tuple[str, str]:
    doc = _markdown(_module_docstring(path))
    title, _, body = doc.partition("\n")
    return title.strip().rstrip("."), body.strip()


# ------------------------------------------------------------------ catalogue


def model_catalogue() -> list[dict[str, Any]]:
    """Every named memory: ``name, class, module, states, energy, paper``.

    The vector memories of :mod:`hopfield.models.registry` (the ones the command
    line builds by name).
    """
    from hopfield.models import registry

    return [
        {
            "name": entry.name,
            "class": entry.cls.__name__,
            "module": entry.cls.__module__,
            "states": "±1" if entry.state == "binary" else entry.state,
            "energy": entry.energy,
            "paper": entry.paper,
        }
        for entry in map(registry.spec, registry.available(registry.VECTOR_STATES))
    ]


def _catalogue_page() -> str:
    rows = model_catalogue()
    lines = [
        "# Model catalogue",
        "",
        f"The {len(rows)} memories that `hopfield demo`, `hopfield recall` and",
        "`hopfield capacity` build by name (`--models NAME,...`). This table is generated",
        "from the model registry when the documentation is built; the",
        "[model details](models.md) page describes each family.",
        "",
        "| name | class | states | energy | paper |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        energy = row["energy"].replace("|", "\\|")
        ref = f"[`{row['class']}`][{row['module']}.{row['class']}]"
        lines.append(f"| `{row['name']}` | {ref} | {row['states']} | {energy} | {row['paper']} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- examples


def _examples() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.py"))


def _example_page(path: Path) -> str:
    title, body = _title_and_body(path)
    source = path.read_text()
    return (
        f"# {title}\n\n{body}\n\n"
        f"Source: `examples/{path.name}` (tested by `tests/test_examples.py`).\n\n"
        f'```python title="examples/{path.name}"\n{source}```\n'
    )


def _examples_index() -> str:
    lines = [
        "# Examples",
        "",
        "Runnable scripts in `examples/`; each takes `--quick` for a short run.",
        "",
    ]
    for path in _examples():
        title, _ = _title_and_body(path)
        lines.append(f"- [{title}]({path.stem}.md) — `python examples/{path.name}`")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- benchmarks


def _benchmarks_page(docs_dir: Path) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Each benchmark times a hot path against a plain reference implementation in the",
        "same run and reports the ratio, FLOP and byte counts against the machine's",
        "measured matmul and copy ceilings; results go to `benchmarks/results/` as JSON.",
        "`make bench` runs them all with `--quick`.",
        "",
    ]
    if (docs_dir / "reproductions.md").exists():
        lines += [
            "Paper results reproduced with this library: [reproductions](reproductions.md).",
            "",
        ]
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        title, body = _title_and_body(path)
        lines += [f"## `{path.name}`", "", f"**{title}.**", "", body, ""]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------- API reference


def _reference_packages() -> list[str]:
    hopfield = importlib.import_module("hopfield")
    names = ["hopfield"]
    for info in pkgutil.iter_modules(hopfield.__path__):
        if not info.name.startswith("_"):
            names.append(f"hopfield.{info.name}")
    return names


def _reference_page(package: str) -> str:
    module = importlib.import_module(package)
    lines = [f"# `{package}`", ""]
    if package == "hopfield" or not hasattr(module, "__path__"):
        lines.append(f"::: {package}")
        if package == "hopfield":
            lines += ["    options:", "      members: false"]
        return "\n".join(lines) + "\n"
    lines += [f"::: {package}", "    options:", "      members: false", ""]
    for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        lines += [f"::: {info.name}", ""]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- hooks


def _pages(docs_dir: Path) -> dict[str, str]:
    pages = {"catalogue.md": _catalogue_page(), "benchmarks.md": _benchmarks_page(docs_dir)}
    pages["examples/index.md"] = _examples_index()
    for path in _examples():
        pages[f"examples/{path.stem}.md"] = _example_page(path)
    for package in _reference_packages():
        pages[f"reference/{package}.md"] = _reference_page(package)
    return pages


def on_config(config: Any, **_: Any) -> Any:
    docs_dir = Path(config["docs_dir"])
    generated = {
        "generated:examples": ["examples/index.md"]
        + [f"examples/{p.stem}.md" for p in _examples()],
        "generated:reference": [f"reference/{name}.md" for name in _reference_packages()],
        # pages that other parts of the project add: listed when present
        "generated:migration": sorted(p.name for p in docs_dir.glob("migration-*.md")),
        "generated:reproductions": [p.name for p in docs_dir.glob("reproductions.md")],
    }
    nav = []
    for item in config["nav"] or []:
        if isinstance(item, dict):
            ((key, value),) = item.items()
            if isinstance(value, str) and value in generated:
                if not generated[value]:
                    continue  # nothing to list (yet)
                item = {key: generated[value]}
        nav.append(item)
    config["nav"] = nav
    return config


def on_files(files: Files, config: Any, **_: Any) -> Files:
    for path, content in _pages(Path(config["docs_dir"])).items():
        files.append(File.generated(config, path, content=content))
    return files


_HTML_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):<code>(~?)([^<]+)</code>")


def on_page_content(html: str, **_: Any) -> str:
    """Docstrings use Sphinx roles (``:class:`~a.B```); show them as plain code spans."""
    return _HTML_ROLE.sub(
        lambda m: f"<code>{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}</code>",
        html,
    )
