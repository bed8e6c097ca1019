"""Digits classification with :class:`~hopfield.tasks.estimators.HopfieldClassifier` in a Pipeline.

The classifier is a Dense Associative Memory (Krotov & Hopfield 2016): ``K`` learned
memories ``ξ_μ = [ξ^v_μ, ξ^c_μ]`` over visible (pixel) and label neurons, energy
``E(v, c) = −Σ_μ F(ξ^v_μ·v + ξ^c_μ·c)`` with ``F = ReLU³``; a prediction is one update
of the label neurons with the pixels clamped, and the energy gaps are the logits.

Pipeline: ``StandardScaler → PCA(n_components) → HopfieldClassifier``, trained on the
scikit-learn digits training split (1437 images) and evaluated on the test split
(360 images), next to a logistic-regression baseline with the same preprocessing.
The full run adds a 3-fold ``cross_val_score`` on the training split.

Run: ``python examples/digits_classification_pipeline.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hopfield.data import load_dataset
from hopfield.tasks.estimators import HopfieldClassifier

__all__ = ["main", "make_pipeline", "run"]


def make_pipeline(
    *, n_components: int = 40, n_memories: int = 100, epochs: int = 30, seed: int = 0
) -> Pipeline:
    """``StandardScaler → PCA → HopfieldClassifier`` (ReLU³ separation)."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=n_components, random_state=seed)),
            (
                "hopfield",
                HopfieldClassifier(
                    n_memories=n_memories,
                    separation="relu3",
                    beta=0.1,
                    epochs=epochs,
                    lr=0.005,
                    random_state=seed,
                ),
            ),
        ]
    )


def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train_x, train_y = load_dataset("digits", split="train")
    test_x, test_y = load_dataset("digits", split="test")
    return (
        train_x.flatten(1).numpy(),
        train_y.numpy(),
        test_x.flatten(1).numpy(),
        test_y.numpy(),
    )


def run(*, epochs: int = 30, cv: bool = True, seed: int = 0) -> dict[str, float]:
    """Fit, score on the test split (and 3-fold CV); returns the metrics."""
    train_x, train_y, test_x, test_y = _split()
    pipe = make_pipeline(epochs=epochs, seed=seed)
    start = time.perf_counter()
    pipe.fit(train_x, train_y)
    metrics = {
        "fit_seconds": time.perf_counter() - start,
        "test_accuracy": float(pipe.score(test_x, test_y)),
    }
    baseline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=40, random_state=seed)),
            ("logreg", LogisticRegression(max_iter=2000)),
        ]
    ).fit(train_x, train_y)
    metrics["baseline_logreg_test_accuracy"] = float(baseline.score(test_x, test_y))
    if cv:
        scores = cross_val_score(make_pipeline(epochs=epochs, seed=seed), train_x, train_y, cv=3)
        metrics["cv3_mean_accuracy"] = float(scores.mean())
        metrics["cv3_std_accuracy"] = float(scores.std())
    return metrics


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="10 epochs, no cross-validation")
    args = parser.parse_args(argv)
    metrics = run(epochs=10 if args.quick else args.epochs, cv=not args.quick, seed=args.seed)
    print("StandardScaler → PCA(40) → HopfieldClassifier(n_memories=100, relu3)")
    print(f"test accuracy            {metrics['test_accuracy']:.4f}")
    print(f"logistic-regression base {metrics['baseline_logreg_test_accuracy']:.4f}")
    if "cv3_mean_accuracy" in metrics:
        print(
            f"3-fold CV (train split)  {metrics['cv3_mean_accuracy']:.4f} "
            f"± {metrics['cv3_std_accuracy']:.4f}"
        )
    print(f"fit time                 {metrics['fit_seconds']:.1f} s")
    return metrics


if __name__ == "__main__":
    main()
