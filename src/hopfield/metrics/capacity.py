"""Storage capacity by binary search over the number of stored patterns K.

For a given K, each trial draws K random bipolar patterns ξ^μ ∈ {−1, +1}^N, stores
them in a fresh model, recalls from the stored patterns (optionally corrupted by
flipping each bit with probability ``flip_probability``) and measures an error:

* ``criterion="bit_error"``: mean bit error rate ``(1/KN) Σ_μ #{i : σ^μ_i ≠ ξ^μ_i}``
  (Amit, Gutfreund & Sompolinsky 1985: at the capacity α_c ≈ 0.138 the retrieval
  states still carry ≈1.5 % wrong bits);
* ``criterion="exact_recall"``: fraction of patterns not recalled exactly
  (McEliece et al. 1987, error-free capacity N / (4 ln N)).

K passes when the mean error over ``trials`` is ≤ ``max_error``. The capacity is the
largest passing K found by galloping (doubling) then bisection, which assumes the
error grows with K; the returned bracket is consistent by construction: every
evaluated K ≤ ``capacity`` passed and every evaluated K ≥ ``bracket[1]`` failed.
Each (K, trial) uses its own seed derived from ``(seed, K, trial)``, so the result
depends only on the arguments, never on the search path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import torch

from hopfield._validation import check_int
from hopfield.data.corruptions import flip_bits
from hopfield.data.generators import random_bipolar
from hopfield.metrics.recall import bit_error_rate
from hopfield.models.base import AssociativeMemory

__all__ = [
    "AssociativeMemory",
    "CapacityPoint",
    "CapacityResult",
    "bracket_largest_passing",
    "capacity_search",
    "trial_seeds",
]

_CRITERIA = ("bit_error", "exact_recall")


@dataclass(frozen=True)
class CapacityPoint:
    """Error at one K: mean over trials, its standard error, a normal-approximation
    confidence interval ``mean ± z·stderr`` (clipped to [0, 1]), the verdict
    ``passed`` (mean ≤ max_error) and ``confident``: the interval lies entirely on the
    verdict's side of max_error."""

    num_patterns: int
    mean_error: float
    stderr: float
    ci_low: float
    ci_high: float
    passed: bool
    trials: int
    confident: bool


@dataclass(frozen=True)
class CapacityResult:
    """Outcome of :func:`capacity_search`.

    Attributes:
        num_neurons: N.
        capacity: largest K that passed (``bracket[0]``); 0 if even ``k_min`` failed.
        bracket: ``(K_lo, K_hi)`` with ``K_hi = K_lo + 1``: K_lo passed (``k_min − 1``
            if nothing did) and K_hi failed (``k_max + 1`` if every K up to ``k_max``
            passed).
        load: ``capacity / N`` (α).
        max_error, criterion, confidence, seed, trials: the search settings.
        points: every evaluated K, sorted, with its error statistics.
    """

    num_neurons: int
    capacity: int
    bracket: tuple[int, int]
    max_error: float
    criterion: str
    confidence: float
    seed: int
    trials: int
    points: tuple[CapacityPoint, ...]

    @property
    def load(self) -> float:
        return self.capacity / self.num_neurons

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        out = asdict(self)
        out["bracket"] = list(self.bracket)
        out["load"] = self.load
        return out


def trial_seeds(seed: int, num_patterns: int, trial: int) -> tuple[int, int]:
    """``(data_seed, model_seed)`` of trial ``trial`` at K = ``num_patterns``: two
    independent 32-bit streams spawned from ``(seed, K, trial)``."""
    data, model = np.random.SeedSequence((seed, num_patterns, trial)).generate_state(2)
    return int(data), int(model)



