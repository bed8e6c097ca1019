"""The main job, ``hopfield demo``: store images, corrupt them, recall with every model.

Pipeline (``run_demo``):

1. load a bundled image set (default: 16 glyphs at 32×32, chosen greedily to be far
   apart in Hamming distance), map it to [−1, 1] (continuous patterns) and to ±1
   (binary patterns, ``+1`` where the pixel is above ½);
2. corrupt every pattern at several levels — bit flips (``x ↦ −x`` with probability
   p), occlusion of the bottom rows (filled with −1, the background), Gaussian
   noise — with one seeded generator, so all models see the same queries;
3. store the patterns in each zoo model (:mod:`hopfield.experiments.zoo`), recall from
   the queries (occluded pixels are free, visible ones clamped, for models that
   support a mask), and score the binarised states against the binary patterns
   with :mod:`hopfield.metrics` (bit error, exact recall, overlap, nearest-pattern
   accuracy), plus steps and wall time;
4. write ``out/``: ``grid_<corruption>.png`` (original / corrupted / recalled per
   model), ``energy_<corruption>.png`` (energy traces), ``metrics.csv``,
   ``metrics.json`` and ``index.html``; print the metrics as a markdown table.

``hopfield recall`` runs the same pipeline for one model and one corruption.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from hopfield import report
from hopfield.data.datasets import DATASET_NAMES, flatten, load_dataset, to_centered
from hopfield.data.generators import make_generator
from hopfield.experiments import zoo

__all__ = [
    "DEFAULT_CORRUPTIONS",
    "QUICK_SETTINGS",
    "Corruption",
    "DemoConfig",
    "DemoResult",
    "binarize",
    "corrupt",
    "evaluate",
    "parse_corruption",
    "prepare_patterns",
    "register",
    "run_demo",
    "select_separated",
]

_KINDS = ("flip", "occlude", "noise")
METRIC_COLUMNS = (
    "model",
    "corruption",
    "bit_error",
    "exact_recall",
    "overlap",
    "nearest_accuracy",
    "converged",
    "steps",
    "time_s",
)


@dataclass(frozen=True)
class Corruption:
    """A corruption ``kind`` (``flip``, ``occlude`` or ``noise``) at ``level``.

    ``flip``: each entry changes sign with probability ``level``; ``occlude``: the
    bottom ``level`` fraction of image rows is set to −1 and marked unknown;
    ``noise``: i.i.d. Gaussian noise of standard deviation ``level`` is added.
    """

    kind: str
    level: float

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"corruption kind must be one of {_KINDS}, got {self.kind!r}")
        if not self.level >= 0.0 or (self.kind != "noise" and self.level > 1.0):
            raise ValueError(
                f"corruption level for {self.kind!r} must be in [0, 1], got {self.level}"
            )

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.level:g}"

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.level:g}"


DEFAULT_CORRUPTIONS: tuple[Corruption, ...] = (
    Corruption("flip", 0.1),
    Corruption("flip", 0.2),
    Corruption("flip", 0.3),
    Corruption("occlude", 0.25),
    Corruption("occlude", 0.5),
)


_DEFAULT_CORRUPTION_TEXT = ",".join(c.label for c in DEFAULT_CORRUPTIONS)

QUICK_SETTINGS: dict[str, Any] = {
    "patterns": 8,
    "image_size": 16,
    "corruptions": (Corruption("flip", 0.1), Corruption("occlude", 0.5)),
    "max_steps": 10,
}
"""Overrides of ``--quick`` (and :meth:`DemoConfig.quick`): 8 glyphs of 16×16, two corruptions."""


def parse_corruption(text: str) -> Corruption:
    """Parse ``"flip:0.2"``, ``"occlude:0.5"`` or ``"noise:0.3"`` into a :class:`Corruption`."""
    kind, sep, level = text.partition(":")
    try:
        value = float(level)
    except ValueError:
        value = float("nan")
    if not sep or value != value:
        raise ValueError(
            f"corruption must look like 'flip:0.2', 'occlude:0.5' or 'noise:0.3', got {text!r}"
        )
    return Corruption(kind, value)


def binarize(values: torch.Tensor) -> torch.Tensor:
    """±1 states from real values: ``+1`` where ``value > 0``, else ``−1``."""
    return torch.where(values > 0, 1.0, -1.0).to(values.dtype)


def select_separated(patterns: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of ``count`` rows of ``patterns`` ``(N, D)`` chosen greedily far apart.

    Farthest-point selection in Euclidean distance, starting from row 0: each next
    row maximises its distance to the nearest row already chosen (deterministic).
    """
    if not 1 <= count <= patterns.shape[0]:
        raise ValueError(f"count must be in [1, {patterns.shape[0]}], got {count}")
    flat = patterns.reshape(patterns.shape[0], -1).to(torch.float64)
    chosen = [0]
    nearest = torch.cdist(flat, flat[:1]).squeeze(1)
    for _ in range(count - 1):
        nearest[chosen] = -1.0
        index = int(nearest.argmax())
        chosen.append(index)
        nearest = torch.minimum(nearest, torch.cdist(flat, flat[index : index + 1]).squeeze(1))
    return torch.tensor(chosen, dtype=torch.int64)


