"""Gated Associative Memory (GAM) block and language model, and a same-size Transformer.

Acharya (2025), "Gated Associative Memory (GAM): A Parallel O(N) Architecture for
Sequence Modeling", arXiv 2509.00605. With ``x_n = LN(x)`` (pre-LayerNorm), one block is

* local path: ``L = DepthwiseConv1d_k(x_n)``, causal (left pad ``k − 1``, length ``T``);
* global path: ``G = softmax(x_n Mᵀ) M`` over a learned slot bank ``M ∈ ℝ^{S×d}``
  (Xavier init) — one Hopfield/attention read whose stored patterns are parameters;
* gates: ``[g_l, g_g] = W_g x_n + b_g`` (``d → 2d``); ``F = σ(g_l)⊙L + σ(g_g)⊙G``;
* ``x ← x + Dropout(F)``; ``x ← x + FFN(LN(x))`` with ``FFN = Linear(d,4d)·GELU·
  Linear(4d,d)·Dropout``.

Cost per token is ``O(k d + S d + d²)``, independent of ``T``: the block is linear in
sequence length. The slot memory ``M`` is a parameter, not the context: ``G_t`` depends
on ``x_t`` alone, so the global path mixes no tokens. This is the paper's design (its
equations and the public implementations read a learned bank per token), not a bug of
this implementation; every cross-token interaction goes through the convolutions, with
receptive field ``L_blocks (k − 1) + 1``. ``hopfield study gam`` measures it (perturb
token ``j``, see which outputs move).

Ablations (the paper's Table of ablations): ``local=False`` drops the convolution
(``F = σ(g)⊙G``, "global only"), ``slot_memory=False`` drops the slot bank
(``F = σ(g)⊙L``, "local only"); the gate then maps ``d → d``.

:class:`GAMLanguageModel` is the paper's model: token + learned positional embeddings,
``num_layers`` blocks, final LayerNorm, LM head tied to the token embedding (no bias).
:class:`TransformerLanguageModel` is the same skeleton with pre-LN
``nn.TransformerEncoderLayer`` blocks under a causal mask, the softmax baseline.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from hopfield._validation import check_bool, check_int, check_probability, check_rank, check_tensor
from hopfield.nn.inputs import layer_input, module_dtype

__all__ = ["GAMBlock", "GAMLanguageModel", "TransformerLanguageModel", "count_parameters"]


def count_parameters(module: nn.Module) -> int:
    """Number of distinct parameter entries (tied weights counted once)."""
    return sum(p.numel() for p in module.parameters())


class GAMBlock(nn.Module):
    """One GAM block (see the module docstring for the equations).

    Args:
        d_model: width ``d``.
        num_slots: number ``S`` of learned memory slots.
        kernel_size: ``k`` of the depthwise causal convolution.
        dropout: dropout after the fused paths and in the FFN.
        batch_first: ``x`` is ``(B, T, d)`` if True, else ``(T, B, d)`` (output alike).
        local: keep the causal-convolution path (False: the "global only" ablation).
        slot_memory: keep the slot-memory path (False: the "local only" ablation; the
            block then has no ``memory`` parameter). At least one path must be kept.

    Shapes: ``x`` ``(B, T, d)`` → ``(B, T, d)``. Inputs follow the block's dtype; an
    empty batch or sequence gives an empty result (:mod:`hopfield.nn.inputs`).
    """

    def __init__(
        self,
        d_model: int,
        num_slots: int,
        kernel_size: int = 3,
        dropout: float = 0.1,
        *,
        batch_first: bool = True,
        local: bool = True,
        slot_memory: bool = True,
    ) -> None:
        super().__init__()
        self.batch_first = check_bool(batch_first, "batch_first")
        self.local = check_bool(local, "local")
        self.slot_memory = check_bool(slot_memory, "slot_memory")
        if not (self.local or self.slot_memory):
            raise ValueError("local and slot_memory cannot both be False (the block needs a path)")
        self.d_model = check_int(d_model, "d_model")
        self.num_slots = check_int(num_slots, "num_slots")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        self.dropout_p = check_probability(dropout, "dropout")
        d = self.d_model
        self.norm1 = nn.LayerNorm(d)
        self.local_conv = nn.Conv1d(d, d, self.kernel_size, groups=d) if self.local else None
        self.memory = nn.Parameter(torch.empty(self.num_slots, d)) if self.slot_memory else None
        if self.memory is not None:
            nn.init.xavier_uniform_(self.memory)
        self.gate = nn.Linear(d, d * (int(self.local) + int(self.slot_memory)))
        self.dropout = nn.Dropout(self.dropout_p)
        self.norm2 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(self.dropout_p)
        )

    def extra_repr(self) -> str:
        text = f"d_model={self.d_model}, num_slots={self.num_slots}, kernel_size={self.kernel_size}"
        if not (self.local and self.slot_memory):
            text += f", local={self.local}, slot_memory={self.slot_memory}"
        return text

    def local_path(self, x_n: torch.Tensor) -> torch.Tensor:
        """Depthwise causal convolution ``(B, T, d) → (B, T, d)`` (output at ``t`` sees
        ``x_n[t−k+1 … t]`` only)."""
        if self.local_conv is None:
            raise RuntimeError("this block was built with local=False")
        h = F.pad(x_n.transpose(1, 2), (self.kernel_size - 1, 0))
        return self.local_conv(h).transpose(1, 2)

    def global_path(self, x_n: torch.Tensor) -> torch.Tensor:
        """Slot-memory read ``softmax(x_n Mᵀ) M`` ``(B, T, d)``: per token, row ``t`` of
        the result depends on ``x_n[t]`` only."""
        if self.memory is None:
            raise RuntimeError("this block was built with slot_memory=False")
        return torch.softmax(x_n @ self.memory.T, dim=-1) @ self.memory

    def _check_input(self, x: object) -> torch.Tensor:
        """Batch-first ``(B, T, d)`` in the block's dtype."""
        tensor = layer_input(x, "x", module_dtype(self))
        layout = f"(B, T, {self.d_model})" if self.batch_first else f"(T, B, {self.d_model})"
        check_rank(tensor, "x", 3, layout)
        if tensor.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape {layout}, got {tuple(tensor.shape)}")
        return tensor if self.batch_first else tensor.transpose(0, 1)

    def _restore(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.batch_first else x.transpose(0, 1)

    def _fuse(self, x: torch.Tensor, x_n: torch.Tensor, local: torch.Tensor | None) -> torch.Tensor:
        paths = [local] if local is not None else []
        if self.memory is not None:
            paths.append(self.global_path(x_n))
        gates = self.gate(x_n).chunk(len(paths), dim=-1)
        fused = sum(
            (torch.sigmoid(g) * path for g, path in zip(gates, paths, strict=True)),
            torch.zeros_like(x),
        )
        x = x + self.dropout(fused)
        return x + self.ffn(self.norm2(x))

    def get_config(self) -> dict[str, object]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return {
            "d_model": self.d_model,
            "num_slots": self.num_slots,
            "kernel_size": self.kernel_size,
            "dropout": self.dropout_p,
            "batch_first": self.batch_first,
            "local": self.local,
            "slot_memory": self.slot_memory,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One block ``(B, T, d) → (B, T, d)`` (see the module docstring)."""
        x = self._check_input(x)
        if x.numel() == 0:
            return self._restore(x.clone())
        x_n = self.norm1(x)
        local = self.local_path(x_n) if self.local else None
        return self._restore(self._fuse(x, x_n, local))

    def forward_chunked(self, x: torch.Tensor, chunk_size: int) -> torch.Tensor:
        """Same output as :meth:`forward`, computed ``chunk_size`` tokens at a time.

        Every path but the convolution is per-token, and the convolution at ``t``
        needs only ``x_n[t−k+1 … t]``: each chunk carries the last ``k − 1``
        normalised inputs of the previous one as left context. Peak activation memory
        is ``O(chunk_size · d)`` instead of ``O(T · d)`` (streaming inference).
        """
        x = self._check_input(x)
        chunk_size = check_int(chunk_size, "chunk_size")
        if x.numel() == 0:
            return self._restore(x.clone())
        outputs = []
        context = x.new_zeros(x.shape[0], self.kernel_size - 1, self.d_model)
        for start in range(0, x.shape[1], chunk_size):
            piece = x[:, start : start + chunk_size]
            x_n = self.norm1(piece)
            local = None
            if self.local_conv is not None:
                window = torch.cat([context, x_n], dim=1).transpose(1, 2)
                local = self.local_conv(window).transpose(1, 2)
            outputs.append(self._fuse(piece, x_n, local))
            context = torch.cat([context, x_n], dim=1)[:, x_n.shape[1] :]
        return self._restore(torch.cat(outputs, dim=1))


class _LanguageModel(nn.Module):
    """Token + positional embeddings, a stack of blocks, final LN, tied LM head."""

    def __init__(self, vocab_size: int, d_model: int, context_length: int, dropout: float) -> None:
        super().__init__()
        self.vocab_size = check_int(vocab_size, "vocab_size")
        self.d_model = check_int(d_model, "d_model")
        self.context_length = check_int(context_length, "context_length")
        self.token_embedding = nn.Embedding(self.vocab_size, self.d_model)
        self.position_embedding = nn.Embedding(self.context_length, self.d_model)
        self.embed_dropout = nn.Dropout(check_probability(dropout, "dropout"))
        self.final_norm = nn.LayerNorm(self.d_model)
        self.lm_head = nn.Linear(self.d_model, self.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)

    def _blocks(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, vocab_size)`` for token ids ``(B, T)``, ``T ≤ context_length``."""
        check_tensor(tokens, "tokens")
        check_rank(tokens, "tokens", 2, "(B, T)")
        if tokens.dtype not in (torch.long, torch.int32, torch.int64):
            raise TypeError(f"tokens must be an integer tensor, got {tokens.dtype}")
        length = tokens.shape[1]
        if length > self.context_length:
            raise ValueError(
                f"tokens must have at most context_length={self.context_length} columns, "
                f"got {length}"
            )
        self._check_ids(tokens, "tokens")
        positions = torch.arange(length, device=tokens.device)
        h = self.embed_dropout(self.token_embedding(tokens) + self.position_embedding(positions))
        return self.lm_head(self.final_norm(self._blocks(h)))

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy (nats per token); ``exp`` of it is perplexity."""
        logits = self(tokens)
        if targets.shape != tokens.shape:
            raise ValueError(
                f"targets must have shape {tuple(tokens.shape)}, got {tuple(targets.shape)}"
            )
        self._check_ids(targets, "targets")
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))

    def _check_ids(self, ids: torch.Tensor, name: str) -> None:
        """Token ids lie in ``[0, vocab_size)`` (an embedding lookup would fail obscurely)."""
        if ids.numel() and not bool(((ids >= 0) & (ids < self.vocab_size)).all()):
            raise ValueError(
                f"{name} must be token ids in [0, {self.vocab_size}), got values from "
                f"{int(ids.min())} to {int(ids.max())}"
            )


class GAMLanguageModel(_LanguageModel):
    """GAM language model (Acharya 2025): embeddings → ``num_layers`` :class:`GAMBlock` →
    LN → tied head. The paper's configuration (``num_layers=6, d_model=512,
    num_slots=512, kernel_size=3, vocab_size=10_000, context_length=256``) has
    22,599,680 parameters. ``local`` / ``slot_memory`` select the paths of every block
    (:class:`GAMBlock`; the paper's "global only" and "local only" ablations).
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 512,
        num_layers: int = 6,
        num_slots: int = 512,
        kernel_size: int = 3,
        context_length: int = 256,
        dropout: float = 0.1,
        *,
        local: bool = True,
        slot_memory: bool = True,
    ) -> None:
        super().__init__(vocab_size, d_model, context_length, dropout)
        num_layers = check_int(num_layers, "num_layers")
        self.blocks = nn.ModuleList(
            GAMBlock(d_model, num_slots, kernel_size, dropout, local=local, slot_memory=slot_memory)
            for _ in range(num_layers)
        )

    def _blocks(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h)
        return h


class TransformerLanguageModel(_LanguageModel):
    """Causal softmax-attention baseline: the same embeddings, final LN and tied head as
    :class:`GAMLanguageModel`, with pre-LN ``nn.TransformerEncoderLayer`` blocks
    (``num_heads`` heads, FFN ``4d`` GELU) and an upper-triangular ``−∞`` mask, so
    ``softmax(QKᵀ/√d_h + mask) V`` costs ``O(T)`` per token (``O(T²)`` per sequence).
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 512,
        num_layers: int = 6,
        num_heads: int = 8,
        context_length: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(vocab_size, d_model, context_length, dropout)
        num_layers = check_int(num_layers, "num_layers")
        num_heads = check_int(num_heads, "num_heads")
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                num_heads,
                dim_feedforward=4 * d_model,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(num_layers)
        )

    def _blocks(self, h: torch.Tensor) -> torch.Tensor:
        length = h.shape[1]
        mask = torch.full((length, length), -math.inf, device=h.device, dtype=h.dtype).triu(1)
        for block in self.blocks:
            h = block(h, src_mask=mask, is_causal=True)
        return h
