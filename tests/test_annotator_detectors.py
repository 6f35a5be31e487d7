"""Several-annotator detectors: majority vote (parity with cleanlab) and Dawid-Skene EM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from cleanlab.multiannotator import get_majority_vote_label
from sklearn.metrics import roc_auc_score

from workbench.analysis.detectors import MissingSignalError, get_detector, list_detectors
from workbench.analysis.detectors import annotators as ann
from workbench.analysis.detectors.annotators import dawid_skene, majority_vote
from workbench.core.dataset import Dataset


def simulate(n=1000, k=4, accuracies=(0.85, 0.8, 0.75), n_spammers=4, p_label=0.8, seed=0):
    """True labels and an (N, M) annotation matrix: good annotators, then uniform spammers."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    cols = []
    for acc in accuracies:
        wrong = (true + rng.integers(1, k, n)) % k
        cols.append(np.where(rng.random(n) < acc, true, wrong))
    cols += [rng.integers(0, k, n) for _ in range(n_spammers)]
    labels = np.stack(cols, axis=1)
    labels[rng.random(labels.shape) >= p_label] = -1
    return true, labels


def as_cleanlab(labels):
    return np.where(labels < 0, np.nan, labels).astype(float)


# --- majority vote ---------------------------------------------------------------------------
def test_majority_vote_by_hand():
    labels = [[0, 0, 1], [2, -1, 2], [-1, -1, -1], [1, 1, 1]]
    consensus, agreement = majority_vote(labels, 3)
    np.testing.assert_array_equal(consensus, [0, 2, -1, 1])
    np.testing.assert_allclose(agreement, [2 / 3, 1.0, np.nan, 1.0])


