"""Feature-based detectors: kNN label disagreement and kNN outlier score, shown on Gaussian
mixtures with injected noise and far-away points, against chance on label-free data, and
against cleanlab's Datalab where it computes the same score."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from workbench.analysis.detectors import (
    MissingSignalError,
    available_detectors,
    get_detector,
    list_detectors,
    run_detectors,
)
from workbench.analysis.detectors.features import (
    KNNDisagreementDetector,
    KNNOutlierDetector,
    knn_label_vote,
    resolve_metric,
)
from workbench.compute import knn as knn_module
from workbench.compute.knn import knn_graph
from workbench.core.dataset import Dataset


def _mixture(n=1500, k=4, d=8, noise=0.2, seed=0, scale=4.0):
    """Seeded Gaussian mixture with symmetric label noise: (features, noisy labels, true)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=scale, size=(k, d))
    true = rng.integers(0, k, n)
    x = centers[true] + rng.normal(size=(n, d))
    flip = rng.random(n) < noise
    noisy = np.where(flip, (true + rng.integers(1, k, n)) % k, true)
    return x.astype(np.float32), noisy, true


@pytest.mark.parametrize("metric", ["auto", "cosine", "euclidean"])
@pytest.mark.parametrize("weighting", ["uniform", "distance"])
def test_disagreement_finds_symmetric_noise(metric, weighting):
    x, noisy, true = _mixture(seed=1)
    ds = Dataset(noisy, features=x, true_labels=true)
    r = KNNDisagreementDetector(k=15, metric=metric, weighting=weighting).score(ds)
    assert r.detector == "knn_disagreement"
    assert r.scores.shape == (1500,) and r.scores.min() >= 0 and r.scores.max() <= 1
    assert roc_auc_score(ds.is_noisy, r.scores) > 0.9
    # flag rule: the majority disagrees with the given label
    assert (r.flags == (r.suggested_labels != noisy)).all()
    precision = ds.is_noisy[r.flags].mean()
    recall = r.flags[ds.is_noisy].mean()
    assert precision > 0.8 and recall > 0.8, (precision, recall)
    # the suggestion is the true label for most flagged noisy samples
    hit = r.flags & ds.is_noisy
    assert (r.suggested_labels[hit] == true[hit]).mean() > 0.9
    np.testing.assert_allclose(r.details["agreement"], 1 - r.scores)
    assert r.details["metric"] == ("cosine" if metric == "auto" else metric)
    assert r.params == {"k": 15, "metric": metric, "weighting": weighting, "device": None}


def test_outlier_separates_far_points_from_in_class_points_and_from_label_errors():
    x, noisy, true = _mixture(n=1500, seed=2)
    rng = np.random.default_rng(3)
    # 40 points far from every class: a broad cloud around the origin's far side
    far = rng.normal(scale=12.0, size=(40, x.shape[1])).astype(np.float32)
    x_all = np.vstack([x, far])
    labels = np.r_[noisy, rng.integers(0, 4, 40)]
    is_far = np.r_[np.zeros(1500, bool), np.ones(40, bool)]
    is_mislabeled = np.r_[noisy != true, np.zeros(40, bool)]
    ds = Dataset(labels, features=x_all)
    for metric in ("euclidean", "cosine"):
        out = KNNOutlierDetector(k=10, metric=metric, quantile=0.97).score(ds)
        dis = KNNDisagreementDetector(k=10, metric=metric).score(ds)
        assert out.suggested_labels is None
        assert roc_auc_score(is_far, out.scores) > 0.97
        assert out.flags.sum() == pytest.approx(0.03 * len(x_all), abs=2)
        assert is_far[out.flags].mean() > 0.7
        assert out.details["threshold"] == pytest.approx(np.quantile(out.scores, 0.97))
        # mislabeled in-distribution samples: high disagreement, ordinary outlier score
        inside = ~is_far
        assert roc_auc_score(is_mislabeled[inside], dis.scores[inside]) > 0.9
        assert abs(roc_auc_score(is_mislabeled[inside], out.scores[inside]) - 0.5) < 0.1
        # the two scores are cross-referenced in details
        np.testing.assert_allclose(out.details["disagreement"], dis.scores)
        np.testing.assert_allclose(dis.details["outlier_score"], out.scores)


