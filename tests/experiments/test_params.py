"""``hopfield params``: the slide's parameter table from instantiated modules."""

from __future__ import annotations

import pytest
import torch

from hopfield.cli import main
from hopfield.experiments.params import (
    TransformerMIM,
    build_models,
    count_parameters,
    format_millions,
    parameter_table,
)

SLIDE = {
    "ViT-Base": ("86.28M", "7.08M"),
    "ALBERT ViT-Base": ("8.41M", "7.08M"),
    "Energy Transformer": ("4.87M", "3.54M"),
}


def test_parameter_table_reproduces_the_slide() -> None:
    rows = {row.name: row for row in parameter_table()}
    assert set(rows) == set(SLIDE)
    for name, (total, per_block) in SLIDE.items():
        assert format_millions(rows[name].total) == total, name
        assert format_millions(rows[name].per_block) == per_block, name


def test_counts_come_from_modules_and_shared_block_is_counted_once() -> None:
    models = build_models()
    vit, vit_block = models["ViT-Base"]
    albert, _ = models["ALBERT ViT-Base"]
    et, et_block = models["Energy Transformer"]
    front_end = count_parameters(vit) - 12 * count_parameters(vit_block)
    assert count_parameters(albert) == front_end + count_parameters(vit_block)
    assert count_parameters(et) == front_end + count_parameters(et_block)
    # ET block: W_Q, W_K (12x64x768 each), Xi (3072x768), gamma and delta (1 + 768)
    assert count_parameters(et_block) == 2 * 12 * 64 * 768 + 3072 * 768 + 1 + 768
    assert next(vit.parameters()).device.type == "meta"


def test_format_millions_rounds_to_two_decimals() -> None:
    assert format_millions(86_284_800) == "86.28M"
    assert format_millions(3_539_713) == "3.54M"


def test_transformer_reference_runs_and_shares_its_block() -> None:
    torch.manual_seed(0)
    model = TransformerMIM(8, 2, 1, 16, 2, 32, 3, shared=True)
    assert len(model.blocks) == 1
    out = model(torch.rand(2, 1, 8, 8), torch.zeros(2, 16, dtype=torch.bool))
    assert out.shape == (2, 16, 4)


def test_cli_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params"]) == 0
    printed = capsys.readouterr().out
    for total, per_block in SLIDE.values():
        assert total in printed and per_block in printed
