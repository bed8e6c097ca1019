"""CAMformer-style binary attention: sign-binarised queries and keys, Hamming similarity,
hierarchical two-stage top-k, softmax over the survivors and a full-precision value mix.

Molom-Ochir et al. (2025), "CAMformer: Associative Memory is All You Need"
(arXiv 2511.19740) compute attention as a content-addressable-memory search:

1. **association**: ``q_b = sign(q)``, ``k_b = sign(k)`` (ties → +1); a binary CAM returns
   the Hamming similarity ``s(q, k) = 1 − Ham(q_b, k_b)/d = (q_b·k_b + d)/(2d)``;
2. **selection**: per tile of ``T`` keys keep the top ``k₁``, then keep the global top
   ``k₂`` of the survivors (:func:`hierarchical_topk`);
3. **contextualisation**: ``softmax`` over the selected scores (``−∞`` elsewhere) and a
   full-precision mix of the values.

Net effect ``A = softmax(TopK(scale · q_b·k_bᵀ)) V``. Because ``q_b·k_b = 2d·s − d``, a
softmax of ``scale·q_b·k_b`` equals a softmax of ``2d·scale·s``: the Hamming similarity
and the binary dot product select and weight identically. Training uses the clipped
straight-through estimator (Hubara et al. 2016): forward ``sign(x)``, backward
``∂/∂x = 1_{|x| ≤ 1}``.

The hierarchical selection misses an exact top-``k₂`` key only when more than ``k₁`` of
them share a tile; for ``n`` uniformly placed scores this is a hypergeometric count
(``n = 1024, T = 16, k₁ = 2, k₂ = 32``: 97.4 % expected recall).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hopfield._validation import check_bool, check_floating, check_int, check_positive
from hopfield.nn.association import nan_witness
from hopfield.nn.inputs import layer_input, module_dtype

__all__ = [
    "BinaryCAMAssociation",
    "BinaryCAMAttention",
    "binarize",
    "binary_cam_attention",
    "hamming_similarity",
    "hierarchical_topk",
    "topk_recall",
]


def binarize(x: torch.Tensor, *, ste: bool = True) -> torch.Tensor:
    """``sign(x)`` with ties → +1, entries in ``{−1, +1}``.

    With ``ste`` the backward pass is the clipped straight-through estimator
    ``∂sign(x)/∂x := 1_{|x| ≤ 1}``; without it the result carries no gradient.
    """
    check_floating(x, "x")
    hard = torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    if not ste:
        return hard.detach()
    soft = x.clamp(-1.0, 1.0)
    return soft + (hard - soft).detach()


def hamming_similarity(query_bits: torch.Tensor, key_bits: torch.Tensor) -> torch.Tensor:
    """``s = 1 − Ham(q_b, k_b)/d = (q_b·k_b + d)/(2d)`` for ``±1`` codes.

    Args:
        query_bits: ``(..., Lq, d)``; key_bits: ``(..., Lk, d)``.

    Returns:
        ``(..., Lq, Lk)`` in ``[0, 1]``.
    """
    check_floating(query_bits, "query_bits")
    check_floating(key_bits, "key_bits")
    if query_bits.shape[-1] != key_bits.shape[-1]:
        raise ValueError(
            f"query_bits (..., Lq, d) and key_bits (..., Lk, d) must share d, got "
            f"{tuple(query_bits.shape)} and {tuple(key_bits.shape)}"
        )
    dim = query_bits.shape[-1]
    return (query_bits @ key_bits.transpose(-2, -1) + dim) / (2 * dim)


def hierarchical_topk(
    scores: torch.Tensor, tile: int, k1: int, k2: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-stage top-k over the last dim: top ``k₁`` per tile of ``tile`` entries, then the
    global top ``k₂`` among the ``⌈n/tile⌉·k₁`` survivors (CAMformer selection).

    ``n`` need not be a multiple of ``tile`` (the last tile is padded with ``−∞``).
    Equals the exact top-``k₂`` whenever ``k₁ ≥ min(tile, k₂)``.

    Args:
        scores: ``(..., n)``.
        tile, k1, k2: tile size ``T``, per-tile ``k₁`` and global ``k₂`` (clipped to the
            available counts).

    Returns:
        ``(values, indices)`` each ``(..., min(k₂, survivors))``, sorted by decreasing
        score; ``indices`` index the last dim of ``scores``.
    """
    check_floating(scores, "scores")
    tile, k1, k2 = (check_int(x, n) for x, n in ((tile, "tile"), (k1, "k1"), (k2, "k2")))
    if scores.ndim < 1 or scores.shape[-1] == 0:
        raise ValueError(f"scores must have shape (..., n) with n ≥ 1, got {tuple(scores.shape)}")
    count = scores.shape[-1]
    pad = (-count) % tile
    if pad:
        scores = F.pad(scores, (0, pad), value=-math.inf)
    tiled = scores.reshape(*scores.shape[:-1], -1, tile)
    local_values, local_index = tiled.topk(min(k1, tile), dim=-1)
    offsets = torch.arange(tiled.shape[-2], device=scores.device).unsqueeze(-1) * tile
    candidates = local_values.flatten(-2)
    candidate_index = (local_index + offsets).flatten(-2)
    keep = min(k2, candidates.shape[-1], count)
    values, chosen = candidates.topk(keep, dim=-1)
    return values, candidate_index.gather(-1, chosen)


