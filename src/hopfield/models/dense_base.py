"""Shared base of the streamed continuous memories: pattern buffer, validation, recall loop.

:class:`DenseMemory` holds stored patterns ``Ξ = (ξ_1, …, ξ_K)ᵀ`` ``(K, D)`` and runs
the recall loop ``x_{t+1} = T(x_t)`` of any energy-descending update ``T`` with
β / noise schedules and a convergence report. Subclasses give the energy and the
update: the log-sum-exp family (Ramsauer et al. 2020, "Hopfield Networks is All You
Need") in :mod:`hopfield.models.lse_memory`, the log-sum-ReLU memory in
:mod:`hopfield.models.epanechnikov`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from hopfield.models.schedules import Schedule, as_schedule
from hopfield.ops.streaming import DEFAULT_MEMORY_BUDGET_BYTES

__all__ = ["DenseMemory"]


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
    _resizable_buffers: tuple[str, ...] = ("patterns", "sq_norms")

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
        if patterns.is_complex():
            raise TypeError(f"patterns must be real, got the complex dtype {patterns.dtype}")
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
            new = patterns.to(device=self.patterns.device, dtype=self._compute_target()[1])
        else:
            dtype = patterns.dtype if patterns.is_floating_point() else torch.float32
            new = patterns.to(device=self.patterns.device, dtype=self._first_store_dtype(dtype))
        check_finite(new, "patterns")
        self._append(new.detach().clone())

    def _first_store_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """Arithmetic dtype fixed by the first :meth:`store` of patterns of ``dtype``."""
        return dtype

    def _append(self, new: torch.Tensor) -> None:
        """Append validated patterns ``new`` (own copy, arithmetic dtype)."""
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
        for name in self._resizable_buffers:
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
    def _compute_target(self) -> tuple[torch.device | None, torch.dtype]:
        """Device (``None``: keep the input's) and dtype that checked states are cast to.

        In-memory patterns: the patterns' dtype, on the caller's device. Subclasses
        that compute elsewhere (a rank's shard, chunks streamed to a device) override it.
        """
        return None, self.patterns.dtype

    def _check_states(self, states: torch.Tensor, name: str) -> torch.Tensor:
        """Validate ``states`` ``(B, D)`` (real floating, memory not empty), cast them to
        :meth:`_compute_target`, then check that they are finite *in that dtype* (a
        float64 1e39 becomes inf in a float32 memory). ``B = 0`` is allowed (empty
        result)."""
        check_floating(states, name)
        if self.num_patterns == 0:
            raise ValueError(f"the memory is empty: call store(patterns) before passing {name}")
        check_rank(states, name, 2, f"(B, {self.dim})")
        if states.shape[1] != self.dim:
            raise ValueError(
                f"{name} must have shape (B, {self.dim}), got shape {tuple(states.shape)}"
            )
        device, dtype = self._compute_target()
        cast = states.to(device=device, dtype=dtype)
        if not bool(torch.isfinite(cast).all()):
            if not bool(torch.isfinite(states).all()):
                raise ValueError(f"{name} contains NaN or inf values")
            raise ValueError(
                f"{name} contains values outside the range of the memory's dtype {dtype} "
                "(NaN or inf once cast)"
            )
        return cast

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
        beta_schedule: Schedule | float | None = None,
        noise_schedule: Schedule | float | None = None,
        generator: torch.Generator | None = None,
    ) -> RecallResult:
        """Iterate :meth:`step` from ``queries`` ``(B, D)``.

        ``steps`` fixes the number of updates; ``steps=None`` runs until
        ``max_b max_i |Δx| < tol`` or ``max_steps``. ``mask`` (bool ``(B, D)``, True
        = clamped) holds those coordinates at the query (inpainting).

        Schedules (:mod:`hopfield.models.schedules`; a number means a constant):
        ``beta_schedule`` — step ``t`` updates with ``β_t`` (annealing);
        ``noise_schedule`` — after step ``t`` add ``σ_t ε``, ``ε ~ N(0, I)`` from
        ``generator`` (free coordinates only). A state counts as converged only once
        every schedule has reached its horizon and ``σ_t = 0``.

        Returns a :class:`RecallResult`: energy trace row ``t`` is ``E_{β_t}(x_t)``
        (computed with that step's β, so it is guaranteed non-increasing only for a
        fixed β and no noise); ``grad_norm`` is ``‖∇E_{β_T}(x_T)‖`` over the free
        coordinates (``None`` for subclasses without ``energy_grad``).
        """
        return self._recall(
            queries,
            steps=steps,
            max_steps=max_steps,
            tol=tol,
            mask=mask,
            plan=_RecallPlan(
                as_schedule(beta_schedule, "beta_schedule", positive=True),
                as_schedule(noise_schedule, "noise_schedule"),
                None,
                _check_generator(generator),
            ),
        )

    def _recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None,
        max_steps: int,
        tol: float,
        mask: torch.Tensor | None,
        plan: _RecallPlan,
    ) -> RecallResult:
        """The recall loop shared by every dense memory (validated ``plan``)."""
        x = self._check_states(queries, "queries")
        clamp = self._check_mask(mask, x)
        limit = _check_steps(steps, max_steps)
        tol = check_positive(tol, "tol", allow_zero=True)
        energies: list[torch.Tensor] = []
        converged = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        taken = 0
        with torch.no_grad():
            for t in range(limit):
                with self._scheduled(plan, t):
                    new, energy = self._update(x)
                new = new + plan.noise(t, new)
                if clamp is not None:
                    new = torch.where(clamp, x, new)
                energies.append(energy)
                converged = ((new - x).abs().amax(dim=1) < tol) & plan.settled(t)
                x = new
                taken += 1
                if steps is None and bool(converged.all()):
                    break
            with self._scheduled(plan, taken):
                final_energy, grad = self._energy_and_grad(x)
            energies.append(final_energy)
        grad_norm = None
        if grad is not None:
            if clamp is not None:
                grad = torch.where(clamp, torch.zeros_like(grad), grad)
            grad_norm = grad.norm(dim=1)
        return RecallResult(x, torch.stack(energies), taken, converged, grad_norm=grad_norm)

    @contextmanager
    def _scheduled(self, plan: _RecallPlan, t: int) -> Iterator[None]:
        """Temporarily set the attributes the schedules drive (``beta``; subclasses
        add more in :meth:`_schedule_overrides`) for step ``t``."""
        overrides = self._schedule_overrides(plan, t)
        saved = {name: getattr(self, name) for name in overrides}
        try:
            for name, value in overrides.items():
                setattr(self, name, value)
            yield
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    def _schedule_overrides(self, plan: _RecallPlan, t: int) -> dict[str, Any]:
        if plan.beta is None:
            return {}
        return {"beta": check_positive(plan.beta(t), "beta_schedule(t)")}

    def _energy_and_grad(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(E(x), ∇E(x))`` for the convergence report; the gradient is ``None`` when
        the subclass has no closed-form ``energy_grad``. Subclasses override this
        with a single streamed pass."""
        energy = self.energy(states)
        energy_grad = getattr(self, "energy_grad", None)
        return energy, None if energy_grad is None else energy_grad(states)


@dataclass(frozen=True)
class _RecallPlan:
    """Validated schedules of one recall (``None`` = not scheduled)."""

    beta: Schedule | None
    noise_std: Schedule | None
    step_size: Schedule | None
    generator: torch.Generator | None

    def settled(self, t: int) -> bool:
        """Every schedule is at its final value at step ``t`` and no noise is added."""
        schedules = (self.beta, self.noise_std, self.step_size)
        if not all(s is None or s.settled(t) for s in schedules):
            return False
        return self.noise_std is None or self.noise_std(t) == 0.0

    def noise(self, t: int, states: torch.Tensor) -> torch.Tensor | float:
        """``σ_t ε`` with ``ε ~ N(0, I)`` drawn from the generator (0 when unscheduled)."""
        if self.noise_std is None:
            return 0.0
        std = self.noise_std(t)
        if std == 0.0:
            return 0.0
        eps = torch.randn(
            states.shape, generator=self.generator, dtype=states.dtype, device=states.device
        )
        return std * eps


def _check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator


def _check_steps(steps: int | None, max_steps: int) -> int:
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must be ≥ 0, got {value}")
    return max_steps if steps is None else steps
