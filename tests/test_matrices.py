"""Noise-structure matrices: equal to cleanlab's counts and scikit-learn's confusion matrix,
orientation T[i, j] = P(given = j | true = i), and estimates close to known injected noise."""

import numpy as np
import pytest
from cleanlab import count as cl_count
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from workbench.analysis import matrices as M
from workbench.noise import symmetric_noise


def synthetic(seed, k, *, ties=False, imbalanced=False, singleton=False, dtype=np.float32):
    """Labels and pred_probs with structure worth testing: ties, rare classes, one-sample class."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 2500))
    prior = rng.dirichlet(np.full(k, 0.4 if imbalanced else 5.0))
    y = rng.choice(k, n, p=prior)
    y[:k] = np.arange(k)
    if singleton:
        y[y == k - 1] = 0
        y[0] = k - 1
    p = rng.dirichlet(np.full(k, 0.3), n)
    p[np.arange(n), y] += rng.random(n) * 2
    p /= p.sum(axis=1, keepdims=True)
    if ties:  # coarse probabilities: many exact ties
        p = np.round(p * 8) / 8
        p /= p.sum(axis=1, keepdims=True)
    return y, p.astype(dtype)


CASES = [
    dict(seed=s, k=k, ties=t, imbalanced=i, singleton=o, dtype=d)
    for s, (k, t, i, o, d) in enumerate(
        [
            (2, False, False, False, np.float32),
            (3, True, False, True, np.float64),
            (5, False, True, False, np.float32),
            (8, True, True, True, np.float32),
            (12, False, False, True, np.float64),
            (20, True, True, False, np.float32),
            (20, False, True, True, np.float64),
        ]
    )
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"K{c['k']}-s{c['seed']}")
def test_confident_joint_thresholds_and_counts_equal_cleanlab(case):
    y, p = synthetic(**case)
    for calibrate in (True, False):
        ours = M.confident_joint(y, p, calibrate=calibrate)
        ref = cl_count.compute_confident_joint(y, p, calibrate=calibrate)
        np.testing.assert_array_equal(ours, ref)
        assert ours.dtype == np.int64
    np.testing.assert_array_equal(
        M.confident_thresholds(y, p), cl_count.get_confident_thresholds(y, p)
    )
    assert M.estimate_num_errors(y, p) == cl_count.num_label_issues(y, p)
    np.testing.assert_allclose(M.estimate_joint(y, p), cl_count.estimate_joint(y, p), rtol=0)


@pytest.mark.parametrize("converge", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"K{c['k']}-s{c['seed']}")
def test_transition_matrix_is_transpose_of_cleanlab_noise_matrix(case, converge):
    y, p = synthetic(**case)
    t = M.estimate_transition_matrix(y, p, converge_latent_estimates=converge)
    _, noise_matrix, _, _ = cl_count.estimate_py_and_noise_matrices_from_probabilities(
        y, p, converge_latent_estimates=converge
    )
    np.testing.assert_array_equal(t, noise_matrix.T)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)  # rows = true label


def test_converging_the_latent_estimates_matters_where_clipping_bites():
    # few samples, many classes, a class almost never truly present: cleanlab's default
    # (converge_latent_estimates=True) then differs from the plain estimate
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 25)
    y[:8] = np.arange(8)
    p = rng.dirichlet(np.full(8, 0.3), 25)
    plain = M.estimate_transition_matrix(y, p)
    converged = M.estimate_transition_matrix(y, p, converge_latent_estimates=True)
    _, default, _, _ = cl_count.estimate_py_and_noise_matrices_from_probabilities(y, p)
    np.testing.assert_array_equal(converged, default.T)
    assert np.abs(plain - converged).max() > 0.1
    with pytest.raises(TypeError, match="converge_latent_estimates"):
        M.estimate_transition_matrix(y, p, converge_latent_estimates="yes")


def test_class_with_no_given_label_matches_cleanlab():
    y, p = synthetic(3, 6)
    y[y == 4] = 5  # class 4 never given
    assert M.confident_thresholds(y, p)[4] == 2.0
    np.testing.assert_array_equal(M.confident_joint(y, p), cl_count.compute_confident_joint(y, p))
    assert M.estimate_num_errors(y, p) == cl_count.num_label_issues(y, p)


def test_torch_and_pandas_inputs_give_the_same_joint():
    import pandas as pd
    import torch

    y, p = synthetic(1, 4)
    ref = M.confident_joint(y, p)
    np.testing.assert_array_equal(M.confident_joint(torch.from_numpy(y), torch.from_numpy(p)), ref)
    np.testing.assert_array_equal(M.confident_joint(pd.Series(y), pd.DataFrame(p)), ref)


@pytest.mark.parametrize("name", ["mnist", "20news"])
def test_real_label_error_sets_equal_cleanlab(name):
    from workbench.noise.datasets import load_label_errors

    ds = load_label_errors(name).dataset
    y, p = ds.labels, ds.pred_probs
    np.testing.assert_array_equal(M.confident_joint(y, p), cl_count.compute_confident_joint(y, p))
    assert M.estimate_num_errors(y, p) == cl_count.num_label_issues(y, p)


def test_confusion_matrix_rows_given_columns_predicted():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    c = M.confusion_matrix(y, pred, 4)
    np.testing.assert_array_equal(c, sk_confusion_matrix(y, pred, labels=range(4)))
    assert c[1, 2] == np.sum((y == 1) & (pred == 2))
    _, p = synthetic(0, 4)
    y = np.arange(len(p)) % 4
    np.testing.assert_array_equal(M.confusion_matrix(y, p), M.confusion_matrix(y, p.argmax(1), 4))
    assert M.confusion_matrix([0, 1], [1, 1], 3).shape == (3, 3)


def test_true_transition_matrix_matches_the_noise_simulator():
    true = np.repeat(np.arange(5), 400)
    noisy = symmetric_noise(true, 0.3, seed=0)
    t = M.true_transition_matrix(noisy.true_labels, noisy.noisy_labels, 5)
    np.testing.assert_allclose(t, noisy.transition)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    # a class that never occurs as a true label has no evidence: NaN row
    t = M.true_transition_matrix([0, 0, 1], [0, 1, 1], 3)
    assert np.isnan(t[2]).all() and t[0].tolist() == [0.5, 0.5, 0.0]


def test_estimated_transition_is_close_to_the_injected_noise():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from workbench.noise.datasets import make_gaussian_mixture

    x, true = make_gaussian_mixture(3000, 4, 6, separation=5.0, seed=1)
    noisy = symmetric_noise(true, 0.2, seed=2)
    p = cross_val_predict(
        LogisticRegression(max_iter=500), x, noisy.noisy_labels, cv=5, method="predict_proba"
    )
    est = M.estimate_transition_matrix(noisy.noisy_labels, p)
    err = M.transition_estimation_error(est, noisy.transition)
    assert err["mae"] < 0.03, err
    # far better than assuming no noise at all
    assert (
        err["frobenius"]
        < 0.5 * M.transition_estimation_error(np.eye(4), noisy.transition)["frobenius"]
    )
    rates = M.class_noise_rates(noisy.noisy_labels, p)
    assert list(rates.columns) == [
        "class", "n_given", "estimated_errors", "noise_rate_given", "flip_rate_true",
    ]  # fmt: skip
    np.testing.assert_allclose(rates["flip_rate_true"], 1 - est.diagonal())
    assert abs(rates["flip_rate_true"].mean() - 0.2) < 0.05


def test_transition_estimation_error_values():
    true = np.array([[0.8, 0.2], [0.1, 0.9]])
    est = np.array([[0.7, 0.3], [0.1, 0.9]])
    err = M.transition_estimation_error(est, true)
    assert err["mae"] == pytest.approx(0.05)
    assert err["frobenius"] == pytest.approx(np.sqrt(0.02))
    assert err["max_abs"] == pytest.approx(0.1) and err["rows"] == 2
    true_nan = np.array([[0.8, 0.2], [np.nan, np.nan]])
    assert M.transition_estimation_error(est, true_nan)["rows"] == 1


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.confident_joint([0, 1, 2], np.full((3, 2), 0.5)), "labels must lie in 0..1"),
        (lambda: M.confident_joint([0, 1], np.full((3, 2), 0.5)), "Inconsistent numbers"),
        (lambda: M.confident_joint([0, 1], np.full((2, 2, 1), 0.5)), "2-D"),
        (lambda: M.confident_joint([0, 1], [[0.5, np.nan], [0.5, 0.5]]), "NaN"),
        (lambda: M.confident_joint([0, 1], [[0.9, 0.9], [0.5, 0.5]]), "sum to 1"),
        (lambda: M.estimate_num_errors([0, -1], np.full((2, 2), 0.5)), "0 or more"),
        (lambda: M.confusion_matrix([0, 1], np.zeros((2, 2, 2))), "1-D"),
        (lambda: M.confusion_matrix([0, 1], [0, 1, 1]), "Inconsistent"),
        (lambda: M.confusion_matrix([0, 1], [0, 1], 0), "n_classes"),
        (lambda: M.transition_estimation_error(np.eye(2), np.eye(3)), "shape"),
        (lambda: M.transition_estimation_error(np.ones(3), np.eye(3)), "square"),
        (lambda: M.class_noise_rates([0, 1], np.full((2, 2), 0.5), class_names=["a"]), "names"),
    ],
)
def test_bad_input_raises_with_a_clear_message(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_string_pred_probs_is_a_type_error():
    with pytest.raises(TypeError, match="pred_probs"):
        M.confident_joint([0, 1], "probabilities")
