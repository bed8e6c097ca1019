"""Training the Energy Transformer: smoke run, checkpoints, resume, report, acceptance."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from hopfield.cli import main
from hopfield.experiments.train_et import (
    TrainConfig,
    build_model,
    load_training_checkpoint,
    mean_of_visible_baseline,
    save_training_checkpoint,
    train,
)
from hopfield.experiments.train_et_eval import strongest_baseline
from hopfield.models.energy_transformer_patches import random_patch_mask

TINY = TrainConfig(
    steps=4,
    batch_size=8,
    num_features=16,
    num_heads=2,
    head_dim=8,
    num_memories=32,
    et_steps=2,
    eval_every=2,
    eval_images=32,
    checkpoint_every=2,
    warmup=1,
    device="cpu",
)


def _quiet(_: str) -> None:
    pass


def test_mean_of_visible_baseline_fills_masked_patches_with_visible_mean() -> None:
    patches = torch.tensor([[[1.0, 3.0], [5.0, 7.0], [0.0, 0.0]]])  # 1 image, 3 patches, C=1
    mask = torch.tensor([[False, False, True]])
    filled = mean_of_visible_baseline(patches, mask, channels=1)
    assert torch.equal(filled[0, :2], patches[0, :2])
    assert torch.equal(filled[0, 2], torch.tensor([4.0, 4.0]))
    two_channels = torch.tensor([[[1.0, 10.0], [3.0, 20.0], [0.0, 0.0]]])  # C=2, p=1
    filled = mean_of_visible_baseline(two_channels, mask, channels=2)
    assert torch.equal(filled[0, 2], torch.tensor([2.0, 15.0]))


def test_smoke_training_writes_report_and_checkpoint(tmp_path: Path) -> None:
    result = train(TINY, out_dir=tmp_path, progress=False, log=_quiet)
    for name in (
        "checkpoint.safetensors",
        "metrics.json",
        "metrics.csv",
        "metrics.md",
        "reconstructions.png",
        "energy.png",
        "memories.png",
        "token_energy.png",
        "history.csv",
    ):
        assert (tmp_path / name).is_file(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert {"et", "mean_of_visible", "train_mean_image", "knn", "ratio"} <= set(metrics)
    best, ratio = strongest_baseline(metrics)
    assert metrics[best] == min(metrics[k] for k in ("mean_of_visible", "train_mean_image", "knn"))
    assert ratio == pytest.approx(metrics[best] / metrics["et"])
    assert "strongest non-learned baseline" in (tmp_path / "metrics.md").read_text()
    assert [h["step"] for h in result.history] == [2, 4]
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)


def test_checkpoint_round_trip_gives_identical_outputs_and_optimizer_state(tmp_path: Path) -> None:
    result = train(TINY, progress=False, log=_quiet)
    model = result.model
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.rand(2, 1, 8, 8)).patches.sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    generator = torch.Generator().manual_seed(5)
    path = tmp_path / "ckpt.safetensors"
    save_training_checkpoint(
        path, model, optimizer, step=4, config=TINY, generator=generator, history=result.history
    )
    images = torch.rand(3, 1, 8, 8)
    mask = random_patch_mask(3, 16, 0.5, generator=torch.Generator().manual_seed(1))
    fresh = build_model(TINY, torch.rand(10, 1, 8, 8))
    fresh_opt = torch.optim.AdamW(fresh.parameters())
    fresh_gen = torch.Generator()
    meta = load_training_checkpoint(path, fresh, fresh_opt, config=TINY, generator=fresh_gen)
    assert meta["step"] == 4
    with torch.no_grad():
        assert torch.equal(fresh(images, mask).patches, model(images, mask).patches)
    for p_old, p_new in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(
            optimizer.state[p_old]["exp_avg_sq"], fresh_opt.state[p_new]["exp_avg_sq"]
        )
    assert torch.equal(fresh_gen.get_state(), generator.get_state())


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    straight = train(TINY, progress=False, report=False, log=_quiet).model
    train(TINY, out_dir=tmp_path, progress=False, report=False, stop_after=2, log=_quiet)
    resumed = train(
        TINY, resume=tmp_path / "checkpoint.safetensors", progress=False, report=False, log=_quiet
    ).model
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=name)


def test_corrupted_or_mismatched_checkpoint_gives_clear_error(tmp_path: Path) -> None:
    train(TINY, out_dir=tmp_path, progress=False, report=False, stop_after=2, log=_quiet)
    path = tmp_path / "checkpoint.safetensors"
    model = build_model(TINY, torch.rand(10, 1, 8, 8))
    with pytest.raises(ValueError, match="num_features"):
        load_training_checkpoint(path, model, config=replace(TINY, num_features=32))
    other = build_model(replace(TINY, num_memories=16), torch.rand(10, 1, 8, 8))
    with pytest.raises(ValueError, match="does not match"):
        load_training_checkpoint(path, other)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    corrupted = tmp_path / "corrupted.safetensors"
    corrupted.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        load_training_checkpoint(corrupted, model)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="truncated"):
        load_training_checkpoint(truncated, model)


def test_cli_train_et_runs_and_prints_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "train",
        "et",
        "--dataset",
        "digits",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--num-features",
        "16",
        "--num-heads",
        "2",
        "--head-dim",
        "8",
        "--num-memories",
        "16",
        "--et-steps",
        "1",
        "--eval-every",
        "2",
        "--eval-images",
        "16",
        "--device",
        "cpu",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "mean of visible pixels" in printed and "Energy Transformer" in printed
    assert (tmp_path / "reconstructions.png").is_file()


def test_trained_model_energy_non_increasing() -> None:
    config = replace(TINY, steps=10, et_steps=3, eval_every=10)
    model = train(config, progress=False, report=False, log=_quiet).model.double()
    images = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    mask = random_patch_mask(4, 16, 0.5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        energies = model(images, mask, steps=100, alpha=0.5).energies
    assert (energies[1:] - energies[:-1]).max() <= 1e-12 * energies.abs().max()


# Acceptance (shortened): 50% of the digits' 2x2 patches masked, masked-patch MSE at
# least 2x below the mean-of-visible baseline. The full run is `hopfield train et`.
ACCEPTANCE = TrainConfig(steps=600, eval_every=600, device="cpu")


@pytest.mark.slow
def test_digits_masked_mse_at_least_twice_better_than_mean_of_visible(tmp_path: Path) -> None:
    result = train(ACCEPTANCE, out_dir=tmp_path, progress=False, log=_quiet)
    assert result.metrics["ratio"] >= 2.0, result.metrics
    images = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    mask = random_patch_mask(4, 16, 0.5, generator=torch.Generator().manual_seed(0))
    model = result.model.double()
    with torch.no_grad():
        energies = model(images, mask, steps=100, alpha=0.5).energies
    assert (energies[1:] - energies[:-1]).max() <= 1e-12 * energies.abs().max()


# ------------------------------------------------------------------ visualisation


def test_memory_patches_are_decoded_memories_and_maps_have_grid_shape() -> None:
    from hopfield.experiments.et_viz import memory_patches, mosaic, token_energies

    model = build_model(TINY, torch.rand(10, 1, 8, 8))
    patches = memory_patches(model, 5)
    assert patches.shape == (5, 1, 2, 2)
    xi = model.block.hopfield.memories[:5]
    expected = model.tokenizer.denormalize(model.decoder(xi).unsqueeze(0))[0]
    torch.testing.assert_close(patches.reshape(5, 4), expected.detach())
    images = torch.rand(3, 1, 8, 8)
    mask = random_patch_mask(3, 16, 0.5, generator=torch.Generator().manual_seed(0))
    maps = token_energies(model, images, mask)
    assert maps.shape == (3, 4, 4)
    with torch.no_grad():
        tokens = model(images, mask).tokens
        total = model.block.energy(tokens) - model.block.token_energies(tokens)[:, 0]
    torch.testing.assert_close(maps.sum(dim=(1, 2)), total)
    tiles = mosaic(torch.zeros(5, 1, 2, 2), cols=3, pad=1)
    assert tiles.shape == (1, 7, 10)
    assert tiles[0, 1:3, 1:3].eq(0).all() and tiles[0, 0].eq(1).all()
