"""Tests of the noise simulators: reproducible, statistically what was asked for, and the
realised transition matrix is exactly what was drawn."""

import functools

import numpy as np
import pytest
from cleanlab.benchmarking.noise_generation import noise_matrix_is_valid
from sklearn.metrics import confusion_matrix

from workbench import noise as nz
from workbench.noise.datasets import make_gaussian_mixture

K = 6
N = 120_000


@pytest.fixture(scope="module")
def labels():
    return np.random.default_rng(123).integers(0, K, size=N)


@pytest.fixture(scope="module")
def blobs():
    x, y = make_gaussian_mixture(30_000, 4, 6, separation=3.0, seed=7)
    return x, y


def _recount(true, noisy, k):
    """Independent recount of the realised transition with scikit-learn."""
    return confusion_matrix(true, noisy, labels=np.arange(k), normalize="true")


def _check_consistent(result, k):
    """The fields agree with each other and with a recount from the labels."""
    np.testing.assert_array_equal(result.is_flipped, result.noisy_labels != result.true_labels)
    np.testing.assert_allclose(
        result.transition, _recount(result.true_labels, result.noisy_labels, k)
    )
    np.testing.assert_allclose(result.expected_transition.sum(axis=1), 1, atol=1e-9)
    assert result.noisy_labels.dtype == np.int64
    assert result.rate == pytest.approx(result.is_flipped.mean())


# --- realised_transition ------------------------------------------------------------------------


def test_realised_transition_matches_sklearn_and_marks_empty_classes():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 500)
    noisy = rng.integers(0, 4, 500)
    t = nz.realised_transition(true, noisy, n_classes=4)
    np.testing.assert_allclose(t[:3], _recount(true, noisy, 4)[:3])
    assert np.isnan(t[3]).all()
    np.testing.assert_allclose(t[:3].sum(axis=1), 1)


def test_realised_transition_rejects_bad_input():
    with pytest.raises(ValueError, match="same length, found 3 and 2"):
        nz.realised_transition([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"noisy_labels must lie in 0\.\.1"):
        nz.realised_transition([0, 1], [0, 2])


# --- symmetric ----------------------------------------------------------------------------------


def test_symmetric_noise_rate_and_matrix_match_the_request(labels):
    r = nz.symmetric_noise(labels, 0.3, seed=0)
    _check_consistent(r, K)
    assert r.kind == "symmetric" and r.params["rate"] == 0.3
    assert abs(r.rate - 0.3) < 0.006  # ~4.5 standard errors at N = 120,000
    expected = np.full((K, K), 0.3 / (K - 1))
    np.fill_diagonal(expected, 0.7)
    np.testing.assert_allclose(r.expected_transition, expected)
    np.testing.assert_allclose(r.transition, expected, atol=0.012)


def test_symmetric_noise_is_reproducible_and_seed_dependent(labels):
    a = nz.symmetric_noise(labels, 0.2, seed=5)
    b = nz.symmetric_noise(labels, 0.2, seed=5)
    c = nz.symmetric_noise(labels, 0.2, seed=6)
    np.testing.assert_array_equal(a.noisy_labels, b.noisy_labels)
    assert (a.noisy_labels != c.noisy_labels).any()
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(
        nz.symmetric_noise(labels, 0.2, seed=g1).noisy_labels,
        nz.symmetric_noise(labels, 0.2, seed=g2).noisy_labels,
    )


def test_symmetric_noise_exact_counts(labels):
    r = nz.symmetric_noise(labels, 0.25, seed=1, exact=True)
    _check_consistent(r, K)
    n_i = np.bincount(labels, minlength=K)
    # Largest-remainder rounding: each realised cell is within one sample of the request.
    assert (np.abs(r.transition - r.expected_transition) <= 1.0 / n_i[:, None] + 1e-12).all()
    assert abs(r.rate - 0.25) <= K / N


def test_symmetric_noise_edge_rates_and_n_classes():
    y = np.array([0, 1, 0, 1, 1, 0])
    assert nz.symmetric_noise(y, 0.0, seed=0).n_flipped == 0
    r = nz.symmetric_noise(y, 0.99, n_classes=4, seed=0)
    assert r.n_classes == 4
    assert np.isnan(r.transition[2:]).all()  # classes 2 and 3 have no samples
    assert set(r.noisy_labels[r.is_flipped]) <= {0, 1, 2, 3}


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, np.nan])
def test_symmetric_noise_rejects_rates_outside_0_1(rate):
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\)"):
        nz.symmetric_noise([0, 1, 1], rate, seed=0)


