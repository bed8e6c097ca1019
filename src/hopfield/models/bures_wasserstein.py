"""Dense Associative Memory of Gaussians on the Bures–Wasserstein space.

Tankala & Balasubramanian (2025), "Dense Associative Memory on the Bures–Wasserstein
Space" (arXiv 2509.23162). Stored patterns are Gaussians X_i = N(μ_i, Σ_i), the state is
a Gaussian ξ = N(m, Ω), and the similarity is the 2-Wasserstein distance, closed form
for Gaussians:

    W₂²(X_i, ξ) = ‖μ_i − m‖² + tr Σ_i + tr Ω − 2 tr (Σ_i^{1/2} Ω Σ_i^{1/2})^{1/2}.

Energy (log-sum-exp of negative squared distances) and Gibbs weights:

    E(ξ) = −β⁻¹ log Σ_i exp(−β W₂²(X_i, ξ)),     w_i(ξ) = softmax_i(−β W₂²(X_i, ξ)).

Retrieval pushes ξ forward through the Gibbs average of the optimal-transport maps
T_i(x) = μ_i + A_i (x − m) from ξ to X_i,

    A_i = Σ_i^{1/2} (Σ_i^{1/2} Ω Σ_i^{1/2})^{−1/2} Σ_i^{1/2}     (so A_i Ω A_i = Σ_i),
    Φ(ξ) = (Σ_i w_i T_i)_# ξ = N(Σ_i w_i μ_i, Ã Ω Ã),   Ã = Σ_i w_i A_i,

iterated until the W₂ change is below ``tol`` (fixed points are self-consistent
Gibbs-weighted Wasserstein barycentres). This is the formulation of the paper's
official code (``ddam/algorithms.py``); any normalising constants of the energy are
left out because they do not change weights, maps or minima.

For covariances sharing one eigenbasis U (Σ_i = U diag(λ_i) Uᵀ, Ω = U diag(ω) Uᵀ),
W₂² = ‖μ_i − m‖² + ‖√λ_i − √ω‖² and Φ is exactly the modern Hopfield (distance
softmax) update ``v ← Σ_i softmax_i(−β‖v_i − v‖²) v_i`` on ``v = [m, √ω]`` (a reviewer's
observation, checked by the tests). Non-commuting covariances are supported by the
algorithm but carry no retrieval guarantee. The step is a barycentre-type fixed-point
map, not a guaranteed energy descent; :meth:`recall` records the energy trace.

Matrix square roots are batched ``torch.linalg.eigh`` decompositions with eigenvalues
clamped at ``eig_floor`` (for inverse roots) or 0 (for roots).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hopfield._deprecated import keywords_after_first, moved_attribute
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
from hopfield.models.base import MemorySpec, RecallResult, check_mask, legacy_recall_steps

__all__ = [
    "BuresWassersteinMemory",
    "commuting_gaussians_on_sphere",
    "inverse_sqrtm_psd",
    "sqrtm_psd",
    "wasserstein2_squared",
]


def __getattr__(name: str) -> Any:
    """``GaussianRecallResult`` is the deprecated name of :class:`RecallResult`."""
    return moved_attribute(__name__, name)


# --- symmetric matrix functions ---------------------------------------------------------
def _symmetrize(matrices: torch.Tensor) -> torch.Tensor:
    return 0.5 * (matrices + matrices.transpose(-1, -2))


def _eig_function(matrices: torch.Tensor, power: float, floor: float) -> torch.Tensor:
    """V diag(max(λ, floor)^power) Vᵀ for a batch of symmetric matrices."""
    eigenvalues, vectors = torch.linalg.eigh(_symmetrize(matrices))
    scaled = eigenvalues.clamp_min(floor) ** power
    return (vectors * scaled.unsqueeze(-2)) @ vectors.transpose(-1, -2)


def sqrtm_psd(matrices: torch.Tensor) -> torch.Tensor:
    """Symmetric square root ``S^{1/2}`` of a batch ``(..., d, d)`` of PSD matrices (eigh,
    negative round-off eigenvalues clamped to 0)."""
    tensor = check_floating(matrices, "matrices")
    _check_square(tensor, "matrices")
    return _eig_function(tensor, 0.5, 0.0)


def inverse_sqrtm_psd(matrices: torch.Tensor, eig_floor: float = 1e-12) -> torch.Tensor:
    """Inverse symmetric square root ``S^{−1/2}`` of a batch ``(..., d, d)`` of PSD matrices;
    eigenvalues are clamped at ``eig_floor`` first."""
    tensor = check_floating(matrices, "matrices")
    _check_square(tensor, "matrices")
    return _eig_function(tensor, -0.5, check_positive(eig_floor, "eig_floor"))


def _check_square(tensor: torch.Tensor, name: str) -> None:
    if tensor.ndim < 2 or tensor.shape[-1] != tensor.shape[-2]:
        raise ValueError(f"{name} must have shape (..., d, d), got {tuple(tensor.shape)}")


def _check_spd(covariances: torch.Tensor, name: str) -> None:
    """Symmetric (to 1e-8 relative) with a positive smallest eigenvalue."""
    if covariances.numel() == 0:
        return
    scale = covariances.abs().amax().clamp_min(1e-300)
    asymmetry = (covariances - covariances.transpose(-1, -2)).abs().amax() / scale
    if float(asymmetry) > 1e-8:
        raise ValueError(f"{name} must be symmetric, got relative asymmetry {float(asymmetry):.3g}")
    smallest = torch.linalg.eigvalsh(covariances.to(torch.float64)).amin()
    if float(smallest) <= 0:
        raise ValueError(
            f"{name} must be symmetric positive definite, got smallest eigenvalue "
            f"{float(smallest):.3g}"
        )


def _check_gaussians(means: object, covariances: object, prefix: str) -> tuple[torch.Tensor, ...]:
    mu = check_floating(means, f"{prefix}means")
    cov = check_floating(covariances, f"{prefix}covariances")
    check_rank(mu, f"{prefix}means", 2, "(B, d)")
    check_rank(cov, f"{prefix}covariances", 3, "(B, d, d)")
    count, dim = mu.shape
    if tuple(cov.shape) != (count, dim, dim):
        raise ValueError(
            f"{prefix}covariances must have shape ({count}, {dim}, {dim}) to match "
            f"{prefix}means {tuple(mu.shape)}, got {tuple(cov.shape)}"
        )
    check_finite(mu, f"{prefix}means")
    check_finite(cov, f"{prefix}covariances")
    _check_spd(cov, f"{prefix}covariances")
    return mu, cov


# --- closed-form W₂ ----------------------------------------------------------------------
def _cross_root_trace(root_a: torch.Tensor, cov_b: torch.Tensor) -> torch.Tensor:
    """tr (A^{1/2} B A^{1/2})^{1/2} for broadcastable batches of roots and covariances."""
    inner = _symmetrize(root_a @ cov_b @ root_a)
    return torch.linalg.eigvalsh(inner).clamp_min(0).sqrt().sum(-1)


def wasserstein2_squared(
    means_a: torch.Tensor,
    covariances_a: torch.Tensor,
    means_b: torch.Tensor,
    covariances_b: torch.Tensor,
) -> torch.Tensor:
    """Pairwise W₂² between Gaussians: ``(P, d), (P, d, d)`` and ``(Q, d), (Q, d, d)`` → ``(P, Q)``.

    ``W₂² = ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}``
    (clamped at 0 against round-off).
    """
    mu_a, cov_a = _check_gaussians(means_a, covariances_a, "a: ")
    mu_b, cov_b = _check_gaussians(means_b, covariances_b, "b: ")
    if mu_a.shape[1] != mu_b.shape[1]:
        raise ValueError(f"dimensions differ: a has d={mu_a.shape[1]}, b has d={mu_b.shape[1]}")
    return _w2_squared(mu_a, cov_a, _eig_function(cov_a, 0.5, 0.0), mu_b, cov_b)


def _w2_squared(
    mu_a: torch.Tensor,
    cov_a: torch.Tensor,
    root_a: torch.Tensor,
    mu_b: torch.Tensor,
    cov_b: torch.Tensor,
) -> torch.Tensor:
    mean_term = torch.cdist(mu_a, mu_b).square()
    traces = cov_a.diagonal(0, -2, -1).sum(-1)[:, None] + cov_b.diagonal(0, -2, -1).sum(-1)
    cross = _cross_root_trace(root_a[:, None], cov_b[None])
    return (mean_term + traces - 2 * cross).clamp_min(0)


# --- the memory --------------------------------------------------------------------------
def _derive_roots(module: BuresWassersteinMemory, _keys: object) -> None:
    """After ``load_state_dict``: the covariance square roots (not saved) from the covariances."""
    if module.covariances.numel():
        module.covariance_roots = _eig_function(module.covariances, 0.5, 0.0)


class BuresWassersteinMemory(nn.Module):
    """Dense AM on Gaussians with energy ``E(ξ) = −β⁻¹ log Σ_i exp(−β W₂²(X_i, ξ))``.

    Update (Tankala & Balasubramanian 2025): ``w = softmax(−β W₂²(X, ξ))``,
    ``A_i = Σ_i^{1/2}(Σ_i^{1/2} Ω Σ_i^{1/2})^{−1/2}Σ_i^{1/2}``, ``Ã = Σ_i w_i A_i``,
    ``(m, Ω) ← (Σ_i w_i μ_i, Ã Ω Ã)``. See the module docstring for the math.

    Args:
        beta: inverse temperature β > 0.
        max_iterations: default number of steps of :meth:`recall`.
        tol: stop when every state moved by W₂ ≤ tol in one step.
        eig_floor: eigenvalue clamp of inverse square roots.

    Buffers (after :meth:`store`): ``means`` ``(K, d)``, ``covariances`` ``(K, d, d)`` and
    their square roots ``covariance_roots`` ``(K, d, d)``.
    """

    registry = (
        MemorySpec(
            "bures-wasserstein",
            "gaussian",
            "E(ξ) = −β⁻¹ log Σ_i exp(−β W₂²(X_i, ξ))",
            "Tankala & Balasubramanian (2025)",
            default_beta=1.0,
        ),
    )

    means: torch.Tensor
    covariances: torch.Tensor
    covariance_roots: torch.Tensor

    def __init__(
        self,
        beta: float = 1.0,
        *,
        max_iterations: int = 10,
        tol: float = 1e-6,
        eig_floor: float = 1e-12,
    ) -> None:
        super().__init__()
        self.beta = check_positive(beta, "beta")
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int):
            raise TypeError(f"max_iterations must be an int, got {type(max_iterations).__name__}")
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be ≥ 1, got {max_iterations}")
        self.max_iterations = max_iterations
        self.tol = check_positive(tol, "tol", allow_zero=True)
        self.eig_floor = check_positive(eig_floor, "eig_floor")
        for name in ("means", "covariances", "covariance_roots"):
            self.register_buffer(name, torch.empty(0), persistent=name != "covariance_roots")
        self.register_load_state_dict_post_hook(_derive_roots)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return {
            "beta": self.beta,
            "max_iterations": self.max_iterations,
            "tol": self.tol,
            "eig_floor": self.eig_floor,
        }

    # --- storage -------------------------------------------------------------------------
    @keywords_after_first("covariances")
    def store(self, means: torch.Tensor, *, covariances: torch.Tensor) -> None:
        """Store K Gaussians N(μ_i, Σ_i): ``means (K, d)``, SPD ``covariances (K, d, d)``."""
        mu, cov = _check_gaussians(means, covariances, "")
        if mu.shape[0] == 0:
            raise ValueError(
                "means and covariances must hold at least one Gaussian (K ≥ 1), "
                f"got means {tuple(mu.shape)}"
            )
        dtype = torch.promote_types(mu.dtype, cov.dtype)
        if dtype in (torch.float16, torch.bfloat16):  # no eigh in half precision
            dtype = torch.float32
        mu, cov = mu.to(dtype), cov.to(dtype)
        self.means = mu.detach().clone()
        self.covariances = _symmetrize(cov.detach())
        self.covariance_roots = _eig_function(self.covariances, 0.5, 0.0)

    @property
    def num_memories(self) -> int:
        return int(self.means.shape[0]) if self.means.ndim == 2 else 0

    def _require_memories(self) -> None:
        if self.num_memories == 0:
            raise EmptyMemoryError("no Gaussians stored: call store(means, covariances) first")

    def _check_state(self, means: object, covariances: object) -> tuple[torch.Tensor, ...]:
        self._require_memories()
        mu, cov = _check_gaussians(means, covariances, "state ")
        if mu.shape[1] != self.means.shape[1]:
            raise ValueError(
                f"state means must have shape (B, {self.means.shape[1]}), got {tuple(mu.shape)}"
            )
        # checked again after the cast: 1e39 is finite in float64, inf in float32
        dtype = self.means.dtype
        return cast_finite(mu, "state means", dtype), cast_finite(cov, "state covariances", dtype)

    # --- closed forms --------------------------------------------------------------------
    def distances(self, means: torch.Tensor, covariances: torch.Tensor) -> torch.Tensor:
        """W₂²(X_i, ξ_b) ``(B, K)`` for states ``(B, d), (B, d, d)``."""
        mu, cov = self._check_state(means, covariances)
        return self._distances(mu, cov)

    def _distances(self, mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        return _w2_squared(self.means, self.covariances, self.covariance_roots, mu, cov).transpose(
            0, 1
        )

    @keywords_after_first("covariances")
    def energy(self, means: torch.Tensor, *, covariances: torch.Tensor) -> torch.Tensor:
        """``E(ξ) = −β⁻¹ log Σ_i exp(−β W₂²(X_i, ξ))`` ``(B,)``."""
        return -torch.logsumexp(-self.beta * self.distances(means, covariances), 1) / self.beta

    def weights(self, means: torch.Tensor, covariances: torch.Tensor) -> torch.Tensor:
        """Gibbs weights ``softmax_i(−β W₂²(X_i, ξ))`` ``(B, K)``."""
        return torch.softmax(-self.beta * self.distances(means, covariances), dim=1)

    def transport_maps(self, covariances: torch.Tensor) -> torch.Tensor:
        """OT maps' linear parts ``A_i = Σ_i^{1/2}(Σ_i^{1/2} Ω Σ_i^{1/2})^{−1/2}Σ_i^{1/2}``
        from N(·, Ω_b) to each stored Gaussian, ``(B, K, d, d)``; ``A_i Ω A_i = Σ_i``."""
        self._require_memories()
        cov = check_floating(covariances, "covariances")
        check_rank(cov, "covariances", 3, "(B, d, d)")
        mu = torch.zeros(cov.shape[0], self.means.shape[1], dtype=cov.dtype, device=cov.device)
        mu, cov = self._check_state(mu, cov)
        return self._maps_and_distances(mu, cov)[0]

    def _maps_and_distances(
        self, mu: torch.Tensor, cov: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One eigh of ``M_bi = Σ_i^{1/2} Ω_b Σ_i^{1/2}`` gives both tr M^{1/2} and A_i."""
        roots = self.covariance_roots[None]  # (1, K, d, d)
        inner = _symmetrize(roots @ cov[:, None] @ roots)  # (B, K, d, d)
        eigenvalues, vectors = torch.linalg.eigh(inner)
        cross = eigenvalues.clamp_min(0).sqrt().sum(-1)  # (B, K)
        inv_root = (
            vectors * eigenvalues.clamp_min(self.eig_floor).rsqrt().unsqueeze(-2)
        ) @ vectors.transpose(-1, -2)
        maps = _symmetrize(roots @ inv_root @ roots)
        traces = (
            self.covariances.diagonal(0, -2, -1).sum(-1) + cov.diagonal(0, -2, -1).sum(-1)[:, None]
        )
        distances = (torch.cdist(mu, self.means).square() + traces - 2 * cross).clamp_min(0)
        return maps, distances

    # --- dynamics ------------------------------------------------------------------------
    @keywords_after_first("covariances")
    def step(
        self,
        means: torch.Tensor,
        *,
        covariances: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One retrieval step ``(m, Ω) ← (Σ_i w_i μ_i, Ã Ω Ã)``, batched ``(B, d), (B, d, d)``;
        the state is the pair, so both come back. Mean entries where ``mask`` ``(B, d)``
        is True keep their value."""
        mu, cov = self._check_state(means, covariances)
        new_mu, new_cov = self._step(mu, cov)
        held = check_mask(mask, mu)
        return (new_mu if held is None else torch.where(held, mu, new_mu)), new_cov

    def _step(self, mu: torch.Tensor, cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps, distances = self._maps_and_distances(mu, cov)
        weights = torch.softmax(-self.beta * distances, dim=1)  # (B, K)
        new_mu = weights @ self.means
        averaged = torch.einsum("bk,bkij->bij", weights, maps)
        return new_mu, _symmetrize(averaged @ cov @ averaged)

    def recall(
        self,
        means: torch.Tensor,
        *legacy: Any,
        covariances: torch.Tensor | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        tol: float | None = None,
        mask: torch.Tensor | None = None,
        until_converged: bool | None = None,
    ) -> RecallResult:
        """Iterate :meth:`step` from the Gaussians ``(means, covariances)``: exactly
        ``steps`` times, or with ``steps=None`` until every state moved by W₂ ≤ ``tol``
        (default: the constructor's) or ``max_steps`` (default ``max_iterations``).
        ``extras["covariances"]`` holds the final covariances ``(B, d, d)``. The former
        call ``recall(means, covariances, steps, until_converged)`` still works, with a
        warning."""
        if legacy or until_converged is not None:
            covariances, legacy = (legacy[0], legacy[1:]) if legacy else (covariances, ())
            steps, max_steps = legacy_recall_steps(legacy, steps, max_steps, until_converged)
        if covariances is None:
            raise TypeError("recall() needs covariances=…, the (B, d, d) state covariances")
        mu, cov = self._check_state(means, covariances)
        limit = self._limit(steps, max_steps)
        tol = self.tol if tol is None else check_positive(tol, "tol", allow_zero=True)
        held = check_mask(mask, mu)
        energies = [self._energy(mu, cov)]
        converged = torch.zeros(mu.shape[0], dtype=torch.bool, device=mu.device)
        taken = 0
        for _ in range(limit):
            new_mu, new_cov = self._step(mu, cov)
            if held is not None:
                new_mu = torch.where(held, mu, new_mu)
            moved = self._pairwise_diagonal_w2(mu, cov, new_mu, new_cov)
            mu, cov, taken = new_mu, new_cov, taken + 1
            energies.append(self._energy(mu, cov))
            converged = moved <= tol**2
            if steps is None and bool(converged.all()):
                break
        return RecallResult(
            mu, torch.stack(energies), taken, converged, extras={"covariances": cov}
        )

    def _limit(self, steps: int | None, max_steps: int | None) -> int:
        if steps is not None:
            return check_int(steps, "steps", 0)
        return self.max_iterations if max_steps is None else check_int(max_steps, "max_steps")

    def _energy(self, mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        return -torch.logsumexp(-self.beta * self._distances(mu, cov), 1) / self.beta

    @staticmethod
    def _pairwise_diagonal_w2(
        mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor, cov_b: torch.Tensor
    ) -> torch.Tensor:
        """W₂² between the b-th Gaussians of two batches ``(B,)``."""
        root_a = _eig_function(cov_a, 0.5, 0.0)
        cross = _cross_root_trace(root_a, cov_b)
        traces = cov_a.diagonal(0, -2, -1).sum(-1) + cov_b.diagonal(0, -2, -1).sum(-1)
        return ((mu_a - mu_b).square().sum(-1) + traces - 2 * cross).clamp_min(0)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, memories={self.num_memories}, steps={self.max_iterations}"


# --- synthetic data ----------------------------------------------------------------------
def commuting_gaussians_on_sphere(
    count: int,
    dim: int,
    *,
    radius: float | None = None,
    eig_range: tuple[float, float] = (1.0, 1.1),
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` Gaussians with commuting covariances on the W₂-sphere of ``radius``.

    The setting of Tankala & Balasubramanian's synthetic experiments: one random
    orthogonal basis U shared by all covariances Σ_i = U diag(λ_i) Uᵀ with λ_i uniform
    in ``eig_range``, and means in uniformly random directions scaled so that
    ``‖μ_i‖² + tr Σ_i = R²`` (the W₂ distance of N(μ_i, Σ_i) to the Dirac at 0 is R);
    default ``R = √(2d)``.

    Returns ``(means (K, d), covariances (K, d, d), basis U (d, d))``.
    """
    for name, value in (("count", count), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
    low, high = (float(v) for v in eig_range)
    if not 0 < low <= high:
        raise ValueError(f"eig_range must satisfy 0 < low ≤ high, got {eig_range}")
    r_squared = 2.0 * dim if radius is None else check_positive(radius, "radius") ** 2
    if r_squared < dim * high:
        raise ValueError(
            f"radius² = {r_squared:.3g} must be ≥ d·max eigenvalue = {dim * high:.3g} so "
            "that the means have a real norm"
        )
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    gen = generator if generator is not None else make_generator(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    eigenvalues = low + (high - low) * torch.rand(count, dim, generator=gen, dtype=torch.float64)
    covariances = (basis * eigenvalues[:, None, :]) @ basis.T
    directions = torch.randn(count, dim, generator=gen, dtype=torch.float64)
    directions = directions / directions.norm(dim=1, keepdim=True)
    norms = (r_squared - eigenvalues.sum(1)).clamp_min(0).sqrt()
    means = directions * norms[:, None]
    return means.to(dtype), _symmetrize(covariances).to(dtype), basis.to(dtype)
