"""Multi-head energy attention: the attention hypersynapse of the Energy Transformer.

Hoover et al. (2023), "Energy Transformer" (NeurIPS), eq. 3. For token activations
``ĝ`` of shape ``(B, T, D)`` and ``H`` heads of size ``Y``::

    K_{hB} = W_K^h ĝ_B,   Q_{hC} = W_Q^h ĝ_C                       (Y-vectors)
    E_ATT  = −(1/β) Σ_h Σ_C log Σ_{B ≠ C} exp(β K_{hB} · Q_{hC})

with ``β = 1/√Y`` by default. The paper excludes the self term ``B = C``
(``exclude_self=True``); published code keeps it (``exclude_self=False``).

Closed-form gradient. With ``A_{hCB} = softmax_B(β Q_{hC}·K_{hB})`` over the
allowed keys of query ``C``::

    ∂E/∂Q_{hC} = −Σ_B A_{hCB} K_{hB}          (query path)
    ∂E/∂K_{hB} = −Σ_C A_{hCB} Q_{hC}          (key path)
    ∂E/∂ĝ_A   = Σ_h W_Q^hᵀ ∂E/∂Q_{hA} + W_K^hᵀ ∂E/∂K_{hA}

so ``−∂E/∂ĝ`` is a tied softmax attention without value weights (the keys act as
values on the query path, the queries as values on the key path).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hopfield._validation import check_floating, check_int, check_positive
from hopfield.core.synapses.base import Synapse

__all__ = ["EnergyAttention"]


class EnergyAttention(Synapse):
    """Energy attention ``E_ATT = −(1/β) Σ_h Σ_C log Σ_{B≠C} exp(β K_{hB}·Q_{hC})``.

    Hoover et al. (2023), "Energy Transformer". One activation ``ĝ`` of shape
    ``(B, T, D)``; :meth:`energy` returns ``(B,)``; :meth:`grad` is the closed form
    derived in the module docstring (both the query and the key path);
    :meth:`energy_and_grad` shares one softmax between both.

    Args:
        num_features: token width ``D``.
        num_heads: number of heads ``H``.
        head_dim: query/key size ``Y`` per head.
        beta: inverse temperature β > 0; ``None`` gives ``1/√Y``.
        exclude_self: drop the ``B = C`` term (the paper's energy) when ``True``.
        init_std: standard deviation of the normal init of ``W_Q`` and ``W_K``.

    Attention mask (optional keyword ``mask`` of :meth:`energy` / :meth:`grad`):
    a bool tensor ``(T, T)`` or ``(B, T, T)``; ``mask[..., C, B]`` is ``True`` when
    query ``C`` may attend to key ``B``. A query with no allowed key contributes 0.

    Parameters: ``query_weight`` and ``key_weight``, each ``(H, Y, D)``; no biases.
    """

    def __init__(
        self,
        num_features: int,
        num_heads: int,
        head_dim: int,
        *,
        beta: float | None = None,
        exclude_self: bool = True,
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        self.num_features = check_int(num_features, "num_features")
        self.num_heads = check_int(num_heads, "num_heads")
        self.head_dim = check_int(head_dim, "head_dim")
        beta = 1.0 / math.sqrt(head_dim) if beta is None else check_positive(beta, "beta")
        if not isinstance(exclude_self, bool):
            raise TypeError(f"exclude_self must be a bool, got {type(exclude_self).__name__}")
        self.exclude_self = exclude_self
        std = check_positive(init_std, "init_std")
        shape = (num_heads, head_dim, num_features)
        self.query_weight = nn.Parameter(torch.randn(shape) * std)
        self.key_weight = nn.Parameter(torch.randn(shape) * std)
        self._beta = float(beta)

    @property
    def beta(self) -> float:
        """Inverse temperature β."""
        return self._beta

    # ----------------------------------------------------------------- checks
    def _check_activation(self, activations: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if len(activations) != 1:
            raise ValueError(
                f"EnergyAttention joins one layer: pass one activation, got {len(activations)}"
            )
        g = check_floating(activations[0], "g")
        if g.ndim != 3 or g.shape[-1] != self.num_features:
            raise ValueError(
                f"g must have shape (B, T, {self.num_features}), got shape {tuple(g.shape)}"
            )
        return g

    def _allowed(self, g: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        """Bool ``(1 or B, 1, T, T)`` of allowed (query, key) pairs, or ``None`` (all)."""
        tokens = g.shape[1]
        allowed: torch.Tensor | None = None
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
                raise TypeError("mask must be a bool tensor of shape (T, T) or (B, T, T)")
            if mask.shape[-2:] != (tokens, tokens) or mask.ndim not in (2, 3):
                raise ValueError(
                    f"mask must have shape ({tokens}, {tokens}) or (B, {tokens}, {tokens}), "
                    f"got shape {tuple(mask.shape)}"
                )
            if mask.ndim == 3 and mask.shape[0] not in (1, g.shape[0]):
                raise ValueError(f"mask batch size must be 1 or {g.shape[0]}, got {mask.shape[0]}")
            allowed = mask.to(g.device).reshape(-1, 1, tokens, tokens)
        if self.exclude_self:
            off_diag = ~torch.eye(tokens, dtype=torch.bool, device=g.device)
            allowed = off_diag.view(1, 1, tokens, tokens) if allowed is None else allowed & off_diag
        return allowed

    # ------------------------------------------------------------------ core
    def queries_keys(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Q, K`` of shape ``(B, H, T, Y)`` for activations ``g: (B, T, D)``."""
        qk = self._project(g)
        return qk[:, : self.num_heads], qk[:, self.num_heads :]

    def _stacked_weight(self, dtype: torch.dtype) -> torch.Tensor:
        """``[W_Q; W_K]`` as one ``(2·H·Y, D)`` matrix."""
        weight = torch.cat([self.query_weight, self.key_weight], dim=0)
        return weight.reshape(-1, self.num_features).to(dtype)

    def _project(self, g: torch.Tensor) -> torch.Tensor:
        """``(B, T, D) -> (B, 2H, T, Y)``: queries (first H) and keys (last H)."""
        b, t, _ = g.shape
        qk = g @ self._stacked_weight(g.dtype).T
        return qk.view(b, t, 2 * self.num_heads, self.head_dim).transpose(1, 2)

    def _logits(
        self, q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor | None
    ) -> torch.Tensor:
        """``β Q Kᵀ`` of shape ``(B, H, C=query, B=key)``, disallowed pairs at ``−inf``."""
        logits = (self.beta * q) @ k.transpose(-1, -2)
        if allowed is not None:
            logits = logits.masked_fill_(~allowed, float("-inf"))  # fresh tensor: in place
        return logits

    def _row_lse_and_softmax(
        self, logits: torch.Tensor, allowed: torch.Tensor | None, user_mask: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-query logsumexp ``(B, H, T)`` and softmax ``(B, H, T, T)``; empty rows → 0."""
        empty = None
        # exclude_self alone leaves every row non-empty when T ≥ 2; a user mask may not
        if allowed is not None and (user_mask or logits.shape[-1] == 1):
            empty = ~allowed.any(dim=-1, keepdim=True)  # (1|B, 1, T, 1)
            logits = logits.masked_fill(empty, 0.0)  # finite dummies keep autograd NaN-free
        lse = torch.logsumexp(logits, dim=-1)
        probs = torch.exp(logits - lse.unsqueeze(-1))
        if empty is not None:
            lse = lse.masked_fill(empty.squeeze(-1), 0.0)
            probs = probs.masked_fill(empty, 0.0)
        return lse, probs

    def query_energies(self, g: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Energy per query token ``−(1/β) Σ_h log Σ_{B≠C} exp(β K_{hB}·Q_{hC})``, ``(B, T)``."""
        g = self._check_activation((g,))
        allowed = self._allowed(g, mask)
        q, k = self.queries_keys(g)
        lse, _ = self._row_lse_and_softmax(self._logits(q, k, allowed), allowed, mask is not None)
        return -lse.sum(dim=1) / self.beta

    def energy(self, *activations: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``E_ATT`` per batch element, shape ``(B,)``."""
        g = self._check_activation(activations)
        return self.query_energies(g, mask=mask).sum(dim=-1)

    def energy_and_grad(
        self, g: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E_ATT (B,), ∂E_ATT/∂ĝ (B, T, D))`` from one softmax (closed form)."""
        g = self._check_activation((g,))
        allowed = self._allowed(g, mask)
        q, k = self.queries_keys(g)
        lse, probs = self._row_lse_and_softmax(
            self._logits(q, k, allowed), allowed, mask is not None
        )
        grad_q = -(probs @ k)  # query path: −Σ_B A_CB K_B
        grad_k = -(probs.transpose(-1, -2) @ q)  # key path: −Σ_C A_CB Q_C
        b, t, _ = g.shape
        width = 2 * self.num_heads * self.head_dim  # explicit: -1 is ambiguous when empty
        grad_qk = torch.cat([grad_q, grad_k], dim=1).transpose(1, 2).reshape(b, t, width)
        grad_g = grad_qk @ self._stacked_weight(g.dtype)
        return -lse.sum(dim=(1, 2)) / self.beta, grad_g

    def grad(
        self, *activations: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """``(∂E_ATT/∂ĝ,)`` in closed form, shape ``(B, T, D)``."""
        g = self._check_activation(activations)
        return (self.energy_and_grad(g, mask=mask)[1],)

    def autograd_grad(
        self, *activations: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """``(∂E_ATT/∂ĝ,)`` by autograd (reference for the closed form)."""
        g = self._check_activation(activations)
        with torch.enable_grad():
            inp = g if g.requires_grad else g.detach().requires_grad_(True)
            total = self.energy(inp, mask=mask).sum()
            (grad,) = torch.autograd.grad(total, [inp], create_graph=torch.is_grad_enabled())
        return (grad,)

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features}, num_heads={self.num_heads}, "
            f"head_dim={self.head_dim}, beta={self.beta:.4g}, exclude_self={self.exclude_self}"
        )