def _check_search(
    criterion: str,
    max_error: float,
    confidence: float,
    flip_probability: float,
    max_steps: int,
    k_min: int,
    k_max: int | None,
) -> None:
    """Validate the remaining arguments of :func:`capacity_search`."""
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    if not 0.0 <= max_error < 1.0:
        raise ValueError(f"max_error must lie in [0, 1), got {max_error}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if not 0.0 <= flip_probability <= 1.0:
        raise ValueError(f"flip_probability must lie in [0, 1], got {flip_probability}")
    check_int(max_steps, "max_steps", 1)
    if k_max is not None and check_int(k_max, "k_max", k_min) > 1 << 20:
        raise ValueError(f"k_max must be ≤ 2**20, got {k_max}")


def capacity_search(
    make_model: Callable[[int, int], AssociativeMemory],
    num_neurons: int,
    *,
    max_error: float = 0.01,
    criterion: str = "bit_error",
    k_min: int = 1,
    k_max: int | None = None,
    trials: int = 10,
    seed: int = 0,
    flip_probability: float = 0.0,
    max_steps: int = 100,
    confidence: float = 0.95,
    progress: Callable[[CapacityPoint], None] | None = None,
) -> CapacityResult:
    """Largest number of random patterns K that ``make_model(num_neurons, seed)`` stores
    with mean error ≤ ``max_error`` (see the module docstring for the criteria).

    Args:
        make_model: ``(num_neurons, seed) -> model`` with ``store`` and ``recall``;
            called once per trial with that trial's seed.
        num_neurons: N.
        max_error: error allowed at capacity, in [0, 1).
        criterion: ``"bit_error"`` or ``"exact_recall"``.
        k_min, k_max: search range of K; with ``k_max=None`` K doubles from ``k_min``
            until a K fails (up to 2²⁰).
        trials: independent pattern sets (and models) per K.
        seed: base seed; the same arguments give the same result.
        flip_probability: corrupt queries by flipping bits with this probability
            (0: recall from the stored patterns themselves).
        max_steps: passed to ``recall``.
        confidence: level of the per-K intervals ``mean ± z·stderr``.
        progress: called with each new :class:`CapacityPoint` (e.g. to drive a bar).
    """
    num_neurons = check_int(num_neurons, "num_neurons", 1)
    k_min = check_int(k_min, "k_min", 1)
    trials = check_int(trials, "trials", 1)
    seed = check_int(seed, "seed", 0)
    _check_search(criterion, max_error, confidence, flip_probability, max_steps, k_min, k_max)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    cache: dict[int, CapacityPoint] = {}

    def evaluate(num_patterns: int) -> bool:
        if num_patterns not in cache:
            counts = [
                _trial_error(
                    make_model,
                    num_neurons,
                    num_patterns,
                    trial_seeds(seed, num_patterns, t),
                    criterion,
                    flip_probability,
                    max_steps,
                )
                for t in range(trials)
            ]
            cache[num_patterns] = _summarise(num_patterns, counts, max_error, z)
            if progress is not None:
                progress(cache[num_patterns])
        return cache[num_patterns].passed

    low, high = bracket_largest_passing(evaluate, k_min, k_max)
    return CapacityResult(
        num_neurons=num_neurons,
        capacity=low,
        bracket=(low, high),
        max_error=max_error,
        criterion=criterion,
        confidence=confidence,
        seed=seed,
        trials=trials,
        points=tuple(cache[k] for k in sorted(cache)),
    )


def bracket_largest_passing(
    evaluate: Callable[[int], bool], k_min: int, k_max: int | None
) -> tuple[int, int]:
    """Bracket the largest K for which a monotone test ``evaluate(K)`` passes.

    Returns ``(K_lo, K_hi)`` with K_lo passing (or ``k_min − 1``) and K_hi failing (or
    ``k_max + 1``), ``K_hi = K_lo + 1``: galloping from ``k_min``, then bisection. Used by
    :func:`capacity_search` and by studies whose pattern sets are not i.i.d.
    """
    if not evaluate(k_min):
        return k_min - 1, k_min
    low = k_min
    if k_max is None:
        high = 2 * k_min
        while evaluate(high):
            low, high = high, 2 * high
            if high > 1 << 20:
                raise RuntimeError("capacity_search: every K up to 2**20 passed; set k_max")
    else:
        if evaluate(k_max):
            return k_max, k_max + 1
        high = k_max
    while high - low > 1:
        middle = (low + high) // 2
        if evaluate(middle):
            low = middle
        else:
            high = middle
    return low, high


def _trial_error(
    make_model: Callable[[int, int], AssociativeMemory],
    num_neurons: int,
    num_patterns: int,
    seeds: tuple[int, int],
    criterion: str,
    flip_probability: float,
    max_steps: int,
) -> tuple[int, int]:
    """``(errors, out_of)`` of one trial: wrong bits of K·N or failed patterns of K."""
    data_seed, model_seed = seeds
    generator = torch.Generator().manual_seed(data_seed)
    patterns = random_bipolar(num_patterns, num_neurons, generator=generator)
    queries = flip_bits(patterns, flip_probability, generator=generator)
    model = make_model(num_neurons, model_seed)
    model.store(patterns)
    recalled = model.recall(queries, max_steps=max_steps).states
    errors = bit_error_rate(recalled, patterns, reduction="none")
    # Counts (wrong bits of KN, failed patterns of K), so means are exact ratios.
    if criterion == "bit_error":
        return round(float(errors.sum()) * num_neurons), num_patterns * num_neurons
    return int((errors > 0).sum()), num_patterns


def _summarise(
    num_patterns: int, counts: list[tuple[int, int]], max_error: float, z: float
) -> CapacityPoint:
    trials = len(counts)
    mean = sum(c for c, _ in counts) / sum(n for _, n in counts)  # all n are equal
    errors = [c / n for c, n in counts]
    variance = sum((e - mean) ** 2 for e in errors) / (trials - 1) if trials > 1 else 0.0
    stderr = math.sqrt(variance / trials)
    low, high = max(0.0, mean - z * stderr), min(1.0, mean + z * stderr)
    return CapacityPoint(
        num_patterns=num_patterns,
        mean_error=mean,
        stderr=stderr,
        ci_low=low,
        ci_high=high,
        passed=mean <= max_error,
        trials=trials,
        confident=high <= max_error or low > max_error,
    )
