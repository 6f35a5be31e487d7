"""HOC transition-matrix estimation: exact statistics give the matrix back, clusterable
features with simulated noise give the realised matrix, the gradient is the loss's."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from workbench.analysis.hoc import (
    MAX_CLASSES,
    consensus_statistics,
    estimate_transition_hoc,
)
from workbench.analysis.matrices import transition_estimation_error, true_transition_matrix
from workbench.compute.hoc import fit_hoc, hoc_loss
from workbench.compute.knn import knn_graph
from workbench.noise import symmetric_noise
from workbench.noise.datasets import make_gaussian_mixture


def implied(t, p):
    return (
        p @ t,
        np.einsum("i,ij,il->jl", p, t, t),
        np.einsum("i,ij,il,im->jlm", p, t, t, t),
    )


def test_gradient_is_the_loss_gradient():
    rng = np.random.default_rng(0)
    k = 4
    x = rng.normal(size=k * k + k)
    stats = implied(rng.dirichlet(np.ones(k), k), rng.dirichlet(np.ones(k)))
    grad = hoc_loss(x, *stats)[1]
    numeric = approx_fprime(x, lambda z: hoc_loss(z, *stats)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, atol=1e-6 * np.abs(grad).max())


@pytest.mark.parametrize("k", [2, 3, 6])
def test_exact_statistics_give_the_matrix_and_prior_back(k):
    rng = np.random.default_rng(k)
    t = rng.dirichlet(np.ones(k) * 3, k) * 0.4 + 0.6 * np.eye(k)  # diagonal-dominant
    p = rng.dirichlet(np.ones(k) * 4)
    fit = fit_hoc(*implied(t, p), max_iter=3000)  # to convergence
    np.testing.assert_allclose(fit.transition, t, atol=1e-3)
    np.testing.assert_allclose(fit.prior, p, atol=1e-3)
    np.testing.assert_allclose(fit.transition.sum(axis=1), 1.0)
    assert fit.loss < 1e-8


def test_clusterable_features_with_symmetric_noise():
    x, true = make_gaussian_mixture(3000, 4, 8, separation=8.0, seed=1)
    noisy = symmetric_noise(true, 0.3, seed=2)
    graph = knn_graph(x, 2, metric="euclidean", progress=False)
    res = estimate_transition_hoc(noisy.noisy_labels, graph)
    realised = true_transition_matrix(true, noisy.noisy_labels, 4)
    err = transition_estimation_error(res.transition, realised)
    assert err["mae"] < 0.03, err
    assert transition_estimation_error(np.eye(4), realised)["mae"] > 0.1  # noise is there
    share = res.noisy_share_given()
    assert share.shape == (4,) and np.all((share > 0.2) & (share < 0.4))
    first, second, third = res.statistics
    assert first.sum() == pytest.approx(1) and second.sum() == pytest.approx(1)
    np.testing.assert_allclose(third.sum(axis=2), second)


def test_on_a_dataset_through_the_shared_graph():
    from workbench.analysis.derived import analysis_of
    from workbench.analysis.hoc import dataset_transition_hoc
    from workbench.core.dataset import Dataset

    x, true = make_gaussian_mixture(1500, 3, 6, separation=8.0, seed=3)
    noisy = symmetric_noise(true, 0.2, seed=4)
    ds = Dataset(noisy.noisy_labels, features=x, true_labels=true)
    res = dataset_transition_hoc(ds)
    graph = analysis_of(ds).knn_graph(10, "cosine", progress=False)
    direct = estimate_transition_hoc(ds.labels, graph)
    np.testing.assert_array_equal(res.transition, direct.transition)
    realised = true_transition_matrix(true, ds.labels, 3)
    assert transition_estimation_error(res.transition, realised)["mae"] < 0.03
    with pytest.raises(ValueError, match="features"):
        dataset_transition_hoc(Dataset([0, 1, 0]))


def test_consensus_statistics_by_hand():
    labels = np.array([0, 0, 1, 1])
    graph = knn_graph(np.array([[0.0], [0.1], [5.0], [5.2]]), 2, metric="euclidean", progress=False)
    first, second, third = consensus_statistics(labels, graph)
    np.testing.assert_allclose(first, [0.5, 0.5])
    # nearest neighbours: 0->1, 1->0, 2->3, 3->2; second nearest crosses the gap
    np.testing.assert_allclose(second, [[0.5, 0.0], [0.0, 0.5]])
    assert third[0, 0, 1] == 0.5 and third[1, 1, 0] == 0.5


def test_bad_input():
    labels = np.array([0, 1, 0, 1, 0])
    g1 = knn_graph(np.arange(5.0)[:, None], 1, metric="euclidean", progress=False)
    with pytest.raises(ValueError, match="at least 2 neighbours"):
        estimate_transition_hoc(labels, g1)
    with pytest.raises(TypeError, match="KNNGraph"):
        estimate_transition_hoc(labels, g1.indices)
    g2 = knn_graph(np.arange(5.0)[:, None], 2, metric="euclidean", progress=False)
    with pytest.raises(ValueError, match="K=201"):
        estimate_transition_hoc(labels, g2, n_classes=MAX_CLASSES + 1)
    with pytest.raises(ValueError, match="max_iter"):
        estimate_transition_hoc(labels, g2, max_iter=0)
