"""Command-line interface: ``hopfield <command> [options]``.

Each command lives in its own module that exposes ``register(subparsers)``; the
module adds a sub-parser and sets ``func`` (called with the parsed arguments,
returns an exit code). Add a command by appending its module to ``COMMAND_MODULES``.

Input errors are one line on stderr and exit status 2, never a traceback: flags are
checked by their argument types (:mod:`hopfield.experiments.cli_types`), and a
``ValueError``, ``TypeError`` or ``FileNotFoundError`` raised by the library while a
command runs is reported the same way (``--debug`` shows the traceback instead;
it is accepted before or after the command, ``hopfield --debug demo`` or
``hopfield demo --quick --debug``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hopfield._version import __version__
from hopfield.experiments.cli_types import CommandParser

__all__ = ["build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "hopfield.experiments.demo_cli",
    "hopfield.experiments.recall_cmd",
    "hopfield.experiments.train_et_cli",
    "hopfield.experiments.params",
    "hopfield.experiments.studies",
    "hopfield.explore.command",
)

INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError)
"""Exceptions of a running command that are reported as input errors (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``hopfield`` parser with every command of :data:`COMMAND_MODULES`."""
    parser = CommandParser(
        prog="hopfield", description="Energy-based associative memory: store, corrupt, recall."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for sub in _command_parsers(parser):
        # SUPPRESS: a command without the flag leaves the value of the top level alone
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )
    return parser


_DEBUG_HELP = "show the Python traceback of an error instead of the one-line message"


def _command_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-parser below ``parser`` (commands, and the models or studies under them)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                found += [sub, *_command_parsers(sub)]
    return found


def _prog(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    words = [parser.prog] + [
        str(getattr(args, key))
        for key in ("command", "model", "study")
        if getattr(args, key, None) is not None
    ]
    return " ".join(words)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hopfield`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except INPUT_ERRORS as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        sys.stderr.write(f"{_prog(parser, args)}: error: {message}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