def test_noise_rejects_bad_rate_types_and_labels():
    with pytest.raises(TypeError, match="rate must be a number"):
        nz.symmetric_noise([0, 1], "0.2", seed=0)
    with pytest.raises(TypeError, match="rate must be a number"):
        nz.symmetric_noise([0, 1], True, seed=0)
    with pytest.raises(ValueError, match="at least 2 classes, found K=1"):
        nz.symmetric_noise([0, 0, 0], 0.1, seed=0)
    with pytest.raises(ValueError, match="labels is empty"):
        nz.symmetric_noise(np.array([], dtype=int), 0.1, n_classes=3, seed=0)
    with pytest.raises(ValueError, match="labels must be 0 or more"):
        nz.symmetric_noise([0, -1], 0.1, seed=0)
    with pytest.raises(TypeError, match="seed must be"):
        nz.symmetric_noise([0, 1], 0.1, seed="x")


# --- pair flip ----------------------------------------------------------------------------------


def test_pair_flip_goes_to_the_next_class(labels):
    r = nz.pair_flip_noise(labels, 0.35, seed=0)
    _check_consistent(r, K)
    flipped = r.is_flipped
    np.testing.assert_array_equal(r.noisy_labels[flipped], (r.true_labels[flipped] + 1) % K)
    assert abs(r.rate - 0.35) < 0.007
    np.testing.assert_allclose(np.diag(r.transition), 0.65, atol=0.015)
    np.testing.assert_allclose(r.transition[np.arange(K), (np.arange(K) + 1) % K], 0.35, atol=0.015)


def test_pair_flip_with_a_mapping(labels):
    mapping = [3, 2, 1, 0, 5, 4]
    r = nz.pair_flip_noise(labels, 0.2, mapping=mapping, seed=0)
    _check_consistent(r, K)
    f = r.is_flipped
    np.testing.assert_array_equal(r.noisy_labels[f], np.asarray(mapping)[r.true_labels[f]])
    d = nz.pair_flip_noise(labels, 0.5, mapping={0: 4}, seed=0)
    assert set(d.true_labels[d.is_flipped]) == {0}
    assert set(d.noisy_labels[d.is_flipped]) == {4}
    assert d.params["mapping"] == [4, 1, 2, 3, 4, 5]
    same = nz.pair_flip_noise(labels, 0.5, mapping=np.arange(K), seed=0)
    assert same.n_flipped == 0


@pytest.mark.parametrize(
    "mapping, error, match",
    [
        ([1, 0], ValueError, r"mapping must be K=6 integer class indices, found shape \(2,\)"),
        ([1, 2, 3, 4, 5, 6], ValueError, r"mapping must hold classes 0\.\.5"),
        ({0: 9}, ValueError, r"mapping value 9 is outside 0\.\.5"),
        ({0.5: 1}, TypeError, "mapping keys must be class indices"),
    ],
)
def test_pair_flip_rejects_bad_mappings(labels, mapping, error, match):
    with pytest.raises(error, match=match):
        nz.pair_flip_noise(labels, 0.2, mapping=mapping, seed=0)


# --- any transition matrix ----------------------------------------------------------------------


def test_noise_from_transition_matches_a_random_matrix(labels):
    t = nz.random_transition_matrix(K, 4.2, seed=3)
    r = nz.noise_from_transition(labels, t, seed=0)
    _check_consistent(r, K)
    np.testing.assert_allclose(r.expected_transition, t)
    np.testing.assert_allclose(r.transition, t, atol=0.015)
    e = nz.noise_from_transition(labels, t, seed=0, exact=True)
    n_i = np.bincount(labels, minlength=K)
    assert (np.abs(e.transition - t) <= 1.0 / n_i[:, None] + 1e-12).all()


