"""Re:Frame-style associative memory buffer (AMB) and a buffer-augmented policy.

Zelezetsky, Cherepanov, Kovalev & Panov (2025), "Re:Frame: Retrieving Experience From
Associative Memory", arXiv 2508.19344. A small, frozen buffer of expert experience is
queried by content while a sequence policy is trained by behaviour cloning on
low-quality data, and queried again at evaluation.

Buffer. Expert steps are stored as (return-to-go, observation, action) triplets
``(R_i, o_i, a_i)``. Each is encoded as a key ``k_i = φ(o_i) ∈ ℝ^{d_k}`` (content to be
matched) and a value ``v_i = [onehot(a_i), R_i/H] ∈ ℝ^{d_v}`` (experience to be
retrieved). The read is one step of a modern Hopfield network (Ramsauer et al. 2020)
with the buffer as stored patterns:

    E(q) = −β⁻¹ log Σ_i exp(β qᵀk_i) + ½‖q‖²,    p = softmax(β K q),    read(q) = Vᵀ p.

The buffer takes any keys: the paper's set-up in small — keys from a learned
autoencoder, read by a Decision Transformer — is
:mod:`hopfield.tasks.decision_transformer`; :func:`rbf_features` gives fixed
radial-basis keys of positions (the ablation). With a large ``β`` an exact match
``q = k_i`` returns ``v_i``. The buffer is frozen (buffers, not parameters): behaviour
cloning never changes it.

Policy. :class:`BufferedPolicy` is a context-length-one Decision-Transformer proxy:
an MLP over ``[R_t/H, o_t]`` → action logits. With a buffer, the read ``read(φ(o_t))``
and its confidence ``max_i qᵀk_i`` are projected and added to the first hidden layer,
so the policy can learn when to copy retrieved expert actions (fusion by addition into
the hidden state; the paper's fusion point is not specified).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hopfield._validation import (
    cast_finite,
    check_finite,
    check_floating,
    check_indices,
    check_int,
    check_positive,
    check_rank,
    check_tensor,
    check_trailing_shape,
    floating_in_dtype,
)
from hopfield.nn.inputs import module_dtype

__all__ = ["AssociativeMemoryBuffer", "BufferedPolicy", "rbf_features"]


def rbf_features(points: torch.Tensor, centres: torch.Tensor, width: float) -> torch.Tensor:
    """Unit-norm radial-basis encoding ``φ(x)_c ∝ exp(−‖x − c‖²/(2 w²))``.

    Args:
        points: ``(B, D)``; centres: ``(C, D)``; width: ``w > 0``.

    Returns ``(B, C)`` with rows of unit norm, so ``φ(x)ᵀφ(y) ≤ 1`` with equality
    iff the encodings coincide.
    """
    check_tensor(points, "points")
    check_rank(points, "points", 2, "(B, D)")
    check_tensor(centres, "centres")
    check_rank(centres, "centres", 2, f"(C, {points.shape[1]})")
    if centres.shape[1] != points.shape[1]:
        raise ValueError(
            f"centres must have shape (C, {points.shape[1]}), got {tuple(centres.shape)}"
        )
    width = check_positive(width, "width")
    squared = torch.cdist(points.to(centres.dtype), centres).square()
    features = torch.exp(-squared / (2 * width**2))
    return features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)


class AssociativeMemoryBuffer(nn.Module):
    """Frozen key–value buffer read by one modern-Hopfield (softmax attention) step.

    Energy ``E(q) = −β⁻¹ log Σ_i exp(β qᵀk_i) + ½‖q‖²``; read
    ``Vᵀ softmax(β K q)`` (the value mix of one CCCP update). See the module docstring.

    Args:
        keys: ``(M, d_k)`` stored keys ``k_i`` (encoded expert observations).
        values: ``(M, d_v)`` stored values ``v_i`` (encoded expert triplets).
        beta: inverse temperature ``β > 0``.
    """

    keys: torch.Tensor
    values: torch.Tensor

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, beta: float = 50.0) -> None:
        super().__init__()
        check_tensor(keys, "keys")
        check_rank(keys, "keys", 2, "(M, d_k)")
        check_tensor(values, "values")
        check_rank(values, "values", 2, "(M, d_v)")
        if values.shape[0] != keys.shape[0] or keys.shape[0] == 0:
            raise ValueError(
                f"values must have shape ({keys.shape[0]}, d_v) with M ≥ 1 like keys, "
                f"got {tuple(values.shape)}"
            )
        keys = cast_finite(keys, "keys", torch.float32)
        values = cast_finite(values, "values", torch.float32)
        self.beta = check_positive(beta, "beta")
        self.register_buffer("keys", keys.detach().clone())
        self.register_buffer("values", values.detach().clone())

    @property
    def size(self) -> int:
        """Number ``M`` of stored triplets."""
        return int(self.keys.shape[0])

    def _check_query(self, query: torch.Tensor) -> torch.Tensor:
        check_tensor(query, "query")
        check_rank(query, "query", 2, f"(B, {self.keys.shape[1]})")
        if query.shape[1] != self.keys.shape[1]:
            raise ValueError(
                f"query must have shape (B, {self.keys.shape[1]}), got {tuple(query.shape)}"
            )
        return cast_finite(query, "query", self.keys.dtype, self.keys.device)

    def similarities(self, query: torch.Tensor) -> torch.Tensor:
        """``qᵀk_i`` ``(B, M)``."""
        return self._check_query(query) @ self.keys.T

    def attention(self, query: torch.Tensor) -> torch.Tensor:
        """``softmax(β K q)`` ``(B, M)``."""
        return torch.softmax(self.beta * self.similarities(query), dim=1)

    def read(self, query: torch.Tensor) -> torch.Tensor:
        """``Vᵀ softmax(β K q)`` ``(B, d_v)``."""
        return self.attention(query) @ self.values

    def energy(self, query: torch.Tensor) -> torch.Tensor:
        """``E(q) = −β⁻¹ logsumexp(β K q) + ½‖q‖²`` ``(B,)``."""
        q = self._check_query(query)
        lse = torch.logsumexp(self.beta * (q @ self.keys.T), dim=1) / self.beta
        return -lse + 0.5 * q.square().sum(dim=1)

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`read`."""
        return self.read(query)


