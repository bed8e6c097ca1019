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

Sparse retrieval (:class:`ModernHopfield` ``normalizer=`` / ``top_k=``): replacing
the log-sum-exp by another regularised max ``Ω*(s) = max_{p∈Δ} ⟨p, s⟩ + H(p)``
(Tsallis α = 2: sparsemax, α = 1.5: 1.5-entmax; Hu et al. 2023, "On Sparse Modern
Hopfield Model"; Martins & Astudillo 2016; Peters et al. 2019) or restricting it to
the ``k`` best scores keeps the "convex − convex" structure, so the same CCCP
argument gives ``x ← Ξᵀ p(x)`` with ``p = ∇Ω*`` and a monotone energy.

:class:`DenseMemory` is the shared base (pattern buffer, validation, recall loop
with β / noise schedules and the convergence report, resizable buffers on
``load_state_dict``) for the streamed continuous memories.
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
from hopfield.models.base import MemorySpec, RecallResult
from hopfield.models.schedules import Schedule, as_schedule
from hopfield.ops.ann import AnnIndex, ApproximateTopK, approximate_topk_retrieve
from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    NORMALIZERS,
    SparseRetrieval,
    lse_partials,
    lse_retrieve,
    support_retrieve,
    topk_retrieve,
)

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
    def _compute_target(self) -> tuple[torch.device | None, torch.dtype]:
        """Device (``None``: keep the input's) and dtype that checked states are cast to.

        In-memory patterns: the patterns' dtype, on the caller's device. Subclasses
        that compute elsewhere (a rank's shard, chunks streamed to a device) override it.
        """
        return None, self.patterns.dtype

    def _check_states(self, states: torch.Tensor, name: str) -> torch.Tensor:
        """Validate ``states`` ``(B, D)`` (floating, finite, memory not empty) and cast
        them to :meth:`_compute_target`."""
        check_floating(states, name)
        if self.num_patterns == 0:
            raise ValueError(f"the memory is empty: call store(patterns) before passing {name}")
        check_rank(states, name, 2, f"(B, {self.dim})")
        if states.shape[1] != self.dim:
            raise ValueError(
                f"{name} must have shape (B, {self.dim}), got shape {tuple(states.shape)}"
            )
        check_finite(states, name)
        device, dtype = self._compute_target()
        return states.to(device=device, dtype=dtype)

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


