"""Visualisation helpers for the Energy Transformer (Hoover et al. 2023).

* :func:`memory_patches` / :func:`plot_memories`: the Hopfield memories ``ξ_μ``
  decoded to image patches with the model's patch decoder (``W_D ξ_μ``, pixel units).
* :func:`energy_per_step` / :func:`plot_energy_curves`: the block energy ``E(x_t)``
  for ``t = 0 … T``.
* :func:`token_energies` / :func:`plot_token_energies`: the energy per token
  (LayerNorm + Hopfield of token ``A`` + attention of query ``A``) as a patch map.
* :func:`reconstruction_grid`: input, masked input and in-painted images at
  several ET steps.
* :func:`write_report`: all of the above plus the metrics tables for a trained run.

Figures are written with matplotlib's ``Agg`` backend (no display needed).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hopfield.experiments.train_et_eval import BASELINES, KNN_NEIGHBOURS, strongest_baseline
from hopfield.models.energy_transformer import EnergyTransformer

__all__ = [
    "energy_per_step",
    "memory_patches",
    "metrics_markdown",
    "mosaic",
    "plot_energy_curves",
    "plot_memories",
    "plot_token_energies",
    "reconstruction_grid",
    "token_energies",
    "write_report",
]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _to_display(image: torch.Tensor) -> Any:
    """``(C, H, W)`` in [0, 1] → an array for ``imshow`` (grey for C = 1)."""
    image = image.detach().float().clamp(0, 1).cpu()
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()


@torch.no_grad()
def memory_patches(model: EnergyTransformer, count: int | None = None) -> torch.Tensor:
    """The first ``count`` Hopfield memories decoded to patches ``(count, C, p, p)``.

    Each memory ``ξ_μ`` (a vector in token-activation space) is read out with the
    patch decoder and the pixel de-normalisation: ``patch_μ = denorm(W_D ξ_μ)``.
    """
    memories = model.block.hopfield.memories
    count = memories.shape[0] if count is None else min(count, memories.shape[0])
    decoded = model.tokenizer.denormalize(model.decoder(memories[:count]).unsqueeze(0))[0]
    t = model.tokenizer
    return decoded.reshape(count, t.in_channels, t.patch_size, t.patch_size)


def mosaic(images: torch.Tensor, cols: int, pad: int = 1) -> torch.Tensor:
    """Tile ``(K, C, h, w)`` images into one ``(C, rows·(h+pad)+pad, cols·(w+pad)+pad)`` image."""
    k, c, h, w = images.shape
    rows = math.ceil(k / cols)
    canvas = images.new_ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    for i in range(k):
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, top : top + h, left : left + w] = images[i]
    return canvas


def plot_memories(model: EnergyTransformer, path: str | Path, count: int = 64) -> Path:
    """Grid PNG of :func:`memory_patches` (each patch rescaled to its own range)."""
    patches = memory_patches(model, count).float().cpu()
    lo = patches.amin(dim=(1, 2, 3), keepdim=True)
    hi = patches.amax(dim=(1, 2, 3), keepdim=True)
    grid = mosaic((patches - lo) / (hi - lo + 1e-8), cols=math.ceil(math.sqrt(patches.shape[0])))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(_to_display(grid), cmap="gray", interpolation="nearest")
    ax.axis("off")
    ax.set_title("Hopfield memories decoded to patches")
    return _save(fig, path)


@torch.no_grad()
def energy_per_step(
    model: EnergyTransformer, images: torch.Tensor, mask: torch.Tensor, steps: int | None = None
) -> torch.Tensor:
    """Block energy trace ``(T + 1, B)`` of the ET started from masked ``images``."""
    return model(images, mask, steps=steps).energies


@torch.no_grad()
def token_energies(
    model: EnergyTransformer, images: torch.Tensor, mask: torch.Tensor, steps: int | None = None
) -> torch.Tensor:
    """Energy per patch token at the final state, as maps ``(B, H/p, W/p)``."""
    tokens = model(images, mask, steps=steps).tokens
    per_token = model.block.token_energies(tokens)[:, model.tokenizer.num_prefix_tokens :]
    h, w = model.tokenizer.image_size
    p = model.tokenizer.patch_size
    return per_token.reshape(-1, h // p, w // p)


def plot_energy_curves(energies: torch.Tensor, path: str | Path, title: str = "") -> Path:
    """Energy per step, one thin line per sample and the mean in bold; ``energies (T+1, B)``."""
    e = energies.detach().float().cpu()
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(e.numpy(), color="tab:blue", alpha=0.15, linewidth=0.8)
    ax.plot(e.mean(dim=1).numpy(), color="black", linewidth=2, label="mean")
    ax.set_xlabel("ET step t")
    ax.set_ylabel("energy E(x_t)")
    ax.set_title(title or "Energy Transformer: energy per step")
    ax.legend()
    return _save(fig, path)


def plot_token_energies(maps: torch.Tensor, path: str | Path, count: int = 8) -> Path:
    """Per-token energy maps ``(B, h, w)`` (first ``count``) as a PNG row."""
    maps = maps[:count].detach().float().cpu()
    plt = _pyplot()
    fig, axes = plt.subplots(1, maps.shape[0], figsize=(1.6 * maps.shape[0], 1.8), squeeze=False)
    for ax, m in zip(axes[0], maps, strict=False):
        ax.imshow(m.numpy(), cmap="viridis")
        ax.axis("off")
    fig.suptitle("energy per token")
    return _save(fig, path)


@torch.no_grad()
def reconstruction_grid(
    model: EnergyTransformer,
    images: torch.Tensor,
    mask: torch.Tensor,
    path: str | Path,
    steps: Sequence[int] | None = None,
) -> Path:
    """PNG: rows = images; columns = original, masked input, in-painting after each of
    ``steps`` ET steps (default ``0, 1, T/2, T``)."""
    total = model.steps
    steps = sorted({0, 1, total // 2, total}) if steps is None else list(steps)
    out = model(images, mask, steps=max(steps), return_states=True)
    assert out.states is not None
    columns = [images.cpu(), _masked_view(model, images, mask).cpu()]
    for t in steps:
        columns.append(model.inpaint(images, mask, model.decode(out.states[t])).cpu())
    titles = ["original", "masked", *(f"t={t}" for t in steps)]
    rows = images.shape[0]
    tiles = torch.stack([column[r] for r in range(rows) for column in columns])
    grid = mosaic(tiles, cols=len(columns))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 * len(columns) + 0.5, 1.0 * rows + 0.5))
    ax.imshow(_to_display(grid), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([(c + 0.5) * grid.shape[-1] / len(columns) for c in range(len(columns))])
    ax.set_xticklabels(titles, fontsize=7)
    ax.set_yticks([])
    ax.xaxis.tick_top()
    return _save(fig, path)


def _masked_view(
    model: EnergyTransformer, images: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The input with masked patches shown as mid-grey."""
    from hopfield.models.energy_transformer_patches import patchify

    patches = patchify(images, model.tokenizer.patch_size)
    grey = torch.full_like(patches, 0.5)
    return model.to_images(torch.where(mask.unsqueeze(-1), grey, patches))


