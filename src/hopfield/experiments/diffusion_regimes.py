"""Memorisation, spurious states and generalisation under the tutorial's protocol.

``hopfield study diffusion --protocol tutorial`` trains one score network per
K ∈ {2, 9, 1000} points drawn at uniform angles on the unit circle with
:data:`~hopfield.tasks.diffusion_protocol.TUTORIAL_PROTOCOL` (denoising score matching,
50k Adam steps at lr 1e-4, EMA 0.9999, ``dx = σ dW`` with σ = 1) and draws 1500
Euler–Maruyama samples over 1000 steps with the EMA weights. Each sample is put in one
class (first match wins), with the radius ``r = min(0.05, g/4)``, ``g`` the median
chord between angular neighbours of the stored points, and the fixed band
``CIRCLE_BAND = 0.05`` around the circle (which does not shrink with K: at K = 1000,
``r ≈ 0.001`` is finer than any sampler reaches):

* ``stored``: within ``r`` of a stored point;
* ``spurious``: within ``r`` of a mixture of two angular neighbours ``ξ_i, ξ_j``, the
  segment from their mean ``m = (ξ_i + ξ_j)/2`` to its projection ``m/‖m‖`` on the
  circle (the unnormalised and the normalised mixture and everything between);
* ``circle``: elsewhere on the circle, ``|‖x‖ − 1| < CIRCLE_BAND`` (new points of the
  manifold);
* ``other``: anywhere else.

The same classes of points spread uniformly on the circle (``stored_uniform``,
``spurious_uniform``) are the shares a sampler that generalises perfectly would get;
a spurious regime shows as a ``spurious`` share well above ``spurious_uniform``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import Progress, no_progress
from hopfield.tasks.diffusion import circle_points, sample_euler_maruyama, train_score_network
from hopfield.tasks.diffusion_protocol import TUTORIAL_PROTOCOL, BrownianVESDE, DiffusionProtocol

__all__ = [
    "CIRCLE_BAND",
    "QUICK_PROTOCOL",
    "classify_samples",
    "mixture_segments",
    "run_protocol",
    "uniform_fractions",
]

COUNTS = (2, 9, 1000)
CIRCLE_BAND = 0.05
"""Half-width of the ``circle`` class around the unit circle (independent of K)."""
CLASSES = ("stored", "spurious", "circle", "other")
QUICK_PROTOCOL = DiffusionProtocol(
    steps=200, lr=1e-3, ema_decay=0.99, sigma=1.0, num_samples=200, sampler_steps=100
)
"""A few-second version of the protocol for the smoke test (not a result)."""


def mixture_segments(stored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(starts, ends)`` ``(K, 2)``: for each pair of angular neighbours on the circle,
    their mean ``m`` and its projection ``m/‖m‖`` (``m`` when ``‖m‖ ≈ 0``)."""
    order = torch.atan2(stored[:, 1], stored[:, 0]).argsort()
    ring = stored[order].double()
    mean = 0.5 * (ring + ring.roll(-1, dims=0))
    norm = mean.norm(dim=1, keepdim=True)
    ends = torch.where(norm > 1e-9, mean / norm.clamp_min(1e-9), mean)
    return mean, ends


