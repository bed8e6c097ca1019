"""Separations as option objects: equality, shorthands, configs, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hopfield
from hopfield.core import separation as module
from hopfield.core.separation import (
    SEPARATIONS,
    Exponential,
    Polynomial,
    RectifiedPolynomial,
    ReLUSquared,
    Separation,
    as_separation,
)
from hopfield.data.generators import random_bipolar
from hopfield.models import DenseAssociativeMemory
from hopfield.nn.energy_transformer_layer import GELUIntegral

OBJECTS = [Polynomial(), Polynomial(4), RectifiedPolynomial(2), ReLUSquared(), Exponential(0.7)]
DEFAULTS = {
    "polynomial": Polynomial(3),
    "rectified_polynomial": RectifiedPolynomial(3),
    "relu_squared": ReLUSquared(),
    "exponential": Exponential(1.0),
}


@pytest.mark.parametrize("name", SEPARATIONS)
def test_the_string_shorthand_is_the_object_with_default_settings(name: str) -> None:
    assert set(SEPARATIONS) == set(DEFAULTS)
    assert as_separation(name) == DEFAULTS[name]
    assert as_separation(DEFAULTS[name]) is DEFAULTS[name]
    by_name = DenseAssociativeMemory(12, separation=name)
    by_object = DenseAssociativeMemory(12, separation=DEFAULTS[name])
    assert by_name.get_config() == by_object.get_config()


@pytest.mark.parametrize("separation", OBJECTS, ids=repr)
def test_equality_repr_and_config_round_trip(separation: Separation) -> None:
    assert eval(repr(separation), vars(module)) == separation
    config = separation.to_config()
    assert config["name"] == separation.name
    assert Separation.from_config(config) == separation
    assert hash(Separation.from_config(config)) == hash(separation)
    assert separation != Polynomial(5) and separation != GELUIntegral()
    z = torch.linspace(-1.0, 1.0, 7)
    assert torch.equal(Separation.from_config(config)(z), separation(z))


@pytest.mark.parametrize("separation", OBJECTS, ids=repr)
def test_a_memory_with_the_object_survives_save_and_load(
    separation: Separation, tmp_path: Path
) -> None:
    model = DenseAssociativeMemory(16, separation=separation, update="sync")
    patterns = random_bipolar(3, 16, seed=2)
    model.store(patterns)
    hopfield.save(model, tmp_path / "dense.pt")
    loaded = hopfield.load(tmp_path / "dense.pt")
    assert isinstance(loaded, DenseAssociativeMemory)
    assert loaded.separation == separation
    assert torch.equal(loaded.energy(patterns), model.energy(patterns))


def test_unknown_names_and_unsaveable_separations_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"separation must be one of .*'cubic'"):
        as_separation("cubic")
    with pytest.raises(ValueError, match="sep must be one of"):
        Separation.from_config({"name": "relu3"}, argument="sep")
    with pytest.raises(ValueError, match="separation must be one of"):
        as_separation(None)
    with pytest.raises(ValueError, match="separation must be one of"):
        DenseAssociativeMemory(8, separation="quartic")
    with pytest.raises(TypeError, match="cannot serialise"):
        GELUIntegral().to_config()
