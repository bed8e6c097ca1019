"""Fuzz the scikit-learn estimators: fit / predict / transform / score / energy.

Random shapes (empty batches and zero features included), every dtype of the suite
(complex, int, bool, half, bfloat16, float32/64) given as numpy arrays or torch
tensors, the value kinds of :mod:`fuzz_inputs`, feature counts that differ between
fit and predict, labels of odd types, and β from the suite's table. The outcome rule:

* fit on data that holds no reason to refuse it returns the estimator; data that
  holds one (complex, NaN/±inf, an empty batch, zero features, labels that are not
  classes, fewer samples than clusters) raises ValueError/TypeError naming ``X``,
  ``y`` or the parameter;
* after fit, predict-like calls return a finite result of the documented shape (an
  empty batch gives an empty result), the same for a torch tensor as for the numpy
  float64 array of its values; bad queries and a feature count other than the
  fitted one raise ValueError/TypeError naming the argument;
* before fit every call raises scikit-learn's ``NotFittedError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from fuzz_inputs import BAD_BETAS, BETAS, FLOATS, SPECIAL, Draw, make_tensor, must_reject
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from hopfield.core import Exponential, Polynomial, RectifiedPolynomial
from hopfield.models import registry
from hopfield.tasks.estimators import AssociativeMemoryEstimator, ClAMClustering, HopfieldClassifier

ESTIMATORS: dict[str, Callable[..., BaseEstimator]] = {
    "HopfieldClassifier": lambda **kw: HopfieldClassifier(
        n_memories=4, epochs=2, batch_size=8, random_state=0, **kw
    ),
    "ClAMClustering": lambda **kw: ClAMClustering(
        n_clusters=2, steps=2, epochs=2, n_init=1, random_state=0, **kw
    ),
    "AssociativeMemoryEstimator": lambda **kw: AssociativeMemoryEstimator(max_steps=4, **kw),
}
# the plain memory over every vector memory of the registry (their own input rules:
# ±1 patterns, distinct rows, …; a refusal must still name the estimator's argument)
MODELS = {
    f"AssociativeMemoryEstimator({model})": model
    for model in registry.available(registry.VECTOR_STATES)
}
# the calls after fit, with the name of their argument
CALLS: dict[str, tuple[tuple[str, str], ...]] = {
    "HopfieldClassifier": (
        ("predict", "X"), ("predict_proba", "X"), ("decision_function", "X"), ("score", "X"),
    ),
    "ClAMClustering": (("predict", "X"), ("score", "X")),
    "AssociativeMemoryEstimator": (
        ("retrieve", "Q"), ("transform", "Q"), ("energy", "X"), ("complete", "query"),
    ),
}  # fmt: skip
LABELS = ("int", "str", "bool", "float-int", "mixed", "nan", "continuous", "one-class", "short")
GOOD_LABELS = ("int", "str", "bool", "float-int")


def labels(kind: str, rows: int) -> Any:
    """``rows`` labels of ``kind`` (two classes unless the kind says otherwise)."""
    index = np.arange(rows) % 2
    table: dict[str, Any] = {
        "int": index * 3 - 1,
        "str": np.array(["cat", "dog"])[index],
        "bool": index.astype(bool),
        "float-int": index.astype(np.float64),
        "mixed": np.array(["cat", 1], dtype=object)[index],
        "nan": np.where(index == 0, np.nan, 1.0),
        "continuous": np.linspace(0.1, 0.9, rows),
        "one-class": np.zeros(rows, dtype=int),
        "short": index[:-1] if rows else np.zeros(1, dtype=int),
    }
    return table[kind]


def as_input(draw: Draw, numpy: bool) -> Any:
    """The drawn tensor, or its numpy array (bfloat16 has none: it stays a tensor)."""
    tensor = make_tensor(draw)
    if numpy and tensor.dtype != torch.bfloat16:
        return tensor.numpy()
    return tensor


def named(error: BaseException, names: Sequence[str]) -> bool:
    """The message names one of ``names`` as a word (``X`` must not match ``MAX``)."""
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", str(error)) for n in names)


def call_outcome(call: Callable[[], Any], names: Sequence[str]) -> tuple[Any, BaseException | None]:
    """Like ``fuzz_inputs.outcome`` with whole-word names."""
    try:
        return call(), None
    except (ValueError, TypeError) as error:
        assert named(error, names), f"{type(error).__name__} names none of {names}: {error}"
        return None, error


def fit_reason(name: str, draw: Draw, label_kind: str) -> str | None:
    """Why fitting ``draw`` (with labels ``label_kind``) must fail; None if it must work."""
    rows, cols = draw.shape
    if rows == 0 or cols == 0:
        return "empty"
    if is_memory(name) and draw.dtype == torch.bool:
        return "bool patterns"
    reason = must_reject(draw, memory_dtype=torch.float64)  # all compute in float64
    if reason is not None:
        return reason
    if name == "ClAMClustering" and rows < 2:
        return "fewer samples than clusters"
    if name == "HopfieldClassifier" and (label_kind not in GOOD_LABELS or rows < 2):
        return f"labels {label_kind}"
    return None


def query_reason(name: str, fitted: Draw, draw: Draw) -> str | None:
    """Why a predict-like call on ``draw`` must fail after fitting ``fitted``."""
    if draw.shape[1] != fitted.shape[1]:
        return "feature count"
    if is_memory(name) and draw.dtype == torch.bool and draw.numel:
        return "bool queries"
    if is_memory(name):
        memory = fitted.dtype if fitted.dtype in FLOATS else torch.float32
        return must_reject(draw, memory_dtype=memory)
    if draw.dtype == torch.complex64:
        return "complex"  # scikit-learn refuses complex arrays, empty ones too
    return must_reject(draw, memory_dtype=torch.float64)


def run_call(estimator: BaseEstimator, method: str, X: Any, label_kind: str = "int") -> Any:
    if method == "score" and isinstance(estimator, HopfieldClassifier):
        return estimator.score(X, labels(label_kind, X.shape[0]))
    if method == "complete":
        mask = np.zeros(tuple(X.shape), dtype=bool)
        mask[:, :1] = True
        return estimator.complete(
            X, torch.from_numpy(mask) if isinstance(X, torch.Tensor) else mask
        )
    return getattr(estimator, method)(X)


def check_result(estimator: BaseEstimator, method: str, X: Any, result: Any) -> None:
    rows = X.shape[0]
    if method == "score":
        assert isinstance(result, float) and np.isfinite(result), result
        return
    values = result.detach().cpu().double().numpy() if isinstance(result, torch.Tensor) else result
    assert values.shape[0] == rows, (method, values.shape, rows)
    if method == "energy" and getattr(estimator, "model", None) == "lsr":
        values = np.where(values == np.inf, 0.0, values)  # documented: +inf off the support
    if np.issubdtype(values.dtype, np.floating):
        assert np.isfinite(values).all(), f"{method} is not finite: {values}"
    if method == "predict" and isinstance(estimator, HopfieldClassifier):
        assert set(values.tolist()) <= set(estimator.classes_.tolist())
    if method == "predict" and isinstance(estimator, ClAMClustering):
        assert ((values >= 0) & (values < len(estimator.cluster_centers_))).all()
    if method == "predict_proba":
        np.testing.assert_allclose(values.sum(axis=1), 1.0, rtol=1e-9)


def float64_twin(X: Any) -> np.ndarray:
    """The numpy float64 array of ``X``'s values (what the estimator computes on)."""
    tensor = X if isinstance(X, torch.Tensor) else torch.from_numpy(np.asarray(X))
    return tensor.to(torch.float64).numpy()


