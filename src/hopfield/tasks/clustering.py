"""ClAM: end-to-end differentiable clustering with an associative memory.

Saha et al. (2023) "End-to-end Differentiable Clustering with Associative Memories".

The ``k`` cluster prototypes ``ρ_1, …, ρ_k`` ``(k, D)`` are the memories of a
Euclidean modern Hopfield network,

``E(x) = −β⁻¹ log Σ_j exp(−(β/2)‖x − ρ_j‖²)``,
``∇E(x) = x − Σ_j softmax_j(−(β/2)‖x − ρ‖²) ρ_j``.

A point evolves by ``T`` steps of gradient descent on ``E``,

``x_{t+1} = x_t − η ∇E(x_t) = (1 − η) x_t + η Pᵀ softmax(−(β/2)‖x_t − ρ‖²)``

(``η = 1`` is the CCCP update of the modern Hopfield network; ``E`` never increases
for ``η ∈ (0, 1]``, since ``E`` is ``½‖x‖²`` plus a concave function and the step is a
convex combination towards the CCCP minimiser). The assignment of ``x`` is the
prototype nearest its attractor ``x_T``. The prototypes are trained by Adam on the
reconstruction loss ``mean ‖x − x_T‖²``, back-propagating through the ``T``
unrolled steps (the loss is small only when each point's basin holds a prototype
close to it, the differentiable analogue of the k-means objective).

The paper trains with a self-supervised *masked-completion* loss instead
(:meth:`ClAM.masked_completion_loss`): a random subset ``m`` of each point's coordinates
is hidden (set to 0), the dynamics run with the visible coordinates clamped and only
the hidden ones moving, ``x_{t+1} = x_t + η m ⊙ (Pᵀ softmax(−(β/2)‖x_t − ρ‖²) − x_t)``,
and the loss is ``mean ‖m ⊙ (x_T − x)‖²``, the error of the completed coordinates.
"""

from __future__ import annotations

import torch
from torch import nn

from hopfield._validation import (
    cast_finite,
    check_finite,
    check_floating,
    check_positive,
    check_rank,
)
from hopfield.ops.streaming import lse_partials, lse_retrieve

__all__ = ["ClAM", "kmeans_plus_plus"]


def kmeans_plus_plus(points: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` rows of ``points`` ``(N, D)`` chosen by k-means++ seeding (Arthur &
    Vassilvitskii 2007): each next centre drawn with probability ∝ squared distance to
    the nearest chosen one (scikit-learn's :func:`sklearn.cluster.kmeans_plusplus`, its
    greedy variant, seeded from ``generator``). Returns ``(count, D)``."""
    from sklearn.cluster import kmeans_plusplus

    if count > points.shape[0]:
        raise ValueError(f"count must be ≤ the number of points {points.shape[0]}, got {count}")
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    data = points.detach().cpu().double().numpy()
    _, indices = kmeans_plusplus(data, n_clusters=count, random_state=seed)
    return points[torch.from_numpy(indices).to(points.device)].clone()


class ClAM(nn.Module):
    """Prototype memory trained through its own attractor dynamics (see module docstring).

    Args:
        prototypes: initial prototypes ``(k, D)`` (become a parameter).
        beta: inverse temperature ``β``.
        steps: unrolled descent steps ``T``.
        step_size: ``η ∈ (0, 1]``.
    """

    def __init__(
        self, prototypes: torch.Tensor, *, beta: float = 1.0, steps: int = 5, step_size: float = 1.0
    ) -> None:
        super().__init__()
        check_floating(prototypes, "prototypes")
        check_rank(prototypes, "prototypes", 2, "(k, D)")
        if prototypes.shape[0] < 1 or prototypes.shape[1] < 1:
            raise ValueError(
                f"prototypes must have shape (k, D) with k, D ≥ 1, got {tuple(prototypes.shape)}"
            )
        check_finite(prototypes, "prototypes")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be an int ≥ 0, got {steps!r}")
        self.beta = check_positive(beta, "beta")
        self.steps = steps
        self.step_size = check_positive(step_size, "step_size")
        if self.step_size > 1:
            raise ValueError(f"step_size must lie in (0, 1], got {step_size}")
        self.prototypes = nn.Parameter(prototypes.detach().clone())

    def _check_points(self, points: torch.Tensor) -> torch.Tensor:
        check_floating(points, "points")
        dim = self.prototypes.shape[1]
        check_rank(points, "points", 2, f"(B, {dim})")
        if points.shape[1] != dim:
            raise ValueError(f"points must have shape (B, {dim}), got {tuple(points.shape)}")
        return cast_finite(points, "points", self.prototypes.dtype)

    def _retrieve(self, x: torch.Tensor) -> torch.Tensor:
        norms = self.prototypes.square().sum(dim=1)
        out, _ = lse_retrieve(
            x, self.prototypes, None, self.beta, similarity="euclidean", key_sq_norms=norms
        )
        return out

    def energy(self, points: torch.Tensor) -> torch.Tensor:
        """``E(x)`` ``(B,)``."""
        x = self._check_points(points)
        norms = self.prototypes.square().sum(dim=1)
        parts = lse_partials(
            x, self.prototypes, None, self.beta, similarity="euclidean", key_sq_norms=norms
        )
        return -(parts.max + parts.sumexp.log()) / self.beta

    def step(self, points: torch.Tensor) -> torch.Tensor:
        """One update ``x ← (1 − η) x + η Pᵀ softmax(−(β/2)‖x − ρ‖²)`` ``(B, D)``."""
        x = self._check_points(points)
        return x + self.step_size * (self._retrieve(x) - x)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """The state after ``T`` steps, ``x_T`` ``(B, D)`` (differentiable)."""
        x = self._check_points(points)
        for _ in range(self.steps):
            x = x + self.step_size * (self._retrieve(x) - x)
        return x

    def loss(self, points: torch.Tensor) -> torch.Tensor:
        """Reconstruction loss ``mean_B ‖x − x_T‖²``."""
        x = self._check_points(points)
        return (self.forward(x) - x).square().sum(dim=1).mean()

    def masked_completion_loss(
        self, points: torch.Tensor, mask_fraction: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Masked-completion loss ``mean_B ‖m ⊙ (x_T − x)‖²`` (Saha et al. 2023, Alg. 1).

        Each coordinate is hidden independently with probability ``mask_fraction``
        (``m = 1``); the probe starts at ``(1 − m) ⊙ x`` and ``T`` steps move only the
        hidden coordinates towards the memory's completion.
        """
        x = self._check_points(points)
        if isinstance(mask_fraction, bool) or not 0 < float(mask_fraction) < 1:
            raise ValueError(f"mask_fraction must lie in (0, 1), got {mask_fraction!r}")
        uniform = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu")
        hidden = (uniform < float(mask_fraction)).to(device=x.device, dtype=x.dtype)
        probe = x * (1 - hidden)
        for _ in range(self.steps):
            probe = probe + self.step_size * hidden * (self._retrieve(probe) - probe)
        return (hidden * (probe - x)).square().sum(dim=1).mean()

    def assign(self, points: torch.Tensor) -> torch.Tensor:
        """Cluster index ``(B,)``: the prototype nearest the attractor ``x_T``."""
        with torch.no_grad():
            final = self.forward(points)
            return torch.cdist(final, self.prototypes.detach()).argmin(dim=1)

    def extra_repr(self) -> str:
        return (
            f"clusters={self.prototypes.shape[0]}, beta={self.beta}, steps={self.steps}, "
            f"step_size={self.step_size}"
        )
