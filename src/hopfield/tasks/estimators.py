"""scikit-learn-style estimators over the library's associative memories.

* :class:`HopfieldClassifier` — the Krotov & Hopfield (2016) Dense AM classifier
  (:class:`~hopfield.tasks.classifier.DenseAMClassifier`): visible + label neurons,
  one-step label update, trained end-to-end with Adam.
* :class:`ClAMClustering` — ClAM (Saha et al. 2023,
  :class:`~hopfield.tasks.clustering.ClAM`): prototypes as modern Hopfield memories,
  cluster = the prototype nearest the attractor, trained on ``‖x − x_T‖²``.
* :class:`AssociativeMemoryEstimator` — plain ``store`` / ``retrieve`` / ``complete(query,
  mask)`` over any memory of :mod:`hopfield.models.registry`, on numpy or torch input.

The two learners follow the scikit-learn estimator contract (``get_params`` /
``set_params``, ``fit`` returning ``self``, fitted attributes ending in ``_``,
``n_features_in_``, input validation by :func:`sklearn.utils.validation.validate_data`)
and pass ``check_estimator`` (see ``tests/tasks/test_estimators.py`` for the documented
exceptions), so they work in ``cross_val_score``, ``GridSearchCV`` and ``Pipeline``.
Inputs are standardised inside (per-feature mean and scale, stored as ``mean_``
and ``scale_``; isotropic scale for the clustering); computations run in float64
on ``device`` so that predictions do not depend on the batch they are made in.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, ClusterMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from hopfield._deprecated import moved_attribute
from hopfield.core.separation import Separation
from hopfield.tasks.classifier import SEPARATIONS, DenseAMClassifier
from hopfield.tasks.clustering import ClAM, kmeans_plus_plus
from hopfield.tasks.memory_estimator import AssociativeMemoryEstimator

__all__ = ["AssociativeMemoryEstimator", "ClAMClustering", "HopfieldClassifier"]


def __getattr__(name: str) -> Any:
    """``AssociativeMemory`` is the deprecated name of :class:`AssociativeMemoryEstimator`."""
    return moved_attribute(__name__, name)


_DTYPE = torch.float64


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ValueError(f"{name} must be an int ≥ {minimum}, got {value!r}")
    return int(value)


def _check_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def _power_of_two(values: np.ndarray) -> np.ndarray:
    """A power of two within a factor 2 of each of ``values`` (1 for zeros), so that
    dividing by it is exact."""
    _, exponent = np.frexp(values)
    return np.where(values > 0, np.ldexp(1.0, exponent - 1), 1.0)


def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation; each column's magnitude (a power of
    two) is factored out first, so |x| up to float64's range does not overflow."""
    peak = _power_of_two(np.abs(X).max(axis=0))
    return (X / peak).mean(axis=0) * peak, (X / peak).std(axis=0) * peak


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = _moments(X)
    scale[scale < 1e-12] = 1.0
    return mean, scale


def _tensor(
    X: np.ndarray, mean: np.ndarray, scale: np.ndarray, device: str, name: str = "X"
) -> torch.Tensor:
    with np.errstate(over="ignore", invalid="ignore"):
        standardised = (X - mean) / scale
    if not np.isfinite(standardised).all():
        raise ValueError(
            f"{name} holds values too large to standardise in float64 "
            f"(max |{name}| = {np.abs(X).max():.3g}); rescale {name}"
        )
    return torch.tensor(standardised, dtype=_DTYPE, device=device)