class BufferedPolicy(nn.Module):
    """Return-conditioned MLP policy ``π(a | R_t, o_t)``, optionally reading an AMB.

    ``h = GELU(W₁[R_t/H, o_t] + W_b[read(φ(o_t)), max_i φ(o_t)ᵀk_i] + b₁)`` (the second
    term only with a buffer), ``logits = W₃ GELU(W₂ h + b₂) + b₃``.

    Args:
        input_dim: width of ``[R_t/H, o_t]``.
        num_actions: number of discrete actions.
        hidden: hidden width.
        buffer: an :class:`AssociativeMemoryBuffer` (``None``: plain BC policy).
        encoder: ``φ``, mapping observations ``(B, D_o)`` to buffer queries ``(B, d_k)``
            (required with a buffer).
    """

    def __init__(
        self,
        input_dim: int,
        num_actions: int,
        hidden: int = 64,
        buffer: AssociativeMemoryBuffer | None = None,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_dim", input_dim),
            ("num_actions", num_actions),
            ("hidden", hidden),
        ):
            check_int(value, name)
        if buffer is not None and encoder is None:
            raise ValueError("encoder must be given with a buffer")
        self.input_dim = input_dim
        self.num_actions = num_actions
        self.buffer = buffer
        self.encoder = encoder
        self.input_layer = nn.Linear(input_dim, hidden)
        self.buffer_layer = (
            nn.Linear(buffer.values.shape[1] + 1, hidden, bias=False)
            if buffer is not None
            else None
        )
        self.head = nn.Sequential(
            nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, num_actions)
        )

    def forward(self, inputs: torch.Tensor, observations: torch.Tensor) -> torch.Tensor:
        """Action logits ``(B, num_actions)`` from ``inputs = [R_t/H, o_t]`` ``(B, input_dim)``
        and raw observations ``(B, …)`` (used only to query the buffer, through ``encoder``).

        Both are real floating tensors, cast to the dtype of the layer (``inputs``) or
        of the encoder (``observations``); complex, integer or bool raise ``TypeError``,
        a wrong shape or batch size and NaN/±inf (after the cast) ``ValueError``, each
        naming the argument. An empty batch gives an empty result."""
        weight = self.input_layer.weight
        values = floating_in_dtype(inputs, "inputs", weight.dtype)
        check_trailing_shape(values, "inputs", (self.input_dim,), f"(B, {self.input_dim})")
        hidden = self.input_layer(check_finite(values, "inputs"))
        if self.buffer is not None and self.encoder is not None and self.buffer_layer is not None:
            query = self.encoder(self._observations(observations, values.shape[0]))
            similarity = self.buffer.similarities(query)
            retrieved = torch.softmax(self.buffer.beta * similarity, dim=1) @ self.buffer.values
            confidence = similarity.max(dim=1, keepdim=True).values
            hidden = hidden + self.buffer_layer(torch.cat([retrieved, confidence], dim=1))
        return self.head(hidden)

    def _observations(self, observations: object, batch: int) -> torch.Tensor:
        tensor = check_floating(observations, "observations")
        if tensor.ndim < 2 or tensor.shape[0] != batch:
            raise ValueError(
                f"observations must have shape ({batch}, D_o) like inputs, "
                f"got {tuple(tensor.shape)}"
            )
        dtype = None if self.encoder is None else module_dtype(self.encoder)
        return check_finite(floating_in_dtype(tensor, "observations", dtype), "observations")

    def loss(
        self, inputs: torch.Tensor, observations: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """Behaviour-cloning cross-entropy ``−mean log π(a_t | R_t, o_t)``; ``actions``
        ``(B,)`` int64/int32 ids in ``[0, num_actions)``."""
        logits = self(inputs, observations)
        if logits.shape[0] == 0:
            raise ValueError("inputs must hold at least one row for a loss")
        check_indices(actions, "actions", self.num_actions, "action ids")
        if tuple(actions.shape) != (logits.shape[0],):
            raise ValueError(
                f"actions must have shape ({logits.shape[0]},), got {tuple(actions.shape)}"
            )
        return F.cross_entropy(logits, actions)
