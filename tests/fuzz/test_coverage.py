"""The fuzz suite covers every public memory of the registry, every public layer and
every public network of :mod:`hopfield.tasks`, and fuzzes the layers that take token
ids (the GAM and baseline language models).

The layers that take ``(B, L, E)`` tensors are fuzzed by ``tests/nn/test_layer_inputs.py``
(one input policy for all layers); this module checks that its table, together with
the token models below, reaches every public ``nn.Module`` of :mod:`hopfield.nn` and
:mod:`hopfield.compat.hflayers`, and that the memory fuzz reaches every name of
:func:`hopfield.models.registry.available`.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_memories import NAMES as VECTOR_MEMORIES
from test_structured_memories import CALLS as STRUCTURED_CALLS
from test_task_networks import NETWORKS as TASK_NETWORKS
from torch import nn

from hopfield.models import registry
from hopfield.nn.gam import GAMLanguageModel, TransformerLanguageModel

VOCAB, CONTEXT = 11, 6
TOKEN_MODELS: dict[str, Any] = {
    "GAMLanguageModel": lambda: GAMLanguageModel(VOCAB, 8, 1, 4, 3, CONTEXT, 0.0),
    "TransformerLanguageModel": lambda: TransformerLanguageModel(VOCAB, 8, 1, 2, CONTEXT, 0.0),
}


def _layer_table() -> ModuleType:
    path = Path(__file__).parents[1] / "nn" / "test_layer_inputs.py"
    spec = importlib.util.spec_from_file_location("fuzz_layer_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _public_modules(package: str) -> set[type]:
    """Public ``nn.Module`` classes defined in ``package`` and its submodules."""
    root = importlib.import_module(package)
    found: set[type] = set()
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            defined_here = inspect.isclass(obj) and obj.__module__ == module.__name__
            if defined_here and issubclass(obj, nn.Module) and not name.startswith("_"):
                found.add(obj)
    return found


def test_every_registry_memory_is_fuzzed() -> None:
    structured = {name.split(".")[0] for name in STRUCTURED_CALLS}
    assert set(registry.available()) == set(VECTOR_MEMORIES) | structured


def test_every_public_layer_is_fuzzed() -> None:
    reached: set[type] = set()
    for factory in _layer_table().LAYERS.values():
        reached |= {type(module) for module in factory().modules()}
    for factory in TOKEN_MODELS.values():
        reached |= {type(module) for module in factory().modules()}
    public = _public_modules("hopfield.nn") | _public_modules("hopfield.compat.hflayers")
    missing = sorted(cls.__qualname__ for cls in public - reached)
    assert not missing, f"layers without fuzz cases: {missing}"


FUZZED_ELSEWHERE = {
    "AssociativeMemoryBuffer": ("test_direct_memories.py", "AssociativeMemoryBuffer"),
    "ClAM": ("test_direct_memories.py", "ClAM"),
    "DenseAMClassifier": ("test_estimator_inputs.py", "HopfieldClassifier"),  # its model_
}
"""Task modules fuzzed as memories or estimators: the file, and the name it calls."""


def test_every_public_task_network_is_fuzzed() -> None:
    reached: set[str] = set(FUZZED_ELSEWHERE)
    for factory in TASK_NETWORKS.values():
        reached |= {type(module).__qualname__ for module in factory().modules()}
    for file, called in FUZZED_ELSEWHERE.values():
        assert called in (Path(__file__).parent / file).read_text(), (file, called)
    public = {cls.__qualname__ for cls in _public_modules("hopfield.tasks")}
    missing = sorted(public - reached)
    assert not missing, f"task networks without fuzz cases: {missing}"


ID_DTYPES = (torch.int64, torch.int32, torch.int16, torch.uint8, torch.bool, torch.float32,
             torch.complex64)  # fmt: skip
ID_KINDS = ("in-range", "in-range", "negative", "too-large")


def token_ids(shape: tuple[int, int], dtype: torch.dtype, kind: str, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, shape, generator=gen)
    if ids.numel() and kind == "negative":
        ids.view(-1)[0] = -1
    if ids.numel() and kind == "too-large":
        ids.view(-1)[0] = VOCAB
    return ids.to(dtype)


def check_token_model(name: str, shape: tuple[int, int], dtype: torch.dtype, kind: str) -> None:
    model = TOKEN_MODELS[name]().eval()
    tokens = token_ids(shape, dtype, kind, 0)
    try:
        with torch.no_grad():
            logits = model(tokens)
    except (ValueError, TypeError) as error:
        assert "tokens" in str(error), f"{error!r} does not name tokens"
        bad = dtype not in (torch.int64, torch.int32) or shape[1] > CONTEXT
        assert bad or (kind != "in-range" and tokens.numel()), f"refused good tokens: {error!r}"
        return
    assert dtype in (torch.int64, torch.int32) and shape[1] <= CONTEXT
    assert kind == "in-range" or not tokens.numel(), f"accepted {kind} ids"
    assert logits.shape == (*shape, VOCAB)
    assert bool(torch.isfinite(logits).all())
    if tokens.numel():
        with torch.no_grad():
            reference = copy.deepcopy(model).double()(tokens)
        torch.testing.assert_close(logits.double(), reference, rtol=1e-4, atol=1e-4)


SHAPES = st.tuples(st.integers(0, 3), st.integers(0, CONTEXT + 1))


@pytest.mark.parametrize("name", TOKEN_MODELS)
@given(shape=SHAPES, dtype=st.sampled_from(ID_DTYPES), kind=st.sampled_from(ID_KINDS))
@settings(max_examples=15)
def test_token_models(name: str, shape: tuple[int, int], dtype: torch.dtype, kind: str) -> None:
    check_token_model(name, shape, dtype, kind)


@pytest.mark.slow
@pytest.mark.parametrize("name", TOKEN_MODELS)
@given(shape=SHAPES, dtype=st.sampled_from(ID_DTYPES), kind=st.sampled_from(ID_KINDS))
@settings(max_examples=300)
def test_token_models_long(
    name: str, shape: tuple[int, int], dtype: torch.dtype, kind: str
) -> None:
    check_token_model(name, shape, dtype, kind)


@pytest.mark.parametrize("kind", ["negative", "too-large"])
@pytest.mark.parametrize("name", TOKEN_MODELS)
def test_out_of_range_targets_are_named(name: str, kind: str) -> None:
    model = TOKEN_MODELS[name]()
    tokens = token_ids((2, 4), torch.int64, "in-range", 1)
    with pytest.raises(ValueError, match="targets must be token ids"):
        model.loss(tokens, token_ids((2, 4), torch.int64, kind, 2))
