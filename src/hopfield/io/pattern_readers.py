"""Pattern store readers: a ``(K, D)`` matrix in a ``.npy`` or ``.safetensors`` file,
read in chunks with bounded resident memory, checked for changes and bad values.

The stores behind :class:`~hopfield.models.streaming_memory.StreamingMemory` (Ramsauer
et al. 2020's log-sum-exp memory, ``E(x) = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²``, read
one chunk of ``Ξ`` at a time). Resident memory, change detection and the NaN/inf
check are explained in :mod:`hopfield.io.pattern_store`, which re-exports every name.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

__all__ = [
    "MMAP_BLOCK_BYTES",
    "FilePatternStore",
    "NumpyPatternStore",
    "PatternStore",
    "SafetensorsPatternStore",
    "open_store",
]

PathLike = str | os.PathLike[str]

MMAP_BLOCK_BYTES: int = 8 * 2**20
"""Bytes copied out of the ``.npy`` memory map between two ``madvise`` calls."""

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

    Both check that the file is still the one opened (:meth:`check_unchanged`) and
    that every row read is finite; either failure is a ``ValueError`` naming the file.
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

    def check_unchanged(self) -> None:
        """Raise ``ValueError`` naming the file if it changed since it was opened
        (called before every read)."""

    def _read_checked(self, start: int, stop: int, out: torch.Tensor) -> None:
        self._read_into(start, stop, out)
        # min and max propagate NaN and ±inf: one reduction, no chunk-sized temporary.
        if out.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(out))).all()):
            raise ValueError(
                f"store {str(self.path)!r} contains NaN or inf values in rows "
                f"[{start}, {stop}); patterns must be finite"
            )

    def read(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``[start, stop)`` as a new ``(stop − start, D)`` tensor."""
        start, stop = self._check_range(start, stop)
        out = torch.empty(stop - start, self.dim, dtype=self.dtype)
        self.check_unchanged()
        if stop > start:
            self._read_checked(start, stop, out)
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
        self.check_unchanged()
        for offset in range(start, stop, rows):
            end = min(offset + rows, stop)
            view = buffer[: end - offset]
            self._read_checked(offset, end, view)
            yield offset, view

    def close(self) -> None:
        """Release file handles (a closed store can be reopened by reading again)."""

    def _read_into(self, start: int, stop: int, out: torch.Tensor) -> None:  # pragma: no cover
        raise NotImplementedError


def _identity(status: os.stat_result) -> tuple[int, int, int, int]:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


class FilePatternStore(PatternStore):
    """A C-ordered little-endian ``(K, D)`` block at byte ``offset`` of a file, read
    with positioned reads (``access="read"``) or out of a memory map (``"mmap"``).

    ``access="read"``: ``readinto`` straight into the chunk buffer (no mapping; the
    page cache is outside the process RSS). ``access="mmap"``: a read-only map, each
    block of :data:`MMAP_BLOCK_BYTES` copied out, then ``madvise(MADV_DONTNEED)`` on
    it so mapped file pages do not accumulate in RSS.

    A store changed under a running memory: the file's identity (device, inode, size,
    mtime) is recorded at open; before every pass the path is ``stat``-ed and the
    open descriptor ``fstat``-ed, and in ``"mmap"`` mode the descriptor is
    ``fstat``-ed again before every block is copied, so a file truncated, replaced
    (renamed over), grown or rewritten raises ``ValueError`` naming it instead of
    returning other data or raising ``SIGBUS`` on a page past the new end. (A
    truncation in the microseconds between that ``fstat`` and the copy can still
    fault; ``access="read"`` has no such window: a short read is an error.)
    """

    def __init__(
        self,
        path: Path,
        shape: tuple[int, int],
        dtype: torch.dtype,
        offset: int,
        *,
        access: str = "read",
    ) -> None:
        if access not in ("read", "mmap"):
            raise ValueError(f"access must be 'read' or 'mmap', got {access!r}")
        super().__init__(path, shape[0], shape[1], dtype)
        self.access = access
        self._offset = offset
        self._row_bytes = self.dim * self.dtype.itemsize
        self._handle: Any = None
        self._map: mmap.mmap | None = None
        status = path.stat()
        if status.st_size < offset + self.nbytes:
            raise ValueError(
                f"path {str(path)!r} is truncated: header says {self.shape} "
                f"({offset + self.nbytes} bytes), file has {status.st_size}"
            )
        self._opened = _identity(status)

    def _changed(self, what: str) -> ValueError:
        self.close()
        return ValueError(
            f"store {str(self.path)!r} {what} since it was opened (a store must not change "
            "under a running memory); open it again to read the new contents"
        )

    def check_unchanged(self) -> None:
        try:
            now = _identity(self.path.stat())
        except OSError as error:
            raise self._changed(f"was removed ({error.strerror})") from error
        if now[:2] != self._opened[:2]:
            raise self._changed("was replaced by another file")
        if now != self._opened:
            raise self._changed(f"changed (size {self._opened[2]} → {now[2]} bytes or rewritten)")
        if self._handle is not None:
            self._check_descriptor()

    def _check_descriptor(self) -> None:
        if _identity(os.fstat(self._handle.fileno())) != self._opened:
            raise self._changed("was truncated or rewritten")

    def _file(self) -> Any:
        if self._handle is None:
            self._handle = self.path.open("rb", buffering=0)
            self._check_descriptor()
        return self._handle

    def _read_into(self, start: int, stop: int, out: torch.Tensor) -> None:
        target = out.view(torch.uint8).numpy().reshape(-1)
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
                raise self._changed("ended early (truncated)")
            filled += got

    def _copy_from_map(self, position: int, target: np.ndarray[Any, Any]) -> None:
        if self._map is None:
            self._map = mmap.mmap(self._file().fileno(), 0, access=mmap.ACCESS_READ)
        for done in range(0, target.shape[0], MMAP_BLOCK_BYTES):
            self._check_descriptor()  # a page past a truncated end would be SIGBUS
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


