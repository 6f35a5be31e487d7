"""Training-dynamics detectors: exact values on hand-built arrays, and noise found in a real run.

The "real run" trains a small MLP with SGD on a seeded Gaussian mixture whose labels carry
injected noise, recording loss, margin, given-label probability and predicted class after
every epoch, exactly the signals ``Dataset.trajectories`` holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from workbench.analysis.detectors import MissingSignalError, get_detector, list_detectors
from workbench.analysis.detectors import trajectories as tr
from workbench.analysis.detectors.trajectories import (
    area_under_margin,
    datamap_statistics,
    first_learned_epoch,
    fit_loss_mixture,
    forgetting_events,
)
from workbench.core.dataset import Dataset

NAMES = (
    "aum",
    "forgetting_events",
    "datamap_confidence",
    "datamap_variability",
    "first_learned_epoch",
    "loss_mixture",
)


# --- a real small training run -------------------------------------------------------------
def train_run(n=1500, k=4, d=10, noise=0.3, epochs=20, hidden=64, sep=2.0, pure=False, seed=0):
    """Train an MLP on noisy labels and record per-epoch trajectories of every sample."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * sep
    true = rng.integers(0, k, n)
    x = means[true] + rng.normal(size=(n, d))
    if pure:  # labels independent of the features
        true = rng.integers(0, k, n)
    noisy = rng.random(n) < noise
    given = np.where(noisy, (true + rng.integers(1, k, n)) % k, true)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead on a shared machine
    try:
        rec = _train_mlp(x, given, k, epochs, hidden, seed)
    finally:
        torch.set_num_threads(threads)
    # Bayes posterior of the true class (identity covariance, equal priors): how ambiguous
    sq = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(axis=2)
    bayes = np.exp(sq - sq.max(axis=1, keepdims=True))
    bayes /= bayes.sum(axis=1, keepdims=True)
    return Dataset(given, trajectories=rec), noisy, bayes.max(axis=1)


def _train_mlp(x, given, k, epochs, hidden, seed):
    n, d = x.shape
    gen = torch.Generator().manual_seed(seed)
    xs, ys = torch.tensor(x, dtype=torch.float32), torch.tensor(given)
    model = torch.nn.Sequential(
        torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, k)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rec = {kind: np.empty((n, epochs), np.float32) for kind in ("loss", "margin", "given_prob")}
    rec["predicted"] = np.empty((n, epochs), np.int32)
    for e in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 32):
            idx = perm[i : i + 32]
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            logits = model(xs)
            logp = torch.log_softmax(logits, dim=1)
            own = logits.gather(1, ys[:, None])[:, 0]
            other = logits.scatter(1, ys[:, None], -torch.inf).max(dim=1).values
            rec["loss"][:, e] = -logp.gather(1, ys[:, None])[:, 0].numpy()
            rec["margin"][:, e] = (own - other).numpy()
            rec["given_prob"][:, e] = logp.exp().gather(1, ys[:, None])[:, 0].numpy()
            rec["predicted"][:, e] = logits.argmax(dim=1).numpy()
    return rec


@pytest.fixture(scope="module")
def run():
    return train_run()


@pytest.fixture(scope="module")
def overlap_run():
    """Overlapping classes and mild noise: many clean samples are genuinely ambiguous."""
    return train_run(noise=0.1, sep=0.7, seed=2)


@pytest.fixture(scope="module")
def pure_run():
    return train_run(n=2000, pure=True, seed=1)


def auroc(noisy, scores):
    return roc_auc_score(noisy, scores)


# --- exact values on hand-built arrays -------------------------------------------------------
def test_area_under_margin_is_the_mean_margin_for_numpy_torch_and_pandas():
    m = np.array([[1.0, 3.0, 2.0], [-2.0, 0.0, -1.0]])
    np.testing.assert_allclose(area_under_margin(m), [2.0, -1.0])
    np.testing.assert_allclose(area_under_margin(torch.tensor(m)), [2.0, -1.0])
    np.testing.assert_allclose(area_under_margin(pd.DataFrame(m)), [2.0, -1.0])
    assert area_under_margin(m.astype(np.float32)).dtype == np.float64


