"""hopfield.io: safetensors checkpoints, atomic writes, corruption detection, model registry."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from torch import nn

from hopfield.io import model_files as io

# --------------------------------------------------------------------------- helpers


def _sample_tensors() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {
        "f32": torch.randn(3, 4, generator=gen),
        "f64": torch.randn(5, generator=gen, dtype=torch.float64),
        "f16": torch.randn(2, 2, generator=gen).half(),
        "bf16": torch.randn(2, 3, generator=gen).bfloat16(),
        "i64": torch.randint(-100, 100, (7,), generator=gen),
        "mask": torch.rand(4, generator=gen) > 0.5,
        "scalar": torch.tensor(2.5),
        "empty": torch.empty(0, 8),
        "nan": torch.tensor([float("nan"), float("inf"), -0.0]),
    }


def _bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return a.detach().flatten().view(torch.uint8).tolist() == b.flatten().view(torch.uint8).tolist()


def _header_length(path: Path) -> int:
    return int(struct.unpack("<Q", path.read_bytes()[:8])[0])


@io.register_model
class _Toy(nn.Module):
    """A tiny registered model: a linear map plus a variable-size memory (empty buffer)."""

    def __init__(self, dim: int, hidden: list[int] | tuple[int, ...] = (3,)) -> None:
        super().__init__()
        self.dim = dim
        self.hidden = list(hidden)
        self.linear = nn.Linear(dim, self.hidden[0])
        self.register_buffer("patterns", torch.empty(0, dim))

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim, "hidden": self.hidden}

    def store(self, patterns: torch.Tensor) -> None:
        self.patterns = patterns.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = torch.softmax(x @ self.patterns.T, dim=-1) @ self.patterns
        return self.linear(scores)


@io.register_model
class _Resizing(nn.Module):
    """A registered model that resizes its memory itself in ``_load_from_state_dict``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("patterns", torch.zeros(1, dim))

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim}

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        stored = state_dict.get(prefix + "patterns")
        if stored is not None:
            self.patterns = torch.empty_like(stored)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.patterns.T


