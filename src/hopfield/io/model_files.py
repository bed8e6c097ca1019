"""Persistence: save and load models as safetensors files, never executing code.

File format (``FORMAT_VERSION`` = ``"1"``)
-----------------------------------------
A plain `safetensors <https://github.com/huggingface/safetensors>`_ file: an 8-byte
little-endian header length, a JSON header (tensor names, dtypes, shapes, byte
offsets and a string-to-string ``__metadata__`` map), then the raw tensor bytes.
The metadata holds

* ``hopfield.format_version`` — the format version, checked on load;
* ``hopfield.config`` — the JSON config (``get_config()`` of a model);
* ``hopfield.class`` — (high-level :func:`save` only) the model's import path,
  looked up in an allow-list registry on load, never imported blindly;
* ``hopfield.training`` — (high-level :func:`save` only) the module's train/eval flag;
* ``hopfield.sha256`` — SHA-256 over every other metadata entry and over every
  tensor's name, dtype, shape and raw bytes, so a flipped byte anywhere (header or
  tensor data) is detected.

Writes are atomic: a temporary file in the destination directory is written,
``fsync``-ed and moved over the destination with ``os.replace``; a crash leaves
either the old file or the new one, never a torn file. Loading reads the bytes,
verifies structure, version and checksum, and only then builds tensors; nothing is
unpickled and ``torch.load`` is never called.

Models
------
A model is saveable when its class is registered (:func:`register_model`, or one of
the built-in models listed in ``BUILTIN_MODELS``: the memory classes of
:mod:`hopfield.models.registry`, the Energy Transformer, the ``hopfield.nn`` layers and
the HAM graph) and it defines ``get_config() -> dict`` such that ``cls(**get_config())``
(or ``cls.from_config(get_config())`` where the class defines it, as the HAM graph does)
builds an equivalent, untrained module. :func:`load` constructs it, checks that
the file's tensor names and dtypes match the fresh module's ``state_dict()``, then
calls ``load_state_dict(strict=True)``. Buffers whose size depends on the stored
data (e.g. the pattern matrix of a memory) are handled in either of two ways:

1. the module initialises such a buffer with zero elements (e.g. ``torch.empty(0, D)``);
   :func:`load` then replaces it by an empty buffer of the file's shape before loading;
2. the module overrides ``_load_from_state_dict`` to resize its buffers itself.

Any other shape mismatch raises ``ValueError`` naming the tensor and both shapes.
After loading, every tensor is compared bit for bit with the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import safetensors.torch
import torch
from torch import nn

from hopfield.io.atomic import create_temporary

__all__ = [
    "FORMAT_VERSION",
    "load",
    "load_checkpoint",
    "register_model",
    "registered_models",
    "save",
    "save_checkpoint",
]

FORMAT_VERSION = "1"

_KEY_VERSION = "hopfield.format_version"
_KEY_CONFIG = "hopfield.config"
_KEY_CLASS = "hopfield.class"
_KEY_TRAINING = "hopfield.training"
_KEY_CHECKSUM = "hopfield.sha256"
_HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own cap on the JSON header size

def _builtin_classes() -> dict[str, type[nn.Module]]:
    """The library's own saveable models by import path: every memory class of
    :mod:`hopfield.models.registry`, the Energy Transformer, the HAM graph and the
    layers of :mod:`hopfield.nn` and :mod:`hopfield.compat.hflayers` (those with
    ``get_config``)."""
    from hopfield import nn as layers
    from hopfield.compat import hflayers
    from hopfield.core.graph import HAM
    from hopfield.models.energy_transformer import EnergyTransformer
    from hopfield.models.registry import memory_classes
    from hopfield.nn.binary_attention import BinaryCAMAttention
    from hopfield.nn.gam import GAMBlock

    exported = [getattr(package, n) for package in (layers, hflayers) for n in package.__all__]
    classes = (*memory_classes(), EnergyTransformer, HAM, BinaryCAMAttention, GAMBlock, *exported)
    modules = [c for c in classes if isinstance(c, type) and issubclass(c, nn.Module)]
    return {_class_path(c): c for c in modules if callable(getattr(c, "get_config", None))}


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_MODELS":  # computed on first use: importing the models is not free
        return tuple(_builtin_classes())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_REGISTRY: dict[str, type[nn.Module]] = {}

PathLike = str | os.PathLike[str]
ModuleT = TypeVar("ModuleT", bound=type[nn.Module])


# --------------------------------------------------------------------------- registry


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_model(cls: ModuleT) -> ModuleT:
    """Class decorator: allow :func:`save`/:func:`load` for ``cls`` (an ``nn.Module``).

    The class is recorded under its import path ``module.QualName``; :func:`load`
    only ever constructs classes found in this registry (or in ``BUILTIN_MODELS``).
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_model expects an nn.Module subclass, got {cls!r}")
    if not callable(getattr(cls, "get_config", None)):
        raise TypeError(f"{cls.__qualname__} must define get_config() -> dict to be saveable")
    _REGISTRY[_class_path(cls)] = cls
    return cls


