"""hopfield.io: persistence.

* :mod:`hopfield.io.model_files` — save and load models as safetensors files
  (:func:`save`, :func:`load`, checkpoints, the allow-list of loadable classes);
* :mod:`hopfield.io.pretrained` — hub-style directories (``model.safetensors`` +
  ``config.json``): :func:`save_pretrained`, :func:`from_pretrained`;
* :mod:`hopfield.io.pattern_store` — pattern matrices on disk (``.npy`` /
  ``.safetensors``) read in chunks, the storage behind
  :class:`~hopfield.models.streaming_memory.StreamingMemory` and
  :class:`~hopfield.distributed.sharded.ShardedMemory`.

A new storage backend is a :class:`~hopfield.io.pattern_store.PatternStore`
subclass in ``pattern_store.py`` (or a sibling module of this package).
"""

from typing import Any

from hopfield.io import model_files
from hopfield.io.model_files import (
    FORMAT_VERSION,
    load,
    load_checkpoint,
    register_model,
    registered_models,
    save,
    save_checkpoint,
)
from hopfield.io.pretrained import PretrainedMixin, from_pretrained, save_pretrained

__all__ = [
    "BUILTIN_MODELS",
    "FORMAT_VERSION",
    "PretrainedMixin",
    "from_pretrained",
    "load",
    "load_checkpoint",
    "register_model",
    "registered_models",
    "save",
    "save_checkpoint",
    "save_pretrained",
]


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_MODELS":  # computed on first use (it imports every model)
        return model_files.BUILTIN_MODELS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
