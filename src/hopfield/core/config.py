"""JSON configs for the energy core: Lagrangians, separations, synapses, neurons, HAM graphs.

``obj.get_config()`` returns the constructor's keyword arguments as plain JSON values,
so that ``type(obj).from_config(obj.get_config())`` builds an equivalent object whose
parameters and buffers are then replaced by a state dict (which is why arguments that
only shape the random initial values, ``std``, ``init_std`` and ``generator``, are left
out, and so are arguments stored as parameters or buffers of the same name, such as
the γ of a norm). Nested core objects, the Lagrangian of a :class:`Neurons` and the
layers and synapses of a :class:`HAM`, are written as
``{"__class__": name, "config": {...}}`` and rebuilt only from the classes that
:mod:`hopfield.core` exports (an allow-list: a name is never imported from a file).
A separation is an option object with its own config: it is written as
``{"__separation__": separation.to_config()}`` and rebuilt by
:meth:`Separation.from_config` (configs saved before, ``{"__class__": "Polynomial",
"config": {"degree": 3}}``, still load, through the same method);
a dict of them (a HAM's layers) is ``{"__items__": [[name, value], ...]}``, keeping
its order (the order of the energy's sum) even where JSON writers sort keys.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from hopfield.core.separation import Separation

__all__ = ["Configurable", "build", "config_of", "core_classes", "spec_of"]

_CLASS_KEY = "__class__"
_ITEMS_KEY = "__items__"
_SEPARATION_KEY = "__separation__"
_BASES = frozenset({"Lagrangian", "Synapse"})  # abstract: nothing to rebuild
INIT_ONLY = frozenset({"generator", "std", "init_std"})
"""Constructor arguments that only shape the random initial values (the state replaces them)."""

T = TypeVar("T")


def core_classes() -> dict[str, type]:
    """The classes a config may name, by name: the public subclasses of
    :class:`Configurable` and :class:`~hopfield.core.separation.Separation` defined in
    :mod:`hopfield.core` (found through ``__subclasses__``, nothing is imported)."""
    found: dict[str, type] = {}
    pending: list[type] = [Configurable, Separation]
    while pending:
        subclasses: list[type] = pending.pop().__subclasses__()
        for sub in subclasses:
            pending.append(sub)
            public = not sub.__name__.startswith("_") and sub.__name__ not in _BASES
            if public and sub.__module__.startswith("hopfield.core."):
                found[sub.__name__] = sub
    return found


def _memory_synapse(obj: Any, config: dict[str, Any]) -> None:
    """A separation carries its own parameters: β is only an argument of the lse form."""
    if config["separation"] is None:
        config["separation"] = "lse"
    else:
        config["beta"] = None


_ADJUSTMENTS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "DenseMemorySynapse": _memory_synapse,
}


def _state_names(obj: object) -> set[str]:
    if not isinstance(obj, nn.Module):
        return set()
    return set(obj._parameters) | set(obj._buffers)


def config_of(obj: object) -> dict[str, Any]:
    """The JSON constructor arguments of a core object (see the module docstring)."""
    name = type(obj).__name__
    if core_classes().get(name) is not type(obj):
        raise TypeError(
            f"{type(obj).__qualname__} is not a class of hopfield.core; only those have "
            "a built-in config"
        )
    state = _state_names(obj)
    config: dict[str, Any] = {}
    for arg, parameter in list(inspect.signature(type(obj).__init__).parameters.items())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if arg in INIT_ONLY or arg in state:
            continue
        if not hasattr(obj, arg):
            raise TypeError(f"{name} keeps no attribute for its constructor argument {arg!r}")
        config[arg] = _to_json(getattr(obj, arg), f"{name}.{arg}")
    if name in _ADJUSTMENTS:
        _ADJUSTMENTS[name](obj, config)
    return config


def spec_of(obj: object) -> dict[str, Any]:
    """``{"__class__": name, "config": config_of(obj)}`` for a nested core object."""
    return {_CLASS_KEY: type(obj).__name__, "config": config_of(obj)}


def _to_json(value: object, where: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.detach().item()
    if isinstance(value, tuple | list):
        return [_to_json(item, where) for item in value]
    if isinstance(value, Mapping | nn.ModuleDict):  # pairs: JSON writers may sort keys
        return {_ITEMS_KEY: [[str(k), _to_json(value[k], f"{where}[{k!r}]")] for k in value]}
    if isinstance(value, Separation):
        return {_SEPARATION_KEY: value.to_config()}
    if type(value).__name__ in core_classes():
        return spec_of(value)
    raise TypeError(f"{where}: {type(value).__name__} has no JSON config")


def _from_json(value: Any, where: str) -> Any:
    if isinstance(value, list):
        return [_from_json(item, where) for item in value]
    if not isinstance(value, dict):
        return value
    if _CLASS_KEY in value:
        return build(value, where)
    if set(value) == {_SEPARATION_KEY} and isinstance(value[_SEPARATION_KEY], Mapping):
        return Separation.from_config(value[_SEPARATION_KEY], where)
    if set(value) == {_ITEMS_KEY}:
        return {key: _from_json(item, f"{where}[{key!r}]") for key, item in value[_ITEMS_KEY]}
    return {key: _from_json(item, f"{where}[{key!r}]") for key, item in value.items()}


def build(spec: Mapping[str, Any], where: str = "config") -> Any:
    """Rebuild a nested core object from ``{"__class__": name, "config": {...}}``."""
    name = spec.get(_CLASS_KEY)
    classes = core_classes()
    if not isinstance(name, str) or name not in classes:
        raise ValueError(
            f"{where}: unknown class {name!r}; a config may name only classes of "
            f"hopfield.core ({', '.join(sorted(classes))})"
        )
    config = spec.get("config", {})
    if set(spec) - {_CLASS_KEY, "config"} or not isinstance(config, Mapping):
        raise ValueError(f"{where}: a class spec is {{'__class__': name, 'config': {{...}}}}")
    cls = classes[name]
    if issubclass(cls, Separation):  # the form saved before separations had to_config
        return Separation.from_config({"name": cls.name, **config}, where)
    return _construct(cls, config, where)


def _construct(cls: Callable[..., T], config: Mapping[str, Any], where: str) -> T:
    arguments = {key: _from_json(value, f"{where}.{key}") for key, value in config.items()}
    return cls(**arguments)


class Configurable:
    """``get_config()`` / ``from_config(config)`` for the classes of :mod:`hopfield.core`."""

    def get_config(self) -> dict[str, Any]:
        """JSON constructor arguments; ``type(self).from_config(...)`` rebuilds the object."""
        return config_of(self)

    @classmethod
    def from_config(cls: type[T], config: Mapping[str, Any]) -> T:
        """Build from :meth:`get_config`'s output (nested core objects included)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        return _construct(cls, config, cls.__name__)
