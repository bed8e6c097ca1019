"""Offline image datasets: bundled (digits, glyphs) and user-supplied local files.

``load_dataset(name)`` returns ``(images, labels)``: images float32 in [0, 1] of
shape ``(N, C, H, W)``, labels int64 ``(N,)``. Nothing is ever downloaded:

* ``"digits"``: scikit-learn's bundled 8×8 handwritten digits (1797 images, values
  0..16 scaled to [0, 1]); ``split="train"`` is the first 1437, ``"test"`` the rest.
* ``"glyphs"``: ``A``–``Z``, ``0``–``9`` rendered with Pillow's default font
  (:mod:`hopfield.data.glyphs`), binary, ``image_size × image_size``.
* ``"mnist"``, ``"fashion-mnist"``: gzip (or plain) idx files with the standard
  names, read from ``root`` or ``$HOPFIELD_DATA`` (a folder holding ``mnist/`` and
  ``fashion-mnist/``, or the dataset folder itself).
* ``"cifar10"``: the binary version ``cifar-10-batches-bin/*.bin`` under ``root``.

:func:`to_bipolar` and :func:`flatten` turn images into the ``(K, D)`` ±1 patterns
binary Hopfield models store; :func:`to_centered` gives continuous patterns in
[−1, 1] for continuous models.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from hopfield._validation import check_floating, check_probability, check_rank
from hopfield.data.glyphs import render_glyphs

__all__ = [
    "DATASET_NAMES",
    "ENV_VAR",
    "flatten",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_glyphs",
    "load_idx_dataset",
    "read_idx",
    "to_bipolar",
    "to_centered",
    "unflatten",
]

ENV_VAR = "HOPFIELD_DATA"
"""Environment variable naming the folder with local copies of the file datasets."""

DATASET_NAMES: tuple[str, ...] = ("digits", "glyphs", "mnist", "fashion-mnist", "cifar10")

_SPLITS = ("train", "test", "all")
_DIGITS_TRAIN = 1437
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
_IDX_DTYPES: dict[int, np.dtype[np.generic]] = {
    code: np.dtype(spec)
    for code, spec in (
        (0x08, "u1"),
        (0x09, "i1"),
        (0x0B, ">i2"),
        (0x0C, ">i4"),
        (0x0D, ">f4"),
        (0x0E, ">f8"),
    )
}


def _check_split(split: str, allowed: tuple[str, ...] = _SPLITS) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")
    return split


def load_digits(*, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits as ``(N, 1, 8, 8)`` in [0, 1] (pixel / 16) and labels."""
    from sklearn.datasets import load_digits as _sk_load_digits

    _check_split(split)
    bunch = _sk_load_digits()
    images = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    if split == "train":
        return images[:_DIGITS_TRAIN], labels[:_DIGITS_TRAIN]
    if split == "test":
        return images[_DIGITS_TRAIN:], labels[_DIGITS_TRAIN:]
    return images, labels


def load_glyphs(*, split: str = "train", image_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Rendered ``A``–``Z``, ``0``–``9`` glyphs ``(36, 1, image_size, image_size)`` in {0, 1}.

    There is one set only: ``"train"`` and ``"all"`` return it; ``"test"`` is rejected.
    """
    _check_split(split, ("train", "all"))
    return render_glyphs(size=image_size)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one idx file (gzip-compressed when its name ends in ``.gz``) into an array.

    Format (LeCun): two zero bytes, a dtype code, the number of dims ``d``, then ``d``
    big-endian uint32 sizes, then the data.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header promises shape {dims}, file holds {data.size} values")
    return data.reshape(dims)


def _data_root(root: str | os.PathLike[str] | None, name: str) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get(ENV_VAR)
    if not env:
        raise FileNotFoundError(
            f"dataset {name!r} is read from local files and never downloaded: pass root=... "
            f"(or --data-root) or set ${ENV_VAR} to the folder holding {name}/"
        )
    return Path(env)


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_dataset(
    name: str, *, split: str = "train", root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST or Fashion-MNIST from local idx files as ``(N, 1, 28, 28)`` in [0, 1], labels.

    ``root`` (or ``$HOPFIELD_DATA``) is either the folder holding ``<name>/`` or the
    ``<name>/`` folder itself; files are ``train-images-idx3-ubyte[.gz]`` etc.
    """
    if name not in ("mnist", "fashion-mnist"):
        raise ValueError(f"name must be 'mnist' or 'fashion-mnist', got {name!r}")
    _check_split(split)
    base = _data_root(root, name)
    parts = ("train", "test") if split == "all" else (split,)
    images, labels = [], []
    for part in parts:
        image_stem, label_stem = _IDX_FILES[part]
        folders = (base / name, base)
        found = None
        for folder in folders:
            image_path = _find_idx_file(folder, image_stem)
            label_path = _find_idx_file(folder, label_stem)
            if image_path is not None and label_path is not None:
                found = (image_path, label_path)
                break
        if found is None:
            expected = ", ".join(
                str(f / f"{s}.gz") for f in folders for s in (image_stem, label_stem)
            )
            raise FileNotFoundError(
                f"{name} {part} split not found; expected gzip idx files (or the same names "
                f"without .gz) at: {expected}"
            )
        pixels = read_idx(found[0])
        targets = read_idx(found[1])
        if pixels.ndim != 3 or targets.ndim != 1 or len(pixels) != len(targets):
            raise ValueError(
                f"{found[0]} / {found[1]}: expected images (N, H, W) and labels (N,), got "
                f"{pixels.shape} and {targets.shape}"
            )
        images.append(torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1))
        labels.append(torch.from_numpy(targets.astype(np.int64)))
    return torch.cat(images), torch.cat(labels)


