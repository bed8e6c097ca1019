"""Dense AM classifier on digits next to scikit-learn's k-NN and logistic regression.

``hopfield study classify [--quick] [--out DIR] [--seed S]`` fits
:class:`~hopfield.tasks.estimators.HopfieldClassifier` (Krotov & Hopfield 2016: feature
and label neurons, one-step label update, ``F = ReLU(z)³``, ``z³`` or log-sum-exp) on
the bundled 8×8 digits (75/25 split, ``random_state = seed``) and prints the test
accuracy and fit time next to ``KNeighborsClassifier`` and ``LogisticRegression``; it
also sweeps the inverse temperature ``β`` of the ``ReLU(z)³`` classifier.

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``), ``beta_sweep.csv`` and the figure ``classify.png``
(confusion matrix of the ``ReLU(z)³`` classifier; test accuracy against β).
"""

from __future__ import annotations

import time
from typing import Any

from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import (
    Progress,
    Study,
    StudyContext,
    StudyResult,
    Table,
    no_progress,
)

__all__ = ["STUDY", "beta_sweep", "confusion_matrix", "run_classify_study"]

EPOCHS = {True: 10, False: 20}
"""Training epochs of the Hopfield classifiers, by ``quick``."""


def _digits(seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    from hopfield.data import flatten, load_dataset

    images, labels = load_dataset("digits", split="all")
    return train_test_split(
        flatten(images).numpy(), labels.numpy(), test_size=0.25, random_state=seed
    )


def _hopfield(separation: str, beta: float, lr: float, quick: bool, seed: int) -> Any:
    from hopfield.tasks.estimators import HopfieldClassifier

    return HopfieldClassifier(
        separation=separation, beta=beta, lr=lr, epochs=EPOCHS[quick], random_state=seed
    )


def run_classify_study(
    *, quick: bool = False, seed: int = 0, progress: Progress = no_progress
) -> list[dict[str, Any]]:
    """Test accuracy and fit seconds of each classifier, one row each."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = _digits(seed)
    models: dict[str, Any] = {
        f"HopfieldClassifier({name})": _hopfield(name, beta, lr, quick, seed)
        for name, beta, lr in (("relu3", 0.1, 0.005), ("poly", 0.1, 0.005), ("lse", 2.0, 0.01))
        if not quick or name == "relu3"
    }
    models["k-NN (k=5)"] = KNeighborsClassifier(5)
    models["logistic regression"] = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000)
    )
    rows = []
    for name, model in progress(models.items(), desc="classify models", total=len(models)):
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


def confusion_matrix(*, quick: bool = False, seed: int = 0) -> Any:
    """``(10, 10)`` test-set confusion counts (rows: true digit) of the ``ReLU(z)³`` model."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    X_train, X_test, y_train, y_test = _digits(seed)
    model = _hopfield("relu3", 0.1, 0.005, quick, seed).fit(X_train, y_train)
    return sk_confusion(y_test, model.predict(X_test), labels=list(range(10)))


def beta_sweep(
    betas: tuple[float, ...],
    *,
    quick: bool = False,
    seed: int = 0,
    progress: Progress = no_progress,
) -> list[dict[str, Any]]:
    """Test accuracy of the ``ReLU(z)³`` classifier for each ``β`` (same split and seed)."""
    X_train, X_test, y_train, y_test = _digits(seed)
    rows = []
    for beta in progress(betas, desc="classify β", total=len(betas)):
        model = _hopfield("relu3", beta, 0.005, quick, seed).fit(X_train, y_train)
        rows.append({"beta": beta, "test_accuracy": float(model.score(X_test, y_test))})
    return rows


def _plot(confusion: Any, sweep: list[dict[str, Any]]) -> Any:
    fig = new_figure((10, 4.2))
    left, right = fig.subplots(1, 2)
    image = left.imshow(confusion, cmap="Blues")
    for (i, j), count in ((ij, confusion[ij]) for ij in zip(*confusion.nonzero(), strict=True)):
        dark = count > confusion.max() / 2
        left.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if dark else "black",
        )
    left.set_xticks(range(10))
    left.set_yticks(range(10))
    left.set_xlabel("predicted digit")
    left.set_ylabel("true digit")
    left.set_title("HopfieldClassifier(relu3), test set")
    fig.colorbar(image, ax=left, fraction=0.046)
    right.semilogx([r["beta"] for r in sweep], [r["test_accuracy"] for r in sweep], "o-")
    betas = [r["beta"] for r in sweep]
    right.set_xticks(betas, [f"{b:g}" for b in betas])
    right.set_xticks([], minor=True)
    right.set_xlabel("β")
    right.set_ylabel("test accuracy")
    right.set_title("ReLU(z)³ classifier: accuracy against β")
    fig.tight_layout()
    return fig


def _compute(context: StudyContext) -> StudyResult:
    quick, seed = context.quick, context.seed
    rows = run_classify_study(quick=quick, seed=seed, progress=context.progress)
    betas = (0.03, 0.1, 0.3) if quick else (0.01, 0.03, 0.1, 0.3, 1.0)
    sweep = beta_sweep(betas, quick=quick, seed=seed, progress=context.progress)
    confusion = confusion_matrix(quick=quick, seed=seed)
    return StudyResult(
        tables=[
            Table("classify", "Test accuracy on 8×8 digits (75/25 split)", rows),
            Table("beta_sweep", "HopfieldClassifier(relu3): test accuracy against β", sweep),
        ],
        figures={"classify.png": _plot(confusion, sweep)},
        metadata={"dataset": "digits", "confusion_relu3": confusion.tolist()},
    )


STUDY = Study("classify", "Dense AM classifier on digits vs k-NN and logistic regression", _compute)
