"""CROWDLAB: the numbers of cleanlab 2.9's get_label_quality_multiannotator (and its ensemble
variant) on the same inputs, better consensus than the annotators or the model alone, the
detector contract, and samples or annotators without annotations."""

import warnings

import numpy as np
import pytest
from cleanlab.multiannotator import (
    get_label_quality_multiannotator,
    get_label_quality_multiannotator_ensemble,
)
from sklearn.metrics import roc_auc_score

from workbench.analysis.detectors import available_detectors, get_detector
from workbench.analysis.detectors.annotators import dawid_skene, majority_vote
from workbench.analysis.detectors.crowdlab import crowdlab
from workbench.core.dataset import Dataset


def simulate(n=400, k=4, accuracies=(0.8, 0.7, 0.6), n_spammers=2, p_label=0.6, seed=0):
    """True labels, (N, M) annotations (-1 missing; every sample labelled at least once) and
    a model's pred_probs that are right about 80 % of the time."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    cols = [
        np.where(rng.random(n) < acc, true, (true + rng.integers(1, k, n)) % k)
        for acc in accuracies
    ]
    cols += [rng.integers(0, k, n) for _ in range(n_spammers)]
    labels = np.stack(cols, axis=1)
    labels[rng.random(labels.shape) >= p_label] = -1
    empty = (labels < 0).all(axis=1)
    labels[empty, rng.integers(0, labels.shape[1], empty.sum())] = true[empty]
    p = rng.dirichlet(np.ones(k), n)
    p[np.arange(n), true] += 0.5
    return true, labels, p / p.sum(axis=1, keepdims=True)


def as_cleanlab(labels):
    return np.where(labels < 0, np.nan, labels).astype(float)


def cleanlab_fit(labels, p, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about ties and spammers
        if p.ndim == 3:
            return get_label_quality_multiannotator_ensemble(as_cleanlab(labels), p, verbose=False)
        return get_label_quality_multiannotator(as_cleanlab(labels), p, verbose=False, **kw)


def assert_same_as_cleanlab(ours, theirs):
    lq = theirs["label_quality"]
    np.testing.assert_array_equal(ours.consensus_labels, lq["consensus_label"])
    np.testing.assert_allclose(ours.consensus_quality, lq["consensus_quality_score"], atol=1e-14)
    np.testing.assert_allclose(ours.annotator_agreement, lq["annotator_agreement"], atol=1e-14)
    np.testing.assert_array_equal(ours.n_annotations, lq["num_annotations"])
    np.testing.assert_allclose(
        ours.label_quality, theirs["detailed_label_quality"].to_numpy(), atol=1e-14
    )
    stats = theirs["annotator_stats"]
    assert list(ours.annotator_stats.index) == list(stats.index)  # same order, worst first
    assert list(ours.annotator_stats.columns) == list(stats.columns)
    np.testing.assert_allclose(
        ours.annotator_stats.to_numpy(float), stats.to_numpy(float), atol=1e-14
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["best_quality", "majority_vote"])
@pytest.mark.parametrize("seed", range(3))
def test_equals_cleanlab(seed, method, dtype):
    _, labels, p = simulate(seed=seed, k=3 + seed)
    p = p.astype(dtype)
    ours = crowdlab(labels, p, consensus_method=method)
    theirs = cleanlab_fit(labels, p, consensus_method=method, return_weights=True)
    assert_same_as_cleanlab(ours, theirs)
    assert ours.model_weight == pytest.approx(theirs["model_weight"], abs=1e-14)
    np.testing.assert_allclose(ours.annotator_weight, theirs["annotator_weight"], atol=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_ensemble_equals_cleanlab(seed):
    true, labels, p = simulate(seed=10 + seed)
    rng = np.random.default_rng(seed)
    weak = rng.dirichlet(np.ones(4), len(true))  # a second, useless model
    models = np.stack([p, weak])
    ours = crowdlab(labels, models)
    theirs = get_label_quality_multiannotator_ensemble(
        as_cleanlab(labels), models, verbose=False, return_weights=True
    )
    assert_same_as_cleanlab(ours, theirs)
    np.testing.assert_allclose(ours.model_weight, theirs["model_weight"], atol=1e-14)
    assert ours.model_weight[0] > ours.model_weight[1]  # the better model weighs more


def test_consensus_beats_majority_vote_dawid_skene_and_the_model():
    true, labels, p = simulate(n=1500, p_label=0.4, seed=20)
    fit = crowdlab(labels, p)
    acc = (fit.consensus_labels == true).mean()
    assert acc > (majority_vote(labels, 4, pred_probs=p)[0] == true).mean() + 0.03
    assert acc > (dawid_skene(labels, 4).consensus_labels == true).mean()
    assert acc > (p.argmax(axis=1) == true).mean() + 0.03
    quality = fit.annotator_stats.sort_index()["annotator_quality"].to_numpy()
    assert quality[:3].min() > quality[3:].max()  # the three real annotators before spammers
    assert list(np.argsort(quality[:3])) == [2, 1, 0]  # in order of their accuracy
    np.testing.assert_allclose(fit.posterior.sum(axis=1), 1.0)
    # a confident consensus is more often right than a doubtful one
    right = fit.consensus_labels == true
    assert roc_auc_score(right, fit.consensus_quality) > 0.6


def test_samples_and_annotators_without_annotations():
    true, labels, p = simulate(seed=30)
    labels[:5] = -1  # nobody labelled these: they keep the model's probabilities
    labels = np.c_[labels, np.full(len(labels), -1)]  # an annotator who labelled nothing
    fit = crowdlab(labels, p)
    np.testing.assert_allclose(fit.posterior[:5], p[:5], atol=1e-12)
    np.testing.assert_array_equal(fit.consensus_labels[:5], p[:5].argmax(axis=1))
    assert np.isnan(fit.annotator_agreement[:5]).all() and (fit.n_annotations[:5] == 0).all()
    row = fit.annotator_stats.loc[labels.shape[1] - 1]
    assert np.isnan(row["annotator_quality"]) and row["worst_class"] == -1
    assert row["num_examples_labeled"] == 0
    # the other samples and annotators get what cleanlab gives them without the empty ones
    ref = crowdlab(labels[5:, :-1], p[5:])
    np.testing.assert_allclose(fit.posterior[5:], ref.posterior, atol=1e-12)


def noisy_dataset(seed=40, models=1):
    true, labels, p = simulate(n=800, seed=seed)
    rng = np.random.default_rng(seed)
    flipped = rng.random(len(true)) < 0.2
    given = np.where(flipped, (true + rng.integers(1, 4, len(true))) % 4, true)
    probs = p if models == 1 else {"a": p, "b": rng.dirichlet(np.ones(4), len(true))}
    return Dataset(given, annotators=labels, pred_probs=probs, true_labels=true), flipped, p


@pytest.mark.parametrize("models", [1, 2])
def test_detector_scores_the_given_label(models):
    ds, flipped, p = noisy_dataset(models=models)
    res = get_detector("crowdlab").score(ds, progress=False)
    # the dataset keeps float32 copies of the models' pred_probs
    probs = ds.pred_probs if models == 1 else np.stack(list(ds.pred_probs_by_model.values()))
    fit = crowdlab(ds.annotators, probs)
    np.testing.assert_allclose(res.scores, 1 - fit.posterior[np.arange(len(ds)), ds.labels])
    np.testing.assert_array_equal(res.suggested_labels, fit.consensus_labels)
    np.testing.assert_array_equal(res.flags, fit.consensus_labels != ds.labels)
    assert roc_auc_score(flipped, res.scores) > 0.9
    agreement = get_detector("annotator_agreement").score(ds, progress=False)
    assert roc_auc_score(flipped, res.scores) > roc_auc_score(flipped, agreement.scores)


def test_detector_needs_two_annotations_on_some_sample_and_pred_probs():
    y = np.array([0, 1, 0, 1])
    single = np.array([[0, -1], [-1, 1], [0, -1], [-1, 1]])
    p = np.full((4, 2), 0.5)
    why = available_detectors(Dataset(y, annotators=single, pred_probs=p))["crowdlab"]
    assert "two or more annotators" in why
    assert "pred_probs" in available_detectors(Dataset(y, annotators=single))["crowdlab"]
    with pytest.raises(ValueError, match="two or more annotations"):
        crowdlab(single, p)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda a, p: crowdlab(a, p, consensus_method="dawid_skene"), ValueError, "consensus_method"),
        (lambda a, p: crowdlab(a, p[:-1]), ValueError, "rows"),
        (lambda a, p: crowdlab(a, p[:, :2] / p[:, :2].sum(1, keepdims=True)), ValueError,
         "annotators must hold classes"),
        (lambda a, p: crowdlab(a, p[0]), ValueError, r"\(N, K\) or \(E, N, K\)"),
        (lambda a, p: crowdlab(a, np.stack([p, p[:, ::-1] * 2])), ValueError, r"pred_probs\[1\]"),
        (lambda a, p: crowdlab(a.astype(float) + 0.5, p), TypeError, "integer"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(call, error, match):
    _, labels, p = simulate(n=50, seed=50)
    with pytest.raises(error, match=match):
        call(labels, p)
