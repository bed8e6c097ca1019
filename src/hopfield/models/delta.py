"""Sequence models as associative memories: linear attention, DeltaNet, softmax kernel memory.

Zhong, Xu, Ao & Shi (2025), "Understanding Transformer from the Perspective of
Associative Memory" (arXiv 2505.19488), read token mixers as a memory ``S`` written
with key/value pairs and read with queries:

* **linear attention** (Hebbian write): ``S_t = S_{t−1} + v_t k_tᵀ``, ``o_t = S_t q_t``;
* **DeltaNet** (delta-rule write; Schlag et al. 2021, Yang et al. 2024):
  ``S_t = S_{t−1} − β_t (S_{t−1} k_t − v_t) k_tᵀ``, ``o_t = S_t q_t`` — one SGD step of
  size ``β_t`` on the regression loss ``L_t(S) = ½‖S k_t − v_t‖²``;
* **softmax attention** (non-parametric memory): every pair is appended and read with
  the normalised exponential kernel ``o = Σ_i v_i κ(k_i, q) / Σ_i κ(k_i, q)``,
  ``κ(k, q) = exp(scale · k·q)`` — a linear memory in the infinite-dimensional
  feature space of ``κ``.

Shapes follow the attention convention: ``q, k`` are ``(..., T, d_k)``, ``v`` is
``(..., T, d_v)`` (typically ``(B, H, T, d)``), the memory ``S`` is ``(..., d_v, d_k)``
and ``β`` is a scalar or ``(..., T)``. Row-vector form used in the code:
``S_t`` acts as ``o_tᵀ = q_tᵀ S_tᵀ``.

**Chunked (parallel) delta rule.** Within a chunk of ``C`` tokens starting from the
state ``S_0``, write ``S_t = S_0 P_t + H_t`` with ``P_t = Π_{i≤t}(I − β_i k_i k_iᵀ)``.
Both factors stay low-rank updates of their start (the WY representation):
``P_t = I − Σ_{i≤t} w_i k_iᵀ`` and ``H_t = Σ_{i≤t} u_i k_iᵀ`` with

    w_t = β_t (k_t − Σ_{i<t} w_i (k_iᵀ k_t)),   u_t = β_t (v_t − Σ_{i<t} u_i (k_iᵀ k_t)).

Stacking rows, ``(I + diag(β) L) W = diag(β) K`` and ``(I + diag(β) L) U = diag(β) V``
with ``L = strict_lower(K Kᵀ)``: one unit-lower-triangular solve per chunk (the
"UT transform"). Then ``S_t = S_0 + Σ_{i≤t} ũ_i k_iᵀ`` with ``ũ_i = u_i − S_0 w_i``,
so the chunk outputs are ``O = Q S_0ᵀ + tril(Q Kᵀ) Ũ`` and the carried state is
``S_C = S_0 + Ũᵀ K``. Every chunk's solve runs in parallel; only the ``T/C`` state
hand-offs are sequential. Padding the last chunk with ``k = v = 0, β = 0`` leaves
the state unchanged (``w = u = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from hopfield._validation import cast_finite, check_finite, check_floating, check_positive

__all__ = [
    "SoftmaxKernelMemory",
    "delta_rule",
    "delta_rule_chunked",
    "delta_rule_sgd_step",
    "kernel_attention",
    "linear_attention",
]


# --------------------------------------------------------------------------- checks


def _check_qkv(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    for tensor, name in ((q, "q"), (k, "k"), (v, "v")):
        check_floating(tensor, name)
        if tensor.ndim < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got shape {tuple(tensor.shape)}")
    if q.shape != k.shape:
        raise ValueError(
            f"q and k must share shape (..., T, d_k), got {tuple(q.shape)} and {tuple(k.shape)}"
        )
    if v.shape[:-1] != k.shape[:-1]:
        raise ValueError(
            f"v must have shape {tuple(k.shape[:-1])} + (d_v,) like k, got {tuple(v.shape)}"
        )
    if v.dtype != k.dtype or q.dtype != k.dtype:
        raise TypeError(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    return q, k, v


def _check_beta(beta: torch.Tensor | float, k: torch.Tensor) -> torch.Tensor:
    """``β`` as a tensor of shape ``(..., T)`` (scalar broadcast)."""
    if isinstance(beta, torch.Tensor):
        check_floating(beta, "beta")
        if beta.ndim != 0 and beta.shape != k.shape[:-1]:
            raise ValueError(
                f"beta must be a scalar or have shape {tuple(k.shape[:-1])} (..., T), "
                f"got shape {tuple(beta.shape)}"
            )
        check_finite(beta, "beta")
        return beta.to(dtype=k.dtype, device=k.device).expand(k.shape[:-1])
    value = check_positive(beta, "beta", allow_zero=True)
    return torch.full(k.shape[:-1], value, dtype=k.dtype, device=k.device)


def _initial_state(
    initial_state: torch.Tensor | None, k: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    shape = (*k.shape[:-2], v.shape[-1], k.shape[-1])
    if initial_state is None:
        return k.new_zeros(shape)
    check_floating(initial_state, "initial_state")
    if initial_state.shape != shape:
        raise ValueError(
            f"initial_state must have shape {shape} (..., d_v, d_k), "
            f"got shape {tuple(initial_state.shape)}"
        )
    return initial_state.to(k.dtype)


# --------------------------------------------------------------------------- linear attention


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal linear attention as a Hebbian outer-product memory.

    Write ``S_t = S_{t−1} + v_t k_tᵀ``; read ``o_t = S_t q_t = S_0 q_t + Σ_{i≤t} v_i (k_i·q_t)``
    (Zhong et al. 2025; Katharopoulos et al. 2020 with identity features). Computed in
    parallel as ``Q S_0ᵀ + tril(Q Kᵀ) V``.

    Args:
        q, k: ``(..., T, d_k)``; v: ``(..., T, d_v)``.
        initial_state: ``S_0`` ``(..., d_v, d_k)`` (default zeros).

    Returns:
        ``(o, S_T)``: outputs ``(..., T, d_v)`` and the final memory ``(..., d_v, d_k)``.
    """
    q, k, v = _check_qkv(q, k, v)
    state = _initial_state(initial_state, k, v)
    scores = torch.tril(q @ k.transpose(-2, -1))
    out = q @ state.transpose(-2, -1) + scores @ v
    return out, state + v.transpose(-2, -1) @ k


