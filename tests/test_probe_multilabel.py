"""Sigmoid (BCE) probes for label sets: out-of-fold per-class probabilities, seeded, with
per-sample losses always and per-class margins within the memory budget."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.detectors import run_detectors
from workbench.compute.probe_multilabel import cross_val_sigmoid_probs
from workbench.core.dataset import Dataset


def data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    true = np.stack([x[:, 0] > 0.3, x[:, 1] + x[:, 2] > 0, x[:, 3] < -0.5], axis=1)
    return x, true


def test_learns_independent_classes_out_of_fold():
    x, true = data()
    res = cross_val_sigmoid_probs(x, true, seed=0, progress=False, epochs=20)
    p = res.pred_probs
    assert p.shape == (600, 3) and p.dtype == np.float32
    assert not np.allclose(p.sum(axis=1), 1)  # independent outputs
    assert ((p > 0.5) == true).mean(axis=0).min() > 0.85
    assert res.trajectories["loss"].shape == (600, 20)
    assert res.class_margins.shape == (600, 3, 20)
    assert np.all(res.record_model != res.fold_of)
    # the recorded model trains on the sample: its late margins mostly agree with the labels
    assert (res.class_margins[:, :, -1] > 0).mean() > 0.85
    assert res.params["head"] == "sigmoid"


def test_seeded_and_budgeted():
    x, true = data(n=300)
    a = cross_val_sigmoid_probs(x, true, seed=3, progress=False)
    b = cross_val_sigmoid_probs(x, true, seed=3, progress=False, class_budget=0)
    np.testing.assert_array_equal(a.pred_probs, b.pred_probs)
    np.testing.assert_array_equal(a.trajectories["loss"], b.trajectories["loss"])
    assert b.class_margins is None
    c = cross_val_sigmoid_probs(x, true, seed=4, progress=False, record=False)
    assert not c.trajectories and c.class_margins is None
    assert not np.array_equal(a.pred_probs, c.pred_probs)


def test_probe_feeds_a_multilabel_dataset():
    x, true = data()
    noisy = true.copy()
    noisy[:30, 0] = ~noisy[:30, 0]
    res = cross_val_sigmoid_probs(x, noisy, seed=0, progress=False, epochs=20)
    ds = Dataset(noisy, features=x, true_labels=true, **res.to_dataset_kwargs())
    assert ds.is_multilabel
    assert ds.trajectories["class_margin"].shape == (600, 3, 20)
    names = ["multilabel_confident_learning", "loss_mixture", "multilabel_aum"]
    results = run_detectors(ds, names, progress=False)
    flagged = results["multilabel_confident_learning"].flags
    assert flagged[:30].mean() > 0.5 and ds.is_noisy[flagged].mean() > 0.3
    aum = results["multilabel_aum"]
    assert aum.scores[:30].mean() > aum.scores[30:].mean()  # the flipped annotations stand out


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"model": "tree"}, "model must be one of"),
        ({"n_folds": 1}, "n_folds must be an integer >= 2"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_options(kwargs, match):
    x, true = data(n=50)
    with pytest.raises(ValueError, match=match):
        cross_val_sigmoid_probs(x, true, progress=False, **kwargs)


def test_bad_labels():
    x, _ = data(n=50)
    with pytest.raises(ValueError, match="3 samples|inconsistent|50"):
        cross_val_sigmoid_probs(x, [[0], [1], []], progress=False)
