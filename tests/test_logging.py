"""The library talks through ``logging.getLogger("hopfield")``; only the app layer prints."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import hopfield

SOURCE = Path(hopfield.__file__).resolve().parent
APP_LAYER = {"experiments", "explore", "cli.py"}  # may print: they are the command line


def test_library_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("hopfield").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


def test_library_code_does_not_print() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.relative_to(SOURCE).parts[0] in APP_LAYER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "print"
            ):
                offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert not offenders, f"print() in library code (use the 'hopfield' logger): {offenders}"
