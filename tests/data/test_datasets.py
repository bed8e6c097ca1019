"""Offline dataset loaders: bundled sets, local idx/CIFAR files, clear errors."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from hopfield.data import datasets
from hopfield.data.datasets import (
    flatten,
    load_dataset,
    read_idx,
    to_bipolar,
    to_centered,
    unflatten,
)

SHARED = Path(os.environ.get("HOPFIELD_DATA", "/work/shared/data"))
needs_mnist = pytest.mark.skipif(
    not (SHARED / "mnist" / "train-labels-idx1-ubyte.gz").is_file(), reason="no local MNIST"
)
needs_fashion = pytest.mark.skipif(
    not (SHARED / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="no local Fashion-MNIST",
)


def test_digits_are_8x8_scaled_to_unit_interval() -> None:
    images, labels = load_dataset("digits")
    assert images.shape == (1437, 1, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1437,) and labels.dtype == torch.int64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    # sklearn stores pixels 0..16: after /16 every value is a multiple of 1/16
    assert torch.equal(images * 16, (images * 16).round())
    test_images, _ = load_dataset("digits", split="test")
    all_images, all_labels = load_dataset("digits", split="all")
    assert test_images.shape[0] + images.shape[0] == all_images.shape[0] == 1797
    assert set(all_labels.tolist()) == set(range(10))


def test_glyphs_are_binary_centred_and_deterministic() -> None:
    images, labels = load_dataset("glyphs", image_size=24)
    again, _ = load_dataset("glyphs", image_size=24)
    assert images.shape == (36, 1, 24, 24) and torch.equal(images, again)
    assert set(torch.unique(images).tolist()) == {0.0, 1.0}
    assert torch.equal(labels, torch.arange(36))
    ink = images.flatten(1).sum(1)
    assert bool((ink > 10).all()), "every glyph has ink"
    rows = torch.arange(24, dtype=torch.float32)
    centre_rows = (images[:, 0].sum(2) * rows).sum(1) / ink
    assert bool(((centre_rows - 11.5).abs() < 4).all()), "ink is roughly centred"
    flat = flatten(images)
    assert torch.unique(flat, dim=0).shape[0] == 36, "all glyphs differ"


def test_glyph_size_changes_resolution_and_test_split_is_rejected() -> None:
    small, _ = load_dataset("glyphs", image_size=16)
    assert small.shape == (36, 1, 16, 16)
    with pytest.raises(ValueError, match="split"):
        load_dataset("glyphs", split="test")
    with pytest.raises(ValueError, match="size"):
        load_dataset("glyphs", image_size=4)


def test_unknown_dataset_and_split_are_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="digits"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", split="validation")


@needs_mnist
def test_mnist_from_shared_folder() -> None:
    images, labels = load_dataset("mnist", root=SHARED)
    assert images.shape == (60000, 1, 28, 28) and labels.shape == (60000,)
    assert int(labels[0]) == 5 and labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    test_images, _ = load_dataset("mnist", split="test", root=SHARED / "mnist")
    assert test_images.shape == (10000, 1, 28, 28)


@needs_fashion
def test_fashion_mnist_through_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(datasets.ENV_VAR, str(SHARED))
    images, labels = load_dataset("fashion-mnist", split="test")
    assert images.shape == (10000, 1, 28, 28)
    assert labels.min() == 0 and labels.max() == 9
    assert torch.bincount(labels).tolist() == [1000] * 10


def test_missing_files_name_the_expected_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\.gz"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-bin"):
        load_dataset("cifar10", root=tmp_path)
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match="HOPFIELD_DATA"):
        load_dataset("fashion-mnist")


def _write_idx(path: Path, array: np.ndarray, *, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def test_idx_reader_handles_plain_and_gzip_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    pixels = rng.integers(0, 256, size=(7, 28, 28))
    targets = rng.integers(0, 10, size=7)
    _write_idx(folder / "t10k-images-idx3-ubyte", pixels, compress=True)
    _write_idx(folder / "t10k-labels-idx1-ubyte", targets, compress=False)
    images, labels = load_dataset("mnist", split="test", root=tmp_path)
    assert torch.allclose(images[:, 0] * 255, torch.from_numpy(pixels).float())
    assert labels.tolist() == targets.tolist()
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="idx"):
        read_idx(bad)


def test_cifar10_binary_records(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    records = rng.integers(0, 256, size=(3, 3073)).astype(np.uint8)
    records[:, 0] = [3, 0, 9]
    records.tofile(folder / "test_batch.bin")
    images, labels = load_dataset("cifar10", split="test", root=tmp_path)
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == [3, 0, 9]
    # channel planes: R then G then B, each 32×32 row-major
    assert float(images[1, 2, 0, 5]) * 255 == pytest.approx(float(records[1, 1 + 2048 + 5]))


def test_bipolar_centered_and_flatten_round_trip() -> None:
    images = torch.tensor([[[[0.0, 0.2], [0.6, 1.0]]]])
    assert to_bipolar(images).flatten().tolist() == [-1.0, -1.0, 1.0, 1.0]
    assert to_centered(images).flatten().tolist() == pytest.approx([-1.0, -0.6, 0.2, 1.0])
    flat = flatten(images)
    assert flat.shape == (1, 4)
    assert torch.equal(unflatten(flat, (1, 2, 2)), images)
    with pytest.raises(ValueError, match="image_shape"):
        unflatten(flat, (1, 3, 3))
    with pytest.raises(TypeError, match="images"):
        to_bipolar(torch.ones(2, 2, dtype=torch.int64))
