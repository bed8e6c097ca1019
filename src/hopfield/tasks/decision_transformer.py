"""Re:Frame's two learned parts: an observation autoencoder and a Decision Transformer.

Zelezetsky, Cherepanov, Kovalev & Panov (2025), "Re:Frame: Retrieving Experience From
Associative Memory", arXiv 2508.19344. Stage 1 trains an autoencoder offline and stores
the latents of a few expert steps in an associative memory buffer
(:class:`~hopfield.tasks.memory_buffer.AssociativeMemoryBuffer`); stage 2 trains a
Decision Transformer (Chen et al. 2021, "Decision Transformer: Reinforcement Learning
via Sequence Modeling") by behaviour cloning on low-quality trajectories while it reads
the buffer; the same buffer is read at evaluation.

Differences from the paper, stated once: the paper encodes whole (return-to-go,
observation, action) triplets with modality encoders and a linear projection; here the
autoencoder encodes observations only, because only the observation is known when the
policy queries the buffer, and the buffer's values are the expert's (action, return)
directly. The paper does not fix the retrieval operator or the fusion point; here the
read is one modern-Hopfield (softmax) step with a learned query map, added to the
observation token's embedding (the backbone itself is unchanged).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hopfield._validation import (
    check_finite,
    check_indices,
    check_int,
    check_positive,
    check_rank,
    check_tensor,
    check_trailing_shape,
    floating_in_dtype,
)
from hopfield.tasks.memory_buffer import AssociativeMemoryBuffer

__all__ = ["BufferedDecisionTransformer", "ObservationAutoencoder", "UnitNorm"]


class UnitNorm(nn.Module):
    """``z ↦ z / ‖z‖`` along the last axis (so latents compare by cosine similarity)."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs / inputs.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class ObservationAutoencoder(nn.Module):
    """Autoencoder whose unit-norm latents are the keys of a Re:Frame buffer.

    Encoder ``z = n(W₂ GELU(W₁ o + b₁) + b₂)`` with ``n(x) = x/‖x‖``; decoder
    ``ô = W₄ GELU(W₃ z + b₃) + b₄``. Trained offline (:meth:`fit`, Adam) to minimise the
    reconstruction energy ``L = mean_o ‖ô(o) − o‖² / D_o``. Stage 1 of Re:Frame
    (Zelezetsky et al. 2025), restricted to observations (see the module docstring).

    Args:
        observation_dim: ``D_o``.
        latent_dim: ``d_k``, the width of the latents (buffer keys).
        hidden: hidden width of encoder and decoder.
    """

    def __init__(self, observation_dim: int, latent_dim: int = 8, hidden: int = 64) -> None:
        super().__init__()
        self.observation_dim = check_int(observation_dim, "observation_dim")
        self.latent_dim = check_int(latent_dim, "latent_dim")
        check_int(hidden, "hidden")
        self.encoder = nn.Sequential(
            nn.Linear(observation_dim, hidden), nn.GELU(), nn.Linear(hidden, latent_dim), UnitNorm()
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, observation_dim)
        )

    def _check(self, observations: torch.Tensor) -> torch.Tensor:
        check_tensor(observations, "observations")
        dim = self.observation_dim
        check_trailing_shape(observations, "observations", (dim,), f"(B, {dim})")
        weight = next(self.decoder.parameters())
        tensor = floating_in_dtype(observations, "observations", weight.dtype)
        return check_finite(tensor, "observations")

    def encode(self, observations: torch.Tensor) -> torch.Tensor:
        """Unit-norm latents ``z`` ``(B, latent_dim)``."""
        result: torch.Tensor = self.encoder(self._check(observations))
        return result

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``ô`` ``(B, D_o)``."""
        result: torch.Tensor = self.decoder(self.encode(observations))
        return result

    def reconstruction_loss(self, observations: torch.Tensor) -> torch.Tensor:
        """``mean ‖ô − o‖² / D_o`` (over at least one row)."""
        data = self._check(observations)
        if data.shape[0] == 0:
            raise ValueError("observations must hold at least one row for a loss")
        return F.mse_loss(self(data), data)

    def fit(
        self,
        observations: torch.Tensor,
        *,
        steps: int,
        batch_size: int = 256,
        lr: float = 3e-3,
        generator: torch.Generator | None = None,
    ) -> list[float]:
        """Adam on minibatches of ``observations`` ``(S, D_o)``; returns the loss per step."""
        data = self._check(observations)
        check_int(steps, "steps")
        check_int(batch_size, "batch_size")
        check_positive(lr, "lr")
        if data.shape[0] == 0:
            raise ValueError("observations must hold at least one row")
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            batch = data[torch.randint(data.shape[0], (batch_size,), generator=generator)]
            loss = F.mse_loss(self.decoder(self.encoder(batch)), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses


class BufferedDecisionTransformer(nn.Module):
    """Decision Transformer over ``(R_t, o_t, a_t)`` tokens, optionally reading a Re:Frame buffer.

    Tokens of step ``t`` (each plus a learned timestep embedding ``τ_t``):
    ``e_R = w_R R_t/H``, ``e_o = W_o o_t (+ W_b [read_t, c_t])``, ``e_a = E[a_t]``. A
    causal transformer runs over the ``3K`` tokens of a ``K``-step window; the action
    ``a_t`` is predicted from the output at ``o_t``'s token (it sees ``R_{≤t}``,
    ``o_{≤t}``, ``a_{<t}``). Chen et al. (2021); the buffer read is Re:Frame's
    (Zelezetsky et al. 2025).

    Buffer read: the query ``q_t = W_q φ(o_t)`` (``φ`` the frozen encoder, ``W_q``
    learned, initialised to the identity) takes one modern-Hopfield step on the buffer's
    energy ``E(q) = −β⁻¹ log Σ_i exp(β qᵀk_i) + ½‖q‖²``:
    ``read_t = Vᵀ softmax(β K q_t)``, with confidence ``c_t = max_i q_tᵀk_i``. The
    buffer stays frozen (no parameters); gradients reach ``W_q`` and ``W_b``.

    Args:
        observation_dim: ``D_o``.
        num_actions: number of discrete actions.
        horizon: ``H``; returns-to-go are divided by it and timesteps lie in ``[0, H]``.
        context: ``K``, steps per window.
        width: token width.
        layers: transformer blocks.
        heads: attention heads.
        buffer: an :class:`AssociativeMemoryBuffer` (``None``: plain Decision Transformer).
        encoder: ``φ``, observations ``(B, D_o)`` → queries ``(B, d_k)``; required with a
            buffer and frozen here (its parameters stop requiring gradients).
    """

    def __init__(
        self,
        observation_dim: int,
        num_actions: int,
        horizon: int,
        *,
        context: int = 8,
        width: int = 32,
        layers: int = 1,
        heads: int = 2,
        buffer: AssociativeMemoryBuffer | None = None,
        encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("observation_dim", observation_dim),
            ("num_actions", num_actions),
            ("horizon", horizon),
            ("context", context),
            ("width", width),
            ("layers", layers),
            ("heads", heads),
        ):
            check_int(value, name)
        if width % heads:
            raise ValueError(f"width must be a multiple of heads, got {width} and {heads}")
        if buffer is not None and encoder is None:
            raise ValueError("encoder must be given with a buffer")
        self.observation_dim, self.num_actions = observation_dim, num_actions
        self.horizon, self.context, self.heads = horizon, context, heads
        self.return_embedding = nn.Linear(1, width)
        self.observation_embedding = nn.Linear(observation_dim, width)
        self.action_embedding = nn.Embedding(num_actions + 1, width)  # last: unknown
        self.time_embedding = nn.Embedding(horizon + 1, width)
        block = nn.TransformerEncoderLayer(
            width,
            heads,
            4 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.backbone = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_actions)
        self.buffer = buffer
        self.encoder = encoder
        self.query_map: nn.Linear | None = None
        self.read_embedding: nn.Linear | None = None
        if buffer is not None and encoder is not None:
            encoder.requires_grad_(False)
            key_dim = buffer.keys.shape[1]
            self.query_map = nn.Linear(key_dim, key_dim, bias=False)
            nn.init.eye_(self.query_map.weight)
            self.read_embedding = nn.Linear(buffer.values.shape[1] + 1, width, bias=False)

    def read_buffer(self, observations: torch.Tensor) -> torch.Tensor:
        """``[read_t, c_t]`` ``(B, d_v + 1)`` for observations ``(B, D_o)``."""
        if self.buffer is None or self.encoder is None or self.query_map is None:
            raise ValueError("this policy has no buffer")
        with torch.no_grad():
            latents = self.encoder(observations)
        similarity = self.buffer.similarities(self.query_map(latents))
        retrieved = torch.softmax(self.buffer.beta * similarity, dim=1) @ self.buffer.values
        return torch.cat([retrieved, similarity.max(dim=1, keepdim=True).values], dim=1)

    def _attention_mask(self, valid: torch.Tensor) -> torch.Tensor:
        """``(B·heads, 3K, 3K)`` bool, ``True`` = blocked: causal, and padded keys
        blocked except for their own query (so no row is fully blocked)."""
        steps = valid.shape[1]
        size = 3 * steps
        causal = torch.triu(torch.ones(size, size, dtype=torch.bool), diagonal=1)
        padded_key = (~valid).repeat_interleave(3, dim=1)[:, None, :]
        own = torch.eye(size, dtype=torch.bool)
        mask = causal | (padded_key & ~own)
        return mask.repeat_interleave(self.heads, dim=0)

    def forward(
        self,
        returns_to_go: torch.Tensor,
        observations: torch.Tensor,
        actions: torch.Tensor,
        timesteps: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        """Action logits ``(B, K, num_actions)`` for a window: returns-to-go ``(B, K)``,
        observations ``(B, K, D_o)``, actions ``(B, K)`` (``num_actions`` = unknown),
        timesteps ``(B, K)`` in ``[0, H]`` and ``valid`` ``(B, K)`` bool (``False`` on
        left padding).

        Returns-to-go and observations are real floating tensors cast to the policy's
        dtype; actions and timesteps int64/int32 ids in range; ``valid`` bool. Any other
        dtype raises ``TypeError``, a wrong shape, NaN/±inf (after the cast) or an id
        out of range ``ValueError``, each naming the argument; ``B = 0`` gives an empty
        result."""
        check_tensor(observations, "observations")
        check_rank(observations, "observations", 3, f"(B, K, {self.observation_dim})")
        batch, steps, dim = observations.shape
        if dim != self.observation_dim or steps > self.context or steps < 1:
            raise ValueError(
                f"observations must have shape (B, K ≤ {self.context}, {self.observation_dim}),"
                f" got {tuple(observations.shape)}"
            )
        for name, tensor in (
            ("returns_to_go", returns_to_go),
            ("actions", actions),
            ("timesteps", timesteps),
            ("valid", valid),
        ):
            check_tensor(tensor, name)
            if tuple(tensor.shape) != (batch, steps):
                raise ValueError(
                    f"{name} must have shape ({batch}, {steps}), got {tuple(tensor.shape)}"
                )
        weight = self.head.weight
        obs = floating_in_dtype(observations, "observations", weight.dtype)
        rtg = floating_in_dtype(returns_to_go, "returns_to_go", weight.dtype)
        obs, rtg = check_finite(obs, "observations"), check_finite(rtg, "returns_to_go")
        unknown = f"action ids ({self.num_actions}: unknown)"
        check_indices(actions, "actions", self.num_actions + 1, unknown)
        check_indices(timesteps, "timesteps", self.horizon + 1, "steps of the horizon")
        if valid.dtype != torch.bool:
            raise TypeError(f"valid must be a bool tensor, got {valid.dtype}")
        if batch == 0:
            return weight.new_zeros(0, steps, self.num_actions)
        time = self.time_embedding(timesteps)
        tokens_r = self.return_embedding(rtg[..., None] / self.horizon) + time
        tokens_o = self.observation_embedding(obs) + time
        if self.read_embedding is not None:
            read = self.read_buffer(obs.reshape(batch * steps, dim))
            tokens_o = tokens_o + self.read_embedding(read).reshape(batch, steps, -1)
        tokens_a = self.action_embedding(actions) + time
        tokens = torch.stack([tokens_r, tokens_o, tokens_a], dim=2).reshape(batch, 3 * steps, -1)
        hidden = self.backbone(tokens, mask=self._attention_mask(valid))
        return self.head(self.norm(hidden[:, 1::3]))

    def loss(
        self,
        returns_to_go: torch.Tensor,
        observations: torch.Tensor,
        actions: torch.Tensor,
        timesteps: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        """Behaviour-cloning cross-entropy ``−mean log π(a_t | window)`` over valid steps
        (their actions must be known: ``< num_actions``)."""
        logits = self(returns_to_go, observations, actions, timesteps, valid)
        if not bool(valid.any()):
            raise ValueError("valid must mark at least one step for a loss")
        targets = check_indices(actions[valid], "actions", self.num_actions, "known action ids")
        return F.cross_entropy(logits[valid], targets)
