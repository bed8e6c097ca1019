"""scikit-learn estimators: the estimator contract, digits accuracy, pipelines, plain memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from hopfield.tasks.estimators import AssociativeMemoryEstimator, ClAMClustering, HopfieldClassifier


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# Every check of scikit-learn's estimator contract passes; there are no exceptions
# (array-API and pandas checks are skipped by scikit-learn itself when those are absent).
# Small settings keep the whole suite at a few seconds.
@parametrize_with_checks(
    [
        HopfieldClassifier(n_memories=16, epochs=10, lr=0.05, random_state=0),
        ClAMClustering(n_clusters=3, epochs=5, n_init=1, random_state=0),
    ]
)
def test_sklearn_estimator_contract(estimator: BaseEstimator, check: Callable[[Any], None]) -> None:
    check(estimator)


def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def test_classifier_reaches_95_percent_on_digits() -> None:
    X_train, X_test, y_train, y_test = _digits_split()
    model = HopfieldClassifier(random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.95
    proba = model.predict_proba(X_test[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.loss_curve_[-1] < model.loss_curve_[0]


@pytest.mark.slow
@pytest.mark.parametrize("split", [1, 2, 3])
def test_classifier_reaches_95_percent_on_other_digit_splits(split: int) -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=split)
    model = HopfieldClassifier(random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.95


def test_classifier_in_pipeline_and_cross_validation_with_string_labels() -> None:
    X, y = load_digits(return_X_y=True)
    keep = y < 3
    X, labels = X[keep][:240], np.array(["zero", "one", "two"])[y[keep][:240]]
    pipeline = make_pipeline(MinMaxScaler(), HopfieldClassifier(epochs=20, random_state=0))
    scores = cross_val_score(pipeline, X, labels, cv=3)
    assert scores.min() > 0.9
    assert set(pipeline.fit(X, labels).predict(X[:10])) <= {"zero", "one", "two"}


def test_classifier_accepts_torch_input_and_is_reproducible() -> None:
    X, y = make_blobs(n_samples=120, centers=3, random_state=1)
    first = HopfieldClassifier(n_memories=8, epochs=5, random_state=3).fit(torch.tensor(X), y)
    second = HopfieldClassifier(n_memories=8, epochs=5, random_state=3).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_clustering_recovers_blobs_and_centres_in_input_units() -> None:
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]) + 50.0
    X, y = make_blobs(n_samples=150, centers=centres, cluster_std=0.8, random_state=2)
    model = ClAMClustering(n_clusters=3, random_state=0)
    labels = model.fit_predict(X)
    assert adjusted_rand_score(y, labels) > 0.95
    np.testing.assert_array_equal(labels, model.predict(X))
    error = np.linalg.norm(model.cluster_centers_[:, None] - centres[None], axis=2).min(axis=0)
    assert error.max() < 1.0
    assert model.score(X) <= 0.0


def test_clustering_in_pipeline_and_cross_validation() -> None:
    X, _ = make_blobs(n_samples=90, centers=3, random_state=4)
    pipeline = make_pipeline(
        MinMaxScaler(), ClAMClustering(n_clusters=3, epochs=10, random_state=0)
    )
    scores = cross_val_score(pipeline, X, cv=3)
    assert np.all(scores <= 0.0) and np.all(np.isfinite(scores))


def test_associative_memory_retrieves_and_completes_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    patterns = rng.choice([-1.0, 1.0], size=(5, 40))
    memory = AssociativeMemoryEstimator("modern", beta=2.0).store(patterns)
    noisy = patterns * np.where(rng.random(patterns.shape) < 0.1, -1.0, 1.0)
    retrieved = memory.retrieve(noisy)
    assert isinstance(retrieved, np.ndarray) and retrieved.shape == (5, 40)
    assert np.abs(retrieved - patterns).max() < 1e-3
    single = memory.retrieve(torch.tensor(noisy[0]))
    assert isinstance(single, torch.Tensor) and single.shape == (40,)
    mask = np.zeros_like(patterns, dtype=bool)
    mask[:, :20] = True
    blanked = np.where(mask, patterns, 0.0)
    completed = memory.complete(blanked, mask)
    np.testing.assert_array_equal(completed[:, :20], patterns[:, :20])
    assert np.abs(completed[:, 20:] - patterns[:, 20:]).max() < 1e-3
    energies = memory.energy(patterns)
    assert energies.shape == (5,) and np.all(energies < memory.energy(noisy))


def test_associative_memory_store_appends_and_fit_resets() -> None:
    rng = np.random.default_rng(1)
    first, second = rng.choice([-1.0, 1.0], size=(2, 3, 30))
    memory = AssociativeMemoryEstimator("classical").store(first).store(second)
    assert memory.patterns_.shape == (6, 30)
    assert memory.fit(first).patterns_.shape == (3, 30)
    assert memory.get_params()["model"] == "classical"


def test_associative_memory_validates_inputs() -> None:
    memory = AssociativeMemoryEstimator()
    with pytest.raises(ValueError, match="empty"):
        memory.retrieve(np.zeros((1, 3)))
    memory.store(np.eye(3))
    with pytest.raises(ValueError, match=r"Q must have shape \(n, 3\)"):
        memory.retrieve(np.zeros((1, 4)))
    with pytest.raises(TypeError, match="mask"):
        memory.complete(np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="model must be one of"):
        AssociativeMemoryEstimator("nope").store(np.eye(3))
