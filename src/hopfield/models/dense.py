"""Dense Associative Memory on binary states σ ∈ {−1, +1}^N with a pluggable separation F.

Krotov & Hopfield (2016) "Dense Associative Memory for Pattern Recognition"
(F(x) = xⁿ and its rectified form, capacity ∝ N^{n−1}); Demircigil, Heusel, Löwe,
Upgang & Vermet (2017) "On a model of associative memory with huge storage capacity"
(F(x) = e^x, capacity exponential in N). Energy and asynchronous update:

    E(σ) = −Σ_μ F(ξ^μ·σ),
    σ_i ← sgn Σ_μ [F(ξ^μ_i + Σ_{j≠i} ξ^μ_j σ_j) − F(−ξ^μ_i + Σ_{j≠i} ξ^μ_j σ_j)],

i.e. σ_i takes the value of lower energy with the other neurons fixed, so E never
rises under asynchronous updates. F(x) = x² gives the classical Hebbian network.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch

from hopfield._validation import check_int
from hopfield.core.separation import (
    Exponential,
    Polynomial,
    RectifiedPolynomial,
    Separation,
    as_separation,
)
from hopfield.models.base import MemorySpec
from hopfield.models.classical import (
    BinaryAssociativeMemory,
    _sign_keep_ties,
)

__all__ = ["DenseAssociativeMemory", "separation_from_config", "separation_to_config"]

_ELEMENT_BUDGET = 1 << 22  # temporaries of at most ~4M float64 entries per chunk
# Above this β the shifted sums e^{β(m − max m)} can underflow to 0 on both sides of a
# near-tie (e^{−2β} < 1e-308); the exact, slower log-sum-exp path is used instead.
_SHIFTED_BETA_LIMIT = 300.0


def separation_to_config(separation: Separation) -> dict[str, Any]:
    """JSON form of a built-in separation, e.g. ``{"name": "polynomial", "degree": 3}``
    (:meth:`~hopfield.core.separation.Separation.to_config`)."""
    return separation.to_config()


def separation_from_config(config: Mapping[str, Any]) -> Separation:
    """Inverse of :func:`separation_to_config`."""
    return Separation.from_config(config, "separation name")


def _resolve_separation(separation: Separation | Mapping[str, Any] | str | None) -> Separation:
    if separation is None:
        return Polynomial(3)
    if isinstance(separation, Mapping):
        return separation_from_config(separation)
    if isinstance(separation, str):
        return as_separation(separation)
    if not isinstance(separation, Separation):
        raise TypeError(
            "separation must be a hopfield.core.separation.Separation or its config dict, "
            f"got {type(separation).__name__}"
        )
    return separation


def _exponential_separation(beta: float) -> dict[str, Any]:
    """Registry options of ``dense-exp``: β enters through ``F(z) = exp(βz)``."""
    return {"separation": Exponential(beta)}


class DenseAssociativeMemory(BinaryAssociativeMemory):
    """Binary Dense Associative Memory ``E(σ) = −Σ_μ F(ξ^μ·σ)`` (Krotov & Hopfield 2016).

    The neuron update compares the energies of σ_i = +1 and σ_i = −1 with the rest of
    σ fixed: with ``b_μ = ξ^μ·σ − ξ^μ_i σ_i`` the field is
    ``Σ_μ F(b_μ + ξ^μ_i) − F(b_μ − ξ^μ_i)`` and ``σ_i ← sgn(field)`` (ties keep σ_i).

    * Polynomial-type F are evaluated in float64, exact for integer overlaps up to
      2⁵³, so ``Polynomial(2)`` reproduces :class:`ClassicalHopfield`'s Hebbian
      dynamics (the field is exactly 4N times the Hebbian field). With ``m = Ξσ``,
      ``A = F(m) − F(m−2)`` and ``B = F(m) − F(m+2)``, the field of every neuron is
      ``σ_i Σ_μ (A+B)/2 + Σ_μ ξ^μ_i (A−B)/2``: one ``(B, K) @ (K, N)`` product.
    * ``Exponential(beta)`` (Demircigil et al. 2017) never forms e^{βx}. With
      ``w_μ = e^{β(m_μ − max m)}``, ``P_i = Σ_{ξ^μ_i=+1} w_μ`` and
      ``Q_i = Σ_{ξ^μ_i=−1} w_μ``, the field has the sign of
      ``log P_i − log Q_i − 2βσ_i`` (two matmuls; for β > 300, where e^{−2β}
      underflows, an exact log-sum-exp over ``(B, k, N)`` chunks is used). :meth:`energy`
      returns the log-domain energy ``−(1/β) log Σ_μ exp(β ξ^μ·σ) = −(1/β) log(−E)``, a
      strictly increasing function of E (same minima, same descent), finite for any N.

    An asynchronous sweep keeps the overlaps ``m`` ``(B, K)`` (and A, B or w), updates
    them by ``m += Δσ_i ξ_i`` in the rows that flipped, and costs O(B·K) per neuron,
    O(B·K·N) per sweep. Memories are processed in chunks of ``chunk_size`` (default: as
    many as keep temporaries under ~4M float64 entries).

    Args:
        num_neurons: N.
        separation: F, a :class:`~hopfield.core.separation.Separation` (default
            ``Polynomial(3)``), its config dict (:func:`separation_to_config`) or its
            name as shorthand (``"relu_squared"``).
        update: ``"async"`` or ``"sync"``.
        order: ``"random"`` (seeded permutation per sweep) or ``"sweep"``.
        seed: seed of the update-order generator.
        chunk_size: memories per chunk, or ``None`` for automatic.

    Buffers: ``patterns`` ``(K, N)``.
    """

    registry: ClassVar[tuple[MemorySpec, ...]] = (
        MemorySpec(
            "dense-poly3",
            "binary",
            "E = −Σ_μ (ξ_μ·s)³",
            "Krotov & Hopfield (2016)",
            {"separation": Polynomial(3)},
            size_option="num_neurons",
            beta_option=None,
            seeded=True,
        ),
        MemorySpec(
            "dense-relu3",
            "binary",
            "E = −Σ_μ ReLU(ξ_μ·s)³",
            "Krotov & Hopfield (2016)",
            {"separation": RectifiedPolynomial(3)},
            size_option="num_neurons",
            beta_option=None,
            seeded=True,
        ),
        MemorySpec(
            "dense-exp",
            "binary",
            "E = −Σ_μ exp(β ξ_μ·s)",
            "Demircigil et al. (2017)",
            size_option="num_neurons",
            beta_option=_exponential_separation,
            default_beta=1.0,
            seeded=True,
        ),
    )

    def __init__(
        self,
        num_neurons: int,
        *,
        separation: Separation | Mapping[str, Any] | str | None = None,
        update: str = "async",
        order: str = "random",
        seed: int = 0,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(num_neurons, update=update, order=order, seed=seed)
        self.separation = _resolve_separation(separation)
        self.chunk_size = None if chunk_size is None else check_int(chunk_size, "chunk_size", 1)
        self._beta = self.separation.beta if isinstance(self.separation, Exponential) else None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(separation=separation_to_config(self.separation), chunk_size=self.chunk_size)
        return config

    def _write(self, patterns: torch.Tensor) -> None:
        """Dense AMs store the patterns themselves; nothing else to learn."""

    # --- chunking --------------------------------------------------------------------
    def _chunks(self, per_memory: int) -> Iterator[torch.Tensor]:
        """Float64 slices of the patterns, each of at most ``chunk_size`` memories."""
        size = self.chunk_size or max(1, _ELEMENT_BUDGET // max(1, per_memory))
        for start in range(0, self.num_patterns, size):
            yield self.patterns[start : start + size].to(torch.float64)

    # --- energy and fields -----------------------------------------------------------
    def _energy(self, states: torch.Tensor) -> torch.Tensor:
        s = states.to(torch.float64)
        return self._energy_from_overlaps([s @ xi.T for xi in self._chunks(per_memory=s.shape[0])])

    def _energy_from_overlaps(self, overlaps: Sequence[torch.Tensor]) -> torch.Tensor:
        """``−Σ_μ F(m_μ)`` (or ``−(1/β) LSE_μ β m_μ``) from chunks of overlaps ``(B, k)``."""
        beta = self._beta
        if beta is not None:
            logs = torch.stack([torch.logsumexp(beta * m, dim=1) for m in overlaps])
            return -torch.logsumexp(logs, dim=0) / beta
        return -torch.stack([self.separation(m).sum(dim=1) for m in overlaps]).sum(dim=0)

    def _lse_pair(
        self, rest: torch.Tensor, xi: torch.Tensor, dim: int, partial: torch.Tensor | None
    ) -> torch.Tensor:
        """Accumulate ``(LSE β(rest+ξ), LSE β(rest−ξ))`` over memories (axis ``dim``),
        stacked on a new last axis, into ``partial`` (exact log-sum-exp path)."""
        assert self._beta is not None
        chunk = torch.stack(
            (
                torch.logsumexp(self._beta * (rest + xi), dim=dim),
                torch.logsumexp(self._beta * (rest - xi), dim=dim),
            ),
            dim=-1,
        )
        return chunk if partial is None else torch.logaddexp(partial, chunk)

    def local_field(self, states: torch.Tensor) -> torch.Tensor:
        """Bit-flip fields of all neurons ``(B, N)``, float64: ``Σ_μ F(b+ξ) − F(b−ξ)``
        (log-domain difference for Exponential; same sign)."""
        s = states.to(torch.float64)
        if self._beta is not None:
            if self._beta > _SHIFTED_BETA_LIMIT:
                return self._log_domain_field(s)
            chunks = list(self._chunks(per_memory=s.shape[0] + s.shape[1]))
            overlaps = [s @ xi.T for xi in chunks]
            weights, _ = self._shifted_weights(overlaps)
            return self._exponential_field(s, weights, chunks)
        field = torch.zeros_like(s)
        for xi in self._chunks(per_memory=s.shape[0]):
            total, diff = self._flip_terms(s @ xi.T)
            field += s * total.unsqueeze(1) + diff @ xi
        return field

    def _log_domain_field(self, s: torch.Tensor) -> torch.Tensor:
        """``LSE_μ β(b+ξ) − LSE_μ β(b−ξ)`` per neuron, chunked over memories (B, k, N)."""
        pair: torch.Tensor | None = None
        for xi in self._chunks(per_memory=s.shape[0] * s.shape[1]):
            overlaps = s @ xi.T  # (B, k)
            rest = overlaps.unsqueeze(2) - xi.unsqueeze(0) * s.unsqueeze(1)  # (B, k, N)
            pair = self._lse_pair(rest, xi.unsqueeze(0), 1, pair)
        assert pair is not None
        return pair[..., 0] - pair[..., 1]

    # Exponential F (Demircigil et al. 2017): with w_μ = e^{β(m_μ − max m)} ≤ 1 and
    # P_i = Σ_{ξ^μ_i = +1} w_μ, Q_i = Σ_{ξ^μ_i = −1} w_μ, the field
    # Σ_μ e^{β(b+ξ)} − e^{β(b−ξ)} = (e^β − e^{−β}) (e^{−βσ_i} P_i − e^{βσ_i} Q_i) e^{β max m},
    # so its sign is that of log P_i − log Q_i − 2βσ_i: two matmuls, no overflow.
    def _shifted_weights(
        self, overlaps: Sequence[torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        assert self._beta is not None
        top = torch.stack([m.amax(dim=1) for m in overlaps]).amax(dim=0)  # (B,)
        return [torch.exp(self._beta * (m - top.unsqueeze(1))) for m in overlaps], top

    def _exponential_field(
        self, s: torch.Tensor, weights: Sequence[torch.Tensor], chunks: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        assert self._beta is not None
        plus = sum(w @ (xi > 0).to(xi.dtype) for w, xi in zip(weights, chunks, strict=True))
        minus = sum(w @ (xi < 0).to(xi.dtype) for w, xi in zip(weights, chunks, strict=True))
        assert isinstance(plus, torch.Tensor) and isinstance(minus, torch.Tensor)
        return torch.log(plus) - torch.log(minus) - 2 * self._beta * s

    def _async_sweep(
        self, states: torch.Tensor, order: Sequence[int], mask: torch.Tensor | None
    ) -> torch.Tensor:
        if self._beta is None:
            return self._async_sweep_direct(states, order, mask)
        if self._beta > _SHIFTED_BETA_LIMIT:
            return self._async_sweep_log_domain(states, order, mask)
        return self._async_sweep_exponential(states, order, mask)

    def _async_sweep_exponential(
        self, states: torch.Tensor, order: Sequence[int], mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Per neuron: two ``(B, k) @ (k,)`` products for P_i, Q_i; after a flip the
        overlaps, shift and weights of the flipped rows only are refreshed."""
        assert self._beta is not None
        s = states.to(torch.float64)
        chunks = list(self._chunks(per_memory=s.shape[0]))
        overlaps = [s @ xi.T for xi in chunks]
        weights, top = self._shifted_weights(overlaps)
        for i in order:
            current = states[:, i]
            columns = [xi[:, i] for xi in chunks]
            plus = sum(w @ (c > 0).to(c.dtype) for w, c in zip(weights, columns, strict=True))
            minus = sum(w @ (c < 0).to(c.dtype) for w, c in zip(weights, columns, strict=True))
            assert isinstance(plus, torch.Tensor) and isinstance(minus, torch.Tensor)
            field = torch.log(plus) - torch.log(minus) - 2 * self._beta * current.to(plus.dtype)
            new = _sign_keep_ties(field, current)
            if mask is not None:
                new = torch.where(mask[:, i], current, new)
            delta = new - current
            if bool(delta.any()):
                states[:, i] = new
                rows = delta.nonzero().squeeze(1)
                step = delta[rows].to(torch.float64).unsqueeze(1)
                for m, column in zip(overlaps, columns, strict=True):
                    m[rows] += step * column
                top[rows] = torch.stack([m[rows].amax(dim=1) for m in overlaps]).amax(dim=0)
                for w, m in zip(weights, overlaps, strict=True):
                    w[rows] = torch.exp(self._beta * (m[rows] - top[rows].unsqueeze(1)))
        return self._energy_from_overlaps(overlaps)

    def _flip_terms(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Σ_μ (A+B)/2, (A−B)/2)`` with ``A = F(m)−F(m−2)``, ``B = F(m)−F(m+2)``.

        With ``b = m − ξ^μ_i σ_i``, ``F(b+ξ^μ_i) − F(b−ξ^μ_i)`` is A if ξ^μ_i = σ_i = +1,
        B if ξ^μ_i = −σ_i = −1, and −A, −B for σ_i = −1: ``σ_i (A+B)/2 + ξ^μ_i (A−B)/2``.
        Summed over μ, the field of neuron i is ``σ_i·Σ_μ(A+B)/2 + Σ_μ ξ^μ_i (A−B)/2``."""
        centre = self.separation(m)
        above = centre - self.separation(m - 2)
        below = centre - self.separation(m + 2)
        return 0.5 * (above + below).sum(dim=1), 0.5 * (above - below)

    def _async_sweep_direct(
        self, states: torch.Tensor, order: Sequence[int], mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Per neuron: one ``(B, k) @ (k,)`` product for the field; after a flip the
        overlaps and flip terms of the flipped rows only are refreshed (exact in float64)."""
        s = states.to(torch.float64)
        chunks = list(self._chunks(per_memory=s.shape[0]))
        overlaps = [s @ xi.T for xi in chunks]  # m = Ξσ per chunk, (B, k)
        terms = [self._flip_terms(m) for m in overlaps]
        for i in order:
            current = states[:, i]
            field = sum(
                (diff @ xi[:, i] for xi, (_, diff) in zip(chunks, terms, strict=True)),
                current.to(torch.float64) * sum(total for total, _ in terms),
            )
            new = _sign_keep_ties(field, current)
            if mask is not None:
                new = torch.where(mask[:, i], current, new)
            delta = new - current
            if bool(delta.any()):
                states[:, i] = new
                rows = delta.nonzero().squeeze(1)
                step = delta[rows].to(torch.float64).unsqueeze(1)
                for c, xi in enumerate(chunks):
                    overlaps[c][rows] += step * xi[:, i]
                    total, diff = self._flip_terms(overlaps[c][rows])
                    terms[c][0][rows] = total
                    terms[c][1][rows] = diff
        return self._energy_from_overlaps(overlaps)

    def _async_sweep_log_domain(
        self, states: torch.Tensor, order: Sequence[int], mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Per neuron: the stable log-sum-exp difference over the overlaps ``(B, k)``."""
        s = states.to(torch.float64)
        chunks = list(self._chunks(per_memory=s.shape[0]))
        overlaps = [s @ xi.T for xi in chunks]  # m = Ξσ per chunk, (B, k)
        for i in order:
            current = states[:, i]
            s_i = current.to(torch.float64).unsqueeze(1)
            pair: torch.Tensor | None = None
            for xi, m in zip(chunks, overlaps, strict=True):
                column = xi[:, i]
                pair = self._lse_pair(m - column * s_i, column, 1, pair)
            assert pair is not None
            new = _sign_keep_ties(pair[:, 0] - pair[:, 1], current)
            if mask is not None:
                new = torch.where(mask[:, i], current, new)
            delta = new - current
            if bool(delta.any()):
                states[:, i] = new
                delta64 = delta.to(torch.float64)
                for xi, m in zip(chunks, overlaps, strict=True):
                    m.addr_(delta64, xi[:, i])
        return self._energy_from_overlaps(overlaps)
