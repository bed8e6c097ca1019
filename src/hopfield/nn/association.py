"""The association step shared by the Hopfield layers: heads, masks, one retrieval.

One step of the modern Hopfield update (Ramsauer et al. 2020) in each head is
``normalize(β ξ Kᵀ + M) V``: softmax (the LSE energy's CCCP update, run by the fused
:func:`torch.nn.functional.scaled_dot_product_attention`), or sparsemax / 1.5-entmax
with optional exact top-k (the Tsallis energies of Hu et al. 2023). ``M`` is the
additive mask (``0`` allowed, ``−∞`` ignored).

NaN policy (every layer of :mod:`hopfield.nn`): like PyTorch, non-finite inputs are not
rejected, they propagate, and they never turn into a finite wrong value. A NaN or ±inf
in a state pattern makes its output row NaN; a NaN or ±inf in any stored pattern or
pattern projection of a batch element makes every output row of that element NaN
(padding positions too, so padded entries must be finite). The fused attention kernel
maps NaN scores to zero weight, so :func:`associate` adds a NaN "witness" (``0·x``
summed: 0 for finite ``x``, NaN otherwise; no overflow, no host sync) to its output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from hopfield.nn.energies import normalize_scores, topk_mask_scores

__all__ = [
    "Association",
    "as_additive",
    "associate",
    "build_mask",
    "merge_heads",
    "nan_witness",
    "sparse_associate",
    "split_heads",
]

Association = Callable[
    [
        torch.Tensor,
        torch.Tensor,
        torch.Tensor,
        "torch.Tensor | None",
        "float | torch.Tensor",
        float,
        bool,
    ],
    "tuple[torch.Tensor, torch.Tensor | None]",
]
"""``(state, stored, values, mask, beta, dropout, need_weights) -> (output, weights)``."""


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(B, L, H·d)`` → ``(B, H, L, d)``."""
    batch, length, width = x.shape
    return x.reshape(batch, length, num_heads, width // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, L, d)`` → ``(B, L, H·d)``."""
    batch, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dim)


def as_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool mask (True = ignore) → ``0 / −∞``; float masks are already additive."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf")
        )
    return mask.to(dtype)


def check_mask_tensor(mask: object, name: str) -> torch.Tensor:
    """A bool (True = ignore) or floating (additive) mask tensor."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype == torch.uint8:  # torch's legacy byte masks: non-zero = ignore
        return mask.bool()
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"{name} must be bool (True = ignore) or floating, got {mask.dtype}")
    return mask


def build_mask(
    key_padding_mask: torch.Tensor | None,
    attn_mask: torch.Tensor | None,
    shape: tuple[int, int, int, int],
    dtype: torch.dtype,
    *,
    names: tuple[str, str] = ("key_padding_mask", "attn_mask"),
) -> torch.Tensor | None:
    """Additive mask broadcastable to ``shape = (B, H, Lq, Lk)``.

    ``key_padding_mask`` ``(B, Lk)``; ``attn_mask`` ``(Lq, Lk)`` or ``(B·H, Lq, Lk)``;
    each bool (True = ignore) or float (added to the scores), as in
    ``nn.MultiheadAttention``. ``names`` are the argument names used in errors.
    """
    batch, heads, len_q, len_k = shape
    mask: torch.Tensor | None = None
    if key_padding_mask is not None:
        padding = check_mask_tensor(key_padding_mask, names[0])
        if padding.shape != (batch, len_k):
            raise ValueError(
                f"{names[0]} must have shape (B, Lk) = {(batch, len_k)}, "
                f"got shape {tuple(padding.shape)}"
            )
        mask = as_additive(padding, dtype).view(batch, 1, 1, len_k)
    if attn_mask is not None:
        pairs = check_mask_tensor(attn_mask, names[1])
        if pairs.shape == (len_q, len_k):
            extra = as_additive(pairs, dtype)
        elif pairs.shape == (batch * heads, len_q, len_k):
            extra = as_additive(pairs, dtype).view(batch, heads, len_q, len_k)
        else:
            raise ValueError(
                f"{names[1]} must have shape (Lq, Lk) = {(len_q, len_k)} or "
                f"(B·H, Lq, Lk) = {(batch * heads, len_q, len_k)}, "
                f"got shape {tuple(pairs.shape)}"
            )
        mask = extra if mask is None else mask + extra
    return mask


def nan_witness(state: torch.Tensor, *memories: torch.Tensor) -> torch.Tensor:
    """``(..., Lq, 1)``: 0 where the inputs of an output row are finite, NaN otherwise.

    ``0·x`` is 0 for finite ``x`` and NaN for NaN/±inf; summing zeros cannot overflow.
    A state row poisons its own output row; any memory entry poisons the whole
    ``(..., Lq)`` block it belongs to.
    """
    witness = (state * 0).sum(-1, keepdim=True)
    for memory in memories:
        witness = witness + (memory * 0).sum((-2, -1), keepdim=True)
    return witness


def associate(
    state: torch.Tensor,
    stored: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None,
    beta: float | torch.Tensor,
    dropout: float,
    need_weights: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``softmax(β ξ Kᵀ + M) V`` per head: fused SDPA, or explicit when weights are needed.

    ``beta`` is a float, a 0-d tensor or one value per head ``(H, 1, 1)``.
    """
    if need_weights:
        logits = beta * (state @ stored.transpose(-2, -1))
        if mask is not None:
            logits = logits + mask
        weights = torch.softmax(logits, dim=-1)
        dropped = F.dropout(weights, dropout) if dropout > 0 else weights
        return dropped @ values, weights
    if isinstance(beta, torch.Tensor):  # SDPA takes a Python float scale
        scaled, scale = state * beta, 1.0
    else:
        scaled, scale = state, beta
    out = F.scaled_dot_product_attention(
        scaled, stored, values, attn_mask=mask, dropout_p=dropout, scale=scale
    )
    return out + nan_witness(state, stored, values), None


def sparse_associate(
    state: torch.Tensor,
    stored: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None,
    beta: float | torch.Tensor,
    dropout: float,
    need_weights: bool,
    *,
    normalizer: str,
    top_k: int | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``normalize(TopK(β ξ Kᵀ + M)) V`` with ``−∞`` outside the top ``k`` (explicit path)."""
    scores = beta * (state @ stored.transpose(-2, -1))
    if mask is not None:
        scores = scores + mask
    if top_k is not None:
        scores = topk_mask_scores(scores, top_k)
    weights = normalize_scores(scores, normalizer)
    dropped = F.dropout(weights, dropout) if dropout > 0 else weights
    return dropped @ values, (weights if need_weights else None)
