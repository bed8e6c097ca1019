"""Catalogue studies ``kuramoto``, ``sedam`` and ``capacity``: registration, outputs,
the capacity trend and reproducibility."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hopfield.data.structured import hamming_distances
from hopfield.experiments import study_capacity, study_kuramoto, study_sedam
from hopfield.experiments.runner import write_study_outputs
from hopfield.experiments.studies import STUDIES, load_study
from hopfield.experiments.study_capacity import (
    CapacityConfig,
    dataset_capacity,
    run_capacity_study,
    separated_patterns,
)

NAMES = ("kuramoto", "sedam", "capacity")


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """Many tiny ops: intra-op threads only add synchronisation on a loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_studies_are_registered_and_parsed(tmp_path: Path) -> None:
    from hopfield.cli import build_parser

    parser = build_parser()
    for name in NAMES:
        assert STUDIES[name] == f"hopfield.experiments.study_{name}"
        args = parser.parse_args(["study", name, "--quick", "--out", str(tmp_path / name)])
        assert args.quick and args.out == tmp_path / name
        assert args.func.args[0] is load_study(name)


def test_kuramoto_study_through_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hopfield.cli import main

    tiny = study_kuramoto.KuramotoConfig(num_oscillators=48, levels=5, steps_per_level=60, chains=2)
    monkeypatch.setattr(study_kuramoto.KuramotoConfig, "quick", classmethod(lambda cls: tiny))
    assert main(["study", "kuramoto", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "kuramoto.png").stat().st_size > 1000
    rows = _rows(tmp_path / "results.csv")
    assert [(float(r["K2"]), float(r["K4"])) for r in rows] == list(tiny.couplings)
    assert all(float(r["max_grad_at_patterns"]) < 1e-12 for r in rows)
    payload = json.loads((tmp_path / "results.json").read_text())
    curves = payload["metadata"]["curves"]
    assert len(curves) == 3 and all(len(c["up"]) == 5 for c in curves.values())


def test_sedam_study_through_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hopfield.cli import main

    tiny = study_sedam.SEDAMConfig(
        num_neurons=32, loads=(2, 8), noise_levels=(0.05, 0.3), chains=2, sweeps=220
    )
    monkeypatch.setattr(study_sedam.SEDAMConfig, "quick", classmethod(lambda cls: tiny))
    assert main(["study", "sedam", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "sedam.png").stat().st_size > 1000
    rows = _rows(tmp_path / "results.csv")
    assert len(rows) == 4
    low = [r for r in rows if float(r["p"]) == 0.05]
    assert all(abs(float(r["Q_mean"]) - 0.9) < 0.05 for r in low)
    assert all(0.0 < float(r["H_activity"]) < 2.0 for r in rows)
    critical = json.loads((tmp_path / "results.json").read_text())["tables"]["critical"]
    assert [c["K"] for c in critical] == [2, 8]


def test_separated_patterns_respect_distance_and_grow_by_prefix() -> None:
    big = separated_patterns(40, 32, 10, 0.2, seed=3)
    small = separated_patterns(15, 32, 10, 0.2, seed=3)
    distances = hamming_distances(big) + 32 * torch.eye(40, dtype=torch.int64)
    assert big.shape == (40, 32) and int(distances.min()) >= 10
    torch.testing.assert_close(small, big[:15])
    correlated = separated_patterns(300, 32, 0, 0.3, seed=4)
    features = torch.corrcoef(correlated.T.double())
    off_diagonal = features[~torch.eye(32, dtype=torch.bool)]
    assert float(off_diagonal.mean()) == pytest.approx(0.3, abs=0.08)


def test_dataset_capacity_is_the_largest_stable_prefix() -> None:
    data = separated_patterns(60, 32, 8, 0.0, seed=5)
    capacity = dataset_capacity(data, 3)
    assert 0 < capacity < 60
    from hopfield.core.separation import Polynomial
    from hopfield.models.dense import DenseAssociativeMemory

    def stable(k: int) -> bool:
        model = DenseAssociativeMemory(32, separation=Polynomial(3))
        model.store(data[:k])
        return bool(model.is_fixed_point(data[:k]).all())

    assert stable(capacity) and not stable(capacity + 1)


REDUCED = CapacityConfig(
    num_neurons=32,
    degrees=(3,),
    correlations=(0.0,),
    separations=(6, 9, 12),
    trials=3,
    max_patterns=96,
    max_candidates=12000,
)


def test_log_capacity_grows_with_separation_and_is_reproducible() -> None:
    first = run_capacity_study(REDUCED, seed=0)
    rows = first["rows"]
    logs = [row["log2_capacity"] for row in rows]
    assert not any(row["censored"] for row in rows)
    # monotone within noise: no drop larger than 0.15 (log2 units), clear overall growth
    assert all(b > a - 0.15 for a, b in itertools.pairwise(logs))
    assert logs[-1] - logs[0] > 0.4
    second = run_capacity_study(REDUCED, seed=0)
    assert second["rows"] == rows and second["baselines"] == first["baselines"]
    other = run_capacity_study(REDUCED, seed=1)["rows"]
    assert [r["capacity_max"] for r in other] != [r["capacity_max"] for r in rows] or [
        r["capacity_min"] for r in other
    ] != [r["capacity_min"] for r in rows]


def test_each_capacity_point_is_seeded_on_its_own() -> None:
    single = CapacityConfig(
        num_neurons=32,
        degrees=(3,),
        correlations=(0.0,),
        separations=(12,),
        trials=3,
        max_patterns=96,
        max_candidates=12000,
    )
    alone = run_capacity_study(single, seed=0)["rows"][0]
    within = [r for r in run_capacity_study(REDUCED, seed=0)["rows"] if r["separation"] == 12]
    assert within == [alone]


def test_capacity_study_writes_outputs(tmp_path: Path) -> None:
    config = CapacityConfig(
        num_neurons=24,
        degrees=(2, 3),
        correlations=(0.0, 0.2),
        separations=(4, 8),
        trials=1,
        max_patterns=48,
        max_candidates=4000,
    )
    results = run_capacity_study(config, seed=0)
    text, _ = write_study_outputs(
        tmp_path, study_capacity.STUDY, study_capacity.study_result(results, config)
    )
    assert (tmp_path / "capacity.png").stat().st_size > 1000
    assert len(_rows(tmp_path / "results.csv")) == 8
    assert "log2_capacity" in text and "capacity_search" in text
