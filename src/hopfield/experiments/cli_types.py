"""Argument types and the parser class of the ``hopfield`` command line.

Every input error of the CLI is one line naming the flag and exit status 2, never a
traceback. The types below raise :class:`argparse.ArgumentTypeError`, which argparse
reports as ``argument --flag: <message>``; :class:`CommandParser` prints that one line
(no usage block) and shows each flag's default in ``--help``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = [
    "MAX_SEED",
    "CommandParser",
    "DefaultsHelpFormatter",
    "StoreExplicit",
    "corruption",
    "corruption_list",
    "device_name",
    "existing_dir",
    "existing_file",
    "exit_with_error",
    "explicit_flags",
    "finite_float",
    "model_list",
    "model_name",
    "model_names",
    "non_negative_float",
    "non_negative_int",
    "output_dir",
    "output_file",
    "port",
    "positive_float",
    "positive_int",
    "probability",
    "seed",
]

MAX_SEED = 2**32 - 1
"""Largest accepted ``--seed`` (numpy's legacy seeding limit)."""


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after every flag's help, except where the help already
    says what the default is (``default:`` in its text) or there is none (``None``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default:" in text or action.default is None or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2.

    ``--help`` shows every flag's default (``ArgumentDefaultsHelpFormatter``). Sub-parsers
    created with ``add_subparsers().add_parser`` are of the same class.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` as one line and exit with status 2."""
        line = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {line}\n")


def _number(text: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        noun = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer ≥ 0."""
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def seed(text: str) -> int:
    """A random seed: an integer in ``[0, 2**32 − 1]``."""
    value = int(_number(text, int))
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {MAX_SEED}], got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port in ``[0, 65535]`` (0: any free port)."""
    value = int(_number(text, int))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port in [0, 65535], got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number."""
    return float(_number(text, float))


def positive_float(text: str) -> float:
    """A finite number > 0 (e.g. an inverse temperature β)."""
    value = float(_number(text, float))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number ≥ 0."""
    value = float(_number(text, float))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


def probability(text: str) -> float:
    """A number in ``[0, 1]``."""
    value = float(_number(text, float))
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
    return value


def _blocking_file(path: Path) -> Path | None:
    """The first existing non-folder among ``path`` and its parents, if any."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def output_dir(text: str) -> Path:
    """A folder to write into: it may not exist yet, but no part of it may be a file."""
    path = Path(text)
    blocker = _blocking_file(path)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{text!r} cannot be a folder: {blocker} is a file")
    return path


def output_file(text: str) -> Path:
    """A file to write: not a folder, and no parent of it is a file."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, expected a file path")
    blocker = _blocking_file(path.parent)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {blocker} is a file")
    return path


def existing_dir(text: str) -> Path:
    """An existing folder (e.g. a data root)."""
    path = Path(text)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {what}")
    return path


def existing_file(text: str) -> Path:
    """An existing file (e.g. a checkpoint to resume from)."""
    path = Path(text)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {what}")
    return path


def device_name(text: str) -> str:
    """A torch device this build can use: ``cpu``, ``cuda[:i]`` or ``mps``."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r} (e.g. cpu, cuda, cuda:0)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: this PyTorch build has no usable CUDA")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{text!r}: only {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: MPS is not available here")
    elif device.type != "cpu":
        raise argparse.ArgumentTypeError(f"unsupported device {text!r} (cpu, cuda or mps)")
    return text


class StoreExplicit(argparse.Action):
    """``store`` (or ``store_const`` with ``nargs=0``) that also records the destination
    in ``namespace.explicit``, so a command can tell a flag given on the command line
    from its default (``--quick`` and ``--resume`` do not override explicit flags)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        namespace.explicit = {*getattr(namespace, "explicit", set()), self.dest}


def explicit_flags(args: argparse.Namespace) -> set[str]:
    """Destinations of the :class:`StoreExplicit` flags given on the command line."""
    return set(getattr(args, "explicit", set()))


def model_names() -> list[str]:
    """The model names the CLI accepts (the one adapter to the model registry)."""
    from hopfield.models import registry

    return registry.available(registry.VECTOR_STATES)


def model_name(text: str) -> str:
    """One name of :func:`model_names`."""
    names = model_names()
    if text not in names:
        raise argparse.ArgumentTypeError(f"unknown model {text!r} (choose from {', '.join(names)})")
    return text


def model_list(text: str) -> tuple[str, ...]:
    """Comma-separated names of :func:`model_names` (at least one)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected at least one model name")
    return tuple(model_name(name) for name in names)


def corruption(text: str) -> Any:
    """A :class:`~hopfield.experiments.demo_config.Corruption` from ``kind:level``."""
    from hopfield.experiments.demo_config import parse_corruption

    try:
        return parse_corruption(text.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def corruption_list(text: str) -> tuple[Any, ...]:
    """Comma-separated corruptions ``kind:level`` (at least one)."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected at least one corruption kind:level")
    return tuple(corruption(part) for part in parts)


def exit_with_error(prog: str, message: str) -> NoReturn:
    """One line ``<prog>: error: <message>`` on stderr, exit status 2."""
    line = " ".join(str(message).split())
    sys.stderr.write(f"{prog}: error: {line}\n")
    raise SystemExit(2)
