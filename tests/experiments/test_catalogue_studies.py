"""Catalogue studies ``bw``, ``sparse-recovery`` and ``spherical``: registration, outputs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from hopfield.experiments import study_sparse_recovery, study_spherical
from hopfield.experiments.runner import write_study_outputs
from hopfield.experiments.studies import STUDIES, load_study
from hopfield.models.sparse_recovery import SparseRecoveryMemory, bounded_integer_dataset


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """These tests run many small-matrix ops, for which intra-op threads only add
    synchronisation (and thrash on a loaded 2-core machine): run them on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_studies_are_registered() -> None:
    assert STUDIES["bw"] == "hopfield.experiments.study_bw"
    assert STUDIES["sparse-recovery"] == "hopfield.experiments.study_sparse_recovery"
    assert STUDIES["spherical"] == "hopfield.experiments.study_spherical"


def test_cli_parses_each_study(tmp_path: Path) -> None:
    from hopfield.cli import build_parser

    parser = build_parser()
    for name, module in ((n, STUDIES[n]) for n in ("bw", "sparse-recovery", "spherical")):
        args = parser.parse_args(["study", name, "--quick", "--out", str(tmp_path / name)])
        assert args.quick and args.out == tmp_path / name
        assert args.func.args[0] is load_study(name) and module.endswith(name.replace("-", "_"))


def test_bw_study_quick_through_cli(quick_study: Any) -> None:
    run = quick_study("bw")
    tmp_path = run.out
    assert run.code == 0
    assert (tmp_path / "bw_retrieval.png").stat().st_size > 1000
    oracle = _rows(tmp_path / "bw_oracle.csv")
    assert oracle and all(float(r["max_mean_error"]) < 1e-10 for r in oracle)
    assert all(float(r["max_sqrt_eig_error"]) < 1e-10 for r in oracle)
    retrieval = json.loads((tmp_path / "results.json").read_text())["rows"]
    by_beta = {(r["covariances"], r["beta"]): r for r in retrieval}
    # larger β retrieves more precisely (smaller W₂² after five steps)
    assert (
        by_beta[("commuting", 4.0)]["W2sq_5_median"] < by_beta[("commuting", 1.0)]["W2sq_5_median"]
    )
    assert "| beta |" in run.stdout


def test_sparse_recovery_tables_and_outputs(tmp_path: Path) -> None:
    data, basis = bounded_integer_dataset(120, 40, 12, seed=0)
    fresh, _ = bounded_integer_dataset(12, 40, 12, basis=basis, seed=1)
    memory = SparseRecoveryMemory().fit(data)
    table = study_sparse_recovery.recovery_table(memory, fresh, (2, 20), ("admm",), seed=0)
    assert table[0]["exact_recovery"] == 1.0  # 2 errors among 40, m = 28 constraints
    assert table[1]["exact_recovery"] < 0.5  # 20 errors: beyond the threshold
    assert all(row["flag_agrees"] == 1.0 for row in table)
    curve = study_sparse_recovery.neural_learning_curve(data, fresh, 28, (5, 400), seed=0)
    assert curve[1]["max_norm_Bx"] < 1e-3 * curve[0]["max_norm_Bx"]
    results = {"svd_max_norm_Bx": 1e-14, "recovery": table, "neural": curve}
    summary, _ = write_study_outputs(
        tmp_path, study_sparse_recovery.STUDY, study_sparse_recovery.study_result(results)
    )
    assert (tmp_path / "sparse_recovery.png").stat().st_size > 1000
    assert len(_rows(tmp_path / "results.csv")) == 2
    assert "exact_recovery" in summary


def test_spherical_tables_and_outputs(tmp_path: Path) -> None:
    tammes = study_spherical.tammes_table((4,), steps=300, restarts=1, seed=0)
    assert abs(tammes[0]["gap_deg"]) < 0.1
    recall = study_spherical.feature_map_table((2.0,), ("softmax",), count=12, dim=8, fit_steps=100)
    counts = {row["features"]: row["recalled"] for row in recall}
    separations = {row["features"]: row["feature_min_angle_deg"] for row in recall}
    assert separations["uniformity"] > separations["identity"]
    assert counts["uniformity"] >= counts["identity"]
    summary, _ = write_study_outputs(
        tmp_path,
        study_spherical.STUDY,
        study_spherical.study_result({"tammes": tammes, "recall": recall}),
    )
    assert (tmp_path / "spherical.png").stat().st_size > 1000
    assert len(_rows(tmp_path / "feature_map_recall.csv")) == 3
    assert "Tammes" in summary


@pytest.mark.parametrize("name", ["sparse-recovery", "spherical"])
def test_quick_studies_through_cli(name: str, quick_study: Any) -> None:
    run = quick_study(name)
    tmp_path = run.out
    assert run.code == 0
    if name == "sparse-recovery":
        rows = _rows(tmp_path / "results.csv")
        lp = {int(r["corrupted"]): float(r["exact_recovery"]) for r in rows if r["solver"] == "lp"}
        assert lp[10] == 1.0 and lp[20] >= 0.9
    else:
        tammes = _rows(tmp_path / "results.csv")
        assert all(abs(float(r["gap_deg"])) < 0.1 for r in tammes)
        recall = _rows(tmp_path / "feature_map_recall.csv")
        counts = {r["features"]: int(r["recalled"]) for r in recall}
        assert counts["uniformity"] > counts["identity"]