def _resolve_class(name: str, path: Path) -> type[nn.Module]:
    """The registered class for ``name``; built-ins are imported on first use."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    builtin = _builtin_classes()
    if name not in builtin:
        raise ValueError(
            f"{path}: model class {name!r} is not registered; known classes: "
            f"{sorted(set(_REGISTRY) | set(builtin))} "
            "(register your own with hopfield.io.register_model)"
        )
    _REGISTRY[name] = builtin[name]
    return builtin[name]


def registered_models() -> list[str]:
    """Import paths of every class :func:`load` may construct (registered or built-in)."""
    return sorted(set(_REGISTRY) | set(_builtin_classes()))


# --------------------------------------------------------------------------- checksum


def _byte_view(tensor: torch.Tensor) -> torch.Tensor:
    """The raw bytes of ``tensor`` as a flat CPU ``uint8`` tensor (a view when possible)."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8) if flat.numel() else torch.empty(0, dtype=torch.uint8)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equality (NaN payloads and signed zeros included)."""
    same_layout = a.shape == b.shape and a.dtype == b.dtype
    return same_layout and torch.equal(_byte_view(a), _byte_view(b))


def _checksum(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    """SHA-256 over the metadata (minus the checksum) and every tensor's identity and bytes."""
    digest = hashlib.sha256()

    def feed(text: str) -> None:
        data = text.encode()
        digest.update(struct.pack("<Q", len(data)))
        digest.update(data)

    for key in sorted(metadata):
        if key != _KEY_CHECKSUM:
            feed(key)
            feed(metadata[key])
    for name in sorted(tensors):
        tensor = tensors[name]
        feed(name)
        feed(str(tensor.dtype))
        feed(json.dumps(list(tensor.shape)))
        data = _byte_view(tensor)
        digest.update(struct.pack("<Q", data.numel()))
        digest.update(data.numpy().data)
    return digest.hexdigest()


# --------------------------------------------------------------------------- raw files


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory + fsync + rename."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _prepare_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a mapping str -> Tensor, got {type(tensors).__name__}")
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensors keys must be str, got {type(name).__name__}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"tensors[{name!r}] must be a torch.Tensor, got {type(tensor).__name__}"
            )
        # Own, contiguous CPU copy: safetensors rejects views and shared storage.
        out[name] = tensor.detach().to("cpu", copy=True).contiguous()
    return out