def topk_recall(scores: torch.Tensor, tile: int, k1: int, k2: int) -> torch.Tensor:
    """Fraction of the exact top-``k₂`` indices that :func:`hierarchical_topk` returns,
    per row ``(...)``. Meaningful for distinct scores (ties make "exact" ambiguous)."""
    _, found = hierarchical_topk(scores, tile, k1, k2)
    _, exact = scores.topk(min(k2, scores.shape[-1]), dim=-1)
    hits = (found.unsqueeze(-1) == exact.unsqueeze(-2)).any(dim=-2)
    return hits.to(scores.dtype).mean(dim=-1)


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, -math.inf)
    return mask.to(dtype)


def binary_cam_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    tile: int = 16,
    k1: int = 2,
    k2: int = 32,
    binary: bool = True,
    scale: float | torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``softmax(TopK_{T,k₁,k₂}(scale · q_b·k_bᵀ + M)) V`` (CAMformer attention core).

    Scores are ``scale · sign(q)·sign(k)`` (``binary=True``, straight-through gradient)
    or ``scale · q·k`` (``binary=False``; with ``k₂ ≥ n`` this is dense softmax
    attention). :func:`hierarchical_topk` keeps ``k₂`` keys per query; the rest get
    ``−∞`` before the softmax. Each query needs at least one unmasked key.

    Args:
        q: ``(..., Lq, d)``; k: ``(..., Lk, d)``; v: ``(..., Lk, d_v)``.
        scale: logit scale (default ``1/√d``).
        mask: additive float mask or bool (True = ignore), broadcastable to
            ``(..., Lq, Lk)``.
        need_weights: also return the sparse attention weights ``(..., Lq, Lk)``.
    """
    for tensor, name in ((q, "q"), (k, "k"), (v, "v")):
        check_floating(tensor, name)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] or q.ndim < 2:
        raise ValueError(
            "expected q (..., Lq, d), k (..., Lk, d), v (..., Lk, d_v), got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if q.shape[:-1].numel() == 0:  # no queries (or an empty batch): empty result
        weights = q.new_zeros(*q.shape[:-1], k.shape[-2])
        return weights @ v, (weights if need_weights else None)
    if k.shape[-2] == 0:
        raise ValueError(f"k must hold at least one key per query, got shape {tuple(k.shape)}")
    witness = nan_witness(q, k, v)  # sign() would map NaN to −1: keep NaN visible
    if binary:
        q, k = binarize(q), binarize(k)
    logits = factor * (q @ k.transpose(-2, -1))
    if mask is not None:
        logits = logits + _additive(mask, logits.dtype)
    values, index = hierarchical_topk(logits, tile, k1, k2)
    sparse = torch.full_like(logits, -math.inf).scatter(-1, index, values)
    weights = torch.softmax(sparse, dim=-1) + witness
    return weights @ v, (weights if need_weights else None)


class BinaryCAMAssociation:
    """Drop-in attention core with the signature of the association step of
    :class:`hopfield.nn.Hopfield` (``(state, stored, values, mask, beta, dropout,
    need_weights) -> (out, weights)``), computing :func:`binary_cam_attention` with
    ``scale = β``. Dropout is applied to the sparse weights."""

    def __init__(self, *, tile: int = 16, k1: int = 2, k2: int = 32, binary: bool = True) -> None:
        self.tile = check_int(tile, "tile")
        self.k1 = check_int(k1, "k1")
        self.k2 = check_int(k2, "k2")
        self.binary = bool(binary)

    def __repr__(self) -> str:
        return (
            f"BinaryCAMAssociation(tile={self.tile}, k1={self.k1}, k2={self.k2}, "
            f"binary={self.binary})"
        )

    def __call__(
        self,
        state: torch.Tensor,
        stored: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None,
        beta: float | torch.Tensor,
        dropout: float,
        need_weights: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if dropout > 0:
            _, weights = binary_cam_attention(
                state, stored, values, tile=self.tile, k1=self.k1, k2=self.k2,
                binary=self.binary, scale=beta, mask=mask, need_weights=True,
            )  # fmt: skip
            assert weights is not None
            dropped = F.dropout(weights, dropout)
            return dropped @ values, (weights if need_weights else None)
        return binary_cam_attention(
            state, stored, values, tile=self.tile, k1=self.k1, k2=self.k2,
            binary=self.binary, scale=beta, mask=mask, need_weights=need_weights,
        )  # fmt: skip


class BinaryCAMAttention(nn.Module):
    """Multi-head CAMformer attention layer (Molom-Ochir et al. 2025).

    Per head ``h``: ``q = x W_q^h``, ``k = y W_k^h``, ``v = y W_v^h``, then
    ``softmax(TopK_{T,k₁,k₂}(scale · sign(q)·sign(k)ᵀ)) v`` (straight-through gradient
    for the signs), heads concatenated and projected by ``W_o``.

    Args:
        embed_dim: ``E`` (divisible by ``num_heads``).
        num_heads: ``H``.
        tile, k1, k2: hierarchical top-k (CAMformer: 16, 2, 32).
        binary: binarise queries and keys (``False``: full-precision scores, same top-k).
        scale: logit scale (default ``1/√(E/H)``).
        bias: biases in the projections.
        batch_first: inputs and output ``(B, L, E)`` if True, else ``(L, B, E)``.

    Shapes (batch-first): ``query (B, Lq, E)``, ``key``/``value`` ``(B, Lk, E)``
    (default: ``query``); output ``(B, Lq, E)``, weights ``(B, H, Lq, Lk)``. Inputs
    follow the layer's dtype, empty batches or query sequences give empty results and
    NaN/inf inputs give NaN outputs (:mod:`hopfield.nn.inputs`).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        tile: int = 16,
        k1: int = 2,
        k2: int = 32,
        binary: bool = True,
        scale: float | None = None,
        bias: bool = True,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        self.batch_first = check_bool(batch_first, "batch_first")
        self.embed_dim = check_int(embed_dim, "embed_dim")
        self.num_heads = check_int(num_heads, "num_heads")
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.head_dim = embed_dim // num_heads
        self.scale = (
            1.0 / math.sqrt(self.head_dim) if scale is None else check_positive(scale, "scale")
        )
        self.association = BinaryCAMAssociation(tile=tile, k1=k1, k2=k2, binary=binary)
        self._scale_argument = scale
        self.query_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.key_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.value_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def extra_repr(self) -> str:
        a = self.association
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, tile={a.tile}, "
            f"k1={a.k1}, k2={a.k2}, binary={a.binary}, scale={self.scale:.4g}"
        )

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def _check(self, x: object, name: str) -> torch.Tensor:
        """Batch-first ``(B, L, E)`` in the layer's dtype."""
        tensor = layer_input(x, name, module_dtype(self))
        if tensor.ndim != 3 or tensor.shape[-1] != self.embed_dim:
            layout = "(B, L, {})" if self.batch_first else "(L, B, {})"
            raise ValueError(
                f"{name} must have shape {layout.format(self.embed_dim)}, got {tuple(tensor.shape)}"
            )
        return tensor if self.batch_first else tensor.transpose(0, 1)

    def get_config(self) -> dict[str, object]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        association = self.association
        return {
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "tile": association.tile,
            "k1": association.k1,
            "k2": association.k2,
            "binary": association.binary,
            "scale": self._scale_argument,
            "bias": self.query_proj.bias is not None,
            "batch_first": self.batch_first,
        }

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; ``key_padding_mask`` ``(B, Lk)`` bool
        (True = ignore). Returns ``(output, weights or None)``."""
        query = self._check(query, "query")
        key = query if key is None else self._check(key, "key")
        value = key if value is None else self._check(value, "value")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(
                "query (B, Lq, E), key and value (B, Lk, E) must share B (and Lk), got "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)} (batch-first)"
            )
        if key.shape[1] == 0 and query.shape[1] > 0 and query.shape[0] > 0:
            raise ValueError(f"key must hold at least one pattern, got shape {tuple(key.shape)}")
        mask = None
        if key_padding_mask is not None:
            if key_padding_mask.dtype != torch.bool or key_padding_mask.shape != key.shape[:2]:
                raise ValueError(
                    f"key_padding_mask must be bool of shape {tuple(key.shape[:2])}, got "
                    f"{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}"
                )
            mask = key_padding_mask[:, None, None, :]
        q = self._split(self.query_proj(query))
        k = self._split(self.key_proj(key))
        v = self._split(self.value_proj(value))
        out, weights = self.association(q, k, v, mask, self.scale, 0.0, need_weights)
        output = self.out_proj(out.transpose(1, 2).flatten(-2))
        return (output if self.batch_first else output.transpose(0, 1)), weights
