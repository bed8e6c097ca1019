"""Modern (continuous, log-sum-exp) Hopfield network, streamed over memory chunks.

Ramsauer et al. (2020), "Hopfield Networks is All You Need". With stored patterns
``Ξ = (ξ_1, …, ξ_K)ᵀ`` ``(K, D)`` and a state ``x ∈ R^D``:

* ``similarity="dot"``:
  ``E(x) = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²``
  (the paper's constants ``β⁻¹ log K + ½ max_μ‖ξ_μ‖²``, which only make ``E ≥ 0``,
  are omitted);
* ``similarity="euclidean"``:
  ``E(x) = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``
  (equal to the dot energy with per-memory biases ``−½‖ξ_μ‖²``).

Both are "convex ``½‖x‖²`` + concave ``−lse``"; the CCCP step minimises the convex
upper bound and gives the fixed-point update

``x ← Ξᵀ softmax_μ(s_μ(x))`` with ``s_μ = β ξ_μ·x`` or ``−(β/2)‖x − ξ_μ‖²``,

so ``∇E(x) = x − Ξᵀ softmax(s(x))`` and ``E`` never increases. One update retrieves
a stored pattern when patterns are well separated (one-step retrieval).

Clamped coordinates (inpainting): with ``mask`` True on known coordinates, the
update is applied to the free coordinates only and the clamped ones are reset to
the query. This is CCCP restricted to the affine set ``{x : x_c = q_c}`` (the
bound is minimised over the free coordinates), so the energy still never rises.

:class:`DenseMemory` is the shared base (pattern buffer, validation, recall loop,
resizable buffers on ``load_state_dict``) for the streamed continuous memories.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hopfield._validation import (
    check_finite,
    check_floating,
    check_positive,
    check_rank,
    check_tensor,
)
from hopfield.models.base import RecallResult
from hopfield.ops.streaming import DEFAULT_MEMORY_BUDGET_BYTES, lse_partials, lse_retrieve

__all__ = ["DenseMemory", "ModernHopfield"]

_SIMILARITIES = ("dot", "euclidean")


def _check_chunking(chunk_size: int | None, memory_budget_bytes: int) -> None:
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be None or an int ≥ 1, got {chunk_size!r}")
    if (
        isinstance(memory_budget_bytes, bool)
        or not isinstance(memory_budget_bytes, int)
        or memory_budget_bytes < 1
    ):
        raise ValueError(f"memory_budget_bytes must be an int ≥ 1, got {memory_budget_bytes!r}")


class DenseMemory(nn.Module):
    """Base for streamed continuous memories: stores ``Ξ`` and runs the recall loop.

    Buffers: ``patterns`` ``(K, D)`` and ``sq_norms`` ``(K,)`` (``‖ξ_μ‖²``, computed
    once per :meth:`store`). Both are resized to the incoming shapes on
    ``load_state_dict`` (see :meth:`_load_from_state_dict`), so
    ``type(m)(**m.get_config()).load_state_dict(m.state_dict())`` round-trips.

    Subclasses implement :meth:`energy` and :meth:`_update` (one step that also
    returns the energy of its input, which the streamed kernels give for free).
    """

    patterns: torch.Tensor
    sq_norms: torch.Tensor

    def __init__(
        self,
        beta: float = 1.0,
        *,
        chunk_size: int | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        super().__init__()
        self.beta = check_positive(beta, "beta")
        _check_chunking(chunk_size, memory_budget_bytes)
        self.chunk_size = chunk_size
        self.memory_budget_bytes = memory_budget_bytes
        self.register_buffer("patterns", torch.empty(0, 0))
        self.register_buffer("sq_norms", torch.empty(0))

    # ------------------------------------------------------------------ memory
    @property
    def num_patterns(self) -> int:
        """Number of stored patterns ``K``."""
        return int(self.patterns.shape[0])

    @property
    def dim(self) -> int | None:
        """Pattern dimension ``D`` (``None`` before the first :meth:`store`)."""
        return int(self.patterns.shape[1]) if self.num_patterns else None

    def store(self, patterns: torch.Tensor) -> None:
        """Append ``patterns`` ``(K, D)`` to the memory (cast to a float dtype).

        The first call fixes ``D`` and the dtype (float32 for integer input);
        later calls must match ``D``.
        """
        check_tensor(patterns, "patterns")
        check_rank(patterns, "patterns", 2, "(K, D)")
        if patterns.shape[0] == 0 or patterns.shape[1] == 0:
            raise ValueError(
                f"patterns must have shape (K, D) with K, D ≥ 1, got {tuple(patterns.shape)}"
            )
        if self.num_patterns:
            if patterns.shape[1] != self.dim:
                raise ValueError(
                    f"patterns must have shape (K, {self.dim}) to match the stored memory, "
                    f"got shape {tuple(patterns.shape)}"
                )
            new = patterns.to(device=self.patterns.device, dtype=self.patterns.dtype)
        else:
            dtype = patterns.dtype if patterns.is_floating_point() else torch.float32
            new = patterns.to(device=self.patterns.device, dtype=dtype)
        check_finite(new, "patterns")
        new = new.detach().clone()
        if self.num_patterns:
            self.patterns = torch.cat([self.patterns, new])
            self.sq_norms = torch.cat([self.sq_norms, new.square().sum(dim=1)])
        else:
            self.patterns = new.contiguous()
            self.sq_norms = new.square().sum(dim=1)

    def clear(self) -> None:
        """Forget every stored pattern."""
        self.patterns = self.patterns.new_empty(0, 0)
        self.sq_norms = self.sq_norms.new_empty(0)

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor kwargs (``type(m)(**m.get_config())``)."""
        return {
            "beta": self.beta,
            "chunk_size": self.chunk_size,
            "memory_budget_bytes": self.memory_budget_bytes,
        }

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # The memory size is data, not architecture: resize the buffers to the
        # incoming shapes (keeping device, adopting the stored dtype) before copying.
        for name in ("patterns", "sq_norms"):
            incoming = state_dict.get(prefix + name)
            if isinstance(incoming, torch.Tensor):
                current = getattr(self, name)
                setattr(
                    self,
                    name,
                    torch.empty(incoming.shape, dtype=incoming.dtype, device=current.device),
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    # ------------------------------------------------------------------ checks
    def _check_states(self, states: torch.Tensor, name: str) -> torch.Tensor:
        check_floating(states, name)
        if self.num_patterns == 0:
            raise ValueError(f"the memory is empty: call store(patterns) before passing {name}")
        check_rank(states, name, 2, f"(B, {self.dim})")
        if states.shape[1] != self.dim:
            raise ValueError(
                f"{name} must have shape (B, {self.dim}), got shape {tuple(states.shape)}"
            )
        check_finite(states, name)
        return states.to(self.patterns.dtype)

    def _check_mask(self, mask: torch.Tensor | None, queries: torch.Tensor) -> torch.Tensor | None:
        if mask is None:
            return None
        check_tensor(mask, "mask")
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor (True = clamped), got {mask.dtype}")
        if mask.shape != queries.shape:
            raise ValueError(
                f"mask must have shape {tuple(queries.shape)} like queries (B, D), "
                f"got shape {tuple(mask.shape)}"
            )
        return mask.to(queries.device)

    # ------------------------------------------------------------------ dynamics
    def energy(self, states: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Energy of each state, ``(B,)``."""
        raise NotImplementedError

    def _update(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(next_states, energy(states))`` for validated states."""
        raise NotImplementedError  # pragma: no cover - abstract

    def step(self, states: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One update of the dynamics (clamped coordinates of ``mask`` kept)."""
        x = self._check_states(states, "states")
        clamp = self._check_mask(mask, x)
        new, _ = self._update(x)
        return new if clamp is None else torch.where(clamp, x, new)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`step` (one retrieval update)."""
        return self.step(states)

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 100,
        tol: float = 1e-6,
        mask: torch.Tensor | None = None,
    ) -> RecallResult:
        """Iterate :meth:`step` from ``queries`` ``(B, D)``.

        ``steps`` fixes the number of updates; ``steps=None`` runs until
        ``max_b max_i |Δx| < tol`` or ``max_steps``. ``mask`` (bool ``(B, D)``, True
        = clamped) holds those coordinates at the query (inpainting). Returns a
        :class:`RecallResult` whose energy trace row ``t`` is ``E(x_t)``.
        """
        x = self._check_states(queries, "queries")
        clamp = self._check_mask(mask, x)
        limit = _check_steps(steps, max_steps)
        tol = check_positive(tol, "tol", allow_zero=True)
        energies: list[torch.Tensor] = []
        converged = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        taken = 0
        with torch.no_grad():
            for _ in range(limit):
                new, energy = self._update(x)
                if clamp is not None:
                    new = torch.where(clamp, x, new)
                energies.append(energy)
                converged = (new - x).abs().amax(dim=1) < tol
                x = new
                taken += 1
                if steps is None and bool(converged.all()):
                    break
            energies.append(self.energy(x))
        return RecallResult(x, torch.stack(energies), taken, converged)


def _check_steps(steps: int | None, max_steps: int) -> int:
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must be ≥ 0, got {value}")
    return max_steps if steps is None else steps


class ModernHopfield(DenseMemory):
    """Continuous modern Hopfield network (Ramsauer et al. 2020), streamed.

    Energy (per state ``x``, shape ``(B, D)`` → ``(B,)``):

    * ``"dot"``: ``E = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²``;
    * ``"euclidean"``: ``E = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``.

    Update (CCCP, never raises ``E``): ``x ← Ξᵀ softmax(s(x))`` with
    ``s_μ = β ξ_μ·x`` or ``−(β/2)‖x − ξ_μ‖²``; gradient ``∇E = x − Ξᵀ softmax(s(x))``.

    Args:
        beta: inverse temperature ``β > 0``.
        similarity: ``"dot"`` or ``"euclidean"``.
        chunk_size: memories per chunk (overrides the budget).
        memory_budget_bytes: bound on one ``(B, chunk)`` score block.
    """

    def __init__(
        self,
        beta: float = 1.0,
        *,
        similarity: str = "dot",
        chunk_size: int | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        super().__init__(beta, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes)
        if similarity not in _SIMILARITIES:
            raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {similarity!r}")
        self.similarity = similarity

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "similarity": self.similarity}

    def extra_repr(self) -> str:
        return f"beta={self.beta}, similarity={self.similarity!r}, num_patterns={self.num_patterns}"

    def _kwargs(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity,
            "key_sq_norms": self.sq_norms if self.similarity == "euclidean" else None,
            "chunk_size": self.chunk_size,
            "budget_bytes": self.memory_budget_bytes,
        }

    def _energy_from_lse(self, states: torch.Tensor, logsumexp: torch.Tensor) -> torch.Tensor:
        energy = -logsumexp / self.beta
        if self.similarity == "dot":
            energy = energy + 0.5 * states.square().sum(dim=1)
        return energy

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x)`` ``(B,)`` (differentiable w.r.t. ``states``)."""
        x = self._check_states(states, "states")
        parts = lse_partials(x, self.patterns, None, self.beta, **self._kwargs())
        return self._energy_from_lse(x, parts.max + parts.sumexp.log())

    def energy_grad(self, states: torch.Tensor) -> torch.Tensor:
        """Closed-form ``∇E(x) = x − Ξᵀ softmax(s(x))``, ``(B, D)``."""
        x = self._check_states(states, "states")
        retrieved, _ = lse_retrieve(x, self.patterns, None, self.beta, **self._kwargs())
        return x - retrieved

    def attention(self, states: torch.Tensor) -> torch.Tensor:
        """Softmax weights over memories ``(B, K)`` (materialises the full matrix:
        for inspection on small memories only)."""
        x = self._check_states(states, "states")
        if self.similarity == "dot":
            scores = self.beta * x @ self.patterns.T
        else:
            scores = -0.5 * self.beta * torch.cdist(x, self.patterns).square()
        return torch.softmax(scores, dim=1)

    def _update(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        retrieved, logsumexp = lse_retrieve(
            states, self.patterns, None, self.beta, **self._kwargs()
        )
        return retrieved, self._energy_from_lse(states, logsumexp)
