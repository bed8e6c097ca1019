"""``hopfield recall`` and ``hopfield capacity`` through the command-line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hopfield.cli import main
from hopfield.experiments.recall_cmd import run_capacity
from hopfield.models import registry

AVAILABLE = registry.available(registry.VECTOR_STATES)
needs = pytest.mark.skipif(
    not {"modern-euclidean", "hopfield-hebbian"} <= set(AVAILABLE), reason="models not available"
)


@needs
def test_recall_command_writes_report_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "recall",
            "--model",
            "modern-euclidean",
            "--dataset",
            "digits",
            "--patterns",
            "10",
            "--corruption",
            "occlude:0.5",
            "--beta",
            "2.0",
            "--seed",
            "1",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| modern-euclidean | occlude:0.5 |" in printed
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert payload["metadata"]["config"]["beta"] == 2.0
    assert [r["model"] for r in payload["rows"]] == ["(query)", "modern-euclidean"]
    recalled = payload["rows"][1]
    assert recalled["bit_error"] <= payload["rows"][0]["bit_error"]
    for name in ("index.html", "grid_occlude-0.5.png", "energy_occlude-0.5.png", "metrics.csv"):
        assert (tmp_path / name).is_file(), name


def test_recall_command_rejects_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["recall", "--model", "not-a-model", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "recall",
                "--model",
                "modern-dot",
                "--corruption",
                "smudge:0.1",
                "--out",
                str(tmp_path),
            ]
        )
    assert exit_info.value.code == 2
    assert "argument --corruption: corruption kind must be one of" in capsys.readouterr().err


@needs
def test_capacity_command_reports_a_seeded_monotone_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "capacity.json"
    argv = [
        "capacity",
        "--model",
        "hopfield-hebbian",
        "--neurons",
        "30",
        "--max-error",
        "0.01",
        "--trials",
        "2",
        "--max-patterns",
        "12",
        "--seed",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "capacity K =" in printed
    payload = json.loads(out.read_text())
    capacity = payload["capacity"]
    # Hebbian storage at ≈1 % bit error: K ≈ 0.14 N ≈ 4 for N = 30 (finite size: 2..8)
    assert 2 <= capacity <= 8
    points = {p["num_patterns"]: p for p in payload["points"]}
    assert all(p["passed"] == (k <= capacity) for k, p in points.items())
    assert main(argv) == 0
    assert json.loads(out.read_text())["capacity"] == capacity


@needs
def test_capacity_of_continuous_model_exceeds_classical() -> None:
    classical = run_capacity("hopfield-hebbian", 24, trials=1, max_patterns=24, seed=0)
    modern = run_capacity("modern-dot", 24, trials=1, max_patterns=24, seed=0)
    assert modern.capacity > classical.capacity
    assert modern.capacity == 24, "β = 1 LSE memory stores all 24 patterns of N = 24"
