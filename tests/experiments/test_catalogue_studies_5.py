"""Catalogue studies ``gam``, ``distributed-am`` and ``reframe``: registration, outputs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hopfield.experiments.studies import STUDIES

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
        assert args.quick and args.func.__module__ == module


def test_gam_study_trains_both_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hopfield.cli import main

    assert main(["study", "gam", "--quick", "--steps", "12", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "gam_curves.png").stat().st_size > 1000
    rows = {r["model"]: r for r in _rows(tmp_path / "gam.csv")}
    assert set(rows) == {"gam", "transformer"}
    params = [int(r["params"]) for r in rows.values()]
    assert abs(params[0] - params[1]) < 0.01 * max(params)  # same size
    for row in rows.values():
        assert float(row["val_ppl"]) < float(row["val_ppl_initial"])  # training helped
        assert float(row["tokens_per_s"]) > 0
    assert "| gam |" in capsys.readouterr().out


def test_distributed_am_study_quick(tmp_path: Path) -> None:
    from hopfield.cli import main

    assert main(["study", "distributed-am", "--quick", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "distributed_am.json").read_text())
    assert payload["metadata"]["delta_rule_max_abs_diff"] < 1e-12
    rows = payload["rows"]
    assert [r["graph"] for r in rows] == ["path", "star", "complete"]
    assert [r["max_delay"] for r in rows] == [3, 2, 1]
    assert all(r["loglog_slope"] < 0.8 for r in rows)
    assert (tmp_path / "distributed_am.png").stat().st_size > 1000


def test_reframe_study_quick(tmp_path: Path) -> None:
    from hopfield.cli import main

    assert main(["study", "reframe", "--quick", "--out", str(tmp_path)]) == 0
    rows = _rows(tmp_path / "reframe.csv")
    assert len(rows) == 1 and rows[0]["expert_trajectories"] == "3"
    assert float(rows[0]["expert_return"]) >= float(rows[0]["buffer_return"])
    assert (tmp_path / "reframe.png").stat().st_size > 1000
