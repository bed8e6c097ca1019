"""Stochastic exponential Dense Associative Memory (SEDAM).

Cafiso, Paradisi et al., "Temporal Complexity and Self-Organization in an Exponential
Dense Associative Memory Model" (arXiv 2601.11478, 2026) and "Criticality of a Stochastic
Dense Associative Memory Model with Exponential Interaction Function" (arXiv 2509.17152):
the exponential Dense AM of Demircigil et al. (2017),

    E(σ) = −Σ_μ exp(β ξ^μ·σ),     σ ∈ {−1, +1}^N,

run with asynchronous single-neuron updates and noise. Two noises are implemented:

* ``noise="flip"`` (salt-and-pepper, intensity p ∈ [0, 1]): neuron i first takes its
  deterministic value σ_i ← sgn Σ_μ [e^{β(b_μ+ξ^μ_i)} − e^{β(b_μ−ξ^μ_i)}] (the lower-energy
  value with the others fixed, b_μ = ξ^μ·σ − ξ^μ_i σ_i), then its output is sign-flipped
  with probability p. The papers' abstracts only say "multiplicative salt-and-pepper
  noise of intensity p"; this per-update output flip is the reading of the reference
  notes (papers.md §11, marked *inferred*), chosen because it reproduces the reported
  trend: a time-averaged overlap Q ≈ 1 − 2p at low load, a collapse near p ≈ 0.25, and
  a critical p that decreases with the load K.
* ``noise="glauber"`` (temperature T ≥ 0): heat-bath update on the log-domain energy
  ``E_β(σ) = −(1/β) log Σ_μ e^{β ξ^μ·σ}`` (a monotone function of E with the same minima;
  E itself spans e^{βN} and admits no N-independent temperature):
  ``P(σ_i = +1) = 1 / (1 + exp(−[E_β(σ_i=−1) − E_β(σ_i=+1)] / T))``.

With zero noise the sweep is exactly :class:`~hopfield.models.dense.DenseAssociativeMemory`
with ``Exponential(beta)`` (same update order for the same seed), whose ``step`` /
``recall`` this class inherits unchanged. The noisy dynamics is run by :meth:`simulate`,
which records the overlaps m_μ(t) = ξ^μ·σ(t)/N, the activity a(t) = (1/N) Σ_i σ_i(t) and
the number of neurons that changed per sweep — the signals analysed with
:mod:`hopfield.analysis.temporal` (events, inter-event times, DFA).

Stable evaluation: with overlaps m_μ, shift s = max_μ m_μ and w_μ = e^{β(m_μ − s)} ≤ 1,
``P_i = Σ_{ξ^μ_i=+1} w_μ``, ``Q_i = Σ_{ξ^μ_i=−1} w_μ``; the energy of neuron i set to
value v is ``−(1/β) log Z_v + const`` with ``Z_v = P_i e^{β(v−σ_i)} + Q_i e^{−β(v−σ_i)}``,
computed with ``logaddexp``. Cost O(B·K) per neuron update, O(B·K·N) per sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hopfield._validation import (
    check_choice,
    check_int,
    check_positive,
    check_probability,
    check_rank,
)
from hopfield.core.separation import Exponential
from hopfield.models.base import MemorySpec
from hopfield.models.dense import DenseAssociativeMemory

__all__ = ["SEDAMTrajectory", "StochasticExponentialAM", "time_averaged_overlap"]

F64 = torch.float64
_NOISES = ("flip", "glauber")
_NOISE_STREAM = 0x5EDA  # offset of the noise generator's seed from the order generator's


@dataclass
class SEDAMTrajectory:
    """Recorded run of :meth:`StochasticExponentialAM.simulate` (T sweeps, B chains).

    Attributes:
        states: final states ``(B, N)``.
        overlaps: ``m_μ(t) = ξ^μ·σ(t)/N`` after each sweep, ``(T + 1, B, K)`` (row 0: start).
        activity: ``a(t) = (1/N) Σ_i σ_i(t)``, ``(T + 1, B)``.
        changes: neurons whose value changed during each sweep, ``(T, B)`` int64.
        intensity: noise intensity (p or T) of each chain, ``(B,)``.
    """

    states: torch.Tensor
    overlaps: torch.Tensor
    activity: torch.Tensor
    changes: torch.Tensor
    intensity: torch.Tensor


class StochasticExponentialAM(DenseAssociativeMemory):
    """Exponential Dense AM with salt-and-pepper (``"flip"``) or Glauber noise (SEDAM).

    Energy ``E(σ) = −Σ_μ exp(β ξ^μ·σ)``; noisy asynchronous update of neuron i:
    deterministic ``σ_i ← sgn(E(σ_i=−1) − E(σ_i=+1))`` then flipped with probability p
    (``noise="flip"``), or ``σ_i = +1`` with probability ``σ((E_β(−1) − E_β(+1))/T)``
    on the log-domain energy ``E_β`` (``noise="glauber"``). See the module docstring
    for the papers and for why the flip reading was chosen.

    Args:
        num_neurons: N.
        beta: β > 0 of ``exp(β ξ·σ)`` (at most 300, as beyond that e^{−2β} underflows).
        noise: ``"flip"`` or ``"glauber"``.
        intensity: p ∈ [0, 1] for ``"flip"``; temperature T ≥ 0 for ``"glauber"``.
        order: ``"random"`` (seeded permutation per sweep) or ``"sweep"``.
        seed: seeds the update order (as in the parent class) and, through an offset
            stream, the noise.
    """


    registry = (
        MemorySpec(
            "sedam",
            "binary",
            "E = −Σ_μ exp(β ξ_μ·s), asynchronous updates with flip or Glauber noise",
            "Cafiso & Paradisi (2026)",
            size_option="num_neurons",
            default_beta=1.0,
            seeded=True,
        ),
    )


    def __init__(
        self,
        num_neurons: int,
        *,
        beta: float = 1.0,
        noise: str = "flip",
        intensity: float = 0.0,
        order: str = "random",
        seed: int = 0,
    ) -> None:
        beta = check_positive(beta, "beta")
        if beta > 300.0:
            raise ValueError(f"beta must be ≤ 300 for the noisy sweep, got {beta}")
        super().__init__(
            num_neurons, separation=Exponential(beta), update="async", order=order, seed=seed
        )
        self.noise = check_choice(noise, "noise", _NOISES)
        self.intensity = self._check_intensity(intensity)
        self._noise_generator = torch.Generator().manual_seed(self.seed + _NOISE_STREAM)

    @property
    def beta(self) -> float:
        """β of the exponential separation."""
        assert self._beta is not None
        return self._beta

    def get_config(self) -> dict[str, Any]:
        return {
            "num_neurons": self.num_neurons,
            "beta": self.beta,
            "noise": self.noise,
            "intensity": self.intensity,
            "order": self.order,
            "seed": self.seed,
        }

    def _check_intensity(self, value: float) -> float:
        if self.noise == "flip":
            return check_probability(value, "intensity (flip probability p)")
        return check_positive(value, "intensity (temperature T)", allow_zero=True)

    def _intensity_rows(self, intensity: float | torch.Tensor | None, batch: int) -> torch.Tensor:
        """Per-chain intensities ``(B,)`` float64, validated."""
        if intensity is None:
            return torch.full((batch,), self.intensity, dtype=F64)
        if isinstance(intensity, torch.Tensor):
            check_rank(intensity, "intensity", 1, "(B,)")
            if intensity.shape[0] != batch:
                raise ValueError(
                    f"intensity must have shape (B,)=({batch},), got {intensity.shape}"
                )
            for value in intensity.tolist():
                self._check_intensity(float(value))
            return intensity.detach().to("cpu", F64)
        return torch.full((batch,), self._check_intensity(intensity), dtype=F64)

    # --- the noisy sweep -------------------------------------------------------------
    def _noisy_sweep(self, s: torch.Tensor, m: torch.Tensor, level: torch.Tensor) -> None:
        """One asynchronous sweep over all neurons of ``s`` ``(B, N)`` float64 with
        overlaps ``m = sΞᵀ`` ``(B, K)``; both updated in place."""
        beta = self.beta
        xi = self.patterns.to(F64)
        positive = (xi > 0).to(F64)
        negative = 1.0 - positive
        if self.order == "random":
            order = torch.randperm(self.num_neurons, generator=self._generator).tolist()
        else:
            order = list(range(self.num_neurons))
        uniform = torch.rand(
            s.shape[0], self.num_neurons, generator=self._noise_generator, dtype=F64
        )
        for i in order:
            current = s[:, i]
            weights = torch.exp(beta * (m - m.amax(dim=1, keepdim=True)))
            log_p = torch.log(weights @ positive[:, i])
            log_q = torch.log(weights @ negative[:, i])
            if self.noise == "flip":
                field = log_p - log_q - 2 * beta * current
                new = torch.where(field > 0, 1.0, torch.where(field < 0, -1.0, current))
                new = torch.where(uniform[:, i] < level, -new, new)
            else:
                up = beta * (1.0 - current)  # exponent shift for v = +1
                down = beta * (-1.0 - current)  # for v = −1
                log_z_up = torch.logaddexp(log_p + up, log_q - up)
                log_z_down = torch.logaddexp(log_p + down, log_q - down)
                gap = (log_z_up - log_z_down) / beta  # E_β(−1) − E_β(+1)
                # T = 0: gap/tiny = ±inf gives the deterministic update; exact ties keep σ_i
                prob_up = torch.sigmoid(gap / level.clamp_min(1e-300))
                prob_up = torch.where((level == 0) & (gap == 0), (current > 0).to(F64), prob_up)
                new = torch.where(uniform[:, i] < prob_up, 1.0, -1.0)
            delta = new - current
            s[:, i] = new
            m.add_(delta.unsqueeze(1) * xi[:, i])

    def simulate(
        self,
        initial: torch.Tensor,
        sweeps: int,
        *,
        intensity: float | torch.Tensor | None = None,
    ) -> SEDAMTrajectory:
        """Run ``sweeps`` noisy asynchronous sweeps from ``initial`` ``(B, N)`` (±1).

        ``intensity`` overrides the model's noise intensity, either one value or one per
        chain ``(B,)`` (e.g. a whole Q(p) curve in one batched run). Returns a
        :class:`SEDAMTrajectory` with overlaps, activity and changes after every sweep.
        """
        initial = self._check_states(initial, "initial")
        sweeps = check_int(sweeps, "sweeps", 1)
        level = self._intensity_rows(intensity, initial.shape[0])
        s = initial.detach().to("cpu", F64).clone()
        xi = self.patterns.to("cpu", F64)
        m = s @ xi.T
        overlaps = [m / self.num_neurons]
        activity = [s.mean(dim=1)]
        changes = []
        for _ in range(sweeps):
            before = s.clone()
            self._noisy_sweep(s, m, level)
            m = s @ xi.T  # exact refresh once per sweep (no drift from the updates)
            overlaps.append(m / self.num_neurons)
            activity.append(s.mean(dim=1))
            changes.append((s != before).sum(dim=1))
        return SEDAMTrajectory(
            states=s.to(initial.dtype),
            overlaps=torch.stack(overlaps),
            activity=torch.stack(activity),
            changes=torch.stack(changes),
            intensity=level,
        )


def time_averaged_overlap(
    trajectory: SEDAMTrajectory, pattern: int | torch.Tensor = 0, *, burn_in: int = 0
) -> torch.Tensor:
    """The order parameter Q = ⟨m_μ(t)⟩_{t > burn_in} of each chain ``(B,)``.

    ``pattern`` is the index μ of the cued pattern, one int or one per chain ``(B,)``.
    """
    overlaps = trajectory.overlaps
    steps = overlaps.shape[0]
    burn_in = check_int(burn_in, "burn_in", 0)
    if burn_in >= steps - 1:
        raise ValueError(f"burn_in must be < number of sweeps ({steps - 1}), got {burn_in}")
    batch, count = overlaps.shape[1:]
    index = torch.as_tensor(pattern, dtype=torch.int64).expand(batch)
    if bool((index < 0).any()) or bool((index >= count).any()):
        raise ValueError(f"pattern must index the K={count} stored patterns, got {pattern}")
    chosen = overlaps[burn_in + 1 :, torch.arange(batch), index]  # (T', B)
    return chosen.mean(dim=0)
