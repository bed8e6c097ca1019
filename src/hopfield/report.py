"""Deprecated location of :mod:`hopfield.experiments.report` (moved there; kept one release).

``import hopfield.report`` still works and re-exports the same functions, with a
``DeprecationWarning``; import from ``hopfield.experiments.report`` instead.
"""

from __future__ import annotations

import warnings

from hopfield.experiments.report import *  # noqa: F403
from hopfield.experiments.report import __all__  # noqa: F401

warnings.warn(
    "hopfield.report moved to hopfield.experiments.report; the old name will be removed "
    "in the next release",
    DeprecationWarning,
    stacklevel=2,
)
