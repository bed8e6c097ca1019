"""Modern (continuous, log-sum-exp) Hopfield network, streamed over memory chunks.

Ramsauer et al. (2020), "Hopfield Networks is All You Need". With stored patterns
``Ξ = (ξ_1, …, ξ_K)ᵀ`` ``(K, D)`` and a state ``x ∈ R^D``:

* ``similarity="dot"``:
  ``E(x) = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²``
  (the paper's constants ``β⁻¹ log K + ½ max_μ‖ξ_μ‖²``, which only make ``E ≥ 0``,
  are omitted);
* ``similarity="euclidean"``:
  ``E(x) = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``
  (equal to the dot energy with per-memory biases ``−½‖ξ_μ‖²``).

Both are "convex ``½‖x‖²`` + concave ``−lse``"; the CCCP step minimises the convex
upper bound and gives the fixed-point update

``x ← Ξᵀ softmax_μ(s_μ(x))`` with ``s_μ = β ξ_μ·x`` or ``−(β/2)‖x − ξ_μ‖²``,

so ``∇E(x) = x − Ξᵀ softmax(s(x))`` and ``E`` never increases. One update retrieves
a stored pattern when patterns are well separated (one-step retrieval).

Clamped coordinates (inpainting): with ``mask`` True on known coordinates, the
update is applied to the free coordinates only and the clamped ones are reset to
the query. This is CCCP restricted to the affine set ``{x : x_c = q_c}`` (the
bound is minimised over the free coordinates), so the energy still never rises.

Sparse retrieval (:class:`ModernHopfield` ``normalizer=`` / ``top_k=``): replacing
the log-sum-exp by another regularised max ``Ω*(s) = max_{p∈Δ} ⟨p, s⟩ + H(p)``
(Tsallis α = 2: sparsemax, α = 1.5: 1.5-entmax; Hu et al. 2023, "On Sparse Modern
Hopfield Model"; Martins & Astudillo 2016; Peters et al. 2019) or restricting it to
the ``k`` best scores keeps the "convex − convex" structure, so the same CCCP
argument gives ``x ← Ξᵀ p(x)`` with ``p = ∇Ω*`` and a monotone energy.

The energy, its gradient, the update and exact top-k retrieval are those of
:mod:`hopfield.models.lse_memory` (written once for the in-RAM, on-disk and sharded
memories); :class:`DenseMemory` (:mod:`hopfield.models.dense_base`) holds the pattern
buffer and the recall loop.
"""

from __future__ import annotations

from typing import Any

import torch

from hopfield._validation import check_choice
from hopfield.models.base import MemorySpec
from hopfield.models.dense_base import (  # noqa: F401  (re-exported for compatibility)
    DenseMemory,
    _check_generator,
    _RecallPlan,
)
from hopfield.models.lse_memory import LogSumExpMemory, energy_from_lse
from hopfield.models.storage import Storage, StorageDType
from hopfield.ops.ann import AnnIndex, ApproximateTopK, approximate_topk_retrieve
from hopfield.ops.normalizers import Normalizer
from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    NORMALIZERS,
    SparseRetrieval,
    support_retrieve,
    topk_retrieve,
)

__all__ = ["DenseMemory", "ModernHopfield"]


