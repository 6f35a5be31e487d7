"""Neural relation graph: the paper's sums against a brute-force reference of the definitions,
block by block as in one piece, and injected label errors and outliers found on the demo."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from workbench.analysis.detectors import available_detectors, detector_kind, get_detector
from workbench.analysis.metrics import average_precision
from workbench.compute.relation import relation_sums
from workbench.core.dataset import Dataset
from workbench.noise.datasets import load_demo


def brute_force(x, p, y, power, threshold, reg):
    """The definitions, one pair at a time (float64)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    n, k = p.shape
    kern = np.maximum(x @ x.T, 0) * (p @ p.T)
    w = np.where(kern > threshold, kern**power, 0.0)
    sign = np.where(y[:, None] == y[None, :], 1.0, -1.0)
    s = (sign * w).sum(axis=1)  # the sample itself included, as the authors' code
    noisy = s / np.abs(s).max() < -reg
    refined = s - 2 * (sign * w)[:, noisy].sum(axis=1)
    others = w - np.diag(np.diag(w))
    support = np.stack([others[:, y == c].sum(axis=1) for c in range(k)], axis=1).argmax(axis=1)
    return refined, s, noisy, support, others.sum(axis=1)


@pytest.mark.parametrize("power, threshold", [(4.0, 0.03), (1.0, 0.0), (2.0, 0.2)])
def test_sums_equal_the_definitions(power, threshold):
    rng = np.random.default_rng(0)
    n, k = 120, 3
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, 6)) + 2.0 * np.eye(k, 6)[y]
    p = rng.dirichlet(np.ones(k), n)
    p[np.arange(n), y] += 1.0
    p /= p.sum(axis=1, keepdims=True)
    ref = brute_force(x, p, y, power, threshold, 0.05)
    for block in (1 << 24, 7 * n):  # one block, and blocks of 7 rows
        got = relation_sums(x, p, y, power=power, threshold=threshold, block_elements=block,
                            device="cpu", progress=False)  # fmt: skip
        np.testing.assert_allclose(got.reliability, ref[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got.initial, ref[1], rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(got.noisy, ref[2])
        np.testing.assert_array_equal(got.support, ref[3])
        np.testing.assert_allclose(got.density, ref[4], rtol=1e-4, atol=1e-5)
    unlabelled = relation_sums(x, p, power=power, threshold=threshold, device="cpu", progress=False)
    assert unlabelled.reliability is None
    np.testing.assert_allclose(unlabelled.density, ref[4], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def demo_with_outliers():
    """The digits demo (20 % symmetric noise) with 30 images replaced by uniform noise, and a
    logistic regression's out-of-fold pred_probs."""
    demo = load_demo("symmetric", rate=0.2, seed=0)
    x, y = demo.features.copy(), demo.labels
    rng = np.random.default_rng(0)
    outliers = np.zeros(len(y), bool)
    outliers[rng.choice(len(y), 30, replace=False)] = True
    x[outliers] = rng.random((30, x.shape[1]))
    p = cross_val_predict(LogisticRegression(max_iter=300), x, y, cv=5, method="predict_proba")
    ds = Dataset(y, features=x, pred_probs=p, true_labels=demo.true_labels)
    return ds, ds.is_noisy & ~outliers, outliers


def test_finds_injected_label_errors(demo_with_outliers):
    ds, noisy, outliers = demo_with_outliers
    res = get_detector("relation_graph").score(ds, progress=False)
    keep = ~outliers
    assert average_precision(res.scores[keep], noisy[keep]) > 0.93
    assert noisy[res.flags].mean() > 0.95 and res.flags[noisy].mean() > 0.5
    right = res.suggested_labels[res.flags & noisy] == ds.true_labels[res.flags & noisy]
    assert right.mean() > 0.9
    assert np.abs(res.scores).max() == 1.0  # normalised by the largest |reliability|
    # the refinement moves the ranking toward the truth
    initial = -res.details["initial"] / np.abs(res.details["initial"]).max()
    assert average_precision(res.scores[keep], noisy[keep]) >= average_precision(
        initial[keep], noisy[keep]
    )


def test_finds_injected_outliers(demo_with_outliers):
    ds, noisy, outliers = demo_with_outliers
    res = get_detector("relation_graph_outlier").score(ds, progress=False)
    assert detector_kind("relation_graph_outlier") == "outlier"
    assert roc_auc_score(outliers, res.scores) > 0.97
    assert outliers[res.flags].mean() > 0.9 and res.flags.sum() == int(0.01 * len(outliers)) + 1
    assert res.suggested_labels is None
    # the label-error score does not mistake them for the flagged label errors
    label = get_detector("relation_graph").score(ds, progress=False)
    assert roc_auc_score(outliers, res.scores) > roc_auc_score(outliers, label.scores)


def test_needs_features_and_pred_probs_and_a_bounded_n():
    y = np.array([0, 1, 0, 1])
    why = available_detectors(Dataset(y, features=np.eye(4)))
    assert "pred_probs" in why["relation_graph"] and "pred_probs" in why["relation_graph_outlier"]
    ds = Dataset(y, features=np.eye(4), pred_probs=np.full((4, 2), 0.5))
    for name in ("relation_graph", "relation_graph_outlier"):
        assert "max_samples=3" in get_detector(name, max_samples=3).missing(ds)
        assert get_detector(name, max_samples=None).missing(ds) is None


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("relation_graph", {"power": 0}, "power"),
        ("relation_graph", {"threshold": -1}, "threshold"),
        ("relation_graph", {"reg": 2.0}, "reg"),
        ("relation_graph_outlier", {"quantile": 1.0}, "quantile"),
    ],
)
def test_bad_parameters(name, params, match):
    rng = np.random.default_rng(1)
    ds = Dataset(
        [0, 1] * 10, features=rng.normal(size=(20, 3)), pred_probs=rng.dirichlet([1, 1], 20)
    )
    with pytest.raises(ValueError, match=match):
        get_detector(name, **params).score(ds, progress=False)