def test_forgetting_events_counts_learned_to_forgotten_transitions():
    pred = [
        [1, 0, 1, 0],  # learned, forgotten, learned, forgotten: 2
        [0, 1, 0, 1],  # learned at 1, forgotten at 2, learned again: 1
        [1, 1, 1, 1],  # never forgotten: 0
        [0, 0, 0, 0],  # never learned: E = 4
        [0, 1, 1, 0],  # 1
    ]
    np.testing.assert_array_equal(forgetting_events(pred, [1] * 5), [2, 1, 0, 4, 1])
    assert forgetting_events(pred, [1] * 5).dtype == np.int64
    # one epoch: nothing can be forgotten; never learned still scores E = 1
    np.testing.assert_array_equal(forgetting_events([[2], [0]], [2, 2]), [0, 1])


def test_never_learned_outranks_every_achievable_forgetting_count():
    e = 7
    flicker = np.tile([1, 0], 4)[:e]  # the most transitions possible in 7 epochs
    counts = forgetting_events(np.stack([flicker, np.zeros(e, int)]), [1, 1])
    assert counts[0] == e // 2
    assert counts[1] == e > counts[0]


def test_first_learned_epoch_stays_learned_to_the_end():
    pred = [[0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]]
    np.testing.assert_array_equal(first_learned_epoch(pred, [1] * 5), [1, 2, 4, 0, 4])


def test_first_k_epoch_learning():
    pred = [[1, 1, 0, 0], [0, 1, 0, 1], [0, 1, 1, 0], [1, 0, 1, 1]]
    np.testing.assert_array_equal(first_learned_epoch(pred, [1] * 4, k=1), [0, 1, 1, 0])
    np.testing.assert_array_equal(first_learned_epoch(pred, [1] * 4, k=2), [0, 4, 1, 2])
    np.testing.assert_array_equal(first_learned_epoch(pred, [1] * 4, k=4), [4, 4, 4, 4])
    np.testing.assert_array_equal(first_learned_epoch(pred, [1] * 4, k=9), [4, 4, 4, 4])


def test_datamap_statistics_are_mean_and_population_std():
    p = np.array([[0.2, 0.4, 0.9], [1.0, 1.0, 1.0], [0.0, 0.5, 1.0]])
    conf, var = datamap_statistics(p)
    np.testing.assert_allclose(conf, p.mean(axis=1))
    np.testing.assert_allclose(var, p.std(axis=1, ddof=0))
    assert var[1] == 0


def test_chunked_passes_match_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 3, (503, 9))
    labels = rng.integers(0, 3, 503)
    prob = rng.random((503, 9))
    whole = (
        forgetting_events(pred, labels),
        first_learned_epoch(pred, labels),
        first_learned_epoch(pred, labels, k=2),
        *datamap_statistics(prob),
    )
    monkeypatch.setattr(tr, "_CHUNK_ELEMENTS", 40)  # 4 rows per chunk
    chunked = (
        forgetting_events(pred, labels),
        first_learned_epoch(pred, labels),
        first_learned_epoch(pred, labels, k=2),
        *datamap_statistics(prob),
    )
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a, b)


# --- loss mixture ----------------------------------------------------------------------------
def two_clusters(n_clean=700, n_noisy=300, seed=0):
    rng = np.random.default_rng(seed)
    losses = np.concatenate([rng.normal(0.3, 0.1, n_clean), rng.normal(2.0, 0.3, n_noisy)])
    return np.abs(losses), np.r_[np.zeros(n_clean, bool), np.ones(n_noisy, bool)]


