"""The exact kNN graph: parity with scikit-learn, chunking, ties, the CSR layout cleanlab takes,
memoisation on the dataset, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

from workbench.analysis.derived import analysis_of
from workbench.compute import knn as knn_module
from workbench.compute.knn import KNNGraph, knn_graph, knn_graph_from_csr
from workbench.core.dataset import Dataset

METRICS = ["cosine", "euclidean"]


def _blobs(n=600, d=16, k=5, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, d))
    y = rng.integers(0, k, n)
    x = centers[y] + spread * rng.normal(size=(n, d))
    return x.astype(np.float32), y


def _exact(x, i, j, metric):
    a, b = x[i].astype(np.float64), x[j].astype(np.float64)
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=-1)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return 1 - (a * b).sum(-1)


def _assert_same_up_to_ties(x, ours, theirs, metric, tol=1e-5):
    """Rows with different neighbour sets must only swap equidistant points: the sorted exact
    distance profiles agree within ``tol``."""
    same = np.array([set(a) == set(b) for a, b in zip(ours, theirs, strict=True)])
    rows = np.arange(len(ours))[:, None]
    d_ours = np.sort(_exact(x, rows, ours, metric), axis=1)
    d_theirs = np.sort(_exact(x, rows, theirs, metric), axis=1)
    np.testing.assert_allclose(d_ours[~same], d_theirs[~same], atol=tol)
    return same.mean()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n,d,k,chunk", [(400, 16, 10, None), (1000, 24, 7, 128), (257, 3, 1, 64)])
def test_matches_sklearn_brute_force(metric, n, d, k, chunk):
    x, _ = _blobs(n, d, seed=n)
    g = knn_graph(x, k, metric=metric, chunk_size=chunk, device="cpu", progress=False)
    nn = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(x)
    dist, ind = nn.kneighbors()
    assert g.indices.shape == g.distances.shape == (n, k)
    assert g.indices.dtype == np.int64 and g.distances.dtype == np.float32
    assert g.metric == metric and g.device == "cpu"
    assert _assert_same_up_to_ties(x, g.indices, ind, metric) > 0.99
    np.testing.assert_allclose(g.distances, dist, atol=1e-5)
    assert (g.indices != np.arange(n)[:, None]).all(), "self excluded"
    assert (np.diff(g.distances, axis=1) >= 0).all(), "nearest first"
    assert (g.distances >= 0).all()


@pytest.mark.parametrize("metric", METRICS)
def test_distances_are_exact_even_far_from_the_origin(metric):
    # A large common offset makes the ||a||²+||b||²-2ab expansion cancel badly in float32, and
    # makes all cosine distances tiny (~1e-5, near float32 resolution of the similarities).
    x, _ = _blobs(500, 8, seed=3)
    x = (x + 1000.0).astype(np.float32)
    g = knn_graph(x, 5, metric=metric, device="cpu", progress=False)
    rows = np.arange(len(x))[:, None]
    np.testing.assert_allclose(g.distances, _exact(x, rows, g.indices, metric), atol=1e-6)
    _, ind64 = NearestNeighbors(n_neighbors=5, metric=metric).fit(x.astype(float)).kneighbors()
    if metric == "euclidean":  # centring first keeps the expansion exact enough
        assert _assert_same_up_to_ties(x, g.indices, ind64, metric, tol=1e-5) > 0.99
    else:  # near-parallel vectors are told apart to float32 resolution, then ranked exactly
        _assert_same_up_to_ties(x, g.indices, ind64, metric, tol=1e-6)
        _, ind32 = NearestNeighbors(n_neighbors=5, metric=metric).fit(x).kneighbors()
        ours = _exact(x, rows, g.indices, metric).sum(1)
        assert np.mean(ours <= _exact(x, rows, ind32, metric).sum(1) + 1e-12) > 0.95


def test_include_self_matches_sklearn_with_query():
    x, _ = _blobs(300, 8, seed=1)
    g = knn_graph(x, 4, metric="euclidean", exclude_self=False, device="cpu", progress=False)
    dist, ind = NearestNeighbors(n_neighbors=4, algorithm="brute").fit(x).kneighbors(x)
    np.testing.assert_array_equal(g.indices[:, 0], np.arange(300))
    assert (g.distances[:, 0] == 0).all()
    np.testing.assert_array_equal(g.indices, ind)
    np.testing.assert_allclose(g.distances, dist, atol=1e-5)
    # k = N is allowed when self counts
    assert knn_graph(x[:5], 5, exclude_self=False, progress=False).indices.shape == (5, 5)


@pytest.mark.parametrize("metric", METRICS)
def test_chunk_sizes_that_do_not_divide_n_give_the_same_graph(metric):
    x, _ = _blobs(701, 12, seed=2)
    ref = knn_graph(x, 6, metric=metric, chunk_size=701, progress=False)
    for chunk in (97, 250, 700, 5000):
        g = knn_graph(x, 6, metric=metric, chunk_size=chunk, progress=False)
        np.testing.assert_array_equal(g.indices, ref.indices)
        np.testing.assert_array_equal(g.distances, ref.distances)


@pytest.mark.parametrize("chunk", [None, 3, 4, 10])
def test_ties_go_to_the_lower_index(chunk):
    line = np.arange(12, dtype=np.float32)[:, None]  # neighbours at distance 1 on both sides
    g = knn_graph(line, 1, metric="euclidean", chunk_size=chunk, progress=False)
    expected = np.r_[1, np.arange(0, 11)]  # 0 -> 1, i -> i - 1 (the lower of i - 1 and i + 1)
    np.testing.assert_array_equal(g.indices[:, 0], expected)
    g = knn_graph(line, 2, metric="euclidean", chunk_size=chunk, progress=False)
    np.testing.assert_array_equal(g.indices[5], [4, 6])

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    x[[30, 7, 19]] = x[25]  # four identical rows: 7, 19, 25, 30
    for metric in METRICS:
        g = knn_graph(x, 3, metric=metric, chunk_size=chunk, progress=False)
        np.testing.assert_array_equal(g.indices[25], [7, 19, 30])
        np.testing.assert_array_equal(g.indices[30], [7, 19, 25])
        np.testing.assert_array_equal(g.indices[7], [19, 25, 30])
        assert np.allclose(g.distances[[7, 19, 25, 30]], 0, atol=1e-7)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 9), (16, 8), (33, 17)])
def test_mask_pairs_equals_nonzero(shape):
    rng = np.random.default_rng(sum(shape))
    buf = torch.ones(shape[0] * shape[1] + 8, dtype=torch.bool)  # stale bytes past the mask
    for density in (0.0, 0.05, 0.5, 1.0):
        mask = torch.from_numpy(rng.random(shape) < density)
        buf[: mask.numel()] = mask.reshape(-1)
        r, c = knn_module._mask_pairs(buf, shape)
        er, ec = mask.nonzero(as_tuple=True)
        assert torch.equal(r, er) and torch.equal(c, ec)


def test_accepts_torch_pandas_float64_and_int_input():
    x, _ = _blobs(200, 6, seed=4)
    ref = knn_graph(x, 5, progress=False)
    for other in (torch.from_numpy(x), pd.DataFrame(x), x.astype(np.float64)):
        g = knn_graph(other, 5, progress=False)
        np.testing.assert_array_equal(g.indices, ref.indices)
        np.testing.assert_allclose(g.distances, ref.distances, atol=1e-6)
    xi = np.random.default_rng(0).integers(1, 50, size=(100, 4))
    g = knn_graph(xi, 3, metric="euclidean", progress=False)
    _, ind = NearestNeighbors(n_neighbors=3).fit(xi.astype(float)).kneighbors()
    assert _assert_same_up_to_ties(xi, g.indices, ind, "euclidean") > 0.5


def test_float64_input_distances_match_sklearn_in_float64():
    x, _ = _blobs(300, 10, seed=5)
    x = x.astype(np.float64)
    g = knn_graph(x, 8, metric="cosine", progress=False)
    dist, _ = NearestNeighbors(n_neighbors=8, metric="cosine").fit(x).kneighbors()
    np.testing.assert_allclose(g.distances, dist, atol=1e-6)


def test_progress_bar_is_shown(capsys):
    x, _ = _blobs(100, 4, seed=6)
    knn_graph(x, 3, chunk_size=40, progress=True)
    assert "kNN graph" in capsys.readouterr().err


def test_progress_false_silences_every_path_to_the_knn_search(capfd):
    from workbench.analysis.detectors import get_detector, run_detectors
    from workbench.pipeline.run import audit
    from workbench.session import Session

    x, y = _blobs(300, 8, seed=7)
    fresh = lambda: Dataset(y, features=x)  # noqa: E731  (the graph is memoised per dataset)
    capfd.readouterr()
    get_detector("knn_outlier").score(fresh(), progress=False)
    run_detectors(fresh(), ["knn_disagreement", "recov"], progress=False)
    run_detectors(fresh(), progress=False)
    Session(fresh())
    audit(fresh(), compute_missing=False, progress=False)
    assert capfd.readouterr().err == ""
    # the detectors' own bars are there by default, so the silence above is progress=False's
    run_detectors(fresh(), ["knn_disagreement", "recov"])
    err = capfd.readouterr().err
    assert "kNN graph" in err and "ReCoV repeats" in err


# --- the graph object and its CSR form -------------------------------------------------------


def test_graph_object_truncate_and_repr():
    x, _ = _blobs(150, 6, seed=7)
    g = knn_graph(x, 8, progress=False)
    t = g.truncate(3)
    np.testing.assert_array_equal(t.indices, g.indices[:, :3])
    np.testing.assert_array_equal(t.distances, g.distances[:, :3])
    assert g.truncate(8) is g
    assert repr(g) == "KNNGraph(N=150, k=8, metric='cosine', device='cpu')"
    assert (g.n_samples, g.n_neighbors) == (150, 8)
    with pytest.raises(ValueError, match="n_neighbors must lie in 1..8"):
        g.truncate(9)
    with pytest.raises(ValueError, match="same shape"):
        KNNGraph(g.indices, g.distances[:, :2], "cosine")


def test_csr_has_the_layout_of_sklearn_and_cleanlab_graphs():
    x, _ = _blobs(300, 8, seed=8)
    g = knn_graph(x, 5, metric="euclidean", progress=False)
    csr = g.to_csr()
    assert isinstance(csr, sparse.csr_matrix) and csr.shape == (300, 300) and csr.nnz == 1500
    np.testing.assert_array_equal(csr.data.reshape(300, 5), g.distances)
    np.testing.assert_array_equal(csr.indices.reshape(300, 5), g.indices)
    assert (csr.diagonal() == 0).all()
    ref = NearestNeighbors(n_neighbors=5).fit(x).kneighbors_graph(mode="distance")
    np.testing.assert_allclose(csr.toarray(), ref.toarray(), atol=1e-5)


def test_knn_graph_from_csr_round_trip_and_sklearn_graph():
    x, _ = _blobs(200, 8, seed=9)
    g = knn_graph(x, 4, progress=False)
    back = knn_graph_from_csr(g.to_csr(), metric="cosine")
    np.testing.assert_array_equal(back.indices, g.indices)
    np.testing.assert_array_equal(back.distances, g.distances)
    ref = NearestNeighbors(n_neighbors=4, metric="cosine").fit(x).kneighbors_graph(mode="distance")
    from_sk = knn_graph_from_csr(ref.tocoo(), metric="cosine")
    assert _assert_same_up_to_ties(x, from_sk.indices, g.indices, "cosine") > 0.99
    assert (np.diff(from_sk.distances, axis=1) >= 0).all()


def test_knn_graph_from_csr_rejects_bad_graphs():
    with pytest.raises(TypeError, match="scipy sparse"):
        knn_graph_from_csr(np.eye(3), metric="cosine")
    with pytest.raises(ValueError, match="square"):
        knn_graph_from_csr(sparse.csr_matrix(np.ones((2, 3))), metric="cosine")
    uneven = sparse.csr_matrix(np.array([[0, 1.0, 2.0], [1.0, 0, 0], [1.0, 2.0, 0]]))
    with pytest.raises(ValueError, match="same number"):
        knn_graph_from_csr(uneven, metric="euclidean")
    with pytest.raises(ValueError, match="metric"):
        knn_graph_from_csr(sparse.eye(3, format="csr"), metric="l1")
    neg = sparse.csr_matrix((np.array([-1.0, 1.0]), np.array([1, 0]), np.array([0, 1, 2])))
    with pytest.raises(ValueError, match=">= 0"):
        knn_graph_from_csr(neg, metric="euclidean")


@pytest.mark.slow
def test_csr_is_accepted_by_cleanlab_datalab_without_recomputing(monkeypatch):
    from cleanlab import Datalab
    from cleanlab.datalab.internal.issue_manager import knn_graph_helpers

    x, y = _blobs(400, 16, seed=10)
    data = {"label": y}
    reference = Datalab(data, label_name="label", verbosity=0)
    reference.find_issues(features=x, issue_types={"outlier": {"k": 10}})
    ref_scores = reference.get_issues("outlier")["outlier_score"].to_numpy()

    def no_recompute(*args, **kwargs):
        raise AssertionError("Datalab recomputed the kNN graph instead of using ours")

    monkeypatch.setattr(knn_graph_helpers, "create_knn_graph_and_index", no_recompute)
    csr = knn_graph(x, 10, metric="cosine", progress=False).to_csr()

    lab = Datalab(data, label_name="label", verbosity=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lab.find_issues(knn_graph=csr, issue_types={"outlier": {"k": 10}})
    assert not caught, [str(w.message) for w in caught]
    scores = lab.get_issues("outlier")["outlier_score"].to_numpy()
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert lab.get_info("statistics")["weighted_knn_graph"] is csr

    lab = Datalab(data, label_name="label", verbosity=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lab.find_issues(features=x, knn_graph=csr, issue_types={"label": {}, "outlier": {}})
    about_knn = [
        str(w.message)
        for w in caught
        if any(word in str(w.message).lower() for word in ("knn", "neighbo", "graph"))
    ]
    # The only ones are cleanlab's note that both inputs were given (it then uses the graph);
    # others, if any, are pandas deprecations inside cleanlab's label check.
    assert about_knn and all("Both `features` and `knn_graph`" in m for m in about_knn), about_knn
    assert {"label", "outlier"} <= set(lab.issue_summary["issue_type"])
    np.testing.assert_allclose(
        lab.get_issues("outlier")["outlier_score"].to_numpy(), ref_scores, atol=1e-5
    )


# --- one search per dataset (workbench.analysis.derived) ----------------------------------


def test_the_analysis_searches_once_and_reuses_larger_graphs(monkeypatch):
    x, y = _blobs(300, 8, seed=11)
    ds = Dataset(y, features=x)
    calls = []
    real = knn_module.knn_graph
    monkeypatch.setattr(
        knn_module, "knn_graph", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw)
    )
    g10 = analysis_of(ds).knn_graph(10, "cosine", progress=False)
    assert analysis_of(ds).knn_graph(10, "cosine", progress=False) is g10
    g4 = analysis_of(ds).knn_graph(4, "cosine", progress=False)
    np.testing.assert_array_equal(g4.indices, g10.indices[:, :4])
    assert calls == [10]
    analysis_of(ds).knn_graph(12, "cosine", progress=False)
    analysis_of(ds).knn_graph(5, "euclidean", progress=False)
    assert calls == [10, 12, 5]
    ds.features = ds.features + 1  # a new array: the memo no longer applies
    analysis_of(ds).knn_graph(5, "euclidean", progress=False)
    assert calls == [10, 12, 5, 5]
    # with_signals builds a new dataset, with its own memo
    analysis_of(ds.with_signals(features=x)).knn_graph(5, "euclidean", progress=False)
    assert calls == [10, 12, 5, 5, 5]


def test_interrupted_search_propagates_and_caches_nothing(monkeypatch):
    x, y = _blobs(300, 8, seed=12)
    ds = Dataset(y, features=x)
    real = knn_module._tile_scores
    seen = []

    def interrupt(*args):  # Ctrl-C while the third tile is computed
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(knn_module, "_tile_scores", interrupt)
    with pytest.raises(KeyboardInterrupt):
        knn_graph(x, 5, chunk_size=50, progress=True)
    seen[:] = [1, 1]  # the dataset's single tile is the third call
    with pytest.raises(KeyboardInterrupt):
        analysis_of(ds).knn_graph(5, "cosine", progress=False)
    assert not analysis_of(ds)._memo
    monkeypatch.setattr(knn_module, "_tile_scores", real)
    assert analysis_of(ds).knn_graph(5, "cosine", progress=False).n_neighbors == 5


def test_the_analysis_knn_graph_rejects_bad_input():
    x, y = _blobs(50, 4, seed=13)
    with pytest.raises(TypeError, match="workbench.Dataset"):
        analysis_of(x)
    with pytest.raises(ValueError, match="no features"):
        analysis_of(Dataset(y)).knn_graph(5)
    with pytest.raises(ValueError, match="metric"):
        analysis_of(Dataset(y, features=x)).knn_graph(5, "manhattan")
    with pytest.raises(ValueError, match="n_neighbors"):
        analysis_of(Dataset(y, features=x)).knn_graph(50, progress=False)


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_raises_before_any_work():
    x, _ = _blobs(20, 4, seed=14)
    bad_nan = x.copy()
    bad_nan[3, 1] = np.nan
    cases = [
        (dict(features=bad_nan), ValueError, r"NaN or infinity \(first at index \(3, 1\)\)"),
        (dict(features=x[:, 0]), ValueError, r"2-D of shape \(N, D\), found shape \(20,\)"),
        (dict(features=x[None]), ValueError, "2-D"),
        (dict(features=x[:1]), ValueError, "N >= 2"),
        (dict(features=np.empty((5, 0))), ValueError, "D >= 1"),
        (dict(features=np.array([["a", "b"], ["c", "d"]])), TypeError, "real numbers"),
        (dict(features=None), TypeError, "features is None"),
        (dict(features=x, n_neighbors=20), ValueError, r"1..19 \(N - 1\)"),
        (dict(features=x, n_neighbors=0), ValueError, "n_neighbors must lie in"),
        (dict(features=x, n_neighbors=2.0), TypeError, "n_neighbors must be an int"),
        (dict(features=x, n_neighbors=True), TypeError, "n_neighbors must be an int"),
        (dict(features=x, metric="manhattan"), ValueError, r"metric must be one of"),
        (dict(features=x, device="tpu"), ValueError, "device"),
        (dict(features=x, chunk_size=0), ValueError, "chunk_size"),
        (dict(features=x, chunk_size=2.5), TypeError, "chunk_size"),
        (dict(features=x, exclude_self="yes"), TypeError, "exclude_self"),
    ]
    for kwargs, err, match in cases:
        kwargs.setdefault("n_neighbors", 3)
        with pytest.raises(err, match=match):
            knn_graph(progress=False, **kwargs)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            knn_graph(x, 3, device="cuda", progress=False)


def test_zero_rows_are_rejected_for_cosine_but_fine_for_euclidean():
    x, _ = _blobs(30, 4, seed=15)
    x[[4, 9]] = 0
    with pytest.raises(ValueError, match=r"2 all-zero row\(s\) \(first at index \[4, 9\]\)"):
        knn_graph(x, 3, metric="cosine", progress=False)
    g = knn_graph(x, 3, metric="euclidean", progress=False)
    assert g.indices[4, 0] == 9 and g.distances[4, 0] == 0


def test_values_beyond_float32_are_rejected():
    x = np.random.default_rng(0).normal(size=(10, 3)) * 1e30
    with pytest.raises(ValueError, match="too large for float32"):
        knn_graph(x, 2, metric="euclidean", progress=False)
    with pytest.raises(ValueError, match="do not fit float32"):
        knn_graph(x * 1e30, 2, metric="cosine", progress=False)
