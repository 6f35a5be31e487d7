"""Dawid-Skene on every class of multi-label annotations in one EM (per_class_dawid_skene)
against the single-label ``dawid_skene`` run on each class alone: same posteriors, confusions,
qualities, likelihood traces and stopping iteration, on degenerate classes too; and the detector
built on it finding injected annotator noise."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from workbench.analysis.detectors import get_detector
from workbench.analysis.detectors import multilabel as ml
from workbench.analysis.detectors.annotators import dawid_skene
from workbench.analysis.detectors.multilabel import per_class_dawid_skene
from workbench.core.dataset import Dataset

TOL = 1e-9
#: More examples for a deeper search: WORKBENCH_HYPOTHESIS_EXAMPLES=3000 pytest ...
EXAMPLES = int(os.environ.get("WORKBENCH_HYPOTHESIS_EXAMPLES", "60"))


def assert_same_as_per_class_loop(votes, **options):
    """``per_class_dawid_skene(votes)`` equals ``dawid_skene`` on each class, to TOL."""
    fit = per_class_dawid_skene(votes, **options)
    n, m, k = votes.shape
    assert fit.posterior.shape == (n, k) and fit.confusion.shape == (k, m, 2, 2)
    assert fit.annotator_quality.shape == (k, m) and fit.class_priors.shape == (k, 2)
    for c in range(k):
        codes = votes[:, :, c].astype(np.int64)
        ref = dawid_skene(codes, 2, **options)
        where = f"class {c}"
        assert fit.n_iter[c] == ref.n_iter and fit.converged[c] == ref.converged, where
        np.testing.assert_allclose(fit.posterior[:, c], ref.posterior[:, 1], rtol=0, atol=TOL,
                                   err_msg=where)  # fmt: skip
        np.testing.assert_allclose(fit.confusion[c], ref.confusion, rtol=0, atol=TOL, err_msg=where)
        np.testing.assert_allclose(fit.class_priors[c], ref.class_priors, rtol=0, atol=TOL)
        # NaN exactly where the annotator labelled nothing for the class
        np.testing.assert_allclose(fit.annotator_quality[c], ref.annotator_quality, rtol=0,
                                   atol=TOL, err_msg=where)  # fmt: skip
        trace = fit.log_likelihood[c]
        np.testing.assert_allclose(trace[: ref.n_iter], ref.log_likelihood, rtol=TOL, atol=TOL)
        assert np.isnan(trace[ref.n_iter :]).all(), where
        said = codes[codes >= 0]
        assert fit.n_votes[c].tolist() == [(said == 0).sum(), (said == 1).sum()], where
    return fit


def noisy_votes(n=400, m=4, k=12, seed=0, missing=0.2, worst=0.4):
    rng = np.random.default_rng(seed)
    true = rng.random((n, k)) < rng.uniform(0.05, 0.5, k)
    flips = np.linspace(0.05, worst, m)  # annotator j flips each annotation so often
    votes = np.stack([true ^ (rng.random((n, k)) < f) for f in flips], axis=1).astype(np.int8)
    votes[rng.random(votes.shape) < missing] = -1  # single annotations missing
    votes[rng.random(n) < 0.1, 0, :] = -1  # whole sets missing, as Dataset stores them
    return true, votes


def test_equals_the_per_class_loop_with_degenerate_classes():
    _, votes = noisy_votes()
    votes[:, :, 0] = np.where(votes[:, :, 0] >= 0, 0, -1)  # no positives
    votes[:, :, 1] = np.where(votes[:, :, 1] >= 0, 1, -1)  # all positives
    votes[:, 2, 2] = -1  # an annotator who labelled nothing for this class
    votes[:, 1:, 3] = -1  # one annotator left
    votes[:, :, 4] = -1  # nobody labelled this class
    votes[5, :, 5] = -1  # one sample nobody labelled for this class only
    fit = assert_same_as_per_class_loop(votes)
    assert np.isnan(fit.annotator_quality[2, 2]) and np.isnan(fit.annotator_quality[4]).all()
    assert fit.n_iter.min() >= 2 and len(set(fit.n_iter.tolist())) > 3  # classes stop apart
    assert fit.posterior[5, 5] == pytest.approx(fit.class_priors[5, 1])


def test_equals_the_per_class_loop_with_a_single_annotator():
    _, votes = noisy_votes(n=200, m=1, k=5, seed=1)
    assert_same_as_per_class_loop(votes)


@pytest.mark.parametrize(
    "options",
    [
        {"max_iter": 3},
        {"max_iter": 1},
        {"tol": 0.0, "max_iter": 40},
        {"smoothing": 0.0},
        {"smoothing": 2.5, "tol": 1e-3},
    ],  # fmt: skip
)
def test_equals_the_per_class_loop_under_options(options):
    _, votes = noisy_votes(n=150, m=3, k=6, seed=2)
    fit = assert_same_as_per_class_loop(votes, **options)
    if options.get("max_iter", 100) <= 3 or options.get("tol") == 0.0:
        assert not fit.converged.any()


@pytest.mark.parametrize(
    "n, m",
    [(400, 3), (20, 5), (12, 41)],  # every pattern tabled / distinct patterns sorted / long rows
)
def test_equals_the_per_class_loop_however_patterns_are_found(n, m):
    _, votes = noisy_votes(n=n, m=m, k=4, seed=3, missing=0.3)
    assert_same_as_per_class_loop(votes)


def test_blocks_of_classes_give_the_same_fit(monkeypatch):
    _, votes = noisy_votes(n=100, m=3, k=9, seed=4)
    whole = per_class_dawid_skene(votes)
    monkeypatch.setattr(ml, "_DS_BLOCK_CELLS", 100 * 8 * 2)  # two classes a block, five blocks
    blocks = per_class_dawid_skene(votes)
    for name in ("posterior", "confusion", "annotator_quality", "class_priors", "log_likelihood"):
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name), err_msg=name)
    np.testing.assert_array_equal(blocks.n_iter, whole.n_iter)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(
    votes=hnp.arrays(
        np.int8,
        st.tuples(st.integers(1, 25), st.integers(1, 4), st.integers(1, 4)),
        elements=st.sampled_from([-1, 0, 1]),
    ),
    max_iter=st.integers(1, 60),
    smoothing=st.sampled_from([0.0, 0.01, 0.3]),
)
def test_property_equals_the_per_class_loop(votes, max_iter, smoothing):
    assert_same_as_per_class_loop(votes, max_iter=max_iter, smoothing=smoothing)


def test_detector_keeps_the_per_class_rules():
    true, votes = noisy_votes(n=300, m=3, k=6, seed=5, missing=0.0)  # Dataset: whole sets
    votes[:, :, 0] = np.where(votes[:, :, 0] >= 0, 1, -1)  # everyone says "has": no EM needed
    ds = Dataset(true.astype(int), annotators=votes, task="multilabel")
    result = get_detector("multilabel_dawid_skene").score(ds, progress=False)
    posterior = result.details["posterior"]
    assert (posterior[:, 0] == 1.0).all() and np.isnan(result.details["annotator_quality"][0]).all()
    np.testing.assert_array_equal(result.details["confusion"][0], 0.5)
    for c in range(1, 6):
        ref = dawid_skene(ds.annotators[:, :, c].astype(np.int64), 2)
        np.testing.assert_allclose(posterior[:, c], ref.posterior[:, 1], rtol=0, atol=TOL)
        np.testing.assert_allclose(result.details["confusion"][c], ref.confusion, atol=TOL)


def test_detector_finds_injected_annotator_noise():
    rng = np.random.default_rng(6)
    true, votes = noisy_votes(n=1500, m=5, k=20, seed=6, missing=0.0, worst=0.25)
    wrong = rng.random(true.shape) < 0.03
    ds = Dataset((true ^ wrong).astype(int), annotators=votes, true_labels=true.astype(int),
                 task="multilabel")  # fmt: skip
    result = get_detector("multilabel_dawid_skene").score(ds, progress=False)
    per_class_flags = result.details["per_class_flags"]
    hits = (per_class_flags & wrong).sum()
    # 3% of the annotations are wrong; the consensus itself misses about 2% (measured: 0.62, 0.96)
    assert hits / per_class_flags.sum() > 0.5 and hits / wrong.sum() > 0.9
    assert ds.is_noisy[result.flags].mean() > 0.6
    accuracy = (result.suggested_labels == true).mean()  # measured: 0.982
    majority = get_detector("multilabel_annotator_agreement").score(ds, progress=False)
    assert accuracy > (majority.suggested_labels == true).mean()  # measured: 0.977
    assert accuracy > max((votes[:, j] == true).mean() for j in range(5))  # the best one: 0.956
    # the annotators flip 5% to 25% of their annotations, in order: so do their qualities
    quality = result.details["annotator_quality"]
    assert (np.diff(quality.mean(axis=0)) < -0.02).all()
    assert (quality.argmax(axis=1) == 0).all() and (quality.argmin(axis=1) == 4).all()
    assert result.details["converged"].all()


@pytest.mark.parametrize(
    "votes, options, error, match",
    [
        (np.zeros((3, 2)), {}, ValueError, r"shape \(N, M, K\)"),
        (np.zeros((0, 2, 2)), {}, ValueError, r"shape \(N, M, K\)"),
        (np.full((3, 2, 2), 2), {}, ValueError, r"found 2 at \(0, 0, 0\)"),
        (np.full((3, 2, 2), 0.5), {}, ValueError, r"found 0.5 at \(0, 0, 0\)"),
        (np.array([[["a"]]]), {}, TypeError, "dtype"),
        (np.zeros((3, 2, 2), int), {"max_iter": 0}, ValueError, "max_iter"),
        (np.zeros((3, 2, 2), int), {"tol": -1.0}, ValueError, "tol"),
        (np.zeros((3, 2, 2), int), {"smoothing": np.inf}, ValueError, "smoothing"),
    ],
)
def test_bad_input_is_named(votes, options, error, match):
    with pytest.raises(error, match=match):
        per_class_dawid_skene(votes, **options)
