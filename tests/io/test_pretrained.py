"""save_pretrained / from_pretrained: every zoo memory, every layer and a HAM graph
come back with bit-identical state and identical outputs; tampering is refused."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import hopfield
from hopfield.compat import hflayers
from hopfield.core import (
    HAM,
    DenseMemorySynapse,
    DenseSynapse,
    Exp,
    Neurons,
    Polynomial,
    SphericalNorm,
    descend,
)
from hopfield.io import PretrainedMixin, from_pretrained, register_model, save_pretrained
from hopfield.models import EnergyTransformer, registry
from hopfield.models.bures_wasserstein import commuting_gaussians_on_sphere
from hopfield.models.sparse_recovery import bounded_integer_dataset, sparse_corruption
from hopfield.nn import (
    EnergyTransformerEncoderLayer,
    Hopfield,
    HopfieldDecoderLayer,
    HopfieldEncoderLayer,
    HopfieldLayer,
    HopfieldPooling,
)
from hopfield.nn.binary_attention import BinaryCAMAttention
from hopfield.nn.gam import GAMBlock


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert torch.equal(sa[name], sb[name]), name
    assert a.training == b.training


def _round_trip(module: nn.Module, tmp_path: Path) -> nn.Module:
    directory = save_pretrained(module, tmp_path / "saved")
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    loaded = from_pretrained(directory)
    assert type(loaded) is type(module)
    _same_state(module, loaded)
    return loaded


def _memory_case(name: str) -> tuple[nn.Module, torch.Tensor, dict[str, Any]]:
    """Registry memory ``name`` with patterns stored: ``(model, queries, recall options)``."""
    generator = torch.Generator().manual_seed(0)
    state = registry.spec(name).state
    if state == "gaussian":
        means, covariances, _ = commuting_gaussians_on_sphere(4, 3, seed=0)
        model = registry.build(name, beta=2.0)
        model.store(means, covariances=covariances)
        return model, means[:2] + 0.1, {"covariances": covariances[:2].clone()}
    if state == "phase":
        patterns = torch.randint(0, 2, (4, 12), generator=generator).double() * 2 - 1
        model = registry.build(name, num_oscillators=12, quartic=1.0)
        model.store(patterns)
        return model, torch.remainder(model.encode(patterns[:2]) + 0.3, 2 * math.pi), {}
    if state == "constrained":
        data, _ = bounded_integer_dataset(24, 12, 4, seed=0)
        model = registry.build(name)
        model.store(data)
        return model, sparse_corruption(data[:2], 1, seed=1)[0], {}
    patterns = torch.randn(6, 16, generator=generator).sign()
    model = registry.build_memory(name, patterns)
    queries = patterns[:3].clone()
    queries[:, :4] *= -1
    return model, queries, {}


@pytest.mark.parametrize("name", registry.available())
def test_every_registry_memory_round_trips_with_identical_energy_and_recall(
    name: str, tmp_path: Path
) -> None:
    model, queries, options = _memory_case(name)
    loaded = _round_trip(model, tmp_path)
    before = model.recall(queries, max_steps=5, **options)
    after = loaded.recall(queries, max_steps=5, **options)
    assert torch.equal(before.states, after.states)
    assert torch.equal(before.energies, after.energies)


def _layers() -> dict[str, Callable[[], tuple[nn.Module, tuple[Any, ...]]]]:
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1))
    memory = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(2))
    encoder_options = {"dropout": 0.0, "beta": 0.7, "update_steps": 2}
    return {
        "Hopfield": lambda: (Hopfield(8, num_heads=2, update_steps=2), (x, x, x)),
        "HopfieldPooling": lambda: (HopfieldPooling(8, num_queries=2), (x,)),
        "HopfieldLayer": lambda: (HopfieldLayer(8, 4), (x,)),
        "HopfieldEncoderLayer": lambda: (HopfieldEncoderLayer(8, 2, 16, **encoder_options), (x,)),
        "HopfieldDecoderLayer": lambda: (
            HopfieldDecoderLayer(8, 2, 16, norm_first=True, **encoder_options),
            (x, memory),
        ),
        "EnergyTransformerEncoderLayer": lambda: (
            EnergyTransformerEncoderLayer(8, 2, 16, dropout=0.0, steps=2),
            (x,),
        ),
        "BinaryCAMAttention": lambda: (BinaryCAMAttention(8, 2, tile=4, k1=1, k2=3), (x, x, x)),
        "GAMBlock": lambda: (GAMBlock(8, 4, dropout=0.0), (x,)),
        "EnergyTransformer": lambda: (
            EnergyTransformer(8, 4, num_features=16, num_heads=2, head_dim=4, num_memories=8),
            (torch.rand(2, 1, 8, 8),),
        ),
        "hflayers.Hopfield": lambda: (
            hflayers.Hopfield(input_size=8, hidden_size=6, num_heads=2, update_steps_max=2),
            (x,),
        ),
        "hflayers.HopfieldPooling": lambda: (
            hflayers.HopfieldPooling(input_size=8, hidden_size=6, quantity=2),
            (x,),
        ),
        "hflayers.HopfieldLayer": lambda: (
            hflayers.HopfieldLayer(input_size=8, quantity=5, lookup_weights_as_separated=True),
            (x,),
        ),
    }


def test_the_cases_cover_every_builtin_class() -> None:
    memories = {_class_path(registry.spec(name).memory_class) for name in registry.available()}
    layers = set(hopfield.io.BUILTIN_MODELS) - memories - {_class_path(HAM)}
    built = {
        f"{type(m).__module__}.{type(m).__qualname__}" for m, _ in (f() for f in _layers().values())
    }
    assert built == layers


@pytest.mark.parametrize("name", list(_layers()))
def test_every_layer_round_trips_with_identical_forward(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    layer, inputs = _layers()[name]()
    layer.eval()
    with torch.no_grad():  # move every parameter off its initial value
        for parameter in layer.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    loaded = _round_trip(layer, tmp_path)
    with torch.no_grad():
        ours, theirs = layer(*inputs), loaded(*inputs)
    for a, b in zip(_tensors(ours), _tensors(theirs), strict=True):
        assert torch.equal(a, b)


def _tensors(output: Any) -> list[torch.Tensor]:
    """The tensors of a forward's result (a tensor, a tuple or a dataclass such as ETOutput)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if dataclasses.is_dataclass(output):
        output = [getattr(output, field.name) for field in dataclasses.fields(output)]
    return [t for t in output if isinstance(t, torch.Tensor)]


