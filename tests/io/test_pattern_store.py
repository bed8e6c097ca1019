"""Disk-backed pattern stores: round trips, chunked reads, atomic writes, errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hopfield.io.pattern_store import (
    NumpyPatternStore,
    PatternWriter,
    SafetensorsPatternStore,
    open_store,
    write_patterns,
)

SUFFIXES = (".npy", ".safetensors")


def _chunks(patterns: torch.Tensor, rows: int) -> list[torch.Tensor]:
    return [patterns[i : i + rows] for i in range(0, patterns.shape[0], rows)]


@pytest.fixture
def patterns() -> torch.Tensor:
    return torch.randn(1037, 11, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_writer_output_is_readable_by_the_reference_loaders(
    tmp_path: Path, patterns: torch.Tensor, suffix: str
) -> None:
    path = tmp_path / f"p{suffix}"
    write_patterns(path, _chunks(patterns, 100))
    loaded = (
        torch.from_numpy(np.load(path)) if suffix == ".npy" else load_file(str(path))["patterns"]
    )
    assert torch.equal(loaded, patterns)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_read_and_iter_chunks_match_the_written_rows(
    tmp_path: Path, patterns: torch.Tensor, suffix: str, dtype: torch.dtype
) -> None:
    store = write_patterns(tmp_path / f"p{suffix}", _chunks(patterns, 300), dtype=dtype)
    expected = patterns.to(dtype)
    assert store.shape == (1037, 11) and store.dtype == dtype
    assert store.nbytes == 1037 * 11 * dtype.itemsize
    assert torch.equal(store.read(), expected)
    assert torch.equal(store.read(17, 901), expected[17:901])
    pieces = [(start, chunk.clone()) for start, chunk in store.iter_chunks(128, start=5, stop=1000)]
    assert [start for start, _ in pieces] == list(range(5, 1000, 128))
    assert torch.equal(torch.cat([chunk for _, chunk in pieces]), expected[5:1000])


def test_iter_chunks_reuses_one_buffer(tmp_path: Path, patterns: torch.Tensor) -> None:
    store = write_patterns(tmp_path / "p.npy", [patterns])
    pointers = {chunk.data_ptr() for _, chunk in store.iter_chunks(100)}
    assert len(pointers) == 1


def test_mmap_access_equals_plain_reads(tmp_path: Path, patterns: torch.Tensor) -> None:
    write_patterns(tmp_path / "p.npy", [patterns])
    mapped = NumpyPatternStore(tmp_path / "p.npy", access="mmap")
    got = torch.cat([chunk.clone() for _, chunk in mapped.iter_chunks(77)])
    mapped.close()
    assert torch.equal(got, patterns)


def test_store_reads_files_written_by_numpy_and_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    array = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    np.save(tmp_path / "a.npy", array)
    save_file({"mem": torch.from_numpy(array)}, str(tmp_path / "a.safetensors"))
    assert torch.equal(open_store(tmp_path / "a.npy").read(), torch.from_numpy(array))
    st = SafetensorsPatternStore(tmp_path / "a.safetensors", key="mem")
    assert torch.equal(st.read(3, 9), torch.from_numpy(array[3:9]))


def test_writer_is_atomic_and_aborts_on_error(tmp_path: Path, patterns: torch.Tensor) -> None:
    path = tmp_path / "p.npy"
    write_patterns(path, [patterns[:10]])
    with pytest.raises(RuntimeError, match="boom"), PatternWriter(path, 11) as writer:
        writer.append(patterns)
        raise RuntimeError("boom")
    assert torch.equal(open_store(path).read(), patterns[:10])  # old file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npy"]  # no temp left


def test_writer_validates_chunks(tmp_path: Path) -> None:
    with PatternWriter(tmp_path / "p.safetensors", 4) as writer:
        with pytest.raises(ValueError, match=r"chunk must have shape \(C, 4\)"):
            writer.append(torch.zeros(3, 5))
        with pytest.raises(ValueError, match="NaN or inf"):
            writer.append(torch.full((2, 4), float("nan")))
        with pytest.raises(TypeError, match=r"chunk must be a torch\.Tensor"):
            writer.append([[1.0] * 4])  # type: ignore[arg-type]
        writer.append(np.ones((2, 4), dtype=np.float64))
    assert open_store(tmp_path / "p.safetensors").shape == (2, 4)
    with pytest.raises(ValueError, match="must end in"):
        PatternWriter(tmp_path / "p.bin", 4)
    with pytest.raises(ValueError, match="dim must be an int"):
        PatternWriter(tmp_path / "q.npy", 0)


def test_truncated_and_malformed_files_raise_value_error(
    tmp_path: Path, patterns: torch.Tensor
) -> None:
    path = tmp_path / "p.npy"
    write_patterns(path, [patterns])
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    with pytest.raises(ValueError, match="truncated"):
        open_store(path)
    np.save(tmp_path / "v.npy", np.zeros(5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"2-D array \(K, D\)"):
        open_store(tmp_path / "v.npy")
    np.save(tmp_path / "i.npy", np.zeros((5, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="float16/32/64"):
        open_store(tmp_path / "i.npy")
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match=r"not a valid \.npy"):
        open_store(tmp_path / "junk.npy")
    st = tmp_path / "p.safetensors"
    write_patterns(st, [patterns])
    with pytest.raises(ValueError, match="key 'other' not found"):
        SafetensorsPatternStore(st, key="other")
    header_len = struct.unpack("<Q", st.read_bytes()[:8])[0]
    header = json.loads(st.read_bytes()[8 : 8 + header_len])
    assert header["patterns"]["shape"] == [1037, 11]
    st.write_bytes(st.read_bytes()[:-4])
    with pytest.raises(ValueError, match="not a readable safetensors"):
        SafetensorsPatternStore(st)
    with pytest.raises(ValueError, match=r"end in '.npy' or '.safetensors'"):
        open_store(tmp_path / "p.txt")


def test_read_range_is_validated(tmp_path: Path, patterns: torch.Tensor) -> None:
    store = write_patterns(tmp_path / "p.npy", [patterns])
    with pytest.raises(ValueError, match="0 ≤ start ≤ stop ≤ 1037"):
        store.read(10, 2000)
    with pytest.raises(ValueError, match="chunk_size must be ≥ 1"):
        next(store.iter_chunks(0))
