"""Kernelized Hopfield: identity = modern Hopfield, CCCP descent, Stage I, spherical codes."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.models.kernelized import (
    KernelizedHopfield,
    min_pairwise_angle,
    optimize_spherical_code,
    separation_loss,
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
NORMALIZERS = ("softmax", "entmax15", "sparsemax")


def correlated_patterns(count: int, dim: int, shared: float, seed: int) -> torch.Tensor:
    """Unit patterns ξ_μ ∝ shared·c + z_μ (c a common unit vector, z_μ ~ N(0, I/d))."""
    generator = torch.Generator().manual_seed(seed)
    common = torch.randn(dim, generator=generator, dtype=F64)
    noise = torch.randn(count, dim, generator=generator, dtype=F64) / math.sqrt(dim)
    patterns = shared * common / common.norm() + noise
    return patterns / patterns.norm(dim=1, keepdim=True)


def recalled_count(memory: KernelizedHopfield, patterns: torch.Tensor) -> int:
    """Patterns whose k-CCCP fixed point (started at the pattern) is nearest to it and
    within 10 % of its norm."""
    final = memory.recall(patterns, steps=100).states
    distances = torch.cdist(final, patterns)
    nearest = distances.argmin(1) == torch.arange(patterns.shape[0])
    close = distances.diagonal() < 0.1 * patterns.norm(dim=1)
    return int((nearest & close).sum())


def test_identity_feature_map_is_modern_hopfield_update() -> None:
    xi = torch.randn(12, 6, dtype=F64)
    x = torch.randn(5, 6, dtype=F64)
    memory = KernelizedHopfield(6, beta=0.7)
    memory.store(xi)
    expected = torch.softmax(0.7 * x @ xi.T, dim=1) @ xi
    torch.testing.assert_close(memory.step(x), expected, atol=1e-13, rtol=0)
    expected_energy = 0.5 * x.square().sum(1) - torch.logsumexp(0.7 * x @ xi.T, 1) / 0.7
    torch.testing.assert_close(memory.energy(x), expected_energy, atol=1e-12, rtol=0)


def test_identity_feature_map_matches_library_modern_hopfield() -> None:
    modern = pytest.importorskip("hopfield.models.modern")
    xi = torch.randn(12, 6, dtype=F64)
    x = torch.randn(5, 6, dtype=F64)
    oracle = modern.ModernHopfield(1.3, similarity="dot")
    oracle.store(xi)
    memory = KernelizedHopfield(6, beta=1.3)
    memory.store(xi)
    torch.testing.assert_close(memory.step(x), oracle.step(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("normalizer", NORMALIZERS)
def test_energy_gradient_closed_form(normalizer: str) -> None:
    """∇E(x) = WᵀW (x − Ξᵀ p(x)) (float64 autograd vs closed form); scales chosen so the
    sparse normalisers have several memories in their support (else J = 0)."""
    generator = torch.Generator().manual_seed(0)
    xi = 0.6 * torch.randn(9, 5, generator=generator, dtype=F64)
    weight = torch.randn(7, 5, generator=generator, dtype=F64) / math.sqrt(7)
    memory = KernelizedHopfield(7, beta=1.5, normalizer=normalizer)  # type: ignore[arg-type]
    memory.set_feature_map(weight).store(xi)
    x = 0.6 * torch.randn(4, 5, generator=generator, dtype=F64)
    assert int(((memory.probabilities(x) > 0).sum(1) >= 2).sum()) >= 3
    x.requires_grad_()
    (grad,) = torch.autograd.grad(memory.energy(x).sum(), x)
    metric = weight.T @ weight
    expected = (x.detach() - memory.step(x.detach())) @ metric
    torch.testing.assert_close(grad, expected, atol=1e-10, rtol=0)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 10_000),
    beta=st.floats(0.1, 20.0),
    normalizer=st.sampled_from(NORMALIZERS),
    feature_dim=st.integers(2, 8),
)
def test_property_cccp_never_increases_energy(
    seed: int, beta: float, normalizer: str, feature_dim: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    xi = torch.randn(10, 5, generator=generator, dtype=F64)
    weight = torch.randn(feature_dim, 5, generator=generator, dtype=F64)
    memory = KernelizedHopfield(feature_dim, beta=beta, normalizer=normalizer)  # type: ignore[arg-type]
    memory.set_feature_map(weight).store(xi)
    x = 2 * torch.randn(6, 5, generator=generator, dtype=F64)
    energies = memory.recall(x, steps=8, until_converged=False).energies
    scale = 1 + energies.abs()
    assert bool((energies[1:] <= energies[:-1] + 1e-9 * scale[:-1]).all())


@pytest.mark.parametrize("normalizer", NORMALIZERS)
def test_well_separated_patterns_are_fixed_points(normalizer: str) -> None:
    xi = torch.eye(6, dtype=F64) * 3
    memory = KernelizedHopfield(6, beta=4.0, normalizer=normalizer)  # type: ignore[arg-type]
    memory.store(xi)
    torch.testing.assert_close(memory.step(xi), xi, atol=1e-10, rtol=0)


def test_sparse_normalizers_give_exact_zero_weights() -> None:
    xi = torch.randn(20, 8, dtype=F64)
    x = xi[:3] + 0.1 * torch.randn(3, 8, dtype=F64)
    dense_memory = KernelizedHopfield(8, beta=2.0)
    dense_memory.store(xi)
    sparse_memory = KernelizedHopfield(8, beta=2.0, normalizer="entmax15")
    sparse_memory.store(xi)
    dense, sparse = dense_memory.probabilities(x), sparse_memory.probabilities(x)
    assert int((dense == 0).sum()) == 0
    assert int((sparse == 0).sum()) > 0
    torch.testing.assert_close(sparse.sum(1), torch.ones(3, dtype=F64))


@pytest.mark.parametrize("loss", ["uniformity", "worst_pair"])
def test_fit_feature_map_increases_separation(loss: str) -> None:
    xi = correlated_patterns(16, 8, shared=2.0, seed=1)
    memory = KernelizedHopfield(8, beta=1.0)
    before = min_pairwise_angle(xi)
    trace = memory.fit_feature_map(xi, loss=loss, steps=150, seed=0)  # type: ignore[arg-type]
    memory.store(xi)
    assert float(trace[-1]) < float(trace[0])
    assert memory.feature_separation() > before + 20
    # rescaling keeps the mean squared feature norm
    features = memory.feature_map(xi)
    torch.testing.assert_close(features.square().sum(1).mean(), xi.square().sum(1).mean())


def test_learned_feature_map_recalls_more_correlated_patterns() -> None:
    """K = 32 correlated unit patterns in d = 16, β = 16, softmax: identity features
    collapse almost every pattern into a metastable mixture; Stage I features recall most.
    Measured: identity 1/32, uniformity 25/32, worst-pair 26/32."""
    xi = correlated_patterns(32, 16, shared=2.0, seed=0)
    identity = KernelizedHopfield(16, beta=16.0)
    identity.store(xi)
    counts = {"identity": recalled_count(identity, xi)}
    for loss in ("uniformity", "worst_pair"):
        learned = KernelizedHopfield(16, beta=16.0)
        learned.fit_feature_map(xi, loss=loss, steps=300, seed=0)  # type: ignore[arg-type]
        learned.store(xi)
        counts[loss] = recalled_count(learned, xi)
    assert counts["identity"] <= 4, counts
    assert counts["uniformity"] >= 20, counts
    assert counts["worst_pair"] >= 20, counts


@pytest.mark.parametrize(("points", "optimum"), [(4, 109.4712), (6, 90.0), (12, 63.4349)])
def test_tammes_optima_on_the_sphere(points: int, optimum: float) -> None:
    code, angle = optimize_spherical_code(points, 3, steps=800, seed=0, restarts=2)
    assert abs(angle - optimum) < 0.1
    assert angle == pytest.approx(min_pairwise_angle(code))
    torch.testing.assert_close(code.norm(dim=1), torch.ones(points, dtype=F64))


def test_separation_loss_orders_codes() -> None:
    """A regular simplex (optimal code for M = d + 1) scores lower than random points."""
    simplex = torch.eye(4, dtype=F64) - 0.25
    random_points = torch.randn(4, 4, dtype=F64)
    for loss in ("uniformity", "worst_pair"):
        assert float(separation_loss(simplex, loss)) < float(separation_loss(random_points, loss))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loss"):
        separation_loss(simplex, "hinge")  # type: ignore[arg-type]


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="normalizer"):
        KernelizedHopfield(4, normalizer="relu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta"):
        KernelizedHopfield(4, beta=-1.0)
    memory = KernelizedHopfield(4)
    with pytest.raises(ValueError, match="store"):
        memory.step(torch.zeros(1, 4))
    memory.store(torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        memory.step(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="weight"):
        memory.set_feature_map(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="num_points"):
        optimize_spherical_code(1, 3)