def is_memory(name: str) -> bool:
    return name.startswith("AssociativeMemoryEstimator")


def build(name: str, **options: Any) -> BaseEstimator:
    if name in MODELS:
        return AssociativeMemoryEstimator(MODELS[name], max_steps=4, **options)
    return ESTIMATORS[name](**options)


def check_estimator(
    name: str, fit_draw: Draw, numpy_fit: bool, label_kind: str, query: Draw, numpy_query: bool
) -> None:
    estimator = build(name)
    strict = name not in MODELS  # a registry model may refuse data for reasons of its own
    X = as_input(fit_draw, numpy_fit)
    y = labels(label_kind, fit_draw.shape[0])
    names = ("X", "y") if name == "HopfieldClassifier" else ("X", "n_clusters")
    fitted, error = call_outcome(lambda: estimator.fit(X, y), names)
    reason = fit_reason(name, fit_draw, label_kind)
    if error is not None:
        assert reason is not None or not strict, (
            f"{name}.fit refused good data {fit_draw}: {error!r}"
        )
        return
    assert reason is None, f"{name}.fit accepted {reason}: {fit_draw} labels {label_kind}"
    assert fitted is estimator
    Q = as_input(query, numpy_query)
    for method, argument in CALLS["AssociativeMemoryEstimator" if is_memory(name) else name]:
        result, error = call_outcome(
            lambda m=method: run_call(estimator, m, Q, label_kind),
            (argument,),
        )
        reason = query_reason(name, fit_draw, query)
        if method == "score" and query.shape[0] == 0:
            reason = reason or "nothing to score"
        if error is not None:
            assert reason is not None or not strict, f"{name}.{method} refused {query}: {error!r}"
            continue
        assert reason is None, f"{name}.{method} accepted {reason}: {query}"
        check_result(estimator, method, Q, result)
        if isinstance(Q, torch.Tensor) and method != "score" and strict:
            twin = run_call(estimator, method, float64_twin(Q))
            mine = (
                result.detach().cpu().double().numpy()
                if isinstance(result, torch.Tensor)
                else result
            )
            if np.issubdtype(np.asarray(twin).dtype, np.number):
                np.testing.assert_allclose(
                    np.asarray(mine, dtype=float), twin, rtol=1e-6, atol=1e-9
                )
            else:  # class labels (strings, bools)
                np.testing.assert_array_equal(mine, twin)


