"""The shape of the library: layers import downward only, no import circle, small files.

Every ``import`` and ``from … import`` in ``src/hopfield`` is read with :mod:`ast`,
including those inside functions (a lazy import is still a dependency). The layers
and the sibling rules are the ones drawn in ``docs/architecture.md``; a change here
is a change of the architecture and belongs in that document too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "hopfield"

LAYERS: dict[str, int] = {
    # foundation: imports nothing of hopfield above it
    "_validation": 0,
    "_deprecated": 0,
    "_version": 0,
    "data": 0,
    "core": 1,
    "ops": 2,
    "models": 3,
    # library on top of the memories
    "nn": 4,
    "compat": 4,
    "tasks": 4,
    "distributed": 4,
    "io": 4,
    "metrics": 4,
    "analysis": 4,
    "optim": 4,
    # application: command line, studies, explorer
    "experiments": 5,
    "explore": 5,
    "cli": 5,
    "": 5,  # the package facade hopfield/__init__.py re-exports from every layer
}
"""Rank of each top-level part of :mod:`hopfield`; an import must not go to a higher rank."""

MODULE_LAYERS: dict[str, str] = {
    # Pattern stores are storage primitives (they import only the foundation), so the
    # memories that read them (StreamingMemory, ShardedMemory) can sit below io.
    "hopfield.io.pattern_store": "ops",
    "hopfield.io.atomic": "ops",  # the atomic-write helper the pattern stores use
    "hopfield.io.pattern_readers": "ops",  # the pattern-store readers
}
"""Modules ranked like another part than their package (named here, one reason each)."""

SIBLING_IMPORTS: dict[str, frozenset[str]] = {
    "data": frozenset({"_validation", "_deprecated"}),
    "_validation": frozenset(),
    "_deprecated": frozenset(),
    "compat": frozenset({"nn"}),
    "io": frozenset({"nn", "compat"}),
    "distributed": frozenset({"io"}),
    "tasks": frozenset({"nn", "io", "metrics", "distributed", "analysis", "optim"}),
    "experiments": frozenset(),
    "explore": frozenset({"experiments"}),
    "cli": frozenset({"experiments", "explore"}),
}
"""Allowed imports between different parts of the same rank (an acyclic relation)."""

UPWARD_ALLOWED: dict[tuple[str, str], str] = {}
"""The shrinking list of known imports against the layers, each with its owner and fix."""

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80

OVERSIZE_ALLOWED: dict[str, tuple[str, str]] = {
    # path (or path::function) -> (owner splitting it, what is too large)
}
"""The shrinking list of known offenders of the size rules; each owner is splitting its
entry. An entry that is no longer too large fails the test until it is removed."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported_names(text: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Dotted names of every module or attribute the source ``text`` of ``module`` imports."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                yield f"{source}.{alias.name}"


