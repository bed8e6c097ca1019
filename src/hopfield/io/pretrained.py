"""Hub-style model directories: ``save_pretrained(module, directory)`` / ``from_pretrained``.

A directory in the layout the Hugging Face hub uses for PyTorch models:

* ``model.safetensors`` — the file :func:`hopfield.io.save` writes: the tensors of
  ``state_dict()``, the class's import path, its JSON ``get_config()``, the
  train/eval flag and a SHA-256 over all of it (see :mod:`hopfield.io.model_files`);
* ``config.json`` — a readable copy of the class path and config, plus the format
  and library versions.

:func:`from_pretrained` verifies the checksum, accepts only classes of the
allow-list (the library's models, layers and HAM graphs, and classes registered
with :func:`~hopfield.io.register_model`), never unpickles, never touches the
network, and refuses a ``config.json`` that disagrees with the checksummed copy
inside ``model.safetensors`` (an edited config is an error, not silently ignored).
Every model of :mod:`hopfield.models`, every layer of :mod:`hopfield.nn` and a
:class:`~hopfield.core.graph.HAM` round-trip bit for bit. Classes of your own get
the two methods from :class:`PretrainedMixin`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from hopfield._version import __version__
from hopfield.io.atomic import create_temporary
from hopfield.io.model_files import FORMAT_VERSION, PathLike, load, load_checkpoint, save

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "PretrainedMixin", "from_pretrained", "save_pretrained"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def save_pretrained(module: nn.Module, directory: PathLike) -> Path:
    """Write ``module`` to ``directory`` (created if missing) as ``model.safetensors``
    and ``config.json``; returns the directory. Both files are written atomically.

    Raises ``TypeError`` for a class that is not saveable (see :func:`hopfield.io.save`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save(module, directory / WEIGHTS_FILE)
    _, config = load_checkpoint(directory / WEIGHTS_FILE)
    description = {
        "hopfield_class": _class_path(type(module)),
        "config": config,
        "format_version": FORMAT_VERSION,
        "hopfield_version": __version__,
    }
    _write_text(directory / CONFIG_FILE, json.dumps(description, indent=2, sort_keys=True) + "\n")
    return directory


def from_pretrained(
    directory: PathLike, *, map_location: str | torch.device = "cpu"
) -> nn.Module:
    """The module saved in ``directory`` by :func:`save_pretrained`: same class, config,
    bit-identical tensors and train/eval flag.

    Raises ``FileNotFoundError`` when a file is missing and ``ValueError`` when the
    weights fail their checksum, name a class outside the allow-list, or disagree
    with ``config.json``.
    """
    directory = Path(directory)
    weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    for path in (weights, config_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"{directory}: no {path.name} (not a save_pretrained directory)"
            )
    description = _read_description(config_path)
    module = load(weights, map_location=map_location)
    _, stored_config = load_checkpoint(weights, map_location=map_location)
    if description.get("config") != stored_config:
        raise ValueError(
            f"{config_path}: config differs from the checksummed config in {WEIGHTS_FILE} "
            "(config.json was edited after save_pretrained)"
        )
    if description.get("hopfield_class") != _class_path(type(module)):
        raise ValueError(
            f"{config_path}: hopfield_class {description.get('hopfield_class')!r} differs from "
            f"the class in {WEIGHTS_FILE} ({_class_path(type(module))!r})"
        )
    return module


def _read_description(path: Path) -> dict[str, Any]:
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(description, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(description).__name__}")
    return description


def _write_text(path: Path, text: str) -> None:
    fd, tmp_name = create_temporary(path)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class PretrainedMixin:
    """``save_pretrained(directory)`` and ``cls.from_pretrained(directory)`` as methods.

    For classes of your own (decorate them with :func:`~hopfield.io.register_model`
    and give them ``get_config()``); the library's classes use the free functions
    :func:`hopfield.save_pretrained` and :func:`hopfield.from_pretrained`.
    """

    def save_pretrained(self, directory: PathLike) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``directory``."""
        if not isinstance(self, nn.Module):
            raise TypeError(f"{type(self).__name__} must be an nn.Module to be saved")
        return save_pretrained(self, directory)

    @classmethod
    def from_pretrained(
        cls, directory: PathLike, *, map_location: str | torch.device = "cpu"
    ) -> Any:
        """Load ``directory``; ``TypeError`` when it holds another class."""
        module = from_pretrained(directory, map_location=map_location)
        if not isinstance(module, cls):
            raise TypeError(
                f"{directory} holds a {type(module).__name__}, not a {cls.__name__}"
            )
        return module
