"""``hopfield recall`` and ``hopfield capacity``: one model, from the command line.

* ``hopfield recall --model NAME --dataset NAME --corruption flip:0.2`` stores images,
  corrupts them, recalls with one registry model and writes the same report as the demo
  (grid, energy trace, metrics CSV/JSON, ``index.html``) to ``--out``.
* ``hopfield capacity --model NAME --neurons N --max-error E`` searches the largest
  number K of random ±1 patterns (continuous models: the same patterns as real
  vectors) that the model recalls with mean bit error ≤ E from queries with a
  fraction ``--flip`` of flipped bits, by binary search over K
  (:func:`hopfield.metrics.capacity.capacity_search`), and prints K/N.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hopfield.experiments import cli_types as types
from hopfield.experiments import report
from hopfield.experiments.demo_cli import add_common_options, config_from_args, run_from_cli
from hopfield.experiments.demo_config import METRIC_COLUMNS
from hopfield.metrics.capacity import CapacityResult, capacity_search
from hopfield.models import registry

__all__ = ["register", "run_capacity"]


def register(subparsers: Any) -> None:
    """Add ``hopfield recall`` and ``hopfield capacity`` to the command-line interface."""
    recall = subparsers.add_parser(
        "recall",
        help="store images, corrupt them, recall with one model, write a report",
        description="Store a dataset's images in one registry model, corrupt and recall them.",
    )
    recall.add_argument("--model", required=True, type=types.model_name, help="model name")
    recall.add_argument(
        "--corruption",
        type=types.corruption,
        default="flip:0.2",
        help="kind:level with kind flip, occlude or noise",
    )
    add_common_options(recall, out="runs/recall")
    recall.set_defaults(func=_recall_main)

    capacity = subparsers.add_parser(
        "capacity",
        help="binary search for the number of random patterns a model stores",
        description=(
            "Largest K such that the mean bit error of recall from corrupted random ±1 "
            "patterns stays ≤ --max-error."
        ),
    )
    capacity.add_argument("--model", required=True, type=types.model_name, help="model name")
    capacity.add_argument(
        "--neurons", type=types.positive_int, default=100, help="pattern dimension N"
    )
    capacity.add_argument(
        "--max-error", type=types.probability, default=0.01, help="target mean bit error"
    )
    capacity.add_argument(
        "--flip", type=types.probability, default=0.0, help="fraction of flipped query bits"
    )
    capacity.add_argument(
        "--trials", type=types.positive_int, default=5, help="seeded trials per K"
    )
    capacity.add_argument(
        "--criterion",
        default="bit_error",
        choices=("bit_error", "exact_recall"),
        help="error measured at each K",
    )
    capacity.add_argument(
        "--max-patterns",
        type=types.positive_int,
        default=None,
        help="upper end of the search (default: doubling)",
    )
    capacity.add_argument(
        "--beta",
        type=types.positive_float,
        default=None,
        help="inverse temperature β (default: the model's own)",
    )
    capacity.add_argument(
        "--max-steps", type=types.positive_int, default=30, help="cap on recall updates"
    )
    capacity.add_argument("--seed", type=types.seed, default=0, help="base seed")
    capacity.add_argument("--device", type=types.device_name, default="cpu", help="torch device")
    capacity.add_argument(
        "--out", type=types.output_file, default=None, help="write the result as JSON to this file"
    )
    capacity.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    capacity.set_defaults(func=_capacity_main)


def _recall_main(args: argparse.Namespace) -> int:
    config = config_from_args(
        args,
        models=(args.model,),
        corruptions=(args.corruption,),
        title=f"hopfield recall: {args.model} on {args.dataset}",
    )
    result = run_from_cli(config)
    print(report.metrics_markdown(result.rows, METRIC_COLUMNS))
    for name, reason in result.skipped.items():
        print(f"skipped {name}: {reason}")
    print(f"\nwrote {Path(config.out) / 'index.html'}")
    return 1 if result.skipped else 0


def run_capacity(
    model: str,
    neurons: int,
    *,
    max_error: float = 0.01,
    criterion: str = "bit_error",
    flip: float = 0.0,
    trials: int = 5,
    max_patterns: int | None = None,
    beta: float | None = None,
    max_steps: int = 30,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> CapacityResult:
    """Capacity of registry model ``model`` at N = ``neurons`` by binary search over K.

    Each trial stores K random ±1 patterns in a fresh model
    (:class:`~hopfield.models.registry.RebuildingMemory`), recalls from them with a fraction
    ``flip`` of flipped bits and scores the binarised states; K passes when the mean
    error over ``trials`` is ≤ ``max_error``
    (:func:`hopfield.metrics.capacity.capacity_search`). Seeded and reproducible;
    ``progress`` shows a progress bar counting the trials.
    """
    registry.spec(model)
    bar = tqdm(desc=f"capacity {model}", unit="trial", disable=not progress, file=sys.stderr)

    def make_model(num_neurons: int, trial_seed: int) -> registry.RebuildingMemory:
        bar.update(1)
        return registry.RebuildingMemory(model, beta=beta, seed=trial_seed, device=device)

    with bar:
        return capacity_search(
            make_model,
            neurons,
            max_error=max_error,
            criterion=criterion,
            k_max=max_patterns,
            trials=trials,
            seed=seed,
            flip_probability=flip,
            max_steps=max_steps,
        )


def _capacity_main(args: argparse.Namespace) -> int:
    result = run_capacity(
        args.model,
        args.neurons,
        max_error=args.max_error,
        criterion=args.criterion,
        flip=args.flip,
        trials=args.trials,
        max_patterns=args.max_patterns,
        beta=args.beta,
        max_steps=args.max_steps,
        seed=args.seed,
        device=args.device,
        progress=not args.no_progress,
    )
    points = [
        {
            "K": p.num_patterns,
            "K/N": p.num_patterns / result.num_neurons,
            "mean_error": p.mean_error,
            "ci_low": p.ci_low,
            "ci_high": p.ci_high,
            "passed": p.passed,
            "confident": p.confident,
        }
        for p in result.points
    ]
    print(report.metrics_markdown(points, digits=4))
    print(
        f"\n{args.model}: capacity K = {result.capacity} at N = {result.num_neurons} "
        f"(load K/N = {result.load:.3f}; {result.criterion} ≤ {result.max_error}, "
        f"query flips {args.flip}, {result.trials} trials per K, seed {result.seed})"
    )
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"model": args.model, "flip": args.flip, **result.to_dict()}
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {path}")
    return 0