def prepare_patterns(
    dataset: str,
    count: int,
    *,
    image_size: int = 32,
    root: str | None = None,
    separated: bool = True,
) -> tuple[torch.Tensor, tuple[int, ...], torch.Tensor]:
    """``(continuous patterns (K, D) in [−1, 1], image shape (C, H, W), labels (K,))``.

    With ``separated`` the ``count`` images are chosen far apart among the first
    ``max(4·count, 64)`` of the split (:func:`select_separated`); otherwise the first
    ``count``.
    """
    images, labels = load_dataset(dataset, root=root, image_size=image_size)
    if count < 1 or count > images.shape[0]:
        raise ValueError(f"patterns must be in [1, {images.shape[0]}] for {dataset!r}, got {count}")
    pool = images[: max(4 * count, 64)]
    index = select_separated(flatten(pool), count) if separated else torch.arange(count)
    chosen = pool[index]
    return flatten(to_centered(chosen)), tuple(chosen.shape[1:]), labels[index]


def corrupt(
    patterns: torch.Tensor,
    image_shape: Sequence[int],
    corruption: Corruption,
    *,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Corrupt ``patterns`` ``(B, D)`` (values in [−1, 1]); returns ``(queries, known)``.

    ``known`` ``(B, D)`` bool marks visible entries for ``occlude`` (None otherwise).
    """
    from hopfield.data.corruptions import flip_bits, gaussian_noise, occlude_block

    if corruption.kind == "flip":
        return flip_bits(patterns, corruption.level, generator=generator), None
    if corruption.kind == "noise":
        noisy = gaussian_noise(patterns, corruption.level, generator=generator)
        return noisy.clamp(-1.0, 1.0), None
    images = patterns.reshape(patterns.shape[0], *image_shape)
    hidden, known = occlude_block(images, corruption.level, fill=-1.0)
    return hidden.reshape(patterns.shape), known.reshape(patterns.shape)


def evaluate(
    states: torch.Tensor, targets: torch.Tensor, patterns: torch.Tensor
) -> dict[str, float]:
    """Scores of binarised ``states`` ``(B, D)`` against ±1 ``targets`` ``(B, D)``.

    ``patterns`` ``(K, D)`` are the stored ±1 patterns; ``targets[b]`` must be one of
    them. Uses :mod:`hopfield.metrics`.
    """
    from hopfield.metrics.recall import (
        bit_error_rate,
        exact_recall_fraction,
        nearest_pattern_accuracy,
        overlap,
    )

    binary = binarize(states.to(targets))
    target_index = _pattern_index(targets, patterns)
    return {
        "bit_error": float(bit_error_rate(binary, targets)),
        "exact_recall": float(exact_recall_fraction(binary, targets)),
        "overlap": float(overlap(binary, targets).diagonal().mean()),
        "nearest_accuracy": float(nearest_pattern_accuracy(binary, patterns, target_index)),
    }


def _pattern_index(targets: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    matches = (targets[:, None, :] == patterns[None, :, :]).all(dim=2)
    if not bool(matches.any(dim=1).all()):
        raise ValueError("every target must be one of the stored patterns")
    return matches.to(torch.int64).argmax(dim=1)


@dataclass
class DemoConfig:
    """Settings of :func:`run_demo` (the command-line options of ``hopfield demo``)."""

    out: str = "runs/demo"
    dataset: str = "glyphs"
    patterns: int = 16
    image_size: int = 32
    data_root: str | None = None
    models: tuple[str, ...] = zoo.DEFAULT_MODELS
    corruptions: tuple[Corruption, ...] = DEFAULT_CORRUPTIONS
    seed: int = 0
    device: str = "cpu"
    beta: float | None = None
    steps: int | None = None
    max_steps: int = 30
    columns: int = 16
    progress: bool = True
    title: str = "hopfield demo: store, corrupt, recall"

    @classmethod
    def quick(cls, **overrides: Any) -> DemoConfig:
        """A small configuration for smoke tests: 8 glyphs of 16×16, two corruptions."""
        settings: dict[str, Any] = dict(QUICK_SETTINGS)
        settings.update(overrides)
        return cls(**settings)


@dataclass
class DemoResult:
    """Rows of the metrics table and the files written."""

    rows: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    image_shape: tuple[int, ...] = ()


@dataclass
class _Run:
    states: torch.Tensor
    energies: torch.Tensor


def _timed_recall(
    model: torch.nn.Module, queries: torch.Tensor, mask: torch.Tensor | None, config: DemoConfig
) -> tuple[Any, float]:
    device = torch.device(config.device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = zoo.recall_memory(
        model, queries, steps=config.steps, max_steps=config.max_steps, mask=mask
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


def _build_models(
    config: DemoConfig, continuous: torch.Tensor, binary: torch.Tensor, result: DemoResult
) -> dict[str, torch.nn.Module]:
    models: dict[str, torch.nn.Module] = {}
    for name in config.models:
        entry = zoo.get_entry(name)
        stored = binary if entry.binary else continuous
        try:
            models[name] = zoo.build_memory(
                name,
                stored.to(config.device),
                beta=config.beta,
                seed=config.seed,
                device=config.device,
            )
        except ImportError as error:
            result.skipped[name] = f"not available: {error}"
    return models


def run_demo(config: DemoConfig) -> DemoResult:
    """Run the pipeline described in the module docstring and write ``config.out``."""
    for name in config.models:
        zoo.get_entry(name)
    start = time.perf_counter()
    continuous, image_shape, _labels = prepare_patterns(
        config.dataset, config.patterns, image_size=config.image_size, root=config.data_root
    )
    binary = binarize(continuous)
    result = DemoResult(rows=[], image_shape=image_shape)
    models = _build_models(config, continuous, binary, result)
    generator = make_generator(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(c, name) for c in config.corruptions for name in models]
    bar = tqdm(total=len(jobs), desc="recall", disable=not config.progress, file=sys.stderr)
    for corruption in config.corruptions:
        queries, known = corrupt(continuous, image_shape, corruption, generator=generator)
        baseline = evaluate(queries, binary, binary)
        result.rows.append(
            {
                "model": "(query)",
                "corruption": corruption.label,
                **baseline,
                "converged": float("nan"),
                "steps": 0,
                "time_s": 0.0,
            }
        )
        runs: dict[str, _Run] = {}
        for name, model in models.items():
            bar.set_postfix_str(f"{name} {corruption.label}")
            entry = zoo.get_entry(name)
            model_queries = (binarize(queries) if entry.binary else queries).to(config.device)
            mask = None if known is None else known.to(config.device)
            recalled, seconds = _timed_recall(model, model_queries, mask, config)
            states = recalled.states.detach().to("cpu", torch.float32)
            runs[name] = _Run(states, recalled.energies.detach().to("cpu", torch.float64))
            scores = evaluate(states, binary, binary)
            result.rows.append(
                {
                    "model": name,
                    "corruption": corruption.label,
                    **scores,
                    "converged": float(recalled.converged.float().mean()),
                    "steps": int(recalled.steps),
                    "time_s": seconds,
                }
            )
            bar.update(1)
        _write_figures(config, result, corruption, continuous, queries, image_shape, runs)
    bar.close()
    result.wall_s = time.perf_counter() - start
    _write_tables_and_index(config, result)
    return result


def _write_figures(
    config: DemoConfig,
    result: DemoResult,
    corruption: Corruption,
    continuous: torch.Tensor,
    queries: torch.Tensor,
    image_shape: tuple[int, ...],
    runs: dict[str, _Run],
) -> None:
    out = Path(config.out)
    shown = slice(0, min(config.columns, continuous.shape[0]))

    def images(flat: torch.Tensor) -> torch.Tensor:
        return flat[shown].reshape(-1, *image_shape)

    rows = [images(continuous), images(queries)] + [images(r.states) for r in runs.values()]
    labels = ["original", f"corrupted\n{corruption.label}", *runs]
    grid = report.save_image_grid(
        out / f"grid_{corruption.slug}.png",
        rows,
        labels,
        title=f"{config.dataset}: recall from {corruption.label}",
    )
    result.files[f"grid_{corruption.slug}"] = grid
    if runs:
        traces = report.save_energy_traces(
            out / f"energy_{corruption.slug}.png",
            {name: run.energies for name, run in runs.items()},
            title=f"energy during recall from {corruption.label} (E − E₀ per query)",
        )
        result.files[f"energy_{corruption.slug}"] = traces


def _metadata(config: DemoConfig, result: DemoResult) -> dict[str, Any]:
    settings = asdict(config)
    settings["corruptions"] = [c.label for c in config.corruptions]
    return {
        "config": settings,
        "skipped_models": result.skipped,
        "wall_s": result.wall_s,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def _write_tables_and_index(config: DemoConfig, result: DemoResult) -> None:
    out = Path(config.out)
    result.files["metrics_csv"] = report.write_metrics_csv(
        out / "metrics.csv", result.rows, METRIC_COLUMNS
    )
    recalled = [r for r in result.rows if r["model"] != "(query)"]
    if recalled:
        result.files["summary"] = report.save_metric_heatmap(
            out / "summary_bit_error.png",
            result.rows,
            row_key="model",
            column_key="corruption",
            value_key="bit_error",
            value_range=(0.0, 0.5),
            title="bit error after recall ('(query)': before recall)",
        )
    result.files["metrics_json"] = report.write_metrics_json(
        out / "metrics.json", result.rows, metadata=_metadata(config, result)
    )
    sections: list[report.ReportSection] = [
        report.ReportSection(
            "Bit error by model and corruption",
            images=["summary_bit_error.png"] if "summary" in result.files else [],
        ),
        report.ReportSection(
            "Metrics",
            text=(
                f"{config.patterns} {config.dataset} patterns "
                f"({'×'.join(map(str, result.image_shape))}), "
                f"seed {config.seed}, device {config.device}; bit error, exact recall, overlap and "
                "nearest-pattern accuracy of the binarised recalled states; '(query)' scores the "
                f"corrupted queries themselves. Wall time {result.wall_s:.1f} s."
            ),
            table=result.rows,
            columns=METRIC_COLUMNS,
            links=[("metrics.csv", "metrics.csv"), ("metrics.json", "metrics.json")],
        ),
    ]
    models = [
        {
            "model": name,
            "states": "±1" if e.binary else "real",
            "energy": e.energy,
            "paper": e.paper,
        }
        for name, e in ((n, zoo.get_entry(n)) for n in config.models)
        if name not in result.skipped
    ]
    sections.append(report.ReportSection("Models", table=models))
    if result.skipped:
        sections.append(
            report.ReportSection(
                "Skipped models", text="; ".join(f"{k}: {v}" for k, v in result.skipped.items())
            )
        )
    for corruption in config.corruptions:
        images = [f"grid_{corruption.slug}.png"]
        if f"energy_{corruption.slug}" in result.files:
            images.append(f"energy_{corruption.slug}.png")
        sections.append(report.ReportSection(f"Recall from {corruption.label}", images=images))
    result.files["index"] = report.write_index_html(out, config.title, sections)


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
        default=_DEFAULT_CORRUPTION_TEXT,
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
        if args.corruptions != _DEFAULT_CORRUPTION_TEXT:
            overrides["corruptions"] = corruptions
    config = config_from_args(args, **overrides)
    result = run_demo(config)
    print(report.metrics_markdown(result.rows, METRIC_COLUMNS))
    for name, reason in result.skipped.items():
        print(f"skipped {name}: {reason}")
    print(f"\nwrote {Path(config.out) / 'index.html'} in {result.wall_s:.1f} s")
    return 0