def test_noise_from_transition_never_draws_zero_probability_cells(labels):
    t = np.zeros((K, K))
    t[np.arange(K), np.arange(K)] = 0.5
    t[np.arange(K), (np.arange(K) + 2) % K] = 0.5
    r = nz.noise_from_transition(labels, t, seed=1)
    assert (r.transition[t == 0] == 0).all()


@pytest.mark.parametrize(
    "transition, error, match",
    [
        (np.ones((2, 3)) / 3, ValueError, r"square \(K, K\) matrix, found shape \(2, 3\)"),
        (np.eye(3), ValueError, r"labels must lie in 0\.\.2"),
        (np.array([[1.2, -0.2], [0, 1]]), ValueError, r"non-negative, found -0\.2 at \(0, 1\)"),
        (np.array([[0.5, 0.4], [0, 1]]), ValueError, "row 0 sums to 0.9"),
        (
            np.array([[0.9, 0.6], [0.1, 0.4]]),
            ValueError,
            "cleanlab's noise_matrix is the transpose",
        ),
        (np.array([[np.nan, 1], [0, 1]]), ValueError, "NaN or infinity"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "real numbers"),
        (np.ones((1, 1)), ValueError, r"at least 2×2"),
    ],
)
def test_noise_from_transition_rejects_bad_matrices(transition, error, match):
    with pytest.raises(error, match=match):
        nz.noise_from_transition([0, 1, 3, 1], transition, seed=0)


# --- random transition matrices -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k, trace", [(2, 1.4), (5, 2.5), (10, 7.0), (20, 3.0)])
def test_random_transition_matrix_trace_rows_and_validity(k, trace, seed):
    rng = np.random.default_rng(seed)
    py = rng.dirichlet(np.full(k, 5.0))
    t = nz.random_transition_matrix(k, trace, seed=seed, valid=True, py=py)
    assert t.shape == (k, k)
    assert np.trace(t) == pytest.approx(trace, abs=1e-9)
    np.testing.assert_allclose(t.sum(axis=1), 1, atol=1e-12)
    assert (t >= 0).all()
    joint = py[:, None] * t
    for j in range(k):  # each class stays the plurality of its own given labels
        assert joint[j, j] > np.delete(joint[:, j], j).max()
    assert noise_matrix_is_valid(t.T, py)  # cleanlab's own check, on its orientation


def test_random_transition_matrix_is_reproducible():
    a = nz.random_transition_matrix(8, 5.0, seed=11)
    np.testing.assert_array_equal(a, nz.random_transition_matrix(8, 5.0, seed=11))
    assert not np.array_equal(a, nz.random_transition_matrix(8, 5.0, seed=12))


