"""Dense-memory hypersynapse: a layer of stored patterns ``Ξ`` seen by one neuron layer.

With the memory (hidden) neurons integrated out, the two-layer energy of Krotov &
Hopfield (2021, "Large Associative Memory Problem …", models A and B) becomes a
single-layer synapse on the feature activations ``ĝ``:

* log-sum-exp (model B; Ramsauer et al. 2021, "Hopfield Networks is All You Need"):
  ``E = −(1/β) Σ_tokens log Σ_μ exp(β ξ_μ·ĝ)``;
* separation function ``F`` (model A; Krotov & Hopfield 2016, "Dense Associative
  Memory for Pattern Recognition"; Demircigil et al. 2017; the Energy
  Transformer's Hopfield module ``F(z) = ½ ReLU(z)²``, Hoover et al. 2023):
  ``E = −Σ_tokens Σ_μ F(ξ_μ·ĝ)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hopfield._validation import cast_finite, check_positive
from hopfield.core.lagrangian_base import sum_non_batch
from hopfield.core.separation import Separation
from hopfield.core.synapses.base import Synapse
from hopfield.core.synapses.dense import check_activation, check_count

__all__ = ["DenseMemorySynapse"]


class DenseMemorySynapse(Synapse):
    """Memories ``Ξ`` (``M × D``) acting on one layer ``ĝ`` of shape ``(B, D)`` or ``(B, T, D)``.

    Energies (summed over the token dims between batch and features)::

        separation="lse":   E = −(1/β) Σ_tokens logsumexp_μ(β ξ_μ·ĝ)
        separation=F:       E = −Σ_tokens Σ_μ F(ξ_μ·ĝ)

    Closed-form gradients (the fast path, :meth:`grad`)::

        lse:  ∂E/∂ĝ = −softmax(β Ξ ĝ)ᵀ Ξ        (Ramsauer et al. 2021 update)
        F:    ∂E/∂ĝ = −F'(Ξ ĝ)ᵀ Ξ

    The log-sum-exp form is computed with ``torch.logsumexp`` / ``torch.softmax``
    and stays finite for any β (no ``exp`` of a large argument is formed).
    :meth:`energy_and_grad` returns ``E`` and ``∂E/∂ĝ`` from one product ``Ξĝ`` (the
    fast path of :func:`hopfield.core.descend`).

    Args:
        num_memories: number ``M`` of stored patterns.
        num_features: feature size ``D`` (the last dim of ``ĝ``).
        beta: inverse temperature β > 0 of the log-sum-exp form (default 1). Only
            for ``separation="lse"``; a separation carries its own parameters.
        separation: ``"lse"`` or a :class:`~hopfield.core.separation.Separation`
            (``Polynomial``, ``RectifiedPolynomial``, ``ReLUSquared``, ``Exponential``).
        learnable_beta: learn β (stored as ``log_beta`` so it stays positive).
        std: initial memories ``N(0, std²)``; default ``1/√num_features``.
        generator: random generator for the initial memories.

    Attributes:
        memories: ``Ξ``, an ``nn.Parameter`` of shape ``(num_memories, num_features)``.
        beta: β as a 0-dim tensor (``lse`` only).
    """

    arity = 1
    _beta: torch.Tensor
    log_beta: torch.Tensor

    def __init__(
        self,
        num_memories: int,
        num_features: int,
        *,
        beta: float | None = None,
        separation: str | Separation = "lse",
        learnable_beta: bool = False,
        std: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_memories = check_count(num_memories, "num_memories")
        self.num_features = check_count(num_features, "num_features")
        if not isinstance(learnable_beta, bool):
            raise TypeError(f"learnable_beta must be a bool, got {type(learnable_beta).__name__}")
        self.separation = _check_separation(separation, beta, learnable_beta)
        self.learnable_beta = learnable_beta
        beta_value = 1.0 if beta is None else check_positive(beta, "beta")
        if learnable_beta:
            self.log_beta = nn.Parameter(torch.tensor(math.log(beta_value)))
        else:
            self.register_buffer("_beta", torch.tensor(beta_value))
        scale = 1.0 / math.sqrt(num_features) if std is None else float(std)
        memories = torch.randn(num_memories, num_features, generator=generator) * scale
        self.memories = nn.Parameter(memories)

    @classmethod
    def from_memories(cls, memories: torch.Tensor, **kwargs: object) -> DenseMemorySynapse:
        """A synapse storing the given patterns ``memories`` ``(M, D)`` (copied)."""
        if not isinstance(memories, torch.Tensor) or memories.ndim != 2:
            raise ValueError(
                "memories must be a tensor of shape (num_memories, num_features), got "
                f"{tuple(memories.shape) if isinstance(memories, torch.Tensor) else memories!r}"
            )
        synapse = cls(memories.shape[0], memories.shape[1], **kwargs)  # type: ignore[arg-type]
        memories = cast_finite(memories, "memories", synapse.memories.dtype)
        with torch.no_grad():
            synapse.memories.copy_(memories)
        return synapse

    @property
    def beta(self) -> torch.Tensor:
        """Inverse temperature β (``exp(log_beta)`` when learnable)."""
        return self.log_beta.exp() if self.learnable_beta else self._beta

    def _check(self, activations: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if len(activations) != 1:
            raise ValueError(
                f"DenseMemorySynapse joins 1 layer, got {len(activations)} activations"
            )
        return check_activation(activations[0], "g", self.num_features, self.memories.dtype)

    def overlaps(self, g: torch.Tensor) -> torch.Tensor:
        """``Ξ ĝ``: overlaps ``ξ_μ·ĝ`` of shape ``(B, ..., M)``."""
        return g @ self.memories.T

    def energy(self, *activations: torch.Tensor) -> torch.Tensor:
        """The energy of the chosen form, summed over tokens, shape ``(B,)``."""
        h = self.overlaps(self._check(activations))
        if self.separation is None:
            beta = self.beta
            return -sum_non_batch(torch.logsumexp(beta * h, dim=-1)) / beta
        return -sum_non_batch(self.separation(h))

    def grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``∂E/∂ĝ = −softmax(βΞĝ)ᵀΞ`` (lse) or ``−F'(Ξĝ)ᵀΞ`` (separation)."""
        h = self.overlaps(self._check(activations))
        if self.separation is None:
            weights = torch.softmax(self.beta * h, dim=-1)
        else:
            weights = self.separation.derivative(h)
        return (-(weights @ self.memories),)

    def energy_and_grad(
        self, *activations: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``(E, (∂E/∂ĝ,))`` sharing one product ``Ξĝ`` (and, for lse, one softmax).

        The log-sum-exp is read off the softmax ``w`` as ``max s − log max w`` (exact:
        ``max w ≥ 1/M``), so the scores ``s = βΞĝ`` are exponentiated once. Without
        autograd recording, the scores and the product ``wΞ`` are updated in place.
        """
        h = self.overlaps(self._check(activations))
        in_place = not (torch.is_grad_enabled() and h.requires_grad)  # h: fresh, no graph
        if self.separation is None:
            beta = self.beta
            in_place = in_place and not beta.requires_grad
            scores = h.mul_(beta) if in_place else beta * h
            weights = torch.softmax(scores, dim=-1)
            lse = scores.amax(dim=-1) - torch.log(weights.amax(dim=-1))
            energy = -sum_non_batch(lse) / beta
        else:
            energy = -sum_non_batch(self.separation(h))
            weights = self.separation.derivative(h)
        pull = weights @ self.memories
        return energy, (pull.neg_() if in_place else -pull,)

    def extra_repr(self) -> str:
        form = "lse" if self.separation is None else repr(self.separation)
        text = f"num_memories={self.num_memories}, num_features={self.num_features}, "
        text += f"separation={form}"
        if self.separation is None:
            text += f", beta={float(self.beta.detach()):.4g}, learnable_beta={self.learnable_beta}"
        return text


def _check_separation(
    separation: object, beta: float | None, learnable_beta: bool
) -> Separation | None:
    """``None`` for the log-sum-exp form, else the given :class:`Separation`."""
    if isinstance(separation, str):
        if separation != "lse":
            raise ValueError(
                f"separation must be 'lse' or a Separation instance (Polynomial, "
                f"RectifiedPolynomial, ReLUSquared, Exponential), got {separation!r}"
            )
        return None
    if not isinstance(separation, Separation):
        raise TypeError(
            f"separation must be 'lse' or a Separation instance, got {type(separation).__name__}"
        )
    if beta is not None or learnable_beta:
        raise ValueError(
            "beta and learnable_beta apply to separation='lse' only; a Separation carries its "
            f"own parameters (got separation={separation!r}, beta={beta}, "
            f"learnable_beta={learnable_beta})"
        )
    return separation
