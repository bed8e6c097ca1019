"""Tests for the kernel study: ring closed form, error scaling, CLI outputs."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch

from hopfield.experiments import studies
from hopfield.experiments.kernel_study import (
    KernelStudyConfig,
    error_vs_beta,
    error_vs_features,
    fit_loglog_slope,
    log_i0,
    near_pattern_queries,
    retrieval_divergence,
    ring_energy,
    ring_energy_from_library,
    ring_minimum,
    uniform_ring,
)
from hopfield.models.random_features import RandomFeatureMemory, exact_energy

# ------------------------------------------------------------------------- ring closed form


def test_log_i0_matches_direct_bessel_and_does_not_overflow() -> None:
    z = torch.tensor([0.0, 0.5, 3.0, 40.0, -7.0], dtype=torch.float64)
    torch.testing.assert_close(log_i0(z), torch.log(torch.special.i0(z)))
    big = log_i0(torch.tensor([1e4], dtype=torch.float64))
    assert torch.isfinite(big).all()
    # large-z asymptotics: log I0(z) ≈ z − ½ log(2πz)
    assert float(big) == pytest.approx(1e4 - 0.5 * math.log(2 * math.pi * 1e4), abs=1e-4)


def test_ring_energy_matches_numerical_angle_average() -> None:
    """E(R) = −(1/β) log (1/2π)∫ exp(−β‖x − (cos θ, sin θ)‖²) dθ, by quadrature."""
    beta = 3.0
    theta = torch.linspace(0, 2 * math.pi, 20001, dtype=torch.float64)[:-1]
    for r in (0.0, 0.4, 1.0, 1.3):
        sq = (r - torch.cos(theta)) ** 2 + torch.sin(theta) ** 2
        numeric = -torch.log(torch.exp(-beta * sq).mean()) / beta
        closed = ring_energy(torch.tensor(r, dtype=torch.float64), beta)
        assert float(closed) == pytest.approx(float(numeric), abs=1e-10)


def test_ring_minimum_reproduces_tutorial_numbers_at_beta_20() -> None:
    r_star, depth = ring_minimum(20.0)
    assert r_star == pytest.approx(0.987, abs=5e-4)
    assert depth == pytest.approx(0.862, abs=5e-4)
    # stationarity from the asymptotic expansion: 80R² − 80R + 1 ≈ 0 → R ≈ 0.9873
    assert r_star == pytest.approx((80 + math.sqrt(6400 - 320)) / 160, abs=1e-3)


def test_library_energy_of_dense_uniform_ring_matches_closed_form() -> None:
    beta = 20.0
    ring = uniform_ring(2000)
    radius = torch.linspace(0.0, 1.5, 61, dtype=torch.float64)
    library = ring_energy_from_library(radius, ring, beta)
    torch.testing.assert_close(library, ring_energy(radius, beta), atol=1e-9, rtol=0)
    # minimise the library energy itself (not the closed form): R* and depth
    from scipy.optimize import minimize_scalar

    def energy(r: float) -> float:
        return float(ring_energy_from_library(torch.tensor([r], dtype=torch.float64), ring, beta))

    found = minimize_scalar(energy, bounds=(0.5, 1.5), method="bounded", options={"xatol": 1e-9})
    assert float(found.x) == pytest.approx(0.987, abs=5e-4)
    assert energy(0.0) - float(found.fun) == pytest.approx(0.862, abs=5e-4)


def test_sparse_ring_departs_from_closed_form() -> None:
    """The closed form needs a dense ring: 7 memories at β = 20 are visibly different."""
    radius = torch.tensor([1.0], dtype=torch.float64)
    off_angle = torch.tensor([[math.cos(math.pi / 7), math.sin(math.pi / 7)]], dtype=torch.float64)
    sparse = uniform_ring(7)
    on = ring_energy_from_library(radius, sparse, 20.0)
    between = 2 * exact_energy(off_angle, sparse, beta=40.0) + math.log(7) / 20.0
    assert abs(float(between - on)) > 0.05


def test_random_feature_ring_energy_is_close_near_the_ring() -> None:
    beta = 20.0
    ring = uniform_ring(2000)
    memory = RandomFeatureMemory(2, 32768, beta=2 * beta, seed=0, dtype=torch.float64)
    memory.store(ring)
    radius = torch.linspace(0.85, 1.15, 13, dtype=torch.float64)
    approx = ring_energy_from_library(radius, ring, beta, energy_fn=memory.energy)
    assert (approx - ring_energy(radius, beta)).abs().max() < 0.02
    assert float(radius[approx.argmin()]) == pytest.approx(0.987, abs=0.03)


def test_uniform_ring_validation() -> None:
    points = uniform_ring(12)
    torch.testing.assert_close(points.norm(dim=1), torch.ones(12, dtype=torch.float64))
    with pytest.raises(ValueError, match="count"):
        uniform_ring(0)


# ------------------------------------------------------------------------- error scaling


def test_fit_loglog_slope_recovers_power_law() -> None:
    xs = [2.0**p for p in range(5, 12)]
    assert fit_loglog_slope(xs, [3.0 * x**-0.5 for x in xs]) == pytest.approx(-0.5)
    assert fit_loglog_slope(xs, [x**1.5 for x in xs]) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="positive"):
        fit_loglog_slope([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="length"):
        fit_loglog_slope([1.0], [1.0])


def test_near_pattern_queries_sit_at_the_requested_distance() -> None:
    patterns = torch.randn(5, 7, dtype=torch.float64)
    queries, source = near_pattern_queries(patterns, 0.3, 40, torch.Generator().manual_seed(1))
    distances = (queries - patterns[source]).norm(dim=1)
    torch.testing.assert_close(distances, torch.full_like(distances, 0.3))
    assert len(set(source.tolist())) > 1


def test_error_vs_features_slope_is_about_minus_half() -> None:
    config = KernelStudyConfig(
        num_queries=24, features=(256, 1024, 4096, 16384), seeds=3, kind="trig"
    )
    rows = error_vs_features(config, seed=0)
    slope = fit_loglog_slope([r["num_features"] for r in rows], [r["kernel_error"] for r in rows])
    assert -0.6 <= slope <= -0.4, slope
    energy = [r["energy_rel_error"] for r in rows]
    assert energy[-1] < energy[1] < energy[0]


def test_error_vs_beta_fixed_distance_degrades_at_large_beta() -> None:
    """At a fixed query distance the kernel sum shrinks with β and the estimate fails."""
    config = KernelStudyConfig(
        num_queries=16, seeds=2, betas=(5.0, 100.0), beta_sweep_features=2048
    )
    rows = {(r["beta"], r["queries"]): r for r in error_vs_beta(config, seed=0)}
    assert rows[(100.0, "fixed")]["log_sum_error"] > 5 * rows[(5.0, "fixed")]["log_sum_error"]
    # at one bandwidth the nearest kernel is e^{-1} for every β: errors stay comparable
    ratio = rows[(100.0, "bandwidth")]["log_sum_error"] / rows[(5.0, "bandwidth")]["log_sum_error"]
    assert 0.3 < ratio < 3.0


def test_retrieval_divergence_shrinks_with_more_features() -> None:
    config = KernelStudyConfig(
        num_queries=16, divergence_features=(512, 16384), divergence_steps=15
    )
    trace, summary = retrieval_divergence(config, seed=0)
    assert len(trace) == 2 * 16
    assert [r["step"] for r in trace[:16]] == list(range(16))
    assert trace[0]["divergence"] == 0.0  # same starting points
    assert summary[1]["final_divergence"] < summary[0]["final_divergence"]
    assert summary[1]["approx_retrieval_accuracy"] == 1.0


# ------------------------------------------------------------------------- command line


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hopfield")
    studies.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_study_registry_parses_kernel_options() -> None:
    assert "kernel" in studies.STUDIES
    args = _parse(["study", "kernel", "--quick", "--seed", "3", "--kind", "trig_phase"])
    assert args.quick and args.seed == 3 and args.kind == "trig_phase"
    assert args.out == Path("runs/study-kernel")
    with pytest.raises(SystemExit):
        _parse(["study", "kernel", "--kind", "nope"])
    bare = _parse(["study"])
    assert bare.func(bare) == 2  # prints the list of studies


def _tiny(kind: str = "trig") -> KernelStudyConfig:
    return KernelStudyConfig(
        num_queries=16,
        features=(256, 1024, 4096),
        energy_fit_min_features=1024,
        seeds=2,
        betas=(5.0, 25.0),
        beta_sweep_features=1024,
        divergence_features=(1024,),
        divergence_steps=5,
        ring_memories=500,
        ring_features=2048,
        kind=kind,
    )


def test_cli_run_writes_figures_and_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full pipeline on a tiny configuration (``--quick`` itself takes ~5 s of CPU)."""
    monkeypatch.setattr(
        KernelStudyConfig, "quick", classmethod(lambda cls, kind="trig": _tiny(kind))
    )
    args = _parse(["study", "kernel", "--quick", "--out", str(tmp_path)])
    assert args.func(args) == 0
    for name in (
        "error_vs_features.png",
        "error_vs_beta.png",
        "retrieval_divergence.png",
        "ring_energy.png",
        "results.csv",
        "error_vs_beta.csv",
        "retrieval_divergence.csv",
        "results.json",
        "summary.md",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    payload = json.loads((tmp_path / "results.json").read_text())
    results = payload["metadata"]
    assert payload["tables"]["error_vs_features"][0]["num_features"] == 256
    assert results["config"]["features"] == [256, 1024, 4096]
    assert -0.7 <= results["slopes"]["kernel_error"] <= -0.3
    assert results["ring"]["closed_form_r_star"] == pytest.approx(0.987, abs=1e-3)
    assert results["ring"]["max_abs_library_minus_closed_form"] < 1e-6
    assert "| num_features |" in capsys.readouterr().out


@pytest.mark.slow
def test_quick_study_slopes_and_ring(tmp_path: Path) -> None:
    """The real ``--quick`` configuration: both slopes near −½, ring numbers reproduced."""
    from hopfield.experiments.kernel_study import run_kernel_study

    results = run_kernel_study(config=KernelStudyConfig.quick(), seed=0)
    assert -0.6 <= results["slopes"]["kernel_error"] <= -0.4
    assert -0.7 <= results["slopes"]["energy_rel_error"] <= -0.3
    ring = results["ring"]
    assert ring["library_grid_minimum"][0] == pytest.approx(0.987, abs=0.01)
    assert ring["library_grid_minimum"][1] == pytest.approx(0.862, abs=1e-3)
    assert ring["band_max_abs_random_features_minus_closed_form"] < 0.05
