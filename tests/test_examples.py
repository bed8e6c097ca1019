"""The examples run offline with ``--quick`` and reach their documented numbers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ood_example_quick_reaches_auroc_0_9(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = _load("ood_detection_digits").main(["--quick"])
    assert metrics["auroc"] >= 0.9
    assert 0.0 <= metrics["fpr95"] < 0.5
    assert "AUROC" in capsys.readouterr().out


@pytest.mark.slow
def test_pattern_completion_example_restores_glyphs(tmp_path: Path) -> None:
    out = tmp_path / "glyphs.png"
    metrics = _load("pattern_completion_glyphs").main(["--quick", "--out", str(out)])
    assert out.stat().st_size > 0
    assert metrics["lse_hidden_pixel_accuracy"] >= 0.95
    assert metrics["lsr_hidden_pixel_accuracy"] >= 0.95


@pytest.mark.slow
def test_digits_pipeline_example_beats_chance() -> None:
    metrics = _load("digits_classification_pipeline").main(["--quick"])
    assert metrics["test_accuracy"] >= 0.8


@pytest.mark.slow
def test_mil_example_hopfield_pooling_learns_bags() -> None:
    metrics = _load("multiple_instance_learning").main(["--quick"])
    assert metrics["hopfield_test_accuracy"] >= 0.8


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "pattern_completion_glyphs",
        "digits_classification_pipeline",
        "multiple_instance_learning",
        "ood_detection_digits",
    ],
)
def test_example_script_runs_as_a_program(name: str, tmp_path: Path) -> None:
    args = [sys.executable, str(EXAMPLES / f"{name}.py"), "--quick"]
    if name == "pattern_completion_glyphs":
        args += ["--out", str(tmp_path / "out.png")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