class ModernHopfield(LogSumExpMemory):
    """Continuous modern Hopfield network (Ramsauer et al. 2020), streamed, with
    softmax, sparse (sparsemax / 1.5-entmax) and exact top-k retrieval.

    Scores ``s_μ(x) = β ξ_μ·x`` (``"dot"``) or ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``).
    Every variant has the form "convex ``½‖x‖²`` − β⁻¹ × a regularised max":

    ``E(x) = ½‖x‖²·[dot] − β⁻¹ Ω*(s(x))``, ``Ω*(s) = max_{p∈Δ} ⟨p, s⟩ + H(p)``,

    (for ``"euclidean"`` the ``½‖x‖²`` is inside ``s``; ``Ω*(s + c) = Ω*(s) + c``), and
    the CCCP update ``x ← Ξᵀ p(x)``, ``p = ∇Ω*(s(x))``, never raises ``E``
    (``∇E = x − Ξᵀ p(x)``):

    * ``normalizer="softmax"``: Shannon ``H``, ``Ω* = logsumexp``, ``p = softmax`` —
      the LSE energy ``E = −β⁻¹ log Σ_μ exp(s_μ) (+ ½‖x‖²)`` (Ramsauer et al. 2020);
    * ``"sparsemax"``: Tsallis α = 2 entropy ``H = ½(1 − ‖p‖²)``, so
      ``E = ½‖x‖² − β⁻¹ max_{p∈Δ}[⟨p, βΞx⟩ − ½‖p‖²] + const``, ``p = sparsemax(s)``
      (Hu et al. 2023, "On Sparse Modern Hopfield Model"; Martins & Astudillo 2016);
    * ``"entmax15"``: Tsallis α = 1.5, ``p = 1.5-entmax(s)`` (Peters et al. 2019;
      the generalized sparse model of Hu et al. 2023).

    Both sparse variants give exact zeros (retrieval from few memories). They are
    computed exactly over all ``K`` memories with a streamed candidate set that is
    doubled until the support lies strictly inside it
    (:func:`~hopfield.ops.streaming.support_retrieve`).

    ``top_k=k``: exact top-k retrieval, ``−∞`` on every score outside the ``k``
    largest ``T_k(x)``: ``E = ½‖x‖²·[dot] − β⁻¹ Ω*(s_{T_k(x)})`` — for softmax the
    LSE restricted to the ``k`` nearest memories. ``Ω*`` over the best ``k``-subset is
    a max of convex functions of ``x``, hence convex, so the CCCP update
    ``x ← Σ_{μ∈T_k} p_μ ξ_μ`` still never raises ``E``. ``top_k ≥ K`` equals the full
    model (computed with the top-k kernel, ``k = K``).

    Args:
        beta: inverse temperature ``β > 0``.
        similarity: ``"dot"`` or ``"euclidean"``.
        normalizer: a :class:`~hopfield.ops.normalizers.Normalizer` (``Softmax()``,
            ``Sparsemax(top_k=8)``, ``Entmax15()``; its ``top_k`` becomes ``top_k``) or its
            name as a shorthand: ``"softmax"``, ``"sparsemax"`` or ``"entmax15"``.
        top_k: ``None`` (all memories), an int ``k ≥ 1``, or
            :class:`~hopfield.ops.ann.ApproximateTopK` (top-k on the candidates of a
            faiss index, an approximation: see :mod:`hopfield.ops.ann`).
        storage: how the patterns are kept: ``StorageDType.full`` (default),
            ``.bf16``, ``.fp16`` or ``Int8Storage()`` (or ``"full"``, ``"bf16"``,
            ``"fp16"``, ``"int8"``); arithmetic in float32 for the compact ones
            (:mod:`hopfield.models.storage`, with the error bound).
        chunk_size: memories per chunk (overrides the budget).
        memory_budget_bytes: bound on one ``(B, chunk)`` score block.
    """

    registry = (
        MemorySpec(
            "modern-dot",
            "continuous",
            "E = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²",
            "Ramsauer et al. (2021)",
            {"similarity": "dot"},
            default_beta=1.0,
        ),
        MemorySpec(
            "modern-euclidean",
            "continuous",
            "E = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)",
            "Ramsauer et al. (2021)",
            {"similarity": "euclidean"},
            default_beta=1.0,
        ),
    )

    def __init__(
        self,
        beta: float = 1.0,
        *,
        similarity: str = "dot",
        normalizer: str | Normalizer = "softmax",
        top_k: int | ApproximateTopK | dict[str, Any] | None = None,
        storage: Storage | str | None = None,
        chunk_size: int | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        super().__init__(
            beta,
            similarity=similarity,
            storage=storage,
            chunk_size=chunk_size,
            memory_budget_bytes=memory_budget_bytes,
        )
        if isinstance(normalizer, Normalizer):  # the object form, e.g. Sparsemax(top_k=8)
            if normalizer.top_k is not None:
                if top_k is not None and top_k != normalizer.top_k:
                    raise ValueError(f"top_k={top_k!r} contradicts normalizer={normalizer!r}")
                top_k = normalizer.top_k
            normalizer = normalizer.name
        self.normalizer = check_choice(normalizer, "normalizer", NORMALIZERS)
        if isinstance(top_k, dict):
            top_k = ApproximateTopK.from_config(top_k)
        if (
            top_k is not None
            and not isinstance(top_k, ApproximateTopK)
            and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1)
        ):
            raise ValueError(f"top_k must be None or an int ≥ 1, got {top_k!r}")
        self.top_k = top_k
        self._ann: tuple[tuple[Any, ...], AnnIndex] | None = None

    def get_config(self) -> dict[str, Any]:
        top_k = self.top_k.get_config() if isinstance(self.top_k, ApproximateTopK) else self.top_k
        return {**super().get_config(), "normalizer": self.normalizer, "top_k": top_k}

    def extra_repr(self) -> str:
        extra = ""
        if self.normalizer != "softmax":
            extra += f", normalizer={self.normalizer!r}"
        if self.top_k is not None:
            extra += f", top_k={self.top_k}"
        if self.storage is not StorageDType.full:
            extra += f", storage={self.storage.name_in_config!r}"
        return (
            f"beta={self.beta}, similarity={self.similarity!r}{extra}, "
            f"num_patterns={self.num_patterns}"
        )

    @property
    def is_dense(self) -> bool:
        """Plain softmax over all memories (the streamed log-sum-exp kernels)."""
        return self.normalizer == "softmax" and self.top_k is None

    def _kwargs(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity,
            "key_sq_norms": self.sq_norms if self.similarity == "euclidean" else None,
            "chunk_size": self.chunk_size,
            "budget_bytes": self.memory_budget_bytes,
        }

    def _sparse(self, states: torch.Tensor) -> SparseRetrieval:
        """Top-k or exact sparse retrieval (non-dense normalisers / ``top_k``)."""
        if isinstance(self.top_k, ApproximateTopK):
            return approximate_topk_retrieve(
                states,
                self.stored_patterns(),
                None,
                self.beta,
                self.top_k,
                index=self._ann_index(),
                normalizer=self.normalizer,
                similarity=self.similarity,
                key_sq_norms=self._kwargs()["key_sq_norms"],
            )
        if self.top_k is not None:
            k = min(self.top_k, self.num_patterns)
            return topk_retrieve(
                states,
                self.stored_patterns(),
                None,
                self.beta,
                k,
                normalizer=self.normalizer,
                **self._kwargs(),
            )
        return support_retrieve(
            states,
            self.stored_patterns(),
            None,
            self.beta,
            normalizer=self.normalizer,
            **self._kwargs(),
        )

    def _ann_index(self) -> AnnIndex:
        """The faiss index over the stored patterns (rebuilt when they change)."""
        assert isinstance(self.top_k, ApproximateTopK)
        patterns = self.patterns
        key = (patterns.data_ptr(), tuple(patterns.shape), patterns._version, self.top_k)
        if self._ann is None or self._ann[0] != key:
            index = AnnIndex.build(self.stored_patterns(), self.top_k.index, self.similarity)
            self._ann = (key, index)
        return self._ann[1]

    def _sparse_energy(self, states: torch.Tensor, result: SparseRetrieval) -> torch.Tensor:
        return energy_from_lse(states, result.max_value, self.beta, similarity=self.similarity)

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x)`` ``(B,)`` (differentiable w.r.t. ``states``)."""
        if self.is_dense:
            return super().energy(states)
        x = self._check_states(states, "states")
        return self._sparse_energy(x, self._sparse(x))

    def attention(self, states: torch.Tensor) -> torch.Tensor:
        """Retrieval weights over memories ``(B, K)`` under the normaliser and ``top_k``
        (exact zeros where unselected; materialises the full matrix: for inspection
        on small memories only)."""
        x = self._check_states(states, "states")
        weights = x.new_zeros(x.shape[0], self.num_patterns)
        if not self.is_dense:
            result = self._sparse(x)
            return weights.scatter(1, result.indices, result.weights)
        if self.similarity == "dot":
            scores = self.beta * x @ self.stored_patterns().T
        else:
            scores = -0.5 * self.beta * torch.cdist(x, self.stored_patterns()).square()
        return torch.softmax(scores, dim=1)

    def _update(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.is_dense:
            return super()._update(states)
        result = self._sparse(states)
        return result.output, self._sparse_energy(states, result)
