"""Dense Associative Memory classifier: feature neurons + label neurons, one label update.

Krotov & Hopfield (2016) "Dense Associative Memory for Pattern Recognition".

The network has ``N`` visible (feature) neurons ``v`` and ``C`` label neurons
``c ∈ [−1, 1]^C``; each of its ``K`` memories ``ξ_μ = [ξ^v_μ, ξ^c_μ] ∈ R^{N+C}`` is a
learned parameter. With the normalised overlap ``z_μ(v, c) = (ξ^v_μ·v + ξ^c_μ·c)/√(N+C)``
the energy is

* polynomial separation ``F`` (``Polynomial``/``RectifiedPolynomial``):
  ``E(v, c) = −Σ_μ F(z_μ)``;
* log-sum-exp: ``E(v, c) = −β⁻¹ log Σ_μ exp(β z_μ)``.

**Label update** (the paper's one step, the visible neurons clamped to the input and
every label neuron started at ``−1``): label ``α`` is set by comparing the energy of
``c_α = +1`` with ``c_α = −1``, all other labels ``−1``. With
``z⁻_μ = (ξ^v_μ·v − Σ_γ ξ^c_μγ)/√(N+C)`` and ``z⁺_μα = z⁻_μ + 2 ξ^c_μα/√(N+C)``,

``c_α = tanh(ℓ_α)``, ``ℓ_α = β [E(c_α = −1) − E(c_α = +1)]``, i.e.

* polynomial: ``ℓ_α = β Σ_μ [F(z⁺_μα) − F(z⁻_μ)]`` (the paper's update);
* log-sum-exp: ``ℓ_α = logsumexp_μ(β z⁺_μα) − logsumexp_μ(β z⁻_μ)``.

The energy gaps ``ℓ`` are the class logits: ``predict_proba = softmax(ℓ)``. Training
(:meth:`DenseAMClassifier.loss`) backpropagates through the one-step update: the
cross-entropy of ``softmax(ℓ)`` (default), or the paper's ``Σ_α (c_α − t_α)^{2m}``
with targets ``t = ±1``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hopfield._validation import check_finite, check_floating, check_positive, check_rank
from hopfield.core.separation import Polynomial, RectifiedPolynomial, Separation

__all__ = ["SEPARATIONS", "DenseAMClassifier", "make_separation"]

SEPARATIONS = ("relu3", "poly", "lse")
"""Names accepted for ``separation``: ``ReLU(z)³``, ``z³`` and log-sum-exp."""


def make_separation(name: str | Separation) -> Separation | None:
    """The separation ``F``: a :class:`~hopfield.core.separation.Separation` object as is
    (e.g. ``RectifiedPolynomial(4)``), or a shorthand name (``None`` for ``"lse"``)."""
    if isinstance(name, Separation):
        return name
    if name == "relu3":
        return RectifiedPolynomial(3)
    if name == "poly":
        return Polynomial(3)
    if name == "lse":
        return None
    raise ValueError(f"separation must be one of {SEPARATIONS}, got {name!r}")


class DenseAMClassifier(nn.Module):
    """Krotov–Hopfield (2016) Dense AM classifier; see the module docstring for the math.

    Args:
        num_features: visible neurons ``N``.
        num_classes: label neurons ``C`` (≥ 2).
        num_memories: memories ``K``.
        separation: a :class:`~hopfield.core.separation.Separation` object (e.g.
            ``RectifiedPolynomial(4)``) or a shorthand: ``"relu3"`` (``F = ReLU(z)³``),
            ``"poly"`` (``F = z³``) or ``"lse"`` (log-sum-exp over the memories).
        beta: inverse temperature ``β``.
        seed: seed of the initial memories ``ξ ~ N(0, I)`` (the ``1/√(N+C)`` in ``z``
            keeps the initial overlaps O(1) for standardised inputs).

    Shapes: inputs ``v`` ``(B, N)``; :meth:`forward` returns the logits ``ℓ`` ``(B, C)``.
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        num_memories: int = 100,
        *,
        separation: str | Separation = "relu3",
        beta: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("num_features", num_features, 1),
            ("num_classes", num_classes, 2),
            ("num_memories", num_memories, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int ≥ {low}, got {value!r}")
        self.num_features = num_features
        self.num_classes = num_classes
        self.separation_name = separation
        self.separation = make_separation(separation)
        self.beta = check_positive(beta, "beta")
        generator = torch.Generator().manual_seed(seed)
        width = num_features + num_classes
        self.scale = 1.0 / math.sqrt(width)
        self.visible = nn.Parameter(torch.randn(num_memories, num_features, generator=generator))
        self.labels = nn.Parameter(torch.randn(num_memories, num_classes, generator=generator))

    @property
    def num_memories(self) -> int:
        """Number of memories ``K``."""
        return int(self.visible.shape[0])

    def _check_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        check_floating(inputs, "inputs")
        check_rank(inputs, "inputs", 2, f"(B, {self.num_features})")
        if inputs.shape[1] != self.num_features:
            raise ValueError(
                f"inputs must have shape (B, {self.num_features}), got {tuple(inputs.shape)}"
            )
        return check_finite(inputs, "inputs").to(self.visible.dtype)

    def overlaps(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z⁻ (B, K), z⁺ (B, K, C))``: overlaps with every label at −1, and with
        label ``α`` switched to +1."""
        v = self._check_inputs(inputs)
        low = (v @ self.visible.T - self.labels.sum(dim=1)) * self.scale
        high = low[:, :, None] + 2 * self.scale * self.labels[None]
        return low, high

    def energy(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``E(v, c)`` ``(B,)`` for visible states ``(B, N)`` and label states ``(B, C)``."""
        v = self._check_inputs(inputs)
        check_floating(labels, "labels")
        if labels.shape != (v.shape[0], self.num_classes):
            raise ValueError(
                f"labels must have shape ({v.shape[0]}, {self.num_classes}), "
                f"got {tuple(labels.shape)}"
            )
        z = (v @ self.visible.T + labels.to(v.dtype) @ self.labels.T) * self.scale
        if self.separation is None:
            return -torch.logsumexp(self.beta * z, dim=1) / self.beta
        return -self.separation(z).sum(dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Class logits ``ℓ_α = β [E(c_α = −1) − E(c_α = +1)]`` ``(B, C)``."""
        low, high = self.overlaps(inputs)
        if self.separation is None:
            return (
                torch.logsumexp(self.beta * high, dim=1)
                - torch.logsumexp(self.beta * low, dim=1)[:, None]
            )
        return self.beta * (self.separation(high) - self.separation(low)[:, :, None]).sum(dim=1)

    def label_update(self, inputs: torch.Tensor) -> torch.Tensor:
        """The paper's one-step label neurons ``c_α = tanh(ℓ_α)`` ``(B, C)`` in (−1, 1)."""
        return torch.tanh(self.forward(inputs))

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, *, power: int | None = None
    ) -> torch.Tensor:
        """Training loss for class indices ``targets`` ``(B,)``.

        ``power=None``: cross-entropy of ``softmax(ℓ)``; ``power=m``: the paper's
        ``mean_B Σ_α (c_α − t_α)^{2m}`` with ``t_α = ±1``.
        """
        logits = self.forward(inputs)
        if power is None:
            return nn.functional.cross_entropy(logits, targets)
        if isinstance(power, bool) or not isinstance(power, int) or power < 1:
            raise ValueError(f"power must be None or an int ≥ 1, got {power!r}")
        signs = 2 * nn.functional.one_hot(targets, self.num_classes).to(logits.dtype) - 1
        return (torch.tanh(logits) - signs).pow(2 * power).sum(dim=1).mean()

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features}, num_classes={self.num_classes}, "
            f"num_memories={self.num_memories}, separation={self.separation_name!r}, "
            f"beta={self.beta}"
        )
