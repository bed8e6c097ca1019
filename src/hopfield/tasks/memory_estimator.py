"""A plain associative memory with the scikit-learn estimator interface.

:class:`AssociativeMemoryEstimator` — ``store`` / ``retrieve`` / ``complete(query,
mask)`` over a memory chosen by name, on numpy or torch input (re-exported by
:mod:`hopfield.tasks.estimators`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from hopfield._validation import cast_finite
from hopfield.models import registry
from hopfield.models.base import RecallResult

__all__ = ["AssociativeMemoryEstimator"]

_ALIASES = {
    "modern": "modern-euclidean",
    "dense": "dense-relu3",
    "classical": "hopfield-hebbian",
}


@contextmanager
def _as_argument(argument: str, *inner: str) -> Iterator[None]:
    """Re-raise a memory's error about its own argument (``patterns``, ``states``) with
    the estimator's argument name in front, so the message names what the caller passed."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if not any(str(error).startswith(name) for name in inner):
            raise
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{argument}: {error}") from error


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A result as numpy (bfloat16, which numpy lacks, as float32)."""
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def _from_array(value: Any, name: str) -> torch.Tensor:
    """A numpy array (or nested sequence) as a tensor; ``TypeError`` naming ``name``
    for objects numpy cannot turn into numbers."""
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be a numeric array or tensor: {error}") from None


class AssociativeMemoryEstimator(BaseEstimator):
    """Plain ``store`` / ``retrieve`` / ``complete`` over a memory of the registry.

    ``model`` is a name of :func:`hopfield.models.registry.available` (a memory of
    ±1 or real vectors) or one of the aliases
    ``"modern"`` (Euclidean modern Hopfield, ``E = −β⁻¹ log Σ exp(−(β/2)‖x − ξ‖²)``,
    update ``x ← Ξᵀ softmax(−(β/2)‖x − ξ‖²)``; Ramsauer et al. 2020), ``"dense"``
    (Krotov & Hopfield 2016, ``F = ReLU(z)³``, ±1 patterns) and ``"classical"``
    (Hopfield 1982, Hebbian, ±1 patterns). Inputs are numpy arrays or torch tensors
    ``(n, D)`` (a single pattern ``(D,)`` is treated as one row); results come back as
    the type (and torch device) of the query.

    Args:
        model: model name.
        beta: inverse temperature (``None``: the model's default).
        steps: fixed number of recall steps (``None``: until converged).
        max_steps: bound on the steps when ``steps`` is ``None``.
        random_state: seed of the binary models' update order.
        device: torch device of the model.
    """

    patterns_: torch.Tensor
    memory_: Any

    def __init__(
        self,
        model: str = "modern",
        *,
        beta: float | None = None,
        steps: int | None = None,
        max_steps: int = 100,
        random_state: int = 0,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.beta = beta
        self.steps = steps
        self.max_steps = max_steps
        self.random_state = random_state
        self.device = device

    @staticmethod
    def _as_tensor(X: Any, name: str) -> tuple[torch.Tensor, bool, bool]:
        """``(tensor (n, D), was_torch, was_1d)``."""
        was_torch = isinstance(X, torch.Tensor)
        tensor = X.detach() if was_torch else _from_array(X, name)
        if tensor.ndim not in (1, 2):
            raise ValueError(f"{name} must have shape (n, D) or (D,), got {tuple(tensor.shape)}")
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(f"{name} must be real-valued, got {tensor.dtype}")
        was_1d = tensor.ndim == 1
        tensor = tensor[None] if was_1d else tensor
        if tensor.shape[1] == 0:
            raise ValueError(
                f"{name} must have at least one feature, got shape {tuple(tensor.shape)}"
            )
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        return tensor, was_torch, was_1d

    @staticmethod
    def _back(states: torch.Tensor, like: Any, was_torch: bool, was_1d: bool) -> Any:
        out = states[0] if was_1d else states
        if was_torch:
            return out.to(like.device)
        return _to_numpy(out)

    def _name(self) -> str:
        return registry.spec(_ALIASES.get(self.model, self.model)).name

    def store(self, X: Any) -> AssociativeMemoryEstimator:
        """Add the patterns ``X`` ``(K, D)`` to the memory (the model is rebuilt over
        every stored pattern, so pattern-dependent defaults stay consistent)."""
        patterns, _, _ = self._as_tensor(X, "X")
        if patterns.shape[0] == 0:
            raise ValueError("X must hold at least one pattern, got shape (0, D)")
        patterns = cast_finite(patterns, "X", patterns.dtype)
        if hasattr(self, "patterns_"):
            if patterns.shape[1] != self.patterns_.shape[1]:
                raise ValueError(
                    f"X must have shape (K, {self.patterns_.shape[1]}) like the stored "
                    f"patterns, got {tuple(patterns.shape)}"
                )
            patterns = torch.cat([self.patterns_, patterns.to(self.patterns_.dtype)])
        with _as_argument("X", "patterns"):
            self.memory_ = registry.build_memory(
                self._name(),
                patterns,
                beta=self.beta,
                seed=int(self.random_state),
                device=self.device,
            )
        self.patterns_ = patterns
        self.n_features_in_ = int(patterns.shape[1])
        return self

    def fit(self, X: Any, y: Any = None) -> AssociativeMemoryEstimator:
        """Forget everything, then :meth:`store` ``X`` (``y`` ignored)."""
        for name in ("memory_", "patterns_", "n_features_in_"):
            if hasattr(self, name):
                delattr(self, name)
        return self.store(X)

    def _queries(self, Q: Any, name: str) -> tuple[torch.Tensor, bool, bool]:
        if not hasattr(self, "memory_"):
            raise NotFittedError(f"the memory is empty: call store(X) before passing {name}")
        queries, was_torch, was_1d = self._as_tensor(Q, name)
        if queries.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} must have shape (n, {self.n_features_in_}), got {tuple(queries.shape)}"
            )
        device = torch.device(self.device)
        return cast_finite(queries, name, self.patterns_.dtype, device), was_torch, was_1d

    def retrieve(self, Q: Any) -> Any:
        """Run the model's recall from the queries ``Q`` ``(n, D)``; final states."""
        queries, was_torch, was_1d = self._queries(Q, "Q")
        return self._back(self._run(queries, None).states, Q, was_torch, was_1d)

    def transform(self, Q: Any) -> Any:
        """Alias of :meth:`retrieve` (so the memory can sit in a ``Pipeline``)."""
        return self.retrieve(Q)

    def complete(self, query: Any, mask: Any) -> Any:
        """Pattern completion: recall with the entries where ``mask`` is True clamped
        to ``query`` (``mask`` bool, same shape as ``query``)."""
        queries, was_torch, was_1d = self._queries(query, "query")
        clamp = mask.detach() if isinstance(mask, torch.Tensor) else _from_array(mask, "mask")
        clamp = clamp[None] if clamp.ndim == 1 else clamp
        if clamp.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = known entry), got {clamp.dtype}")
        if clamp.shape != queries.shape:
            raise ValueError(
                f"mask must have the shape of query {tuple(queries.shape)}, "
                f"got {tuple(clamp.shape)}"
            )
        result = self._run(queries, clamp.to(self.device), "query")
        return self._back(result.states, query, was_torch, was_1d)

    def energy(self, X: Any) -> Any:
        """The model's energy of each state ``(n,)``."""
        states, was_torch, _ = self._queries(X, "X")
        with torch.no_grad(), _as_argument("X", "states"):
            values = self.memory_.energy(states)
        return values.to(X.device) if was_torch else _to_numpy(values)

    def _run(
        self, queries: torch.Tensor, mask: torch.Tensor | None, name: str = "Q"
    ) -> RecallResult:
        with _as_argument(name, "queries", "states"):
            return registry.recall_memory(
                self.memory_, queries, steps=self.steps, max_steps=int(self.max_steps), mask=mask
            )

    def recall(self, Q: Any) -> RecallResult:
        """The full :class:`~hopfield.models.base.RecallResult` (torch tensors, on
        ``device``): states, energy trace, steps taken, convergence flags."""
        queries, _, _ = self._queries(Q, "Q")
        return self._run(queries, None)
