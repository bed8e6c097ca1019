"""hopfield.tasks.ood: LSE-energy OOD scores, border energy, AUROC and FPR@95."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve

from hopfield.data import load_dataset
from hopfield.nn import lse_energy
from hopfield.tasks.ood import (
    HopfieldOODScorer,
    auroc,
    fpr_at_tpr,
    gaussian_log_density,
    lse_energy_streamed,
    select_beta,
)


def _randn(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("seed", range(4))
def test_auroc_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s_in = np.round(rng.normal(0, 1, 57), 1)  # rounding creates ties
    s_out = np.round(rng.normal(0.7, 1, 43), 1)
    labels = np.r_[np.zeros(57), np.ones(43)]
    expected = roc_auc_score(labels, np.r_[s_in, s_out])
    assert auroc(s_in, s_out) == pytest.approx(expected, abs=1e-12)
    assert auroc(torch.from_numpy(s_out), torch.from_numpy(s_in)) == pytest.approx(1 - expected)


@pytest.mark.parametrize(("seed", "tpr"), [(0, 0.95), (1, 0.95), (2, 0.8), (3, 0.5)])
def test_fpr_at_tpr_matches_sklearn_roc_curve(seed: int, tpr: float) -> None:
    rng = np.random.default_rng(seed)
    s_in = rng.normal(0, 1, 200)
    s_out = rng.normal(1.5, 1, 150)
    # inliers are the positives, accepted when their score is low: use −score
    labels = np.r_[np.ones(200), np.zeros(150)]
    fpr, tprs, _ = roc_curve(labels, -np.r_[s_in, s_out], drop_intermediate=False)
    expected = float(fpr[np.argmax(tprs >= tpr - 1e-12)])
    assert fpr_at_tpr(s_in, s_out, tpr) == pytest.approx(expected, abs=1e-12)


def test_metrics_extremes_and_validation() -> None:
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert fpr_at_tpr([0.0, 1.0], [2.0, 3.0]) == 0.0
    assert fpr_at_tpr([2.0, 3.0], [0.0, 1.0]) == 1.0
    with pytest.raises(ValueError, match="scores_in"):
        auroc([], [1.0])
    with pytest.raises(ValueError, match="scores_out"):
        fpr_at_tpr([1.0], [float("nan")])
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr([1.0], [2.0], tpr=1.5)


# --------------------------------------------------------------------------- energies


@pytest.mark.parametrize("chunk", [None, 7])
def test_streamed_energy_matches_dense_reference(chunk: int | None) -> None:
    x, mem = _randn(0, 9, 5), _randn(1, 40, 5)
    beta = 2.5
    dense = -torch.logsumexp(-0.5 * beta * torch.cdist(x, mem) ** 2, dim=1) / beta
    got = lse_energy_streamed(x, mem, beta, chunk_size=chunk)
    torch.testing.assert_close(got, dense)
    # the dot form is the Ramsauer et al. energy of hopfield.nn
    dot = lse_energy_streamed(x, mem, beta, similarity="dot", chunk_size=chunk)
    torch.testing.assert_close(dot, lse_energy(x, mem, beta))


def test_gaussian_log_density_is_the_normal_pdf_for_one_memory() -> None:
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)[:, None]
    beta = 4.0
    got = gaussian_log_density(x, torch.zeros(1, 1, dtype=torch.float64), beta)
    expected = norm.logpdf(x[:, 0].numpy(), scale=beta**-0.5)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_select_beta_returns_the_best_candidate() -> None:
    mem, val = _randn(2, 200, 2), _randn(3, 100, 2)
    candidates = [0.01, 0.3, 3.0, 300.0]
    beta, scores = select_beta(mem, val, candidates)
    manual = [float(gaussian_log_density(val, mem, b).mean()) for b in candidates]
    np.testing.assert_allclose(scores, manual)
    assert beta == candidates[int(np.argmax(manual))]
    assert beta not in (0.01, 300.0)  # both extremes over/under-smooth
    with pytest.raises(ValueError, match="candidates"):
        select_beta(mem, val, [])


# --------------------------------------------------------------------------- scorer


def test_score_grows_with_distance_from_memories() -> None:
    mem = _randn(4, 50, 3)
    scorer = HopfieldOODScorer(1.0).fit(mem)
    direction = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    radii = torch.tensor([0.0, 2.0, 4.0, 8.0], dtype=torch.float64)[:, None]
    scores = scorer.score(radii * direction)
    assert bool((scores.diff() > 0).all())
    np_scores = scorer.score((radii * direction).numpy())
    torch.testing.assert_close(np_scores, scores)


def test_outlier_memories_give_contrastive_score_and_border_energy() -> None:
    inliers = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    outliers = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    beta = 3.0
    scorer = HopfieldOODScorer(beta, outlier_beta=1.5).fit(inliers, outliers)
    x = _randn(5, 6, 2)
    torch.testing.assert_close(scorer.score(x), scorer.inlier_energy(x) - scorer.outlier_energy(x))
    d_in = (x - inliers).square().sum(1)
    d_out = (x - outliers).square().sum(1)
    torch.testing.assert_close(scorer.score(x), 0.5 * d_in - 0.5 * d_out)  # one memory each
    border = scorer.border_energy(torch.tensor([[1.0, 0.0], [0.0, 0.0], [3.0, 1.0]]).double())
    assert float(border[0]) == pytest.approx(-2 * math.log(2) / beta)  # a = b: the maximum
    assert bool((border[1:] < border[0]).all())


def test_normalize_makes_the_score_scale_invariant() -> None:
    mem = _randn(6, 30, 4)
    scorer = HopfieldOODScorer(5.0, normalize=True, similarity="dot").fit(mem)
    x = _randn(7, 5, 4)
    torch.testing.assert_close(scorer.score(3.0 * x), scorer.score(x))


def test_scorer_validation() -> None:
    with pytest.raises(ValueError, match="beta"):
        HopfieldOODScorer(0.0)
    with pytest.raises(ValueError, match="similarity"):
        HopfieldOODScorer(1.0, similarity="cosine")
    scorer = HopfieldOODScorer(1.0)
    with pytest.raises(RuntimeError, match="fit"):
        scorer.score(_randn(0, 2, 3))
    scorer.fit(_randn(0, 4, 3))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        scorer.score(_randn(1, 2, 4))
    with pytest.raises(RuntimeError, match="outlier"):
        scorer.border_energy(_randn(1, 2, 3))
    with pytest.raises(TypeError, match="inliers"):
        scorer.fit(torch.ones(3, 2, dtype=torch.long))


# --------------------------------------------------------------------------- digits acceptance


def test_digits_held_out_classes_auroc_at_least_0_9() -> None:
    """In-distribution 0–4, OOD 5–9; β chosen on an inlier validation split only."""
    train_x, train_y = load_dataset("digits", split="train")
    test_x, test_y = load_dataset("digits", split="test")
    train_x, test_x = train_x.flatten(1).double(), test_x.flatten(1).double()
    pool = train_x[train_y < 5]
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))
    val, mem = pool[order[: len(pool) // 5]], pool[order[len(pool) // 5 :]]
    beta, _ = select_beta(mem, val, [float(b) for b in np.logspace(-2, 3, 11)])
    scores = HopfieldOODScorer(beta).fit(mem).score(test_x)
    value = auroc(scores[test_y < 5], scores[test_y >= 5])
    assert value >= 0.9
    assert fpr_at_tpr(scores[test_y < 5], scores[test_y >= 5]) < 0.5
