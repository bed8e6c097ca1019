"""Bures–Wasserstein Dense AM: closed forms, OT maps, commuting-case oracle, retrieval."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from hopfield.models.bures_wasserstein import (
    BuresWassersteinMemory,
    commuting_gaussians_on_sphere,
    inverse_sqrtm_psd,
    sqrtm_psd,
    wasserstein2_squared,
)


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """These tests run many small-matrix ops, for which intra-op threads only add
    synchronisation (and thrash on a loaded 2-core machine): run them on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


F64 = torch.float64


def _random_spd(count: int, dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    factors = torch.randn(count, dim, dim, generator=generator, dtype=F64)
    return factors @ factors.transpose(1, 2) / dim + 0.2 * torch.eye(dim, dtype=F64)


def _perturbed_queries(
    means: torch.Tensor, covariances: torch.Tensor, seed: int, mean_shift: float = 0.9
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean moved by ``mean_shift`` in a random direction; Ω = PΣPᵀ with P = I + 0.05 G
    (a non-commuting covariance perturbation)."""
    generator = torch.Generator().manual_seed(seed)
    count, dim = means.shape
    noise = torch.randn(count, dim, generator=generator, dtype=F64)
    query_means = means + mean_shift * noise / noise.norm(dim=1, keepdim=True)
    shear = torch.eye(dim, dtype=F64) + 0.05 * torch.randn(
        count, dim, dim, generator=generator, dtype=F64
    )
    return query_means, shear @ covariances @ shear.transpose(1, 2)


def test_matrix_roots_square_back_and_invert() -> None:
    spd = _random_spd(6, 5, seed=0)
    root = sqrtm_psd(spd)
    torch.testing.assert_close(root @ root, spd, atol=1e-12, rtol=0)
    torch.testing.assert_close(root, root.transpose(1, 2))
    inverse_root = inverse_sqrtm_psd(spd)
    eye = torch.eye(5, dtype=F64).expand(6, 5, 5)
    torch.testing.assert_close(inverse_root @ spd @ inverse_root, eye, atol=1e-10, rtol=0)


def test_w2_closed_form_diagonal_covariances() -> None:
    """Diagonal covariances: W₂² = ‖μ−m‖² + ‖√λ − √ω‖² (computed independently)."""
    generator = torch.Generator().manual_seed(1)
    mu_a, mu_b = torch.randn(3, 4, generator=generator, dtype=F64), torch.randn(5, 4, dtype=F64)
    lam_a = torch.rand(3, 4, generator=generator, dtype=F64) + 0.1
    lam_b = torch.rand(5, 4, generator=generator, dtype=F64) + 0.1
    got = wasserstein2_squared(mu_a, torch.diag_embed(lam_a), mu_b, torch.diag_embed(lam_b))
    expected = ((mu_a[:, None] - mu_b[None]) ** 2).sum(-1) + (
        (lam_a.sqrt()[:, None] - lam_b.sqrt()[None]) ** 2
    ).sum(-1)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_w2_is_symmetric_and_zero_on_diagonal_for_general_covariances() -> None:
    cov = _random_spd(4, 3, seed=2)
    mu = torch.randn(4, 3, dtype=F64)
    distances = wasserstein2_squared(mu, cov, mu, cov)
    torch.testing.assert_close(distances, distances.T, atol=1e-10, rtol=0)
    assert float(distances.diagonal().abs().max()) < 1e-10
    assert float(distances.fill_diagonal_(1.0).min()) > 0


def test_transport_maps_push_state_covariance_onto_stored() -> None:
    """A_i Ω A_i = Σ_i for non-commuting Σ_i and Ω; A_i symmetric positive definite."""
    memory = BuresWassersteinMemory()
    memory.store(torch.randn(5, 4, dtype=F64), _random_spd(5, 4, 3))
    omega = _random_spd(3, 4, seed=4)
    maps = memory.transport_maps(omega)
    assert maps.shape == (3, 5, 4, 4)
    pushed = maps @ omega[:, None] @ maps
    torch.testing.assert_close(pushed, memory.covariances.expand_as(pushed), atol=1e-11, rtol=0)
    assert float(torch.linalg.eigvalsh(maps).min()) > 0


def test_energy_and_weights_match_definition() -> None:
    means, cov = torch.randn(6, 3, dtype=F64), _random_spd(6, 3, seed=5)
    memory = BuresWassersteinMemory(beta=0.7)
    memory.store(means, cov)
    q_mu, q_cov = torch.randn(2, 3, dtype=F64), _random_spd(2, 3, seed=6)
    distances = wasserstein2_squared(q_mu, q_cov, means, cov)
    expected = -torch.log(torch.exp(-0.7 * distances).sum(1)) / 0.7
    torch.testing.assert_close(memory.energy(q_mu, q_cov), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(memory.weights(q_mu, q_cov).sum(1), torch.ones(2, dtype=F64))


def _distance_softmax_update(
    vectors: torch.Tensor, query: torch.Tensor, beta: float
) -> torch.Tensor:
    """Modern Hopfield update with distance softmax, written out: Σ_i softmax(−β‖v_i − v‖²) v_i."""
    squared = ((query[:, None, :] - vectors[None]) ** 2).sum(-1)
    return torch.softmax(-beta * squared, dim=1) @ vectors


@pytest.mark.parametrize("beta", [0.3, 1.0, 3.0])
def test_commuting_case_equals_distance_softmax_hopfield(beta: float) -> None:
    """Commuting covariances on the W₂-sphere: one BW step = the modern Hopfield step on
    v = [μ, √eig Σ] ∈ R^{2d} (eigenvalues in the shared basis U), to 1e-10 in float64."""
    means, cov, basis = commuting_gaussians_on_sphere(50, 10, seed=7)
    memory = BuresWassersteinMemory(beta=beta)
    memory.store(means, cov)
    generator = torch.Generator().manual_seed(8)
    q_mu = means[:6] + 0.5 * torch.randn(6, 10, generator=generator, dtype=F64)
    omega_eigs = 1.0 + 0.3 * torch.rand(6, 10, generator=generator, dtype=F64)
    q_cov = (basis * omega_eigs[:, None, :]) @ basis.T

    new_mu, new_cov = memory.step(q_mu, q_cov)

    stored_eigs = torch.einsum("ji,kjl,li->ki", basis, cov, basis)
    vectors = torch.cat([means, stored_eigs.sqrt()], dim=1)
    query = torch.cat([q_mu, omega_eigs.sqrt()], dim=1)
    expected = _distance_softmax_update(vectors, query, beta)
    new_eigs = torch.einsum("ji,bjl,li->bi", basis, new_cov, basis)
    assert float((new_mu - expected[:, :10]).abs().max()) < 1e-10
    assert float((new_eigs.sqrt() - expected[:, 10:]).abs().max()) < 1e-10
    # the new covariance still commutes with the basis (off-diagonal part vanishes)
    rotated = basis.T @ new_cov @ basis
    off_diagonal = rotated - torch.diag_embed(rotated.diagonal(0, -2, -1))
    assert float(off_diagonal.abs().max()) < 1e-10


def test_commuting_case_matches_library_modern_hopfield() -> None:
    """Same oracle through hopfield.models.modern.ModernHopfield (Euclidean similarity)."""
    modern = pytest.importorskip("hopfield.models.modern")
    means, cov, basis = commuting_gaussians_on_sphere(20, 6, seed=9)
    beta = 0.8
    memory = BuresWassersteinMemory(beta=beta)
    memory.store(means, cov)
    q_mu = means[:4] + 0.3
    omega_eigs = torch.full((4, 6), 1.05, dtype=F64)
    q_cov = (basis * omega_eigs[:, None, :]) @ basis.T
    new_mu, new_cov = memory.step(q_mu, q_cov)
    stored_eigs = torch.einsum("ji,kjl,li->ki", basis, cov, basis)
    vectors = torch.cat([means, stored_eigs.sqrt()], dim=1)
    query = torch.cat([q_mu, omega_eigs.sqrt()], dim=1)
    # softmax(−β‖·‖²) is the Gaussian-kernel softmax exp(−(β'/2)‖·‖²) with β' = 2β
    oracle = modern.ModernHopfield(2 * beta, similarity="euclidean").to(F64)
    oracle.store(vectors)
    expected = oracle.step(query)
    new_eigs = torch.einsum("ji,bjl,li->bi", basis, new_cov, basis)
    assert float((new_mu - expected[:, :6]).abs().max()) < 1e-10
    assert float((new_eigs.sqrt() - expected[:, 6:]).abs().max()) < 1e-10


def test_five_steps_from_perturbation_reach_stored_gaussian() -> None:
    """d = 10, K = 50, β = 1 (papers.md: W₂² 0.93 → 1.4e-5): W₂² ≈ 0.95 before; after five
    steps the median is below 1e-4, and below 1e-4 for every pattern whose nearest other
    pattern is at W₂² ≥ 8 (closer pairs settle at a barycentre biased by the neighbour)."""
    means, cov, _ = commuting_gaussians_on_sphere(50, 10, seed=0)
    memory = BuresWassersteinMemory(beta=1.0)
    memory.store(means, cov)
    q_mu, q_cov = _perturbed_queries(means, cov, seed=100)
    before = wasserstein2_squared(q_mu, q_cov, means, cov).diagonal()
    result = memory.recall(q_mu, q_cov, steps=5, until_converged=False)
    after = wasserstein2_squared(result.states, result.covariances, means, cov).diagonal()
    assert 0.8 < float(before.median()) < 1.1
    assert result.steps == 5
    assert float(after.median()) < 1e-4
    separation = wasserstein2_squared(means, cov, means, cov).fill_diagonal_(torch.inf).amin(1)
    assert int((separation >= 8).sum()) >= 10
    assert float(after[separation >= 8].max()) < 1e-4
    # the energy went down from every query
    assert bool((result.energies[-1] < result.energies[0]).all())


def test_larger_beta_retrieves_every_pattern() -> None:
    means, cov, _ = commuting_gaussians_on_sphere(50, 10, seed=0)
    memory = BuresWassersteinMemory(beta=4.0)
    memory.store(means, cov)
    q_mu, q_cov = _perturbed_queries(means, cov, seed=101)
    result = memory.recall(q_mu, q_cov)
    after = wasserstein2_squared(result.states, result.covariances, means, cov).diagonal()
    assert float(after.max()) < 1e-6
    assert float(after.median()) < 1e-12
    assert bool(result.converged.all())
    assert result.steps < memory.max_iterations


def test_stored_gaussians_are_near_fixed_points_at_low_load() -> None:
    means, cov, _ = commuting_gaussians_on_sphere(10, 8, seed=11)
    memory = BuresWassersteinMemory(beta=4.0)
    memory.store(means, cov)
    new_mu, new_cov = memory.step(means, cov)
    moved = wasserstein2_squared(new_mu, new_cov, means, cov).diagonal()
    assert float(moved.max()) < 1e-9


def test_validation_errors() -> None:
    memory = BuresWassersteinMemory()
    with pytest.raises(RuntimeError, match="store"):
        memory.energy(torch.zeros(1, 2, dtype=F64), torch.eye(2, dtype=F64)[None])
    with pytest.raises(ValueError, match="covariances"):
        memory.store(torch.zeros(3, 2), torch.eye(2).expand(2, 2, 2))
    with pytest.raises(ValueError, match="positive definite"):
        memory.store(torch.zeros(1, 2), torch.tensor([[[1.0, 0.0], [0.0, -1.0]]]))
    with pytest.raises(ValueError, match="symmetric"):
        memory.store(torch.zeros(1, 2), torch.tensor([[[1.0, 0.5], [0.0, 1.0]]]))
    with pytest.raises(TypeError, match="means"):
        memory.store(torch.zeros(1, 2, dtype=torch.int64), torch.eye(2)[None])
    with pytest.raises(ValueError, match="beta"):
        BuresWassersteinMemory(beta=0.0)
    memory.store(torch.zeros(2, 3, dtype=F64), torch.eye(3, dtype=F64).expand(2, 3, 3))
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        memory.step(torch.zeros(1, 2, dtype=F64), torch.eye(2, dtype=F64)[None])
    with pytest.raises(ValueError, match="radius"):
        commuting_gaussians_on_sphere(3, 4, radius=1.0)
