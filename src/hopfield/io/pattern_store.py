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
``np.load(path, mmap_mode="r")`` over a 1 GB file ends with ~1 GB resident. Both
formats are read by :class:`FilePatternStore` (the tensor is a C-ordered block at a
known byte offset in each), which copies a chunk into one reusable buffer and
releases the file pages it touched:

* ``access="read"`` (default): positioned ``readinto`` on a plain file object
  straight into the chunk buffer; the file data go through the kernel page cache,
  which is not part of the process RSS;
* ``access="mmap"``: a read-only ``mmap`` of the file; after a block is copied,
  ``madvise(MADV_DONTNEED)`` drops the touched pages (every
  :data:`MMAP_BLOCK_BYTES`), so at most one block of file pages is resident.

Peak extra RSS of a pass is thus one chunk buffer (``C·D·itemsize``) plus at most
one block of file pages.

Stores that change, and bad values
----------------------------------
A store is read-only for the memories that use it. If another process truncates,
replaces, grows or rewrites the file while a memory holds it, the next read (the
identity check runs before every pass, and before every mapped block) raises
``ValueError`` naming the file: never ``SIGBUS``, never rows of another file. Open
the store again to use the new contents. Every chunk is checked for NaN/inf as it
is read (``ValueError`` naming the file and the rows): a check at open would cost a
full extra pass and would not cover a file changed later, while the per-chunk check
is one pass over data just copied and is always correct.

Writing without holding the patterns in RAM: :class:`PatternWriter` (or
:func:`write_patterns`) appends chunks to a temporary file, then patches the header
with the final ``K`` and renames it over the destination (atomic: a crash leaves no
half-written store under the final name).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from hopfield._deprecated import moved_attribute
from hopfield._validation import check_finite, check_rank, check_tensor
from hopfield.io.atomic import create_temporary
from hopfield.io.pattern_readers import (
    _DEFAULT_KEY,
    _NP_DTYPES,
    _NPY_HEADER_BYTES,
    _ST_DTYPES,
    _ST_HEADER_BYTES,
    MMAP_BLOCK_BYTES,
    FilePatternStore,
    NumpyPatternStore,
    PathLike,
    PatternStore,
    SafetensorsPatternStore,
    open_store,
)

__all__ = [
    "MMAP_BLOCK_BYTES",
    "FilePatternStore",
    "NumpyPatternStore",
    "PatternStore",
    "PatternWriter",
    "SafetensorsPatternStore",
    "open_store",
    "write_patterns",
]


def __getattr__(name: str) -> Any:
    """``shard_range`` moved to :mod:`hopfield.distributed.partition`."""
    return moved_attribute(__name__, name)


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
