"""Random-feature Dense Associative Memory: all memories folded into one vector (DrDAM).

The exact log-sum-exp Dense AM with Euclidean similarity has the energy

    E_exact(x) = −(1/β) · log Σ_μ k(x, ξ_μ),   k(x, ξ) = exp(−(β/2)‖x − ξ‖²),

a kernel sum over the K stored patterns ξ_μ (Ramsauer et al. 2021, "Hopfield Networks
is All You Need"; Krotov & Hopfield 2016). The Gaussian kernel is shift-invariant, so
by Bochner's theorem it is the expectation of a product of random features,
``k(x, ξ) = E_ω[⟨Φ(x), Φ(ξ)⟩]`` (Rahimi & Recht 2007, "Random Features for Large-Scale
Kernel Machines"). Summing the features of all patterns once gives a memory vector

    T = Σ_μ Φ(ξ_μ) ∈ R^Y,     E(x) = −(1/β) · log max(⟨Φ(x), T⟩, floor),

whose size Y (the number of features) does not depend on K: storing, forgetting and
every retrieval step cost O(Y·D) per query whatever the number of memories. This is
the "distributed" Dense AM (DrDAM) of Hoover et al. (2024), "Dense Associative Memory
Through the Lens of Random Features" (NeurIPS 2024), also the "Kernel" chapter of the
tutorial (Hoover et al., "Dense Associative Memories with Analog Circuits").

Three feature maps are provided, all with ``E_ω[⟨Φ(x), Φ(ξ)⟩] = exp(−(β/2)‖x − ξ‖²)``
(Y features, frequencies ω_i ~ N(0, βI) whose density is the kernel's spectral measure):

* ``"trig"`` — the [cos, sin] pair form with F = Y/2 frequencies,
  ``Φ(x) = F^{−1/2} [cos(Wx), sin(Wx)]``; ``⟨Φ(x), Φ(ξ)⟩ = (1/F) Σ_i cos(ω_iᵀ(x − ξ))``.
  Its variance, ``(1/Y)(1 + k(2δ) − 2k(δ)²)`` at ``δ = x − ξ``, is never above the
  random-phase form's at the same Y (Sutherland & Schneider 2015, "On the Error of
  Random Fourier Features"), so it is the default.
* ``"trig_phase"`` — the random-phase form ``Φ(x) = √(2/Y) cos(Wx + b)``,
  b_i ~ U[0, 2π) (Rahimi & Recht 2007).
* ``"positive"`` — positive random features (Choromanski et al. 2021, "Rethinking
  Attention with Performers", FAVOR+) written for the Gaussian kernel: since
  ``k(x, ξ) = e^{−β‖x‖²/2} e^{−β‖ξ‖²/2} e^{β xᵀξ}`` and
  ``e^{β xᵀξ} = E_ω[e^{ωᵀx − β‖x‖²/2} e^{ωᵀξ − β‖ξ‖²/2}]`` for ω ~ N(0, βI),
  ``Φ(x) = Y^{−1/2} exp(Wx − β‖x‖²)``. Every feature is positive, so ⟨Φ(x), T⟩ > 0 and
  the energy never reaches the floor; but the variance grows like ``exp(2β‖x‖²)``, so
  these features are only useful where β‖x‖² is O(1).

The estimate of ``S(x) = Σ_μ k(x, ξ_μ)`` has standard deviation ≈ √(K/Y) for queries far
from all but a few patterns, so the approximation is good where the exact kernel sum
is large compared with √(K/Y): near stored patterns and for moderate β.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal, get_args

import torch
from torch import nn

from hopfield._validation import (
    cast_finite,
    check_floating,
    check_int,
    check_positive,
    check_trailing_shape,
    resolve_dtype,
)
from hopfield.data.generators import make_generator
from hopfield.models.base import MemorySpec, RecallResult
from hopfield.models.gaussian_kernel import (
    exact_energy,
    exact_energy_grad,
    exact_kernel_sum,
    gaussian_kernel,
)

__all__ = [
    "FeatureKind",
    "RandomFeatureMemory",
    "exact_energy",
    "exact_energy_grad",
    "exact_kernel_sum",
    "gaussian_kernel",
]

FeatureKind = Literal["trig", "trig_phase", "positive"]
_KINDS: tuple[str, ...] = get_args(FeatureKind)
_CHUNK_ELEMENTS = 1 << 22  # feature-matrix elements materialised at once in ``store``


# ----------------------------------------------------------------------------------------
# Random-feature memory
# ----------------------------------------------------------------------------------------



class RandomFeatureMemory(nn.Module):
    """Dense AM whose K memories are summed into one feature vector T (DrDAM).

    Energy (one value per query, shape ``(B,)``)::

        E(x) = −(1/β) log max(⟨Φ(x), T⟩, floor),   T = Σ_μ Φ(ξ_μ) ∈ R^Y,

    an unbiased-kernel approximation of ``E_exact(x) = −(1/β) log Σ_μ exp(−(β/2)‖x−ξ_μ‖²)``
    (see the module docstring for Φ). Gradient, in closed form::

        ∇E(x) = −(1/β) · J_Φ(x)ᵀ T / ⟨Φ(x), T⟩    (0 where ⟨Φ(x), T⟩ ≤ floor),

    and the retrieval dynamics is guarded gradient descent ``x ← x − η ∇E(x)``, the step
    halved (per query) until the energy does not rise. Memory (``Y`` numbers) and time per
    step (``O(B·Y·D)``) do not depend on the number K of stored patterns.
    Hoover et al. (2024), "Dense Associative Memory Through the Lens of Random Features";
    Rahimi & Recht (2007); Choromanski et al. (2021) for ``kind="positive"``.

    The floor: an estimate ⟨Φ(x), T⟩ can be ≤ 0 (trigonometric features) or underflow,
    where log is undefined. It is clamped at ``floor`` (default: the smallest normal
    number of ``dtype``, so the energy is capped at ``−log(floor)/β``, ≈ 87/β in float32);
    the energy is flat there and its gradient is 0, so such queries do not move.

    Args:
        dim: pattern dimension D.
        num_features: Y, the length of Φ(x) and of the memory T (even for ``"trig"``).
        beta: inverse temperature β > 0 of the kernel ``exp(−(β/2)‖x − ξ‖²)``.
        kind: ``"trig"`` ([cos, sin] pairs), ``"trig_phase"`` (cos with random phase) or
            ``"positive"`` (positive random features).
        seed: seed of the random frequencies (and phases); the memory is deterministic
            given ``seed``.
        dtype: floating dtype of the features and of T.
        floor: the clamp of ⟨Φ(x), T⟩ inside the log (> 0); ``None`` for the default.
    """


    registry = (
        MemorySpec(
            "random-features",
            "continuous",
            "E = −β⁻¹ log ⟨Φ(x), Σ_μ Φ(ξ_μ)⟩, Φ random Fourier features of exp(−(β/2)‖x − ξ‖²)",
            "Hoover et al. (2024), DrDAM; Rahimi & Recht (2007)",
            {"num_features": 2048},
            size_option="dim",
            default_beta=1.0,
            seeded=True,
        ),
    )


    frequencies: torch.Tensor
    phases: torch.Tensor
    memory: torch.Tensor
    num_stored: torch.Tensor

    def __init__(
        self,
        dim: int,
        num_features: int,
        *,
        beta: float = 1.0,
        kind: FeatureKind = "trig",
        seed: int = 0,
        dtype: torch.dtype | str = torch.float32,
        floor: float | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_int(dim, "dim", 1)
        self.num_features = check_int(num_features, "num_features", 1)
        self.beta = check_positive(beta, "beta")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        if kind == "trig" and num_features % 2:
            raise ValueError(f"num_features must be even for kind='trig', got {num_features}")
        self.kind: FeatureKind = kind
        self.seed = check_int(seed, "seed", 0)
        dtype = resolve_dtype(dtype)
        self.floor = torch.finfo(dtype).tiny if floor is None else check_positive(floor, "floor")
        frequencies, phases = self._sample(dtype)
        self.register_buffer("frequencies", frequencies)
        self.register_buffer("phases", phases)
        self.register_buffer("memory", torch.zeros(self.num_features, dtype=dtype))
        self.register_buffer("num_stored", torch.zeros((), dtype=torch.int64))

    # -- construction -------------------------------------------------------------------

    @property
    def num_frequencies(self) -> int:
        """F: Y/2 for ``"trig"`` (each frequency gives a cos and a sin feature), else Y."""
        return self.num_features // 2 if self.kind == "trig" else self.num_features

    def _sample(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Frequencies ω_i ~ N(0, βI), shape ``(F, D)``; phases ~ U[0, 2π) for trig_phase."""
        generator = make_generator(self.seed)
        omega = torch.randn(
            self.num_frequencies, self.dim, generator=generator, dtype=torch.float64
        )
        omega = omega * math.sqrt(self.beta)
        if self.kind == "trig_phase":
            phases = (
                2
                * math.pi
                * torch.rand(self.num_features, generator=generator, dtype=torch.float64)
            )
        else:
            phases = torch.zeros(0, dtype=torch.float64)
        return omega.to(dtype), phases.to(dtype)

    @property
    def dtype(self) -> torch.dtype:
        return self.memory.dtype

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (``dtype`` as its name)."""
        return {
            "dim": self.dim,
            "num_features": self.num_features,
            "beta": self.beta,
            "kind": self.kind,
            "seed": self.seed,
            "dtype": str(self.dtype).removeprefix("torch."),
            "floor": self.floor,
        }

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_features={self.num_features}, beta={self.beta}, "
            f"kind={self.kind!r}, seed={self.seed}, num_stored={int(self.num_stored)}"
        )

    # -- validation ---------------------------------------------------------------------

    def _check_states(self, states: object, name: str) -> torch.Tensor:
        tensor = check_floating(states, name)
        check_trailing_shape(tensor, name, (self.dim,), f"(B, {self.dim})")
        return cast_finite(tensor, name, self.dtype)

    # -- features -----------------------------------------------------------------------

    def _projections(self, x: torch.Tensor) -> torch.Tensor:
        """``Wx (+ b)``, shape ``(B, F)``."""
        proj = x @ self.frequencies.T
        return proj + self.phases if self.kind == "trig_phase" else proj

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        proj = self._projections(x)
        if self.kind == "trig":
            scale = 1.0 / math.sqrt(self.num_frequencies)
            return torch.cat([torch.cos(proj), torch.sin(proj)], dim=1) * scale
        if self.kind == "trig_phase":
            return torch.cos(proj) * math.sqrt(2.0 / self.num_features)
        sq_norm = (x * x).sum(1, keepdim=True)
        return torch.exp(proj - self.beta * sq_norm - 0.5 * math.log(self.num_features))

    def features(self, states: torch.Tensor) -> torch.Tensor:
        """Φ(x), shape ``(B, Y)``, with ``E[⟨Φ(x), Φ(ξ)⟩] = exp(−(β/2)‖x − ξ‖²)``."""
        return self._features(self._check_states(states, "states"))

    def kernel(self, states: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
        """Random-feature estimate ``Φ(x)Φ(ξ)ᵀ`` of the kernel matrix, shape ``(B, M)``."""
        x = self._check_states(states, "states")
        xi = self._check_states(patterns, "patterns")
        return self._features(x) @ self._features(xi).T

    # -- storage ------------------------------------------------------------------------

    def _feature_sum(self, patterns: torch.Tensor) -> torch.Tensor:
        """``Σ_μ Φ(ξ_μ)`` computed over row chunks so at most ~4M features exist at once."""
        rows = max(1, _CHUNK_ELEMENTS // self.num_features)
        total = torch.zeros_like(self.memory)
        for chunk in patterns.split(rows):
            total += self._features(chunk).sum(0)
        return total

    @torch.no_grad()
    def store(self, patterns: torch.Tensor) -> None:
        """Add patterns ``(K, D)``: ``T ← T + Σ_μ Φ(ξ_μ)``. Incremental."""
        xi = self._check_states(patterns, "patterns")
        self.memory += self._feature_sum(xi)
        self.num_stored += xi.shape[0]

    @torch.no_grad()
    def forget(self, patterns: torch.Tensor) -> RandomFeatureMemory:
        """Remove previously stored patterns ``(K, D)``: ``T ← T − Σ_μ Φ(ξ_μ)``.

        Exact up to round-off when the same patterns were stored before (the features
        are deterministic given the seed). Forgetting a pattern never stored subtracts
        its kernel all the same; only the count is checked.
        """
        xi = self._check_states(patterns, "patterns")
        if xi.shape[0] > int(self.num_stored):
            raise ValueError(
                f"patterns: cannot forget {xi.shape[0]} patterns, only "
                f"{int(self.num_stored)} are stored"
            )
        self.memory -= self._feature_sum(xi)
        self.num_stored -= xi.shape[0]
        return self

    def store_stream(self, chunks: Iterable[torch.Tensor]) -> RandomFeatureMemory:
        """Store a dataset given as an iterable of ``(K_i, D)`` chunks (never all in memory).

        Equal to ``store(torch.cat(chunks))`` up to summation order.
        """
        for index, chunk in enumerate(chunks):
            if not isinstance(chunk, torch.Tensor):
                raise TypeError(
                    f"chunks[{index}] must be a torch.Tensor, got {type(chunk).__name__}"
                )
            self.store(chunk)
        return self

    @torch.no_grad()
    def clear(self) -> RandomFeatureMemory:
        """Forget everything: ``T ← 0``."""
        self.memory.zero_()
        self.num_stored.zero_()
        return self

    # -- energy -------------------------------------------------------------------------

    def _kernel_sum(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind != "trig":
            return self._features(x) @ self.memory
        proj = self._projections(x)
        half = self.num_frequencies
        total = torch.cos(proj) @ self.memory[:half] + torch.sin(proj) @ self.memory[half:]
        return total / math.sqrt(half)

    def kernel_sum(self, states: torch.Tensor) -> torch.Tensor:
        """``⟨Φ(x), T⟩``, shape ``(B,)``: the estimate of ``Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``."""
        return self._kernel_sum(self._check_states(states, "states"))

    def _energy(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.log(self._kernel_sum(x).clamp_min(self.floor)) / self.beta

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x) = −(1/β) log max(⟨Φ(x), T⟩, floor)``, shape ``(B,)``; differentiable."""
        return self._energy(self._check_states(states, "states"))

    def _energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy ``(B,)`` and closed-form ``∇E`` ``(B, D)`` sharing one projection."""
        proj = self._projections(x)
        if self.kind == "trig":
            half = self.num_frequencies
            t_cos, t_sin = self.memory[:half], self.memory[half:]
            cos, sin = torch.cos(proj), torch.sin(proj)
            scale = 1.0 / math.sqrt(half)
            similarity = (cos @ t_cos + sin @ t_sin) * scale
            d_similarity = ((cos * t_sin - sin * t_cos) * scale) @ self.frequencies
        elif self.kind == "trig_phase":
            scale = math.sqrt(2.0 / self.num_features)
            similarity = torch.cos(proj) @ self.memory * scale
            d_similarity = -(torch.sin(proj) * self.memory * scale) @ self.frequencies
        else:
            feats = self._features(x)
            weighted = feats * self.memory
            similarity = weighted.sum(1)
            d_similarity = weighted @ self.frequencies - 2 * self.beta * x * similarity[:, None]
        above = similarity > self.floor
        safe = torch.where(above, similarity, torch.ones_like(similarity))
        grad = torch.where(above[:, None], -d_similarity / (self.beta * safe[:, None]), 0.0)
        energy = -torch.log(similarity.clamp_min(self.floor)) / self.beta
        return energy, grad

    def energy_grad(self, states: torch.Tensor) -> torch.Tensor:
        """Closed-form ``∇E(x) = −(1/β) J_Φ(x)ᵀT / ⟨Φ(x), T⟩``, shape ``(B, D)``.

        For ``"trig"``: ``J_Φᵀ T = F^{−1/2} Wᵀ(cos(Wx) ⊙ T_sin − sin(Wx) ⊙ T_cos)``; for
        ``"trig_phase"``: ``−√(2/Y) Wᵀ(sin(Wx + b) ⊙ T)``; for ``"positive"``:
        ``Wᵀ(Φ(x) ⊙ T) − 2βx⟨Φ(x), T⟩``. Zero where the floor is active.
        """
        return self._energy_and_grad(self._check_states(states, "states"))[1]

    # -- dynamics -----------------------------------------------------------------------

    def _check_mask(self, mask: object, batch: int) -> torch.Tensor | None:
        if mask is None:
            return None
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a bool torch.Tensor, got {type(mask).__name__}")
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor (True = clamped), got {mask.dtype}")
        if tuple(mask.shape) not in ((self.dim,), (batch, self.dim)):
            raise ValueError(
                f"mask must have shape ({self.dim},) or ({batch}, {self.dim}), "
                f"got shape {tuple(mask.shape)}"
            )
        return mask

    def _guarded_step(
        self,
        x: torch.Tensor,
        step_size: float,
        mask: torch.Tensor | None,
        max_backtracks: int,
        min_move: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One descent step with per-query step halving.

        Returns the new states, their energies and the number of rejected trial steps per
        query (``(B,)`` int64). A query stops backtracking (and stays put) once its move
        ``η·max|∇E|`` would be below ``min_move``: it is converged to within that tolerance.
        """
        energy, grad = self._energy_and_grad(x)
        if mask is not None:
            grad = grad.masked_fill(mask, 0.0)
        eta = torch.full_like(energy, step_size)
        largest = grad.abs().amax(dim=1) if grad.numel() else torch.zeros_like(energy)
        new_x, new_energy = x, energy
        pending = torch.ones_like(energy, dtype=torch.bool)
        rejected = torch.zeros_like(energy, dtype=torch.int64)
        for _ in range(max_backtracks + 1):
            pending = pending & (eta * largest >= min_move) & (largest > 0)
            if not bool(pending.any()):
                break
            candidate = x - eta[:, None] * grad
            cand_energy = self._energy(candidate)
            accept = pending & (cand_energy <= energy)
            new_x = torch.where(accept[:, None], candidate, new_x)
            new_energy = torch.where(accept, cand_energy, new_energy)
            pending = pending & ~accept
            rejected += pending.to(torch.int64)
            eta = torch.where(pending, 0.5 * eta, eta)
        return new_x, new_energy, rejected

    @torch.no_grad()
    def step(
        self,
        states: torch.Tensor,
        *,
        step_size: float = 0.1,
        mask: torch.Tensor | None = None,
        max_backtracks: int = 10,
    ) -> torch.Tensor:
        """One guarded gradient step ``x ← x − η ∇E(x)``; never raises the energy.

        ``η`` starts at ``step_size`` and is halved (per query, up to ``max_backtracks``
        times) while the energy would rise; a query that finds no descent stays put.
        ``mask`` (bool, ``(B, D)`` or ``(D,)`` for all queries): True marks clamped
        coordinates (known entries, inpainting), held at their current values; the
        descent runs on the free coordinates only, so the energy still never rises.
        """
        x = self._check_states(states, "states")
        step_size = check_positive(step_size, "step_size")
        max_backtracks = check_int(max_backtracks, "max_backtracks", 0)
        return self._guarded_step(x, step_size, self._check_mask(mask, x.shape[0]), max_backtracks)[
            0
        ]

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`step` with its defaults (one guarded descent step)."""
        return self.step(states)

    @torch.no_grad()
    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 100,
        step_size: float = 0.1,
        tol: float = 1e-5,
        mask: torch.Tensor | None = None,
        max_backtracks: int = 10,
    ) -> RecallResult:
        """Guarded gradient descent on E from ``queries`` ``(B, D)``.

        Runs exactly ``steps`` steps when given, else until every query moved less than
        ``tol`` (max-abs per coordinate) in one step, or ``max_steps``. ``converged`` marks
        the queries whose last step moved less than ``tol`` (a query whose descent step
        would move less than ``tol`` stays put). See :meth:`step` for ``mask``.
        """
        x = self._check_states(queries, "queries")
        if steps is not None:
            steps = check_int(steps, "steps", 0)
        max_steps = check_int(max_steps, "max_steps", 0)
        step_size = check_positive(step_size, "step_size")
        tol = check_positive(tol, "tol", allow_zero=True)
        max_backtracks = check_int(max_backtracks, "max_backtracks", 0)
        checked_mask = self._check_mask(mask, x.shape[0])
        budget = max_steps if steps is None else steps
        energies = [self._energy(x)]
        converged = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        rejections = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
        taken = 0
        for _ in range(budget):
            new_x, energy, rejected = self._guarded_step(
                x, step_size, checked_mask, max_backtracks, tol
            )
            converged = (new_x - x).abs().amax(dim=1) < tol
            x = new_x
            energies.append(energy)
            rejections += rejected
            taken += 1
            if steps is None and bool(converged.all()):
                break
        return RecallResult(
            states=x,
            energies=torch.stack(energies),
            steps=taken,
            converged=converged,
            extras={"rejections": rejections},
        )
