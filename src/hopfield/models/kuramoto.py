"""Higher-order Kuramoto oscillator network as a Dense Associative Memory.

Nägerl & Berloff (2025), "Higher-Order Kuramoto Oscillator Network for Dense
Associative Memory" (arXiv 2507.21984): phase oscillators θ ∈ [0, 2π)^N with a pairwise
(second-harmonic) and a four-body (quartic) Hebbian coupling, a gradient flow on an
energy, whose phase-locked states are the stored binary patterns.

Formulation implemented (the paper's exact equations were not available to us; the
reference notes, papers.md §7, mark the following as *inferred* and ask to keep the
harmonic and the encoding as parameters). With harmonic h (default 2) and the complex
pattern overlaps

    m_μ(θ) = (1/N) Σ_j ξ^μ_j e^{i h θ_j},                     μ = 1..K,

the energy is

    E(θ) = −N Σ_μ [ (K₂/2) |m_μ|² + (K₄/4) |m_μ|⁴ ].

Expanded, the first term is ``−(K₂/2N) Σ_{ij} J_ij cos(h(θ_i − θ_j))`` with the Hebbian
``J_ij = Σ_μ ξ^μ_i ξ^μ_j`` — pairwise coupling on the h-th harmonic — and the second is a
four-body coupling ``−(K₄/4N³) Σ_μ Σ_{ijkl} ξ^μ_iξ^μ_jξ^μ_kξ^μ_l cos(h(θ_i+θ_j−θ_k−θ_l))``,
the oscillator analogue of the Dense AM's F(x) = x⁴. Both are evaluated through the K
overlaps in O(K·N); no N² or N⁴ tensor is formed. The dynamics is the gradient flow with
additive noise of temperature T, integrated by Euler–Maruyama:

    dθ_j/dt = −∂E/∂θ_j + √(2T) η_j(t),
    −∂E/∂θ_j = h Σ_μ (K₂ + K₄|m_μ|²) ξ^μ_j Im(m_μ e^{−i h θ_j})
             = h Σ_μ (K₂ + K₄|m_μ|²) ξ^μ_j |m_μ| sin(ψ_μ − h θ_j),   m_μ = |m_μ| e^{iψ_μ},

whose stationary density is ∝ exp(−E/T). A binary pattern ξ is encoded as the phases
θ_j = (π/h)(1 − ξ_j)/2, i.e. e^{ihθ_j} = ξ_j: phases {0, π/2} for h = 2 (second
harmonic) and {0, π} for h = 1. Because θ → hθ maps the model with harmonic h onto the
one with harmonic 1 (with time rescaled by h²), the choice of h changes only the
encoding, not the physics. A pattern and all its global rotations θ_j + c are fixed
points (the gradient vanishes exactly: every m_μ has the phase h·c). The order
parameters are the moduli |m_μ| ∈ [0, 1] (1 at a stored pattern, O(1/√N) when incoherent).

Mean field (one pattern, gauge φ_j = hθ_j + arg ξ_j): r = |m| solves
``r = I₁(x)/I₀(x)``, ``x = (K₂ r + K₄ r³)/T``; retrieval sets in continuously at
T = K₂/2 for K₄ < K₂/2 and discontinuously, with hysteresis, for K₄ > K₂/2 (the
tricritical point of this normalisation).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hopfield._validation import (
    check_finite,
    check_floating,
    check_int,
    check_positive,
    check_rank,
    check_tensor,
)
from hopfield.models.base import MemorySpec, RecallResult, check_mask, iterate_recall
from hopfield.models.classical import _check_bipolar

__all__ = ["KuramotoMemory", "KuramotoTrajectory", "patterns_to_phases"]

F64 = torch.float64


def patterns_to_phases(patterns: torch.Tensor, harmonic: int = 2) -> torch.Tensor:
    """Phases ``θ = (π/h)(1 − ξ)/2`` of ±1 patterns ``(B, N)`` (so ``e^{ihθ} = ξ``)."""
    patterns = check_tensor(patterns, "patterns")
    patterns = _check_bipolar(patterns, "patterns", patterns.shape[-1], "(B, N)")
    harmonic = check_int(harmonic, "harmonic", 1)
    return (math.pi / harmonic) * (1 - patterns.to(F64)) / 2


@dataclass
class KuramotoTrajectory:
    """Recorded Euler–Maruyama run: final phases ``(B, N)``, the order parameters
    ``|m_μ|`` ``(T + 1, B, K)`` and the energies ``(T + 1, B)`` at the recorded times
    ``times`` ``(T + 1,)`` (in units of t)."""

    phases: torch.Tensor
    order: torch.Tensor
    energies: torch.Tensor
    times: torch.Tensor


class KuramotoMemory(nn.Module):
    """Higher-order Kuramoto Dense AM: ``E(θ) = −N Σ_μ [K₂|m_μ|²/2 + K₄|m_μ|⁴/4]``,
    ``m_μ = (1/N) Σ_j ξ^μ_j e^{ihθ_j}``; Euler–Maruyama gradient flow
    ``θ ← θ − dt ∇E + √(2T dt) η`` (Nägerl & Berloff 2025; the formulation and its
    provenance are in the module docstring).

    Args:
        num_oscillators: N.
        pairwise: K₂ ≥ 0, the pairwise (harmonic-h) coupling.
        quartic: K₄ ≥ 0, the four-body coupling.
        noise: temperature T ≥ 0 of the Langevin noise.
        dt: Euler–Maruyama step > 0.
        harmonic: h ≥ 1 (default 2: second-harmonic pairwise coupling).
        seed: seed of the noise generator.

    Buffers: ``patterns`` ``(K, N)`` (±1).
    """


    registry = (
        MemorySpec(
            "kuramoto",
            "phase",
            "E(θ) = −N Σ_μ [K₂|m_μ|²/2 + K₄|m_μ|⁴/4], m_μ = (1/N) Σ_j e^{i(θ_j − φ_μj)}",
            "Nägerl & Berloff (2025)",
            size_option="num_oscillators",
            beta_option=None,
            seeded=True,
        ),
    )


    patterns: torch.Tensor

    def __init__(
        self,
        num_oscillators: int,
        *,
        pairwise: float = 1.0,
        quartic: float = 0.0,
        noise: float = 0.0,
        dt: float = 0.01,
        harmonic: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_oscillators = check_int(num_oscillators, "num_oscillators", 1)
        self.pairwise = check_positive(pairwise, "pairwise", allow_zero=True)
        self.quartic = check_positive(quartic, "quartic", allow_zero=True)
        self.noise = check_positive(noise, "noise", allow_zero=True)
        self.dt = check_positive(dt, "dt")
        self.harmonic = check_int(harmonic, "harmonic", 1)
        self.seed = check_int(seed, "seed", 0)
        self._generator = torch.Generator().manual_seed(self.seed)
        self.register_buffer("patterns", torch.empty(0, num_oscillators))

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor keyword arguments."""
        return {
            "num_oscillators": self.num_oscillators,
            "pairwise": self.pairwise,
            "quartic": self.quartic,
            "noise": self.noise,
            "dt": self.dt,
            "harmonic": self.harmonic,
            "seed": self.seed,
        }

    @property
    def num_patterns(self) -> int:
        """K (0 before :meth:`store`)."""
        return int(self.patterns.shape[0])

    def store(self, patterns: torch.Tensor) -> None:
        """Replace the memory with ±1 ``patterns`` ``(K, N)``, K ≥ 1."""
        patterns = _check_bipolar(patterns, "patterns", self.num_oscillators, "(K, N)")
        if patterns.shape[0] == 0:
            raise ValueError("patterns must contain at least one pattern (K ≥ 1), got K=0")
        self.patterns = patterns.detach().clone()

    def encode(self, patterns: torch.Tensor) -> torch.Tensor:
        """Phases of ±1 ``patterns`` ``(B, N)`` under this model's harmonic."""
        return patterns_to_phases(patterns, self.harmonic)

    # --- energy, gradient, order parameters --------------------------------------------
    def _check_phases(self, phases: object, name: str = "phases") -> torch.Tensor:
        if self.num_patterns == 0:
            raise ValueError(f"the memory is empty: call store(patterns) before using {name}")
        tensor = check_floating(phases, name)
        check_rank(tensor, name, 2, "(B, N)")
        if tensor.shape[1] != self.num_oscillators:
            raise ValueError(
                f"{name} must have shape (B, N) with N={self.num_oscillators}, "
                f"got {tuple(tensor.shape)}"
            )
        return check_finite(tensor, name)

    def _overlaps(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts of m_μ ``(B, K)`` (float64)."""
        xi = self.patterns.to(theta) / self.num_oscillators
        angle = self.harmonic * theta
        return torch.cos(angle) @ xi.T, torch.sin(angle) @ xi.T

    def overlaps(self, phases: torch.Tensor) -> torch.Tensor:
        """Complex overlaps ``m_μ = (1/N) Σ_j ξ^μ_j e^{ihθ_j}`` ``(B, K)`` (complex128)."""
        theta = self._check_phases(phases).to(F64)
        real, imag = self._overlaps(theta)
        return torch.complex(real, imag)

    def order_parameters(self, phases: torch.Tensor) -> torch.Tensor:
        """``|m_μ|`` ``(B, K)``: 1 at a stored pattern (any global phase), ~1/√N if incoherent."""
        return self.overlaps(phases).abs()

    def _energy(self, theta: torch.Tensor) -> torch.Tensor:
        real, imag = self._overlaps(theta)
        power = real.square() + imag.square()  # |m_μ|²
        terms = 0.5 * self.pairwise * power + 0.25 * self.quartic * power.square()
        return -self.num_oscillators * terms.sum(dim=1)

    def energy(self, phases: torch.Tensor) -> torch.Tensor:
        """``E(θ) = −N Σ_μ [K₂|m_μ|²/2 + K₄|m_μ|⁴/4]`` ``(B,)`` (float64)."""
        return self._energy(self._check_phases(phases).to(F64))

    def _gradient(self, theta: torch.Tensor) -> torch.Tensor:
        angle = self.harmonic * theta
        cos, sin = torch.cos(angle), torch.sin(angle)
        xi = self.patterns.to(theta)
        real = cos @ xi.T / self.num_oscillators  # Re m_μ, (B, K)
        imag = sin @ xi.T / self.num_oscillators  # Im m_μ
        gain = self.pairwise + self.quartic * (real.square() + imag.square())  # (B, K)
        # Im(m e^{−ihθ_j}) = Im(m) cos(hθ_j) − Re(m) sin(hθ_j)
        drive = cos * ((gain * imag) @ xi) - sin * ((gain * real) @ xi)
        return -self.harmonic * drive

    def energy_grad(self, phases: torch.Tensor) -> torch.Tensor:
        """``∂E/∂θ`` ``(B, N)`` in closed form:
        ``∂E/∂θ_j = −h Σ_μ (K₂ + K₄|m_μ|²) ξ^μ_j Im(m_μ e^{−ihθ_j})``."""
        return self._gradient(self._check_phases(phases).to(F64))

    def gradient(self, phases: torch.Tensor) -> torch.Tensor:
        """Deprecated name of :meth:`energy_grad` (removed in the next release)."""
        warnings.warn(
            "KuramotoMemory.gradient is deprecated and will be removed in the next release; "
            "use energy_grad",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.energy_grad(phases)

    # --- dynamics ------------------------------------------------------------------------
    def _euler_maruyama(self, theta: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One step ``θ − dt ∇E + √(2 T dt) η`` with per-chain temperatures ``(B, 1)``."""
        drift = theta - self.dt * self._gradient(theta)
        if not bool((noise > 0).any()):
            return drift
        kick = torch.randn(theta.shape, generator=self._generator, dtype=F64)
        return drift + torch.sqrt(2 * noise * self.dt) * kick

    def _noise_rows(self, noise: float | torch.Tensor | None, batch: int) -> torch.Tensor:
        if noise is None:
            return torch.full((batch, 1), self.noise, dtype=F64)
        if isinstance(noise, torch.Tensor):
            check_rank(noise, "noise", 1, "(B,)")
            if noise.shape[0] != batch or bool((noise < 0).any()):
                raise ValueError(f"noise must have shape (B,)=({batch},) and entries ≥ 0")
            return noise.detach().to("cpu", F64).unsqueeze(1)
        return torch.full((batch, 1), check_positive(noise, "noise", allow_zero=True), dtype=F64)

    def step(
        self,
        phases: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        noise: float | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One Euler–Maruyama step of ``phases`` ``(B, N)``, wrapped to [0, 2π). ``noise``
        overrides T (one value or one per chain ``(B,)``). Noiseless and with
        dt < 2/L (L the gradient's Lipschitz constant) the energy never increases.
        Oscillators where ``mask`` ``(B, N)`` is True keep their phase."""
        theta = self._check_phases(phases).to(F64)
        level = self._noise_rows(noise, theta.shape[0])
        new = self._euler_maruyama(theta, level)
        held = check_mask(mask, theta)
        new = new if held is None else torch.where(held, theta, new)
        return torch.remainder(new, 2 * math.pi).to(phases.dtype)

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 1000,
        tol: float = 1e-6,
        mask: torch.Tensor | None = None,
        noise: float | torch.Tensor | None = None,
    ) -> RecallResult:
        """Integrate from the phases ``queries`` ``(B, N)``: exactly ``steps`` Euler steps,
        or with ``steps=None`` until no phase moves by more than ``tol`` in one step or
        ``max_steps``. ``noise`` overrides T as in :meth:`step` (noisy dynamics do not
        settle, and their energy may rise). Final phases wrapped to [0, 2π)."""
        theta = self._check_phases(queries, "queries").to(F64)
        level = self._noise_rows(noise, theta.shape[0])
        result = iterate_recall(
            lambda x: self._euler_maruyama(x, level),
            self._energy,
            theta,
            steps=None if steps is None else check_int(steps, "steps", 0),
            max_steps=check_int(max_steps, "max_steps"),
            tol=check_positive(tol, "tol", allow_zero=True),
            mask=check_mask(mask, theta),
        )
        result.states = torch.remainder(result.states, 2 * math.pi).to(queries.dtype)
        return result

    def run(
        self,
        phases: torch.Tensor,
        steps: int,
        *,
        noise: float | torch.Tensor | None = None,
        record_every: int = 1,
    ) -> KuramotoTrajectory:
        """Integrate ``steps`` Euler–Maruyama steps from ``phases`` ``(B, N)``, recording
        the order parameters and energies every ``record_every`` steps (and at t = 0)."""
        theta = self._check_phases(phases).to(F64).clone()
        steps = check_int(steps, "steps", 0)
        record_every = check_int(record_every, "record_every", 1)
        level = self._noise_rows(noise, theta.shape[0])
        orders, energies, times = [self._order(theta)], [self._energy(theta)], [0.0]
        for t in range(1, steps + 1):
            theta = self._euler_maruyama(theta, level)
            if t % record_every == 0 or t == steps:
                orders.append(self._order(theta))
                energies.append(self._energy(theta))
                times.append(t * self.dt)
        return KuramotoTrajectory(
            phases=torch.remainder(theta, 2 * math.pi).to(phases.dtype),
            order=torch.stack(orders),
            energies=torch.stack(energies),
            times=torch.tensor(times, dtype=F64),
        )

    def _order(self, theta: torch.Tensor) -> torch.Tensor:
        real, imag = self._overlaps(theta)
        return torch.sqrt(real.square() + imag.square())

    def sweep_noise(
        self,
        phases: torch.Tensor,
        levels: torch.Tensor,
        *,
        steps_per_level: int,
        average_last: int | None = None,
        pattern: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quasi-static sweep of the temperature through ``levels`` ``(L,)`` in the given
        order (e.g. up then down), continuing from the previous level's state.

        At each level, ``steps_per_level`` steps are run and the retrieval order parameter —
        ``|m_pattern|``, or ``max_μ |m_μ|`` with ``pattern=None`` — is averaged over the last
        ``average_last`` (default: half) of them. Returns ``(order (L, B), final phases
        (B, N))``; running the levels up then down exposes hysteresis.
        """
        theta = self._check_phases(phases).to(F64).clone()
        levels = check_floating(levels, "levels")
        check_rank(levels, "levels", 1, "(L,)")
        steps_per_level = check_int(steps_per_level, "steps_per_level", 1)
        window = steps_per_level // 2 if average_last is None else average_last
        window = check_int(window, "average_last", 1)
        if window > steps_per_level:
            raise ValueError(
                f"average_last must be ≤ steps_per_level={steps_per_level}, got {window}"
            )
        if pattern is not None and not 0 <= pattern < self.num_patterns:
            raise ValueError(
                f"pattern must index the K={self.num_patterns} patterns, got {pattern}"
            )
        rows = []
        for value in levels.tolist():
            level = torch.full(
                (theta.shape[0], 1), check_positive(value, "levels", allow_zero=True), dtype=F64
            )
            total = torch.zeros(theta.shape[0], dtype=F64)
            for t in range(steps_per_level):
                theta = self._euler_maruyama(theta, level)
                if t >= steps_per_level - window:
                    order = self._order(theta)
                    total += order.amax(dim=1) if pattern is None else order[:, pattern]
            rows.append(total / window)
        return torch.stack(rows), torch.remainder(theta, 2 * math.pi).to(phases.dtype)
