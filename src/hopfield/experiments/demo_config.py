"""Settings and results of ``hopfield demo`` and ``hopfield recall``: corruptions, config.

See :mod:`hopfield.experiments.demo` for the pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_CORRUPTIONS",
    "DEFAULT_CORRUPTION_TEXT",
    "DEFAULT_MODELS",
    "METRIC_COLUMNS",
    "QUICK_SETTINGS",
    "Corruption",
    "DemoConfig",
    "DemoResult",
    "parse_corruption",
]

DEFAULT_MODELS: tuple[str, ...] = (
    "hopfield-hebbian",
    "hopfield-storkey",
    "hopfield-pinv",
    "dense-poly3",
    "dense-exp",
    "modern-dot",
    "modern-euclidean",
    "lsr",
    "linear",
)
"""Registry names the demo runs by default (every family of vector memories)."""

_KINDS = ("flip", "occlude", "noise")
METRIC_COLUMNS = (
    "model",
    "corruption",
    "bit_error",
    "exact_recall",
    "overlap",
    "nearest_accuracy",
    "converged",
    "steps",
    "time_s",
)


@dataclass(frozen=True)
class Corruption:
    """A corruption ``kind`` (``flip``, ``occlude`` or ``noise``) at ``level``.

    ``flip``: each entry changes sign with probability ``level``; ``occlude``: the
    bottom ``level`` fraction of image rows is set to −1 and marked unknown;
    ``noise``: i.i.d. Gaussian noise of standard deviation ``level`` is added.
    """

    kind: str
    level: float

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"corruption kind must be one of {_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.level < math.inf or (self.kind != "noise" and self.level > 1.0):
            raise ValueError(
                f"corruption level for {self.kind!r} must be in [0, 1], got {self.level}"
            )

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.level:g}"

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.level:g}"


DEFAULT_CORRUPTIONS: tuple[Corruption, ...] = (
    Corruption("flip", 0.1),
    Corruption("flip", 0.2),
    Corruption("flip", 0.3),
    Corruption("occlude", 0.25),
    Corruption("occlude", 0.5),
)


DEFAULT_CORRUPTION_TEXT = ",".join(c.label for c in DEFAULT_CORRUPTIONS)

QUICK_SETTINGS: dict[str, Any] = {
    "patterns": 8,
    "image_size": 16,
    "corruptions": (Corruption("flip", 0.1), Corruption("occlude", 0.5)),
    "max_steps": 10,
}
"""Overrides of ``--quick`` (and :meth:`DemoConfig.quick`): 8 glyphs of 16×16, two corruptions."""


def parse_corruption(text: str) -> Corruption:
    """Parse ``"flip:0.2"``, ``"occlude:0.5"`` or ``"noise:0.3"`` into a :class:`Corruption`."""
    kind, sep, level = text.partition(":")
    try:
        value = float(level)
    except ValueError:
        value = float("nan")
    if not sep or value != value:
        raise ValueError(
            f"corruption must look like 'flip:0.2', 'occlude:0.5' or 'noise:0.3', got {text!r}"
        )
    return Corruption(kind, value)


@dataclass
class DemoConfig:
    """Settings of :func:`run_demo` (the command-line options of ``hopfield demo``)."""

    out: str = "runs/demo"
    dataset: str = "glyphs"
    patterns: int = 16
    image_size: int = 32
    data_root: str | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    corruptions: tuple[Corruption, ...] = DEFAULT_CORRUPTIONS
    seed: int = 0
    device: str = "cpu"
    beta: float | None = None
    steps: int | None = None
    max_steps: int = 30
    columns: int = 16
    progress: bool = True
    title: str = "hopfield demo: store, corrupt, recall"

    @classmethod
    def quick(cls, **overrides: Any) -> DemoConfig:
        """A small configuration for smoke tests: 8 glyphs of 16×16, two corruptions."""
        settings: dict[str, Any] = dict(QUICK_SETTINGS)
        settings.update(overrides)
        return cls(**settings)


@dataclass
class DemoResult:
    """Rows of the metrics table and the files written."""

    rows: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    image_shape: tuple[int, ...] = ()
