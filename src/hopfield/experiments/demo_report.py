"""Files of ``hopfield demo``: image grids, energy traces, metrics tables and ``index.html``."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from hopfield.experiments import report
from hopfield.experiments.demo_config import METRIC_COLUMNS, Corruption, DemoConfig, DemoResult
from hopfield.models import registry

__all__ = ["RecallRun", "write_figures", "write_tables_and_index"]


@dataclass
class RecallRun:
    """States ``(B, D)`` and energy trace ``(T+1, B)`` of one model's recall."""

    states: torch.Tensor
    energies: torch.Tensor


def write_figures(
    config: DemoConfig,
    result: DemoResult,
    corruption: Corruption,
    continuous: torch.Tensor,
    queries: torch.Tensor,
    image_shape: tuple[int, ...],
    runs: dict[str, RecallRun],
) -> None:
    out = Path(config.out)
    shown = slice(0, min(config.columns, continuous.shape[0]))

    def images(flat: torch.Tensor) -> torch.Tensor:
        return flat[shown].reshape(-1, *image_shape)

    rows = [images(continuous), images(queries)] + [images(r.states) for r in runs.values()]
    labels = ["original", f"corrupted\n{corruption.label}", *runs]
    grid = report.save_image_grid(
        out / f"grid_{corruption.slug}.png",
        rows,
        labels,
        title=f"{config.dataset}: recall from {corruption.label}",
    )
    result.files[f"grid_{corruption.slug}"] = grid
    if runs:
        traces = report.save_energy_traces(
            out / f"energy_{corruption.slug}.png",
            {name: run.energies for name, run in runs.items()},
            title=f"energy during recall from {corruption.label} (E − E₀ per query)",
        )
        result.files[f"energy_{corruption.slug}"] = traces


def _metadata(config: DemoConfig, result: DemoResult) -> dict[str, Any]:
    settings = asdict(config)
    settings["corruptions"] = [c.label for c in config.corruptions]
    return {
        "config": settings,
        "skipped_models": result.skipped,
        "wall_s": result.wall_s,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def write_tables_and_index(config: DemoConfig, result: DemoResult) -> None:
    out = Path(config.out)
    result.files["metrics_csv"] = report.write_metrics_csv(
        out / "metrics.csv", result.rows, METRIC_COLUMNS
    )
    recalled = [r for r in result.rows if r["model"] != "(query)"]
    if recalled:
        result.files["summary"] = report.save_metric_heatmap(
            out / "summary_bit_error.png",
            result.rows,
            row_key="model",
            column_key="corruption",
            value_key="bit_error",
            value_range=(0.0, 0.5),
            title="bit error after recall ('(query)': before recall)",
        )
    result.files["metrics_json"] = report.write_metrics_json(
        out / "metrics.json", result.rows, metadata=_metadata(config, result)
    )
    sections: list[report.ReportSection] = [
        report.ReportSection(
            "Bit error by model and corruption",
            images=["summary_bit_error.png"] if "summary" in result.files else [],
        ),
        report.ReportSection(
            "Metrics",
            text=(
                f"{config.patterns} {config.dataset} patterns "
                f"({'×'.join(map(str, result.image_shape))}), "
                f"seed {config.seed}, device {config.device}; bit error, exact recall, overlap and "
                "nearest-pattern accuracy of the binarised recalled states; '(query)' scores the "
                f"corrupted queries themselves. Wall time {result.wall_s:.1f} s."
            ),
            table=result.rows,
            columns=METRIC_COLUMNS,
            links=[("metrics.csv", "metrics.csv"), ("metrics.json", "metrics.json")],
        ),
    ]
    models = [
        {
            "model": name,
            "states": "±1" if e.binary else "real",
            "energy": e.energy,
            "paper": e.paper,
        }
        for name, e in ((n, registry.spec(n)) for n in config.models)
        if name not in result.skipped
    ]
    sections.append(report.ReportSection("Models", table=models))
    if result.skipped:
        sections.append(
            report.ReportSection(
                "Skipped models", text="; ".join(f"{k}: {v}" for k, v in result.skipped.items())
            )
        )
    for corruption in config.corruptions:
        images = [f"grid_{corruption.slug}.png"]
        if f"energy_{corruption.slug}" in result.files:
            images.append(f"energy_{corruption.slug}.png")
        sections.append(report.ReportSection(f"Recall from {corruption.label}", images=images))
    result.files["index"] = report.write_index_html(out, config.title, sections)
