"""Kernelized Hopfield model with a learned feature map, and optimal spherical codes.

Hu, Wu & Liu (2024), "Provably Optimal Memory Capacity for Modern Hopfield Models:
Transformer-Compatible Dense Associative Memories as Spherical Codes" (NeurIPS), and
Wu, Hu, Hsiao & Liu (2024), "Uniform Memory Retrieval with Larger Capacity for Modern
Hopfield Models" (U-Hop, ICML). The similarity is a learned linear kernel
``K(u, v) = ⟨Φ(u), Φ(v)⟩`` with ``Φ(x) = W x`` (W ``(D_Φ, d)``). With stored patterns
Ξ ``(K, d)``, scores ``s(x) = Φ(Ξ) Φ(x) = Ξ Wᵀ W x`` and a normaliser
``p = α-entmax(β s)`` (softmax α = 1, entmax-1.5, sparsemax α = 2):

    E(x) = ½ ‖Φ(x)‖² − β⁻¹ max_α(β s(x)),     max_α(θ) = max_{p ∈ Δ} ⟨p, θ⟩ + H_α(p),
    T(x) = Ξᵀ α-entmax(β Φ(Ξ) Φ(x))                         (k-CCCP iteration),

where H_α is the Tsallis entropy (H₁ Shannon, so max₁ = log-sum-exp). Both terms are
convex in x; CCCP linearises the concave −max_α at x_t and minimises the convex upper
bound: ``WᵀW x_{t+1} = WᵀW Ξᵀ p_t``, solved by ``x_{t+1} = Ξᵀ p_t``, so E never
increases. With W = I (softmax) this is exactly the modern Hopfield update of
Ramsauer et al. (2020) ``x ← Ξᵀ softmax(β Ξ x)``; with sparse normalisers it is the
sparse Hopfield model (Hu et al. 2023; Santos et al. 2024).

**Stage I** (:meth:`KernelizedHopfield.fit_feature_map`) learns W so that the
normalised features ``Φ̂_μ = Φ(ξ_μ)/‖Φ(ξ_μ)‖`` are well separated on the sphere, with

* ``"uniformity"`` (U-Hop): ``L = log mean_{μ<ν} exp(−t ‖Φ̂_μ − Φ̂_ν‖²)``, t = 2;
* ``"worst_pair"``: ``L = τ log Σ_{μ<ν} exp(⟨Φ̂_μ, Φ̂_ν⟩ / τ)``, a smooth maximum of the
  pairwise cosine (τ = 0.1), the objective whose minimiser is an optimal spherical code.

The losses only see directions, so after fitting W is rescaled to keep the mean
squared feature norm equal to that of the patterns, ``mean ‖Φ(ξ_μ)‖² = mean ‖ξ_μ‖²``:
the fit changes the geometry of the memories, not the effective temperature, which
keeps comparisons with identity features at a fixed β fair.

:func:`optimize_spherical_code` places M points on S^{d−1} maximising the minimum
pairwise angle (the Tammes problem): projected Adam on the soft worst-pair loss
``τ log Σ_{i<j} exp(cos θ_ij / τ)`` with τ annealed geometrically (the soft maximum
sharpens into the true worst pair), several seeded restarts, best kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, get_args

import torch
from torch import nn

from hopfield._validation import (
    EmptyMemoryError,
    cast_finite,
    check_finite,
    check_floating,
    check_int,
    check_positive,
    check_rank,
)
from hopfield.data.generators import make_generator
from hopfield.models.base import (
    MemorySpec,
    RecallResult,
    check_mask,
    iterate_recall,
    legacy_recall_steps,
)
from hopfield.ops.normalizers import Normalizer as RetrievalNormalizer
from hopfield.ops.normalizers import as_normalizer
from hopfield.ops.sparse_normalizers import entmax15, sparsemax, tsallis_entropy

__all__ = [
    "FeatureLoss",
    "KernelizedHopfield",
    "Normalizer",
    "min_pairwise_angle",
    "optimize_spherical_code",
    "separation_loss",
]

Normalizer = Literal["softmax", "entmax15", "sparsemax"]
FeatureLoss = Literal["uniformity", "worst_pair"]
_NORMALIZERS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    "softmax": (lambda z: torch.softmax(z, dim=-1), 1.0),
    "entmax15": (lambda z: entmax15(z, dim=-1), 1.5),
    "sparsemax": (lambda z: sparsemax(z, dim=-1), 2.0),
}


def _pair_values(matrix: torch.Tensor) -> torch.Tensor:
    """Strict upper triangle of a ``(M, M)`` matrix as a vector."""
    rows, cols = torch.triu_indices(matrix.shape[0], matrix.shape[0], offset=1)
    return matrix[rows, cols]


def min_pairwise_angle(points: torch.Tensor) -> float:
    """Smallest angle (degrees) between distinct rows of ``points`` ``(M, d)``, M ≥ 2."""
    x = check_floating(points, "points")
    check_rank(x, "points", 2, "(M, d)")
    if x.shape[0] < 2:
        raise ValueError(f"points must have at least 2 rows, got {x.shape[0]}")
    unit = x / x.norm(dim=1, keepdim=True)
    cosine = _pair_values(unit @ unit.T).amax().clamp(-1, 1)
    return math.degrees(math.acos(float(cosine)))


def separation_loss(
    features: torch.Tensor, loss: FeatureLoss, *, temperature: float | None = None
) -> torch.Tensor:
    """Separation loss of the normalised rows of ``features`` ``(M, D)`` (lower = more separated).

    ``"uniformity"``: ``log mean_{μ<ν} exp(−t‖Φ̂_μ − Φ̂_ν‖²)`` (t = ``temperature``, default 2);
    ``"worst_pair"``: ``τ log Σ_{μ<ν} exp(⟨Φ̂_μ, Φ̂_ν⟩/τ)`` (τ = ``temperature``, default 0.1).
    """
    unit = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cosine = _pair_values(unit @ unit.T)
    if loss == "uniformity":
        t = 2.0 if temperature is None else temperature
        squared = 2 - 2 * cosine
        return torch.logsumexp(-t * squared, 0) - math.log(cosine.numel())
    if loss == "worst_pair":
        tau = 0.1 if temperature is None else temperature
        return tau * torch.logsumexp(cosine / tau, 0)
    raise ValueError(f"loss must be one of {get_args(FeatureLoss)}, got {loss!r}")


class KernelizedHopfield(nn.Module):
    """Kernelized Hopfield model ``T(x) = Ξᵀ α-entmax(β Φ(Ξ) Φ(x))``, ``Φ(x) = W x``.

    Energy ``E(x) = ½‖Φ(x)‖² − β⁻¹ max_α(β Φ(Ξ)Φ(x))`` (never increased by the update);
    see the module docstring for the math and the feature-map losses (Hu, Wu & Liu 2024).

    Args:
        feature_dim: D_Φ, the number of features.
        beta: inverse temperature β > 0.
        normalizer: ``Softmax()``, ``Entmax15()`` or ``Sparsemax()``
            (:mod:`hopfield.ops.normalizers`, without ``top_k``) or their names.
        max_iterations: default number of k-CCCP steps of :meth:`recall`.
        tol: convergence threshold on ``max |x_{t+1} − x_t|``.

    Buffers: ``feature_weight`` W ``(D_Φ, d)`` (identity-like ``I_{D_Φ×d}`` until
    fitted or set) and ``patterns`` Ξ ``(K, d)``.
    """

    registry = (
        MemorySpec(
            "kernelized",
            "continuous",
            "x ← Ξᵀ softmax(β Φ(Ξ)Φ(x)), Φ(x) = Wx learned (energy of the feature space)",
            "Hu, Wu & Liu (2024)",
            size_option="feature_dim",
            default_beta=1.0,
        ),
    )

    feature_weight: torch.Tensor
    patterns: torch.Tensor

    def __init__(
        self,
        feature_dim: int,
        *,
        beta: float = 1.0,
        normalizer: Normalizer | RetrievalNormalizer = "softmax",
        max_iterations: int = 20,
        tol: float = 1e-8,
    ) -> None:
        super().__init__()
        self.feature_dim = check_int(feature_dim, "feature_dim", 1)
        self.beta = check_positive(beta, "beta")
        retrieval = as_normalizer(normalizer, "normalizer")
        if retrieval.top_k is not None:
            raise ValueError(f"normalizer takes no top_k here, got {retrieval!r}")
        self.normalizer = retrieval.name
        self.max_iterations = check_int(max_iterations, "max_iterations", 1)
        self.tol = check_positive(tol, "tol", allow_zero=True)
        self.register_buffer("feature_weight", torch.empty(0))
        self.register_buffer("patterns", torch.empty(0))

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return {
            "feature_dim": self.feature_dim,
            "beta": self.beta,
            "normalizer": self.normalizer,
            "max_iterations": self.max_iterations,
            "tol": self.tol,
        }

    # --- feature map ---------------------------------------------------------------------
    def set_feature_map(self, weight: torch.Tensor) -> KernelizedHopfield:
        """Use ``weight`` ``(feature_dim, d)`` as W."""
        w = check_floating(weight, "weight")
        check_rank(w, "weight", 2, f"({self.feature_dim}, d)")
        if w.shape[0] != self.feature_dim:
            raise ValueError(
                f"weight must have shape ({self.feature_dim}, d), got {tuple(w.shape)}"
            )
        if self.patterns.ndim == 2 and w.shape[1] != self.patterns.shape[1]:
            raise ValueError(
                f"weight must have shape ({self.feature_dim}, {self.patterns.shape[1]}) to "
                f"match the stored patterns, got {tuple(w.shape)}"
            )
        self.feature_weight = check_finite(w.detach().clone(), "weight")
        return self

    def _identity_weight(self, dim: int, dtype: torch.dtype) -> torch.Tensor:
        return torch.eye(self.feature_dim, dim, dtype=dtype)

    def fit_feature_map(
        self,
        patterns: torch.Tensor,
        *,
        loss: FeatureLoss = "uniformity",
        steps: int = 500,
        lr: float = 0.05,
        temperature: float | None = None,
        seed: int = 0,
    ) -> torch.Tensor:
        """Stage I: learn W on ``patterns`` ``(K, d)`` by Adam on :func:`separation_loss`.

        W starts from the identity-like ``I_{D_Φ×d}`` plus a seeded 1e-3 perturbation (so
        that symmetric pattern sets are not stuck); afterwards W is rescaled so that
        ``mean ‖Φ(ξ_μ)‖² = mean ‖ξ_μ‖²``. Returns the loss trace ``(steps + 1,)``.
        """
        xi = self._check_patterns(patterns).detach()
        check_int(steps, "steps", 1)
        check_positive(lr, "lr")
        if loss not in get_args(FeatureLoss):
            raise ValueError(f"loss must be one of {get_args(FeatureLoss)}, got {loss!r}")
        if xi.shape[0] < 2:
            raise ValueError("patterns must have at least 2 rows to fit a separation loss")
        generator = make_generator(seed)
        noise = torch.randn(self.feature_dim, xi.shape[1], generator=generator, dtype=xi.dtype)
        weight = (self._identity_weight(xi.shape[1], xi.dtype) + 1e-3 * noise).requires_grad_()
        optimizer = torch.optim.Adam([weight], lr=lr)
        trace = []
        with torch.enable_grad():
            for _ in range(steps):
                optimizer.zero_grad()
                value = separation_loss(xi @ weight.T, loss, temperature=temperature)
                value.backward()
                optimizer.step()
                trace.append(float(value.detach()))
        fitted = weight.detach()
        trace.append(float(separation_loss(xi @ fitted.T, loss, temperature=temperature)))
        feature_power = (xi @ fitted.T).square().sum(1).mean()
        fitted = fitted * (xi.square().sum(1).mean() / feature_power).sqrt()
        self.set_feature_map(fitted)
        return torch.tensor(trace, dtype=torch.float64)

    def feature_map(self, states: torch.Tensor) -> torch.Tensor:
        """Φ(x) = W x, ``(B, d)`` → ``(B, D_Φ)``."""
        return self._check_states(states) @ self.feature_weight.T

    # --- storage -------------------------------------------------------------------------
    def _check_patterns(self, patterns: object) -> torch.Tensor:
        xi = check_floating(patterns, "patterns")
        check_rank(xi, "patterns", 2, "(K, d)")
        if xi.shape[0] == 0 or xi.shape[1] == 0:
            raise ValueError(f"patterns must have K, d ≥ 1, got shape {tuple(xi.shape)}")
        xi = cast_finite(xi, "patterns", xi.dtype)
        if self.feature_weight.ndim == 2 and xi.shape[1] != self.feature_weight.shape[1]:
            raise ValueError(
                f"patterns must have shape (K, {self.feature_weight.shape[1]}) to match the "
                f"feature map, got {tuple(xi.shape)}"
            )
        return xi

    def store(self, patterns: torch.Tensor) -> None:
        """Store Ξ ``(K, d)`` (W defaults to ``I_{D_Φ×d}`` if not fitted or set)."""
        xi = self._check_patterns(patterns)
        if self.feature_weight.ndim != 2:
            self.feature_weight = self._identity_weight(xi.shape[1], xi.dtype)
        self.patterns = xi.detach().clone()

    def _check_states(self, states: object) -> torch.Tensor:
        if self.patterns.ndim != 2:
            raise ValueError("the memory is empty: call store(patterns) before passing states")
        x = check_floating(states, "states")
        check_rank(x, "states", 2, "(B, d)")
        if x.shape[1] != self.patterns.shape[1]:
            raise ValueError(
                f"states must have shape (B, {self.patterns.shape[1]}), got {tuple(x.shape)}"
            )
        return cast_finite(x, "states", self.patterns.dtype)

    # --- energy and dynamics ---------------------------------------------------------------
    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta * (x @ self.feature_weight.T) @ (self.patterns @ self.feature_weight.T).T

    def probabilities(self, states: torch.Tensor) -> torch.Tensor:
        """α-entmax(β Φ(Ξ)Φ(x)) ``(B, K)``."""
        return _NORMALIZERS[self.normalizer][0](self._scores(self._check_states(states)))

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x) = ½‖Φ(x)‖² − β⁻¹ (⟨p, βs⟩ + H_α(p))`` at ``p = α-entmax(βs)``, ``(B,)``."""
        x = self._check_states(states)
        normalize, alpha = _NORMALIZERS[self.normalizer]
        scores = self._scores(x)
        if alpha == 1.0:
            regularised_max = torch.logsumexp(scores, dim=-1)
        else:
            p = normalize(scores)
            regularised_max = (p * scores).sum(-1) + tsallis_entropy(p, alpha)
        features = x @ self.feature_weight.T
        return 0.5 * features.square().sum(-1) - regularised_max / self.beta

    def step(self, states: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One k-CCCP update ``x ← Ξᵀ α-entmax(β Φ(Ξ)Φ(x))`` ``(B, d)``; entries where
        ``mask`` is True keep their value."""
        x = self._check_states(states)
        new = self._update(x)
        held = check_mask(mask, x)
        return new if held is None else torch.where(held, x, new)

    def _update(self, x: torch.Tensor) -> torch.Tensor:
        return _NORMALIZERS[self.normalizer][0](self._scores(x)) @ self.patterns

    def recall(
        self,
        queries: torch.Tensor,
        *legacy: Any,
        steps: int | None = None,
        max_steps: int | None = None,
        tol: float | None = None,
        mask: torch.Tensor | None = None,
        until_converged: bool | None = None,
    ) -> RecallResult:
        """Iterate :meth:`step` from ``queries`` ``(B, d)``: exactly ``steps`` times, or
        with ``steps=None`` until no entry moves by more than ``tol`` (default: the
        constructor's) or ``max_steps`` (default ``max_iterations``) updates.

        The former call ``recall(states, steps, until_converged)`` (``steps`` an upper
        bound unless ``until_converged=False``) still works, with a warning.
        """
        if legacy or until_converged is not None:
            steps, max_steps = legacy_recall_steps(legacy, steps, max_steps, until_converged)
        x = self._check_states(queries)
        limit = self.max_iterations if max_steps is None else check_int(max_steps, "max_steps")
        return iterate_recall(
            self._update,
            self.energy,
            x,
            steps=None if steps is None else check_int(steps, "steps", 0),
            max_steps=limit,
            tol=self.tol if tol is None else check_positive(tol, "tol", allow_zero=True),
            mask=check_mask(mask, x),
        )

    def feature_separation(self) -> float:
        """Minimum pairwise angle (degrees) of the stored patterns' features Φ(ξ_μ)."""
        if self.patterns.ndim != 2:
            raise EmptyMemoryError("no patterns stored: call store(patterns) first")
        return min_pairwise_angle(self.patterns @ self.feature_weight.T)

    def extra_repr(self) -> str:
        return f"feature_dim={self.feature_dim}, beta={self.beta}, normalizer={self.normalizer!r}"


# --- spherical codes ----------------------------------------------------------------------
def optimize_spherical_code(
    num_points: int,
    dim: int,
    *,
    steps: int = 2000,
    seed: int = 0,
    restarts: int = 4,
    lr: float = 0.02,
    temperature: tuple[float, float] = (0.1, 1e-4),
) -> tuple[torch.Tensor, float]:
    """Maximise the minimum pairwise angle of ``num_points`` points on S^{dim−1} (Tammes).

    Projected Adam on ``τ log Σ_{i<j} exp(cos θ_ij/τ)`` with τ annealed geometrically from
    ``temperature[0]`` to ``temperature[1]`` over ``steps`` (points renormalised after each
    step, learning rate decayed geometrically to 1 % as τ sharpens); ``restarts`` seeded
    random starts, the best kept. Returns ``(points (M, d) float64 unit rows, min angle°)``.
    """
    check_int(num_points, "num_points", 2)
    check_int(dim, "dim", 2)
    check_int(steps, "steps", 1)
    check_int(restarts, "restarts", 1)
    check_positive(lr, "lr")
    start_tau, end_tau = (check_positive(t, "temperature") for t in temperature)
    generator = make_generator(seed)
    best_points, best_angle = torch.empty(0), -1.0
    for _ in range(restarts):
        points = _anneal_code(num_points, dim, steps, lr, start_tau, end_tau, generator)
        angle = min_pairwise_angle(points)
        if angle > best_angle:
            best_points, best_angle = points, angle
    return best_points, best_angle


def _anneal_code(
    num_points: int,
    dim: int,
    steps: int,
    lr: float,
    start_tau: float,
    end_tau: float,
    generator: torch.Generator,
) -> torch.Tensor:
    start = torch.randn(num_points, dim, generator=generator, dtype=torch.float64)
    points = (start / start.norm(dim=1, keepdim=True)).requires_grad_()
    optimizer = torch.optim.Adam([points], lr=lr)
    ratio = end_tau / start_tau
    with torch.enable_grad():
        for index in range(steps):
            progress = index / max(1, steps - 1)
            tau = start_tau * ratio**progress
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.01**progress
            optimizer.zero_grad()
            unit = points / points.norm(dim=1, keepdim=True)
            loss = separation_loss(unit, "worst_pair", temperature=tau)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                points /= points.norm(dim=1, keepdim=True)
    return points.detach()