def load_cifar10(
    *, split: str = "train", root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the binary version as ``(N, 3, 32, 32)`` in [0, 1], labels.

    Each record of ``data_batch_{1..5}.bin`` / ``test_batch.bin`` is one label byte
    followed by 3072 pixel bytes (R, G, B planes of 32×32). ``root`` is the folder
    holding ``cifar-10-batches-bin/`` (also looked for under ``root/cifar10/``) or
    that folder itself.
    """
    _check_split(split)
    base = _data_root(root, "cifar10")
    parts = ("train", "test") if split == "all" else (split,)
    names = [n for part in parts for n in _CIFAR_FILES[part]]
    folders = (base / "cifar-10-batches-bin", base / "cifar10" / "cifar-10-batches-bin", base)
    folder = next((f for f in folders if all((f / n).is_file() for n in names)), None)
    if folder is None:
        raise FileNotFoundError(
            f"cifar10 {split} split not found; expected the binary version ({', '.join(names)}) "
            f"in one of: {', '.join(str(f) for f in folders)}"
        )
    records = []
    for file_name in names:
        raw = np.fromfile(folder / file_name, dtype=np.uint8)
        if raw.size % 3073:
            raise ValueError(f"{folder / file_name}: size {raw.size} is not a multiple of 3073")
        records.append(raw.reshape(-1, 3073))
    table = np.concatenate(records)
    images = table[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return torch.from_numpy(images), torch.from_numpy(table[:, 0].astype(np.int64))


def load_dataset(
    name: str,
    *,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    image_size: int = 32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load ``name`` (one of :data:`DATASET_NAMES`) as ``(images (N, C, H, W), labels (N,))``.

    Images are float32 in [0, 1], labels int64. ``root`` applies to the file datasets
    (``mnist``, ``fashion-mnist``, ``cifar10``); ``image_size`` to ``glyphs``.
    """
    if name == "digits":
        return load_digits(split=split)
    if name == "glyphs":
        return load_glyphs(split=split, image_size=image_size)
    if name in ("mnist", "fashion-mnist"):
        return load_idx_dataset(name, split=split, root=root)
    if name == "cifar10":
        return load_cifar10(split=split, root=root)
    raise ValueError(f"name must be one of {DATASET_NAMES}, got {name!r}")


def to_bipolar(images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Binarise [0, 1] images to ±1: ``+1`` where ``pixel > threshold``, else ``−1``."""
    check_floating(images, "images")
    check_probability(threshold, "threshold")
    return torch.where(images > threshold, 1.0, -1.0).to(images.dtype)


def to_centered(images: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] images affinely to [−1, 1] (``2x − 1``): continuous patterns."""
    check_floating(images, "images")
    return 2.0 * images - 1.0


def flatten(images: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` (or ``(N, H, W)``) images to ``(N, C·H·W)`` patterns."""
    check_floating(images, "images")
    check_rank(images, "images", (3, 4), "(N, [C,] H, W)")
    return images.reshape(images.shape[0], -1)


def unflatten(patterns: torch.Tensor, image_shape: tuple[int, ...]) -> torch.Tensor:
    """``(N, D)`` patterns back to ``(N, *image_shape)`` images (``D = prod(image_shape)``)."""
    check_floating(patterns, "patterns")
    check_rank(patterns, "patterns", 2, "(N, D)")
    if int(np.prod(image_shape)) != patterns.shape[1]:
        raise ValueError(
            f"patterns have D={patterns.shape[1]} entries, image_shape {image_shape} needs "
            f"{int(np.prod(image_shape))}"
        )
    return patterns.reshape(patterns.shape[0], *image_shape)
