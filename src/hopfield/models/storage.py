"""How a dense memory keeps its patterns: full precision, bf16 / fp16, or int8 + scale.

A log-sum-exp memory (Ramsauer et al. 2020: ``E(x) = −β⁻¹ log Σ_μ exp(β ξ_μ·x) +
½‖x‖²``, update ``x ← Ξᵀ softmax(β Ξ x)``) reads every pattern once per step, so at
few queries its speed is the speed of reading ``Ξ``. Storing ``Ξ`` in fewer bytes
reads it faster; the arithmetic stays in float32: each cache-sized block of stored
rows is widened (``ξ̂_μ = float32(stored_μ)``, times ``scale_μ`` for int8) and goes
through the float32 kernel, so the only error is the storage rounding
``ξ_μ → ξ̂_μ`` itself. The memory computes the exact energy and update of the
patterns ``ξ̂_μ``.

Options (``storage=`` of :class:`~hopfield.models.modern.ModernHopfield` and
:class:`~hopfield.distributed.sharded.ShardedMemory`; strings are shorthands):

* ``StorageDType.full`` (``"full"``, default): the patterns' own float dtype;
* ``StorageDType.bf16`` (``"bf16"``) / ``StorageDType.fp16`` (``"fp16"``): 2 bytes
  per entry; relative rounding ``≤ 2⁻⁹`` (bf16) / ``2⁻¹¹`` (fp16, range ±65504);
* :class:`Int8Storage` (``"int8"``): ``ξ̂_μ = scale_μ · q_μ`` with
  ``q_μ ∈ {−127, …, 127}^D`` and ``scale_μ = max_i |ξ_μi| / 127`` (symmetric,
  per pattern), so ``|ξ_μi − ξ̂_μi| ≤ scale_μ / 2``.

Error bound (what the tests check): with ``Δ_μ = ξ_μ − ξ̂_μ``, every score moves by
at most ``β max_μ |x·Δ_μ|`` (dot), so ``|E(x) − Ê(x)| ≤ max_μ |x·Δ_μ| ≤ ‖x‖
max_μ ‖Δ_μ‖`` (for ``"euclidean"``: ``≤ ½ max_μ |Δ_μ·(2x − ξ_μ − ξ̂_μ)|``), plus
float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

__all__ = ["Int8Storage", "Storage", "StorageDType", "as_storage", "dequantize", "quantize"]


class StorageDType(Enum):
    """Floating-point storage of the patterns (arithmetic in float32 when 2 bytes)."""

    full = "full"
    bf16 = "bf16"
    fp16 = "fp16"

    @property
    def name_in_config(self) -> str:
        """The shorthand written to ``get_config()``."""
        return self.value


@dataclass(frozen=True)
class Int8Storage:
    """int8 codes with one float32 scale per pattern (``ξ̂_μ = scale_μ q_μ``)."""

    @property
    def name_in_config(self) -> str:
        """The shorthand written to ``get_config()``."""
        return "int8"


Storage = StorageDType | Int8Storage

_ALIASES: dict[str, Storage] = {
    "full": StorageDType.full,
    "bf16": StorageDType.bf16,
    "bfloat16": StorageDType.bf16,
    "fp16": StorageDType.fp16,
    "float16": StorageDType.fp16,
    "int8": Int8Storage(),
}

_FLOAT_DTYPES = {StorageDType.bf16: torch.bfloat16, StorageDType.fp16: torch.float16}


def as_storage(value: object) -> Storage:
    """A storage option from itself or its shorthand (``"full"``, ``"bf16"``,
    ``"fp16"``, ``"int8"``; ``None`` means ``"full"``)."""
    if value is None:
        return StorageDType.full
    if isinstance(value, StorageDType | Int8Storage):
        return value
    if isinstance(value, str) and value in _ALIASES:
        return _ALIASES[value]
    raise ValueError(
        f"storage must be a StorageDType, Int8Storage() or one of {sorted(_ALIASES)}, got {value!r}"
    )


def stored_dtype(storage: Storage, compute_dtype: torch.dtype) -> torch.dtype:
    """dtype of the stored codes."""
    if isinstance(storage, Int8Storage):
        return torch.int8
    return _FLOAT_DTYPES.get(storage, compute_dtype)


def compute_dtype_of(storage: Storage, stored: torch.dtype) -> torch.dtype:
    """dtype the arithmetic runs in for codes of dtype ``stored``."""
    if isinstance(storage, Int8Storage) or stored in (torch.bfloat16, torch.float16):
        return torch.float32
    return stored


def quantize(patterns: torch.Tensor, storage: Storage) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes, scales)`` of finite float ``patterns`` ``(K, D)``; ``scales`` is empty
    unless ``storage`` is :class:`Int8Storage`. Raises ``ValueError`` (naming
    ``patterns``) for values a 2-byte dtype cannot hold."""
    empty = torch.empty(0, dtype=torch.float32, device=patterns.device)
    if isinstance(storage, Int8Storage):
        wide = patterns.to(torch.float32)
        scales = wide.abs().amax(dim=1) / 127.0
        safe = torch.where(scales > 0, scales, torch.ones_like(scales))
        codes = torch.round(wide / safe[:, None]).clamp_(-127, 127).to(torch.int8)
        return codes, scales
    if storage is StorageDType.full:
        return patterns, empty
    codes = patterns.to(_FLOAT_DTYPES[storage])
    if not bool(torch.isfinite(codes).all()):
        raise ValueError(
            f"patterns contains values outside the range of {codes.dtype} "
            f"(storage={storage.value!r}); use storage='bf16' or 'full'"
        )
    return codes, empty


def dequantize(codes: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``ξ̂ = codes`` widened to ``dtype`` (times ``scales[:, None]`` for int8 codes)."""
    wide = codes.to(dtype)
    if codes.dtype == torch.int8:
        wide = wide.mul_(scales.to(dtype)[:, None])
    return wide
