"""Catalogue studies ``diffusion``, ``classify`` and ``cluster``: registration, outputs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from hopfield.experiments.studies import STUDIES, load_study
from hopfield.experiments.study_diffusion import count_clusters, sample_statistics
from hopfield.tasks.diffusion import circle_points


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_studies_are_registered_and_parse() -> None:
    from hopfield.cli import build_parser

    parser = build_parser()
    for name in ("diffusion", "classify", "cluster"):
        assert (
            STUDIES[name]
            == f"hopfield.experiments.study_{'diffusion' if name == 'diffusion' else name}"
        )
        args = parser.parse_args(["study", name, "--quick", "--out", "x"])
        assert args.func.args[0] is load_study(name)


def test_sample_statistics_separate_memorised_from_covering_samples() -> None:
    data = circle_points(2)
    gen = torch.Generator().manual_seed(0)
    memorised = data[torch.randint(2, (200,), generator=gen)] + 0.01 * torch.randn(
        200, 2, generator=gen
    )
    stats = sample_statistics(memorised, data)
    assert stats["within_0.05"] == 1.0 and stats["clusters"] == 2 and stats["empty_bins"] >= 30
    ring = circle_points(720)
    stats = sample_statistics(ring, data)
    assert stats["within_0.05"] < 0.05 and stats["empty_bins"] == 0 and stats["clusters"] == 1
    assert count_clusters(torch.zeros(1, 2)) == 1


def test_classify_study_quick_through_cli(quick_study: Any) -> None:
    run = quick_study("classify")
    assert run.code == 0
    rows = {r["model"]: float(r["test_accuracy"]) for r in _rows(run.out / "results.csv")}
    assert rows["HopfieldClassifier(relu3)"] >= 0.9
    assert rows["k-NN (k=5)"] > 0.95 and "logistic regression" in rows
    assert "HopfieldClassifier(relu3)" in run.stdout
    sweep = _rows(run.out / "beta_sweep.csv")
    assert len(sweep) == 3 and all(0.5 < float(r["test_accuracy"]) <= 1 for r in sweep)
    confusion = json.loads((run.out / "results.json").read_text())["metadata"]["confusion_relu3"]
    assert sum(map(sum, confusion)) == 450  # the 25 % test split of 1797 digits
    assert (run.out / "classify.png").stat().st_size > 1000


def test_cluster_study_quick_through_cli(quick_study: Any) -> None:
    run = quick_study("cluster")
    assert run.code == 0
    assert (run.out / "cluster.png").stat().st_size > 1000
    rows = {r["model"]: float(r["ARI"]) for r in _rows(run.out / "results.csv")}
    assert rows["k-means"] > 0.4
    # training through the attractor dynamics improves on its k-means++ start
    assert rows["ClAM"] > rows["ClAM (untrained k-means++ start)"]
    # the paper's protocol: Silhouette per dataset and method, and a plain verdict
    protocol = _rows(run.out / "protocol.csv")
    assert {r["dataset"] for r in protocol} == {"iris", "blobs-overlap"}
    for row in protocol:
        assert -1 <= float(row["silhouette_mean"]) <= 1 and row["seeds"] == "2"
        if row["method"] == "k-means (n_init=10)":
            assert float(row["silhouette_mean"]) > 0.1
    assert "'up to 60 % over k-means' is" in run.stdout


@pytest.mark.slow
def test_diffusion_study_full_meets_memorisation_and_generalisation(tmp_path: Path) -> None:
    from hopfield.cli import main

    assert main(["study", "diffusion", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "diffusion_samples.png").stat().st_size > 1000
    rows = {(r["K"], r["score"]): r for r in _rows(tmp_path / "results.csv")}
    assert float(rows["2", "network"]["within_0.05"]) >= 0.95
    dense = rows["1000", "network"]
    assert float(dense["on_circle"]) >= 0.9 and int(dense["empty_bins"]) == 0
    assert float(rows["9", "exact"]["within_0.05"]) > 0.99


def test_diffusion_study_quick_writes_outputs(quick_study: Any) -> None:
    run = quick_study("diffusion")
    assert run.code == 0 and (run.out / "diffusion_samples.png").stat().st_size > 1000
    results = json.loads((run.out / "results.json").read_text())
    rows = {(r["K"], r["score"]): r for r in results["rows"]}
    assert len(rows) == 6
    # the exact (Hopfield) score memorises at every K
    assert all(rows[k, "exact"]["within_0.05"] > 0.99 for k in (2, 9))
