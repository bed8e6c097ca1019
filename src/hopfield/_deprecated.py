"""Old import paths and names that keep working for one release, with a warning.

Two tables, the only place such aliases live (remove both in the release after 0.1):

* :data:`MOVED_MODULES` — a module that moved. ``import hopfield.ood`` (or
  ``from hopfield.models.classifier import X``) finds the module at its new path,
  emits a :class:`DeprecationWarning` naming it and returns the very same module
  object, so classes and functions are identical (``is``) under both paths.
* :data:`MOVED_NAMES` — a public name that moved out of a package or was renamed.
  A package or module lists its old names here and forwards its module-level
  ``__getattr__`` to :func:`moved_attribute`.

Both tables hold dotted strings only: an alias must never create an import edge of
its own, so :mod:`hopfield` stays layered (``tests/test_architecture.py``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "MOVED_MODULES",
    "MOVED_NAMES",
    "install",
    "keywords_after_first",
    "moved_attribute",
]

MOVED_MODULES: dict[str, str] = {
    "hopfield.models.classifier": "hopfield.tasks.classifier",
    "hopfield.models.clustering": "hopfield.tasks.clustering",
    "hopfield.models.diffusion": "hopfield.tasks.diffusion",
    "hopfield.models.distributed_am": "hopfield.tasks.distributed_am",
    "hopfield.models.memory_buffer": "hopfield.tasks.memory_buffer",
    "hopfield.models.patches": "hopfield.models.energy_transformer_patches",
    "hopfield.ood": "hopfield.tasks.ood",
    "hopfield.estimators": "hopfield.tasks.estimators",
    "hopfield.memory_store": "hopfield.io.pattern_store",
    "hopfield.report": "hopfield.experiments.report",
}
"""Old module path → new module path."""

MOVED_NAMES: dict[str, dict[str, str]] = {
    "hopfield.models": {
        "DenseAMClassifier": "hopfield.tasks.classifier.DenseAMClassifier",
        "ClAM": "hopfield.tasks.clustering.ClAM",
        "VESDE": "hopfield.tasks.diffusion.VESDE",
        "ScoreNetwork": "hopfield.tasks.diffusion.ScoreNetwork",
        "AssociativeMemoryBuffer": "hopfield.tasks.memory_buffer.AssociativeMemoryBuffer",
        "BinaryRecallResult": "hopfield.models.base.RecallResult",
    },
    "hopfield.models.classical": {"BinaryRecallResult": "hopfield.models.base.RecallResult"},
    "hopfield.models.bures_wasserstein": {
        "GaussianRecallResult": "hopfield.models.base.RecallResult"
    },
    "hopfield.models.sparse_recovery": {
        "SparseRecoveryResult": "hopfield.models.base.RecallResult"
    },
    "hopfield.tasks.estimators": {
        "AssociativeMemory": "hopfield.tasks.estimators.AssociativeMemoryEstimator",
    },
    "hopfield.models.energy_transformer": {
        "DescentResult": "hopfield.models.energy_transformer.ETDescentResult",
    },
    "hopfield.models.schedules": {
        "schedule_speedup_case": "hopfield.experiments.schedule_speedup.schedule_speedup_case",
    },
    "hopfield.experiments.zoo": {
        "ZooEntry": "hopfield.models.registry.MemorySpec",
        "ZooMemory": "hopfield.models.registry.RebuildingMemory",
        "get_entry": "hopfield.models.registry.spec",
        "build_memory": "hopfield.models.registry.build_memory",
        "recall_memory": "hopfield.models.registry.recall_memory",
        "DEFAULT_MODELS": "hopfield.experiments.demo_config.DEFAULT_MODELS",
    },
    "hopfield.io.pattern_store": {
        "shard_range": "hopfield.distributed.partition.shard_range",
    },
}
"""Module → {old attribute name → dotted path of the object it now is}."""


def _warn(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


def _resolve(dotted: str) -> Any:
    module_name, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def moved_attribute(module: str, name: str) -> Any:
    """The object an old attribute ``module.name`` now is (with a warning), or
    ``AttributeError`` as Python would raise it."""
    target = MOVED_NAMES.get(module, {}).get(name)
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    _warn(f"{module}.{name}", target)
    return _resolve(target)


class _AliasLoader(importlib.abc.Loader):
    """Loads an old module path as the module at its new path."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        _warn(spec.name, self.new)
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed under its new name."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds the old module paths of :data:`MOVED_MODULES`."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


_FINDER = _AliasFinder()


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (idempotent)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)


def keywords_after_first(*names: str) -> Callable[[F], F]:
    """Decorator of a method ``f(self, first, *, a, b, …)`` whose arguments after the
    first used to be positional: old positional calls ``f(x, a, b)`` still work for one
    release, with a :class:`DeprecationWarning`, as ``f(x, a=…, b=…)`` in the order
    ``names``. The signature shown by :func:`inspect.signature` is the new one."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Any, first: Any, *args: Any, **kwargs: Any) -> Any:
            if args:
                if len(args) > len(names):
                    raise TypeError(
                        f"{method.__qualname__}() takes at most {len(names) + 1} positional "
                        f"arguments, got {len(args) + 1}"
                    )
                given = names[: len(args)]
                warnings.warn(
                    f"{method.__qualname__}: passing {', '.join(given)} by position is "
                    "deprecated and will be removed in the next release; pass "
                    + ", ".join(f"{n}=…" for n in given),
                    DeprecationWarning,
                    stacklevel=2,
                )
                for name, value in zip(given, args, strict=True):
                    if name in kwargs:
                        raise TypeError(f"{method.__qualname__}() got multiple values for {name!r}")
                    kwargs[name] = value
            return method(self, first, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
