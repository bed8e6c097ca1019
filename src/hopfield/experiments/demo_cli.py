"""Command line of ``hopfield demo`` (and the options ``hopfield recall`` shares)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hopfield.data.datasets import DATASET_NAMES
from hopfield.experiments import report, zoo
from hopfield.experiments.demo import run_demo
from hopfield.experiments.demo_config import (
    DEFAULT_CORRUPTION_TEXT,
    METRIC_COLUMNS,
    QUICK_SETTINGS,
    DemoConfig,
    parse_corruption,
)

__all__ = ["add_common_options", "config_from_args", "register"]


def add_common_options(parser: argparse.ArgumentParser, *, out: str) -> None:
    """Options shared by ``demo`` and ``recall``."""
    parser.add_argument("--out", default=out, help=f"output folder (default {out})")
    parser.add_argument("--dataset", default="glyphs", choices=DATASET_NAMES, help="image set")
    parser.add_argument(
        "--data-root", default=None, help="folder with local mnist/ etc. (or $HOPFIELD_DATA)"
    )
    parser.add_argument("--patterns", type=int, default=16, help="number of stored images K")
    parser.add_argument("--image-size", type=int, default=32, help="glyph size in pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed of corruptions and update order")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--beta",
        type=float,
        default=None,
        help="inverse temperature β of every model that has one (default: per model)",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="fixed number of updates (default: until converged)"
    )
    parser.add_argument(
        "--max-steps", type=int, default=30, help="cap on updates when --steps is unset"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def config_from_args(args: argparse.Namespace, **overrides: Any) -> DemoConfig:
    """A :class:`DemoConfig` from the common options (``overrides`` win)."""
    settings: dict[str, Any] = {
        "out": args.out,
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


def register(subparsers: Any) -> None:
    """Add ``hopfield demo`` to the command-line interface."""
    parser = subparsers.add_parser(
        "demo",
        help="main job: store images, corrupt them, recall with every model, write runs/demo/",
        description=(
            "Store a bundled image set, corrupt it (bit flips, occlusion, noise), recall it "
            "with every model of the zoo and write PNG grids, energy traces, a metrics "
            "table (CSV/JSON) and index.html."
        ),
    )
    add_common_options(parser, out="runs/demo")
    parser.add_argument(
        "--models",
        default=",".join(zoo.DEFAULT_MODELS),
        help=f"comma-separated model names (zoo: {', '.join(zoo.ZOO)})",
    )
    parser.add_argument(
        "--corruptions",
        default=DEFAULT_CORRUPTION_TEXT,
        help="comma-separated corruptions kind:level (flip, occlude, noise)",
    )
    parser.add_argument("--quick", action="store_true", help="small fast run (8 glyphs of 16×16)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    corruptions = tuple(
        parse_corruption(c.strip()) for c in args.corruptions.split(",") if c.strip()
    )
    overrides: dict[str, Any] = {"models": models, "corruptions": corruptions}
    if args.quick:
        overrides.update(QUICK_SETTINGS)
        overrides["patterns"] = min(args.patterns, QUICK_SETTINGS["patterns"])
        if args.corruptions != DEFAULT_CORRUPTION_TEXT:
            overrides["corruptions"] = corruptions
    config = config_from_args(args, **overrides)
    result = run_demo(config)
    print(report.metrics_markdown(result.rows, METRIC_COLUMNS))
    for name, reason in result.skipped.items():
        print(f"skipped {name}: {reason}")
    print(f"\nwrote {Path(config.out) / 'index.html'} in {result.wall_s:.1f} s")
    return 0
