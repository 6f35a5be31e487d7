"""ReCoV: the repeated cross-validation noise histogram separates injected noise."""

import numpy as np
import pytest
from _mixtures import noisy_mixture
from sklearn.metrics import roc_auc_score

from workbench.analysis.detectors import (
    available_detectors,
    get_detector,
    list_detectors,
    run_detectors,
)
from workbench.analysis.detectors.recov import ReCoV
from workbench.compute import recov_scores
from workbench.core.dataset import Dataset


def _mixture(n=500, d=10, k=4, noise=0.2, seed=0, sep=1.5):
    return noisy_mixture(n, d, k, noise, seed, sep)


@pytest.mark.parametrize("metric", ["loss", "error"])
def test_separates_injected_noise(metric):
    x, y, true = _mixture()
    res = recov_scores(x, y, n_repeats=400, metric=metric, seed=0, progress=False)
    noisy = y != true
    assert roc_auc_score(noisy, res.scores) > 0.98
    assert roc_auc_score(noisy, res.worst_fold_rate) > 0.85
    assert res.flags.sum() >= 20 and noisy[res.flags].mean() > 0.9
    # noisy samples land in the worst fold more often than 1/F, clean ones less often
    rate = res.worst_fold_rate
    assert rate[noisy].mean() > 0.2 + 0.03 and rate[~noisy].mean() < 0.2
    assert res.scores[noisy].mean() > 0.2 + 0.1 and res.scores[~noisy].mean() < 0.2


def test_loss_weighting_separates_where_the_plain_count_fades():
    # With 400 samples per fold the worst fold's few mislabeled samples share its blame with
    # hundreds of clean ones: the unweighted count separates poorly, the weighted score well.
    x, y, true = _mixture(n=2000)
    res = recov_scores(x, y, seed=0, progress=False)
    noisy = y != true
    assert roc_auc_score(noisy, res.scores) > 0.97
    assert roc_auc_score(noisy, res.scores) > roc_auc_score(noisy, res.worst_fold_rate) + 0.15
    # the score stays a worst-fold statistic: nothing without a landing in the worst fold, and
    # each repeat hands out as much weight as it hands out landings
    np.testing.assert_array_equal(res.scores > 0, res.counts > 0)
    assert res.scores.sum() == pytest.approx(res.counts.sum() / res.n_repeats, rel=1e-9)


def test_histogram_bookkeeping():
    x, y, _ = _mixture(n=203)
    res = recov_scores(x, y, n_repeats=37, n_folds=4, seed=1, progress=False)
    # every repeat puts one fold, ~N/F samples, in the worst fold
    assert res.counts.sum() in range(37 * (203 // 4), 37 * (203 // 4 + 1) + 1)
    assert res.histogram.sum() == 203 and len(res.histogram) == 38
    np.testing.assert_array_equal(res.histogram, np.bincount(res.counts, minlength=38))
    np.testing.assert_allclose(res.worst_fold_rate, res.counts / 37)
    np.testing.assert_array_equal(res.scores > 0, res.counts > 0)
    assert res.scores.mean() == pytest.approx(res.worst_fold_rate.mean(), rel=1e-9)
    assert ((res.p_values > 0) & (res.p_values <= 1)).all()


def test_chunked_repeats_match_one_by_one(monkeypatch):
    # The repeats batched together equal the same repeats taken in chunks of one: the
    # split of each repeat depends only on the seed.
    x, y, _ = _mixture(n=150)
    a = recov_scores(x, y, n_repeats=12, seed=3, progress=False)
    import torch

    calls = []
    real_bmm = torch.bmm

    def counting_bmm(*args, **kw):
        calls.append(args[0].shape[0])
        return real_bmm(*args, **kw)

    monkeypatch.setattr(torch, "bmm", counting_bmm)
    b = recov_scores(x, y, n_repeats=12, seed=3, progress=False)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert max(calls) == 12 * 5  # all folds of all repeats in one batched product


def test_reproducible_and_seed_dependent():
    x, y, _ = _mixture(n=200)
    a = recov_scores(x, y, n_repeats=30, seed=5, progress=False)
    b = recov_scores(x, y, n_repeats=30, seed=5, progress=False)
    c = recov_scores(x, y, n_repeats=30, seed=6, progress=False)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.counts, c.counts)


def test_wide_features_are_reduced_and_still_work():
    rng = np.random.default_rng(0)
    x, y, true = _mixture(n=400, d=8)
    wide = np.hstack([x, 0.1 * rng.normal(size=(400, 120))]).astype(np.float32)
    res = recov_scores(wide, y, n_repeats=300, max_dim=16, seed=0, progress=False)
    assert roc_auc_score(y != true, res.scores) > 0.85


def test_clean_labels_flag_almost_nothing():
    x, y, _ = _mixture(n=400, noise=0.0, sep=3.0)
    res = recov_scores(x, y, n_repeats=100, seed=0, progress=False)
    assert res.flags.sum() <= 4


def test_registered_detector_runs_on_a_dataset():
    x, y, true = _mixture(n=300)
    assert "recov" in list_detectors()
    ds = Dataset(y, features=x, true_labels=true)
    assert available_detectors(ds)["recov"] is None
    assert "features" in available_detectors(Dataset(y))["recov"]
    det = get_detector("recov", n_repeats=200, seed=0)
    assert isinstance(det, ReCoV) and det.get_params()["n_repeats"] == 200
    res = det.score(ds)
    assert res.detector == "recov" and res.scores.shape == (300,)
    assert roc_auc_score(ds.is_noisy, res.scores) > 0.95
    assert res.details["histogram"].sum() == 300 and res.details["expected_score"] == 0.2
    np.testing.assert_allclose(res.details["worst_fold_rate"], res.details["counts"] / 200)


def test_unavailable_with_a_reason_when_a_class_is_smaller_than_the_folds():
    x, y, _ = _mixture(n=60, k=2)
    y[:] = 0
    y[:4] = 1  # 4 samples in class 1 < 5 folds
    ds = Dataset(y, features=x)
    reason = available_detectors(ds)["recov"]
    assert "n_folds=5" in reason and "class '1' has 4" in reason
    assert get_detector("recov", n_folds=4).missing(ds) is None
    assert "recov" not in run_detectors(ds, progress=False)


def test_bad_input_raises_clear_errors():
    x, y, _ = _mixture(n=100)
    with pytest.raises(ValueError, match="features contains NaN"):
        recov_scores(np.where(np.eye(100, 10, dtype=bool), np.nan, x), y)
    with pytest.raises(ValueError, match="Inconsistent"):
        recov_scores(x, y[:-2])
    with pytest.raises(ValueError, match="n_repeats must be at least 1"):
        recov_scores(x, y, n_repeats=0)
    with pytest.raises(TypeError, match="n_folds must be an int"):
        recov_scores(x, y, n_folds=2.5)
    with pytest.raises(ValueError, match="smallest class"):
        recov_scores(x, np.r_[np.zeros(98, int), np.ones(2, int)], n_folds=5)
    with pytest.raises(ValueError, match="metric"):
        recov_scores(x, y, metric="auc")
    with pytest.raises(ValueError, match="2-D"):
        recov_scores(x[:, 0], y)
    with pytest.raises(ValueError, match="device="):
        recov_scores(x, y, device="gpu")
    with pytest.raises(ValueError, match="at least 2 classes"):
        recov_scores(x, np.zeros(100, int))
