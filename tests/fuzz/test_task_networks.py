"""Fuzz the task networks: the diffusion ``ScoreNetwork``, Re:Frame's ``BufferedPolicy``
and ``BufferedDecisionTransformer`` (with and without a buffer) and its
``ObservationAutoencoder``.

Policy (docs/input-validation.md, "task networks"): complex, integer or bool data raise
``TypeError`` naming the argument; float16/bfloat16/float64 are cast to the network's
dtype; NaN/±inf (checked after the cast, so 1e39 in float64 too) raise ``ValueError``
naming the argument, except in the score network's ``x``, where they propagate to the
rows they are in (a sampler's state, never a finite stand-in); ids (actions,
timesteps) must be int64/int32 in range; an empty batch gives an empty result; a wrong
shape raises ``ValueError`` with the expected shape. A finite result matches a float64
copy of the network.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from fuzz_inputs import FLOATS, NON_REAL, SPECIAL, Draw, draws, make_tensor
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hopfield.tasks.decision_transformer import BufferedDecisionTransformer, ObservationAutoencoder
from hopfield.tasks.diffusion import VESDE, ScoreNetwork
from hopfield.tasks.memory_buffer import AssociativeMemoryBuffer, BufferedPolicy

DIM, OBS, ACTIONS, HORIZON, CONTEXT = 2, 3, 4, 10, 3
TOLERANCE = {"atol": 2e-4, "rtol": 2e-4}


def _autoencoder() -> ObservationAutoencoder:
    torch.manual_seed(0)
    return ObservationAutoencoder(OBS, latent_dim=4, hidden=8)


def _buffer(encoder: nn.Module) -> AssociativeMemoryBuffer:
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        keys = encoder(torch.randn(6, OBS, generator=gen))
    return AssociativeMemoryBuffer(keys, torch.randn(6, ACTIONS + 1, generator=gen), beta=4.0)


def _policy(buffered: bool) -> BufferedPolicy:
    encoder = _autoencoder().encoder
    torch.manual_seed(1)
    if not buffered:
        return BufferedPolicy(1 + OBS, ACTIONS, hidden=8)
    return BufferedPolicy(1 + OBS, ACTIONS, hidden=8, buffer=_buffer(encoder), encoder=encoder)


def _transformer(buffered: bool) -> BufferedDecisionTransformer:
    encoder = _autoencoder().encoder
    torch.manual_seed(2)
    buffer = _buffer(encoder) if buffered else None
    return BufferedDecisionTransformer(
        OBS, ACTIONS, HORIZON, context=CONTEXT, width=8, heads=2, buffer=buffer,
        encoder=encoder if buffered else None,
    ).eval()  # fmt: skip


def _score_network() -> ScoreNetwork:
    return ScoreNetwork(DIM, VESDE(0.05, 2.0), hidden=8, depth=2, embedding=3, skip=True)


def _float64(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).double()


def _expect_error(call: Callable[[], Any], bad: dict[str, type[Exception]]) -> Any:
    """Run ``call``: with ``bad`` inputs it must raise the error of one of them, naming
    it; without, it must return. Returns the result (None after an error)."""
    if not bad:
        return call()
    with pytest.raises((TypeError, ValueError)) as caught:
        call()
    message = str(caught.value)
    named = [name for name in bad if name in message]
    assert named, f"{caught.value!r} names none of {sorted(bad)}"
    assert any(isinstance(caught.value, bad[name]) for name in named), repr(caught.value)
    return None


# ------------------------------------------------------------------ score network

GOOD_TIMES: tuple[object, ...] = (0.0, 0.5, 1.0, 1)
BAD_TIMES: dict[str, tuple[object, type[Exception]]] = {
    "nan": (float("nan"), ValueError),
    "inf": (float("inf"), ValueError),
    "-inf": (float("-inf"), ValueError),
    "σ overflows": (1e3, ValueError),
    "σ underflows": (-1e3, ValueError),
    "bool": (True, TypeError),
    "string": ("0.5", TypeError),
}


def _times(kind: str, batch: int) -> tuple[object, type[Exception] | None]:
    if kind in BAD_TIMES:
        return BAD_TIMES[kind]
    if kind == "tensor":
        return torch.linspace(0, 1, batch, dtype=torch.float64), None
    if kind == "int tensor":
        return torch.zeros(batch, dtype=torch.int64), TypeError
    if kind == "complex tensor":
        return torch.zeros(batch, dtype=torch.complex64), TypeError
    if kind == "wrong length":
        return torch.zeros(batch + 2), ValueError
    return GOOD_TIMES[int(kind)], None


TIME_KINDS = [str(i) for i in range(len(GOOD_TIMES))] + [
    *BAD_TIMES, "tensor", "int tensor", "complex tensor", "wrong length",
]  # fmt: skip


def check_score_network(x_draw: Draw, time_kind: str) -> None:
    network = _score_network()
    x = make_tensor(x_draw)
    t, t_error = _times(time_kind, x_draw.shape[0])
    bad: dict[str, type[Exception]] = {}
    if x_draw.dtype in NON_REAL:
        bad["x"] = TypeError
    elif x_draw.shape[1:] != (DIM,):
        bad["x"] = ValueError
    if t_error is not None:
        bad["t"] = t_error
    for method in ("forward", "denoise"):
        out = _expect_error(lambda m=method: getattr(network, m)(x, t), bad)  # type: ignore[misc]
        if out is None:
            continue
        assert out.dtype == torch.float32 and out.shape == x_draw.shape
        if x_draw.special:  # the first entry: NaN/±inf/1e39 (inf once cast)
            assert not bool(torch.isfinite(out[0]).any()), f"{method}: finite row from NaN/inf"
            assert bool(torch.isfinite(out[1:]).all()), f"{method}: other rows not finite"
            continue
        assert bool(torch.isfinite(out).all())
        reference = getattr(_float64(network), method)(x.float().double(), t)
        torch.testing.assert_close(out.double(), reference, **TOLERANCE)


SCORE_X = draws(st.tuples(st.integers(0, 3), st.sampled_from([DIM, DIM, DIM, 3])))


@given(x=SCORE_X, time_kind=st.sampled_from(TIME_KINDS))
@settings(max_examples=40)
def test_score_network(x: Draw, time_kind: str) -> None:
    check_score_network(x, time_kind)


@pytest.mark.slow
@given(x=SCORE_X, time_kind=st.sampled_from(TIME_KINDS))
@settings(max_examples=500)
def test_score_network_long(x: Draw, time_kind: str) -> None:
    check_score_network(x, time_kind)


def _name(draw: Draw) -> str:
    return f"{str(draw.dtype).removeprefix('torch.')}-{draw.kind}-{draw.shape[0]}rows"


def _classes(shape: tuple[int, ...]) -> list[Draw]:
    """One draw per class of data input (each dtype, each special value, denormals,
    1e39 in float64, an empty batch)."""
    table = [Draw(shape, dtype, "normal", 0) for dtype in (*FLOATS, *NON_REAL)]
    table += [Draw(shape, torch.float32, kind, 0) for kind in (*SPECIAL, "denormal")]
    table += [Draw(shape, torch.float64, "huge", 0)]
    table += [Draw((0, *shape[1:]), torch.float32, "normal", 0)]
    return table


@pytest.mark.parametrize("x", _classes((3, DIM)), ids=_name)
def test_score_network_classes(x: Draw) -> None:
    check_score_network(x, "1")


@pytest.mark.parametrize("time_kind", TIME_KINDS)
def test_score_network_times(time_kind: str) -> None:
    check_score_network(Draw((3, DIM), torch.float32, "normal", 0), time_kind)


# ------------------------------------------------------------------ BufferedPolicy


def check_policy(buffered: bool, inputs: Draw, observations: Draw) -> None:
    policy = _policy(buffered)
    x, obs = make_tensor(inputs), make_tensor(observations)
    bad: dict[str, type[Exception]] = {}
    if inputs.dtype in NON_REAL:
        bad["inputs"] = TypeError
    elif inputs.shape[1:] != (1 + OBS,) or inputs.special:
        bad["inputs"] = ValueError
    if buffered and not bad:  # the observations are read only to query the buffer
        if observations.dtype in NON_REAL:
            bad["observations"] = TypeError
        elif observations.shape[0] != inputs.shape[0] or observations.special:
            bad["observations"] = ValueError
    out = _expect_error(lambda: policy(x, obs), bad)
    if out is None:
        return
    assert out.dtype == torch.float32 and out.shape == (inputs.shape[0], ACTIONS)
    assert bool(torch.isfinite(out).all())
    if buffered:
        obs = obs.float().double()
    reference = _float64(policy)(x.float().double(), obs)
    torch.testing.assert_close(out.double(), reference, **TOLERANCE)


POLICY_INPUTS = draws(st.tuples(st.integers(0, 3), st.sampled_from([1 + OBS] * 3 + [OBS])))
POLICY_OBS = draws(st.tuples(st.integers(0, 3), st.just(OBS)))


@pytest.mark.parametrize("buffered", [False, True])
@given(inputs=POLICY_INPUTS, observations=POLICY_OBS)
@settings(max_examples=40)
def test_buffered_policy(buffered: bool, inputs: Draw, observations: Draw) -> None:
    check_policy(buffered, inputs, observations)


@pytest.mark.slow
@pytest.mark.parametrize("buffered", [False, True])
@given(inputs=POLICY_INPUTS, observations=POLICY_OBS)
@settings(max_examples=500)
def test_buffered_policy_long(buffered: bool, inputs: Draw, observations: Draw) -> None:
    check_policy(buffered, inputs, observations)


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("argument", ["inputs", "observations"])
@pytest.mark.parametrize("draw", _classes((3, 0)), ids=_name)
def test_buffered_policy_classes(buffered: bool, argument: str, draw: Draw) -> None:
    """``draw``'s dtype and values for one argument (its width set), the other one good."""
    rows = draw.shape[0]
    inputs = Draw((rows, 1 + OBS), torch.float32, "normal", 1)
    observations = Draw((rows, OBS), torch.float32, "normal", 2)
    if argument == "inputs":
        inputs = Draw(inputs.shape, draw.dtype, draw.kind, draw.seed)
    else:
        observations = Draw(observations.shape, draw.dtype, draw.kind, draw.seed)
    check_policy(buffered, inputs, observations)


