"""SimiFeat: finds injected label errors on the digits demo better than one kNN vote, the rank
rule flags about as many as HOC estimates, repeats are seeded."""

import numpy as np
import pytest

from workbench.analysis.detectors import available_detectors, get_detector
from workbench.analysis.detectors.simifeat import _rank_flags
from workbench.analysis.metrics import average_precision
from workbench.core.dataset import Dataset
from workbench.noise.datasets import load_demo


@pytest.fixture(scope="module")
def demo():
    return load_demo("symmetric", rate=0.2, seed=0)


@pytest.mark.parametrize("method", ["vote", "rank"])
def test_finds_injected_errors_on_the_demo(demo, method):
    res = get_detector("simifeat", method=method, n_repeats=7).score(demo, progress=False)
    noisy = demo.is_noisy
    knn = get_detector("knn_disagreement").score(demo, progress=False)
    assert average_precision(res.scores, noisy) > average_precision(knn.scores, noisy)
    assert noisy[res.flags].mean() > 0.9 and res.flags[noisy].mean() > 0.85
    # the suggestion is the true label for most flagged errors
    hit = res.suggested_labels[res.flags & noisy] == demo.true_labels[res.flags & noisy]
    assert hit.mean() > 0.9
    share = res.details["flag_share"]
    np.testing.assert_array_equal(res.flags, share > 0.5)
    # the score orders by the number of repeats flagging first
    assert res.scores[res.flags].min() > res.scores[~res.flags].max()
    if method == "rank":  # about as many flagged as HOC estimates are wrong
        estimated = (res.details["noisy_share"] * np.bincount(demo.labels)).sum()
        assert abs(res.flags.sum() - estimated) < 0.15 * estimated
        assert abs(estimated - noisy.sum()) < 0.15 * noisy.sum()


def test_seeded_and_the_seed_matters(demo):
    a = get_detector("simifeat", method="vote", n_repeats=3, seed=1).score(demo, progress=False)
    b = get_detector("simifeat", method="vote", n_repeats=3, seed=1).score(demo, progress=False)
    c = get_detector("simifeat", method="vote", n_repeats=3, seed=2).score(demo, progress=False)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)
    # all features every time: the repeats agree and any seed gives the same result
    d = get_detector("simifeat", method="vote", n_repeats=3, feature_fraction=1.0, seed=3)
    e = get_detector("simifeat", method="vote", n_repeats=3, feature_fraction=1.0, seed=4)
    np.testing.assert_array_equal(
        d.score(demo, progress=False).scores, e.score(demo, progress=False).scores
    )
    assert set(np.unique(d.score(demo, progress=False).details["flag_share"])) <= {0.0, 1.0}


def test_rank_flags_the_lowest_agreement_per_class():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    agreement = np.array([0.5, 0.1, 0.9, 0.2, 0.2, 0.0, 1.0])
    flags = _rank_flags(labels, agreement, np.array([1, 2]))
    np.testing.assert_array_equal(np.flatnonzero(flags), [1, 3, 5])  # tie 0.2: lower index


def test_unavailable_with_too_few_samples_or_no_features():
    assert "k=10" in available_detectors(Dataset([0, 1] * 5, features=np.eye(10)))["simifeat"]
    assert "features" in available_detectors(Dataset([0, 1, 0]))["simifeat"]


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"method": "hoc"}, ValueError, "method"),
        ({"feature_fraction": 0.0}, ValueError, "feature_fraction"),
        ({"feature_fraction": 1.5}, ValueError, "feature_fraction"),
        ({"n_repeats": 0}, ValueError, "n_repeats"),
        ({"k": 1}, ValueError, "k must be at least 2"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_parameters(params, error, match):
    rng = np.random.default_rng(0)
    ds = Dataset(rng.integers(0, 2, 30), features=rng.normal(size=(30, 4)))
    with pytest.raises(error, match=match):
        get_detector("simifeat", **params).score(ds, progress=False)
