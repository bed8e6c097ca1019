"""Linear (outer-product) associative memory with Hebbian and delta-rule writes.

The classic correlation-matrix memory (Kohonen 1972; Anderson 1972), read as an
associative memory in Zhong, Xu, Ao & Shi (2025), "Understanding Transformer from
the Perspective of Associative Memory":

* write (Hebbian / linear attention): ``W ← W + Σ_i v_i φ(k_i)ᵀ``;
* write (delta rule / DeltaNet): ``W ← W − lr (W φ(k) − v) φ(k)ᵀ`` — one SGD step on
  ``½‖W φ(k) − v‖²``, applied sequentially over the keys of a batch;
* read: ``o = W φ(q)``; retrieving a stored key gives
  ``W φ(k_i) = c_i v_i + Σ_{j≠i} v_j (φ(k_j)·φ(k_i))`` with signal scale
  ``c_i = φ(k_i)·φ(k_i)`` and the sum the cross-talk ``r_i``.

``φ(k) = k`` or ``k/‖k‖`` (``normalize_keys=True``, then ``c_i = 1``). The energy
of a (query, value) pair is ``E(q, v) = −vᵀ W φ(q)``; for auto-association
(``store(patterns)``: keys = values) the state energy is ``E(x) = −xᵀ W φ(x)``.
``recall`` is one read (``readout="linear"``), or iterated sign reads
(``readout="sign"``, for bipolar patterns; with the Hebbian write this is the
classical synchronous Hopfield update).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hopfield._deprecated import keywords_after_first
from hopfield._validation import (
    check_finite,
    check_int,
    check_positive,
    check_rank,
    check_tensor,
)
from hopfield.models.base import MemorySpec, RecallResult

__all__ = ["LinearAssociativeMemory"]

_READOUTS = ("linear", "sign")


class LinearAssociativeMemory(nn.Module):
    """Outer-product key→value memory ``W = Σ_i v_i φ(k_i)ᵀ`` (``(value_dim, key_dim)``).

    Energy ``E(q, v) = −vᵀ W φ(q)``; read ``o = W φ(q)``; delta write
    ``W ← W − lr (W φ(k) − v) φ(k)ᵀ``. See the module docstring for the paper and
    the signal/cross-talk decomposition used by
    :func:`hopfield.metrics.snr.retrieval_snr`.

    Args:
        key_dim: ``d_k``.
        value_dim: ``d_v`` (defaults to ``key_dim``).
        normalize_keys: use ``φ(k) = k/‖k‖`` for writes and reads.
        readout: ``"linear"`` (one read) or ``"sign"`` (iterated sign reads).
    """


    registry = (
        MemorySpec(
            "linear",
            "continuous",
            "E = −xᵀWφ(x), W = Σ_μ ξ_μ φ(ξ_μ)ᵀ, φ(k) = k/‖k‖",
            "Kohonen (1972); Anderson (1972)",
            {"normalize_keys": True},
            size_option="key_dim",
            beta_option=None,
        ),
    )


    weight: torch.Tensor
    num_writes: torch.Tensor

    def __init__(
        self,
        key_dim: int,
        value_dim: int | None = None,
        *,
        normalize_keys: bool = False,
        readout: str = "linear",
    ) -> None:
        super().__init__()
        self.key_dim = check_int(key_dim, "key_dim")
        self.value_dim = self.key_dim if value_dim is None else check_int(value_dim, "value_dim")
        if not isinstance(normalize_keys, bool):
            raise TypeError(f"normalize_keys must be a bool, got {type(normalize_keys).__name__}")
        if readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}, got {readout!r}")
        self.normalize_keys = normalize_keys
        self.readout = readout
        self.register_buffer("weight", torch.zeros(self.value_dim, self.key_dim))
        self.register_buffer("num_writes", torch.zeros((), dtype=torch.long))

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor kwargs."""
        return {
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "normalize_keys": self.normalize_keys,
            "readout": self.readout,
        }

    def extra_repr(self) -> str:
        return (
            f"key_dim={self.key_dim}, value_dim={self.value_dim}, "
            f"normalize_keys={self.normalize_keys}, readout={self.readout!r}"
        )

    # ------------------------------------------------------------------ checks
    def _check(self, tensor: torch.Tensor, name: str, width: int, shape: str) -> torch.Tensor:
        check_tensor(tensor, name)
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(f"{name} must be a real-valued tensor, got {tensor.dtype}")
        check_rank(tensor, name, 2, shape)
        if tensor.shape[1] != width:
            raise ValueError(f"{name} must have shape {shape}, got shape {tuple(tensor.shape)}")
        out = tensor.to(device=self.weight.device, dtype=self.weight.dtype)
        check_finite(out, name)
        return out

    def _pairs(
        self, keys: torch.Tensor, values: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        k = self._check(keys, "keys", self.key_dim, f"(N, {self.key_dim})")
        if values is None:
            if self.key_dim != self.value_dim:
                raise ValueError(
                    "values must be given when key_dim != value_dim "
                    f"({self.key_dim} != {self.value_dim})"
                )
            v = k
        else:
            v = self._check(values, "values", self.value_dim, f"(N, {self.value_dim})")
            if v.shape[0] != k.shape[0]:
                raise ValueError(
                    f"values must have shape ({k.shape[0]}, {self.value_dim}) like keys, "
                    f"got shape {tuple(v.shape)}"
                )
        return self.feature(k), v

    def feature(self, keys: torch.Tensor) -> torch.Tensor:
        """``φ(k)``: ``k`` or ``k/‖k‖`` (rows), shape ``(N, key_dim)``."""
        if not self.normalize_keys:
            return keys
        return keys / keys.norm(dim=1, keepdim=True).clamp_min(torch.finfo(keys.dtype).tiny)

    # ------------------------------------------------------------------ writes
    @keywords_after_first("values")
    def store(self, keys: torch.Tensor, *, values: torch.Tensor | None = None) -> None:
        """Hebbian write ``W ← W + Σ_i v_i φ(k_i)ᵀ``; ``values=None`` stores the keys
        as their own values (auto-association; needs ``key_dim == value_dim``)."""
        phi, v = self._pairs(keys, values)
        self.weight.addmm_(v.T, phi)
        self.num_writes += phi.shape[0]

    def write_delta(
        self, keys: torch.Tensor, values: torch.Tensor | None = None, lr: float = 1.0
    ) -> None:
        """Delta-rule writes, one key at a time in order:
        ``W ← W − lr (W φ(k) − v) φ(k)ᵀ`` (one SGD step on ``½‖W φ(k) − v‖²``).

        With ``lr = 1`` and orthonormal keys, rewriting a key replaces its value.
        """
        lr = check_positive(lr, "lr")
        phi, v = self._pairs(keys, values)
        for index in range(phi.shape[0]):
            error = self.weight @ phi[index] - v[index]
            self.weight.addr_(error, phi[index], alpha=-lr)
        self.num_writes += phi.shape[0]

    def clear(self) -> None:
        """Reset ``W = 0``."""
        self.weight.zero_()
        self.num_writes.zero_()

    # ------------------------------------------------------------------ reads
    def retrieve(self, queries: torch.Tensor) -> torch.Tensor:
        """Linear read ``o = W φ(q)``, ``(B, value_dim)``."""
        q = self._check(queries, "queries", self.key_dim, f"(B, {self.key_dim})")
        return self.feature(q) @ self.weight.T

    def signal_scale(self, keys: torch.Tensor) -> torch.Tensor:
        """``c_i = φ(k_i)·φ(k_i)``: the factor of ``v_i`` in ``W φ(k_i)``, ``(N,)``."""
        k = self._check(keys, "keys", self.key_dim, f"(N, {self.key_dim})")
        return self.feature(k).square().sum(dim=1)

    @keywords_after_first("values")
    def energy(self, states: torch.Tensor, *, values: torch.Tensor | None = None) -> torch.Tensor:
        """``E(q, v) = −vᵀ W φ(q)`` ``(B,)``; ``values=None`` uses ``v = q`` (auto-association)."""
        self._check(states, "states", self.key_dim, f"(B, {self.key_dim})")
        out = self.retrieve(states)
        if values is None:
            if self.key_dim != self.value_dim:
                raise ValueError("values must be given when key_dim != value_dim")
            v = states.to(out.dtype)
        else:
            v = self._check(values, "values", self.value_dim, f"(B, {self.value_dim})")
            if v.shape[0] != out.shape[0]:
                raise ValueError(
                    f"values must have shape ({out.shape[0]}, {self.value_dim}), "
                    f"got shape {tuple(v.shape)}"
                )
        return -(v * out).sum(dim=1)

    def step(self, states: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One read of an auto-associative memory: ``W φ(x)`` (its sign for
        ``readout="sign"``, ties to +1); entries where ``mask`` is True keep ``states``."""
        if self.key_dim != self.value_dim:
            raise ValueError("step needs key_dim == value_dim (auto-associative memory)")
        out = self.retrieve(states)
        if self.readout == "sign":
            out = torch.where(out >= 0, torch.ones_like(out), -torch.ones_like(out))
        if mask is not None:
            out = torch.where(self._check_mask(mask, out), states.to(out.dtype), out)
        return out

    @staticmethod
    def _check_mask(mask: object, like: torch.Tensor) -> torch.Tensor:
        check_tensor(mask, "mask")
        assert isinstance(mask, torch.Tensor)
        if mask.dtype != torch.bool or mask.shape != like.shape:
            raise ValueError(
                f"mask must be a bool tensor of shape {tuple(like.shape)}, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        return mask.to(like.device)

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`retrieve`."""
        return self.retrieve(queries)

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 100,
        tol: float = 1e-6,
        mask: torch.Tensor | None = None,
    ) -> RecallResult:
        """Auto-associative recall from ``queries`` ``(B, D)``.

        ``readout="linear"``: ``steps=None`` means one read (iterating an
        unnormalised linear map does not converge). ``readout="sign"``:
        ``steps=None`` iterates sign reads until no entry changes by more than
        ``tol`` or ``max_steps``. ``mask`` (bool ``(B, D)``, True = clamped) keeps
        those coordinates at the query. Energies: ``E(x) = −xᵀ W φ(x)``.
        """
        x = self._check(queries, "queries", self.key_dim, f"(B, {self.key_dim})")
        if self.key_dim != self.value_dim:
            raise ValueError("recall needs key_dim == value_dim (auto-associative memory)")
        if mask is not None:
            mask = self._check_mask(mask, x)
        tol = check_positive(tol, "tol", allow_zero=True)
        if steps is None:
            limit = 1 if self.readout == "linear" else max_steps
        else:
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
                raise ValueError(f"steps must be None or an int ≥ 0, got {steps!r}")
            limit = steps
        energies = [self.energy(x)]
        converged = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        taken = 0
        with torch.no_grad():
            for _ in range(limit):
                new = self.step(x, mask=mask)
                converged = (new - x).abs().amax(dim=1) <= tol
                x = new
                taken += 1
                energies.append(self.energy(x))
                if steps is None and bool(converged.all()):
                    break
        return RecallResult(x, torch.stack(energies), taken, converged)