def _segment_distance(x: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    direction = ends - starts  # (S, 2)
    length = direction.square().sum(dim=1).clamp_min(1e-18)
    offset = x[:, None, :] - starts[None]  # (N, S, 2)
    along = ((offset * direction[None]).sum(-1) / length).clamp(0.0, 1.0)
    closest = starts[None] + along[..., None] * direction[None]
    return (x[:, None, :] - closest).norm(dim=-1).amin(dim=1)


def radius_for(stored: torch.Tensor) -> float:
    """``min(0.05, g/4)``, ``g`` the median chord between angular neighbours."""
    order = torch.atan2(stored[:, 1], stored[:, 0]).argsort()
    ring = stored[order].double()
    gaps = (ring - ring.roll(-1, dims=0)).norm(dim=1)
    return min(0.05, 0.25 * float(gaps.median()))


def classify_samples(samples: torch.Tensor, stored: torch.Tensor) -> dict[str, float]:
    """Fractions of ``samples`` ``(N, 2)`` in each class of the module docstring."""
    x = samples.double()
    radius = radius_for(stored)
    near_stored = torch.cdist(x, stored.double()).amin(dim=1) < radius
    starts, ends = mixture_segments(stored)
    near_mixture = (_segment_distance(x, starts, ends) < radius) & ~near_stored
    on_circle = ((x.norm(dim=1) - 1).abs() < CIRCLE_BAND) & ~near_stored & ~near_mixture
    other = ~(near_stored | near_mixture | on_circle)
    masks = (near_stored, near_mixture, on_circle, other)
    result = {name: float(mask.double().mean()) for name, mask in zip(CLASSES, masks, strict=True)}
    result["radius"] = radius
    return result


def uniform_fractions(
    stored: torch.Tensor, count: int = 20_000, seed: int = 0, chunk: int = 2_000
) -> dict[str, float]:
    """:func:`classify_samples` of ``count`` points at uniform angles on the circle (in
    chunks of ``chunk`` points, to bound memory at large K): the shares a perfectly
    generalising sampler would put in each class."""
    generator = torch.Generator().manual_seed(seed)
    angles = 2 * math.pi * torch.rand(count, generator=generator, dtype=torch.float64)
    points = torch.stack([angles.cos(), angles.sin()], dim=1)
    totals = dict.fromkeys(CLASSES, 0.0)
    for part in points.split(chunk):
        fractions = classify_samples(part, stored)
        for name in CLASSES:
            totals[name] += fractions[name] * part.shape[0]
    return {name: total / count for name, total in totals.items()}


def run_protocol(
    protocol: DiffusionProtocol = TUTORIAL_PROTOCOL,
    *,
    seed: int = 0,
    counts: tuple[int, ...] = COUNTS,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Train, sample and classify for each K; rows and the samples per K."""
    sde = BrownianVESDE(protocol.sigma)
    rows: list[dict[str, Any]] = []
    drawn: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for count in progress(counts, desc="diffusion K (tutorial protocol)"):
        stored = circle_points(count, seed=seed, evenly_spaced=False)
        trained = train_score_network(
            stored,
            sde,
            steps=protocol.steps,
            batch_size=protocol.batch_size,
            lr=protocol.lr,
            ema_decay=protocol.ema_decay,
            cosine_decay=protocol.cosine_decay,
            seed=seed,
        )
        samples = sample_euler_maruyama(
            trained.model, sde, protocol.num_samples, 2, steps=protocol.sampler_steps, seed=seed + 1
        )
        fractions = classify_samples(samples, stored)
        uniform = uniform_fractions(stored, seed=seed + 2)
        rows.append(
            {
                "K": count,
                **{name: fractions[name] for name in CLASSES},
                "stored_uniform": uniform["stored"],
                "spurious_uniform": uniform["spurious"],
                "radius": fractions["radius"],
                "final_loss": sum(trained.losses[-200:]) / len(trained.losses[-200:]),
                "train_seconds": trained.seconds,
            }
        )
        drawn[count] = (stored, samples)
    return {"rows": rows, "samples": drawn}


def plot_protocol(results: dict[str, Any]) -> Any:
    """Samples over the stored points and their neighbour mixtures, one panel per K."""
    drawn = results["samples"]
    fig = new_figure((4 * len(drawn), 4.2))
    axes = fig.subplots(1, len(drawn), squeeze=False)[0]
    angles = torch.linspace(0, 2 * math.pi, 200)
    for ax, (count, (stored, samples)) in zip(axes, drawn.items(), strict=True):
        ax.plot(angles.cos(), angles.sin(), color="0.8", lw=0.8)
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, label="samples", zorder=3)
        if count <= 50:
            starts, ends = mixture_segments(stored)
            for start, end in zip(starts, ends, strict=True):
                ax.plot([start[0], end[0]], [start[1], end[1]], color="orange", lw=1.5)
            ax.scatter(
                stored[:, 0],
                stored[:, 1],
                s=90,
                facecolors="none",
                edgecolors="red",
                label="stored",
                zorder=4,
            )
        ax.set_title(f"K={count}")
        ax.set_aspect("equal")
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
    axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return fig


def verdict(rows: list[dict[str, Any]]) -> str:
    """One sentence: the K with ≥ 5 % of samples on a mixture, each share next to the
    share of uniform points on the circle."""
    spurious = [row for row in rows if row["spurious"] >= 0.05]
    parts = ", ".join(
        f"K={row['K']}: stored {row['stored']:.3f} (uniform {row['stored_uniform']:.3f}), "
        f"spurious {row['spurious']:.3f} (uniform {row['spurious_uniform']:.3f}), "
        f"circle {row['circle']:.3f}, other {row['other']:.3f}"
        for row in rows
    )
    if not spurious:
        return f"No spurious regime (no K with ≥ 5% of samples on a mixture): {parts}."
    where = ", ".join(str(row["K"]) for row in spurious)
    return f"Spurious states (≥ 5% of samples on a mixture) at K = {where}: {parts}."
