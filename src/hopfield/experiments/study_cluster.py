"""ClAM clustering on digits next to scikit-learn's k-means (adjusted Rand index).

``hopfield study cluster [--quick] [--out DIR] [--seed S]`` fits
:class:`~hopfield.tasks.estimators.ClAMClustering` (Saha et al. 2023: prototypes as modern
Hopfield memories, cluster = the attractor reached, trained on ``‖x − x_T‖²``) with
10 clusters on the bundled 8×8 digits and prints the adjusted Rand index and
normalised mutual information against the labels, next to ``KMeans(10)`` from the
same number of k-means++ starts and the ClAM k-means++ start before training.

Writes ``cluster.csv`` and ``cluster.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hopfield.report import metrics_markdown, write_metrics_csv, write_metrics_json

__all__ = ["run", "run_cluster_study"]


def run_cluster_study(*, quick: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    """ARI, NMI and fit seconds of ClAM and k-means on digits, one row each."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from hopfield.data import flatten, load_dataset
    from hopfield.tasks.estimators import ClAMClustering

    images, labels = load_dataset("digits", split="all")
    X, y = flatten(images).double().numpy(), labels.numpy()
    starts = 1 if quick else 10
    models: dict[str, Any] = {
        "ClAM (untrained k-means++ start)": ClAMClustering(
            10, epochs=0, n_init=1, random_state=seed
        ),
        "ClAM": ClAMClustering(10, epochs=10 if quick else 40, n_init=starts, random_state=seed),
        "k-means": KMeans(10, n_init=starts, random_state=seed),
    }
    rows = []
    for name, model in models.items():
        start = time.perf_counter()
        predicted = model.fit_predict(X)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "model": name,
                "n_init": 1 if "untrained" in name else starts,
                "ARI": float(adjusted_rand_score(y, predicted)),
                "NMI": float(normalized_mutual_info_score(y, predicted)),
                "fit_seconds": seconds,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the study, print the table, write ``cluster.csv`` and ``cluster.json``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = run_cluster_study(quick=bool(args.quick), seed=int(args.seed))
    write_metrics_csv(out / "cluster.csv", rows)
    write_metrics_json(
        out / "cluster.json", rows, metadata={"dataset": "digits", "seed": args.seed}
    )
    print(metrics_markdown(rows))
    print(f"\nwrote {out}/cluster.csv, cluster.json")
    return 0