@io.register_model
class _Fixed(nn.Module):
    """A registered model whose weight shape is set by the config (no resizing)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.weight = nn.Parameter(torch.randn(dim, dim))

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim}


class _Unregistered(nn.Module):
    def get_config(self) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------- low level


def test_checkpoint_round_trip_is_bit_exact_for_every_dtype(tmp_path: Path) -> None:
    tensors = _sample_tensors()
    config = {"beta": 0.125, "steps": 3, "name": "lse", "dims": [1, 2], "nested": {"a": None}}
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, tensors, config)
    loaded, loaded_config = io.load_checkpoint(path)
    assert loaded_config == config
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert _bits_equal(loaded[name], tensor), name


def test_checkpoint_file_is_plain_safetensors_with_string_metadata(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"w": torch.ones(2)}, {"k": 1})
    with safetensors.safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        assert torch.equal(handle.get_tensor("w"), torch.ones(2))
    assert metadata["hopfield.format_version"] == io.FORMAT_VERSION
    assert json.loads(metadata["hopfield.config"]) == {"k": 1}
    assert len(metadata["hopfield.sha256"]) == 64


def test_checkpoint_saves_views_and_shared_storage(tmp_path: Path) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    tensors = {"base": base, "view": base[:, 1], "alias": base}
    path = tmp_path / "shared.safetensors"
    io.save_checkpoint(path, tensors, {})
    loaded, _ = io.load_checkpoint(path)
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor)


def test_map_location_moves_tensors(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"w": torch.ones(2)}, {})
    loaded, _ = io.load_checkpoint(path, map_location=torch.device("meta"))
    assert loaded["w"].device.type == "meta"


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"w": torch.zeros(3)}, {"v": 1})
    io.save_checkpoint(path, {"w": torch.ones(3)}, {"v": 2})
    loaded, config = io.load_checkpoint(path)
    assert config == {"v": 2} and torch.equal(loaded["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"w": torch.zeros(3)}, {"v": 1})
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint(path, {"w": torch.ones(3)}, {"v": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]


@pytest.mark.parametrize("cut", [1, 2, 100, "header", "all-but-7"])
def test_truncated_file_raises_value_error_naming_path(tmp_path: Path, cut: int | str) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"w": torch.randn(16, 4)}, {"k": 1})
    data = path.read_bytes()
    if cut == "header":
        keep = 8 + _header_length(path) // 2
    elif cut == "all-but-7":
        keep = 7
    else:
        assert isinstance(cut, int)
        keep = len(data) - cut
    path.write_bytes(data[:keep])
    with pytest.raises(ValueError, match=str(path)):
        io.load_checkpoint(path)


@pytest.mark.parametrize("mask", [0x01, 0x20, 0xFF])
def test_every_flipped_header_byte_is_detected(tmp_path: Path, mask: int) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"weight": torch.randn(3, 2), "b": torch.ones(2)}, {"beta": 2.0})
    data = bytearray(path.read_bytes())
    end = 8 + _header_length(path)
    undetected = []
    for position in range(end):
        corrupted = bytearray(data)
        corrupted[position] ^= mask
        path.write_bytes(bytes(corrupted))
        try:
            io.load_checkpoint(path)
        except ValueError as exc:
            assert str(path) in str(exc)
        else:
            undetected.append(position)
    assert undetected == [], f"flips at {undetected} of {end} header bytes went unnoticed"


def test_flipped_tensor_byte_is_detected_by_checksum(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"w": torch.randn(64)}, {})
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        io.load_checkpoint(path)


def test_changed_version_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    tensors = {"w": torch.ones(2)}
    metadata = {"hopfield.format_version": "999", "hopfield.config": "{}"}
    metadata["hopfield.sha256"] = io._checksum(tensors, metadata)
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))
    with pytest.raises(ValueError, match=r"format version '999'"):
        io.load_checkpoint(path)


def test_foreign_safetensors_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.ones(2)}, str(path))
    with pytest.raises(ValueError, match="not a hopfield checkpoint"):
        io.load_checkpoint(path)


class _Payload:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.target, "w"))


def test_pickle_is_never_executed(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(_Payload(str(target))))
    with pytest.raises(ValueError):
        io.load_checkpoint(path)
    with pytest.raises(ValueError):
        io.load(path)
    assert not target.exists()


@pytest.mark.parametrize(
    ("tensors", "config", "match"),
    [
        ({"w": [1.0]}, {}, r"tensors\['w'\] must be a torch.Tensor"),
        ({1: torch.ones(1)}, {}, "keys must be str"),
        ({"w": torch.ones(1)}, {"f": object()}, "config must be JSON-serialisable"),
        ({"w": torch.ones(1)}, [1, 2], "config must be a dict"),
    ],
)
def test_bad_checkpoint_arguments_raise_type_error(
    tmp_path: Path, tensors: Any, config: Any, match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        io.save_checkpoint(tmp_path / "x.safetensors", tensors, config)
    assert not (tmp_path / "x.safetensors").exists()


# --------------------------------------------------------------------------- models


def test_model_round_trip_is_bit_exact_with_identical_outputs(tmp_path: Path) -> None:
    model = _Toy(4, hidden=(5,))
    model.store(torch.randn(9, 4))
    model.eval()
    path = tmp_path / "toy.safetensors"
    io.save(model, path)
    loaded = io.load(path)
    assert isinstance(loaded, _Toy) and not loaded.training
    assert loaded.get_config() == model.get_config()
    for name, tensor in model.state_dict().items():
        assert _bits_equal(loaded.state_dict()[name], tensor), name
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), model(x))


def test_model_training_flag_round_trips(tmp_path: Path) -> None:
    model = _Toy(2)
    model.store(torch.randn(3, 2))
    path = tmp_path / "toy.safetensors"
    io.save(model.train(), path)
    assert io.load(path).training


def test_model_with_own_resizing_loader_round_trips(tmp_path: Path) -> None:
    model = _Resizing(3)
    model.patterns = torch.randn(11, 3)
    path = tmp_path / "resizing.safetensors"
    io.save(model, path)
    loaded = io.load(path)
    assert isinstance(loaded, _Resizing)
    assert torch.equal(loaded.patterns, model.patterns)


def test_model_cast_to_float64_round_trips(tmp_path: Path) -> None:
    model = _Toy(3).double()
    model.store(torch.randn(4, 3, dtype=torch.float64))
    path = tmp_path / "toy64.safetensors"
    io.save(model, path)
    loaded = io.load(path)
    assert isinstance(loaded, _Toy)
    assert loaded.linear.weight.dtype == torch.float64
    assert torch.equal(loaded.linear.weight, model.linear.weight)


def test_mismatched_shapes_raise_value_error(tmp_path: Path) -> None:
    path = tmp_path / "fixed.safetensors"
    io.save(_Fixed(3), path)
    tensors, _ = io.load_checkpoint(path)
    metadata = {
        "hopfield.config": json.dumps({"dim": 2}),
        "hopfield.class": io._class_path(_Fixed),
        "hopfield.training": "true",
    }
    io._write(path, tensors, metadata)
    with pytest.raises(ValueError, match=r"size mismatch for weight"):
        io.load(path)


def test_mismatched_names_raise_value_error(tmp_path: Path) -> None:
    path = tmp_path / "fixed.safetensors"
    metadata = {
        "hopfield.config": json.dumps({"dim": 2}),
        "hopfield.class": io._class_path(_Fixed),
    }
    io._write(path, {"weights": torch.ones(2, 2)}, metadata)
    with pytest.raises(ValueError, match=r"missing \['weight'\], unexpected \['weights'\]"):
        io.load(path)


def test_mismatched_dtype_raises_value_error(tmp_path: Path) -> None:
    path = tmp_path / "fixed.safetensors"
    metadata = {
        "hopfield.config": json.dumps({"dim": 2}),
        "hopfield.class": io._class_path(_Fixed),
    }
    io._write(path, {"weight": torch.ones(2, 2, dtype=torch.int32)}, metadata)
    with pytest.raises(ValueError, match=r"'weight' has dtype torch.int32"):
        io.load(path)


@pytest.mark.parametrize(
    "name", ["os.system", "builtins.eval", "tests.io.test_model_files._Unregistered"]
)
def test_unknown_class_raises_value_error_without_importing(tmp_path: Path, name: str) -> None:
    path = tmp_path / "evil.safetensors"
    io._write(path, {}, {"hopfield.config": "{}", "hopfield.class": name})
    with pytest.raises(ValueError, match="is not registered"):
        io.load(path)


def test_unregistered_model_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="register_model"):
        io.save(_Unregistered(), tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"nn\.Module"):
        io.save("not a module", tmp_path / "x.safetensors")  # type: ignore[arg-type]


def test_register_model_rejects_non_modules_and_missing_get_config() -> None:
    with pytest.raises(TypeError, match=r"nn\.Module subclass"):
        io.register_model(int)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="get_config"):
        io.register_model(nn.Linear)


def test_checkpoint_without_class_is_rejected_by_load(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, {"w": torch.ones(1)}, {})
    with pytest.raises(ValueError, match="no model class"):
        io.load(path)


def test_bad_config_for_class_raises_value_error(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    metadata = {"hopfield.config": json.dumps({"nope": 1}), "hopfield.class": io._class_path(_Toy)}
    io._write(path, {}, metadata)
    with pytest.raises(ValueError, match=r"could not construct _Toy"):
        io.load(path)


def test_registered_models_lists_builtins_and_user_classes() -> None:
    names = io.registered_models()
    assert "hopfield.nn.hopfield.Hopfield" in names
    assert io._class_path(_Toy) in names


# --------------------------------------------------------------------------- built-in models


def _signs(*shape: int) -> torch.Tensor:
    return torch.where(torch.rand(*shape) < 0.5, -1.0, 1.0)


def _build_classical(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(16, update="sync", threshold=0.1)
    model.store(_signs(4, 16))
    states = _signs(3, 16)
    return model, {"energy": (states,), "step": (states,)}


def _build_dense(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(16, update="sync")
    model.store(_signs(5, 16))
    states = _signs(3, 16)
    return model, {"energy": (states,), "step": (states,)}


def _build_sedam(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(16, beta=0.5, noise="glauber", intensity=0.2, seed=4)
    model.store(_signs(5, 16))
    return model, {"energy": (_signs(3, 16),)}


def _build_kuramoto(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(12, quartic=0.5, dt=0.02, seed=2).double()
    model.store(_signs(3, 12).double())
    phases = torch.rand(2, 12, dtype=torch.float64) * 6.0
    return model, {"energy": (phases,), "energy_grad": (phases,)}


def _build_continuous(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(beta=2.0)
    model.store(torch.randn(7, 8, dtype=torch.float64))
    states = torch.randn(3, 8, dtype=torch.float64)
    return model, {"energy": (states,), "step": (states,)}


def _build_linear(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(8, 4)
    model.store(torch.randn(6, 8), torch.randn(6, 4))
    return model, {"retrieve": (torch.randn(3, 8),)}


def _build_random_features(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(8, 32, beta=0.5, seed=3)
    model.store(torch.randn(10, 8))
    return model, {"energy": (torch.randn(3, 8),)}


def _build_energy_transformer(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(8, 4, num_features=16, num_heads=2, head_dim=4, num_memories=8, steps=2).eval()
    return model, {"forward": (torch.rand(2, 1, 8, 8),)}


def _build_hopfield(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(8, num_heads=2, update_steps=2, learnable_beta=True, normalize_patterns=True)
    return model.eval(), {"forward": (torch.randn(2, 3, 8), torch.randn(2, 5, 8))}


def _build_pooling(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(8, num_queries=2, num_heads=2, stored_dim=6, flatten=True)
    return model.eval(), {"forward": (torch.randn(2, 5, 6),)}


def _build_lookup(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(8, 12, num_heads=4, dropout=0.1)
    return model.eval(), {"forward": (torch.randn(2, 8),)}


def _build_encoder(cls: Any) -> tuple[Any, dict[str, Any]]:
    model = cls(8, 2, 16, dropout=0.0)
    return model.eval(), {"forward": (torch.randn(2, 5, 8),)}


def _build_ham(cls: Any) -> tuple[Any, dict[str, Any]]:
    from hopfield.core import DenseMemorySynapse, Exp, Neurons, SphericalNorm

    model = cls(
        neurons={"v": Neurons(8, SphericalNorm(8)), "h": Neurons(4, Exp(2.0))},
        synapses={"memory": DenseMemorySynapse(6, 8, beta=4.0)},
        connections=[(("v",), "memory")],
    )
    states = {"v": torch.randn(3, 8), "h": torch.randn(3, 4)}
    return model, {"energy": (states,)}


_BUILDERS = {
    "hopfield.models.classical.ClassicalHopfield": _build_classical,
    "hopfield.models.dense.DenseAssociativeMemory": _build_dense,
    "hopfield.models.stochastic_dense.StochasticExponentialAM": _build_sedam,
    "hopfield.models.kuramoto.KuramotoMemory": _build_kuramoto,
    "hopfield.models.modern.ModernHopfield": _build_continuous,
    "hopfield.models.epanechnikov.LogSumReLUMemory": _build_continuous,
    "hopfield.models.linear.LinearAssociativeMemory": _build_linear,
    "hopfield.models.random_features.RandomFeatureMemory": _build_random_features,
    "hopfield.models.energy_transformer.EnergyTransformer": _build_energy_transformer,
    "hopfield.nn.hopfield.Hopfield": _build_hopfield,
    "hopfield.nn.pooling.HopfieldPooling": _build_pooling,
    "hopfield.nn.lookup.HopfieldLayer": _build_lookup,
    "hopfield.nn.transformer.HopfieldEncoderLayer": _build_encoder,
    "hopfield.nn.energy_transformer_layer.EnergyTransformerEncoderLayer": _build_encoder,
    "hopfield.core.graph.HAM": _build_ham,
}


def _tensors_of(value: Any) -> list[torch.Tensor]:
    """Every tensor in a method's result (tensor, tuple, dataclass)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for item in value for t in _tensors_of(item)]
    if hasattr(value, "__dataclass_fields__"):
        return [t for name in value.__dataclass_fields__ for t in _tensors_of(getattr(value, name))]
    return []


