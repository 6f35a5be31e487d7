"""The shared analysis of a dataset: one object per dataset, each quantity computed once and
equal to the public functions that compute it alone."""

from __future__ import annotations

import numpy as np
import pytest
from _audit_data import probs_dataset

import workbench as wb
from workbench.analysis import derived, matrices, statistics
from workbench.analysis.derived import MAX_CURVE_POINTS, analysis_of
from workbench.analysis.metrics import average_precision, pr_curve
from workbench.core.dataset import Dataset


def test_one_analysis_per_dataset_object():
    ds = probs_dataset(n=200)
    assert analysis_of(ds) is analysis_of(ds)
    assert analysis_of(ds.with_signals(coords=np.zeros((200, 2)))) is not analysis_of(ds)
    with pytest.raises(TypeError, match="workbench.Dataset"):
        analysis_of(np.zeros(3))


def test_every_pred_probs_detector_and_the_matrices_share_one_statistics_pass(monkeypatch):
    ds = probs_dataset(n=400)
    calls = []
    real = statistics.statistics_pass

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(derived, "statistics_pass", counting)
    names = [n for n in wb.list_detectors() if n.startswith("cl_")]
    wb.run_detectors(ds, names, progress=False)
    analysis_of(ds).matrices()
    analysis_of(ds).estimated_num_errors()
    assert len(calls) == 1
    # a new pred_probs array is a new dataset, with its own pass
    wb.run_detectors(ds.with_signals(pred_probs=ds.pred_probs.copy()), names[:1], progress=False)
    assert len(calls) == 2


def test_matrices_equal_the_public_functions():
    ds = probs_dataset(n=500, k=5)
    m = analysis_of(ds).matrices()
    k = ds.n_classes
    np.testing.assert_array_equal(
        m["confusion"], matrices.confusion_matrix(ds.labels, ds.pred_probs, k)
    )
    np.testing.assert_array_equal(
        m["estimated_transition"], matrices.estimate_transition_matrix(ds.labels, ds.pred_probs)
    )
    known = ds.true_labels >= 0
    np.testing.assert_array_equal(
        m["true_transition"],
        matrices.true_transition_matrix(ds.true_labels[known], ds.labels[known], k),
    )
    assert analysis_of(ds).estimated_num_errors() == matrices.estimate_num_errors(
        ds.labels, ds.pred_probs
    )


def test_without_pred_probs_or_truth_the_matrices_say_so():
    ds = Dataset(np.array([0, 1, 1, 0]), features=np.eye(4))
    a = analysis_of(ds)
    assert a.matrices() == {}
    assert a.estimated_num_errors() is None
    assert a.known_truth is None
    assert "true labels" in a.quality_reason
    with pytest.raises(ValueError, match="no pred_probs"):
        a.statistics()


def test_quality_reason_when_truth_cannot_measure_precision():
    y = np.array([0, 1, 0, 1])
    assert (
        "no known sample is mislabeled"
        in analysis_of(Dataset(y, features=np.eye(4), true_labels=y)).quality_reason
    )
    assert (
        "every known sample"
        in analysis_of(Dataset(y, features=np.eye(4), true_labels=1 - y)).quality_reason
    )
    partly = np.array([0, -1, 1, -1])  # unknown where -1
    a = analysis_of(Dataset(y, features=np.eye(4), true_labels=partly))
    np.testing.assert_array_equal(a.known_truth, [True, False, True, False])


def test_pr_curves_are_bounded_and_keep_their_ends():
    rng = np.random.default_rng(0)
    n = 20_000
    true = rng.integers(0, 3, n)
    given = np.where(rng.random(n) < 0.2, (true + 1) % 3, true)
    probs = rng.dirichlet(np.ones(3), n)
    ds = Dataset(given, pred_probs=probs, true_labels=true)
    scores = rng.random(n)
    a = analysis_of(ds)
    precision, recall = a.pr_curve("x", scores)
    full_p, full_r, *_ = pr_curve(scores, ds.is_noisy)
    assert len(full_p) > MAX_CURVE_POINTS >= len(precision)
    assert (precision[0], recall[0]) == (full_p[0], full_r[0])
    assert (precision[-1], recall[-1]) == (full_p[-1], full_r[-1])
    assert a.pr_curve("x", scores) is a.pr_curve("x", scores)  # computed once
    assert a.average_precision("x", scores) == pytest.approx(average_precision(scores, ds.is_noisy))