def test_ties_go_to_the_rarest_class_then_the_lowest_index():
    # over the whole matrix class 2 has 1 vote, class 0 has 3, class 1 has 3
    labels = np.array([[0, 1], [1, 2], [0, 0], [1, 1]])
    consensus, agreement = majority_vote(labels, 3)
    np.testing.assert_array_equal(consensus, [0, 2, 0, 1])  # [0, 1] tie: equal totals -> 0
    np.testing.assert_allclose(agreement, [0.5, 0.5, 1.0, 1.0])
    # pred_probs decide first when given
    probs = np.array([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(majority_vote(labels, 3, pred_probs=probs)[0], [1, 1, 0, 1])


def test_majority_vote_accepts_nan_torch_and_pandas():
    labels = np.array([[0.0, np.nan, 1.0, 1.0], [np.nan, np.nan, np.nan, 2.0]])
    expected = [1, 2]
    np.testing.assert_array_equal(majority_vote(labels, 3)[0], expected)
    np.testing.assert_array_equal(majority_vote(pd.DataFrame(labels), 3)[0], expected)
    codes = np.nan_to_num(labels, nan=-1).astype(int)
    np.testing.assert_array_equal(majority_vote(torch.tensor(codes))[0], expected)


def test_majority_vote_matches_cleanlab_where_ties_do_not_matter():
    _, labels = simulate(n=2000, seed=1)
    labels[(labels < 0).all(axis=1), 0] = 0  # cleanlab needs one annotation per sample
    ours, agreement = majority_vote(labels, 4)
    theirs = get_majority_vote_label(as_cleanlab(labels), verbose=False)
    counts = np.stack([(labels == c).sum(axis=1) for c in range(4)], axis=1)
    untied = (counts == counts.max(axis=1, keepdims=True)).sum(axis=1) == 1
    assert untied.mean() > 0.5
    np.testing.assert_array_equal(ours[untied], theirs[untied])
    np.testing.assert_allclose(agreement, counts.max(axis=1) / (labels >= 0).sum(axis=1))
    # with pred_probs (no ties among them) both break every tie the same way
    probs = np.random.default_rng(2).dirichlet(np.ones(4), len(labels))
    ours = majority_vote(labels, 4, pred_probs=probs)[0]
    theirs = get_majority_vote_label(as_cleanlab(labels), pred_probs=probs, verbose=False)
    np.testing.assert_array_equal(ours, theirs)


def test_majority_vote_compares_pred_probs_in_float64():
    # classes 0 and 1 tie in the vote and differ only beyond float32 in pred_probs
    labels = np.array([[0, 1], [1, 1], [1, 1]])
    probs = np.array([[0.5 + 1e-12, 0.5 - 1e-12], [0.5, 0.5], [0.5, 0.5]])
    assert probs.astype(np.float32)[0, 0] == probs.astype(np.float32)[0, 1]
    for p in (probs, probs[:, ::-1].copy()):
        ours = majority_vote(labels, 2, pred_probs=p)[0]
        theirs = get_majority_vote_label(as_cleanlab(labels), pred_probs=p, verbose=False)
        np.testing.assert_array_equal(ours, theirs)
    # class 1 wins by 2e-12 though class 0 is the rarer one (in float32 the rarer would win)
    assert ours[0] == 1


def _symmetric_votes(n, k, m, seed):
    """Annotations whose classes all have the same total (every block repeated with the
    classes shifted cyclically), so ties in the vote survive the class-frequency rule."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    acc = rng.uniform(0.3, 0.95, m)
    block = np.where(rng.random((n, m)) < acc, true[:, None], rng.integers(0, k, (n, m)))
    block[rng.random((n, m)) < 0.3] = -1
    block[(block < 0).all(axis=1), 0] = 0
    shifted = [np.where(block < 0, -1, (block + s) % k) for s in range(k)]
    return np.concatenate(shifted)


def _cleanlab_vote(labels, pred_probs=None):
    """cleanlab's majority vote and the samples where it drew at random."""
    import re
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vote = get_majority_vote_label(as_cleanlab(labels), pred_probs=pred_probs, verbose=False)
    drawn = [
        int(i)
        for w in caught
        if "random selection" in str(w.message)
        for i in re.findall(r"\d+", str(w.message).split("]")[0])
    ]
    return vote, np.array(drawn, dtype=int)


@pytest.mark.parametrize("seed", range(4))
def test_majority_vote_breaks_ties_as_cleanlab_does(seed):
    labels = _symmetric_votes(n=200, k=3, m=4 + seed, seed=seed)
    totals = np.bincount(labels[labels >= 0], minlength=3)
    assert (totals == totals[0]).all()  # the class-frequency rule decides nothing here
    ours = majority_vote(labels, 3)[0]
    theirs, drawn = _cleanlab_vote(labels)
    counts = np.stack([(labels == c).sum(axis=1) for c in range(3)], axis=1)
    tied = (counts == counts.max(axis=1, keepdims=True)).sum(axis=1) > 1
    decided = np.setdiff1d(np.flatnonzero(tied), drawn)
    assert len(decided) > 20  # the annotator-agreement rule decides many ties
    keep = np.ones(len(labels), bool)
    keep[drawn] = False
    np.testing.assert_array_equal(ours[keep], theirs[keep])
    # where cleanlab draws at random we take the lowest tied class, and say so
    for i in drawn:
        assert ours[i] == np.flatnonzero(counts[i] == counts[i].max()).min() or counts[i].max() == 0
    # pred_probs with exact ties of their own leave the later rules to decide
    probs = np.random.default_rng(seed).dirichlet(np.ones(3), len(labels))
    probs[::2] = 1 / 3
    ours = majority_vote(labels, 3, pred_probs=probs)[0]
    theirs, drawn = _cleanlab_vote(labels, probs)
    keep = np.ones(len(labels), bool)
    keep[drawn] = False
    np.testing.assert_array_equal(ours[keep], theirs[keep])


def test_majority_vote_agreement_rule_by_hand():
    # rows 0-2 are untied: annotator 0 always agrees (1.0), annotator 1 never (0.0);
    # row 3 ties 0/1 with equal class totals; annotator 0 chose 1, so 1 wins
    labels = np.array([[0, 1, 0], [1, 0, 1], [2, 0, 2], [1, 0, -1], [1, -1, -1]])
    totals = np.bincount(labels[labels >= 0], minlength=3)
    assert totals[0] == totals[1]
    assert majority_vote(labels, 3)[0][3] == 1
    theirs, drawn = _cleanlab_vote(labels)
    assert theirs[3] == 1 and len(drawn) == 0


def test_majority_vote_in_chunks_matches_one_pass(monkeypatch):
    _, labels = simulate(n=301, seed=3)
    symmetric = _symmetric_votes(n=100, k=3, m=5, seed=3)  # ties for the agreement rule
    whole = majority_vote(labels, 4), majority_vote(symmetric, 3)
    monkeypatch.setattr(ann, "_CHUNK_ELEMENTS", 20)  # 4-5 rows per chunk
    chunked = majority_vote(labels, 4), majority_vote(symmetric, 3)
    for pair_whole, pair_chunked in zip(whole, chunked, strict=True):
        for a, b in zip(pair_whole, pair_chunked, strict=True):
            np.testing.assert_array_equal(a, b)


# --- Dawid-Skene -----------------------------------------------------------------------------
def dawid_skene_by_loops(labels, k, n_iter, smoothing):
    """Textbook Dawid-Skene, one sample at a time: the reference for the vectorised EM."""
    n, m = labels.shape
    post = np.zeros((n, k))
    for i in range(n):
        for j in range(m):
            if labels[i, j] >= 0:
                post[i, labels[i, j]] += 1
        post[i] = post[i] / post[i].sum() if post[i].sum() else np.full(k, 1 / k)
    for _ in range(n_iter):
        labelled = (labels >= 0).any(axis=1)
        prior = post[labelled].sum(axis=0) + smoothing
        prior /= prior.sum()
        conf = np.full((m, k, k), smoothing)
        for i in range(n):
            for j in range(m):
                if labels[i, j] >= 0:
                    conf[j, :, labels[i, j]] += post[i]
        conf /= conf.sum(axis=2, keepdims=True)
        for i in range(n):
            logp = np.log(prior).copy()
            for j in range(m):
                if labels[i, j] >= 0:
                    logp += np.log(conf[j, :, labels[i, j]])
            post[i] = np.exp(logp - logp.max())
            post[i] /= post[i].sum()
    return post, conf, prior


def test_dawid_skene_matches_a_per_sample_reference():
    _, labels = simulate(n=150, k=3, n_spammers=2, p_label=0.6, seed=4)
    labels[:5] = -1  # some samples nobody labelled
    ref_post, _, _ = dawid_skene_by_loops(labels, 3, n_iter=6, smoothing=0.01)
    fit = dawid_skene(labels, 3, max_iter=6, tol=0.0, smoothing=0.01)
    assert fit.n_iter == 6 and not fit.converged
    has = (labels >= 0).any(axis=1)  # the unlabelled keep the priors, checked elsewhere
    np.testing.assert_allclose(fit.posterior[has], ref_post[has], atol=1e-10)


def test_dawid_skene_recovers_annotator_quality_and_beats_majority_vote():
    true, labels = simulate(n=1500, seed=5)
    fit = dawid_skene(labels, 4)
    assert fit.converged
    good, spam = fit.annotator_quality[:3], fit.annotator_quality[3:]
    assert good.min() > spam.max() + 0.3
    np.testing.assert_allclose(good, [0.85, 0.8, 0.75], atol=0.05)
    np.testing.assert_allclose(spam, 0.25, atol=0.06)
    mv_acc = (majority_vote(labels, 4)[0] == true).mean()
    ds_acc = (fit.consensus_labels == true).mean()
    assert ds_acc > mv_acc + 0.08
    np.testing.assert_allclose(fit.confusion.sum(axis=2), 1.0)
    np.testing.assert_allclose(fit.posterior.sum(axis=1), 1.0)
    np.testing.assert_allclose(fit.class_priors.sum(), 1.0)
    trace = np.array(fit.log_likelihood)
    assert np.all(np.diff(trace) > -1e-6 * np.abs(trace[:-1]))


def test_dawid_skene_learns_a_systematic_confusion():
    true, labels = simulate(n=1200, k=3, accuracies=(0.9, 0.85, 0.8), n_spammers=0, seed=6)
    swapper = np.where(true == 0, 1, true)  # always says 1 for class 0
    labels = np.column_stack([labels, swapper])
    fit = dawid_skene(labels, 3)
    assert fit.confusion[3, 0, 1] > 0.95
    assert fit.confusion[3, 1, 1] > 0.95 and fit.confusion[3, 2, 2] > 0.95


def test_random_start_finds_the_same_fit_with_classes_matched():
    true, labels = simulate(n=1000, seed=7)
    a = dawid_skene(labels, 4)
    b = dawid_skene(labels, 4, init="random", seed=3)
    c = dawid_skene(labels, 4, init="random", seed=np.random.default_rng(3))
    assert (a.consensus_labels == b.consensus_labels).mean() > 0.99
    np.testing.assert_allclose(a.annotator_quality, b.annotator_quality, atol=0.01)
    np.testing.assert_array_equal(b.posterior, c.posterior)


def test_unlabelled_samples_empty_annotators_and_a_single_annotator():
    true, labels = simulate(n=400, k=3, n_spammers=1, seed=8)
    labels[:10] = -1
    labels[:, 1] = -1  # an annotator who labelled nothing
    fit = dawid_skene(labels, 3)
    np.testing.assert_allclose(fit.posterior[:10], np.tile(fit.class_priors, (10, 1)))
    np.testing.assert_array_equal(fit.consensus_labels[:10], -1)
    np.testing.assert_array_equal(fit.n_annotations[:10], 0)
    assert np.isnan(fit.annotator_quality[1])
    np.testing.assert_allclose(fit.confusion[1], 1 / 3)
    assert np.isfinite(fit.annotator_quality[[0, 2, 3]]).all()
    assert np.isfinite(fit.posterior).all()

    single = labels[:, [0]]
    one = dawid_skene(single, 3)
    has = single[:, 0] >= 0
    np.testing.assert_array_equal(one.consensus_labels[has], single[has, 0])
    np.testing.assert_array_equal(one.consensus_labels[~has], -1)

    nothing = dawid_skene(np.full((4, 2), -1), 3)
    np.testing.assert_allclose(nothing.posterior, 1 / 3)
    assert np.isnan(nothing.annotator_quality).all()


# --- detectors -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def noisy_dataset():
    """Given labels = truth with 20 % flipped; annotators as in ``simulate``."""
    true, labels = simulate(n=1500, seed=9)
    rng = np.random.default_rng(10)
    flipped = rng.random(len(true)) < 0.2
    given = np.where(flipped, (true + rng.integers(1, 4, len(true))) % 4, true)
    labels[:20] = -1
    return Dataset(given, annotators=labels, true_labels=true), flipped


def test_annotator_detectors_are_registered():
    for name in ("annotator_agreement", "dawid_skene"):
        assert name in list_detectors()
        det = get_detector(name)
        assert det.requires == ("annotators",) and det.reference


def test_annotator_agreement_scores_disagreement_with_the_given_label(noisy_dataset):
    ds, flipped = noisy_dataset
    res = get_detector("annotator_agreement").score(ds)
    codes = ds.annotators
    n_ann = (codes >= 0).sum(axis=1)
    has = n_ann > 0
    agree = (codes == ds.labels[:, None]).sum(axis=1)
    np.testing.assert_allclose(res.scores[has], 1 - agree[has] / n_ann[has])
    np.testing.assert_array_equal(res.scores[~has], 0.0)  # no evidence: least suspicious
    np.testing.assert_array_equal(res.flags, has & (res.scores > 0.5))
    np.testing.assert_array_equal(res.suggested_labels, majority_vote(codes, 4)[0])
    assert roc_auc_score(flipped, res.scores) > 0.8


def test_dawid_skene_detector_finds_flipped_labels(noisy_dataset):
    ds, flipped = noisy_dataset
    res = get_detector("dawid_skene").score(ds)
    fit = dawid_skene(ds.annotators, 4)
    wrong = 1 - fit.posterior[np.arange(len(ds)), ds.labels]
    np.testing.assert_allclose(res.scores, np.where(fit.n_annotations > 0, wrong, 0.0))
    np.testing.assert_array_equal(res.suggested_labels, fit.consensus_labels)
    np.testing.assert_array_equal(res.details["annotator_quality"], fit.annotator_quality)
    assert roc_auc_score(flipped, res.scores) > 0.95
    assert roc_auc_score(flipped, res.scores) > roc_auc_score(
        flipped, get_detector("annotator_agreement").score(ds).scores
    )
    assert not res.flags[:20].any() and (res.suggested_labels[:20] == -1).all()
    np.testing.assert_array_equal(res.scores[:20], 0.0)
    # precision is bounded by the consensus accuracy (about 0.87 here) on the 80 % clean samples
    assert flipped[res.flags].mean() > 0.55 and res.flags[flipped].mean() > 0.8
    assert (
        res.suggested_labels[flipped & res.flags] == ds.true_labels[flipped & res.flags]
    ).mean() > 0.9


def test_detectors_read_annotators_given_as_names_with_gaps():
    frame = pd.DataFrame({"ann_a": ["cat", "dog", None], "ann_b": ["cat", "cat", "dog"]})
    ds = Dataset(["cat", "dog", "dog"], annotators=frame)
    res = get_detector("annotator_agreement").score(ds)
    np.testing.assert_allclose(res.scores, [0.0, 0.5, 0.0])
    # sample 1 ties cat/dog; dog has fewer annotations overall (2 against 3), so dog wins
    np.testing.assert_array_equal(res.suggested_labels, [0, 1, 1])
    assert get_detector("dawid_skene").score(ds).scores.shape == (3,)


def test_no_annotation_at_all_makes_the_detectors_unavailable():
    from workbench.analysis.detectors import available_detectors, run_detectors

    ds = Dataset([0, 1, 0, 2], annotators=np.full((4, 3), -1), class_names=["a", "b", "c"])
    why = available_detectors(ds)
    for name in ("annotator_agreement", "dawid_skene"):
        assert "at least one annotation" in why[name]
        with pytest.raises(MissingSignalError, match="at least one annotation"):
            get_detector(name).score(ds)
    assert not {"annotator_agreement", "dawid_skene"} & set(run_detectors(ds, progress=False))


@pytest.mark.parametrize("name", ["annotator_agreement", "dawid_skene"])
def test_unlabelled_samples_never_rank_above_labelled_ones(name):
    # samples 2 and 3 have no annotation; sample 0 has a disagreeing annotator
    codes = np.array([[0, 1, -1], [1, 1, -1], [-1, -1, -1], [-1, -1, -1], [2, 2, 2]])
    ds = Dataset([0, 1, 0, 1, 2], annotators=codes, class_names=["a", "b", "c"])
    res = get_detector(name).score(ds)
    np.testing.assert_array_equal(res.scores[[2, 3]], 0.0)
    assert res.ranking()[0] == 0 and res.scores[0] > 0.3
    assert not res.flags[[2, 3]].any() and (res.suggested_labels[[2, 3]] == -1).all()


def test_detectors_need_annotators():
    with pytest.raises(MissingSignalError, match="annotators"):
        get_detector("dawid_skene").score(Dataset([0, 1, 1]))


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: majority_vote([0, 1, 2]), ValueError, "2-D"),
        (lambda: majority_vote(np.empty((0, 3), int)), ValueError, "at least one"),
        (lambda: majority_vote(np.empty((3, 0), int)), ValueError, "at least one"),
        (lambda: majority_vote([[0, 3]], 3), ValueError, "0..2"),
        (lambda: majority_vote([[0, -2]], 3), ValueError, "annotators"),
        (lambda: majority_vote([[0.5, 1]], 3), TypeError, "integer"),
        (lambda: majority_vote([["a", "b"]], 3), TypeError, "integer class indices"),
        (lambda: majority_vote([[0, 1]], 0), ValueError, "n_classes"),
        (lambda: majority_vote([[0, 1]], 2.0), ValueError, "n_classes"),
        (lambda: majority_vote([[0, 1]], 2, pred_probs=[[1.0, 0.0, 0.0]]), ValueError, "columns"),
        (lambda: dawid_skene([[0, 1]], 2, max_iter=0), ValueError, "max_iter"),
        (lambda: dawid_skene([[0, 1]], 2, tol=-1.0), ValueError, "tol"),
        (lambda: dawid_skene([[0, 1]], 2, smoothing=-0.1), ValueError, "smoothing"),
        (lambda: dawid_skene([[0, 1]], 2, init="kmeans"), ValueError, "init"),
        (lambda: dawid_skene([[0, 1]], 2, seed=1.5), TypeError, "seed"),
    ],
)
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("threshold", [1.5, -0.1, "half", True])
def test_bad_agreement_threshold_raises(threshold):
    ds = Dataset([0, 1], annotators=[[0, 1], [1, 1]])
    with pytest.raises((ValueError, TypeError), match="threshold"):
        get_detector("annotator_agreement", threshold=threshold).score(ds)