# --------------------------------------------------------------------------- delta rule


def delta_rule_sgd_step(
    state: torch.Tensor, key: torch.Tensor, value: torch.Tensor, beta: torch.Tensor | float
) -> torch.Tensor:
    """One delta-rule write ``S − β (S k − v) kᵀ`` = one SGD step on ``½‖S k − v‖²``.

    Args:
        state: ``(..., d_v, d_k)``; key: ``(..., d_k)``; value: ``(..., d_v)``;
        beta: scalar or ``(...)`` step size.
    """
    for tensor, name in ((state, "state"), (key, "key"), (value, "value")):
        check_floating(tensor, name)
    if state.ndim < 2 or state.shape[-2:] != (value.shape[-1], key.shape[-1]):
        raise ValueError(
            f"state must have shape (..., d_v, d_k) = (..., {value.shape[-1]}, {key.shape[-1]}) "
            f"for key (..., d_k) and value (..., d_v), got {tuple(state.shape)}"
        )
    beta_t = torch.as_tensor(beta, dtype=state.dtype, device=state.device)
    error = (state @ key.unsqueeze(-1)).squeeze(-1) - value
    return state - beta_t[..., None, None] * error.unsqueeze(-1) * key.unsqueeze(-2)


def delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor | float = 1.0,
    *,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeltaNet, recurrent form (the reference): one token at a time,

    ``S_t = S_{t−1} − β_t (S_{t−1} k_t − v_t) k_tᵀ``, ``o_t = S_t q_t``

    (Schlag et al. 2021; Yang et al. 2024; read as online regression in Zhong et al.
    2025). With ``β = 1`` and orthonormal keys a rewrite of ``k`` replaces its value.

    Args:
        q, k: ``(..., T, d_k)``; v: ``(..., T, d_v)``.
        beta: scalar ``≥ 0`` or ``(..., T)`` per-token step sizes.
        initial_state: ``S_0`` ``(..., d_v, d_k)`` (default zeros).

    Returns:
        ``(o, S_T)``: outputs ``(..., T, d_v)`` and the final memory ``(..., d_v, d_k)``.
    """
    q, k, v = _check_qkv(q, k, v)
    betas = _check_beta(beta, k)
    state = _initial_state(initial_state, k, v)
    outputs = []
    for t in range(k.shape[-2]):
        state = delta_rule_sgd_step(state, k[..., t, :], v[..., t, :], betas[..., t])
        outputs.append((state @ q[..., t, :].unsqueeze(-1)).squeeze(-1))
    out = torch.stack(outputs, dim=-2) if outputs else v.new_zeros(v.shape)
    return out, state


def _chunk(x: torch.Tensor, chunk_size: int, length: int) -> torch.Tensor:
    """``(..., T, d)`` → ``(..., n, C, d)``, zero-padded at the end."""
    pad = (-length) % chunk_size
    if pad:
        x = torch.cat([x, x.new_zeros(*x.shape[:-2], pad, x.shape[-1])], dim=-2)
    return x.reshape(*x.shape[:-2], -1, chunk_size, x.shape[-1])


def _wy_factors(
    k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per chunk, ``W`` and ``U`` from ``(I + diag(β) L) [W U] = diag(β) [K V]``."""
    chunk = k.shape[-2]
    lower = torch.tril(k @ k.transpose(-2, -1), diagonal=-1)
    eye = torch.eye(chunk, dtype=k.dtype, device=k.device)
    system = eye + beta.unsqueeze(-1) * lower
    rhs = beta.unsqueeze(-1) * torch.cat([k, v], dim=-1)
    solved = torch.linalg.solve_triangular(system, rhs, upper=False, unitriangular=True)
    return solved[..., : k.shape[-1]], solved[..., k.shape[-1] :]


