"""Retrieval normalisers as option objects: equality, shorthands, configs, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hopfield
from hopfield.nn import Hopfield
from hopfield.ops import normalizers
from hopfield.ops.normalizers import (
    NORMALIZERS,
    Entmax15,
    Normalizer,
    Softmax,
    Sparsemax,
    as_normalizer,
    with_top_k,
)

OBJECTS = [Softmax(), Sparsemax(), Entmax15(), Sparsemax(top_k=8), Entmax15(top_k=2)]


def test_the_names_are_defined_once_and_every_layer_reads_them() -> None:
    from hopfield.nn import energies
    from hopfield.ops import topk

    assert tuple(cls.name for cls in (Softmax, Sparsemax, Entmax15)) == NORMALIZERS
    assert topk.NORMALIZERS is NORMALIZERS and energies.NORMALIZERS is NORMALIZERS


@pytest.mark.parametrize("name", NORMALIZERS)
def test_the_string_shorthand_is_the_object(name: str) -> None:
    retrieval = as_normalizer(name)
    assert isinstance(retrieval, Normalizer) and retrieval.name == name
    assert retrieval == {"softmax": Softmax, "sparsemax": Sparsemax, "entmax15": Entmax15}[name]()
    assert as_normalizer(retrieval) is retrieval
    layer_by_name = Hopfield(8, normalizer=name, top_k=3)
    layer_by_object = Hopfield(8, normalizer=type(retrieval)(top_k=3))
    assert layer_by_name.get_config() == layer_by_object.get_config()


@pytest.mark.parametrize("retrieval", OBJECTS, ids=repr)
def test_equality_repr_and_config_round_trip(retrieval: Normalizer) -> None:
    assert eval(repr(retrieval), vars(normalizers)) == retrieval
    config = retrieval.to_config()
    assert config == {"name": retrieval.name, "top_k": retrieval.top_k}
    assert Normalizer.from_config(config) == retrieval
    assert retrieval != Sparsemax(top_k=5) and hash(retrieval) == hash(
        type(retrieval)(retrieval.top_k)
    )


@pytest.mark.parametrize("retrieval", OBJECTS, ids=repr)
def test_a_layer_with_the_object_survives_save_and_load(
    retrieval: Normalizer, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    layer = Hopfield(8, num_heads=2, normalizer=retrieval).eval()
    path = tmp_path / "layer.pt"
    hopfield.save(layer, path)
    loaded = hopfield.load(path)
    assert isinstance(loaded, Hopfield)
    assert (loaded.normalizer, loaded.top_k) == (retrieval.name, retrieval.top_k)
    assert with_top_k(loaded.normalizer, loaded.top_k) == retrieval
    x = torch.randn(2, 5, 8)
    assert torch.equal(loaded(x), layer(x))


def test_association_takes_a_normaliser_and_reads_like_the_paper() -> None:
    torch.manual_seed(1)
    by_association = Hopfield(8, association=Sparsemax(top_k=2)).eval()
    torch.manual_seed(1)
    by_options = Hopfield(8, normalizer="sparsemax", top_k=2).eval()
    assert by_association.association is None
    assert by_association.get_config() == by_options.get_config()
    x = torch.randn(1, 4, 8)
    assert torch.equal(by_association(x), by_options(x))
    with pytest.raises(ValueError, match="association is a normaliser"):
        Hopfield(8, normalizer="entmax15", association=Sparsemax())
    with pytest.raises(ValueError, match="association is a normaliser"):
        Hopfield(8, top_k=2, association=Sparsemax())


def test_unknown_names_and_bad_settings_are_rejected_naming_the_argument() -> None:
    with pytest.raises(ValueError, match=r"normalizer must be one of .*'softmaxx'"):
        as_normalizer("softmaxx")
    with pytest.raises(ValueError, match="retrieval must be one of"):
        Normalizer.from_config({"name": "relu"}, argument="retrieval")
    with pytest.raises(ValueError, match="normalizer must be one of"):
        Hopfield(8, normalizer="gumbel")
    with pytest.raises(ValueError, match="normalizer must be one of"):
        as_normalizer(3)
    with pytest.raises(ValueError, match="top_k"):
        Sparsemax(top_k=0)
    with pytest.raises(TypeError, match="top_k"):
        Entmax15(top_k=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="contradicts"):
        Hopfield(8, normalizer=Sparsemax(top_k=4), top_k=2)
    assert with_top_k(Sparsemax(top_k=4), 4) == Sparsemax(top_k=4)
    assert with_top_k("entmax15", 4) == Entmax15(top_k=4)


@pytest.mark.parametrize("retrieval", [Softmax(), Sparsemax(), Entmax15()], ids=repr)
def test_the_kernelized_memory_takes_the_object_or_its_name(retrieval: Normalizer) -> None:
    from hopfield.models import KernelizedHopfield

    torch.manual_seed(2)
    patterns = torch.randn(5, 6)
    queries = patterns + 0.1 * torch.randn(5, 6)
    by_object = KernelizedHopfield(8, normalizer=retrieval)
    by_name = KernelizedHopfield(8, normalizer=retrieval.name)  # type: ignore[arg-type]
    assert by_object.normalizer == by_name.normalizer == retrieval.name
    for memory in (by_object, by_name):
        torch.manual_seed(3)
        memory.store(patterns)
    assert torch.equal(by_name.recall(queries).states, by_object.recall(queries).states)
    with pytest.raises(ValueError, match="normalizer takes no top_k"):
        KernelizedHopfield(8, normalizer=Sparsemax(top_k=2))
    with pytest.raises(ValueError, match="normalizer must be one of"):
        KernelizedHopfield(8, normalizer="relu")  # type: ignore[arg-type]


def test_modern_hopfield_takes_normalizer_objects() -> None:
    from hopfield.models import ModernHopfield
    from hopfield.ops.normalizers import Entmax15, Sparsemax

    patterns = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    queries = patterns[:3] + 0.1
    by_object = ModernHopfield(2.0, normalizer=Sparsemax(top_k=4))
    by_name = ModernHopfield(2.0, normalizer="sparsemax", top_k=4)
    for model in (by_object, by_name):
        model.store(patterns)
    assert by_object.get_config() == by_name.get_config()
    torch.testing.assert_close(by_object.step(queries), by_name.step(queries))
    assert ModernHopfield(1.0, normalizer=Entmax15()).normalizer == "entmax15"
    with pytest.raises(ValueError, match="contradicts normalizer"):
        ModernHopfield(1.0, normalizer=Sparsemax(top_k=4), top_k=5)
