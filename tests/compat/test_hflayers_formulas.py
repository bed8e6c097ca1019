"""hopfield.compat.hflayers against formulas written from hopfield-layers' documentation.

The reference below recomputes each output in float64 with explicit loops over heads
from the documented definition (see hopfield.compat.hflayers.core): input layer norms,
per-head projections (static patterns unprojected and shared by every head, connected
projections through the stored patterns' map), Hopfield-space norm, extra patterns,
β-scaled softmax association, update steps ``Q ← ξ K`` with the per-head stopping
rule, dropout-free read-out and output projection.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
import torch

from hopfield.compat.hflayers import Hopfield

Tensor = torch.Tensor


def _norm(x: Tensor, module: Any) -> Tensor:
    if module is None:
        return x
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    out = (x - mean) / torch.sqrt(var + module.eps)
    if module.weight is not None:
        out = out * module.weight.double() + module.bias.double()
    return out


def _project(x: Tensor, linear: Any, head: int, width: int) -> Tensor:
    """Rows ``head·width … (head+1)·width`` of the linear map (or ``x`` if static)."""
    if linear is None:
        return x
    rows = slice(head * width, (head + 1) * width)
    out = x @ linear.weight.double()[rows].T
    return out if linear.bias is None else out + linear.bias.double()[rows]


def _space_norm(x: Tensor, core: Any) -> Tensor:
    if not core.space_norm:
        return x
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    out = (x - mean) / torch.sqrt(var + core.space_norm_eps)
    if core.space_norm_weight is not None:
        out = out * core.space_norm_weight.double() + core.space_norm_bias.double()
    return out


def _head_patterns(
    layer: Hopfield, y: Tensor, xi: Tensor, yv: Tensor, h: int
) -> tuple[Tensor, ...]:
    core, shape = layer.association_core, layer.shape
    d = shape.head_dim or xi.shape[-1]
    q = _space_norm(_project(xi, core.state_proj, h, d), core)
    k = _space_norm(_project(y, core.stored_proj, h, d), core)
    if shape.connected and core.stored_proj is not None:
        full = yv @ core.stored_proj.weight.double().T
        full = full if core.stored_proj.bias is None else full + core.stored_proj.bias.double()
        if core.projection_proj is None:
            v = full[..., h * d : (h + 1) * d]
        else:
            v = _project(full, core.projection_proj, h, shape.pattern_dim)
    else:
        v = _project(yv, core.projection_proj, h, shape.pattern_dim or yv.shape[-1])
    if core.bias_stored is not None:
        k = torch.cat([k, core.bias_stored.double()[0, h]], 0)
        v = torch.cat([v, core.bias_projection.double()[0, h]], 0)
    if core.add_zero_association:
        k = torch.cat([k, torch.zeros(1, k.shape[1], dtype=k.dtype)], 0)
        v = torch.cat([v, torch.zeros(1, v.shape[1], dtype=v.dtype)], 0)
    return q, k, v


def reference(layer: Hopfield, stored: Tensor, state: Tensor, proj: Tensor,
              padding: Tensor | None = None) -> Tensor:  # fmt: skip
    """Batch-first float64 output of ``layer`` from the documented definition."""
    y = _norm(stored.double(), layer.norm_stored_pattern)
    xi = _norm(state.double(), layer.norm_state_pattern)
    yv = _norm(proj.double(), layer.norm_pattern_projection)
    scaling = layer.scaling
    heads = layer.num_heads
    max_steps = layer.update_steps_max
    eps = layer.update_steps_eps
    batch = state.shape[0]
    per_head: list[list[Tensor]] = [[] for _ in range(batch)]
    for h in range(heads):
        beta = float(scaling[h]) if isinstance(scaling, Tensor) else scaling
        limit = max_steps if not isinstance(max_steps, Tensor) else int(max_steps[h])
        limit = math.inf if limit is None or limit < 0 else limit
        tol = float(eps[h]) if isinstance(eps, Tensor) else eps
        qkv = [_head_patterns(layer, y[b], xi[b], yv[b], h) for b in range(batch)]

        def scores(q: Tensor, k: Tensor, b: int, beta: float = beta) -> Tensor:
            logits = beta * q @ k.T
            if padding is not None:
                pad = torch.cat([padding[b], torch.zeros(k.shape[0] - padding.shape[1],
                                                         dtype=torch.bool)])  # fmt: skip
                logits = logits.masked_fill(pad, -math.inf)
            return torch.softmax(logits, -1)

        assoc = [scores(q, k, b) for b, (q, k, _) in enumerate(qkv)]
        step = 0
        while step < limit:
            new = [scores(assoc[b] @ k, k, b) for b, (_, k, _) in enumerate(qkv)]
            change = max(float(torch.linalg.norm(n - o)) for n, o in zip(new, assoc, strict=True))
            assoc, step = new, step + 1
            if change <= tol:
                break
        for b, (_, _, v) in enumerate(qkv):
            per_head[b].append(assoc[b] @ v)
    out = torch.stack([torch.cat(parts, -1) for parts in per_head])
    proj_out = layer.association_core.out_proj
    if proj_out is not None:
        out = out @ proj_out.weight.double().T
        out = out if proj_out.bias is None else out + proj_out.bias.double()
    if layer.activation is not None:
        out = layer.activation(out)
    return out


def _randomise(layer: torch.nn.Module) -> None:
    """Break the N(0, 0.02²)/zero initialisation so every term matters."""
    torch.manual_seed(7)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.6)


GRID_AXES: dict[str, list[Any]] = {
    "num_heads": [1, 2],
    "hidden_size": [None, 3],
    "pattern_size": [None, 5],
    "scaling": [None, 0.7, "per-head"],
    "update_steps_max": [0, 2, None],
    "normalize": [True, False],
    "static": [(), ("stored",), ("state",), ("projection",), ("stored", "state", "projection")],
    "connected": [False, True],
    "normalize_hopfield_space": [False, True],
    "extras": [(), ("bias",), ("zero",), ("bias", "zero")],
    "disable_out_projection": [False, True],
    "output_size": [None, 7],
    "association_activation": [None, "tanh"],
    "input_bias": [True, False],
}


def _valid(c: dict[str, Any]) -> bool:
    """hopfield-layers rejects a learned bias pattern next to static patterns and connected
    projections whose width differs from the head width."""
    if "bias" in c["extras"] and ({"stored", "projection"} & set(c["static"])):
        return False
    return not (c["connected"] and c["pattern_size"] is not None)


def _grid(count: int) -> list[dict[str, Any]]:
    full = [dict(zip(GRID_AXES, values, strict=True))
            for values in itertools.product(*GRID_AXES.values())]  # fmt: skip
    return random.Random(0).sample([c for c in full if _valid(c)], count)


def _build(c: dict[str, Any]) -> Hopfield:
    """The layer for one grid point."""
    heads = c["num_heads"]
    static = c["static"]
    scaling = torch.tensor([0.5, 1.3][:heads]) if c["scaling"] == "per-head" else c["scaling"]
    flag = c["normalize"]
    return Hopfield(
        input_size=6, hidden_size=c["hidden_size"], output_size=c["output_size"],
        pattern_size=c["pattern_size"], num_heads=heads, scaling=scaling,
        update_steps_max=c["update_steps_max"], update_steps_eps=1e-3,
        normalize_stored_pattern=flag, normalize_stored_pattern_affine=flag,
        normalize_state_pattern=flag, normalize_state_pattern_affine=flag,
        normalize_pattern_projection=flag, normalize_pattern_projection_affine=flag,
        normalize_hopfield_space=c["normalize_hopfield_space"],
        normalize_hopfield_space_affine=c["normalize_hopfield_space"],
        stored_pattern_as_static="stored" in static, state_pattern_as_static="state" in static,
        pattern_projection_as_static="projection" in static,
        pattern_projection_as_connected=c["connected"],
        association_activation=c["association_activation"], input_bias=c["input_bias"],
        concat_bias_pattern="bias" in c["extras"], add_zero_association="zero" in c["extras"],
        disable_out_projection=c["disable_out_projection"],
    )  # fmt: skip


@pytest.mark.parametrize("config", _grid(96), ids=lambda c: "-".join(map(str, c.values())))
def test_output_matches_the_documented_formula(config: dict[str, Any]) -> None:
    layer = _build(config)
    _randomise(layer)
    layer = layer.double().eval()
    widths = layer.stored_pattern_dim, layer.state_pattern_dim, layer.pattern_projection_dim
    gen = torch.Generator().manual_seed(3)
    stored = torch.randn(2, 4, widths[0] or 6, generator=gen, dtype=torch.float64)
    state = torch.randn(2, 3, widths[1] or stored.shape[-1], generator=gen, dtype=torch.float64)
    proj = torch.randn(2, 4, widths[2] or 6, generator=gen, dtype=torch.float64)
    padding = torch.tensor([[False, False, True, False], [False, False, False, False]])
    out = layer((stored, state, proj), stored_pattern_padding_mask=padding)
    with torch.no_grad():
        expected = reference(layer, stored, state, proj, padding)
    torch.testing.assert_close(out, expected, atol=1e-9, rtol=1e-9)


def test_defaults_layer_normalise_every_input_and_use_beta_one_over_sqrt_head_width() -> None:
    layer = Hopfield(input_size=8, num_heads=2)
    assert layer.normalize_stored_pattern and layer.normalize_state_pattern
    assert layer.normalize_pattern_projection and layer.normalize_stored_pattern_affine
    assert not layer.normalize_hopfield_space
    assert layer.scaling == pytest.approx(1 / math.sqrt(4))
    assert layer.update_steps_max == 0 and layer.batch_first
    x = torch.randn(3, 5, 8)
    shifted = x * 3.0 + 2.0  # layer norm makes the output invariant to this
    torch.testing.assert_close(layer(shifted), layer(x), atol=1e-5, rtol=1e-5)


def test_one_tensor_is_stored_state_and_projection_and_sequence_first_transposes() -> None:
    layer = Hopfield(input_size=6, num_heads=2)
    _randomise(layer)
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(layer(x), layer((x, x, x)))
    second = Hopfield(input_size=6, num_heads=2, batch_first=False)
    second.load_state_dict(layer.state_dict())
    torch.testing.assert_close(second(x.transpose(0, 1)), layer(x).transpose(0, 1))


def test_association_matrix_is_the_softmax_of_scaled_scores_and_masks_apply() -> None:
    layer = Hopfield(input_size=4, scaling=2.0, stored_pattern_as_static=True,
                     state_pattern_as_static=True, pattern_projection_as_static=True,
                     disable_out_projection=True, normalize_stored_pattern=False,
                     normalize_stored_pattern_affine=False, normalize_state_pattern=False,
                     normalize_state_pattern_affine=False, normalize_pattern_projection=False,
                     normalize_pattern_projection_affine=False)  # fmt: skip
    stored, state = torch.randn(1, 5, 4), torch.randn(1, 2, 4)
    weights = layer.get_association_matrix((stored, state, stored))
    torch.testing.assert_close(weights[0, 0], torch.softmax(2.0 * state[0] @ stored[0].T, -1))
    causal = torch.ones(2, 5, dtype=torch.bool).triu(1)
    masked = layer.get_association_matrix((stored, state, stored), association_mask=causal)
    assert bool((masked[0, 0][causal] == 0).all())
    torch.testing.assert_close(layer((stored, state, stored)), weights[0] @ stored)


def test_update_steps_eps_stops_each_head_when_its_association_settles() -> None:
    layer = Hopfield(input_size=4, scaling=8.0, update_steps_max=50, update_steps_eps=1e-3,
                     stored_pattern_as_static=True, state_pattern_as_static=True,
                     pattern_projection_as_static=True, disable_out_projection=True,
                     normalize_stored_pattern=False, normalize_stored_pattern_affine=False,
                     normalize_state_pattern=False, normalize_state_pattern_affine=False,
                     normalize_pattern_projection=False,
                     normalize_pattern_projection_affine=False).double()  # fmt: skip
    stored = torch.randn(1, 6, 4, dtype=torch.float64)
    state = stored[:, :2] + 0.3 * torch.randn(1, 2, 4, dtype=torch.float64)
    out = layer((stored, state, stored))
    torch.testing.assert_close(out, reference(layer, stored, state, stored))
    unbounded = Hopfield(**{**layer._arguments, "update_steps_max": None}).double()
    torch.testing.assert_close(unbounded((stored, state, stored)), out)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"input_size": 4, "normalize_stored_pattern": False}, "normalize_stored_pattern_affine"),
        ({"input_size": 4, "association_activation": "nosuch"}, "association_activation"),
        ({"input_size": 4, "scaling": -1.0}, "scaling"),
        ({"input_size": 4, "num_heads": 2, "scaling": torch.ones(3)}, "one entry per head"),
        ({"input_size": 4, "update_steps_eps": 0.0}, "update_steps_eps"),
        ({"input_size": 4, "update_steps_max": -2}, "update_steps_max"),
        ({"input_size": 5, "num_heads": 2}, "divisible"),
        (
            {"input_size": 4, "stored_pattern_as_static": True, "concat_bias_pattern": True},
            "concat_bias_pattern",
        ),
        (
            {"input_size": 4, "stored_pattern_size": 3, "pattern_projection_as_connected": True},
            "pattern_projection_as_connected",
        ),
        ({}, "input_size is required"),
    ],
)
def test_arguments_that_cannot_be_honoured_raise_naming_them(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Hopfield(**arguments)


def test_wrong_inputs_raise_naming_the_pattern() -> None:
    layer = Hopfield(input_size=4)
    with pytest.raises(ValueError, match="state_pattern must have last dim 4"):
        layer((torch.randn(2, 3, 4), torch.randn(2, 3, 5), torch.randn(2, 3, 4)))
    with pytest.raises(ValueError, match="tuple of 2"):
        layer((torch.randn(2, 3, 4), torch.randn(2, 3, 4)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stored_pattern must have a floating-point dtype"):
        layer(torch.ones(2, 3, 4, dtype=torch.complex64))
    assert layer(torch.randn(0, 3, 4)).shape == (0, 3, 4)
    assert layer((torch.randn(2, 3, 4), torch.randn(2, 0, 4), torch.randn(2, 3, 4))).shape == (
        2, 0, 4)  # fmt: skip
    x = torch.randn(2, 3, 4)
    x[1, 0, 0] = float("nan")
    out = layer(x)
    assert bool(torch.isnan(out[1]).all()) and bool(torch.isfinite(out[0]).all())


def test_dropout_applies_to_the_association_in_training_only() -> None:
    layer = Hopfield(input_size=4, dropout=0.5)
    x = torch.randn(2, 6, 4)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.train()
    assert not torch.allclose(layer(x), layer(x))


def test_association_activation_is_the_named_torch_function() -> None:
    plain = Hopfield(input_size=4)
    active = Hopfield(input_size=4, association_activation="relu")
    active.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(active(x), torch.relu(plain(x)))


def test_extra_patterns_are_appended_to_every_set() -> None:
    layer = Hopfield(input_size=6, concat_bias_pattern=True, add_zero_association=True)
    x = torch.randn(1, 4, 6)
    assert layer.get_association_matrix(x).shape == (1, 1, 4, 6)  # two extra patterns
    empty_set = layer((torch.randn(1, 0, 6), x, torch.randn(1, 0, 6)))
    assert bool(torch.isfinite(empty_set).all())  # retrieves from the extra patterns only