def test_the_builders_name_builtin_models() -> None:
    # Every built-in class round-trips in tests/io/test_pretrained.py (which checks the
    # coverage); the builders here add the save/load details (config, train flag).
    assert set(_BUILDERS) <= set(io.BUILTIN_MODELS)


@pytest.mark.parametrize("name", sorted(_BUILDERS))
def test_builtin_model_round_trip_is_bit_exact(tmp_path: Path, name: str) -> None:
    module_name, _, class_name = name.rpartition(".")
    module = pytest.importorskip(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        pytest.skip(f"{name} not implemented yet")
    torch.manual_seed(0)
    model, calls = _BUILDERS[name](cls)
    path = tmp_path / "model.safetensors"
    io.save(model, path)
    loaded: Any = io.load(path)
    assert type(loaded) is cls
    assert loaded.training == model.training
    configs = [json.dumps(m.get_config(), sort_keys=True) for m in (loaded, model)]
    assert configs[0] == configs[1]
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert list(loaded_state) == list(state)
    for key, tensor in state.items():
        assert _bits_equal(loaded_state[key], tensor), key
    for method, args in calls.items():
        with torch.no_grad():
            ours = _tensors_of(getattr(loaded, method)(*args))
            theirs = _tensors_of(getattr(model, method)(*args))
        assert ours and len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert _bits_equal(a, b), method