def delta_rule_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor | float = 1.0,
    *,
    chunk_size: int = 64,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeltaNet, chunked parallel form (WY / UT transform; derivation in the module
    docstring). Same recurrence and return values as :func:`delta_rule`:
    ``S_t = S_{t−1} − β_t (S_{t−1} k_t − v_t) k_tᵀ``, ``o_t = S_t q_t``.

    Per chunk of ``C`` tokens: ``[W U] = (I + diag(β) strict_lower(K Kᵀ))⁻¹ diag(β) [K V]``,
    ``Ũ = U − W S_0ᵀ``, ``O = Q S_0ᵀ + tril(Q Kᵀ) Ũ``, ``S_C = S_0 + Ũᵀ K``.
    Cost ``O(T C d + T d²)`` with ``T/C`` sequential steps instead of ``T``.

    Args:
        q, k: ``(..., T, d_k)``; v: ``(..., T, d_v)``.
        beta: scalar ``≥ 0`` or ``(..., T)``.
        chunk_size: ``C ≥ 1`` (``T`` need not be a multiple of it).
        initial_state: ``S_0`` ``(..., d_v, d_k)`` (default zeros).
    """
    q, k, v = _check_qkv(q, k, v)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int ≥ 1, got {chunk_size!r}")
    betas = _check_beta(beta, k)
    state = _initial_state(initial_state, k, v)
    length = k.shape[-2]
    qc, kc, vc = (_chunk(x, chunk_size, length) for x in (q, k, v))
    bc = _chunk(betas.unsqueeze(-1), chunk_size, length).squeeze(-1)
    w, u = _wy_factors(kc, vc, bc)
    scores = torch.tril(qc @ kc.transpose(-2, -1))
    outputs = []
    for index in range(kc.shape[-3]):
        start = state.transpose(-2, -1)  # S_0ᵀ, (..., d_k, d_v)
        corrected = u[..., index, :, :] - w[..., index, :, :] @ start
        outputs.append(qc[..., index, :, :] @ start + scores[..., index, :, :] @ corrected)
        state = state + corrected.transpose(-2, -1) @ kc[..., index, :, :]
    out = torch.cat(outputs, dim=-2)[..., :length, :] if outputs else v.new_zeros(v.shape)
    return out, state


# --------------------------------------------------------------------------- softmax kernel memory


def kernel_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    kernel: Callable[[torch.Tensor], torch.Tensor] | None = None,
    scale: float | None = None,
    causal: bool = True,
) -> torch.Tensor:
    """Kernel (non-parametric) memory read ``o_t = Σ_{i≤t} v_i κ(k_i, q_t) / Σ_{i≤t} κ(k_i, q_t)``.

    Every pair is appended to the memory; the read is a Nadaraya–Watson average
    (Zhong et al. 2025). ``kernel=None`` is softmax attention,
    ``κ(k, q) = exp(scale · k·q)`` with ``scale = 1/√d_k`` by default (computed stably
    as a softmax); otherwise ``kernel`` maps the scaled scores ``scale · Q Kᵀ`` to
    non-negative weights.

    Args:
        q, k: ``(..., T, d_k)`` / ``(..., N, d_k)``; v: ``(..., N, d_v)``.
        causal: mask ``i > t`` (needs ``T == N``).
    """
    check_floating(q, "q")
    check_floating(k, "k")
    check_floating(v, "v")
    if q.shape[-1] != k.shape[-1] or k.shape[:-1] != v.shape[:-1] or q.ndim != k.ndim:
        raise ValueError(
            "expected q (..., T, d_k), k (..., N, d_k), v (..., N, d_v), got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"causal attention needs T == N, got {q.shape[-2]} and {k.shape[-2]}")
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else check_positive(scale, "scale")
    scores = factor * (q @ k.transpose(-2, -1))
    if causal:
        future = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(future, -math.inf if kernel is None else 0.0)
    if kernel is None:
        return torch.softmax(scores, dim=-1) @ v
    weights = kernel(scores)
    if causal:
        weights = weights.masked_fill(future, 0.0)
    return (weights @ v) / weights.sum(dim=-1, keepdim=True)


class SoftmaxKernelMemory(nn.Module):
    """Softmax attention as an append-only kernel memory (Zhong et al. 2025).

    Write: append ``(k_i, v_i)``. Read: ``o = Σ_i v_i κ(k_i, q) / Σ_i κ(k_i, q)`` with
    ``κ(k, q) = exp(β k·q)``; equivalently ``o = Vᵀ softmax(β K q)`` — the modern
    Hopfield update (Ramsauer et al. 2020), energy ``E(q) = −β⁻¹ log Σ_i exp(β k_i·q)``
    for the auto-associative case. Has the ``retrieve`` interface of
    :func:`hopfield.metrics.snr.inverse_retrieval_snr`.

    Args:
        key_dim: ``d_k``; value_dim: ``d_v``; beta: inverse temperature ``β > 0``.
    """

    keys: torch.Tensor
    values: torch.Tensor

    def __init__(self, key_dim: int, value_dim: int, *, beta: float = 1.0) -> None:
        super().__init__()
        for value, name in ((key_dim, "key_dim"), (value_dim, "value_dim")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
        self.key_dim, self.value_dim = key_dim, value_dim
        self.beta = check_positive(beta, "beta")
        self.register_buffer("keys", torch.zeros(0, key_dim))
        self.register_buffer("values", torch.zeros(0, value_dim))

    def extra_repr(self) -> str:
        return f"key_dim={self.key_dim}, value_dim={self.value_dim}, beta={self.beta}"

    def _check(self, tensor: torch.Tensor, name: str, width: int) -> torch.Tensor:
        check_floating(tensor, name)
        if tensor.ndim != 2 or tensor.shape[1] != width:
            raise ValueError(f"{name} must have shape (N, {width}), got {tuple(tensor.shape)}")
        return cast_finite(tensor, name, self.keys.dtype)

    def store(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Append ``keys`` ``(N, d_k)`` and ``values`` ``(N, d_v)`` to the memory."""
        k = self._check(keys, "keys", self.key_dim)
        v = self._check(values, "values", self.value_dim)
        if k.shape[0] != v.shape[0]:
            raise ValueError(f"keys and values must share N, got {k.shape[0]} and {v.shape[0]}")
        self.keys = torch.cat([self.keys, k])
        self.values = torch.cat([self.values, v])

    def retrieve(self, queries: torch.Tensor) -> torch.Tensor:
        """``o = Vᵀ softmax(β K q)`` for each query ``(B, d_k)`` → ``(B, d_v)``."""
        q = self._check(queries, "queries", self.key_dim)
        if self.keys.shape[0] == 0:
            raise ValueError("the memory is empty: call store(keys, values) first")
        return torch.softmax(self.beta * (q @ self.keys.T), dim=-1) @ self.values

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`retrieve`."""
        return self.retrieve(queries)
