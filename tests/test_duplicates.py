"""Near and exact duplicates: the sets of cleanlab Datalab's near_duplicate issue on the same
graph and threshold, injected copies found, pairs with two labels and split leakage reported."""

import numpy as np
import pandas as pd
import pytest
from cleanlab import Datalab

from workbench.analysis.detectors import available_detectors, detector_kind, get_detector
from workbench.analysis.detectors.duplicates import near_duplicates
from workbench.compute.knn import knn_graph
from workbench.core.dataset import Dataset


def with_copies(n=400, d=8, n_exact=6, n_near=6, seed=0):
    """Gaussian features where samples 0..n_exact-1 are copied exactly (onto the last rows)
    and the next n_near nearly (tiny noise). Returns x, labels and the injected pairs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    labels = rng.integers(0, 3, n)
    pairs = []
    for i in range(n_exact + n_near):
        j = n - 1 - i
        x[j] = x[i] + (0 if i < n_exact else 1e-4 * rng.normal(size=d))
        pairs.append((i, j))
    return x, labels, np.array(pairs)


def datalab_near_duplicates(labels, graph, threshold):
    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    lab.find_issues(
        knn_graph=graph.to_csr(), issue_types={"near_duplicate": {"threshold": threshold}}
    )
    return lab.get_issues("near_duplicate"), lab.get_info("near_duplicate")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("threshold", [0.13, 0.5, 1.0])
def test_same_sets_as_datalab_on_the_same_graph(metric, threshold):
    x, labels, _ = with_copies(seed=1)
    x[50:60] = x[40]  # a group of eleven copies: more than k
    graph = knn_graph(x, 10, metric=metric, progress=False)
    ours = near_duplicates(graph, threshold)
    issues, info = datalab_near_duplicates(labels, graph, threshold)
    theirs = [np.sort(np.asarray(s, dtype=np.int64)) for s in info["near_duplicate_sets"]]
    for a, b in zip(ours.sets(), theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ours.flags, issues["is_near_duplicate_issue"].to_numpy())
    np.testing.assert_allclose(ours.scores, 1 - issues["near_duplicate_score"], atol=1e-6)
    assert ours.median_nn_distance == pytest.approx(info["median_distance_to_nearest_neighbor"])


def test_injected_copies_are_found_and_grouped():
    x, labels, injected = with_copies(seed=2)
    res = near_duplicates(knn_graph(x, 10, metric="euclidean", progress=False))
    assert {tuple(p) for p in injected} <= {tuple(p) for p in res.pairs}
    assert res.flags.sum() == 2 * len(injected)  # nothing else in Gaussian noise
    assert np.all(res.group[injected[:, 0]] == res.group[injected[:, 1]])
    assert res.n_groups == len(injected) and (res.group[~res.flags] == -1).all()
    np.testing.assert_array_equal(res.scores[injected[:6].reshape(-1)], 1.0)  # exact copies
    assert res.scores[~res.flags].max() < res.scores[res.flags].min()
    assert (res.pairs[:, 0] < res.pairs[:, 1]).all()


def test_detector_reports_pairs_with_two_labels_and_leakage():
    x, labels, injected = with_copies(seed=3)
    labels[injected[:, 1]] = labels[injected[:, 0]]
    labels[injected[0, 1]] = (labels[injected[0, 0]] + 1) % 3  # one copy with another label
    split = np.where(np.arange(len(labels)) < 300, "train", "test")
    split[injected[1, 1]] = "train"  # one pair inside train; the others leak into test
    ds = Dataset(labels, features=x, metadata=pd.DataFrame({"split": split}))
    res = get_detector("near_duplicate", split="split").score(ds, progress=False)
    d = res.details
    assert detector_kind("near_duplicate") == "duplicate" and res.suggested_labels is None
    differ = {tuple(p) for p in d["pairs"][d["pair_labels_differ"]]}
    assert differ == {tuple(injected[0])}
    assert set(np.flatnonzero(d["conflicting_label"])) == set(injected[0])
    crossing = {tuple(p) for p in d["pairs"][d["pair_crosses_split"]]}
    assert crossing == {tuple(p) for p in injected} - {tuple(injected[1])}
    assert d["leaking"].sum() == 2 * len(crossing)
    assert set(np.flatnonzero(d["exact"])) == set(injected[:6].reshape(-1))
    np.testing.assert_array_equal(res.flags, near_duplicates(d_graph(ds)).flags)
    with pytest.raises(ValueError, match="metadata"):
        get_detector("near_duplicate", split="fold").score(ds, progress=False)


def d_graph(ds):
    return knn_graph(ds.features, 10, metric="cosine", progress=False)


def test_no_duplicates_and_all_duplicates():
    grid = np.c_[np.arange(100.0), np.zeros(100)]  # every nearest neighbour at distance 1
    res = near_duplicates(knn_graph(grid, 5, metric="euclidean", progress=False))
    assert not res.flags.any() and res.pairs.shape == (0, 2) and res.n_groups == 0
    assert (res.group == -1).all() and res.sets()[0].size == 0
    same = np.ones((20, 3))  # every sample a copy of every other: the median is 0
    res = near_duplicates(knn_graph(same, 5, metric="euclidean", progress=False))
    assert res.flags.all() and res.median_nn_distance == 1e-6 and res.n_groups == 1
    np.testing.assert_array_equal(res.scores, 1.0)
    assert not near_duplicates(
        knn_graph(same, 5, metric="euclidean", progress=False), 0
    ).flags.any()


def test_needs_features_and_more_samples_than_k():
    assert "features" in available_detectors(Dataset([0, 1, 1]))["near_duplicate"]
    why = available_detectors(Dataset([0, 1] * 5, features=np.eye(10)))["near_duplicate"]
    assert "k=10" in why


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda g: near_duplicates(g, -0.1), ValueError, "threshold"),
        (lambda g: near_duplicates(g, "0.1"), TypeError, "threshold"),
        (lambda g: near_duplicates(g.indices), TypeError, "KNNGraph"),
    ],
)
def test_bad_input(call, error, match):
    g = knn_graph(np.random.default_rng(0).normal(size=(20, 3)), 3, progress=False)
    with pytest.raises(error, match=match):
        call(g)
