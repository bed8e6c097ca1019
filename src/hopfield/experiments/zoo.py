"""Deprecated: the memories by name now live in :mod:`hopfield.models.registry`.

The former names keep working for one release, with a ``DeprecationWarning``:
``ZOO`` (the memories stored as a pattern matrix, name → :class:`MemorySpec`),
``ZooEntry`` (:class:`~hopfield.models.registry.MemorySpec`), ``get_entry``
(:func:`~hopfield.models.registry.spec`), ``available_models``, ``build_memory``,
``recall_memory`` and ``ZooMemory`` (:class:`~hopfield.models.registry.RebuildingMemory`).
:data:`DEFAULT_MODELS` (the demo's choice) is now
:data:`hopfield.experiments.demo_config.DEFAULT_MODELS`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from hopfield._deprecated import moved_attribute
from hopfield.models import registry

__all__: list[str] = []


def _available_models(names: Sequence[str] | None = None) -> list[str]:
    vectors = registry.available(registry.VECTOR_STATES)
    return vectors if names is None else [n for n in names if n in vectors]


def __getattr__(name: str) -> Any:
    if name == "ZOO":
        warnings.warn(
            "hopfield.experiments.zoo.ZOO is deprecated and will be removed in the next "
            "release; use hopfield.models.registry.available(VECTOR_STATES) and spec(name)",
            DeprecationWarning,
            stacklevel=2,
        )
        return {n: registry.spec(n) for n in registry.available(registry.VECTOR_STATES)}
    if name == "available_models":
        warnings.warn(
            "hopfield.experiments.zoo.available_models is deprecated and will be removed in "
            "the next release; use hopfield.models.registry.available(VECTOR_STATES)",
            DeprecationWarning,
            stacklevel=2,
        )
        return _available_models
    return moved_attribute(__name__, name)
