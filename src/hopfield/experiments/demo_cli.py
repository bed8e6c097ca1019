"""Command line of ``hopfield demo`` (and the options ``hopfield recall`` shares).

Every flag is validated by its argument type (:mod:`.cli_types`): a bad value is one
line naming the flag and exit status 2. ``--quick`` sets small sizes only for the flags
not given on the command line: explicit flags win.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hopfield.data.datasets import DATASET_NAMES
from hopfield.experiments import cli_types as types
from hopfield.experiments import report
from hopfield.experiments.demo import DemoResult, run_demo
from hopfield.experiments.demo_config import (
    DEFAULT_CORRUPTION_TEXT,
    DEFAULT_MODELS,
    METRIC_COLUMNS,
    QUICK_SETTINGS,
    DemoConfig,
)

__all__ = ["add_common_options", "config_from_args", "register", "run_from_cli"]


def _data_root(text: str) -> str:
    return str(types.existing_dir(text))


def add_common_options(parser: argparse.ArgumentParser, *, out: str) -> None:
    """Options shared by ``demo`` and ``recall``."""
    explicit = types.StoreExplicit
    parser.add_argument("--out", type=types.output_dir, default=out, help="output folder")
    parser.add_argument("--dataset", default="glyphs", choices=DATASET_NAMES, help="image set")
    parser.add_argument(
        "--data-root",
        type=_data_root,
        default=None,
        help="folder with local mnist/ etc. (default: $HOPFIELD_DATA)",
    )
    parser.add_argument(
        "--patterns",
        type=types.positive_int,
        default=16,
        action=explicit,
        help="number of stored images K",
    )
    parser.add_argument(
        "--image-size",
        type=types.positive_int,
        default=32,
        action=explicit,
        help="glyph size in pixels",
    )
    parser.add_argument(
        "--seed", type=types.seed, default=0, help="seed of corruptions and update order"
    )
    parser.add_argument(
        "--device", type=types.device_name, default="cpu", help="torch device: cpu, cuda, cuda:i"
    )
    parser.add_argument(
        "--beta",
        type=types.positive_float,
        default=None,
        help="inverse temperature β of every model that has one (default: each model's own)",
    )
    parser.add_argument(
        "--steps",
        type=types.positive_int,
        default=None,
        help="fixed number of updates (default: until converged)",
    )
    parser.add_argument(
        "--max-steps",
        type=types.positive_int,
        default=30,
        action=explicit,
        help="cap on updates when --steps is unset",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def config_from_args(args: argparse.Namespace, **overrides: Any) -> DemoConfig:
    """A :class:`DemoConfig` from the common options (``overrides`` win)."""
    settings: dict[str, Any] = {
        "out": str(args.out),
        "dataset": args.dataset,
        "data_root": args.data_root,
        "patterns": args.patterns,
        "image_size": args.image_size,
        "seed": args.seed,
        "device": args.device,
        "beta": args.beta,
        "steps": args.steps,
        "max_steps": args.max_steps,
        "progress": not args.no_progress,
    }
    settings.update(overrides)
    return DemoConfig(**settings)


def run_from_cli(config: DemoConfig) -> DemoResult:
    """:func:`run_demo`; a missing data file is reported against ``--data-root``."""
    try:
        return run_demo(config)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"argument --data-root: {error}") from error


def register(subparsers: Any) -> None:
    """Add ``hopfield demo`` to the command-line interface."""
    parser = subparsers.add_parser(
        "demo",
        help="main job: store images, corrupt them, recall with every model, write runs/demo/",
        description=(
            "Store a bundled image set, corrupt it (bit flips, occlusion, noise), recall it "
            "with every vector memory of the registry and write PNG grids, energy traces, a "
            "metrics table (CSV/JSON) and index.html."
        ),
    )
    add_common_options(parser, out="runs/demo")
    parser.add_argument(
        "--models",
        type=types.model_list,
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated model names (from: {', '.join(types.model_names())})",
    )
    parser.add_argument(
        "--corruptions",
        type=types.corruption_list,
        default=DEFAULT_CORRUPTION_TEXT,
        action=types.StoreExplicit,
        help="comma-separated corruptions kind:level (kind: flip, occlude or noise)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small fast run (8 glyphs of 16×16, two corruptions, 10 steps) for the "
        "flags not given explicitly",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"models": args.models, "corruptions": args.corruptions}
    if args.quick:
        given = types.explicit_flags(args)
        overrides.update({k: v for k, v in QUICK_SETTINGS.items() if k not in given})
    config = config_from_args(args, **overrides)
    result = run_from_cli(config)
    print(report.metrics_markdown(result.rows, METRIC_COLUMNS))
    for name, reason in result.skipped.items():
        print(f"skipped {name}: {reason}")
    print(f"\nwrote {Path(config.out) / 'index.html'} in {result.wall_s:.1f} s")
    return 0
