"""Muon: momentum orthogonalised by Newton–Schulz, for matrix-shaped parameters.

Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural networks"; analysed
as an associative-memory learner in Wang et al. (2025), "Muon Outperforms Adam in
Tail-End Associative Memory Learning" (arXiv 2509.26030).

For a weight ``W ∈ ℝ^{m×n}`` with gradient ``G_t``:

    B_t = μ B_{t−1} + G_t                           (momentum buffer)
    M_t = G_t + μ B_t   (Nesterov)   or   B_t       (plain)
    O_t ≈ U Vᵀ  where  M_t = U Σ Vᵀ                  (orthogonalisation, Newton–Schulz)
    W  ← (1 − lr·λ) W − lr · √max(1, m/n) · O_t     (decoupled weight decay λ)

``O_t = argmax_{‖O‖₂ ≤ 1} ⟨M_t, O⟩``: Muon is steepest descent under the spectral norm,
so every singular direction of the update moves at the same rate — the property that
lets tail classes of a linear associative memory learn as fast as head classes.

Newton–Schulz quintic: ``X_0 = M/‖M‖_F`` (all singular values ≤ 1), then
``X ← a X + (b A + c A²) X`` with ``A = X Xᵀ`` and ``(a, b, c) = (3.4445, −4.7750, 2.0315)``.
The odd polynomial ``p(σ) = aσ + bσ³ + cσ⁵`` pushes every singular value with
``σ/‖M‖_F ≥ 3·10⁻³`` into ``[0.682, 1.203]`` in five steps (it trades exact convergence
to 1 for speed near σ = 0; smaller singular values come out smaller). Tall
matrices are transposed first so that ``A`` is the smaller Gram matrix.

**Shape scaling.** ``√max(1, m/n)`` with ``m`` = rows (fan-out) and ``n`` = columns
(fan-in), as in Jordan et al.: an orthogonal ``m×n`` update with ``m > n`` has
per-entry RMS ``1/√m``; the factor gives it the RMS of a square one.

**Non-matrix parameters.** Muon is defined for matrices only. Tensors with ``ndim < 2``
(biases, gains, scalars) are rejected at construction with a ``ValueError`` — optimise
them with :class:`torch.optim.AdamW` in a second optimiser. Tensors with ``ndim > 2``
(convolution kernels ``(out, in, kh, kw)``) are treated as the matrix
``(shape[0], prod(shape[1:]))``.

**Why not** :class:`torch.optim.Muon`. PyTorch's optimiser computes the same update for
2-D parameters (its momentum buffer is an EMA, ``(1−μ)`` times ours, and the
Frobenius normalisation of Newton–Schulz removes that factor; its default
``adjust_lr_fn`` is our ``√max(1, m/n)``), and for such uses it is the better-maintained
choice. This class is kept because it differs in two ways, both tested in
``tests/optim/test_muon_vs_torch.py``: PyTorch runs Newton–Schulz in bfloat16 (about
1 % relative error in the update; ours, in float32/float64, agrees with float64 to
~10⁻⁵), which matters for the precise associative-memory learning curves of
``hopfield study muon``; and PyTorch accepts only 2-D parameters, while this class
flattens convolution kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from hopfield._validation import check_floating, check_positive

__all__ = ["NS_COEFFICIENTS", "Muon", "newton_schulz"]

NS_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)
"""``(a, b, c)`` of the quintic Newton–Schulz step ``p(σ) = aσ + bσ³ + cσ⁵``."""


def newton_schulz(matrix: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Approximate orthogonal polar factor ``U Vᵀ`` of ``matrix`` ``(..., m, n)``.

    ``X_0 = M / (‖M‖_F + eps)``; ``steps`` times ``X ← a X + (b A + c A²) X``,
    ``A = X Xᵀ`` with :data:`NS_COEFFICIENTS` (Jordan et al. 2024). Singular vectors
    are kept exactly; singular values land in ``[0.682, 1.203]`` (for ``σ/‖M‖_F ≥ 3·10⁻³``).
    Runs in float32 (float64 inputs stay float64).
    """
    check_floating(matrix, "matrix")
    if matrix.ndim < 2:
        raise ValueError(f"matrix must have shape (..., m, n), got shape {tuple(matrix.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int ≥ 0, got {steps!r}")
    a, b, c = NS_COEFFICIENTS
    work = torch.float64 if matrix.dtype == torch.float64 else torch.float32
    x = matrix.to(work)
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = x.transpose(-2, -1)
    x = x / (torch.linalg.matrix_norm(x, keepdim=True) + eps)
    for _ in range(steps):
        gram = x @ x.transpose(-2, -1)
        x = a * x + (b * gram + c * gram @ gram) @ x
    if tall:
        x = x.transpose(-2, -1)
    return x.to(matrix.dtype)


def _shape_scale(shape: torch.Size) -> float:
    rows, cols = shape[0], math.prod(shape[1:])
    return math.sqrt(max(1.0, rows / cols))


class Muon(Optimizer):
    """Momentum + Newton–Schulz orthogonalisation for matrix parameters (see module doc).

    ``B_t = μ B_{t−1} + G_t``; ``O_t = NS(G_t + μ B_t)`` (Nesterov) or ``NS(B_t)``;
    ``W ← (1 − lr λ) W − lr √max(1, m/n) O_t``.

    Args:
        params: matrix-shaped parameters (``ndim ≥ 2``) or parameter groups.
        lr: step size (the spectral norm of one step is about ``lr·√max(1, m/n)``).
        momentum: ``μ ∈ [0, 1)``.
        nesterov: use the Nesterov look-ahead ``G_t + μ B_t``.
        ns_steps: Newton–Schulz iterations.
        weight_decay: decoupled weight decay ``λ ≥ 0``.

    Raises:
        ValueError: for a parameter with ``ndim < 2`` (use AdamW for biases and gains).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        weight_decay: float = 0.0,
    ) -> None:
        check_positive(lr, "lr")
        check_positive(weight_decay, "weight_decay", allow_zero=True)
        if isinstance(momentum, bool) or not isinstance(momentum, int | float):
            raise TypeError(f"momentum must be a real number, got {type(momentum).__name__}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
            raise ValueError(f"ns_steps must be an int ≥ 1, got {ns_steps!r}")
        defaults = {
            "lr": lr,
            "momentum": float(momentum),
            "nesterov": bool(nesterov),
            "ns_steps": ns_steps,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for param in group["params"]:
                if param.ndim < 2:
                    raise ValueError(
                        f"Muon optimises matrix parameters only (ndim ≥ 2); got a parameter "
                        f"of shape {tuple(param.shape)}. Optimise biases, gains and other "
                        "vectors with torch.optim.AdamW in a separate optimiser."
                    )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Muon update of every parameter with a gradient; returns ``closure()``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        grad = param.grad
        assert grad is not None
        if grad.is_sparse:
            raise ValueError("Muon does not support sparse gradients")
        state = self.state[param]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(param)
        buffer: torch.Tensor = state["momentum_buffer"]
        mu = group["momentum"]
        buffer.mul_(mu).add_(grad)
        direction = grad.add(buffer, alpha=mu) if group["nesterov"] else buffer
        matrix = direction.reshape(param.shape[0], -1)
        ortho = newton_schulz(matrix, group["ns_steps"]).reshape(param.shape)
        if group["weight_decay"] > 0:
            param.mul_(1.0 - group["lr"] * group["weight_decay"])
        param.add_(ortho, alpha=-group["lr"] * _shape_scale(param.shape))
