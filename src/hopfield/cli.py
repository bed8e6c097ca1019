"""Command-line interface: ``hopfield <command> [options]``.

Each command lives in its own module that exposes ``register(subparsers)``; the
module adds a sub-parser and sets ``func`` (called with the parsed arguments,
returns an exit code). Add a command by appending its module to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "hopfield.experiments.demo",
    "hopfield.experiments.recall_cmd",
    "hopfield.experiments.train_et",
    "hopfield.experiments.params",
    "hopfield.experiments.studies",
    "hopfield.explore.command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hopfield", description="Energy-based associative memory: store, corrupt, recall."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
