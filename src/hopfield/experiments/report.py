"""Experiment reports: image grids, energy traces, metrics tables and an ``index.html``.

Every function writes one file and returns its path; figures are bare
matplotlib ``Figure`` objects rendered by Agg (no pyplot, no global backend switch),
so reports work on headless machines and leave a notebook's plotting state alone. A
report folder is self-contained: ``index.html`` links its PNG/CSV/JSON files by relative
path and loads no external asset.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "ReportSection",
    "image_grid_figure",
    "metrics_markdown",
    "new_figure",
    "save_energy_traces",
    "save_figure",
    "save_image_grid",
    "save_metric_heatmap",
    "write_index_html",
    "write_metrics_csv",
    "write_metrics_json",
]

Row = Mapping[str, Any]


def _to_images(row: torch.Tensor, name: str) -> torch.Tensor:
    """``(N, H, W)`` or ``(N, C, H, W)`` (C ∈ {1, 3}) to ``(N, H, W[, 3])`` float32 CPU."""
    if not isinstance(row, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(row).__name__}")
    images = row.detach().to("cpu", torch.float32)
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0]
    if images.ndim == 4 and images.shape[1] == 3:
        return images.permute(0, 2, 3, 1)
    if images.ndim == 3:
        return images
    raise ValueError(
        f"{name} must have shape (N, H, W) or (N, C∈{{1,3}}, H, W), got {tuple(row.shape)}"
    )


def save_image_grid(
    path: str | os.PathLike[str],
    rows: Sequence[torch.Tensor],
    row_labels: Sequence[str],
    *,
    column_labels: Sequence[str] | None = None,
    title: str | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    cell_inches: float = 0.9,
    dpi: int = 100,
) -> Path:
    """Save :func:`image_grid_figure` of the same arguments to ``path``."""
    figure = image_grid_figure(
        rows,
        row_labels,
        column_labels=column_labels,
        title=title,
        value_range=value_range,
        cell_inches=cell_inches,
    )
    return save_figure(figure, path, dpi)


def image_grid_figure(
    rows: Sequence[torch.Tensor],
    row_labels: Sequence[str],
    *,
    column_labels: Sequence[str] | None = None,
    title: str | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    cell_inches: float = 0.9,
) -> Any:
    """A figure of a grid: one row per tensor in ``rows`` (each ``(N, [C,] H, W)``), ``N`` columns.

    Typical rows: originals, corrupted queries, then each model's recalled states.
    Values are clipped to ``value_range`` and shown in grey (RGB rows in colour); all
    cells are drawn as one mosaic image separated by white gutters.
    """
    if not rows or len(rows) != len(row_labels):
        raise ValueError(
            f"rows and row_labels must be non-empty and of equal length, got "
            f"{len(rows)} and {len(row_labels)}"
        )
    images = [_to_images(r, f"rows[{i}]") for i, r in enumerate(rows)]
    columns = images[0].shape[0]
    if any(im.shape[0] != columns for im in images):
        raise ValueError(
            f"every row needs the same number of images, got {[im.shape[0] for im in images]}"
        )
    if column_labels is not None and len(column_labels) != columns:
        raise ValueError(f"column_labels must have {columns} entries, got {len(column_labels)}")
    low, high = value_range
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    if any(im.shape[1:3] != images[0].shape[1:3] for im in images):
        raise ValueError("every image must have the same height and width")
    mosaic = _mosaic(images, low, high)
    label_inches, margin = 1.6, 0.1
    top_inches = (0.45 if title else margin) + (0.25 if column_labels is not None else 0.0)
    grid_width, grid_height = cell_inches * columns, cell_inches * len(images)
    width = label_inches + grid_width + margin
    height = top_inches + grid_height + margin
    fig = new_figure((width, height))
    # one image of all cells (one Axes): fast even for hundreds of cells
    ax = fig.add_axes(
        (label_inches / width, margin / height, grid_width / width, grid_height / height)
    )
    ax.imshow(mosaic, vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    ax.axis("off")
    for r, label in enumerate(row_labels):
        y = (margin + grid_height - (r + 0.5) * cell_inches) / height
        fig.text((label_inches - 0.08) / width, y, label, ha="right", va="center", fontsize=9)
    if column_labels is not None:
        for c, label in enumerate(column_labels):
            x = (label_inches + (c + 0.5) * cell_inches) / width
            y = (margin + grid_height + 0.05) / height
            fig.text(x, y, str(label), ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.08 / height)
    return fig


def _mosaic(images: list[torch.Tensor], low: float, high: float) -> Any:
    """Rows of ``(N, H, W[, 3])`` images → one RGB array with white 1-pixel gutters."""
    rows, columns = len(images), images[0].shape[0]
    height, width = images[0].shape[1:3]
    gutter = max(1, round(0.06 * max(height, width)))
    canvas = torch.ones(rows * (height + gutter) - gutter, columns * (width + gutter) - gutter, 3)
    for r, row in enumerate(images):
        scaled = (row.clamp(low, high) - low) / (high - low)
        rgb = scaled if scaled.ndim == 4 else scaled.unsqueeze(-1).expand(*scaled.shape, 3)
        for c in range(columns):
            top, left = r * (height + gutter), c * (width + gutter)
            canvas[top : top + height, left : left + width] = rgb[c]
    return canvas.numpy()


def save_energy_traces(
    path: str | os.PathLike[str],
    traces: Mapping[str, torch.Tensor],
    *,
    title: str | None = None,
    relative: bool = True,
    columns: int = 3,
    dpi: int = 100,
) -> Path:
    """Plot energy traces ``{name: (T+1, B)}``, one panel per name, one line per query.

    With ``relative`` each line shows ``E_t − E_0`` so that models with very different
    energy scales share a readable axis per panel; the mean over the batch is drawn
    in black. Non-finite energies (e.g. outside every LSR support) are left out.
    """
    if not traces:
        raise ValueError("traces must contain at least one entry")
    count = len(traces)
    ncols = min(columns, count)
    nrows = math.ceil(count / ncols)
    fig = new_figure((4.2 * ncols, 2.9 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (name, trace) in zip(axes.flat, traces.items(), strict=False):
        _plot_trace(ax, name, trace, relative)
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    top = 1 - (0.75 if title else 0.3) / (2.9 * nrows)
    fig.subplots_adjust(
        left=0.08, right=0.98, bottom=0.6 / (2.9 * nrows), top=top, wspace=0.35, hspace=0.55
    )
    return save_figure(fig, path, dpi)


def _plot_trace(ax: Any, name: str, trace: torch.Tensor, relative: bool) -> None:
    if not isinstance(trace, torch.Tensor) or trace.ndim != 2:
        raise ValueError(f"traces[{name!r}] must be a (T+1, B) tensor")
    values = trace.detach().to("cpu", torch.float64)
    finite = torch.isfinite(values)
    if relative:
        values = values - _first_finite(values, finite)
    values = torch.where(finite, values, torch.nan)
    if not bool(finite.all()):
        ax.text(
            0.02,
            0.03,
            "non-finite energies (e.g. +∞ outside\nevery support) not drawn",
            transform=ax.transAxes,
            fontsize=7,
            color="tab:red",
        )
    steps = torch.arange(values.shape[0]).numpy()
    ax.plot(steps, values.numpy(), color="tab:blue", alpha=0.25, linewidth=0.8)
    if values.shape[1] > 1:
        ax.plot(steps, values.nanmean(dim=1).numpy(), color="black", linewidth=1.6, label="mean")
        ax.legend(fontsize=7, loc="upper right")
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("E − E₀ (first finite)" if relative else "E", fontsize=8)
    ax.tick_params(labelsize=7)
    if values.shape[0] <= 12:
        ax.set_xticks(steps)


def save_metric_heatmap(
    path: str | os.PathLike[str],
    rows: Sequence[Row],
    *,
    row_key: str,
    column_key: str,
    value_key: str,
    title: str | None = None,
    value_range: tuple[float, float] | None = None,
    digits: int = 2,
    dpi: int = 100,
) -> Path:
    """Heatmap of ``value_key`` over (``row_key``, ``column_key``) pairs of ``rows``.

    E.g. bit error per (model, corruption): rows and columns keep their order of
    first appearance; each cell is annotated with its value (missing pairs blank).
    """
    if not rows:
        raise ValueError("rows must contain at least one record")
    for key in (row_key, column_key, value_key):
        if any(key not in r for r in rows):
            raise ValueError(f"every row needs the key {key!r}")
    row_names, column_names, grid = _metric_grid(rows, row_key, column_key, value_key)
    low, high = value_range or (
        float(grid.nan_to_num(nan=0.0).min()),
        float(grid.nan_to_num(nan=0.0).max()),
    )
    fig = new_figure((1.8 + 1.1 * len(column_names), 0.9 + 0.38 * len(row_names)))
    ax = fig.add_subplot()
    image = ax.imshow(
        grid.numpy(),
        cmap="viridis",
        vmin=low,
        vmax=high if high > low else low + 1e-9,
        aspect="auto",
    )
    for i in range(len(row_names)):
        for j in range(len(column_names)):
            value = float(grid[i, j])
            if value == value:
                dark = value > low + 0.5 * (high - low) if high > low else False
                ax.text(
                    j,
                    i,
                    f"{value:.{digits}f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if dark else "white",
                )
    ax.set_xticks(range(len(column_names)), column_names, fontsize=8)
    ax.set_yticks(range(len(row_names)), row_names, fontsize=8)
    fig.colorbar(image, ax=ax, label=value_key, fraction=0.05)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def _metric_grid(
    rows: Sequence[Row], row_key: str, column_key: str, value_key: str
) -> tuple[list[str], list[str], torch.Tensor]:
    """Row names, column names (first-appearance order) and the ``(R, C)`` value grid."""
    row_names = list(dict.fromkeys(str(r[row_key]) for r in rows))
    column_names = list(dict.fromkeys(str(r[column_key]) for r in rows))
    grid = torch.full((len(row_names), len(column_names)), float("nan"), dtype=torch.float64)
    for r in rows:
        value = float(_plain(r[value_key]))
        grid[row_names.index(str(r[row_key])), column_names.index(str(r[column_key]))] = value
    return row_names, column_names, grid


def _first_finite(values: torch.Tensor, finite: torch.Tensor) -> torch.Tensor:
    """``(1, B)``: each column's first finite value (0 where there is none)."""
    index = finite.to(torch.int64).argmax(dim=0, keepdim=True)
    first = values.gather(0, index)
    return torch.where(torch.isfinite(first), first, torch.zeros_like(first))