@pytest.mark.parametrize(
    ("actions", "error"),
    [
        (torch.tensor([0, 3, 1]), None),
        (torch.tensor([0, 4, 1]), ValueError),
        (torch.tensor([0, -1, 1]), ValueError),
        (torch.tensor([0.0, 1.0, 1.0]), TypeError),
        (torch.tensor([True, False, True]), TypeError),
        (torch.tensor([[0, 1, 1]]), ValueError),
    ],
)
def test_buffered_policy_loss_checks_the_actions(
    actions: torch.Tensor, error: type[Exception] | None
) -> None:
    policy = _policy(True)
    inputs, obs = torch.randn(3, 1 + OBS), torch.randn(3, OBS)
    bad = {} if error is None else {"actions": error}
    loss = _expect_error(lambda: policy.loss(inputs, obs, actions), bad)
    assert loss is None or bool(torch.isfinite(loss))


# ------------------------------------------------------ BufferedDecisionTransformer

ID_KINDS = ("in-range", "in-range", "unknown", "negative", "too-large", "int32", "float", "bool",
            "complex")  # fmt: skip


def _ids(kind: str, shape: tuple[int, int], stop: int, seed: int) -> torch.Tensor:
    """Ids in ``[0, stop)`` (``unknown``: the last one everywhere), or one bad entry."""
    ids = torch.randint(0, stop, shape, generator=torch.Generator().manual_seed(seed))
    if kind == "unknown":
        ids.fill_(stop - 1)
    if ids.numel() and kind in ("negative", "too-large"):
        ids.view(-1)[0] = -1 if kind == "negative" else stop
    dtypes = {"int32": torch.int32, "float": torch.float32, "bool": torch.bool,
              "complex": torch.complex64}  # fmt: skip
    return ids.to(dtypes.get(kind, torch.int64))


