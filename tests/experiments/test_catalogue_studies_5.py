"""Catalogue studies ``gam``, ``distributed-am`` and ``reframe``: registration, outputs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from hopfield.experiments.studies import STUDIES, load_study

NAMES = {
    "gam": "hopfield.experiments.study_gam",
    "distributed-am": "hopfield.experiments.study_distributed_am",
    "reframe": "hopfield.experiments.study_reframe",
}


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
    for name, module in NAMES.items():
        assert STUDIES[name] == module
        args = parser.parse_args(["study", name, "--quick", "--out", "x"])
        assert args.quick and args.func.args[0] is load_study(name)


def test_gam_study_trains_both_models(quick_study: Any) -> None:
    run = quick_study("gam", "--steps", "12")
    assert run.code == 0
    assert (run.out / "gam_curves.png").stat().st_size > 1000
    rows = {r["model"]: r for r in _rows(run.out / "results.csv")}
    assert set(rows) == {"gam", "transformer"}
    params = [int(r["params"]) for r in rows.values()]
    assert abs(params[0] - params[1]) < 0.01 * max(params)  # same size
    for row in rows.values():
        assert float(row["val_ppl"]) < float(row["val_ppl_initial"])  # training helped
        assert float(row["tokens_per_s"]) > 0
    assert "| gam |" in run.stdout


def test_distributed_am_study_quick(quick_study: Any) -> None:
    run = quick_study("distributed-am")
    tmp_path = run.out
    assert run.code == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["metadata"]["delta_rule_max_abs_diff"] < 1e-12
    rows = payload["rows"]
    assert [r["graph"] for r in rows] == ["path", "star", "complete"]
    assert [r["max_delay"] for r in rows] == [3, 2, 1]
    assert all(r["loglog_slope"] < 0.8 for r in rows)
    assert (tmp_path / "distributed_am.png").stat().st_size > 1000


def test_reframe_study_quick(quick_study: Any) -> None:
    run = quick_study("reframe")
    tmp_path = run.out
    assert run.code == 0
    rows = _rows(tmp_path / "results.csv")
    assert len(rows) == 1 and rows[0]["expert_trajectories"] == "3"
    assert float(rows[0]["expert_return"]) >= float(rows[0]["buffer_return"])
    assert (tmp_path / "reframe.png").stat().st_size > 1000
