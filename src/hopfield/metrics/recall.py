"""Recall-quality metrics for associative memories.

States and patterns are batches ``(B, ...)``; every non-leading dim is a neuron.
Binary comparisons are made by sign, so they apply to bipolar states and, after
thresholding at 0, to continuous ones. Definitions follow Hopfield (1982) and
Amit, Gutfreund & Sompolinsky (1985): the overlap ``m^μ = (1/N) ξ^μ·σ``, the bit
error rate ``(1/N) #{i : sgn σ_i ≠ sgn ξ_i}`` = ``(1 − m)/2`` for bipolar states.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from hopfield._validation import check_finite, check_floating, check_tensor
from hopfield.models.base import RecallResult

__all__ = [
    "BasinResult",
    "Recaller",
    "basin_size",
    "bit_error_rate",
    "exact_recall_fraction",
    "flip_exactly",
    "nearest_pattern_accuracy",
    "overlap",
]


class Recaller(Protocol):
    """Anything with the library's ``recall(queries, *, max_steps=...)`` method."""

    def recall(self, queries: torch.Tensor, *, max_steps: int = ...) -> RecallResult: ...


def _flat_pair(
    first: object, second: object, names: tuple[str, str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two same-shaped floating batches and flatten them to ``(B, N)``."""
    a = check_finite(check_floating(first, names[0]), names[0])
    b = check_finite(check_floating(second, names[1]), names[1])
    if a.ndim < 2:
        raise ValueError(f"{names[0]} must have shape (B, ...), got shape {tuple(a.shape)}")
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (B, ...), "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def bit_error_rate(
    recalled: torch.Tensor, targets: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Fraction of entries whose sign differs: ``(1/N) #{i : sgn r_i ≠ sgn t_i}``.

    ``recalled`` and ``targets`` ``(B, ...)``; an entry equal to 0 counts as wrong
    against ±1. Returns a float64 scalar (``reduction="mean"``, averaged over B) or
    ``(B,)``; float64 so that k/N compares exactly with thresholds such as 0.1.
    """
    _check_reduction(reduction)
    r, t = _flat_pair(recalled, targets, ("recalled", "targets"))
    wrong = (torch.sign(r) != torch.sign(t)).sum(dim=1, dtype=torch.float64)
    per_sample = wrong / r.shape[1]
    return per_sample.mean() if reduction == "mean" else per_sample


def exact_recall_fraction(
    recalled: torch.Tensor, targets: torch.Tensor, *, tolerance: float | None = None
) -> torch.Tensor:
    """Fraction of the B samples recalled exactly (float64 scalar tensor).

    By default a sample is exact when every sign matches (bit error 0); with
    ``tolerance`` it is exact when ``max_i |r_i − t_i| ≤ tolerance`` (continuous states).
    """
    r, t = _flat_pair(recalled, targets, ("recalled", "targets"))
    if tolerance is None:
        exact = (torch.sign(r) == torch.sign(t)).all(dim=1)
    else:
        if tolerance < 0:
            raise ValueError(f"tolerance must be ≥ 0, got {tolerance}")
        exact = (r - t).abs().amax(dim=1) <= tolerance
    return exact.to(torch.float64).mean()


def overlap(states: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """Overlaps ``m^μ_b = (1/N) ξ^μ·σ_b`` of states ``(B, N)`` with patterns ``(K, N)``
    → ``(B, K)``; 1 for a perfect bipolar match, −1 for its mirror image."""
    s = check_finite(check_floating(states, "states"), "states")
    p = check_finite(check_floating(patterns, "patterns"), "patterns")
    if s.ndim != 2:
        raise ValueError(f"states must have shape (B, N), got shape {tuple(s.shape)}")
    if p.ndim != 2 or p.shape[1] != s.shape[1]:
        raise ValueError(
            f"patterns must have shape (K, N) with N={s.shape[1]}, got shape {tuple(p.shape)}"
        )
    return s @ p.to(s.dtype).T / s.shape[1]


def nearest_pattern_accuracy(
    recalled: torch.Tensor, patterns: torch.Tensor, target_indices: torch.Tensor
) -> torch.Tensor:
    """Fraction of recalled states ``(B, N)`` whose nearest stored pattern (Euclidean,
    i.e. Hamming for bipolar states) among ``patterns`` ``(K, N)`` is the target
    ``target_indices[b]``. A tie with another pattern counts as a miss. Returns a
    float64 scalar tensor."""
    r = check_finite(check_floating(recalled, "recalled"), "recalled")
    p = check_finite(check_floating(patterns, "patterns"), "patterns")
    idx = check_tensor(target_indices, "target_indices")
    if r.ndim != 2 or p.ndim != 2 or p.shape[1] != r.shape[1]:
        raise ValueError(
            "recalled must have shape (B, N) and patterns (K, N) with the same N, "
            f"got {tuple(r.shape)} and {tuple(p.shape)}"
        )
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise TypeError(f"target_indices must be an integer tensor, got dtype {idx.dtype}")
    if idx.shape != (r.shape[0],):
        raise ValueError(
            f"target_indices must have shape (B,)=({r.shape[0]},), got {tuple(idx.shape)}"
        )
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= p.shape[0]):
        raise ValueError(f"target_indices must lie in [0, K={p.shape[0]}), got out-of-range")
    distances = torch.cdist(r.to(torch.float64), p.to(torch.float64))  # (B, K)
    target = distances.gather(1, idx.to(torch.long).unsqueeze(1))
    distances.scatter_(1, idx.to(torch.long).unsqueeze(1), torch.inf)
    correct = target.squeeze(1) < distances.amin(dim=1)  # other patterns only (K = 1: inf)
    return correct.to(torch.float64).mean()


# --- basins of attraction ----------------------------------------------------------------


def flip_exactly(
    patterns: torch.Tensor, flips: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Flip exactly ``flips`` distinct, uniformly chosen entries of each bipolar row
    ``(B, N)`` (Hamming distance ``flips`` from the input)."""
    p = check_floating(patterns, "patterns")
    if p.ndim != 2:
        raise ValueError(f"patterns must have shape (B, N), got shape {tuple(p.shape)}")
    if isinstance(flips, bool) or not isinstance(flips, int) or not 0 <= flips <= p.shape[1]:
        raise ValueError(f"flips must be an int in [0, N={p.shape[1]}], got {flips!r}")
    scores = torch.rand(p.shape, generator=generator).to(p.device)
    chosen = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
    if flips:
        chosen.scatter_(1, scores.topk(flips, dim=1).indices, True)
    return torch.where(chosen, -p, p)


@dataclass(frozen=True)
class BasinResult:
    """Outcome of :func:`basin_size`.

    Attributes:
        radius: largest number of flipped bits d such that recall succeeds for at
            least a ``threshold`` fraction of queries at d and at every evaluated
            smaller d; −1 when even the uncorrupted patterns fail.
        fraction: ``radius / N`` (0 when ``radius`` is −1).
        success: success rate per evaluated d (sorted by d).
        threshold: the success rate required.
    """

    radius: int
    fraction: float
    success: dict[int, float] = field(default_factory=dict)
    threshold: float = 0.9

    def to_dict(self) -> dict[str, Any]:
        return {
            "radius": self.radius,
            "fraction": self.fraction,
            "success": {str(k): v for k, v in self.success.items()},
            "threshold": self.threshold,
        }


def _level_seed(seed: int, flips: int) -> int:
    """A seed for corruption level ``flips`` that does not depend on the search path."""
    return int(np.random.SeedSequence((seed, flips)).generate_state(1)[0])


def basin_size(
    model: Recaller,
    patterns: torch.Tensor,
    *,
    flips: Sequence[int] | None = None,
    trials: int = 4,
    seed: int = 0,
    threshold: float = 0.9,
    max_error: float = 0.0,
    max_steps: int = 100,
) -> BasinResult:
    """Estimate the basin of attraction of stored ``patterns`` ``(P, N)`` in ``model``.

    At corruption level d, each pattern is corrupted ``trials`` times by flipping
    exactly d random bits and recalled; a query succeeds when the bit error rate of
    the recalled state against its pattern is ≤ ``max_error``. The radius is the
    largest d whose success rate is ≥ ``threshold`` (with all smaller evaluated levels
    passing too: the estimate is monotone by construction). With ``flips=None`` it is
    found by bisection on d ∈ [0, N/2] (success assumed non-increasing in d);
    otherwise the given levels are swept. Each level uses its own seed derived from
    ``(seed, d)``, so the result is reproducible and independent of the search path.
    (Basins as in Hopfield 1982; McEliece et al. 1987 for the radius ρN.)
    """
    p = check_finite(check_floating(patterns, "patterns"), "patterns")
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"patterns must have shape (P, N) with P ≥ 1, got {tuple(p.shape)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an int ≥ 1, got {trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int ≥ 0, got {seed!r}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    if not 0.0 <= max_error < 1.0:
        raise ValueError(f"max_error must lie in [0, 1), got {max_error}")
    num_neurons = p.shape[1]
    targets = p.repeat(trials, 1)
    cache: dict[int, float] = {}

    def success(level: int) -> float:
        if level not in cache:
            generator = torch.Generator().manual_seed(_level_seed(seed, level))
            queries = flip_exactly(targets, level, generator=generator)
            recalled = model.recall(queries, max_steps=max_steps).states
            errors = bit_error_rate(recalled, targets, reduction="none")
            cache[level] = float((errors <= max_error).to(torch.float64).mean())
        return cache[level]

    if flips is not None:
        levels = sorted(set(flips))
        if not levels or any(
            isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= num_neurons
            for d in levels
        ):
            raise ValueError(f"flips must be a non-empty sequence of ints in [0, N={num_neurons}]")
        radius = -1
        for level in levels:
            if success(level) < threshold:
                break
            radius = level
    else:
        radius = _bisect_radius(success, num_neurons // 2, threshold)
    return BasinResult(
        radius=radius,
        fraction=max(radius, 0) / num_neurons,
        success=dict(sorted(cache.items())),
        threshold=threshold,
    )


def _bisect_radius(success: Callable[[int], float], upper: int, threshold: float) -> int:
    """Largest d in [0, upper] with success(d) ≥ threshold, assuming monotonicity."""
    if success(0) < threshold:
        return -1
    if success(upper) >= threshold:
        return upper
    low, high = 0, upper  # success(low) passes, success(high) fails
    while high - low > 1:
        middle = (low + high) // 2
        if success(middle) >= threshold:
            low = middle
        else:
            high = middle
    return low
