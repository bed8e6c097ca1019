"""Approximate top-k retrieval through faiss (optional extra ``hopfield[faiss]``).

Exact top-k retrieval (:func:`hopfield.ops.topk.topk_retrieve`) reads all ``K``
memories per step. For very large memories an approximate nearest-neighbour index
finds the ``k`` best candidates while reading a small part of them: an inverted file
(IVF: k-means cells, ``nprobe`` nearest cells searched; Jégou et al. 2011, "Product
quantization for nearest neighbor search") or a hierarchical navigable small-world
graph (HNSW; Malkov & Yashunin 2018). The index comes from faiss (Johnson et al.
2019, "Billion-scale similarity search with GPUs"), ``pip install hopfield[faiss]``.

**An approximation.** With ``T̃_k(x)`` the candidates returned by the index, the
energy and update are those of exact top-k retrieval (Ramsauer et al. 2020 restricted
to ``k`` memories) computed on ``T̃_k(x)`` instead of the true top-``k`` set
``T_k(x)``: ``E(x) = ½‖x‖²·[dot] − β⁻¹ Ω*(s_{T̃_k(x)})`` and
``x ← Σ_{μ∈T̃_k} p_μ v_μ``. The scores of the candidates are recomputed exactly from
the stored keys (differentiable, as in the exact kernel); only the *selection* can
differ. Where ``T̃_k = T_k`` (recall 1) the result equals the exact one;
``Flat()`` is exact by construction (used to test the plumbing). Since the
candidates depend on the index, the update is not guaranteed to lower the energy.
Rows for which the index returns fewer than ``k`` candidates are recomputed with the
exact streamed top-k.

Indexes exploit structure in the patterns (clusters, low intrinsic dimension). On
memories without any (i.i.d. Gaussian patterns in high dimension, where all but the
nearest pattern are near-ties) no index finds the true top-``k`` cheaply: measure
recall first (``benchmarks/bench_topk_ann.py --data iid`` against ``--data
clustered``) and use the exact kernel where it is low.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from hopfield.ops.chunking import check_operands, check_similarity
from hopfield.ops.topk import NORMALIZERS, SparseRetrieval, retrieve_selected, topk_scores

__all__ = [
    "HNSW",
    "IVF",
    "AnnIndex",
    "ApproximateTopK",
    "Flat",
    "approximate_topk_retrieve",
    "faiss_available",
]


@dataclass(frozen=True)
class IVF:
    """Inverted-file index: ``nlist`` k-means cells (``None``: ``2·√K``, at most
    65536), trained on at most ``train_per_list · nlist`` patterns (an evenly spaced
    sample); a search reads the ``nprobe`` cells nearest to the query (about
    ``nprobe/nlist`` of the memory)."""

    nlist: int | None = None
    nprobe: int = 16
    train_per_list: int = 40


@dataclass(frozen=True)
class HNSW:
    """Graph index: ``m`` links per node, ``ef_construction`` / ``ef_search`` candidate
    lists while building / searching (larger: higher recall, slower)."""

    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128


@dataclass(frozen=True)
class Flat:
    """Exhaustive faiss search (exact: the same top-k as the streamed kernel)."""


@dataclass(frozen=True)
class ApproximateTopK:
    """Option: top-``k`` retrieval over the candidates of an approximate index.

    ``ApproximateTopK(k=32, index=IVF(nprobe=32))``; ``index`` is :class:`IVF`,
    :class:`HNSW` or :class:`Flat`. Requires faiss (``pip install hopfield[faiss]``).
    """

    k: int = 32
    index: IVF | HNSW | Flat = field(default_factory=IVF)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be an int ≥ 1, got {self.k!r}")
        if not isinstance(self.index, IVF | HNSW | Flat):
            raise TypeError(
                f"index must be IVF(...), HNSW(...) or Flat(), got {type(self.index).__name__}"
            )

    def get_config(self) -> dict[str, Any]:
        """JSON-able description: ``k``, the index kind and its options."""
        return {"k": self.k, "index": type(self.index).__name__, **vars(self.index)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ApproximateTopK:
        """The option described by :meth:`get_config`."""
        options = dict(config)
        kinds: dict[str, type[IVF | HNSW | Flat]] = {"IVF": IVF, "HNSW": HNSW, "Flat": Flat}
        kind = options.pop("index", "IVF")
        if kind not in kinds:
            raise ValueError(f"index must be one of {sorted(kinds)}, got {kind!r}")
        k = options.pop("k", 32)
        return cls(k=k, index=kinds[kind](**options))


def faiss_available() -> bool:
    """Whether faiss can be imported (the ``hopfield[faiss]`` extra)."""
    return importlib.util.find_spec("faiss") is not None


def _faiss() -> Any:
    try:
        return importlib.import_module("faiss")
    except ImportError as error:
        raise ImportError(
            "approximate top-k needs faiss: pip install 'hopfield[faiss]' (faiss-cpu)"
        ) from error


class AnnIndex:
    """A faiss index over ``keys`` ``(K, D)`` for ``similarity`` ``"dot"`` (inner
    product) or ``"euclidean"`` (L2), built once (:meth:`build`) and searched many
    times; :attr:`build_seconds` is the time the build took."""

    def __init__(self, index: Any, option: IVF | HNSW | Flat, similarity: str) -> None:
        self.index = index
        self.option = option
        self.similarity = similarity
        self.build_seconds = 0.0

    @classmethod
    def build(
        cls, keys: torch.Tensor, option: IVF | HNSW | Flat, similarity: str = "dot"
    ) -> AnnIndex:
        """Build (train and fill) the index over ``keys`` (copied to float32)."""
        check_similarity(similarity)
        faiss = _faiss()
        faiss.omp_set_num_threads(torch.get_num_threads())
        start = time.perf_counter()
        data = keys.detach().to("cpu", torch.float32).contiguous().numpy()
        num, dim = data.shape
        metric = faiss.METRIC_INNER_PRODUCT if similarity == "dot" else faiss.METRIC_L2
        if isinstance(option, IVF):
            nlist = option.nlist or max(1, min(65536, int(2 * math.sqrt(num))))
            nlist = min(nlist, num)
            quantizer = faiss.IndexFlat(dim, metric)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, metric)
            sample = min(num, option.train_per_list * nlist)
            step = max(1, num // sample)
            index.train(data[::step][:sample])
            index.add(data)
            index.nprobe = min(option.nprobe, nlist)
        elif isinstance(option, HNSW):
            index = faiss.IndexHNSWFlat(dim, option.m, metric)
            index.hnsw.efConstruction = option.ef_construction
            index.add(data)
            index.hnsw.efSearch = option.ef_search
        else:
            index = faiss.IndexFlat(dim, metric)
            index.add(data)
        built = cls(index, option, similarity)
        built.build_seconds = time.perf_counter() - start
        return built

    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        """Candidate indices ``(B, k)`` int64, best first; ``−1`` where none was found."""
        faiss = _faiss()
        faiss.omp_set_num_threads(torch.get_num_threads())
        data = queries.detach().to("cpu", torch.float32).contiguous().numpy()
        _, found = self.index.search(data, k)
        return torch.from_numpy(found).to(queries.device)


def approximate_topk_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    option: ApproximateTopK,
    *,
    index: AnnIndex | None = None,
    normalizer: str = "softmax",
    similarity: str = "dot",
    key_sq_norms: torch.Tensor | None = None,
) -> SparseRetrieval:
    """Top-``k`` retrieval on the candidates of an approximate index (see the module
    docstring: an approximation of :func:`hopfield.ops.topk.topk_retrieve`).

    ``index``: an :class:`AnnIndex` built over these ``keys`` with this ``similarity``
    (build it once and pass it; ``None`` builds one for this call). Returns
    :class:`~hopfield.ops.topk.SparseRetrieval` with ``k = min(option.k, K)``.
    """
    vals = keys if values is None else values
    check_operands(queries, keys, vals)
    check_similarity(similarity)
    if normalizer not in NORMALIZERS:
        raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
    if not isinstance(option, ApproximateTopK):
        raise TypeError(f"option must be ApproximateTopK, got {type(option).__name__}")
    k = min(option.k, keys.shape[0])
    if index is None:
        index = AnnIndex.build(keys, option.index, similarity)
    elif index.similarity != similarity:
        raise ValueError(f"index was built for similarity {index.similarity!r}, not {similarity!r}")
    indices = index.search(queries, k)
    missing = (indices < 0).any(dim=1)
    if bool(missing.any()):
        rows = missing.nonzero().squeeze(1)
        _, exact = topk_scores(
            queries[rows], keys, beta, k, similarity=similarity, key_sq_norms=key_sq_norms
        )
        indices[rows] = exact
    return retrieve_selected(
        queries, keys, vals, indices, float(beta), normalizer, similarity, key_sq_norms
    )