def _id_error(kind: str, numel: int) -> type[Exception] | None:
    if kind in ("float", "bool", "complex"):
        return TypeError
    return ValueError if kind in ("negative", "too-large") and numel else None


def check_transformer(
    buffered: bool,
    batch: int,
    steps: int,
    observations: Draw,
    returns: Draw,
    action_kind: str,
    time_kind: str,
    valid_dtype: torch.dtype,
) -> None:
    model = _transformer(buffered)
    shape = (batch, steps)
    obs_draw = Draw((*shape, OBS), observations.dtype, observations.kind, observations.seed)
    rtg_draw = Draw(shape, returns.dtype, returns.kind, returns.seed)
    obs, rtg = make_tensor(obs_draw), make_tensor(rtg_draw)
    actions = _ids(action_kind, shape, ACTIONS + 1, 3)
    timesteps = _ids(time_kind, shape, HORIZON + 1, 4)
    valid = torch.rand(shape, generator=torch.Generator().manual_seed(6)) < 0.8
    valid[:, -1] = True
    valid = valid.to(valid_dtype)
    bad: dict[str, type[Exception]] = {}
    for name, draw in (("observations", obs_draw), ("returns_to_go", rtg_draw)):
        if name == "observations" and steps > CONTEXT:  # the shape is checked first
            bad[name] = ValueError
        elif draw.dtype in NON_REAL:
            bad[name] = TypeError
        elif draw.special:
            bad[name] = ValueError
    for name, kind in (("actions", action_kind), ("timesteps", time_kind)):
        if (error := _id_error(kind, batch * steps)) is not None:
            bad[name] = error
    if valid_dtype != torch.bool:
        bad["valid"] = TypeError
    out = _expect_error(lambda: model(rtg, obs, actions, timesteps, valid), bad)
    if out is None:
        return
    assert out.dtype == torch.float32 and out.shape == (batch, steps, ACTIONS)
    assert bool(torch.isfinite(out).all())
    if batch:
        reference = _float64(model)(
            rtg.float().double(), obs.float().double(), actions, timesteps, valid
        )
        torch.testing.assert_close(out.double(), reference, **TOLERANCE)


