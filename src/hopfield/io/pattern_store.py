"""Disk-backed pattern stores: memories larger than RAM, read in chunks.

A dense associative memory with stored patterns ``Ξ = (ξ_1, …, ξ_K)ᵀ`` ``(K, D)``
only ever needs ``Ξ`` through sums over ``μ`` (Ramsauer et al. 2020, "Hopfield
Networks is All You Need": ``E(x) = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²``,
``x ← Ξᵀ softmax(β Ξ x)``), so the patterns can live on disk and be read ``C`` rows
at a time (:class:`hopfield.models.streaming_memory.StreamingMemory` combines the
chunks exactly with the online log-sum-exp identity of :mod:`hopfield.ops.streaming`).

Two file formats, both readable by other tools:

* ``.npy`` (numpy): a C-ordered 2-D array ``(K, D)``;
* ``.safetensors``: one 2-D tensor (name ``"patterns"`` by default).

Resident memory (why RSS stays bounded)
---------------------------------------
Pages of a memory-mapped file count in the process RSS (as ``RssFile``) once
touched and stay there while the mapping lives, so naively slicing
``np.load(path, mmap_mode="r")`` over a 1 GB file ends with ~1 GB resident. Every
reader here therefore copies a chunk into one reusable buffer and releases the file
pages it touched:

* :class:`NumpyPatternStore` ``access="read"`` (default): positioned ``readinto``
  on a plain file object straight into the chunk buffer; the file data go through
  the kernel page cache, which is not part of the process RSS;
* :class:`NumpyPatternStore` ``access="mmap"``: a read-only ``mmap`` of the file
  (``np.ndarray`` over it at the header offset, as ``np.load(mmap_mode="r")`` would
  build); after a chunk is copied, ``madvise(MADV_DONTNEED)`` drops the touched
  pages (every :data:`MMAP_BLOCK_BYTES`), so at most one block of file pages is
  resident;
* :class:`SafetensorsPatternStore`: ``safe_open(..., framework="pt")`` and
  ``get_slice`` in blocks of at most :data:`SAFETENSORS_BLOCK_BYTES`, each block
  with a fresh handle (closing it unmaps the file), copied into the chunk buffer.

Peak extra RSS of a pass is thus one chunk buffer (``C·D·itemsize``) plus at most
one block of file pages.

Writing without holding the patterns in RAM: :class:`PatternWriter` (or
:func:`write_patterns`) appends chunks to a temporary file, then patches the header
with the final ``K`` and renames it over the destination (atomic: a crash leaves no
half-written store under the final name).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from hopfield._deprecated import moved_attribute
from hopfield._validation import check_finite, check_rank, check_tensor
from hopfield.io.atomic import create_temporary

__all__ = [
    "MMAP_BLOCK_BYTES",
    "SAFETENSORS_BLOCK_BYTES",
    "NumpyPatternStore",
    "PatternStore",
    "PatternWriter",
    "SafetensorsPatternStore",
    "open_store",
    "write_patterns",
]

PathLike = str | os.PathLike[str]

MMAP_BLOCK_BYTES: int = 8 * 2**20
"""Bytes copied out of the ``.npy`` memory map between two ``madvise`` calls."""

SAFETENSORS_BLOCK_BYTES: int = 8 * 2**20
"""Largest ``get_slice`` read of :class:`SafetensorsPatternStore` (one open handle)."""

_DEFAULT_KEY = "patterns"
_NPY_HEADER_BYTES = 128  # magic (6) + version (2) + length (2) + padded dict (118)
_ST_HEADER_BYTES = 512  # fixed, space-padded safetensors JSON header
_ST_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
}
_NP_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "<f8",
    torch.float32: "<f4",
    torch.float16: "<f2",
}


def __getattr__(name: str) -> Any:
    """``shard_range`` moved to :mod:`hopfield.distributed.partition`."""
    return moved_attribute(__name__, name)


def _check_chunk_rows(chunk_size: int) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(f"chunk_size must be an int, got {type(chunk_size).__name__}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
    return chunk_size


# --------------------------------------------------------------------------- readers


class PatternStore:
    """Read-only ``(K, D)`` pattern matrix on disk, read in row ranges.

    Subclasses implement :meth:`_read_into`. Public readers:

    * :meth:`read` ``(start, stop)`` → a fresh ``(stop − start, D)`` tensor;
    * :meth:`iter_chunks` → ``(start, chunk)`` pairs over ``[start, stop)``, where
      ``chunk`` is a view of **one reused buffer** (overwritten by the next chunk:
      ``clone()`` what you keep). This is what keeps streaming passes at
      ``O(C·D)`` resident memory.
    """

    def __init__(self, path: Path, num_patterns: int, dim: int, dtype: torch.dtype) -> None:
        self.path = path
        self.num_patterns = num_patterns
        self.dim = dim
        self.dtype = dtype

    @property
    def shape(self) -> tuple[int, int]:
        """``(K, D)``."""
        return (self.num_patterns, self.dim)

    @property
    def nbytes(self) -> int:
        """Bytes of pattern data on disk, ``K·D·itemsize``."""
        return self.num_patterns * self.dim * self.dtype.itemsize

    def __len__(self) -> int:
        return self.num_patterns

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={str(self.path)!r}, shape={self.shape}, "
            f"dtype={self.dtype})"
        )

    def _check_range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.num_patterns if stop is None else stop
        for name, value in (("start", start), ("stop", stop)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if not 0 <= start <= stop <= self.num_patterns:
            raise ValueError(
                f"start and stop must satisfy 0 ≤ start ≤ stop ≤ {self.num_patterns}, "
                f"got start={start}, stop={stop}"
            )
        return start, stop

    def read(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``[start, stop)`` as a new ``(stop − start, D)`` tensor."""
        start, stop = self._check_range(start, stop)
        out = torch.empty(stop - start, self.dim, dtype=self.dtype)
        if stop > start:
            self._read_into(start, stop, out)
        return out

    def iter_chunks(
        self, chunk_size: int, *, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(row offset, chunk (≤ chunk_size, D))`` over rows ``[start, stop)``.

        Every chunk is a view of the same buffer (``chunk_size·D`` elements), valid
        until the next iteration.
        """
        chunk_size = _check_chunk_rows(chunk_size)
        start, stop = self._check_range(start, stop)
        rows = min(chunk_size, max(stop - start, 1))
        buffer = torch.empty(rows, self.dim, dtype=self.dtype)
        for offset in range(start, stop, rows):
            end = min(offset + rows, stop)
            view = buffer[: end - offset]
            self._read_into(offset, end, view)
            yield offset, view

    def close(self) -> None:
        """Release file handles (a closed store can be reopened by reading again)."""

    def _read_into(self, start: int, stop: int, out: torch.Tensor) -> None:  # pragma: no cover
        raise NotImplementedError


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype[Any], bool, int]:
    """``(shape, dtype, fortran_order, data offset)`` of a ``.npy`` file."""
    with path.open("rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        except ValueError as error:
            raise ValueError(f"path {str(path)!r} is not a valid .npy file: {error}") from error
        return tuple(shape), dtype, bool(fortran), handle.tell()


class NumpyPatternStore(PatternStore):
    """Patterns in a ``.npy`` file ``(K, D)`` (C order, float16/32/64), read in chunks.

    ``access="read"``: positioned ``readinto`` into the chunk buffer (no mapping; the
    page cache is outside the process RSS). ``access="mmap"``: a read-only memory
    map (the layout of ``np.load(path, mmap_mode="r")``), chunk copied out, then
    ``madvise(MADV_DONTNEED)`` on the touched range so mapped file pages do not
    accumulate in RSS.
    """

    def __init__(self, path: PathLike, *, access: str = "read") -> None:
        path = Path(path)
        if access not in ("read", "mmap"):
            raise ValueError(f"access must be 'read' or 'mmap', got {access!r}")
        shape, dtype, fortran, offset = _npy_header(path)
        if len(shape) != 2 or fortran:
            raise ValueError(
                f"path {str(path)!r} must hold a C-ordered 2-D array (K, D), "
                f"got shape {shape} (fortran_order={fortran})"
            )
        torch_dtype = _torch_dtype_of_numpy(dtype, path)
        super().__init__(path, int(shape[0]), int(shape[1]), torch_dtype)
        expected = offset + self.nbytes
        if path.stat().st_size < expected:
            raise ValueError(
                f"path {str(path)!r} is truncated: header says {self.shape} "
                f"({expected} bytes), file has {path.stat().st_size}"
            )
        self.access = access
        self._offset = offset
        self._row_bytes = self.dim * self.dtype.itemsize
        self._handle: Any = None
        self._map: mmap.mmap | None = None

    def _file(self) -> Any:
        if self._handle is None:
            self._handle = self.path.open("rb", buffering=0)
        return self._handle

    def _read_into(self, start: int, stop: int, out: torch.Tensor) -> None:
        target = out.numpy().reshape(-1).view(np.uint8)
        position = self._offset + start * self._row_bytes
        if self.access == "mmap":
            self._copy_from_map(position, target)
            return
        handle = self._file()
        handle.seek(position)
        view = target.data
        filled = 0
        while filled < len(view):
            got = handle.readinto(view[filled:])
            if not got:
                raise ValueError(f"path {str(self.path)!r} ended early (truncated store)")
            filled += got

    def _copy_from_map(self, position: int, target: np.ndarray[Any, Any]) -> None:
        if self._map is None:
            self._map = mmap.mmap(self._file().fileno(), 0, access=mmap.ACCESS_READ)
        for done in range(0, target.shape[0], MMAP_BLOCK_BYTES):
            length = min(MMAP_BLOCK_BYTES, target.shape[0] - done)
            begin = position + done
            source = np.frombuffer(self._map, dtype=np.uint8, count=length, offset=begin)
            np.copyto(target[done : done + length], source)
            del source  # release the buffer export before the mapping may be closed
            # Drop the mapped pages just read (page-aligned start) from the RSS.
            page_start = begin - begin % mmap.PAGESIZE
            self._map.madvise(mmap.MADV_DONTNEED, page_start, begin + length - page_start)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _torch_dtype_of_numpy(dtype: np.dtype[Any], path: Path) -> torch.dtype:
    for torch_dtype, descr in _NP_DTYPES.items():
        if np.dtype(descr) == dtype:
            return torch_dtype
    raise ValueError(
        f"path {str(path)!r} must hold little-endian float16/32/64 patterns, got dtype {dtype}"
    )


class SafetensorsPatternStore(PatternStore):
    """Patterns stored as one 2-D tensor ``key`` of a ``.safetensors`` file.

    Reads use ``safe_open(path, framework="pt").get_slice(key)[a:b]`` in blocks of at
    most :data:`SAFETENSORS_BLOCK_BYTES`; each block opens a fresh handle, whose
    memory map is released when it closes, so file pages never pile up in RSS.
    """

    def __init__(self, path: PathLike, *, key: str = _DEFAULT_KEY) -> None:
        path = Path(path)
        try:
            with safe_open(str(path), framework="pt") as handle:
                names = sorted(handle.keys())
                if key not in names:
                    raise ValueError(f"key {key!r} not found in {str(path)!r}; tensors: {names}")
                piece = handle.get_slice(key)
                shape = tuple(piece.get_shape())
                dtype_name = piece.get_dtype()
        except (OSError, SafetensorError) as error:
            raise ValueError(
                f"path {str(path)!r} is not a readable safetensors file: {error}"
            ) from error
        by_name = {name: dtype for dtype, name in _ST_DTYPES.items()}
        if len(shape) != 2 or dtype_name not in by_name:
            raise ValueError(
                f"tensor {key!r} of {str(path)!r} must be a 2-D float tensor (K, D), "
                f"got shape {shape} and dtype {dtype_name}"
            )
        super().__init__(path, int(shape[0]), int(shape[1]), by_name[dtype_name])
        self.key = key
        self._block_rows = max(1, SAFETENSORS_BLOCK_BYTES // max(1, self.dim * self.dtype.itemsize))

    def _read_into(self, start: int, stop: int, out: torch.Tensor) -> None:
        for block in range(start, stop, self._block_rows):
            end = min(block + self._block_rows, stop)
            with safe_open(str(self.path), framework="pt") as handle:
                piece = handle.get_slice(self.key)[block:end]  # a view of the file map
                # Plain single-threaded byte copy: torch's parallel copy_ out of a fresh
                # mapping is ~10x slower here (threads contend on page faults).
                target = out[block - start : end - start]
                np.copyto(target.view(torch.uint8).numpy(), piece.view(torch.uint8).numpy())
            del piece


def open_store(path: PathLike, *, key: str = _DEFAULT_KEY, access: str = "read") -> PatternStore:
    """Open a pattern store by suffix: ``.npy`` → :class:`NumpyPatternStore`
    (``access``), ``.safetensors`` → :class:`SafetensorsPatternStore` (``key``)."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    suffix = Path(path).suffix
    if suffix == ".npy":
        return NumpyPatternStore(path, access=access)
    if suffix == ".safetensors":
        return SafetensorsPatternStore(path, key=key)
    raise ValueError(f"path must end in '.npy' or '.safetensors', got {str(path)!r}")


# --------------------------------------------------------------------------- writer


class PatternWriter:
    """Write a ``(K, D)`` pattern store chunk by chunk, never holding ``Ξ`` in RAM.

    ``PatternWriter(path, dim, dtype=torch.float32)``; :meth:`append` ``(C, D)``
    chunks; :meth:`close` patches ``K`` into the header (``.npy``: a fixed 128-byte
    v1.0 header; ``.safetensors``: a fixed, space-padded JSON header with
    ``data_offsets`` ``[0, K·D·itemsize]``) and atomically renames the temporary
    file onto ``path``. Use as a context manager; on an exception the temporary
    file is removed and ``path`` is left untouched.
    """

    def __init__(
        self,
        path: PathLike,
        dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        key: str = _DEFAULT_KEY,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix not in (".npy", ".safetensors"):
            raise ValueError(f"path must end in '.npy' or '.safetensors', got {str(path)!r}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an int ≥ 1, got {dim!r}")
        table = _NP_DTYPES if self.path.suffix == ".npy" else _ST_DTYPES
        if dtype not in table:
            raise TypeError(
                f"dtype must be one of {list(table)} for {self.path.suffix}, got {dtype}"
            )
        self.dim = dim
        self.dtype = dtype
        self.key = key
        self.num_patterns = 0
        fd, self._temp = create_temporary(self.path, suffix="")
        self._handle: Any = os.fdopen(fd, "wb")
        self._handle.write(b"\0" * self._header_bytes)

    @property
    def _header_bytes(self) -> int:
        return _NPY_HEADER_BYTES if self.path.suffix == ".npy" else 8 + _ST_HEADER_BYTES

    def append(self, chunk: torch.Tensor | np.ndarray[Any, Any]) -> None:
        """Append rows ``chunk`` ``(C, D)`` (cast to the store dtype; must be finite)."""
        if self._handle is None:
            raise ValueError("the writer is closed; open a new PatternWriter to write again")
        if isinstance(chunk, np.ndarray):
            chunk = torch.from_numpy(chunk)
        check_tensor(chunk, "chunk")
        check_rank(chunk, "chunk", 2, f"(C, {self.dim})")
        if chunk.shape[1] != self.dim:
            raise ValueError(f"chunk must have shape (C, {self.dim}), got {tuple(chunk.shape)}")
        rows = chunk.detach().to(device="cpu", dtype=self.dtype).contiguous()
        check_finite(rows, "chunk")
        if rows.dtype == torch.bfloat16:
            self._handle.write(rows.view(torch.int16).numpy().data.cast("B"))
        else:
            self._handle.write(rows.numpy().data.cast("B"))
        self.num_patterns += int(rows.shape[0])

    def close(self) -> Path:
        """Finish the file (header with the final ``K``) and move it onto ``path``."""
        if self._handle is None:
            return self.path
        handle, self._handle = self._handle, None
        try:
            handle.seek(0)
            handle.write(self._header())
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            handle.close()
        os.replace(self._temp, self.path)
        return self.path

    def abort(self) -> None:
        """Discard everything written (``path`` is not touched)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._temp.unlink(missing_ok=True)

    def _header(self) -> bytes:
        if self.path.suffix == ".npy":
            text = (
                f"{{'descr': '{_NP_DTYPES[self.dtype]}', 'fortran_order': False, "
                f"'shape': ({self.num_patterns}, {self.dim}), }}"
            )
            body = text.ljust(_NPY_HEADER_BYTES - 11) + "\n"
            return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")
        nbytes = self.num_patterns * self.dim * self.dtype.itemsize
        header = {
            self.key: {
                "dtype": _ST_DTYPES[self.dtype],
                "shape": [self.num_patterns, self.dim],
                "data_offsets": [0, nbytes],
            },
            "__metadata__": {"hopfield.kind": "pattern_store"},
        }
        text = json.dumps(header, separators=(",", ":"))
        if len(text) > _ST_HEADER_BYTES:
            raise ValueError(f"key {self.key!r} is too long for the fixed safetensors header")
        return struct.pack("<Q", _ST_HEADER_BYTES) + text.ljust(_ST_HEADER_BYTES).encode()

    def __enter__(self) -> PatternWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_patterns(
    path: PathLike,
    chunks: Iterable[torch.Tensor | np.ndarray[Any, Any]],
    *,
    dtype: torch.dtype = torch.float32,
    key: str = _DEFAULT_KEY,
) -> PatternStore:
    """Write the rows of ``chunks`` (each ``(C, D)``) to ``path`` and open it.

    ``D`` is taken from the first chunk; the file is ``.npy`` or ``.safetensors`` by
    suffix. Only one chunk is in memory at a time (if the iterable is lazy).
    """
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        raise ValueError("chunks must yield at least one (C, D) chunk, got none")
    if not isinstance(first, torch.Tensor | np.ndarray) or first.ndim != 2:
        raise ValueError("chunks must yield 2-D (C, D) tensors or arrays")
    with PatternWriter(path, int(first.shape[1]), dtype=dtype, key=key) as writer:
        writer.append(first)
        for chunk in iterator:
            writer.append(chunk)
    return open_store(path, key=key)
