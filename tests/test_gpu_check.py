"""``benchmarks/gpu_check.sh`` and the device-stream benchmark, exercised on the CPU.

The script cannot be run on a GPU here; ``--dry-run`` runs each of its steps on the
CPU at tiny sizes, so the script, the benchmarks' ``--device`` options and their JSON
are tested. The streamed 1e8-pattern retrieval is checked on the CUDA machine by the
``cuda``-marked test below.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _stream_module() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "bench_device_stream", ROOT / "benchmarks" / "bench_device_stream.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dry_run(tmp_path: Path, steps: str) -> dict[str, object]:
    env = {**os.environ, "OUT": str(tmp_path), "STEPS": steps, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run"], env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads((tmp_path / "gpu_check.json").read_text()))


def test_script_is_valid_bash_and_refuses_unknown_arguments() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    done = subprocess.run(["bash", str(SCRIPT), "--nosuch"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_script_refuses_to_run_without_cuda(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "no CUDA device" in done.stderr


def test_dry_run_of_the_stream_step_writes_its_json(tmp_path: Path) -> None:
    summary = _dry_run(tmp_path, "stream")
    assert summary["dry_run"] is True and summary["device"] == "cpu"
    assert [s["step"] for s in summary["steps"]] == ["stream"]  # type: ignore[index]
    report = json.loads((tmp_path / "bench_device_stream.json").read_text())
    (row,) = report["rows"]
    assert row["gbps"] > 0 and row["max_abs_diff_vs_fp32"] < 1e-2
    assert report["store"]["bytes"] == 100_000 * 256 * 2


@pytest.mark.slow
def test_dry_run_runs_every_step(tmp_path: Path) -> None:
    summary = _dry_run(tmp_path, "tests retrieval ham et layers stream")
    steps: list[dict[str, object]] = summary["steps"]  # type: ignore[assignment]
    assert [s["step"] for s in steps] == ["tests", "retrieval", "ham", "et", "layers", "stream"]
    assert all(s["status"] == 0 for s in steps)
    for name in ("retrieval", "core", "et", "layers", "device_stream"):
        assert (tmp_path / f"bench_{name}.json").stat().st_size > 0


@pytest.mark.parametrize("patterns", [1000, 999, 7])
def test_streamed_retrieval_matches_an_explicit_softmax_on_cpu(patterns: int) -> None:
    stream = _stream_module()
    segments = stream.segments_for(patterns)
    assert patterns % segments == 0
    store = stream.generate_store(patterns, 256, segments, "cpu", seed=0)
    queries = torch.randn(3, 256) / 16
    out, lse = stream.retrieve(store, queries, 0.5)
    expected_out, expected_lse = stream.reference(store, queries, 0.5)
    torch.testing.assert_close(out, expected_out, rtol=0.0, atol=2e-3)
    torch.testing.assert_close(lse, expected_lse, rtol=0.0, atol=2e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_streamed_retrieval_on_cuda_matches_an_explicit_softmax() -> None:
    stream = _stream_module()
    store = stream.generate_store(200_000, 256, stream.segments_for(200_000), "cuda", seed=0)
    queries = torch.randn(4, 256, device="cuda") / 16
    out, lse = stream.retrieve(store, queries, 0.5)
    expected_out, expected_lse = stream.reference(store, queries, 0.5)
    torch.testing.assert_close(out, expected_out, rtol=0.0, atol=2e-3)
    torch.testing.assert_close(lse, expected_lse, rtol=0.0, atol=2e-3)
