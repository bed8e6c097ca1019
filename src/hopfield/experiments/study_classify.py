"""Dense AM classifier on digits next to scikit-learn's k-NN and logistic regression.

``hopfield study classify [--quick] [--out DIR] [--seed S]`` fits
:class:`~hopfield.tasks.estimators.HopfieldClassifier` (Krotov & Hopfield 2016: feature
and label neurons, one-step label update, ``F = ReLU(z)³``, ``z³`` or log-sum-exp) on
the bundled 8×8 digits (75/25 split, ``random_state = seed``) and prints the test
accuracy and fit time next to ``KNeighborsClassifier`` and ``LogisticRegression``.

Writes ``classify.csv`` and ``classify.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hopfield.report import metrics_markdown, write_metrics_csv, write_metrics_json

__all__ = ["run", "run_classify_study"]


def _digits(seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    from hopfield.data import flatten, load_dataset

    images, labels = load_dataset("digits", split="all")
    return train_test_split(
        flatten(images).numpy(), labels.numpy(), test_size=0.25, random_state=seed
    )


def run_classify_study(*, quick: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    """Test accuracy and fit seconds of each classifier, one row each."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hopfield.tasks.estimators import HopfieldClassifier

    X_train, X_test, y_train, y_test = _digits(seed)
    epochs = 10 if quick else 20
    models: dict[str, Any] = {
        f"HopfieldClassifier({name})": HopfieldClassifier(
            separation=name, beta=beta, lr=lr, epochs=epochs, random_state=seed
        )
        for name, beta, lr in (("relu3", 0.1, 0.005), ("poly", 0.1, 0.005), ("lse", 2.0, 0.01))
        if not quick or name == "relu3"
    }
    models["k-NN (k=5)"] = KNeighborsClassifier(5)
    models["logistic regression"] = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000)
    )
    rows = []
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "model": name,
                "test_accuracy": float(model.score(X_test, y_test)),
                "fit_seconds": seconds,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the study, print the table, write ``classify.csv`` and ``classify.json``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = run_classify_study(quick=bool(args.quick), seed=int(args.seed))
    write_metrics_csv(out / "classify.csv", rows)
    write_metrics_json(
        out / "classify.json", rows, metadata={"dataset": "digits", "seed": args.seed}
    )
    print(metrics_markdown(rows))
    print(f"\nwrote {out}/classify.csv, classify.json")
    return 0