@pytest.mark.parametrize("family", ["gaussian", "beta"])
def test_loss_mixture_separates_two_loss_clusters(family):
    losses, noisy = two_clusters()
    fit = fit_loss_mixture(losses, family=family)
    assert fit.converged and not fit.degenerate
    assert (fit.posterior[noisy] > 0.9).mean() > 0.97
    assert (fit.posterior[~noisy] < 0.1).mean() > 0.97
    assert fit.weights[1] == pytest.approx(0.3, abs=0.03)
    assert fit.means[0] == pytest.approx(0.3, abs=0.1)
    assert fit.means[1] == pytest.approx(2.0, abs=0.15)
    assert (
        np.isfinite(fit.posterior).all() and fit.posterior.min() >= 0 and fit.posterior.max() <= 1
    )


def test_gaussian_loss_mixture_agrees_with_scikit_learn():
    losses, _ = two_clusters(seed=3)
    ours = fit_loss_mixture(losses, monotone=False, tol=1e-10, max_iter=1000)
    z = ((losses - losses.min()) / np.ptp(losses))[:, None]
    gm = GaussianMixture(2, reg_covar=5e-4, tol=1e-10, max_iter=1000, random_state=0).fit(z)
    hi = int(np.argmax(gm.means_[:, 0]))
    np.testing.assert_allclose(ours.posterior, gm.predict_proba(z)[:, hi], atol=1e-4)
    np.testing.assert_allclose(ours.weights[1], gm.weights_[hi], atol=1e-4)
    np.testing.assert_allclose(ours.params[:, 0], np.sort(gm.means_[:, 0]), atol=1e-4)


def test_loss_mixture_posterior_rises_with_loss_outside_the_means():
    # a narrow clean mode and a wide noisy one: the raw Gaussian posterior rises again at the
    # lowest losses; the monotone correction removes that artefact
    rng = np.random.default_rng(0)
    losses = np.concatenate([rng.normal(1.0, 0.05, 800), rng.normal(2.0, 0.8, 200)])
    raw = fit_loss_mixture(losses, monotone=False)
    fixed = fit_loss_mixture(losses)
    low = losses < raw.means[0]
    order = np.argsort(losses[low])
    assert np.any(np.diff(raw.posterior[low][order]) < -1e-6)  # the artefact exists
    assert np.all(np.diff(fixed.posterior[low][order]) >= 0)
    high = losses > fixed.means[1]
    assert np.all(np.diff(fixed.posterior[high][np.argsort(losses[high])]) >= 0)
    between = ~low & ~high
    np.testing.assert_array_equal(fixed.posterior[between], raw.posterior[between])


@pytest.mark.parametrize("family", ["gaussian", "beta"])
def test_loss_mixture_on_equal_losses_is_defined(family):
    fit = fit_loss_mixture(np.full(50, 0.7), family=family)
    assert fit.degenerate
    np.testing.assert_array_equal(fit.posterior, np.zeros(50))
    assert fit_loss_mixture([3.0], family=family).degenerate


def test_loss_mixture_is_reproducible_with_a_seed():
    losses, _ = two_clusters(seed=5)
    a = fit_loss_mixture(losses, n_init=4, seed=11)
    b = fit_loss_mixture(losses, n_init=4, seed=np.random.default_rng(11))
    np.testing.assert_array_equal(a.posterior, b.posterior)
    assert a.log_likelihood == b.log_likelihood


# --- detectors on a real training run --------------------------------------------------------
def test_every_trajectory_detector_is_registered_with_its_requirements():
    names = set(list_detectors())
    for name in NAMES:
        assert name in names
        det = get_detector(name)
        assert det.reference and det.summary
        assert all(r.startswith("trajectories.") for r in det.requires)


@pytest.mark.parametrize(
    ("name", "params", "floor"),
    [
        ("aum", {}, 0.95),
        ("datamap_confidence", {}, 0.95),
        ("loss_mixture", {}, 0.95),
        ("loss_mixture", {"family": "beta"}, 0.95),
        ("loss_mixture", {"last_epochs": 1}, 0.9),
        ("first_learned_epoch", {}, 0.9),
        ("first_learned_epoch", {"k": 3}, 0.95),
        ("forgetting_events", {}, 0.8),
    ],
)
def test_detector_ranks_injected_noise_first(run, name, params, floor):
    ds, noisy, _ = run
    result = get_detector(name, **params).score(ds)
    assert auroc(noisy, result.scores) > floor
    flagged = result.flags
    assert flagged.sum() > 0.5 * noisy.sum()
    assert noisy[flagged].mean() > 0.7  # precision well above the 30 % noise rate


