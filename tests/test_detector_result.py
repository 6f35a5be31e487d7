"""DetectorResult: immutable arrays, a ranking sorted once and cached."""

import numpy as np
import pytest

from workbench.analysis.detectors import DetectorResult


def test_ranking_is_most_suspicious_first_and_stable_for_ties():
    r = DetectorResult("x", scores=[0.5, 0.9, 0.5, 0.9, 0.1], flags=np.zeros(5, bool))
    assert r.ranking().tolist() == [1, 3, 0, 2, 4]
    assert r.top_k(3).tolist() == [1, 3, 0]


def test_ranking_is_sorted_once_and_cached(monkeypatch):
    rng = np.random.default_rng(0)
    r = DetectorResult("x", scores=rng.random(1000), flags=np.zeros(1000, bool))
    calls = []
    real = np.argsort
    monkeypatch.setattr(np, "argsort", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    first = r.ranking()
    for _ in range(3):
        assert r.ranking() is first
        r.top_k(10)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, real(-r.scores, kind="stable"))


def test_arrays_are_read_only_copies():
    scores, flags, labels = np.array([0.2, 0.8, 0.5]), np.array([0, 1, 0], bool), np.arange(3)
    r = DetectorResult("x", scores=scores, flags=flags, suggested_labels=labels)
    for arr in (r.scores, r.flags, r.suggested_labels, r.ranking()):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1
    # the caller's arrays stay theirs: writable, and changing them leaves the result alone
    scores[:] = [0.9, 0.0, 0.0]
    flags[:] = True
    assert r.ranking().tolist() == [1, 2, 0] and r.n_flagged == 1
    with pytest.raises(AttributeError):
        r.scores = scores
