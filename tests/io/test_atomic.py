"""Atomic writes: new files honour the umask; failures name the destination."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import hopfield
from hopfield.io import save_checkpoint
from hopfield.io.atomic import create_temporary, default_file_mode
from hopfield.io.pattern_store import PatternWriter
from hopfield.models import ModernHopfield


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_mode_follows_the_umask() -> None:
    previous = os.umask(0o027)
    try:
        assert default_file_mode() == 0o640
    finally:
        os.umask(previous)


def test_saved_files_get_the_mode_of_a_plain_open(tmp_path: Path, umask_022: None) -> None:
    model = ModernHopfield(beta=1.0)
    model.store(torch.randn(4, 3))
    hopfield.save(model, tmp_path / "model.safetensors")
    save_checkpoint(tmp_path / "ckpt.safetensors", {"w": torch.ones(2)}, {"step": 1})
    with PatternWriter(tmp_path / "patterns.npy", 3) as writer:
        writer.append(torch.randn(5, 3))
    for name in ("model.safetensors", "ckpt.safetensors", "patterns.npy"):
        assert _mode(tmp_path / name) == 0o644, name


def test_missing_directory_error_names_the_destination(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "model.safetensors"
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors") as info:
        create_temporary(target)
    assert ".tmp" not in str(info.value)
    model = ModernHopfield(beta=1.0)
    model.store(torch.randn(4, 3))
    with pytest.raises(FileNotFoundError, match=re.escape(str(target))):
        hopfield.save(model, target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_unwritable_directory_error_names_the_destination(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match=r"locked/model\.safetensors"):
        create_temporary(folder / "model.safetensors")