def _write(path: PathLike, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> None:
    prepared = _prepare_tensors(tensors)
    metadata = {**metadata, _KEY_VERSION: FORMAT_VERSION}
    metadata[_KEY_CHECKSUM] = _checksum(prepared, metadata)
    _atomic_write(Path(path), safetensors.torch.save(prepared, metadata=metadata))


def _read_metadata(data: bytes, path: Path) -> dict[str, str]:
    """Parse the safetensors header and return its ``__metadata__`` (strings only)."""
    if len(data) < 8:
        raise ValueError(f"{path}: not a hopfield checkpoint (file is {len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_HEADER_LIMIT, len(data) - 8):
        raise ValueError(
            f"{path}: corrupt or truncated file (header claims {header_len} bytes, "
            f"file has {len(data) - 8} after the length prefix)"
        )
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupt header (not valid JSON: {exc})") from exc
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError(f"{path}: not a hopfield checkpoint (header has no string metadata)")
    return metadata


def _read(
    path: PathLike, map_location: str | torch.device
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read, verify (structure, version, checksum) and decode a checkpoint file."""
    path = Path(path)
    data = path.read_bytes()
    metadata = _read_metadata(data, path)
    version = metadata.get(_KEY_VERSION)
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path}: unsupported format version {version!r} "
            f"(this library reads version {FORMAT_VERSION!r})"
        )
    for key in (_KEY_CONFIG, _KEY_CHECKSUM):
        if key not in metadata:
            raise ValueError(f"{path}: corrupt checkpoint (metadata entry {key!r} missing)")
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # safetensors raises its own error types for malformed files
        raise ValueError(f"{path}: corrupt or truncated tensor data ({exc})") from exc
    if _checksum(tensors, metadata) != metadata[_KEY_CHECKSUM]:
        raise ValueError(
            f"{path}: checksum mismatch (the file was modified or corrupted after it was written)"
        )
    device = torch.device(map_location)
    return {name: t.to(device) for name, t in tensors.items()}, metadata


def _encode_config(config: object, what: str) -> str:
    if not isinstance(config, Mapping) or not all(isinstance(k, str) for k in config):
        raise TypeError(f"{what} must be a dict with str keys, got {type(config).__name__}")
    try:
        return json.dumps(dict(config), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from exc


def _decode_config(text: str, path: Path) -> dict[str, Any]:
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt config JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config must be a JSON object, got {type(config).__name__}")
    return config


# --------------------------------------------------------------------------- low-level API


def save_checkpoint(
    path: PathLike, tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> None:
    """Atomically write ``tensors`` and the JSON ``config`` as a safetensors file.

    Args:
        path: destination file; replaced atomically if it exists.
        tensors: name → tensor (any device; stored as contiguous CPU copies).
        config: JSON-serialisable dict with str keys (tuples come back as lists).
    """
    config_json = _encode_config(config, "config")
    _write(path, tensors, {_KEY_CONFIG: config_json})


def load_checkpoint(
    path: PathLike, *, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_checkpoint` (or :func:`save`).

    Returns ``(tensors, config)``. Raises ``ValueError`` naming ``path`` when the
    file is truncated, corrupted (checksum over header metadata and tensor bytes),
    of another format version, or not a hopfield checkpoint.
    """
    tensors, metadata = _read(path, map_location)
    return tensors, _decode_config(metadata[_KEY_CONFIG], Path(path))


# --------------------------------------------------------------------------- models


def save(module: nn.Module, path: PathLike) -> None:
    """Save a registered model: class path, ``get_config()`` JSON and ``state_dict()``.

    Raises ``TypeError`` if ``module`` is not an ``nn.Module`` whose class is
    registered (see :func:`register_model` and ``BUILTIN_MODELS``) or lacks
    ``get_config``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    cls = type(module)
    name = _class_path(cls)
    known = name in _REGISTRY or name in _builtin_classes()
    if not known or _resolve_class(name, Path(path)) is not cls:
        raise TypeError(
            f"module class {name!r} is not registered for persistence; "
            "decorate it with @hopfield.io.register_model"
        )
    get_config: Callable[[], Mapping[str, Any]] | None = getattr(module, "get_config", None)
    if get_config is None:
        raise TypeError(f"{name} must define get_config() -> dict to be saved")
    config_json = _encode_config(get_config(), f"{name}.get_config()")
    state = module.state_dict()
    metadata = {
        _KEY_CONFIG: config_json,
        _KEY_CLASS: name,
        _KEY_TRAINING: json.dumps(module.training),
    }
    _write(path, state, metadata)


def load(path: PathLike, *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved with :func:`save`; bit-exact tensors, same train/eval flag.

    Steps: verify the file (see :func:`load_checkpoint`), look the class up in the
    registry (never importing an arbitrary path), build ``cls(**config)``, match the
    file's tensor names, dtypes and shapes to the fresh module (resizing zero-size
    buffers, see the module docstring), ``load_state_dict(strict=True)``, and
    compare every tensor with the file.
    """
    path = Path(path)
    tensors, metadata = _read(path, map_location)
    if _KEY_CLASS not in metadata:
        raise ValueError(
            f"{path}: no model class recorded (written by save_checkpoint? use load_checkpoint)"
        )
    cls = _resolve_class(metadata[_KEY_CLASS], path)
    config = _decode_config(metadata[_KEY_CONFIG], path)
    from_config = getattr(cls, "from_config", None)  # nested configs (a HAM's layers)
    try:
        module = from_config(config) if callable(from_config) else cls(**config)
    except Exception as exc:
        raise ValueError(
            f"{path}: could not construct {cls.__qualname__}(**config): {exc}"
        ) from exc
    module.to(torch.device(map_location))
    _match_state(module, tensors, path)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: state does not fit {cls.__qualname__}: {exc}") from exc
    _verify_loaded(module, tensors, path)
    module.train(metadata.get(_KEY_TRAINING, "false") == "true")
    return module


def _match_state(module: nn.Module, tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """Check names and dtypes; cast a uniformly re-typed module; resize zero-size buffers."""
    _fill_none_buffers(module, tensors)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: tensor names do not match {type(module).__qualname__}: "
            f"missing {missing}, unexpected {unexpected}"
        )
    _match_float_dtype(module, tensors, expected.items())
    expected = module.state_dict()
    for name, tensor in tensors.items():
        want = expected[name]
        differs = want.shape != tensor.shape or want.dtype != tensor.dtype
        if differs and want.numel() == 0 and _resize_buffer(module, name, tensor):
            continue  # an empty (not yet stored) memory adopts the file's shape and dtype
        if want.dtype != tensor.dtype:
            raise ValueError(
                f"{path}: tensor {name!r} has dtype {tensor.dtype}, "
                f"{type(module).__qualname__} expects {want.dtype}"
            )


def _match_float_dtype(
    module: nn.Module,
    tensors: Mapping[str, torch.Tensor],
    expected: Iterable[tuple[str, torch.Tensor]],
) -> None:
    """If every floating tensor in the file has one dtype the module lacks, cast the module."""
    file_dtypes = {t.dtype for t in tensors.values() if t.is_floating_point()}
    differs = any(t.is_floating_point() and t.dtype != tensors[name].dtype for name, t in expected)
    if differs and len(file_dtypes) == 1:
        module.to(dtype=file_dtypes.pop())


def _fill_none_buffers(module: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    """Give buffers registered as ``None`` (not yet stored) the file's shape and dtype."""
    for name, tensor in tensors.items():
        owner_name, _, attr = name.rpartition(".")
        try:
            owner = module.get_submodule(owner_name) if owner_name else module
        except AttributeError:
            continue
        if attr in owner._buffers and owner._buffers[attr] is None:
            owner._buffers[attr] = torch.empty(tensor.shape, dtype=tensor.dtype)


def _resize_buffer(module: nn.Module, name: str, tensor: torch.Tensor) -> bool:
    """Replace buffer ``name`` by an empty tensor shaped like ``tensor``; False if no buffer."""
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    current = owner._buffers.get(attr)
    if current is None:
        return False  # a parameter: leave the mismatch to load_state_dict, which reports it
    owner._buffers[attr] = torch.empty(tensor.shape, dtype=tensor.dtype, device=current.device)
    return True


def _verify_loaded(module: nn.Module, tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    for name, value in module.state_dict().items():
        saved = tensors[name]
        if not _same_bits(value, saved):
            raise ValueError(
                f"{path}: tensor {name!r} differs from the file after load_state_dict "
                f"(module has {tuple(value.shape)} {value.dtype}, file has "
                f"{tuple(saved.shape)} {saved.dtype})"
            )