def _resolve(name: str) -> str | None:
    """The longest module of :mod:`hopfield` that ``name`` names or lies in."""
    modules = _modules()
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) if parts else None


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Module → the hopfield modules it imports (itself excluded)."""
    graph: dict[str, frozenset[str]] = {}
    for module, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        names = _imported_names(text, module, path.name == "__init__.py")
        targets = {_resolve(name) for name in names}
        graph[module] = frozenset(t for t in targets if t is not None and t != module)
    return graph


def part_of(module: str) -> str:
    """The part (top-level package or module below :mod:`hopfield`) whose rank applies."""
    if module in MODULE_LAYERS:
        return MODULE_LAYERS[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _allowed(source: str, target: str) -> bool:
    a, b = part_of(source), part_of(target)
    if a == b:
        return True
    if LAYERS[a] != LAYERS[b]:
        return LAYERS[b] < LAYERS[a]
    return b in SIBLING_IMPORTS.get(a, frozenset())


def test_every_part_has_a_layer() -> None:
    parts = {part_of(module) for module in _modules()}
    assert parts <= set(LAYERS), f"new top-level parts without a layer: {parts - set(LAYERS)}"


def test_imports_go_downward_only() -> None:
    violations = [
        f"{source} -> {target} ({part_of(source) or 'hopfield'} may not import "
        f"{part_of(target) or 'hopfield'})"
        for source, targets in import_graph().items()
        for target in sorted(targets)
        if not _allowed(source, target) and (source, target) not in UPWARD_ALLOWED
    ]
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_upward_allow_list_is_still_needed() -> None:
    graph = import_graph()
    stale = [pair for pair in UPWARD_ALLOWED if pair[1] not in graph.get(pair[0], frozenset())]
    assert not stale, f"fixed, remove from UPWARD_ALLOWED: {stale}"


def _find_cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a closed path), or ``None``."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, frozenset())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycle_between_modules() -> None:
    cycle = _find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_sibling_rules_are_acyclic_and_name_known_parts() -> None:
    for part, allowed in SIBLING_IMPORTS.items():
        assert allowed <= set(LAYERS), f"{part}: unknown parts {allowed - set(LAYERS)}"
        for other in allowed:
            assert LAYERS[other] == LAYERS[part], f"{part} -> {other} is not a sibling rule"
    assert _find_cycle(dict(SIBLING_IMPORTS)) is None


def test_the_checker_sees_lazy_imports_and_cycles() -> None:
    source = (
        "import torch\n"
        "def f():\n"
        "    from hopfield.experiments import zoo\n"
        "    import hopfield.cli\n"
        "    from ..ops import streaming\n"
    )
    names = {_resolve(n) for n in _imported_names(source, "hopfield.models.fake")}
    assert names == {None, "hopfield.experiments.zoo", "hopfield.cli", "hopfield.ops.streaming"}
    assert not _allowed("hopfield.models.base", "hopfield.experiments.zoo")
    assert not _allowed("hopfield.core.graph", "hopfield.ops.streaming")
    assert _allowed("hopfield.tasks.ood", "hopfield.ops.streaming")
    assert not _allowed("hopfield.nn.hopfield", "hopfield.tasks.ood")
    assert _allowed("hopfield.distributed.sharded", "hopfield.io.pattern_store")
    assert _allowed("hopfield.models.streaming_memory", "hopfield.io.pattern_store")
    assert not _allowed("hopfield.models.streaming_memory", "hopfield.io.model_files")
    assert _find_cycle({"a": frozenset({"b"}), "b": frozenset({"a"})}) == ["a", "b", "a"]
    assert _find_cycle({"a": frozenset({"b"}), "b": frozenset()}) is None


def _sizes() -> Iterator[tuple[str, str, int]]:
    """(key, kind, lines) of every file over the file limit and function over its limit."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_FILE_LINES:
            yield rel, "file", lines
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    yield f"{rel}::{node.name}", "function", length


def test_files_and_functions_are_small() -> None:
    found = {key: (kind, lines) for key, kind, lines in _sizes()}
    new = [
        f"{key}: {kind} of {lines} lines"
        for key, (kind, lines) in sorted(found.items())
        if key not in OVERSIZE_ALLOWED
    ]
    assert not new, (
        f"over {MAX_FILE_LINES} lines per file / {MAX_FUNCTION_LINES} per function:\n"
        + "\n".join(new)
    )
    fixed = sorted(set(OVERSIZE_ALLOWED) - set(found))
    assert not fixed, f"no longer too large, remove from OVERSIZE_ALLOWED: {fixed}"


@pytest.mark.parametrize(("key", "entry"), sorted(OVERSIZE_ALLOWED.items()))
def test_allow_list_entries_name_an_owner(key: str, entry: tuple[str, str]) -> None:
    owner, kind = entry
    assert owner and kind in {"file", "function"}
    assert (SRC / key.split("::")[0]).is_file()


def test_lines_are_counted_the_way_the_rule_says() -> None:
    short = "def f():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES - 1)
    long = short + "    return x\n"
    sizes = [
        (n.end_lineno or 0) - n.lineno + 1
        for text in (short, long)
        for n in ast.walk(ast.parse(text))
        if isinstance(n, ast.FunctionDef)
    ]
    assert sizes == [MAX_FUNCTION_LINES, MAX_FUNCTION_LINES + 1]
