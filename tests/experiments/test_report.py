"""Report helpers: image grids, energy traces, metrics tables and index.html."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from hopfield.experiments import report


def test_image_grid_has_one_square_cell_per_image(tmp_path: Path) -> None:
    rows = [torch.rand(5, 1, 8, 8) * 2 - 1, torch.rand(5, 8, 8), torch.rand(5, 3, 8, 8)]
    path = report.save_image_grid(
        tmp_path / "sub" / "grid.png", rows, ["a", "b", "rgb"], title="t", dpi=50
    )
    assert path.is_file()
    width, height = Image.open(path).size
    # 5 columns of 0.9 in + 1.7 in of margins, 3 rows of 0.9 in + 0.55 in at 50 dpi
    assert width == pytest.approx(50 * (1.7 + 5 * 0.9), abs=2)
    assert height == pytest.approx(50 * (0.55 + 3 * 0.9), abs=2)


def test_image_grid_rejects_ragged_rows_and_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same number"):
        report.save_image_grid(
            tmp_path / "g.png", [torch.rand(3, 4, 4), torch.rand(2, 4, 4)], ["a", "b"]
        )
    with pytest.raises(ValueError, match="row_labels"):
        report.save_image_grid(tmp_path / "g.png", [torch.rand(3, 4, 4)], ["a", "b"])
    with pytest.raises(ValueError, match="rows"):
        report.save_image_grid(tmp_path / "g.png", [torch.rand(3, 2, 4, 4)], ["a"])


def test_energy_traces_accept_infinite_entries(tmp_path: Path) -> None:
    trace = torch.tensor([[float("inf"), 3.0], [2.0, 1.0], [1.0, 1.0]])
    path = report.save_energy_traces(
        tmp_path / "e.png", {"lsr": trace, "hop": torch.randn(5, 4).cumsum(0)}, title="x"
    )
    assert path.is_file() and Image.open(path).size[0] > 100
    with pytest.raises(ValueError, match="traces"):
        report.save_energy_traces(tmp_path / "e.png", {})


def test_metric_heatmap_places_values_by_row_and_column(tmp_path: Path) -> None:
    rows = [
        {"model": "a", "corruption": "x", "err": 0.1},
        {"model": "b", "corruption": "x", "err": 0.3},
        {"model": "a", "corruption": "y", "err": 0.2},
    ]
    path = report.save_metric_heatmap(
        tmp_path / "h.png", rows, row_key="model", column_key="corruption", value_key="err"
    )
    assert path.is_file() and Image.open(path).size[0] > 100
    names, columns, grid = report._metric_grid(rows, "model", "corruption", "err")
    assert names == ["a", "b"] and columns == ["x", "y"]
    assert grid[0].tolist() == [0.1, 0.2] and grid[1, 0] == 0.3 and torch.isnan(grid[1, 1])
    with pytest.raises(ValueError, match="missing"):
        report.save_metric_heatmap(
            tmp_path / "h.png", rows, row_key="model", column_key="corruption", value_key="missing"
        )


def test_first_finite_baseline_per_query() -> None:
    values = torch.tensor([[float("inf"), 3.0], [2.0, 1.0]])
    baseline = report._first_finite(values, torch.isfinite(values))
    assert baseline.tolist() == [[2.0, 3.0]]


ROWS = [
    {"model": "a", "bit_error": 0.125, "steps": 3, "ok": True},
    {"model": "b", "bit_error": float("nan"), "steps": 0, "extra": torch.tensor(2.5)},
]


def test_metrics_csv_json_and_markdown_round_trip(tmp_path: Path) -> None:
    csv_path = report.write_metrics_csv(tmp_path / "m.csv", ROWS)
    with csv_path.open() as handle:
        records = list(csv.DictReader(handle))
    assert [r["model"] for r in records] == ["a", "b"]
    assert records[0]["bit_error"] == "0.125" and records[1]["extra"] == "2.5"
    json_path = report.write_metrics_json(tmp_path / "m.json", ROWS, metadata={"seed": 3})
    payload = json.loads(json_path.read_text())
    assert payload["metadata"] == {"seed": 3}
    assert payload["rows"][1]["bit_error"] is None and payload["rows"][1]["extra"] == 2.5
    table = report.metrics_markdown(ROWS, ["model", "bit_error", "steps"])
    lines = table.splitlines()
    assert lines[0] == "| model | bit_error | steps |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| a | 0.125 | 3 |" and lines[3] == "| b | nan | 0 |"


def test_index_html_links_relative_files_only(tmp_path: Path) -> None:
    report.save_image_grid(tmp_path / "g.png", [torch.rand(2, 4, 4)], ["r"])
    report.write_metrics_csv(tmp_path / "m.csv", ROWS)
    page = report.write_index_html(
        tmp_path,
        "Title <&>",
        [
            report.ReportSection("Grid", text="x < y", images=["g.png"], links=["m.csv"]),
            {"title": "Table", "table": ROWS, "columns": ["model", "steps"]},
        ],
    )
    text = page.read_text()
    assert "Title &lt;&amp;&gt;" in text and "x &lt; y" in text
    assert 'src="g.png"' in text and 'href="m.csv"' in text
    assert "<td>a</td><td>3</td>" in text
    assert "http" not in text, "no external assets"
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        report.write_index_html(tmp_path, "t", [report.ReportSection("s", images=["missing.png"])])
