"""Key stores of ``bench_retrieval.py``: fp32, bf16 and int8 keys of the same patterns,
and the accuracy of one retrieval step from each against fp32.

Modern Hopfield retrieval (Ramsauer et al. 2020) ``x ← Ξᵀ softmax(β Ξ x)`` with
``β = 1/√D``; int8 keys live in ``ModernHopfield(storage="int8")`` (one scale per
pattern), whose step reads the codes with the native kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from hopfield.models.modern import ModernHopfield
from hopfield.models.storage import as_storage, dequantize, quantize

__all__ = ["ACCURACY_QUERIES", "DIM", "STORES", "MemoryStep", "make_store", "store_accuracy"]

DIM = 256
STORES: dict[str, str] = {"fp32": "full", "bf16": "bf16", "int8": "int8"}
"""Key stores benchmarked (name -> ``storage=`` option of the memories)."""
ACCURACY_QUERIES = 64
MemoryStep = Callable[[torch.Tensor], torch.Tensor]


def make_store(
    store: str, base: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, MemoryStep | None]:
    """``(keys as stored, dequantised float32 keys, our lse step or None)``: int8 keys
    live in a ``ModernHopfield(storage="int8")`` whose step is ours (``None``: ours is
    :func:`lse_retrieve` on the stored keys)."""
    if store != "int8":
        codes, scales = quantize(base, as_storage(STORES[store]))
        return codes, dequantize(codes, scales, torch.float32), None
    memory = ModernHopfield(1.0 / math.sqrt(DIM), storage="int8")
    memory.store(base)
    codes, scales = memory.patterns, memory.scales
    return codes, dequantize(codes, scales, torch.float32), memory.step


def store_accuracy(base: torch.Tensor, gen: torch.Generator) -> dict[str, dict[str, float]]:
    """Per store: exact-recall fraction, agreement with fp32 and the largest relative
    energy error against fp32 (``ACCURACY_QUERIES`` stored patterns plus noise, one step,
    the patterns at unit-variance components, ``β = 1/√D``)."""
    patterns = base * math.sqrt(DIM)
    count = min(ACCURACY_QUERIES, patterns.shape[0])
    noise = torch.randn(count, DIM, generator=gen)
    queries = patterns[:count] + 0.3 * noise
    own = torch.arange(count)
    picks, energies = {}, {}
    with torch.no_grad():
        for store, storage in STORES.items():
            memory = ModernHopfield(1.0 / math.sqrt(DIM), storage=storage)
            memory.store(patterns)
            picks[store] = torch.cdist(memory.step(queries), patterns).argmin(dim=1)
            energies[store] = memory.energy(queries).double()
    return {
        store: {
            "recall": float((picks[store] == own).double().mean()),
            "same_as_fp32": float((picks[store] == picks["fp32"]).double().mean()),
            "energy_rel_error_vs_fp32": float(
                ((energies[store] - energies["fp32"]).abs() / energies["fp32"].abs()).max()
            ),
        }
        for store in STORES
    }
