"""Retrieval signal-to-noise ratio of a key→value memory.

Zhong, Xu, Ao & Shi (2025), "Understanding Transformer from the Perspective of
Associative Memory": reading a stored key ``k_i`` from a linear memory
``W = Σ_j v_j φ(k_j)ᵀ`` gives ``o_i = c_i v_i + r_i`` with signal scale
``c_i = φ(k_i)·φ(k_i)`` and cross-talk ``r_i = Σ_{j≠i} v_j (φ(k_j)·φ(k_i))``.

``SNR⁻¹ = E‖r‖² / E[c² ‖v‖²]`` (expectations estimated by the mean over the given
items; ratio of means). For i.i.d. Gaussian keys and values with unit-norm keys,
``E‖r_i‖² = (N−1) d_v / d_k`` and ``c = 1``, so ``SNR⁻¹ = (N−1)/d_k ≈ N/d_k``; with
unnormalised Gaussian keys ``E[c²] = d_k² + 2 d_k`` and ``SNR⁻¹ = (N−1)/(d_k + 2)``.
"""

from __future__ import annotations

from typing import Protocol

import torch

from hopfield._validation import check_finite, check_rank, check_tensor

__all__ = ["inverse_retrieval_snr", "retrieval_snr"]


class _KeyValueMemory(Protocol):
    def retrieve(self, queries: torch.Tensor) -> torch.Tensor: ...


def _signal_scale(
    memory: _KeyValueMemory, keys: torch.Tensor, outputs: torch.Tensor, values: torch.Tensor
) -> torch.Tensor:
    scale = getattr(memory, "signal_scale", None)
    if callable(scale):
        result = scale(keys)
        assert isinstance(result, torch.Tensor)
        return result.to(outputs.dtype)
    # Generic memory: least-squares coefficient of v_i in o_i.
    return (outputs * values).sum(dim=1) / values.square().sum(dim=1)


def inverse_retrieval_snr(
    memory: _KeyValueMemory,
    keys: torch.Tensor,
    values: torch.Tensor,
    *,
    signal_scale: torch.Tensor | float | None = None,
) -> float:
    """``SNR⁻¹ = Σ_i ‖o_i − c_i v_i‖² / Σ_i c_i² ‖v_i‖²`` over the stored items.

    Args:
        memory: anything with ``retrieve(queries (N, d_k)) -> (N, d_v)``; if it has
            ``signal_scale(keys) -> (N,)`` (as
            :class:`hopfield.models.linear.LinearAssociativeMemory`) that gives
            ``c_i``, otherwise ``c_i = ⟨o_i, v_i⟩/‖v_i‖²``.
        keys: stored keys ``(N, d_k)``.
        values: their values ``(N, d_v)``.
        signal_scale: overrides ``c`` (scalar or ``(N,)``).
    """
    check_tensor(keys, "keys")
    check_tensor(values, "values")
    check_rank(keys, "keys", 2, "(N, d_k)")
    check_rank(values, "values", 2, "(N, d_v)")
    if keys.shape[0] != values.shape[0] or keys.shape[0] == 0:
        raise ValueError(
            f"keys (N, d_k) and values (N, d_v) must share N ≥ 1, got shapes "
            f"{tuple(keys.shape)} and {tuple(values.shape)}"
        )
    check_finite(keys, "keys")
    check_finite(values, "values")
    outputs = memory.retrieve(keys)
    values = values.to(device=outputs.device, dtype=outputs.dtype)
    if outputs.shape != values.shape:
        raise ValueError(
            f"memory.retrieve(keys) must return shape {tuple(values.shape)} like values, "
            f"got {tuple(outputs.shape)}"
        )
    if signal_scale is None:
        scale = _signal_scale(memory, keys, outputs, values)
    else:
        scale = torch.as_tensor(signal_scale, dtype=outputs.dtype, device=outputs.device)
        scale = scale.expand(keys.shape[0])
    crosstalk = outputs - scale[:, None] * values
    signal = scale.square() * values.square().sum(dim=1)
    return float(crosstalk.square().sum() / signal.sum())


def retrieval_snr(
    memory: _KeyValueMemory,
    keys: torch.Tensor,
    values: torch.Tensor,
    *,
    signal_scale: torch.Tensor | float | None = None,
) -> float:
    """``SNR = E[c²‖v‖²] / E‖r‖²`` (``1 / inverse_retrieval_snr``; ``inf`` without
    cross-talk). Same arguments as :func:`inverse_retrieval_snr`."""
    inverse = inverse_retrieval_snr(memory, keys, values, signal_scale=signal_scale)
    return float("inf") if inverse == 0.0 else 1.0 / inverse