SHAPES = st.tuples(st.integers(0, 8), st.integers(0, 3))
DRAWS = st.builds(
    Draw,
    SHAPES,
    st.sampled_from((torch.float32, torch.float64, torch.float16, torch.bfloat16,
                     torch.complex64, torch.int64, torch.bool)),
    st.sampled_from(("normal", "normal", "normal", "sign", "denormal", *SPECIAL)),
    st.integers(0, 2**16),
)  # fmt: skip


@st.composite
def estimator_cases(draw: st.DrawFn) -> tuple[Draw, bool, str, Draw, bool]:
    fit_draw = draw(DRAWS)
    cols = fit_draw.shape[1]
    query_cols = draw(st.sampled_from((cols, cols, cols, max(cols - 1, 0), cols + 1)))
    query = draw(DRAWS)
    query = Draw((query.shape[0] // 2, query_cols), query.dtype, query.kind, query.seed)
    return fit_draw, draw(st.booleans()), draw(st.sampled_from(LABELS)), query, draw(st.booleans())


@pytest.mark.parametrize("name", ESTIMATORS)
@given(case=estimator_cases())
@settings(max_examples=25)
def test_estimators(name: str, case: tuple[Draw, bool, str, Draw, bool]) -> None:
    check_estimator(name, *case)


@pytest.mark.parametrize("name", MODELS)
@given(case=estimator_cases())
@settings(max_examples=10)
def test_memory_estimator_over_the_registry(
    name: str, case: tuple[Draw, bool, str, Draw, bool]
) -> None:
    check_estimator(name, *case)


@pytest.mark.slow
@pytest.mark.parametrize("name", [*ESTIMATORS, *MODELS])
@given(case=estimator_cases())
@settings(max_examples=400)
def test_estimators_long(name: str, case: tuple[Draw, bool, str, Draw, bool]) -> None:
    check_estimator(name, *case)


def _class_cases() -> list[Any]:
    """Each class of input once per estimator: dtypes × numpy/torch, value kinds,
    empty and mismatched queries, and every label kind for the classifier."""
    good = Draw((6, 3), torch.float32, "normal", 0)
    cases = []
    for name in ESTIMATORS:
        for dtype in (*FLOATS, torch.complex64, torch.int64, torch.bool):
            for numpy in (False, True):
                draw = Draw((6, 3), dtype, "normal", 1)
                cases.append((name, draw, numpy, "int", draw, numpy))
        for kind in ("nan", "inf", "-inf", "huge", "denormal"):
            for dtype in (torch.float32, torch.float64):
                draw = Draw((6, 3), dtype, kind, 2)
                cases.append((name, draw, True, "int", good, True))
                cases.append((name, good, True, "int", draw, False))
        for query_shape in ((0, 3), (2, 2), (2, 4), (0, 4)):
            cases.append(
                (name, good, True, "int", Draw(query_shape, torch.float32, "normal", 3), True)
            )
        cases.append((name, Draw((0, 3), torch.float32, "normal", 0), True, "int", good, True))
        cases.append((name, Draw((6, 0), torch.float32, "normal", 0), True, "int", good, True))
    cases += [("HopfieldClassifier", good, True, kind, good, True) for kind in LABELS]
    return [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(cases)]


@pytest.mark.parametrize(
    ("name", "fit_draw", "numpy_fit", "label_kind", "query", "numpy_query"), _class_cases()
)
def test_estimator_classes(
    name: str, fit_draw: Draw, numpy_fit: bool, label_kind: str, query: Draw, numpy_query: bool
) -> None:
    check_estimator(name, fit_draw, numpy_fit, label_kind, query, numpy_query)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_call_before_fit_raises_not_fitted(name: str) -> None:
    X = np.ones((2, 3))
    for method, _ in CALLS[name]:
        with pytest.raises(NotFittedError):
            run_call(ESTIMATORS[name](), method, X)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_beta(name: str, beta: float) -> None:
    """Bad β raises ValueError naming beta (at fit, as scikit-learn validates there);
    1 and 1e6 fit and predict finite values."""
    X = torch.randn(8, 3, generator=torch.Generator().manual_seed(0)).numpy()
    estimator = ESTIMATORS[name](beta=beta)
    if beta in BAD_BETAS or beta != beta:
        with pytest.raises(ValueError, match="beta"):
            estimator.fit(X, labels("int", 8))
        return
    estimator.fit(X, labels("int", 8))
    method = CALLS[name][0][0]
    check_result(estimator, method, X, run_call(estimator, method, X))


@pytest.mark.parametrize("lr", [1e3])
@pytest.mark.parametrize("beta", [1.0, 1e6])
@pytest.mark.parametrize(
    "separation", ["relu3", "poly", "lse", RectifiedPolynomial(4), Polynomial(3), Exponential(2.0)]
)
def test_classifier_training_ends_finite_or_names_lr(
    separation: Any, beta: float, lr: float
) -> None:
    """Training that diverges (NaN/inf loss or weights) is a ValueError naming lr and
    beta, never a model that predicts from NaN energies."""
    X = torch.randn(30, 4, generator=torch.Generator().manual_seed(0)).numpy()
    estimator = HopfieldClassifier(
        n_memories=8, epochs=3, separation=separation, beta=beta, lr=lr, random_state=0
    )
    try:
        estimator.fit(X, np.arange(30) % 3)
    except ValueError as error:
        assert "diverged" in str(error) and "lr" in str(error)
        return
    assert np.isfinite(estimator.predict_proba(X)).all()
