"""The tutorial's diffusion-as-memory protocol: the plain VE SDE and the training budget.

Krotov, Hoover, Ram, Pham, "Modern Methods in Associative Memory" (the diffusion
chapter) after Pham et al. (2025) "Memorization to Generalization: Emergence of
Diffusion Models from Associative Memory": a score network trained by denoising score
matching on K points of the unit circle memorises at small K, produces spurious states
(attractors that are mixtures of stored points) at intermediate K and generalises to
the circle at large K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hopfield._validation import check_positive
from hopfield.tasks.diffusion import VESDE

__all__ = ["TUTORIAL_PROTOCOL", "BrownianVESDE", "DiffusionProtocol"]


class BrownianVESDE(VESDE):
    """The plain VE SDE ``dx = σ dW`` (Song et al. 2021's ``σ^t`` schedule at ``σ = 1``):
    ``σ(t) = σ √t``, ``g(t)² = σ²``, ``β_t = 1/(σ² t)``, on ``t ∈ [t_min, 1]``
    (``σ_min = σ √t_min``, ``σ_max = σ``). The tutorial's diffusion chapter uses ``σ = 1``.
    """

    def __init__(self, sigma: float = 1.0, t_min: float = 1e-3) -> None:
        self.scale = check_positive(sigma, "sigma")
        if not 0.0 < t_min < 1.0:
            raise ValueError(f"t_min must lie in (0, 1), got {t_min}")
        super().__init__(self.scale * math.sqrt(t_min), self.scale)
        self.t_min = float(t_min)

    def sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        return self.scale * torch.as_tensor(t, dtype=torch.float64).sqrt()

    def g_squared(self, t: torch.Tensor | float) -> torch.Tensor:
        return torch.full_like(torch.as_tensor(t, dtype=torch.float64), self.scale**2)

    def __repr__(self) -> str:
        return f"BrownianVESDE(sigma={self.scale}, t_min={self.t_min})"


@dataclass(frozen=True)
class DiffusionProtocol:
    """Training and sampling budget of a diffusion-as-memory experiment."""

    steps: int
    lr: float
    ema_decay: float
    sigma: float
    num_samples: int
    sampler_steps: int
    batch_size: int = 256
    cosine_decay: bool = False


TUTORIAL_PROTOCOL = DiffusionProtocol(
    steps=50_000, lr=1e-4, ema_decay=0.9999, sigma=1.0, num_samples=1500, sampler_steps=1000
)
"""The protocol of the tutorial's diffusion chapter (Krotov, Hoover, Ram, Pham, "Modern
Methods in Associative Memory"; Pham et al. 2025): denoising score matching for 50k
iterations at a constant learning rate 1e-4, EMA 0.9999 of the weights, the SDE
``dx = σ dW`` with ``σ = 1`` (:class:`BrownianVESDE`), 1500 Euler–Maruyama samples
over 1000 steps with the EMA weights."""