class ModernHopfield(DenseMemory):
    """Continuous modern Hopfield network (Ramsauer et al. 2020), streamed, with
    softmax, sparse (sparsemax / 1.5-entmax) and exact top-k retrieval.

    Scores ``s_μ(x) = β ξ_μ·x`` (``"dot"``) or ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``).
    Every variant has the form "convex ``½‖x‖²`` − β⁻¹ × a regularised max":

    ``E(x) = ½‖x‖²·[dot] − β⁻¹ Ω*(s(x))``, ``Ω*(s) = max_{p∈Δ} ⟨p, s⟩ + H(p)``,

    (for ``"euclidean"`` the ``½‖x‖²`` is inside ``s``; ``Ω*(s + c) = Ω*(s) + c``), and
    the CCCP update ``x ← Ξᵀ p(x)``, ``p = ∇Ω*(s(x))``, never raises ``E``
    (``∇E = x − Ξᵀ p(x)``):

    * ``normalizer="softmax"``: Shannon ``H``, ``Ω* = logsumexp``, ``p = softmax`` —
      the LSE energy ``E = −β⁻¹ log Σ_μ exp(s_μ) (+ ½‖x‖²)`` (Ramsauer et al. 2020);
    * ``"sparsemax"``: Tsallis α = 2 entropy ``H = ½(1 − ‖p‖²)``, so
      ``E = ½‖x‖² − β⁻¹ max_{p∈Δ}[⟨p, βΞx⟩ − ½‖p‖²] + const``, ``p = sparsemax(s)``
      (Hu et al. 2023, "On Sparse Modern Hopfield Model"; Martins & Astudillo 2016);
    * ``"entmax15"``: Tsallis α = 1.5, ``p = 1.5-entmax(s)`` (Peters et al. 2019;
      the generalized sparse model of Hu et al. 2023).

    Both sparse variants give exact zeros (retrieval from few memories). They are
    computed exactly over all ``K`` memories with a streamed candidate set that is
    doubled until the support lies strictly inside it
    (:func:`~hopfield.ops.streaming.support_retrieve`).

    ``top_k=k``: exact top-k retrieval, ``−∞`` on every score outside the ``k``
    largest ``T_k(x)``: ``E = ½‖x‖²·[dot] − β⁻¹ Ω*(s_{T_k(x)})`` — for softmax the
    LSE restricted to the ``k`` nearest memories. ``Ω*`` over the best ``k``-subset is
    a max of convex functions of ``x``, hence convex, so the CCCP update
    ``x ← Σ_{μ∈T_k} p_μ ξ_μ`` still never raises ``E``. ``top_k ≥ K`` equals the full
    model (computed with the top-k kernel, ``k = K``).

    Args:
        beta: inverse temperature ``β > 0``.
        similarity: ``"dot"`` or ``"euclidean"``.
        normalizer: ``"softmax"``, ``"sparsemax"`` or ``"entmax15"``.
        top_k: ``None`` (all memories), an int ``k ≥ 1``, or
            :class:`~hopfield.ops.ann.ApproximateTopK` (top-k on the candidates of a
            faiss index, an approximation: see :mod:`hopfield.ops.ann`).
        chunk_size: memories per chunk (overrides the budget).
        memory_budget_bytes: bound on one ``(B, chunk)`` score block.
    """


    registry = (
        MemorySpec(
            "modern-dot",
            "continuous",
            "E = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²",
            "Ramsauer et al. (2021)",
            {"similarity": "dot"},
            default_beta=1.0,
        ),
        MemorySpec(
            "modern-euclidean",
            "continuous",
            "E = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)",
            "Ramsauer et al. (2021)",
            {"similarity": "euclidean"},
            default_beta=1.0,
        ),
    )


    def __init__(
        self,
        beta: float = 1.0,
        *,
        similarity: str = "dot",
        normalizer: str = "softmax",
        top_k: int | ApproximateTopK | dict[str, Any] | None = None,
        chunk_size: int | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        super().__init__(beta, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes)
        if similarity not in _SIMILARITIES:
            raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {similarity!r}")
        if normalizer not in NORMALIZERS:
            raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
        if isinstance(top_k, dict):
            top_k = ApproximateTopK.from_config(top_k)
        if (
            top_k is not None
            and not isinstance(top_k, ApproximateTopK)
            and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1)
        ):
            raise ValueError(f"top_k must be None or an int ≥ 1, got {top_k!r}")
        self.similarity = similarity
        self.normalizer = normalizer
        self.top_k = top_k
        self._ann: tuple[tuple[Any, ...], AnnIndex] | None = None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "similarity": self.similarity,
            "normalizer": self.normalizer,
            "top_k": (
                self.top_k.get_config() if isinstance(self.top_k, ApproximateTopK) else self.top_k
            ),
        }

    def extra_repr(self) -> str:
        extra = ""
        if self.normalizer != "softmax":
            extra += f", normalizer={self.normalizer!r}"
        if self.top_k is not None:
            extra += f", top_k={self.top_k}"
        return (
            f"beta={self.beta}, similarity={self.similarity!r}{extra}, "
            f"num_patterns={self.num_patterns}"
        )

    @property
    def is_dense(self) -> bool:
        """Plain softmax over all memories (the streamed log-sum-exp kernels)."""
        return self.normalizer == "softmax" and self.top_k is None

    def _kwargs(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity,
            "key_sq_norms": self.sq_norms if self.similarity == "euclidean" else None,
            "chunk_size": self.chunk_size,
            "budget_bytes": self.memory_budget_bytes,
        }

    def _sparse(self, states: torch.Tensor) -> SparseRetrieval:
        """Top-k or exact sparse retrieval (non-dense normalisers / ``top_k``)."""
        if isinstance(self.top_k, ApproximateTopK):
            kwargs = self._kwargs()
            return approximate_topk_retrieve(
                states,
                self.patterns,
                None,
                self.beta,
                self.top_k,
                index=self._ann_index(),
                normalizer=self.normalizer,
                similarity=self.similarity,
                key_sq_norms=kwargs["key_sq_norms"],
            )
        if self.top_k is not None:
            k = min(self.top_k, self.num_patterns)
            return topk_retrieve(
                states,
                self.patterns,
                None,
                self.beta,
                k,
                normalizer=self.normalizer,
                **self._kwargs(),
            )
        return support_retrieve(
            states, self.patterns, None, self.beta, normalizer=self.normalizer, **self._kwargs()
        )

    def _ann_index(self) -> AnnIndex:
        """The faiss index over the stored patterns (rebuilt when they change)."""
        assert isinstance(self.top_k, ApproximateTopK)
        patterns = self.patterns
        key = (patterns.data_ptr(), tuple(patterns.shape), patterns._version, self.top_k)
        if self._ann is None or self._ann[0] != key:
            self._ann = (key, AnnIndex.build(patterns, self.top_k.index, self.similarity))
        return self._ann[1]

    def _energy_from_lse(self, states: torch.Tensor, logsumexp: torch.Tensor) -> torch.Tensor:
        """``E = −Ω*/β (+ ½‖x‖² for dot)`` from the regularised max ``Ω*``."""
        energy = -logsumexp / self.beta
        if self.similarity == "dot":
            energy = energy + 0.5 * states.square().sum(dim=1)
        return energy

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x)`` ``(B,)`` (differentiable w.r.t. ``states``)."""
        x = self._check_states(states, "states")
        if not self.is_dense:
            return self._energy_from_lse(x, self._sparse(x).max_value)
        parts = lse_partials(x, self.patterns, None, self.beta, **self._kwargs())
        return self._energy_from_lse(x, parts.max + parts.sumexp.log())

    def energy_grad(self, states: torch.Tensor) -> torch.Tensor:
        """Closed-form ``∇E(x) = x − Ξᵀ p(x)`` (``p`` the normaliser's weights), ``(B, D)``."""
        x = self._check_states(states, "states")
        retrieved, _ = self._update(x)
        return x - retrieved

    def attention(self, states: torch.Tensor) -> torch.Tensor:
        """Retrieval weights over memories ``(B, K)`` under the normaliser and ``top_k``
        (exact zeros where unselected; materialises the full matrix: for inspection
        on small memories only)."""
        x = self._check_states(states, "states")
        weights = x.new_zeros(x.shape[0], self.num_patterns)
        if not self.is_dense:
            result = self._sparse(x)
            return weights.scatter(1, result.indices, result.weights)
        if self.similarity == "dot":
            scores = self.beta * x @ self.patterns.T
        else:
            scores = -0.5 * self.beta * torch.cdist(x, self.patterns).square()
        return torch.softmax(scores, dim=1)

    def _update(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_dense:
            result = self._sparse(states)
            return result.output, self._energy_from_lse(states, result.max_value)
        retrieved, logsumexp = lse_retrieve(
            states, self.patterns, None, self.beta, **self._kwargs()
        )
        return retrieved, self._energy_from_lse(states, logsumexp)

    def _energy_and_grad(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        retrieved, energy = self._update(states)
        return energy, states - retrieved