def test_random_transition_matrix_options():
    k = 10
    t = nz.random_transition_matrix(k, 5.0, seed=0, max_off_diagonal=0.2)
    assert t[~np.eye(k, dtype=bool)].max() <= 0.2 + 1e-12
    s = nz.random_transition_matrix(k, 5.0, seed=0, frac_zero_off_diagonal=0.6)
    assert (s[~np.eye(k, dtype=bool)] == 0).mean() >= 0.6
    assert np.trace(s) == pytest.approx(5.0)
    b = nz.random_transition_matrix(k, 7.0, seed=0, min_diagonal=0.6, max_diagonal=0.8)
    assert (np.diag(b) >= 0.6 - 1e-12).all() and (np.diag(b) <= 0.8 + 1e-12).all()
    assert np.trace(b) == pytest.approx(7.0)
    np.testing.assert_allclose(nz.random_transition_matrix(4, 4.0, seed=0), np.eye(4))


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((1, 1.0), {}, ValueError, "n_classes must be at least 2"),
        ((3.0, 2.0), {}, TypeError, "n_classes must be an int"),
        ((3, 3.5), {}, ValueError, r"trace must lie in \[0, 3\]"),
        ((3, 0.9), {"valid": True}, ValueError, "valid=True needs trace > 1"),
        ((3, 0.5), {"min_diagonal": 0.5}, ValueError, r"must lie in \[1.5, 3\]"),
        ((3, 2.0), {"min_diagonal": 0.9, "max_diagonal": 0.5}, ValueError, "exceeds max_diagonal"),
        ((3, 2.0), {"py": [0.5, 0.5]}, ValueError, "py must be K=3 positive probabilities"),
        ((3, 2.0), {"py": [0.5, 0.5, 0.5]}, ValueError, "py must sum to 1"),
        (
            (3, 2.0),
            {"frac_zero_off_diagonal": 1.0},
            ValueError,
            r"frac_zero_off_diagonal must lie in \[0, 1\)",
        ),
        (
            (4, 1.0),
            {"max_off_diagonal": 0.1, "max_iter": 20},
            ValueError,
            "No 4×4 transition matrix",
        ),
        ((3, 2.0), {"max_iter": 0}, ValueError, "max_iter must be a positive int"),
    ],
)
def test_random_transition_matrix_rejects(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        nz.random_transition_matrix(*args, seed=0, **kwargs)


# --- instance-dependent -------------------------------------------------------------------------


def _hardness(x, y, k):
    centers = np.stack([x[y == c].mean(axis=0) for c in range(k)])
    d = np.linalg.norm(x[:, None, :] - centers[None], axis=2)
    own = d[np.arange(len(y)), y]
    d[np.arange(len(y)), y] = np.inf
    return own / d.min(axis=1), d.argmin(axis=1)


def test_instance_dependent_noise_flips_hard_samples_more(blobs):
    x, y = blobs
    r = nz.instance_dependent_noise(y, x, 0.2, seed=0)
    _check_consistent(r, 4)
    assert r.flip_probability.mean() == pytest.approx(0.2, abs=1e-6)
    assert abs(r.rate - 0.2) < 0.015
    hard, nearest = _hardness(x, y, 4)
    lo, hi = np.quantile(hard, [0.25, 0.75])
    easy_rate, hard_rate = r.is_flipped[hard < lo].mean(), r.is_flipped[hard > hi].mean()
    assert hard_rate > 3 * easy_rate
    assert np.corrcoef(hard, r.flip_probability)[0, 1] > 0.7
    # Flips go mostly to the nearest other class, far above the 1/3 of a uniform choice.
    assert (r.noisy_labels[r.is_flipped] == nearest[r.is_flipped]).mean() > 0.7
    np.testing.assert_allclose(r.transition, r.expected_transition, atol=0.03)


def test_instance_dependent_noise_options_and_reproducibility(blobs):
    x, y = blobs
    a = nz.instance_dependent_noise(y, x, 0.1, seed=3)
    np.testing.assert_array_equal(
        a.noisy_labels, nz.instance_dependent_noise(y, x, 0.1, seed=3).noisy_labels
    )
    flat = nz.instance_dependent_noise(y, x, 0.1, seed=3, sharpness=0.0)
    np.testing.assert_allclose(flat.flip_probability, 0.1)
    assert nz.instance_dependent_noise(y, x, 0.0, seed=0).n_flipped == 0
    import torch

    t = nz.instance_dependent_noise(torch.tensor(y), torch.tensor(x), 0.1, seed=3)
    np.testing.assert_array_equal(t.noisy_labels, a.noisy_labels)


def test_instance_dependent_noise_rejects_bad_input(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="features has 10 rows but labels has 30000"):
        nz.instance_dependent_noise(y, x[:10], 0.1, seed=0)
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="features contains NaN"):
        nz.instance_dependent_noise(y, bad, 0.1, seed=0)
    with pytest.raises(ValueError, match=r"features must be 2-D"):
        nz.instance_dependent_noise(y, x[:, 0], 0.1, seed=0)
    with pytest.raises(ValueError, match="temperature must be positive"):
        nz.instance_dependent_noise(y, x, 0.1, seed=0, temperature=0)
    with pytest.raises(ValueError, match="sharpness must be a non-negative number"):
        nz.instance_dependent_noise(y, x, 0.1, seed=0, sharpness=-1)