class NumpyPatternStore(FilePatternStore):
    """Patterns in a ``.npy`` file ``(K, D)`` (C order, float16/32/64), read in chunks
    (``access="read"`` or ``"mmap"``, see :class:`FilePatternStore`)."""

    def __init__(self, path: PathLike, *, access: str = "read") -> None:
        path = Path(path)
        shape, dtype, fortran, offset = _npy_header(path)
        if len(shape) != 2 or fortran:
            raise ValueError(
                f"path {str(path)!r} must hold a C-ordered 2-D array (K, D), "
                f"got shape {shape} (fortran_order={fortran})"
            )
        torch_dtype = _torch_dtype_of_numpy(dtype, path)
        super().__init__(path, (int(shape[0]), int(shape[1])), torch_dtype, offset, access=access)


def _torch_dtype_of_numpy(dtype: np.dtype[Any], path: Path) -> torch.dtype:
    for torch_dtype, descr in _NP_DTYPES.items():
        if np.dtype(descr) == dtype:
            return torch_dtype
    raise ValueError(
        f"path {str(path)!r} must hold little-endian float16/32/64 patterns, got dtype {dtype}"
    )


def _safetensors_entry(path: Path, key: str) -> tuple[tuple[int, ...], str, int]:
    """``(shape, dtype name, absolute data offset)`` of tensor ``key`` (validated by
    ``safe_open``, whose header checks cover overlapping or out-of-file offsets)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = sorted(handle.keys())
            if key not in names:
                raise ValueError(f"key {key!r} not found in {str(path)!r}; tensors: {names}")
            piece = handle.get_slice(key)
            shape, dtype_name = tuple(piece.get_shape()), piece.get_dtype()
        with path.open("rb") as raw:
            (length,) = struct.unpack("<Q", raw.read(8))
            begin = json.loads(raw.read(length))[key]["data_offsets"][0]
    except (OSError, SafetensorError, struct.error, json.JSONDecodeError) as error:
        raise ValueError(
            f"path {str(path)!r} is not a readable safetensors file: {error}"
        ) from error
    return shape, dtype_name, 8 + length + int(begin)


class SafetensorsPatternStore(FilePatternStore):
    """Patterns stored as one 2-D tensor ``key`` of a ``.safetensors`` file.

    The header is validated with ``safe_open``; the tensor (C-ordered little-endian
    bytes at a known offset, as the format specifies) is then read like a ``.npy``
    store (:class:`FilePatternStore`, ``access="read"`` or ``"mmap"``), so the same
    change detection holds and file pages never pile up in RSS.
    """

    def __init__(self, path: PathLike, *, key: str = _DEFAULT_KEY, access: str = "read") -> None:
        path = Path(path)
        shape, dtype_name, offset = _safetensors_entry(path, key)
        by_name = {name: dtype for dtype, name in _ST_DTYPES.items()}
        if len(shape) != 2 or dtype_name not in by_name:
            raise ValueError(
                f"tensor {key!r} of {str(path)!r} must be a 2-D float tensor (K, D), "
                f"got shape {shape} and dtype {dtype_name}"
            )
        super().__init__(
            path, (int(shape[0]), int(shape[1])), by_name[dtype_name], offset, access=access
        )
        self.key = key


def open_store(path: PathLike, *, key: str = _DEFAULT_KEY, access: str = "read") -> PatternStore:
    """Open a pattern store by suffix: ``.npy`` → :class:`NumpyPatternStore`,
    ``.safetensors`` → :class:`SafetensorsPatternStore` (``key``); ``access`` is
    ``"read"`` or ``"mmap"`` for both."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    suffix = Path(path).suffix
    if suffix == ".npy":
        return NumpyPatternStore(path, access=access)
    if suffix == ".safetensors":
        return SafetensorsPatternStore(path, key=key, access=access)
    raise ValueError(f"path must end in '.npy' or '.safetensors', got {str(path)!r}")


# --------------------------------------------------------------------------- writer