def _ham() -> HAM:
    torch.manual_seed(0)
    return HAM(
        neurons={"v": Neurons(8, SphericalNorm(8)), "h": Neurons(3, Exp(2.0), tau=0.5)},
        synapses={
            "memory": DenseMemorySynapse(5, 8, beta=4.0),
            "dense": DenseSynapse(8, 3),
            "poly": DenseMemorySynapse(4, 8, separation=Polynomial(3)),
        },
        connections=[(("v",), "memory"), (("v", "h"), "dense"), (("v",), "poly")],
    )


def test_a_ham_graph_round_trips_with_identical_energy_and_descent(tmp_path: Path) -> None:
    ham = _ham()
    with torch.no_grad():
        ham.neurons["v"].lagrangian.delta.add_(0.1)  # a trained parameter, not the default
    loaded = _round_trip(ham, tmp_path)
    assert loaded.connections == ham.connections
    assert loaded.neurons["h"].tau == 0.5
    generator = torch.Generator().manual_seed(2)
    xs = {"v": torch.randn(4, 8, generator=generator), "h": torch.randn(4, 3, generator=generator)}
    assert torch.equal(ham.energy(xs), loaded.energy(xs))
    before = descend(ham, xs, steps=3, step_size=0.1)
    after = descend(loaded, xs, steps=3, step_size=0.1)
    for layer in xs:
        assert torch.equal(before.states[layer], after.states[layer])


def test_hopfield_save_and_load_take_a_ham_and_an_encoder_layer(tmp_path: Path) -> None:
    for module in (_ham(), HopfieldEncoderLayer(8, 2, 16)):
        hopfield.save(module, tmp_path / "m.safetensors")
        _same_state(module, hopfield.load(tmp_path / "m.safetensors"))


def test_a_tampered_weights_file_fails_its_checksum(tmp_path: Path) -> None:
    directory = save_pretrained(_ham(), tmp_path / "saved")
    weights = directory / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        from_pretrained(directory)


def test_an_edited_config_json_is_refused(tmp_path: Path) -> None:
    directory = save_pretrained(HopfieldLayer(8, 4), tmp_path / "saved")
    config_path = directory / "config.json"
    description = json.loads(config_path.read_text())
    description["config"]["num_memories"] = 5
    config_path.write_text(json.dumps(description))
    with pytest.raises(ValueError, match="config differs"):
        from_pretrained(directory)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    directory = save_pretrained(HopfieldLayer(8, 4), tmp_path / "saved")
    (directory / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        from_pretrained(directory)


class _Unregistered(nn.Module):
    def get_config(self) -> dict[str, int]:
        return {}


def test_unknown_classes_are_refused_on_save_and_on_load(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not registered"):
        save_pretrained(_Unregistered(), tmp_path / "a")
    directory = save_pretrained(HopfieldLayer(8, 4), tmp_path / "saved")
    hopfield.save(HopfieldLayer(8, 4), directory / "model.safetensors")  # valid checksum
    # Rewrite the class name inside a freshly checksummed file: the allow-list refuses it.
    from hopfield.io.model_files import _KEY_CLASS, _KEY_CONFIG, _write

    tensors, config = hopfield.io.load_checkpoint(directory / "model.safetensors")
    _write(
        directory / "model.safetensors",
        tensors,
        {_KEY_CLASS: "os.system", _KEY_CONFIG: json.dumps(config)},
    )
    with pytest.raises(ValueError, match="not registered"):
        from_pretrained(directory)


def test_the_mixin_gives_registered_classes_both_methods(tmp_path: Path) -> None:
    @register_model
    class Scaled(PretrainedMixin, nn.Module):
        def __init__(self, size: int) -> None:
            super().__init__()
            self.size = size
            self.weight = nn.Parameter(torch.randn(size))

        def get_config(self) -> dict[str, int]:
            return {"size": self.size}

    model = Scaled(3)
    model.save_pretrained(tmp_path / "scaled")
    loaded = Scaled.from_pretrained(tmp_path / "scaled")
    _same_state(model, loaded)
    with pytest.raises(TypeError, match="not a Scaled"):
        Scaled.from_pretrained(save_pretrained(HopfieldLayer(8, 4), tmp_path / "other"))