TRANSFORMER_ARGS = {
    "batch": st.integers(0, 3),
    "steps": st.sampled_from([1, 2, CONTEXT, CONTEXT + 1]),
    "observations": draws(st.just((1, 1))),
    "returns": draws(st.just((1, 1))),
    "action_kind": st.sampled_from(ID_KINDS),
    "time_kind": st.sampled_from(ID_KINDS),
    "valid_dtype": st.sampled_from([torch.bool] * 4 + [torch.int64, torch.float32]),
}


@pytest.mark.parametrize("buffered", [False, True])
@given(**TRANSFORMER_ARGS)
@settings(max_examples=40)
def test_decision_transformer(
    buffered: bool,
    batch: int,
    steps: int,
    observations: Draw,
    returns: Draw,
    action_kind: str,
    time_kind: str,
    valid_dtype: torch.dtype,
) -> None:
    check_transformer(
        buffered, batch, steps, observations, returns, action_kind, time_kind, valid_dtype
    )


@pytest.mark.slow
@pytest.mark.parametrize("buffered", [False, True])
@given(**TRANSFORMER_ARGS)
@settings(max_examples=500)
def test_decision_transformer_long(
    buffered: bool,
    batch: int,
    steps: int,
    observations: Draw,
    returns: Draw,
    action_kind: str,
    time_kind: str,
    valid_dtype: torch.dtype,
) -> None:
    check_transformer(
        buffered, batch, steps, observations, returns, action_kind, time_kind, valid_dtype
    )


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("argument", ["observations", "returns"])
@pytest.mark.parametrize("draw", _classes((2, 1)), ids=_name)
def test_decision_transformer_classes(buffered: bool, argument: str, draw: Draw) -> None:
    good = Draw((1, 1), torch.float32, "normal", 1)
    observations, returns = (draw, good) if argument == "observations" else (good, draw)
    check_transformer(
        buffered, draw.shape[0], 2, observations, returns, "in-range", "in-range", torch.bool
    )


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("argument", ["action_kind", "time_kind"])
@pytest.mark.parametrize("kind", sorted(set(ID_KINDS)))
def test_decision_transformer_ids(buffered: bool, argument: str, kind: str) -> None:
    good = Draw((1, 1), torch.float32, "normal", 1)
    actions, times = (kind, "in-range") if argument == "action_kind" else ("in-range", kind)
    check_transformer(buffered, 2, CONTEXT, good, good, actions, times, torch.bool)


