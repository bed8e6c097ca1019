"""The main job, ``hopfield demo``: store images, corrupt them, recall with every model.

Pipeline (``run_demo``):

1. load a bundled image set (default: 16 glyphs at 32×32, chosen greedily to be far
   apart in Hamming distance), map it to [−1, 1] (continuous patterns) and to ±1
   (binary patterns, ``+1`` where the pixel is above ½);
2. corrupt every pattern at several levels — bit flips (``x ↦ −x`` with probability
   p), occlusion of the bottom rows (filled with −1, the background), Gaussian
   noise — with one seeded generator, so all models see the same queries;
3. store the patterns in each registry model (:mod:`hopfield.models.registry`), recall from
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

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from hopfield.data.datasets import flatten, load_dataset, to_centered
from hopfield.data.generators import make_generator
from hopfield.experiments.demo_config import (
    DEFAULT_CORRUPTIONS,
    METRIC_COLUMNS,
    QUICK_SETTINGS,
    Corruption,
    DemoConfig,
    DemoResult,
    parse_corruption,
)
from hopfield.experiments.demo_report import RecallRun, write_figures, write_tables_and_index
from hopfield.models import registry

__all__ = [
    "DEFAULT_CORRUPTIONS",
    "METRIC_COLUMNS",
    "QUICK_SETTINGS",
    "Corruption",
    "DemoConfig",
    "DemoResult",
    "binarize",
    "corrupt",
    "evaluate",
    "parse_corruption",
    "prepare_patterns",
    "run_demo",
    "select_separated",
]


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


def _timed_recall(
    model: torch.nn.Module, queries: torch.Tensor, mask: torch.Tensor | None, config: DemoConfig
) -> tuple[Any, float]:
    device = torch.device(config.device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = registry.recall_memory(
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
        entry = registry.spec(name)
        stored = binary if entry.binary else continuous
        try:
            models[name] = registry.build_memory(
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
        registry.spec(name)
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
        runs: dict[str, RecallRun] = {}
        for name, model in models.items():
            bar.set_postfix_str(f"{name} {corruption.label}")
            entry = registry.spec(name)
            model_queries = (binarize(queries) if entry.binary else queries).to(config.device)
            mask = None if known is None else known.to(config.device)
            recalled, seconds = _timed_recall(model, model_queries, mask, config)
            states = recalled.states.detach().to("cpu", torch.float32)
            runs[name] = RecallRun(states, recalled.energies.detach().to("cpu", torch.float64))
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
        write_figures(config, result, corruption, continuous, queries, image_shape, runs)
    bar.close()
    result.wall_s = time.perf_counter() - start
    write_tables_and_index(config, result)
    return result