# --- long tail ----------------------------------------------------------------------------------


def test_long_tailed_profile(labels):
    lt = nz.long_tailed(labels, 20.0, seed=0)
    counts = lt.class_counts
    assert lt.imbalance == pytest.approx(20.0, rel=0.02)
    assert (np.diff(counts) < 0).all()  # class 0 largest by default
    expected = counts[0] * 20.0 ** (-np.arange(K) / (K - 1))
    np.testing.assert_allclose(counts, expected, atol=1.0)
    assert (np.diff(lt.indices) > 0).all()
    np.testing.assert_array_equal(lt.true_labels, labels[lt.indices])
    np.testing.assert_array_equal(lt.noisy_labels, lt.true_labels)
    # The largest class keeps as many as the data allow.
    assert counts[0] >= np.bincount(labels).min() * 0.99


def test_long_tailed_order_and_noise_after_subsampling(labels):
    order = [5, 4, 3, 2, 1, 0]
    noise = functools.partial(nz.symmetric_noise, rate=0.2)
    lt = nz.long_tailed(labels, 10.0, order=order, noise=noise, seed=1)
    assert (np.diff(lt.class_counts[order]) < 0).all()
    assert lt.noise.n_samples == len(lt.indices)
    np.testing.assert_array_equal(lt.noise.true_labels, lt.true_labels)
    assert abs(lt.noise.rate - 0.2) < 0.02
    again = nz.long_tailed(labels, 10.0, order=order, noise=noise, seed=1)
    np.testing.assert_array_equal(again.indices, lt.indices)
    np.testing.assert_array_equal(again.noisy_labels, lt.noisy_labels)
    assert nz.long_tailed(labels, 1.0, seed=0).imbalance == 1.0


def test_long_tailed_rejects(labels):
    with pytest.raises(ValueError, match="imbalance_ratio must be a finite number >= 1"):
        nz.long_tailed(labels, 0.5, seed=0)
    with pytest.raises(ValueError, match="too large for these class sizes"):
        nz.long_tailed([0, 0, 1, 1, 2, 2], 50.0, seed=0)
    with pytest.raises(ValueError, match=r"order must be a permutation of 0\.\.5"):
        nz.long_tailed(labels, 5.0, order=[0, 1, 2], seed=0)
    with pytest.raises(TypeError, match="noise must be a callable"):
        nz.long_tailed(labels, 5.0, noise="symmetric", seed=0)
    with pytest.raises(TypeError, match="noise must return NoisyLabels"):
        nz.long_tailed(labels, 5.0, noise=lambda y, seed: y, seed=0)
    with pytest.raises(ValueError, match=r"Classes with no samples: \[2\]"):
        nz.long_tailed([0, 1, 0, 1], 2.0, n_classes=3, seed=0)


# --- open set -----------------------------------------------------------------------------------


def test_open_set_noise_random_assignment(labels):
    o = nz.open_set_noise(labels, 3000, outside_classes=2, seed=0)
    assert o.n_open == 3000 and len(o.outside_classes) == 2 and len(o.kept_classes) == K - 2
    assert set(o.original_labels[o.is_open_set]) <= set(o.outside_classes)
    assert (o.true_labels[o.is_open_set] == -1).all()
    np.testing.assert_array_equal(
        o.kept_classes[o.true_labels[~o.is_open_set]], o.original_labels[~o.is_open_set]
    )
    np.testing.assert_array_equal(o.original_labels, labels[o.indices])
    assert o.noisy_labels.min() >= 0 and o.noisy_labels.max() < K - 2
    np.testing.assert_array_equal(o.noisy_labels[~o.is_open_set], o.true_labels[~o.is_open_set])
    # Every in-set sample is kept; open-set labels are spread over the kept classes.
    assert (~o.is_open_set).sum() == np.isin(labels, o.kept_classes).sum()
    spread = np.bincount(o.noisy_labels[o.is_open_set], minlength=K - 2) / 3000
    np.testing.assert_allclose(spread, 1 / (K - 2), atol=0.04)
    again = nz.open_set_noise(labels, 3000, outside_classes=2, seed=0)
    np.testing.assert_array_equal(again.noisy_labels, o.noisy_labels)


