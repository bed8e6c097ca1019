"""hopfield.ops: low-level kernels shared by the models.

The chunked (streaming) retrieval kernels, none of which builds a full
queries × memories matrix beyond a memory budget: :mod:`~hopfield.ops.lse`
(log-sum-exp with exact online combination), :mod:`~hopfield.ops.lsr`
(log-sum-ReLU), :mod:`~hopfield.ops.separation` (separation-function fields),
:mod:`~hopfield.ops.topk` (streamed exact top-k and sparse retrieval), with chunk
planning in :mod:`~hopfield.ops.chunking`; :mod:`hopfield.ops.streaming` re-exports
them all. Few-query log-sum-exp steps run one-pass fused kernels
(:mod:`~hopfield.ops.few_queries`: an optional native C kernel,
:mod:`~hopfield.ops.native`, or PyTorch's fused attention kernel).
:mod:`~hopfield.ops.ann` gives approximate top-k through faiss (``hopfield[faiss]``).
:mod:`hopfield.ops.sparse_normalizers` holds exact sparsemax and
entmax-1.5; :mod:`hopfield.ops.normalizers` the option objects that name a retrieval's
normaliser (``Softmax()``, ``Sparsemax(top_k=8)``, ``Entmax15()``).
"""

from hopfield.ops.ann import HNSW, IVF, ApproximateTopK, Flat, approximate_topk_retrieve
from hopfield.ops.few_queries import KERNELS
from hopfield.ops.native import native_available
from hopfield.ops.normalizers import Entmax15, Normalizer, Softmax, Sparsemax, as_normalizer
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
    "HNSW",
    "IVF",
    "KERNELS",
    "ApproximateTopK",
    "Entmax15",
    "Flat",
    "LSEPartials",
    "LSRPartials",
    "Normalizer",
    "Softmax",
    "Sparsemax",
    "approximate_topk_retrieve",
    "as_normalizer",
    "combine_lsr_partials",
    "combine_partials",
    "entmax15",
    "finalize_partials",
    "lse_partials",
    "lse_retrieve",
    "lsr_partials",
    "lsr_retrieve",
    "merge_topk",
    "native_available",
    "polynomial_retrieve",
    "resolve_chunk_size",
    "separation_retrieve",
    "sparsemax",
    "support_retrieve",
    "topk_retrieve",
    "topk_scores",
]
