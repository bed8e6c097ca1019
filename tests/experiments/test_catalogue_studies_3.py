"""Catalogue studies ``delta``, ``camformer`` and ``muon``: registration, numbers, outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from hopfield.experiments import study_camformer, study_delta, study_muon
from hopfield.experiments.studies import STUDIES, load_study

NAMES = ("delta", "camformer", "muon")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_studies_are_registered_and_parse() -> None:
    from hopfield.cli import build_parser

    parser = build_parser()
    for name in NAMES:
        assert STUDIES[name] == f"hopfield.experiments.study_{name}"
        args = parser.parse_args(["study", name, "--quick", "--out", f"/tmp/{name}"])
        assert args.quick and args.func.args[0] is load_study(name)


# ----------------------------------------------------------------------------- muon


def test_muon_balances_tail_classes_where_gd_does_not() -> None:
    priors = study_muon.class_priors()
    assert abs(float(priors.sum()) - 1.0) < 1e-12 and abs(float(priors[:4].sum()) - 0.9) < 1e-12
    eye = study_muon.orthonormal_embedding(16, "identity", 0)
    rates = study_muon.DEFAULT_LEARNING_RATES
    muon = study_muon.train_memory("muon", eye, eye, priors, lr=rates["muon"])
    assert muon["best"] >= 0.99 and muon["worst"] >= 0.9
    gd_matched = study_muon.train_memory(
        "gd", eye, eye, priors, lr=rates["gd"], max_steps=muon["steps"], stop=False
    )
    assert gd_matched["worst"] < 0.7
    gd = study_muon.train_memory("gd", eye, eye, priors, lr=rates["gd"])
    assert gd["best"] >= 0.99 and gd["worst"] < 0.7  # paper table: 0.534
    sign = study_muon.train_memory("signgd", eye, eye, priors, lr=rates["signgd"])
    assert sign["worst"] >= 0.9  # identity embeddings: sign-GD is balanced too


def test_random_orthogonal_embedding_hurts_sign_gd_not_muon() -> None:
    priors = study_muon.class_priors()
    inputs = study_muon.orthonormal_embedding(16, "random", 0)
    outputs = study_muon.orthonormal_embedding(16, "random", 1)
    torch_eye = inputs.T @ inputs
    assert float((torch_eye - torch_eye.diag().diag()).abs().max()) < 1e-12
    rates = study_muon.DEFAULT_LEARNING_RATES
    sign = study_muon.train_memory("signgd", inputs, outputs, priors, lr=rates["signgd"])
    muon = study_muon.train_memory("muon", inputs, outputs, priors, lr=rates["muon"])
    assert sign["best"] >= 0.99 and muon["best"] >= 0.99
    assert muon["worst"] >= 0.9 and sign["worst"] < muon["worst"] - 0.3


# ----------------------------------------------------------------------------- camformer


def test_hypergeometric_recall_agrees_with_monte_carlo() -> None:
    assert abs(study_camformer.expected_recall(1024, 16, 2, 32) - 0.9741) < 1e-4
    rows = study_camformer.recall_table(trials=300, seed=0)
    for row in rows:
        gap = abs(row["recall_mc"] - row["recall_hypergeometric"])
        assert gap < 5 * row["recall_sem"] + 2e-3, row


def test_attention_error_table_orders_variants() -> None:
    rows = study_camformer.attention_error_table(n=128, dim=64, batch=1, seed=0)
    by = {(r["queries"], r["variant"]): r for r in rows}
    # retrieval queries: binary attention stays close to dense, top-k alone nearly exact
    assert by[("retrieval", "top-k only")]["relative_error"] < 1e-3
    assert by[("retrieval", "camformer")]["relative_error"] < 0.1
    # random queries spread attention: top-k keeps less dense mass than on retrieval queries
    assert by[("random", "top-k only")]["dense_mass_kept"] < 0.999
    assert by[("random", "binary only")]["dense_mass_kept"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- delta


def test_delta_study_tables() -> None:
    rows = study_delta.snr_table((0.25, 1.0), dim=64, trials=20, seed=0)
    linear = {r["load"]: r["inverse_snr"] for r in rows if r["memory"] == "linear"}
    # unit keys: SNR⁻¹ = (N − 1)/d_k exactly in expectation
    assert linear[1.0] == pytest.approx(63 / 64, rel=0.1)
    assert linear[0.25] == pytest.approx(15 / 64, rel=0.1)
    sharp = {r["load"]: r["inverse_snr"] for r in rows if r["memory"] == "softmax:16"}
    assert sharp[1.0] < 0.1 * linear[1.0]  # the exp kernel separates far better
    chunked = study_delta.chunked_agreement_table((1, 7), length=30, seed=0)
    assert all(r["max_abs_diff"] < (1e-5 if r["dtype"] == "float32" else 1e-10) for r in chunked)
    overwrite = study_delta.overwrite_errors(dim=8, seed=0)
    assert overwrite["delta_error"] < 1e-10 and overwrite["linear_error"] > 0.1
    assert overwrite["linear_minus_sum"] < 1e-10


@pytest.mark.parametrize("name", ["delta", "camformer"])
def test_quick_study_writes_outputs(name: str, quick_study: Any) -> None:
    run = quick_study(name)
    tmp_path = run.out
    assert run.code == 0
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    payload = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert payload["rows"] and payload["metadata"]["seed"] == 0
    assert all(_rows(p) for p in tmp_path.glob("*.csv"))


def test_muon_study_through_cli(quick_study: Any) -> None:
    run = quick_study("muon")
    tmp_path = run.out
    assert run.code == 0
    rows = _rows(tmp_path / "results.csv")
    by = {(r["embedding"], r["optimizer"]): r for r in rows}
    assert float(by[("random", "muon")]["worst_at_stop"]) >= 0.9
    assert float(by[("identity", "gd")]["worst_at_matched"]) < 0.7
    assert (tmp_path / "muon_balance.png").stat().st_size > 1000


@pytest.mark.slow
def test_recall_table_within_half_a_percent_of_hypergeometric() -> None:
    """papers.md: n = 1024, T = 16: k₂ = 8, 16, 32, 64 → 99.86, 99.35, 97.41, 91.06 %."""
    rows = study_camformer.recall_table(trials=10000, seed=1)
    for row in rows:
        assert abs(row["recall_mc"] - row["recall_hypergeometric"]) < 0.005, row
    paper = {8: 0.9986, 16: 0.9935, 32: 0.9741, 64: 0.9106}
    for row in (r for r in rows if r["tile"] == 16):
        assert abs(row["recall_hypergeometric"] - paper[row["k2"]]) < 1e-4
