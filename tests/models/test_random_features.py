"""Tests for the random-feature Dense AM (DrDAM) and its exact counterpart."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from hopfield.data.generators import random_spherical
from hopfield.models.random_features import (
    FeatureKind,
    RandomFeatureMemory,
    exact_energy,
    exact_energy_grad,
    exact_kernel_sum,
    gaussian_kernel,
)

KINDS: tuple[FeatureKind, ...] = ("trig", "trig_phase", "positive")


def _near_queries(patterns: torch.Tensor, beta: float, count: int, seed: int) -> torch.Tensor:
    """Stored patterns moved by one kernel bandwidth √(2/β) in a random direction.

    The nearest memory then contributes ≈ e^{−1} to the kernel sum: the DrDAM setting of
    queries near stored patterns, where E_exact = O(1/β) stays away from 0.
    """
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(0, patterns.shape[0], (count,), generator=generator)
    noise = torch.randn(count, patterns.shape[1], generator=generator, dtype=patterns.dtype)
    noise = noise / noise.norm(dim=1, keepdim=True) * math.sqrt(2.0 / beta)
    return patterns[index] + noise


def _dense_energy_reference(x: torch.Tensor, xi: torch.Tensor, beta: float) -> torch.Tensor:
    """Direct −(1/β) log Σ exp(−(β/2)‖x−ξ‖²) by broadcasting differences (no expansion)."""
    sq = ((x[:, None, :] - xi[None, :, :]) ** 2).sum(-1)
    return -torch.log(torch.exp(-0.5 * beta * sq).sum(1)) / beta


# ------------------------------------------------------------------------- exact counterpart


def test_exact_energy_matches_direct_formula_float64() -> None:
    xi = torch.randn(13, 5, dtype=torch.float64)
    x = torch.randn(7, 5, dtype=torch.float64) * 0.5
    torch.testing.assert_close(exact_energy(x, xi, beta=1.7), _dense_energy_reference(x, xi, 1.7))
    torch.testing.assert_close(
        exact_kernel_sum(x, xi, beta=1.7), gaussian_kernel(x, xi, beta=1.7).sum(1)
    )


def test_exact_energy_grad_matches_autograd_float64() -> None:
    xi = torch.randn(11, 4, dtype=torch.float64)
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    _dense_energy_reference(x, xi, 3.0).sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(exact_energy_grad(x.detach(), xi, beta=3.0), x.grad)


def test_exact_energy_is_stable_for_large_beta() -> None:
    xi = torch.randn(5, 3, dtype=torch.float64)
    x = xi[:2] + 1.0
    energy = exact_energy(x, xi, beta=1e4)
    assert torch.isfinite(energy).all()
    nearest = ((x[:, None] - xi[None]) ** 2).sum(-1).min(1).values
    torch.testing.assert_close(energy, 0.5 * nearest, rtol=1e-3, atol=1e-3)


def test_exact_counterpart_agrees_with_modern_hopfield_if_available() -> None:
    modern = pytest.importorskip("hopfield.models.modern")
    xi = torch.randn(9, 4, dtype=torch.float64)
    x = torch.randn(5, 4, dtype=torch.float64)
    model = modern.ModernHopfield(beta=2.0, similarity="euclidean")
    model.store(xi)
    torch.testing.assert_close(exact_energy(x, xi, beta=2.0), model.energy(x))
    torch.testing.assert_close(exact_energy_grad(x, xi, beta=2.0), model.energy_grad(x))


# ------------------------------------------------------------------------- features


@pytest.mark.parametrize("kind", KINDS)
def test_features_are_unbiased_kernel_estimates(kind: FeatureKind) -> None:
    """Mean of ⟨Φ(x), Φ(ξ)⟩ over 400 independent seeds is within 4 standard errors of k."""
    beta = 2.0
    generator = torch.Generator().manual_seed(3)
    x = random_spherical(3, 3, generator=generator, dtype=torch.float64) * 0.4
    y = x + 0.3 * torch.randn(3, 3, generator=generator, dtype=torch.float64)
    exact = gaussian_kernel(x, y, beta=beta).diagonal()
    estimates = torch.stack(
        [
            (lambda m: (m.features(x) * m.features(y)).sum(1))(
                RandomFeatureMemory(3, 32, beta=beta, kind=kind, seed=s, dtype=torch.float64)
            )
            for s in range(400)
        ]
    )
    mean, stderr = estimates.mean(0), estimates.std(0) / math.sqrt(400)
    assert (stderr > 0).all()
    assert ((mean - exact).abs() < 4 * stderr).all(), (mean, exact, stderr)


def test_pair_form_variance_matches_theory_and_beats_random_phase() -> None:
    """Var[k̂] = (1 + k(2δ) − 2k²)/Y (pairs) vs (1 + k(2δ)/2 − k²)/Y (random phase)."""
    beta, num_features, seeds = 1.0, 16, 1500
    delta = math.sqrt(2 * math.log(2) / beta)  # k(δ) = 1/2, k(2δ) = 1/16
    x = torch.zeros(1, 2, dtype=torch.float64)
    y = torch.tensor([[delta, 0.0]], dtype=torch.float64)

    def variance(kind: FeatureKind) -> float:
        values = [
            float(
                RandomFeatureMemory(
                    2, num_features, beta=beta, kind=kind, seed=s, dtype=torch.float64
                )
                .kernel(x, y)
                .squeeze()
            )
            for s in range(seeds)
        ]
        return float(torch.tensor(values).var())

    k, k2 = 0.5, 0.5**4
    pair_theory = (1 + k2 - 2 * k * k) / num_features
    phase_theory = (1 + 0.5 * k2 - k * k) / num_features
    pair, phase = variance("trig"), variance("trig_phase")
    assert pair == pytest.approx(pair_theory, rel=0.15)
    assert phase == pytest.approx(phase_theory, rel=0.15)
    assert pair < phase


def test_trig_pair_features_are_exact_on_the_diagonal() -> None:
    memory = RandomFeatureMemory(4, 8, beta=5.0, dtype=torch.float64)
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(memory.kernel(x, x).diagonal(), torch.ones(3, dtype=torch.float64))


def test_positive_features_are_positive() -> None:
    memory = RandomFeatureMemory(4, 64, beta=3.0, kind="positive", dtype=torch.float64)
    x = torch.randn(10, 4, dtype=torch.float64)
    assert (memory.features(x) > 0).all()
    memory.store(torch.randn(5, 4, dtype=torch.float64))
    assert (memory.kernel_sum(x) > 0).all()


def test_features_are_deterministic_given_seed_and_differ_across_seeds() -> None:
    x = torch.randn(2, 5)
    a = RandomFeatureMemory(5, 32, seed=7).features(x)
    b = RandomFeatureMemory(5, 32, seed=7).features(x)
    c = RandomFeatureMemory(5, 32, seed=8).features(x)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


# ------------------------------------------------------------------------- acceptance


def test_energy_relative_error_below_ten_percent_at_paper_scale() -> None:
    """D=30, K=20, β=25, Y=1e5: mean |E_exact − E_approx| / |E_exact| < 0.1."""
    dim, count, beta = 30, 20, 25.0
    patterns = random_spherical(count, dim, seed=1, dtype=torch.float64)
    queries = _near_queries(patterns, beta, 64, seed=2)
    memory = RandomFeatureMemory(dim, 100_000, beta=beta, seed=0, dtype=torch.float64)
    memory.store(patterns)
    exact = exact_energy(queries, patterns, beta=beta)
    relative = ((memory.energy(queries) - exact).abs() / exact.abs()).mean()
    assert float(relative) < 0.1


def _mean_relative_energy_error(num_features: int, seeds: range) -> float:
    dim, count, beta = 30, 20, 25.0
    errors = []
    for seed in seeds:
        patterns = random_spherical(count, dim, seed=100 + seed)
        queries = _near_queries(patterns, beta, 48, seed=200 + seed)
        exact = exact_energy(queries, patterns, beta=beta)
        memory = RandomFeatureMemory(dim, num_features, beta=beta, seed=seed)
        memory.store(patterns)
        errors.append(((memory.energy(queries) - exact).abs() / exact.abs()).mean())
    return float(torch.stack(errors).mean())


def test_error_falls_like_inverse_sqrt_features() -> None:
    """Monte Carlo over seeds: err(Y) / err(16Y) ≈ √16 = 4 (accepted in [3, 5])."""
    seeds = range(6)
    ratio = _mean_relative_energy_error(4096, seeds) / _mean_relative_energy_error(65536, seeds)
    assert 3.0 <= ratio <= 5.0, ratio


@pytest.mark.slow
def test_error_falls_like_inverse_sqrt_features_many_seeds() -> None:
    seeds = range(32)
    for base in (4096, 8192):
        ratio = _mean_relative_energy_error(base, seeds) / _mean_relative_energy_error(
            16 * base, seeds
        )
        print(f"relative energy error ratio, {base} vs {16 * base} features: {ratio:.3f}")
        assert 3.0 <= ratio <= 5.0, (base, ratio)


# ------------------------------------------------------------------------- storage


def test_forget_undoes_store() -> None:
    kept, dropped = torch.randn(6, 5), torch.randn(9, 5)
    reference = RandomFeatureMemory(5, 256, beta=2.0)
    reference.store(kept)
    memory = RandomFeatureMemory(5, 256, beta=2.0)
    memory.store(kept)
    memory.store(dropped)
    memory.forget(dropped)
    torch.testing.assert_close(memory.memory, reference.memory, atol=1e-5, rtol=1e-5)
    assert int(memory.num_stored) == 6
    memory.forget(kept)
    assert memory.memory.abs().max() < 1e-5
    with pytest.raises(ValueError, match="patterns"):
        memory.forget(kept[:1])


def test_store_stream_equals_one_shot_and_incremental_store() -> None:
    patterns = torch.randn(1000, 8, dtype=torch.float64)
    one_shot = RandomFeatureMemory(8, 512, beta=1.5, dtype=torch.float64)
    one_shot.store(patterns)
    streamed = RandomFeatureMemory(8, 512, beta=1.5, dtype=torch.float64)
    streamed.store_stream(chunk for chunk in patterns.split(77))
    torch.testing.assert_close(streamed.memory, one_shot.memory)
    assert int(streamed.num_stored) == int(one_shot.num_stored) == 1000
    with pytest.raises(TypeError, match=r"chunks\[1\]"):
        streamed.store_stream([patterns[:2], [1.0] * 8])  # type: ignore[list-item]


def test_memory_holds_sum_of_pattern_features() -> None:
    patterns = torch.randn(4, 3, dtype=torch.float64)
    memory = RandomFeatureMemory(3, 64, beta=1.0, kind="trig_phase", dtype=torch.float64)
    memory.store(patterns)
    torch.testing.assert_close(memory.memory, memory.features(patterns).sum(0))


@pytest.mark.parametrize("kind", KINDS)
def test_memory_size_and_step_work_do_not_depend_on_number_of_patterns(kind: FeatureKind) -> None:
    queries = torch.randn(4, 6) * 0.1
    sizes, flops, energies = [], [], []
    for count in (10, 20_000):
        memory = RandomFeatureMemory(6, 128, beta=1.0, kind=kind)
        memory.store(torch.randn(count, 6) * 0.1)
        sizes.append(sum(b.numel() for b in memory.buffers()))
        with FlopCounterMode(display=False) as counter:
            memory.step(queries)
        flops.append(counter.get_total_flops())
        energies.append(memory.energy(queries))
    assert sizes[0] == sizes[1]
    assert flops[0] == flops[1] > 0
    assert not torch.allclose(energies[0], energies[1])  # the memory did change


# ------------------------------------------------------------------------- gradient


@pytest.mark.parametrize("kind", KINDS)
def test_energy_grad_matches_autograd_float64(kind: FeatureKind) -> None:
    beta = 4.0 if kind != "positive" else 1.0
    patterns = torch.randn(7, 5, dtype=torch.float64) * 0.5
    memory = RandomFeatureMemory(5, 600, beta=beta, kind=kind, dtype=torch.float64)
    memory.store(patterns)
    x = (patterns[:4] + 0.1 * torch.randn(4, 5, dtype=torch.float64)).requires_grad_(True)
    memory.energy(x).sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(memory.energy_grad(x.detach()), x.grad)


def test_energy_is_floored_and_flat_where_estimate_is_not_positive() -> None:
    memory = RandomFeatureMemory(2, 16, beta=50.0, dtype=torch.float64, floor=1e-6)
    memory.store(torch.zeros(1, 2, dtype=torch.float64))
    far = (
        torch.rand(256, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 8 + 3
    )
    estimate = memory.kernel_sum(far)
    below = estimate <= 1e-6
    assert below.any()  # far from the memory, some trig estimates are ≤ floor
    energy = memory.energy(far)
    torch.testing.assert_close(
        energy[below], torch.full_like(energy[below], -math.log(1e-6) / 50.0)
    )
    assert (memory.energy_grad(far)[below] == 0).all()
    assert torch.isfinite(energy).all()


# ------------------------------------------------------------------------- dynamics


@settings(max_examples=10)
@given(
    seed=st.integers(0, 10_000),
    step_size=st.floats(0.01, 2.0),
    kind=st.sampled_from(KINDS),
)
def test_recall_never_raises_the_energy(seed: int, step_size: float, kind: FeatureKind) -> None:
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(5, 4, generator=generator, dtype=torch.float64) * 0.5
    beta = 2.0 if kind == "positive" else 8.0
    memory = RandomFeatureMemory(4, 128, beta=beta, kind=kind, seed=seed, dtype=torch.float64)
    memory.store(patterns)
    queries = patterns + 0.3 * torch.randn(5, 4, generator=generator, dtype=torch.float64)
    result = memory.recall(queries, steps=12, step_size=step_size)
    assert (result.energies.diff(dim=0) <= 1e-12).all()


def test_recall_retrieves_the_nearest_pattern_like_the_exact_model() -> None:
    dim, count, beta = 30, 20, 25.0
    patterns = random_spherical(count, dim, seed=4)
    generator = torch.Generator().manual_seed(5)
    noise = torch.randn(count, dim, generator=generator)
    queries = patterns + 0.5 * math.sqrt(2 / beta) * noise / noise.norm(dim=1, keepdim=True)
    memory = RandomFeatureMemory(dim, 20_000, beta=beta, seed=1)
    memory.store(patterns)
    result = memory.recall(queries, max_steps=40, step_size=0.5, tol=1e-4)
    exact = queries.clone()
    for _ in range(40):
        exact = exact - 0.5 * exact_energy_grad(exact, patterns, beta=beta)
    assert result.energies.shape == (result.steps + 1, count)
    assert (result.energies[-1] < result.energies[0]).all()
    nearest = torch.cdist(result.states, patterns).argmin(1)
    assert (nearest == torch.arange(count)).all()
    assert (result.states - exact).norm(dim=1).max() < 0.1
    assert (result.states - patterns).norm(dim=1).mean() < (queries - patterns).norm(dim=1).mean()


def test_recall_step_count_and_convergence_flags() -> None:
    memory = RandomFeatureMemory(3, 64, beta=1.0)
    memory.store(torch.randn(4, 3))
    queries = torch.randn(5, 3)
    fixed = memory.recall(queries, steps=4)
    assert fixed.steps == 4 and fixed.energies.shape == (5, 5)
    assert fixed.converged.shape == (5,) and fixed.converged.dtype == torch.bool
    free = memory.recall(queries, max_steps=500, step_size=0.5, tol=1e-4)
    assert free.converged.all() and free.steps < 500
    zero = memory.recall(queries, steps=0)
    assert zero.steps == 0 and torch.equal(zero.states, queries)


def test_mask_clamps_coordinates() -> None:
    patterns = torch.randn(3, 4) * 0.5
    memory = RandomFeatureMemory(4, 512, beta=2.0)
    memory.store(patterns)
    queries = patterns[:2] + 0.3 * torch.randn(2, 4)
    clamped = torch.tensor([True, False, True, False])  # True = clamped (known entries)
    result = memory.recall(queries, steps=5, mask=clamped)
    assert torch.equal(result.states[:, clamped], queries[:, clamped])
    assert not torch.equal(result.states[:, ~clamped], queries[:, ~clamped])
    torch.testing.assert_close(memory(queries), memory.step(queries))  # forward = step
    stepped = memory.step(queries, mask=clamped[None].expand(2, 4))
    assert torch.equal(stepped[:, 0], queries[:, 0])
    assert (result.energies.diff(dim=0) <= 0).all()


# ------------------------------------------------------------------------- config, validation


def test_get_config_round_trips() -> None:
    memory = RandomFeatureMemory(5, 64, beta=3.0, kind="positive", seed=4, dtype=torch.float64)
    config = memory.get_config()
    assert config["dtype"] == "float64" and config["kind"] == "positive"
    clone = RandomFeatureMemory(**{**config, "dtype": getattr(torch, config["dtype"])})
    x = torch.randn(2, 5, dtype=torch.float64)
    torch.testing.assert_close(clone.features(x), memory.features(x))


def test_buffers_follow_dtype_and_state_dict() -> None:
    memory = RandomFeatureMemory(3, 32, dtype=torch.float64)
    memory.store(torch.randn(4, 3))
    assert memory.memory.dtype == torch.float64 and memory.frequencies.shape == (16, 3)
    restored = RandomFeatureMemory(3, 32, dtype=torch.float64)
    restored.load_state_dict(memory.state_dict())
    torch.testing.assert_close(restored.memory, memory.memory)
    assert int(restored.num_stored) == 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dim": 0, "num_features": 8}, ValueError, "dim"),
        ({"dim": 2.0, "num_features": 8}, TypeError, "dim"),
        ({"dim": 2, "num_features": 7}, ValueError, "even"),
        ({"dim": 2, "num_features": 8, "beta": -1.0}, ValueError, "beta"),
        ({"dim": 2, "num_features": 8, "kind": "rff"}, ValueError, "kind"),
        ({"dim": 2, "num_features": 8, "dtype": torch.int32}, TypeError, "dtype"),
        ({"dim": 2, "num_features": 8, "floor": 0.0}, ValueError, "floor"),
    ],
)
def test_constructor_validation(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        RandomFeatureMemory(**kwargs)  # type: ignore[arg-type]


def test_input_validation_names_the_argument() -> None:
    memory = RandomFeatureMemory(3, 16)
    with pytest.raises(ValueError, match=r"patterns must have shape \(B, 3\)"):
        memory.store(torch.randn(4, 2))
    with pytest.raises(TypeError, match="states"):
        memory.energy(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="queries contains NaN"):
        memory.recall(torch.full((1, 3), float("nan")))
    with pytest.raises(ValueError, match="mask"):
        memory.recall(torch.randn(2, 3), mask=torch.ones(2, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        memory.step(torch.randn(2, 3), mask=torch.ones(3))
    with pytest.raises(ValueError, match="step_size"):
        memory.step(torch.randn(2, 3), step_size=0.0)
    with pytest.raises(ValueError, match="share D"):
        exact_energy(torch.randn(2, 3), torch.randn(4, 2), beta=1.0)
    with pytest.raises(ValueError, match="K ≥ 1"):
        exact_energy(torch.randn(2, 3), torch.randn(0, 3), beta=1.0)


def test_recall_reports_rejected_trial_steps_per_query() -> None:
    """``extras["rejections"]`` counts the halvings: one step accepts ``η / 2^r``."""
    generator = torch.Generator().manual_seed(3)
    patterns = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    memory = RandomFeatureMemory(5, 256, beta=4.0, seed=2, dtype=torch.float64)
    memory.store(patterns)
    queries = patterns + 0.4 * torch.randn(6, 5, generator=generator, dtype=torch.float64)
    step_size = 50.0  # far too long: the guard must halve it
    result = memory.recall(queries, steps=1, step_size=step_size, tol=0.0)
    rejections = result.extras["rejections"]
    assert rejections.shape == (6,) and rejections.dtype == torch.int64
    assert int((rejections > 0).sum()) >= 4  # most queries overshoot at this length
    grad = memory.energy_grad(queries)
    accepted = step_size / 2.0 ** rejections.to(torch.float64)
    torch.testing.assert_close(result.states, queries - accepted[:, None] * grad)
    gentle = memory.recall(queries, steps=3, step_size=1e-3)
    assert (gentle.rejections == 0).all()
