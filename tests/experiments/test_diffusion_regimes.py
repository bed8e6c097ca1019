"""``hopfield study diffusion --protocol tutorial``: sample classes, smoke run, full run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from hopfield.experiments.diffusion_regimes import (
    classify_samples,
    mixture_segments,
    uniform_fractions,
)


def _ring(angles: list[float]) -> torch.Tensor:
    a = torch.tensor(angles, dtype=torch.float64)
    return torch.stack([a.cos(), a.sin()], dim=1)


def test_mixture_segments_join_neighbour_means_to_the_circle() -> None:
    stored = _ring([0.0, math.pi / 2, 5 * math.pi / 4])
    starts, ends = mixture_segments(stored)
    expected_start = 0.5 * (stored[0] + stored[1])
    assert torch.isclose(starts, expected_start).all(dim=1).any()
    torch.testing.assert_close(ends.norm(dim=1), torch.ones(3, dtype=torch.float64))


def test_samples_are_classified_stored_spurious_circle_other() -> None:
    stored = _ring([0.0, 2 * math.pi / 3, 4 * math.pi / 3])
    mean = 0.5 * (stored[0] + stored[1])
    samples = torch.stack(
        [
            stored[0] + 0.01,  # stored
            mean,  # unnormalised mixture
            mean / mean.norm(),  # normalised mixture
            0.5 * (mean + mean / mean.norm()),  # between the two
            _ring([0.3])[0],  # on the circle, away from both
            torch.tensor([0.0, 0.0], dtype=torch.float64) + 3.0,  # elsewhere
        ]
    )
    fractions = classify_samples(samples, stored)
    assert fractions["stored"] == pytest.approx(1 / 6)
    assert fractions["spurious"] == pytest.approx(3 / 6)
    assert fractions["circle"] == pytest.approx(1 / 6)
    assert fractions["other"] == pytest.approx(1 / 6)


def test_circle_band_does_not_shrink_with_the_number_of_stored_points() -> None:
    # at K = 1000 the stored radius is ~0.001; a sample 0.02 off the circle is still on it
    angles = torch.linspace(0, 2 * math.pi, 1001, dtype=torch.float64)[:-1]
    stored = torch.stack([angles.cos(), angles.sin()], dim=1)
    between = 1.02 * _ring([float(angles[0] + angles[1]) / 2])
    far = 1.2 * _ring([0.1])
    fractions = classify_samples(torch.cat([between, far]), stored)
    assert fractions["radius"] < 0.01
    assert fractions["circle"] == pytest.approx(0.5)
    assert fractions["other"] == pytest.approx(0.5)


def test_uniform_fractions_are_the_arc_shares_of_each_class() -> None:
    # two opposite stored points: each holds the arc ±2·asin(r/2), 8·asin(r/2)/(2π) in all
    stored = _ring([0.0, math.pi])
    fractions = uniform_fractions(stored, count=40_000, seed=3)
    assert sum(fractions.values()) == pytest.approx(1.0)
    expected_stored = 8 * math.asin(0.05 / 2) / (2 * math.pi)
    assert fractions["stored"] == pytest.approx(expected_stored, abs=0.004)
    assert fractions["other"] == 0.0


def test_tutorial_protocol_quick_writes_the_table_and_the_figure(tmp_path: Path) -> None:
    from hopfield.cli import main

    out = tmp_path / "tutorial"
    code = main(
        [
            "study",
            "diffusion",
            "--protocol",
            "tutorial",
            "--quick",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert (out / "diffusion_tutorial_samples.png").stat().st_size > 1000
    results = json.loads((out / "results.json").read_text())
    assert [row["K"] for row in results["rows"]] == [2, 9, 1000]
    for row in results["rows"]:
        total = row["stored"] + row["spurious"] + row["circle"] + row["other"]
        assert total == pytest.approx(1.0)
        assert 0.0 < row["spurious_uniform"] < 1.0
    assert "spurious" in (out / "summary.md").read_text().lower()


@pytest.mark.slow
def test_tutorial_protocol_full_memorises_at_two_points(tmp_path: Path) -> None:
    """The full protocol (50k steps per K: tens of minutes on 2 cores)."""
    from hopfield.cli import main

    out = tmp_path / "tutorial"
    code = main(
        ["study", "diffusion", "--protocol", "tutorial", "--out", str(out), "--no-progress"]
    )
    assert code == 0
    rows = {row["K"]: row for row in json.loads((out / "results.json").read_text())["rows"]}
    assert rows[2]["stored"] >= 0.9
    assert rows[1000]["stored"] + rows[1000]["circle"] >= 0.9
    # seed 0 measured 27.1 % on mixtures against 14.6 % for uniform circle points
    assert rows[9]["spurious"] > rows[9]["spurious_uniform"]
