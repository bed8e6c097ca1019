"""ET vs ViT masked autoencoders: baselines, sizing, identical training plans, the study."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from hopfield.experiments.et_vs_mae.baselines import knn_inpaint, mean_training_image
from hopfield.experiments.et_vs_mae.compare import (
    CompareConfig,
    batch_plan,
    build_models,
    train_model,
)
from hopfield.experiments.et_vs_mae.vit_mae import vit_matching_parameters
from hopfield.experiments.params import count_parameters
from hopfield.models.energy_transformer_patches import random_patch_mask

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("HOPFIELD_DATA", REPO.parent / "shared" / "data"))
QUICK_FLAGS = ("--data-root", str(DATA), "--datasets", "mnist", "--steps", "6", "--seeds", "1")
"""A tiny ``--quick`` run (shared with the runner's file-set test)."""


def test_knn_inpaint_matches_brute_force_on_visible_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    memory = torch.rand(40, 6, 4, generator=g)
    queries = torch.rand(5, 6, 4, generator=g)
    mask = random_patch_mask(5, 6, 0.5, generator=g)
    filled = knn_inpaint(queries, mask, memory, k=3, chunk=7)  # several chunks
    for b in range(5):
        visible = ~mask[b]
        dist = (memory[:, visible] - queries[b, visible]).square().sum(dim=(1, 2))
        nearest = dist.topk(3, largest=False).indices
        expected = memory[nearest].mean(dim=0)
        torch.testing.assert_close(filled[b, mask[b]], expected[mask[b]])
        torch.testing.assert_close(filled[b, visible], queries[b, visible])


def test_knn_of_a_stored_image_recovers_it_exactly() -> None:
    memory = torch.rand(30, 9, 4, generator=torch.Generator().manual_seed(1))
    mask = random_patch_mask(30, 9, 0.5, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(knn_inpaint(memory, mask, memory, k=1), memory)


def test_mean_training_image_fills_only_hidden_patches() -> None:
    patches, mean = torch.rand(2, 4, 3), torch.full((4, 3), 7.0)
    mask = torch.tensor([[True, False, False, True], [False, False, True, False]])
    out = mean_training_image(patches, mask, mean)
    assert (out[mask] == 7.0).all() and torch.equal(out[~mask], patches[~mask])


@pytest.mark.parametrize(("target", "depth"), [(30_000, 2), (300_000, 4)])
def test_vit_is_sized_to_the_target_parameter_count(target: int, depth: int) -> None:
    model = vit_matching_parameters(target, 28, 4, 1, depth=depth)
    assert abs(count_parameters(model) - target) / target < 0.1
    assert len(model.blocks) == depth


def test_models_are_sized_against_the_et_and_see_identical_plans() -> None:
    config = CompareConfig(steps=3, batch_size=4, eval_every=3, num_memories=32, et_steps=2)
    train = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    models = build_models(config, (1, 28, 28), train, seed=0)
    et = count_parameters(models["et"])
    assert abs(count_parameters(models["vit-same"]) - et) / et < 0.1
    assert 8 < count_parameters(models["vit-10x"]) / et < 12
    first, second = batch_plan(config, 20, 49, 5), batch_plan(config, 20, 49, 5)
    pairs = zip(first, second, strict=True)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in pairs)
    mask = random_patch_mask(6, 49, 0.5, generator=torch.Generator().manual_seed(4))
    run = train_model("et", models["et"], train, first, (train[:6], mask), config)
    assert [s for s, _, _ in run.curve] == [0, 3] and run.params == et
    assert run.mse_within(0.0) == run.curve[0][2]


@pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason=f"MNIST not found under {DATA}")
def test_quick_study_writes_the_report(quick_study: Any) -> None:
    run = quick_study("et-vs-mae", *QUICK_FLAGS)
    tmp_path = run.out
    assert run.code == 0
    for name in ("results.json", "results.csv", "summary.md", "index.html", "curves.png"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "inpainting_mnist.png").is_file()
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    models = {row["model"] for row in rows}
    assert {"et", "vit-same", "vit-10x", "mean-of-visible", "mean-train-image", "knn-5"} <= models
    assert all(row["masked_mse"] > 0 for row in rows)
