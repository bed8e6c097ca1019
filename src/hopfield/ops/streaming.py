"""Chunked (streaming) retrieval kernels for dense associative memories: one import.

The kernels live in one module each and are re-exported here (and from
:mod:`hopfield.ops`) under their historical names:

* :mod:`hopfield.ops.chunking`: chunk planning (:func:`resolve_chunk_size`) and the
  operand checks shared by every kernel;
* :mod:`hopfield.ops.lse`: log-sum-exp with exact online combination (modern
  Hopfield networks, Ramsauer et al. 2020);
* :mod:`hopfield.ops.lsr`: log-sum-ReLU (Epanechnikov energy, Hoover et al. 2025);
* :mod:`hopfield.ops.separation`: separation-function fields (Dense AM, Krotov &
  Hopfield 2016);
* :mod:`hopfield.ops.topk`: streamed exact top-k and exact sparse (sparsemax /
  1.5-entmax) retrieval.

None of them builds a full queries × memories matrix beyond a memory budget.
"""

from __future__ import annotations

from hopfield.ops.chunking import DEFAULT_MEMORY_BUDGET_BYTES, resolve_chunk_size
from hopfield.ops.lse import (
    LSEPartials,
    combine_partials,
    finalize_partials,
    lse_partials,
    lse_retrieve,
)
from hopfield.ops.lsr import LSRPartials, combine_lsr_partials, lsr_partials, lsr_retrieve
from hopfield.ops.separation import polynomial_retrieve, separation_retrieve
from hopfield.ops.topk import (
    NORMALIZERS,
    SparseRetrieval,
    merge_topk,
    support_retrieve,
    topk_retrieve,
    topk_scores,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "NORMALIZERS",
    "LSEPartials",
    "LSRPartials",
    "SparseRetrieval",
    "combine_lsr_partials",
    "combine_partials",
    "finalize_partials",
    "lse_partials",
    "lse_retrieve",
    "lsr_partials",
    "lsr_retrieve",
    "merge_topk",
    "polynomial_retrieve",
    "resolve_chunk_size",
    "separation_retrieve",
    "support_retrieve",
    "topk_retrieve",
    "topk_scores",
]
