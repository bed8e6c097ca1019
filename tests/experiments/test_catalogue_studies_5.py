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


def test_gam_study_trains_the_ablations_and_measures_token_mixing(quick_study: Any) -> None:
    run = quick_study("gam", "--steps", "12")
    assert run.code == 0
    for figure in ("gam_curves.png", "token_mixing.png"):
        assert (run.out / figure).stat().st_size > 1000
    rows = {r["model"]: r for r in _rows(run.out / "results.csv")}
    assert list(rows) == ["gam", "gam_local_only", "gam_slot_memory_only", "transformer"]
    params = {name: int(r["params"]) for name, r in rows.items()}
    assert abs(params["gam"] - params["transformer"]) < 0.01 * params["gam"]  # same size
    # local-only = GAM without the slot bank (2 layers · (S·d + d² + d), S = 2d, d = 64)
    assert params["gam"] - params["gam_local_only"] == 2 * (128 * 64 + 64 * 64 + 64)
    for row in rows.values():
        assert float(row["val_ppl"]) < float(row["val_ppl_initial"])  # training helped
        assert float(row["tokens_per_s"]) > 0
    mixing = {r["model"]: r for r in _rows(run.out / "token_mixing.csv")}
    for name, row in mixing.items():
        assert float(row["influence_on_earlier"]) == 0.0, name  # causal
    for name in ("gam", "gam_local_only"):  # the convolutions mix, within their reach only
        assert float(mixing[name]["influence_within_reach"]) > 1e-3
        assert float(mixing[name]["influence_beyond_reach"]) == 0.0
    assert float(mixing["gam_slot_memory_only"]["cross_token_share"]) == 0.0
    assert float(mixing["transformer"]["influence_beyond_reach"]) > 1e-3
    assert "| gam_local_only |" in run.stdout


def test_distributed_am_study_quick(quick_study: Any) -> None:
    run = quick_study("distributed-am")
    tmp_path = run.out
    assert run.code == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["metadata"]["delta_rule_max_abs_diff"] < 1e-12
    rows = payload["rows"]
    assert len(rows) == 2 * 2 * 3 * 2  # scenario × interest × graph × protocol
    tree = [r for r in rows if r["protocol"] == "tree" and r["scenario"] == "stationary"]
    assert [r["max_delay"] for r in tree if r["interest"] == "all"] == [3, 2, 1]
    assert all(r["static_slope"] < 0.8 for r in tree)  # sublinear
    gossip = [r for r in rows if r["protocol"] == "consensus" and r["interest"] == "pairs"]
    assert all(r["static_slope"] > 0.9 for r in gossip if r["scenario"] == "stationary")
    drifting = [r for r in rows if r["scenario"] == "drifting"]
    assert all(r["path_length"] > 0 for r in drifting)
    versus = payload["tables"]["tree_vs_consensus"]
    assert all(r["static_ratio"] > 3 for r in versus if r["interest"] == "pairs")
    assert all(r["tree_lower_static"] and r["tree_lower_dynamic"] for r in versus)
    sweep = [r for r in payload["tables"]["drift_sweep"] if r["protocol"] == "tree"]
    assert sweep[-1]["dynamic_regret_per_round"] > 2 * sweep[0]["dynamic_regret_per_round"]
    own = payload["tables"]["tree_own_loss"]
    assert [r["graph"] for r in own] == ["path", "star", "complete"]
    for figure in ("distributed_am.png", "drift_sweep.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_reframe_study_quick(quick_study: Any) -> None:
    run = quick_study("reframe")
    tmp_path = run.out
    assert run.code == 0
    rows = _rows(tmp_path / "results.csv")
    assert len(rows) == 1 and rows[0]["expert_trajectories"] == "3"
    for key in ("no_buffer_return", "buffer_return", "rbf_buffer_return"):
        assert float(rows[0]["expert_return"]) >= float(rows[0][key]) >= -36
    summary = {r["policy"]: r for r in _rows(tmp_path / "reframe_summary.csv")}
    assert len(summary) == 7 and all(r["seeds"] == "1" for r in summary.values())
    mean = float(summary["DT + AMB (autoencoder keys)"]["mean_return"])
    assert mean == pytest.approx(float(rows[0]["buffer_return"]), abs=0.01)
    gain = summary["gain: DT + AMB (autoencoder keys) − no buffer"]
    difference = float(rows[0]["buffer_return"]) - float(rows[0]["no_buffer_return"])
    assert float(gain["mean_return"]) == pytest.approx(difference, abs=0.01)
    assert gain["wins"] == str(int(difference > 0))
    assert (tmp_path / "reframe.png").stat().st_size > 1000