def metrics_markdown(metrics: dict[str, float]) -> str:
    """Markdown table of masked-patch MSEs (ET and baselines) and the ratio."""
    lines = ["| method | masked-patch MSE |", "|---|---|"]
    names = {
        "et": "Energy Transformer",
        "mean_of_visible": "mean of visible pixels",
        "train_mean_image": "mean training image",
        "knn": f"{KNN_NEIGHBOURS}-nearest-neighbour in-painting (training images)",
    }
    for key, label in names.items():
        if key in metrics:
            lines.append(f"| {label} | {metrics[key]:.5f} |")
    if "et" in metrics and any(k in metrics for k in BASELINES):
        best, ratio = strongest_baseline(metrics)
        verdict = "the ET is better" if ratio > 1 else "the baseline is better"
        lines.append(
            f"\nstrongest non-learned baseline ({names[best]}) / ET = {ratio:.2f}× ({verdict})"
        )
    return "\n".join(lines)


def write_report(
    out_dir: str | Path,
    model: EnergyTransformer,
    images: torch.Tensor,
    mask: torch.Tensor,
    metrics: dict[str, float],
    history: list[dict[str, float]],
    config: dict[str, Any],
    *,
    examples: int = 8,
) -> dict[str, Path]:
    """Write the run report (PNGs, ``metrics.json/.csv/.md``, ``history.csv``) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    sample, sample_mask = images[:examples].to(device), mask[:examples].to(device)
    model.eval()
    files = {
        "reconstructions": reconstruction_grid(
            model, sample, sample_mask, out / "reconstructions.png"
        ),
        "energy": plot_energy_curves(
            energy_per_step(model, images[:64].to(device), mask[:64].to(device)), out / "energy.png"
        ),
        "memories": plot_memories(model, out / "memories.png"),
        "token_energy": plot_token_energies(
            token_energies(model, sample, sample_mask), out / "token_energy.png"
        ),
    }
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "config": config}, indent=2))
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "masked_mse"])
        for key in ("et", *BASELINES):
            if key in metrics:
                writer.writerow([key, f"{metrics[key]:.6f}"])
    (out / "metrics.md").write_text(metrics_markdown(metrics) + "\n")
    if history:
        with open(out / "history.csv", "w", newline="") as handle:
            dict_writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            dict_writer.writeheader()
            dict_writer.writerows(history)
    files["metrics"] = out / "metrics.json"
    return files


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path