def test_chance_when_labels_are_independent_of_features():
    rng = np.random.default_rng(4)
    n, k = 3000, 4
    x = rng.normal(size=(n, 8)).astype(np.float32)
    true = rng.integers(0, k, n)  # labels carry no information about the features
    flip = rng.random(n) < 0.25
    noisy = np.where(flip, (true + rng.integers(1, k, n)) % k, true)
    ds = Dataset(noisy, features=x, true_labels=true)
    for name in ("knn_disagreement", "knn_outlier"):
        r = get_detector(name).score(ds)
        assert abs(roc_auc_score(ds.is_noisy, r.scores) - 0.5) < 0.05, name


def test_disagreement_equals_cleanlab_datalab_label_score_from_features():
    from cleanlab import Datalab

    x, noisy, _ = _mixture(n=500, d=6, seed=5)
    lab = Datalab({"label": noisy}, label_name="label", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecations inside cleanlab
        lab.find_issues(features=x, issue_types={"label": {"k": 10}})
    quality = lab.get_issues("label")["label_score"].to_numpy()
    # Datalab votes with KNeighborsClassifier (euclidean, self removed): the same k-NN vote.
    r = KNNDisagreementDetector(k=10, metric="euclidean").score(Dataset(noisy, features=x))
    np.testing.assert_allclose(r.scores, 1 - quality, atol=1e-12)


def test_both_detectors_share_one_graph(monkeypatch):
    x, noisy, _ = _mixture(n=400, seed=6)
    ds = Dataset(noisy, features=x)
    calls = []
    real = knn_module.knn_graph
    monkeypatch.setattr(knn_module, "knn_graph", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    results = run_detectors(ds, ["knn_disagreement", "knn_outlier"], progress=False)
    assert len(calls) == 1
    assert (
        results["knn_disagreement"].details["knn_graph"]
        is results["knn_outlier"].details["knn_graph"]
    )
    get_detector("knn_outlier", k=5).score(ds)  # fewer neighbours: the first columns, no search
    assert len(calls) == 1


def test_registry_and_missing_features():
    assert {"knn_disagreement", "knn_outlier"} <= set(list_detectors())
    ds = Dataset([0, 1, 0, 1])
    why = available_detectors(ds)
    assert "features" in why["knn_disagreement"] and "features" in why["knn_outlier"]
    with pytest.raises(MissingSignalError, match="features"):
        KNNOutlierDetector().score(ds)
    for cls in (KNNDisagreementDetector, KNNOutlierDetector):
        assert cls.requires == ("features",)
        assert "ICML" in cls.reference and cls.summary


def test_knn_label_vote_exact_values():
    labels = np.array([0, 0, 1, 1, 2])
    graph = knn_graph(
        np.array([[0.0], [1.0], [2.0], [3.0], [10.0]]), 2, metric="euclidean", progress=False
    )
    # neighbours: 0->[1,2], 1->[0,2], 2->[1,3], 3->[2,1], 4->[3,2]
    vote = knn_label_vote(labels, graph)
    np.testing.assert_allclose(vote.agreement, [0.5, 0.5, 0.5, 0.5, 0.0])
    # ties between the given label and another class keep the given label
    np.testing.assert_array_equal(vote.majority, [0, 0, 1, 1, 1])
    np.testing.assert_allclose(vote.majority_share, [0.5, 0.5, 0.5, 0.5, 1.0])
    # distance weights: sample 2 sees 1 (label 0) and 3 (label 1) both at distance 1
    w = knn_label_vote(labels, graph, weighting="distance")
    np.testing.assert_allclose(w.agreement[[2, 4]], [0.5, 0.0])
    # sample 0: neighbour 1 at distance 1 (label 0), neighbour 2 at distance 2 (label 1)
    np.testing.assert_allclose(w.agreement[0], (1 / 1) / (1 / 1 + 1 / 2))
    # exact duplicates: only the zero-distance neighbours vote
    dup = knn_graph(np.array([[0.0], [0.0], [0.5], [5.0]]), 2, metric="euclidean", progress=False)
    w = knn_label_vote(np.array([1, 0, 1, 0]), dup, weighting="distance")
    assert w.agreement[0] == 0.0 and w.majority[0] == 0


def test_knn_label_vote_rejects_bad_input():
    graph = knn_graph(np.arange(10.0)[:, None], 2, metric="euclidean", progress=False)
    with pytest.raises(ValueError, match="graph has 10 samples but labels has 9"):
        knn_label_vote(np.zeros(9, int), graph)
    with pytest.raises(TypeError, match="KNNGraph"):
        knn_label_vote(np.zeros(10, int), graph.indices)
    with pytest.raises(ValueError, match="weighting"):
        knn_label_vote(np.zeros(10, int), graph, weighting="rank")
    with pytest.raises(ValueError, match="labels must be 0 or more"):
        knn_label_vote(-np.ones(10, int), graph)


def test_bad_parameters_raise_before_the_search(monkeypatch):
    x, noisy, _ = _mixture(n=60, seed=7)
    ds = Dataset(noisy, features=x)
    monkeypatch.setattr(knn_module, "knn_graph", lambda *a, **kw: pytest.fail("searched"))
    cases = [
        (KNNDisagreementDetector(k=0), ValueError, "k must be a positive int"),
        (KNNDisagreementDetector(k="5"), TypeError, "k must be a positive int"),
        (KNNDisagreementDetector(k=60), MissingSignalError, r"more samples than k=60 .*N=60"),
        (KNNDisagreementDetector(metric="manhattan"), ValueError, "metric must be 'auto'"),
        (KNNDisagreementDetector(weighting="rank"), ValueError, "weighting must be one of"),
        (KNNOutlierDetector(quantile=1.5), ValueError, r"quantile must lie in \(0, 1\)"),
        (KNNOutlierDetector(quantile=0), ValueError, "quantile"),
        (KNNOutlierDetector(quantile="high"), TypeError, "quantile"),
        (KNNOutlierDetector(k=True), TypeError, "k must be"),
    ]
    for detector, err, match in cases:
        with pytest.raises(err, match=match):
            detector.score(ds)
    with pytest.raises(TypeError, match="workbench.Dataset"):
        KNNOutlierDetector().score(x)


def test_resolve_metric_follows_cleanlab_default_and_avoids_zero_rows_for_auto():
    x = np.ones((5, 4))
    assert resolve_metric("auto", x[:, :3]) == "euclidean"
    assert resolve_metric("auto", x) == "cosine"
    x[2] = 0
    assert resolve_metric("auto", x) == "euclidean"
    assert resolve_metric("cosine", x) == "cosine"  # explicit: knn_graph will say why not
    assert resolve_metric("euclidean", x) == "euclidean"
    with pytest.raises(ValueError, match="metric"):
        resolve_metric("l1", x)


def test_small_datasets_and_zero_rows_do_not_break_run_detectors():
    tiny = Dataset([0, 1] * 4, features=np.random.default_rng(8).normal(size=(8, 5)))
    why = available_detectors(tiny)
    assert "more samples than k=10" in why["knn_disagreement"]
    assert "(found N=8)" in why["knn_outlier"]
    with pytest.raises(MissingSignalError, match="k=10"):
        KNNOutlierDetector().score(tiny)
    assert get_detector("knn_outlier", k=3).score(tiny).scores.shape == (8,)
    x, noisy, _ = _mixture(n=200, seed=9)
    x[[3, 50]] = 0
    ds = Dataset(noisy, features=x)
    r = run_detectors(ds, ["knn_disagreement"], progress=False)["knn_disagreement"]
    assert r.details["metric"] == "euclidean"
    with pytest.raises(ValueError, match="all-zero row"):
        KNNDisagreementDetector(metric="cosine").score(ds)