def _numpy(value: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU; bfloat16 via float32,
    which numpy lacks); anything else unchanged, for scikit-learn to validate."""
    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach().cpu()
    return (value.float() if value.dtype == torch.bfloat16 else value).numpy()


_NAMED = re.compile(r"\b(X|y)\b")
_NO_Y = object()


def _validated(estimator: BaseEstimator, X: Any, y: Any = _NO_Y, **options: Any) -> Any:
    """``validate_data`` on float64, for numpy and torch input; an error that names
    neither ``X`` nor ``y`` (scikit-learn's empty-array, complex and 1-D messages)
    gets the argument's name in front."""
    try:
        if y is _NO_Y:
            return validate_data(estimator, _numpy(X), dtype=np.float64, **options)
        return validate_data(estimator, _numpy(X), _numpy(y), dtype=np.float64, **options)
    except (ValueError, TypeError) as error:
        if isinstance(error, NotFittedError) or _NAMED.search(str(error)):
            raise
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{'X' if y is _NO_Y else 'X, y'}: {error}") from error


def _labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, encoded y)``; a label-type error names ``y``."""
    kinds = {"string" if isinstance(label, str) else "number" for label in y.tolist()}
    if len(kinds) > 1:
        raise TypeError("y must hold labels of one kind (all strings or all numbers), got both")
    try:
        check_classification_targets(y)
        return np.unique(y, return_inverse=True)
    except (ValueError, TypeError) as error:
        if _NAMED.search(str(error)):
            raise
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"y: {error}") from error


def _check_trained(estimator: BaseEstimator, model: torch.nn.Module, loss: float) -> None:
    """Training that ends in NaN/inf parameters or loss is an error, not a model."""
    finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    if not finite or not np.isfinite(loss):
        raise ValueError(
            f"{type(estimator).__name__} training diverged (final loss {loss}); "
            "lower lr or beta, or rescale X"
        )


def _seed(random_state: Any) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    return list(order.split(batch_size))


# --------------------------------------------------------------------------- classifier


class HopfieldClassifier(ClassifierMixin, BaseEstimator):
    """Dense Associative Memory classifier (Krotov & Hopfield 2016) as an estimator.

    Energy ``E(v, c) = −Σ_μ F(z_μ)`` (or ``−β⁻¹ log Σ_μ exp(β z_μ)``) over ``K``
    learned memories ``ξ_μ = [ξ^v_μ, ξ^c_μ]``, ``z_μ = (ξ^v_μ·v + ξ^c_μ·c)/√(N+C)``;
    one label update ``c_α = tanh(β [E(c_α=−1) − E(c_α=+1)])`` from all labels at
    ``−1``, the visible neurons clamped to the (standardised) input. The energy gaps
    are the logits: ``predict_proba = softmax``; trained with cross-entropy, Adam.

    Args:
        n_memories: number of memories ``K``.
        separation: a ``Separation`` object (e.g. ``RectifiedPolynomial(4)``) or
            ``"relu3"`` (``F = ReLU(z)³``), ``"poly"`` (``F = z³``) or ``"lse"``.
        beta: inverse temperature ``β``.
        epochs: passes over the training data.
        lr: Adam learning rate.
        batch_size: minibatch size.
        random_state: seed (int, ``RandomState`` or ``None``) of the memories and the
            minibatch order.
        device: torch device of the model.

    Attributes:
        classes_: the class labels ``(C,)``.
        model_: the trained :class:`~hopfield.tasks.classifier.DenseAMClassifier`.
        mean_, scale_: the standardisation of the inputs.
        loss_curve_: mean training loss per epoch.
    """

    def __init__(
        self,
        n_memories: int = 200,
        *,
        separation: str | Separation = "relu3",
        beta: float = 0.1,
        epochs: int = 20,
        lr: float = 0.005,
        batch_size: int = 32,
        random_state: Any = None,
        device: str = "cpu",
    ) -> None:
        self.n_memories = n_memories
        self.separation = separation
        self.beta = beta
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device

    def _validate_params(self) -> None:
        _check_int(self.n_memories, "n_memories", 1)
        _check_int(self.epochs, "epochs", 0)
        _check_int(self.batch_size, "batch_size", 1)
        _check_real(self.beta, "beta")
        _check_real(self.lr, "lr")
        if not isinstance(self.separation, Separation) and self.separation not in SEPARATIONS:
            raise ValueError(f"separation must be one of {SEPARATIONS}, got {self.separation!r}")

    def fit(self, X: Any, y: Any) -> HopfieldClassifier:
        """Train on ``X`` ``(n_samples, n_features)`` and labels ``y`` ``(n_samples,)``."""
        self._validate_params()
        X, y = _validated(self, X, y)
        self.classes_, encoded = _labels(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y must hold samples of at least 2 classes for HopfieldClassifier, got 1 class "
                f"({self.classes_[0]!r})"
            )
        self.mean_, self.scale_ = _standardise(X)
        inputs = _tensor(X, self.mean_, self.scale_, self.device)
        targets = torch.tensor(encoded, dtype=torch.long, device=self.device)
        seed = _seed(self.random_state)
        model = DenseAMClassifier(
            X.shape[1],
            len(self.classes_),
            int(self.n_memories),
            separation=self.separation,
            beta=float(self.beta),
            seed=seed,
        ).to(device=self.device, dtype=_DTYPE)
        optimizer = torch.optim.Adam(model.parameters(), lr=float(self.lr))
        generator = torch.Generator().manual_seed(seed + 1)
        self.loss_curve_: list[float] = []
        for _ in range(int(self.epochs)):
            total = 0.0
            for index in _batches(len(targets), int(self.batch_size), generator):
                index = index.to(self.device)
                loss = model.loss(inputs[index], targets[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(index)
            self.loss_curve_.append(total / len(targets))
        _check_trained(self, model, self.loss_curve_[-1] if self.loss_curve_ else 0.0)
        self.model_ = model.eval()
        return self

    def _logits(self, X: Any) -> torch.Tensor:
        check_is_fitted(self)
        X = _validated(self, X, reset=False, ensure_min_samples=0)
        with torch.no_grad():
            logits = self.model_(_tensor(X, self.mean_, self.scale_, self.device)).cpu()
        if not bool(torch.isfinite(logits).all()):
            raise ValueError(
                "X gives non-finite energy gaps (values far outside the training range: "
                f"max |X| = {np.abs(X).max():.3g}); rescale X"
            )
        return logits

    def decision_function(self, X: Any) -> np.ndarray:
        """Energy gaps ``ℓ`` ``(n_samples, n_classes)`` (``(n_samples,)`` for two
        classes: ``ℓ_1 − ℓ_0``, positive for ``classes_[1]``)."""
        logits = self._logits(X).numpy()
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """``softmax(ℓ)`` ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        return torch.softmax(self._logits(X), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The class with the largest energy gap, ``(n_samples,)``."""
        winners = self._logits(X).argmax(dim=1).numpy()
        return self.classes_[winners]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on ``X``, ``y`` (an empty ``X`` has none: ``ValueError``)."""
        check_is_fitted(self)
        _validated(self, X, reset=False)
        return float(super().score(X, y, sample_weight))


# --------------------------------------------------------------------------- clustering


class ClAMClustering(ClusterMixin, BaseEstimator):
    """ClAM clustering (Saha et al. 2023): prototypes as modern Hopfield memories.

    Energy ``E(x) = −β⁻¹ log Σ_j exp(−(β/2)‖x − ρ_j‖²)`` over the prototypes ``ρ``;
    ``T = steps`` updates ``x ← x − η∇E(x)`` carry a point to its attractor ``x_T``,
    whose nearest prototype is its cluster. Trained with Adam on ``mean ‖x − x_T‖²``
    through the unrolled steps, from ``n_init`` k-means++ starts (the run with the
    lowest final loss is kept). Inputs are centred per feature and divided by one
    isotropic scale ``s = √(mean per-feature variance)`` (``mean_``, ``scale_``), so
    ``beta`` is relative to the data spread and distances keep their geometry.

    Args:
        n_clusters: number of prototypes ``k``.
        beta: relative inverse temperature.
        steps: unrolled descent steps ``T``.
        step_size: ``η ∈ (0, 1]`` (1 = CCCP update).
        epochs: passes over the data per start.
        lr: Adam learning rate.
        batch_size: minibatch size.
        n_init: number of k-means++ starts.
        mask_fraction: ``None`` trains on ``‖x − x_T‖²``; a fraction in ``(0, 1)`` trains
            on the paper's masked-completion loss with that share of coordinates hidden
            (:meth:`~hopfield.tasks.clustering.ClAM.masked_completion_loss`). The start
            with the lowest final ``‖x − x_T‖²`` is kept either way.
        random_state: seed of the starts and the minibatch order.
        device: torch device.

    Attributes:
        cluster_centers_: the prototypes in input units ``(k', n_features)``;
            prototypes whose basin holds no training point are dropped, so
            ``k' ≤ n_clusters`` and ``labels_`` are ``0, …, k' − 1``.
        labels_: cluster of each training point.
        model_: the trained :class:`~hopfield.tasks.clustering.ClAM`.
        loss_: final reconstruction loss ``mean ‖x − x_T‖²`` (standardised units).
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        beta: float = 3.0,
        steps: int = 5,
        step_size: float = 1.0,
        epochs: int = 40,
        lr: float = 0.05,
        batch_size: int = 128,
        n_init: int = 3,
        mask_fraction: float | None = None,
        random_state: Any = None,
        device: str = "cpu",
    ) -> None:
        self.n_clusters = n_clusters
        self.mask_fraction = mask_fraction
        self.beta = beta
        self.steps = steps
        self.step_size = step_size
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.n_init = n_init
        self.random_state = random_state
        self.device = device

    def _validate_params(self) -> None:
        _check_int(self.n_clusters, "n_clusters", 1)
        _check_int(self.steps, "steps", 0)
        _check_int(self.epochs, "epochs", 0)
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.n_init, "n_init", 1)
        _check_real(self.beta, "beta")
        _check_real(self.lr, "lr")
        if not 0 < _check_real(self.step_size, "step_size") <= 1:
            raise ValueError(f"step_size must lie in (0, 1], got {self.step_size!r}")
        if (
            self.mask_fraction is not None
            and not 0 < _check_real(self.mask_fraction, "mask_fraction") < 1
        ):
            raise ValueError(f"mask_fraction must lie in (0, 1), got {self.mask_fraction!r}")

    def _train_one(self, inputs: torch.Tensor, beta: float, seed: int) -> tuple[ClAM, float]:
        generator = torch.Generator().manual_seed(seed)
        start = kmeans_plus_plus(inputs.cpu(), int(self.n_clusters), generator).to(self.device)
        model = ClAM(start, beta=beta, steps=int(self.steps), step_size=float(self.step_size))
        optimizer = torch.optim.Adam(model.parameters(), lr=float(self.lr))
        for _ in range(int(self.epochs)):
            for index in _batches(inputs.shape[0], int(self.batch_size), generator):
                batch = inputs[index.to(self.device)]
                if self.mask_fraction is None:
                    loss = model.loss(batch)
                else:
                    loss = model.masked_completion_loss(batch, self.mask_fraction, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            return model, float(model.loss(inputs))

    def fit(self, X: Any, y: Any = None) -> ClAMClustering:
        """Learn the prototypes from ``X`` ``(n_samples, n_features)`` (``y`` ignored)."""
        self._validate_params()
        X = _validated(self, X)
        if X.shape[0] < int(self.n_clusters):
            raise ValueError(f"n_samples={X.shape[0]} should be ≥ n_clusters={self.n_clusters}")
        # centre per feature, scale isotropically (one factor keeps the geometry)
        self.mean_, deviation = _moments(X)
        top = float(_power_of_two(deviation.max()))
        spread = float(np.sqrt(np.mean((deviation / top) ** 2))) * top
        self.scale_ = np.full(X.shape[1], spread if spread > 1e-12 else 1.0)
        inputs = _tensor(X, self.mean_, self.scale_, self.device)
        self.beta_ = float(self.beta)
        rng = check_random_state(self.random_state)
        best: tuple[ClAM, float] | None = None
        for _ in range(int(self.n_init)):
            seed = int(rng.randint(np.iinfo(np.int32).max))
            model, loss = self._train_one(inputs, self.beta_, seed)
            if best is None or loss < best[1] or not np.isfinite(best[1]):
                best = (model, loss)
        assert best is not None
        model, self.loss_ = best
        _check_trained(self, model, self.loss_)
        self._keep_used_prototypes(model, inputs)
        return self

    def _keep_used_prototypes(self, model: ClAM, inputs: torch.Tensor) -> None:
        assigned = model.assign(inputs)
        used = torch.unique(assigned)
        with torch.no_grad():
            model.prototypes.data = model.prototypes.data[used].clone()
        self.model_ = model.eval()
        remap = torch.full((int(self.n_clusters),), -1, dtype=torch.long, device=assigned.device)
        remap[used] = torch.arange(len(used), device=assigned.device)
        self.labels_ = remap[assigned].cpu().numpy()
        centres = model.prototypes.detach().cpu().numpy()
        self.cluster_centers_ = centres * self.scale_ + self.mean_

    def _inputs(self, X: Any, *, min_samples: int = 0) -> torch.Tensor:
        check_is_fitted(self)
        X = _validated(self, X, reset=False, ensure_min_samples=min_samples)
        return _tensor(X, self.mean_, self.scale_, self.device)

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of each row of ``X``: the prototype nearest its attractor ``x_T``."""
        inputs = self._inputs(X)
        return self.model_.assign(inputs).cpu().numpy()

    def score(self, X: Any, y: Any = None) -> float:
        """Negative reconstruction loss ``−mean ‖x − x_T‖²`` (higher is better)."""
        inputs = self._inputs(X, min_samples=1)
        with torch.no_grad():
            return -float(self.model_.loss(inputs))