def new_figure(size: tuple[float, float]) -> Any:
    """A bare ``matplotlib.figure.Figure`` of ``size`` inches (no pyplot: no global state,
    no GUI backend); draw with ``fig.subplots()`` and write it with :func:`save_figure`."""
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (parent folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=dpi)
    return target


def _columns(rows: Sequence[Row], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    return names


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    return value


def write_metrics_csv(
    path: str | os.PathLike[str], rows: Sequence[Row], columns: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` (one mapping per record) as CSV with a header line."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    names = _columns(rows, columns)
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _plain(row.get(k, "")) for k in names})
    return target


def write_metrics_json(
    path: str | os.PathLike[str],
    rows: Sequence[Row],
    *,
    metadata: Mapping[str, Any] | None = None,
    tables: Mapping[str, Sequence[Row]] | None = None,
) -> Path:
    """Write ``{"metadata": ..., "rows": [...]}`` as indented JSON (NaN/inf as null);
    with ``tables`` also ``"tables": {name: [...]}``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)

    def clean(value: Any) -> Any:
        value = _plain(value)
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    payload: dict[str, Any] = {
        "metadata": clean(dict(metadata or {})),
        "rows": [clean(dict(r)) for r in rows],
    }
    if tables is not None:
        payload["tables"] = {str(k): [clean(dict(r)) for r in v] for k, v in tables.items()}
    target.write_text(json.dumps(payload, indent=2) + "\n")
    return target


def _format(value: Any, digits: int) -> str:
    value = _plain(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 10 ** (-digits)):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}f}"
    return str(value)


def metrics_markdown(
    rows: Sequence[Row], columns: Sequence[str] | None = None, *, digits: int = 3
) -> str:
    """A GitHub-flavoured markdown table of ``rows`` (floats to ``digits`` decimals)."""
    names = _columns(rows, columns)
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(k, ""), digits) for k in names) + " |")
    return "\n".join(lines)


@dataclass
class ReportSection:
    """One section of ``index.html``: a heading, a paragraph, images, a table and links.

    ``images`` and ``links`` are paths relative to the report folder (``links`` may
    be ``(label, path)`` pairs); ``table`` is a list of row mappings.
    """

    title: str
    text: str = ""
    images: Sequence[str] = ()
    table: Sequence[Row] | None = None
    links: Sequence[str | tuple[str, str]] = ()
    columns: Sequence[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.55em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.links a { margin-right: 1em; }
"""


def _section_html(section: ReportSection, digits: int) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    if section.text:
        parts.append(f"<p>{html.escape(section.text)}</p>")
    for image in section.images:
        src = html.escape(str(image), quote=True)
        parts.append(f'<div><a href="{src}"><img src="{src}" alt="{src}"></a></div>')
    if section.table:
        names = _columns(section.table, section.columns)
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(_format(r.get(n, ''), digits))}</td>" for n in names)
            + "</tr>"
            for r in section.table
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    if section.links:
        anchors = []
        for link in section.links:
            label, target = (link, link) if isinstance(link, str) else link
            anchors.append(
                f'<a href="{html.escape(str(target), quote=True)}">{html.escape(label)}</a>'
            )
        parts.append(f'<p class="links">{" ".join(anchors)}</p>')
    return "\n".join(parts)


def write_index_html(
    out_dir: str | os.PathLike[str],
    title: str,
    sections: Sequence[ReportSection | Mapping[str, Any]],
    *,
    digits: int = 3,
) -> Path:
    """Write ``out_dir/index.html`` showing ``sections`` (``ReportSection`` or same-keyed dicts).

    The page is self-contained: inline CSS, images and files linked by the relative
    paths given; paths that do not exist under ``out_dir`` raise ``FileNotFoundError``.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    resolved = [s if isinstance(s, ReportSection) else ReportSection(**s) for s in sections]
    for section in resolved:
        paths = [*section.images, *(l if isinstance(l, str) else l[1] for l in section.links)]
        for relative_path in paths:
            if Path(relative_path).is_absolute() or not (folder / relative_path).exists():
                raise FileNotFoundError(
                    f"section {section.title!r} links {relative_path!r}, which is not a file "
                    f"under {folder} (paths must be relative to out_dir)"
                )
    body = "\n".join(_section_html(s, digits) for s in resolved)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
    target = folder / "index.html"
    target.write_text(page, encoding="utf-8")
    return target
