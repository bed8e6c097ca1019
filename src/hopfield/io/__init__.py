"""hopfield.io: persistence.

* :mod:`hopfield.io.model_files` — save and load models as safetensors files
  (:func:`save`, :func:`load`, checkpoints, the allow-list of loadable classes);
* :mod:`hopfield.io.pattern_store` — pattern matrices on disk (``.npy`` /
  ``.safetensors``) read in chunks, the storage behind
  :class:`~hopfield.models.streaming_memory.StreamingMemory` and
  :class:`~hopfield.distributed.sharded.ShardedMemory`.

A new storage backend is a :class:`~hopfield.io.pattern_store.PatternStore`
subclass in ``pattern_store.py`` (or a sibling module of this package).
"""

from hopfield.io.model_files import (
    BUILTIN_MODELS,
    FORMAT_VERSION,
    load,
    load_checkpoint,
    register_model,
    registered_models,
    save,
    save_checkpoint,
)

__all__ = [
    "BUILTIN_MODELS",
    "FORMAT_VERSION",
    "load",
    "load_checkpoint",
    "register_model",
    "registered_models",
    "save",
    "save_checkpoint",
]
