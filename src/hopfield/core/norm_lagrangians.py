"""The normalising Lagrangians: :class:`EnergyLayerNorm` and :class:`SphericalNorm`.

Both couple the last dimension of a state ``x: (B, *shape, D)`` (one row = one token
or one feature vector) and take a scalar ``gamma`` and a bias vector ``delta``
(zeros at init; learnable by default). Their energies ``⟨x, g⟩ − L`` are evaluated in
closed form: the generic difference cancels catastrophically for large rows (Hoover
et al. 2023, "Energy Transformer"; Krotov & Hopfield 2021).
"""

from __future__ import annotations

import torch
from torch import nn

from hopfield._validation import check_bool, check_positive
from hopfield.core.lagrangian_base import Lagrangian, check_lagrangian_input, sum_non_batch

__all__ = ["EnergyLayerNorm", "SphericalNorm"]


class _RowNorm(Lagrangian):
    """Shared parts of the norms: ``num_features``, scalar γ, bias vector δ, ε."""

    gamma: torch.Tensor
    delta: torch.Tensor | None

    def __init__(
        self,
        num_features: int,
        gamma: float = 1.0,
        eps: float = 1e-5,
        bias: bool = True,
        learnable: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int):
            raise TypeError(f"num_features must be an int, got {type(num_features).__name__}")
        if num_features < 1:
            raise ValueError(f"num_features must be ≥ 1, got {num_features}")
        self.num_features = num_features
        self.eps = check_positive(eps, "eps")
        gamma = check_positive(gamma, "gamma")
        self.learnable = check_bool(learnable, "learnable")
        self.bias = check_bool(bias, "bias")
        gamma_t = torch.tensor(gamma)
        delta_t = torch.zeros(num_features) if self.bias else None
        if self.learnable:
            self.gamma = nn.Parameter(gamma_t)
            self.delta = nn.Parameter(delta_t) if delta_t is not None else None
        else:
            self.register_buffer("gamma", gamma_t)
            self.register_buffer("delta", delta_t)

    def _check_features(self, x: torch.Tensor) -> torch.Tensor:
        check_lagrangian_input(x)
        if x.shape[-1] != self.num_features:
            raise ValueError(
                f"x must have shape (B, ..., {self.num_features}) (last dim = num_features), "
                f"got shape {tuple(x.shape)}"
            )
        return x

    def _bias_lagrangian(self, x: torch.Tensor) -> torch.Tensor | float:
        """``Σ δ·x`` over every row (the bias is counted once per row/token)."""
        return 0.0 if self.delta is None else sum_non_batch(x * self.delta)

    def _rows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(r, 1/σ)``: the rows the norm rescales and their inverse scale ``(…, 1)``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _energy_per_row(self) -> torch.Tensor:
        """The energy of a row is ``−(this)·ε/σ``: ``γ`` (spherical) or ``D γ`` (layer norm)."""
        return self.gamma

    def _activation(self, rows: torch.Tensor, inv_scale: torch.Tensor) -> torch.Tensor:
        """``γ r/σ + δ`` in one pass (``γ/σ`` is formed on the small ``(…, 1)`` tensor)."""
        scale = self.gamma * inv_scale
        if self.delta is None:
            return rows * scale
        return torch.addcmul(self.delta, rows, scale)

    def _energy(self, inv_scale: torch.Tensor) -> torch.Tensor:
        return sum_non_batch(-self.eps * self._energy_per_row() * inv_scale.squeeze(-1))

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return self._activation(*self._rows(self._check_features(x)))

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``−Σ_rows c ε / σ`` (``c`` = ``D γ`` or ``γ``), with no cancellation at large ``x``."""
        return self._energy(self._rows(self._check_features(x))[1])

    def activation_and_energy(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g, E)`` sharing one row-norm computation."""
        rows, inv_scale = self._rows(self._check_features(x))
        return self._activation(rows, inv_scale), self._energy(inv_scale)

    def extra_repr(self) -> str:
        gamma = float(self.gamma.detach())
        return (
            f"num_features={self.num_features}, gamma={gamma:.4g}, eps={self.eps}, "
            f"bias={self.bias}, learnable={self.learnable}"
        )


class EnergyLayerNorm(_RowNorm):
    """The Energy Transformer's LayerNorm as a Lagrangian (Hoover et al. 2023).

    Over the last dim of size ``D``, for each row (token) ``x``:
    ``L = D·γ·sqrt(mean((x − x̄)²) + ε) + Σ δ·x`` and
    ``g = γ (x − x̄) / sqrt(var + ε) + δ`` (the usual LayerNorm with a scalar γ).
    ``L`` is summed over every other non-batch dim, the bias term included per row.
    Energy ``⟨x, g⟩ − L = −D γ ε / sqrt(var + ε)`` per row, evaluated in this closed
    form: the difference of two terms of order ``D γ |x|`` would lose every digit in
    float32 once tokens grow (|x| ~ 1e5 in a long ET descent). Convex for γ > 0.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_features(x)
        var = (x - x.mean(dim=-1, keepdim=True)).square().mean(dim=-1)
        rows = self.num_features * self.gamma * torch.sqrt(var + self.eps)
        return sum_non_batch(rows) + self._bias_lagrangian(x)

    def _rows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        centred = x - x.mean(dim=-1, keepdim=True)
        variance = torch.linalg.vecdot(centred, centred).unsqueeze(-1) / self.num_features
        return centred, torch.rsqrt(variance + self.eps)

    def _energy_per_row(self) -> torch.Tensor:
        return self.num_features * self.gamma


class SphericalNorm(_RowNorm):
    """Spherical normalisation: ``L = γ sqrt(Σ x² + ε) + Σ δ·x`` over the last dim.

    ``g = γ x / sqrt(‖x‖² + ε) + δ`` projects each row onto the sphere of radius γ
    (the normalising Lagrangian of Krotov & Hopfield 2021). Summed over every other
    non-batch dim; energy ``−γ ε / sqrt(‖x‖² + ε)`` per row (evaluated in this closed
    form, exact in float32 for large rows). Convex for γ > 0.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_features(x)
        rows = self.gamma * torch.sqrt(x.square().sum(dim=-1) + self.eps)
        return sum_non_batch(rows) + self._bias_lagrangian(x)

    def _rows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, torch.rsqrt(torch.linalg.vecdot(x, x).unsqueeze(-1) + self.eps)