def test_variability_ranks_ambiguity_not_label_errors(run, overlap_run):
    ds, noisy, bayes_max = overlap_run
    result = get_detector("datamap_variability").score(ds)
    # it ranks the samples whose given-label probability swung most over the epochs first
    variability = result.details["variability"]
    np.testing.assert_array_equal(result.ranking(), np.argsort(-variability, kind="stable"))
    clean = ~noisy
    ambiguous = bayes_max[clean] < 0.9  # the true class itself is uncertain
    assert 0.2 < ambiguous.mean() < 0.8
    assert auroc(ambiguous, result.scores[clean]) > 0.65
    # mislabeled samples the model never fits have low variability, as the docstring warns
    for ds, noisy, _ in (run, overlap_run):
        assert auroc(noisy, get_detector("datamap_variability").score(ds).scores) < 0.45


def test_variability_is_the_one_ambiguity_detector_and_says_so():
    kinds = {name: get_detector(name).kind for name in list_detectors()}
    others = {n: k for n, k in kinds.items() if k != "label_error"}
    assert others == {
        "datamap_variability": "ambiguity",
        "knn_outlier": "outlier",
        "relation_graph_outlier": "outlier",
        "near_duplicate": "duplicate",
    }
    det = get_detector("datamap_variability")
    assert det.kind == "ambiguity" and det.summary.startswith("Ambiguity, not label errors")
    doc = " ".join(type(det).__doc__.split())
    for phrase in ("ambiguity, not label errors", "Swayamdipta", '"ambiguous" region',
                   '"hard-to-learn" region of low confidence *and low* variability',
                   "AUROC under 0.5"):  # fmt: skip
        assert phrase in doc


@pytest.mark.parametrize("name", NAMES)
def test_detectors_give_chance_when_labels_carry_no_signal(pure_run, name):
    ds, noisy, _ = pure_run
    result = get_detector(name).score(ds)
    assert abs(auroc(noisy, result.scores) - 0.5) < 0.05


def test_datamap_details_hold_both_coordinates_and_correctness(run):
    ds, _, _ = run
    res = get_detector("datamap_confidence").score(ds)
    conf, var = datamap_statistics(ds.trajectories["given_prob"])
    np.testing.assert_allclose(res.details["confidence"], conf)
    np.testing.assert_allclose(res.details["variability"], var)
    np.testing.assert_allclose(res.scores, 1 - conf)
    correct = ds.trajectories["predicted"] == ds.labels[:, None]
    np.testing.assert_allclose(res.details["correctness"], correct.mean(axis=1))
    only_prob = Dataset(ds.labels, trajectories={"given_prob": ds.trajectories["given_prob"]})
    assert "correctness" not in get_detector("datamap_variability").score(only_prob).details


def test_detector_outputs_match_the_public_functions(run):
    ds, _, _ = run
    t = ds.trajectories
    aum = get_detector("aum").score(ds)
    np.testing.assert_allclose(aum.scores, -area_under_margin(t["margin"]))
    np.testing.assert_array_equal(aum.flags, area_under_margin(t["margin"]) < 0)
    fe = get_detector("forgetting_events", min_events=3).score(ds)
    counts = forgetting_events(t["predicted"], ds.labels)
    np.testing.assert_array_equal(fe.scores, counts)
    np.testing.assert_array_equal(fe.details["never_learned"], counts == t["predicted"].shape[1])
    np.testing.assert_array_equal(fe.flags, (counts >= 3) | fe.details["never_learned"])
    fl = get_detector("first_learned_epoch").score(ds)
    np.testing.assert_allclose(fl.scores, first_learned_epoch(t["predicted"], ds.labels) / 20)
    lm = get_detector("loss_mixture", last_epochs=5).score(ds)
    fit = fit_loss_mixture(t["loss"][:, -5:].mean(axis=1, dtype=np.float64))
    np.testing.assert_allclose(lm.scores, fit.posterior)
    assert 0.2 < lm.details["estimated_noise_rate"] < 0.45