def test_open_set_noise_nearest_class_with_features(blobs):
    x, y = blobs
    o = nz.open_set_noise(y, None, outside_classes=[3], features=x, seed=0)
    assert o.n_open == (y == 3).sum() and o.params["assign"] == "nearest"
    np.testing.assert_array_equal(o.kept_classes, [0, 1, 2])
    centers = np.stack([x[y == c].mean(axis=0) for c in (0, 1, 2)])
    rows = o.indices[o.is_open_set]
    nearest = np.linalg.norm(x[rows][:, None] - centers[None], axis=2).argmin(axis=1)
    np.testing.assert_array_equal(o.noisy_labels[o.is_open_set], nearest)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"outside_classes": 5}, ValueError, r"hold out 1\.\.4 of the K=6"),
        ({"outside_classes": [0, 1, 2, 3, 4]}, ValueError, "leaving at least 2"),
        ({"outside_classes": [9]}, ValueError, "leaving at least 2"),
        ({"outside_classes": [-1]}, ValueError, "must be class indices"),
        ({"n_open": 10**9}, ValueError, "n_open must lie in 0"),
        ({"n_open": 2.5}, TypeError, "n_open must be an int"),
        ({"features": np.ones((3, 2))}, ValueError, "features has 3 rows"),
    ],
)
def test_open_set_noise_rejects(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        nz.open_set_noise(labels, **{"seed": 0, **kwargs})


# --- annotators ---------------------------------------------------------------------------------


def test_simulate_annotators_accuracy_spammers_and_missing(labels):
    a = nz.simulate_annotators(labels, 8, accuracy=0.75, n_spammers=2, labels_per_sample=3, seed=0)
    assert a.labels.shape == (N, 8) and a.labels.dtype == np.int64
    np.testing.assert_array_equal((a.labels >= 0).sum(axis=1), 3)
    assert a.is_spammer.sum() == 2
    acc = a.accuracy
    np.testing.assert_allclose(acc[~a.is_spammer], 0.75, atol=0.02)
    np.testing.assert_allclose(acc[a.is_spammer], 1 / K, atol=0.02)
    np.testing.assert_allclose(a.confusion[a.is_spammer], 1 / K)
    np.testing.assert_allclose(a.realised_confusion, a.confusion, atol=0.04)
    # Annotators are picked evenly: each labels about 3/8 of the samples.
    np.testing.assert_allclose((a.labels >= 0).mean(axis=0), 3 / 8, atol=0.01)
    b = nz.simulate_annotators(labels, 8, accuracy=0.75, n_spammers=2, labels_per_sample=3, seed=0)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_simulate_annotators_with_confusion_matrices(labels):
    t = nz.random_transition_matrix(K, 4.0, seed=1)
    a = nz.simulate_annotators(labels, 2, confusion=t, seed=0)
    assert (a.labels >= 0).all()
    np.testing.assert_allclose(a.realised_confusion[0], t, atol=0.02)
    per = np.stack([t, np.eye(K)])
    b = nz.simulate_annotators(labels, 2, confusion=per, seed=0)
    np.testing.assert_array_equal(b.labels[:, 1], labels)
    assert b.accuracy[1] == 1.0


def test_majority_vote_beats_single_annotators(labels):
    a = nz.simulate_annotators(labels, 5, accuracy=[0.7, 0.7, 0.7, 0.7, 0.7], seed=0)
    vote = a.majority_vote(seed=0)
    assert (vote == labels).mean() > a.accuracy.max() + 0.1
    empty = nz.SimulatedAnnotators(
        np.full((2, 2), -1), np.ones((2, 2, 2)) / 2, np.zeros(2, bool), np.array([0, 1])
    )
    np.testing.assert_array_equal(empty.majority_vote(seed=0), [-1, -1])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_annotators": 0}, ValueError, "n_annotators must be at least 1"),
        ({"n_annotators": 2.0}, TypeError, "n_annotators must be an int"),
        ({"n_spammers": 5}, ValueError, r"n_spammers must be an int in 0\.\.3"),
        ({"labels_per_sample": 0}, ValueError, r"labels_per_sample must be an int in 1\.\.3"),
        ({"accuracy": 1.5}, ValueError, r"accuracy must lie in \[0, 1\]"),
        ({"accuracy": [0.5, 0.6]}, ValueError, "accuracy must be a float or M=3 floats"),
        ({"accuracy": 0.8, "confusion": np.eye(K)}, ValueError, "accuracy or confusion, not both"),
        ({"confusion": np.eye(3)}, ValueError, "there are 6 classes"),
        ({"confusion": np.ones((2, K, K)) / K}, ValueError, r"shape \(K, K\) or \(M=3"),
        ({"confusion": np.ones((K, K))}, ValueError, r"confusion rows must sum to 1"),
    ],
)
def test_simulate_annotators_rejects(labels, kwargs, error, match):
    kwargs = {"n_annotators": 3, "seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        nz.simulate_annotators(labels[:100], **kwargs)


# --- results ------------------------------------------------------------------------------------


def test_noisy_labels_frame_and_repr(blobs):
    x, y = blobs
    r = nz.instance_dependent_noise(y, x, 0.1, seed=0)
    df = r.to_frame()
    assert list(df.columns) == [
        "index",
        "true_label",
        "noisy_label",
        "is_flipped",
        "flip_probability",
    ]
    assert len(df) == len(y)
    assert "instance" in repr(r) and "flipped=" in repr(r)
    assert list(nz.symmetric_noise(y, 0.1, seed=0).to_frame().columns)[-1] == "is_flipped"


SIMULATORS = {
    "symmetric": lambda y, x, seed: nz.symmetric_noise(y, 0.3, seed=seed).noisy_labels,
    "symmetric-exact": lambda y, x, seed: (
        nz.symmetric_noise(y, 0.3, seed=seed, exact=True).noisy_labels
    ),
    "pair": lambda y, x, seed: nz.pair_flip_noise(y, 0.3, seed=seed).noisy_labels,
    "transition": lambda y, x, seed: (
        nz.noise_from_transition(
            y, nz.random_transition_matrix(4, 2.5, seed=0), seed=seed
        ).noisy_labels
    ),
    "random-matrix": lambda y, x, seed: nz.random_transition_matrix(4, 2.5, seed=seed, valid=True),
    "instance": lambda y, x, seed: nz.instance_dependent_noise(y, x, 0.3, seed=seed).noisy_labels,
    "long-tail": lambda y, x, seed: nz.long_tailed(y, 5.0, seed=seed).indices,
    "open-set": lambda y, x, seed: nz.open_set_noise(y, 100, seed=seed).noisy_labels,
    "annotators": lambda y, x, seed: (
        nz.simulate_annotators(y, 4, n_spammers=1, labels_per_sample=2, seed=seed).labels
    ),
}


@pytest.mark.parametrize("name", list(SIMULATORS))
def test_every_simulator_is_reproducible_from_its_seed(blobs, name):
    x, y = blobs
    x, y = x[:3000], y[:3000]
    run = SIMULATORS[name]
    first = run(y, x, 42)
    np.testing.assert_array_equal(first, run(y, x, 42))
    np.testing.assert_array_equal(first, run(y, x, np.random.default_rng(42)))
    assert not np.array_equal(first, run(y, x, 43))


def test_docstring_examples_run():
    import doctest

    from workbench.noise import class_conditional

    assert doctest.testmod(class_conditional).failed == 0