def test_decision_transformer_loss_needs_known_actions_at_valid_steps() -> None:
    model = _transformer(False)
    rtg, obs = torch.randn(2, CONTEXT), torch.randn(2, CONTEXT, OBS)
    timesteps = torch.arange(CONTEXT).expand(2, -1)
    actions = torch.ones(2, CONTEXT, dtype=torch.long)
    valid = torch.ones(2, CONTEXT, dtype=torch.bool)
    assert bool(torch.isfinite(model.loss(rtg, obs, actions, timesteps, valid)))
    actions[1, 0] = ACTIONS  # "unknown": fine on padding, refused where the loss reads it
    with pytest.raises(ValueError, match=r"actions must hold known action ids in \[0, 4\)"):
        model.loss(rtg, obs, actions, timesteps, valid)
    valid[1, 0] = False
    assert bool(torch.isfinite(model.loss(rtg, obs, actions, timesteps, valid)))


# ------------------------------------------------------------ ObservationAutoencoder


@pytest.mark.parametrize("method", ["forward", "encode", "reconstruction_loss"])
@pytest.mark.parametrize(
    "draw", [*_classes((3, OBS)), Draw((3, OBS + 1), torch.float32, "normal", 0)], ids=_name
)
def test_observation_autoencoder(method: str, draw: Draw) -> None:
    autoencoder = _autoencoder()
    observations = make_tensor(draw)
    bad: dict[str, type[Exception]] = {}
    if draw.dtype in NON_REAL:
        bad["observations"] = TypeError
    elif draw.shape[1:] != (OBS,) or draw.special:
        bad["observations"] = ValueError
    elif method == "reconstruction_loss" and draw.shape[0] == 0:
        bad["observations"] = ValueError  # a mean over no rows
    out = _expect_error(lambda: getattr(autoencoder, method)(observations), bad)
    if out is None:
        return
    assert out.dtype == torch.float32
    assert bool(torch.isfinite(out).all())
    reference = getattr(_float64(autoencoder), method)(observations.float().double())
    torch.testing.assert_close(out.double(), reference, **TOLERANCE)


NETWORKS: dict[str, Callable[[], nn.Module]] = {
    "ScoreNetwork": _score_network,
    "BufferedPolicy": lambda: _policy(True),
    "BufferedDecisionTransformer": lambda: _transformer(True),
    "ObservationAutoencoder": _autoencoder,
}
"""The task networks this file fuzzes (tests/fuzz/test_coverage.py reads it)."""