def test_loss_mixture_detector_on_constant_losses_flags_nothing():
    ds = Dataset([0, 1, 0, 1], trajectories={"loss": np.ones((4, 3))})
    res = get_detector("loss_mixture").score(ds)
    assert res.details["degenerate"] and res.n_flagged == 0
    assert np.isfinite(res.scores).all()


def test_detector_without_its_trajectory_says_what_is_missing():
    ds = Dataset([0, 1, 0], trajectories={"loss": np.ones((3, 2))})
    with pytest.raises(MissingSignalError, match="trajectories.margin"):
        get_detector("aum").score(ds)
    assert get_detector("loss_mixture").missing(ds) is None


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: area_under_margin(np.ones(4)), ValueError, "2-D"),
        (lambda: area_under_margin(np.ones((4, 0))), ValueError, "E=0"),
        (lambda: area_under_margin(np.ones((0, 3))), ValueError, "N=0"),
        (lambda: area_under_margin([[1.0, np.nan]]), ValueError, "NaN"),
        (lambda: area_under_margin([["a", "b"]]), TypeError, "real numbers"),
        (lambda: area_under_margin(None), TypeError, "None"),
        (lambda: forgetting_events([[0, 1]], [0, 1]), ValueError, "predicted=1, labels=2"),
        (lambda: forgetting_events([[0, -1]], [0]), ValueError, "predicted"),
        (lambda: forgetting_events([[0.5, 1]], [0]), TypeError, "predicted"),
        (lambda: forgetting_events(np.ones((2, 0), int), [0, 1]), ValueError, "E=0"),
        (lambda: first_learned_epoch([[0, 1]], [-3]), ValueError, "labels"),
        (lambda: first_learned_epoch([[0, 1]], [0], k=0), ValueError, "k must be"),
        (lambda: first_learned_epoch([[0, 1]], [0], k=1.5), TypeError, "k must be"),
        (lambda: datamap_statistics([[0.5, 1.5]]), ValueError, r"\[0, 1\]"),
        (lambda: fit_loss_mixture(np.ones((3, 2))), ValueError, "1-D"),
        (lambda: fit_loss_mixture([]), ValueError, "N >= 1"),
        (lambda: fit_loss_mixture([1.0, 2.0], family="poisson"), ValueError, "family"),
        (lambda: fit_loss_mixture([1.0, 2.0], max_iter=0), ValueError, "max_iter"),
        (lambda: fit_loss_mixture([1.0, 2.0], tol=-1), ValueError, "tol"),
        (lambda: fit_loss_mixture([1.0, np.inf]), ValueError, "infinity"),
        (lambda: fit_loss_mixture([1.0, 2.0], seed="x"), TypeError, "seed"),
    ],
)
def test_bad_input_raises_before_work(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("name", "params", "error"),
    [
        ("aum", {"threshold": "zero"}, TypeError),
        ("aum", {"threshold": np.nan}, ValueError),
        ("forgetting_events", {"min_events": 0}, ValueError),
        ("first_learned_epoch", {"k": -1}, ValueError),
        ("first_learned_epoch", {"flag_after": None}, TypeError),
        ("loss_mixture", {"last_epochs": 0}, ValueError),
        ("loss_mixture", {"family": "normal"}, ValueError),
        ("datamap_confidence", {"threshold": None}, TypeError),
    ],
)
def test_bad_detector_parameters_raise(name, params, error):
    t = {
        "loss": np.ones((4, 3)),
        "margin": np.ones((4, 3)),
        "given_prob": np.full((4, 3), 0.5),
        "predicted": np.zeros((4, 3), int),
    }
    ds = Dataset([0, 1, 0, 1], trajectories=t)
    with pytest.raises(error):
        get_detector(name, **params).score(ds)
