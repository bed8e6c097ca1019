"""hopfield.metrics: how well a memory recalls, how large its basins, how much it stores.

* :mod:`~hopfield.metrics.recall`: bit error rate, exact-recall fraction, overlap
  ``m = (1/N) ξ·σ``, nearest-stored-pattern accuracy, basin size.
* :mod:`~hopfield.metrics.capacity`: binary search over the number of stored
  patterns for a target error, seeded, with per-K confidence intervals.
* :mod:`~hopfield.metrics.snr`: retrieval signal-to-noise ratio of the linear memory.
"""

from hopfield.metrics.capacity import (
    AssociativeMemory,
    CapacityPoint,
    CapacityResult,
    capacity_search,
    trial_seeds,
)
from hopfield.metrics.recall import (
    BasinResult,
    Recaller,
    basin_size,
    bit_error_rate,
    exact_recall_fraction,
    flip_exactly,
    nearest_pattern_accuracy,
    overlap,
)
from hopfield.metrics.snr import inverse_retrieval_snr, retrieval_snr

__all__ = [
    "AssociativeMemory",
    "BasinResult",
    "CapacityPoint",
    "CapacityResult",
    "Recaller",
    "basin_size",
    "bit_error_rate",
    "capacity_search",
    "exact_recall_fraction",
    "flip_exactly",
    "inverse_retrieval_snr",
    "nearest_pattern_accuracy",
    "overlap",
    "retrieval_snr",
    "trial_seeds",
]
