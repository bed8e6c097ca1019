"""hopfield.ops: low-level kernels shared by the models.

:mod:`hopfield.ops.streaming` holds the chunked (streaming) retrieval kernels:
log-sum-exp with exact online combination, log-sum-ReLU and separation-function
fields, streamed exact top-k, none of which builds a full queries × memories matrix
beyond a budget. :mod:`hopfield.ops.sparse_normalizers` holds exact sparsemax and
entmax-1.5.
"""

from hopfield.ops.sparse_normalizers import entmax15, sparsemax
from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    LSEPartials,
    LSRPartials,
    combine_lsr_partials,
    combine_partials,
    finalize_partials,
    lse_partials,
    lse_retrieve,
    lsr_partials,
    lsr_retrieve,
    merge_topk,
    polynomial_retrieve,
    resolve_chunk_size,
    separation_retrieve,
    support_retrieve,
    topk_retrieve,
    topk_scores,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "LSEPartials",
    "LSRPartials",
    "combine_lsr_partials",
    "combine_partials",
    "entmax15",
    "finalize_partials",
    "lse_partials",
    "lse_retrieve",
    "lsr_partials",
    "lsr_retrieve",
    "merge_topk",
    "polynomial_retrieve",
    "resolve_chunk_size",
    "separation_retrieve",
    "sparsemax",
    "support_retrieve",
    "topk_retrieve",
    "topk_scores",
]
