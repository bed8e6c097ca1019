"""The main job ``hopfield demo``: files written and metrics that make sense."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from hopfield.cli import main
from hopfield.experiments import demo
from hopfield.experiments.demo import Corruption, DemoConfig, parse_corruption, run_demo
from hopfield.models import registry

AVAILABLE = registry.available(registry.VECTOR_STATES)


def _rows_by_key(rows: list[dict[str, object]]) -> dict[tuple[str, str], dict[str, object]]:
    return {(str(r["model"]), str(r["corruption"])): r for r in rows}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoResult]:
    out = tmp_path_factory.mktemp("demo")
    config = DemoConfig.quick(out=str(out), models=tuple(AVAILABLE), progress=False)
    return out, run_demo(config)


def test_quick_demo_writes_every_output_file(quick_run: tuple[Path, demo.DemoResult]) -> None:
    out, _ = quick_run
    expected = {"index.html", "metrics.csv", "metrics.json", "summary_bit_error.png"}
    for corruption in demo.QUICK_SETTINGS["corruptions"]:
        expected |= {f"grid_{corruption.slug}.png", f"energy_{corruption.slug}.png"}
    assert expected <= {p.name for p in out.iterdir()}
    for name in expected:
        assert (out / name).stat().st_size > 0, name
    grid = Image.open(out / "grid_flip-0.1.png")
    assert grid.size[1] > grid.size[0] / 2, "rows: original, corrupted and one per model"
    html = (out / "index.html").read_text()
    for link in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not link.startswith(("http", "/")) and (out / link).is_file(), link


def test_quick_demo_tables_agree_and_cover_every_model(
    quick_run: tuple[Path, demo.DemoResult],
) -> None:
    out, result = quick_run
    corruptions = [c.label for c in demo.QUICK_SETTINGS["corruptions"]]
    assert len(result.rows) == len(corruptions) * (len(AVAILABLE) + 1)
    with (out / "metrics.csv").open() as handle:
        records = list(csv.DictReader(handle))
    assert list(records[0]) == list(demo.METRIC_COLUMNS)
    assert [r["model"] for r in records] == [r["model"] for r in result.rows]
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["metadata"]["config"]["corruptions"] == corruptions
    assert len(payload["rows"]) == len(result.rows)
    for row in result.rows:
        for key in ("bit_error", "exact_recall", "nearest_accuracy"):
            assert 0.0 <= float(row[key]) <= 1.0  # type: ignore[arg-type]
        assert -1.0 <= float(row["overlap"]) <= 1.0  # type: ignore[arg-type]


def test_quick_demo_metrics_make_sense(quick_run: tuple[Path, demo.DemoResult]) -> None:
    _, result = quick_run
    rows = _rows_by_key(result.rows)
    query = rows[("(query)", "flip:0.1")]
    # 8 patterns × 256 pixels flipped with p = 0.1: std of the rate ≈ 0.007
    assert float(query["bit_error"]) == pytest.approx(0.1, abs=0.03)  # type: ignore[arg-type]
    assert float(query["overlap"]) == pytest.approx(1 - 2 * float(query["bit_error"]))  # type: ignore[arg-type]
    for name in ("modern-dot", "modern-euclidean", "dense-exp", "lsr"):
        if name in AVAILABLE:
            for corruption in ("flip:0.1", "occlude:0.5"):
                row = rows[(name, corruption)]
                assert row["bit_error"] == 0.0 and row["exact_recall"] == 1.0, (name, corruption)
    if "hopfield-hebbian" in AVAILABLE:
        # glyphs share most background pixels: the Hebbian rule merges them
        assert float(rows[("hopfield-hebbian", "flip:0.1")]["bit_error"]) > 0.05  # type: ignore[arg-type]


def test_corruption_parsing_and_validation() -> None:
    assert parse_corruption("flip:0.2") == Corruption("flip", 0.2)
    assert parse_corruption("noise:1.5").level == 1.5
    assert Corruption("occlude", 0.5).slug == "occlude-0.5"
    for bad in ("flip", "flip:x", "blur:0.1", "flip:1.5", "occlude:-0.1"):
        with pytest.raises(ValueError, match="corruption"):
            parse_corruption(bad)


def test_corrupt_is_seeded_and_occlusion_marks_hidden_rows() -> None:
    patterns = torch.ones(3, 16)
    generator = torch.Generator().manual_seed(0)
    a, known_a = demo.corrupt(patterns, (1, 4, 4), Corruption("flip", 0.5), generator=generator)
    generator.manual_seed(0)
    b, _ = demo.corrupt(patterns, (1, 4, 4), Corruption("flip", 0.5), generator=generator)
    assert known_a is None and torch.equal(a, b) and bool((a == -1).any())
    hidden, known = demo.corrupt(
        patterns, (1, 4, 4), Corruption("occlude", 0.5), generator=generator
    )
    assert known is not None and int((~known).sum()) == 3 * 8
    assert bool((hidden[~known] == -1).all()) and bool((hidden[known] == 1).all())
    noisy, _ = demo.corrupt(patterns, (1, 4, 4), Corruption("noise", 3.0), generator=generator)
    assert float(noisy.abs().max()) <= 1.0


def test_select_separated_picks_far_apart_patterns() -> None:
    points = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 4.0], [4.9, 0.0]])
    assert demo.select_separated(points, 3).tolist() == [0, 2, 3]
    with pytest.raises(ValueError, match="count"):
        demo.select_separated(points, 6)


def test_demo_command_quick_with_model_subset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = [m for m in ("modern-dot", "hopfield-pinv") if m in AVAILABLE]
    code = main(
        [
            "demo",
            "--quick",
            "--no-progress",
            "--out",
            str(tmp_path),
            "--dataset",
            "digits",
            "--models",
            ",".join(models),
            "--corruptions",
            "flip:0.05,noise:0.2",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| model | corruption | bit_error" in printed
    assert "flip:0.05" in printed and "noise:0.2" in printed
    assert (tmp_path / "grid_noise-0.2.png").is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--quick", "--out", str(tmp_path), "--models", "nope"])
    assert exit_info.value.code == 2
    assert "argument --models: unknown model 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_full_default_demo_within_two_minutes(tmp_path: Path) -> None:
    busy_before = os.getloadavg()[0]
    result = run_demo(DemoConfig(out=str(tmp_path), progress=False))
    if max(busy_before, os.getloadavg()[0]) < 2.5:  # timing is only meaningful when idle
        assert result.wall_s < 120.0, f"default demo took {result.wall_s:.0f} s"
    assert not result.skipped, result.skipped
    rows = _rows_by_key(result.rows)
    for name in ("modern-dot", "modern-euclidean", "dense-exp", "hopfield-pinv"):
        for corruption in ("flip:0.1", "flip:0.2", "occlude:0.25", "occlude:0.5"):
            assert rows[(name, corruption)]["exact_recall"] == 1.0, (name, corruption)
    for corruption in demo.DEFAULT_CORRUPTIONS:
        assert (tmp_path / f"grid_{corruption.slug}.png").is_file()
