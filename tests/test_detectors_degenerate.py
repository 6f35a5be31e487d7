"""Every registered detector on tiny and degenerate datasets: it runs, or it is reported
unavailable with a one-sentence reason; ``run_detectors`` never raises."""

import re
import warnings

import numpy as np
import pytest

import workbench.compute  # noqa: F401  (registers the detectors that train probes)
from workbench.analysis.detectors import (
    MissingSignalError,
    available_detectors,
    get_detector,
    list_detectors,
    run_detectors,
)
from workbench.core.dataset import Dataset


def _signals(labels, seed=0, *, onehot=False):
    """Every signal for ``labels`` (K = 2): two models' pred_probs, features, trajectories,
    annotators; ``onehot`` makes them as degenerate as they come."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    n, e = len(y), 4
    if onehot:
        p = np.eye(2)[y[::-1]]  # one-hot, half of them on the other class
        x = np.ones((n, 3))  # every sample at the same point
        given = np.zeros((n, e))
    else:
        p = rng.dirichlet(np.ones(2), n)
        x = rng.normal(size=(n, 3))
        given = rng.random((n, e))
    return dict(
        pred_probs={"a": p, "b": p[:, ::-1] if onehot else rng.dirichlet(np.ones(2), n)},
        features=x,
        trajectories={
            "loss": -np.log(np.clip(given, 1e-3, 1)),
            "margin": 2 * given - 1,
            "given_prob": given,
            "predicted": (given < 0.5).astype(int) ^ y[:, None],
        },
        annotators=np.c_[y, 1 - y, np.full(n, -1)],
        true_labels=y,
    )


SIX = np.array([0, 0, 0, 1, 1, 1])
SINGLETON = np.array([0, 0, 0, 0, 0, 1])
DATASETS = {
    "n6_every_signal": lambda: Dataset(SIX, **_signals(SIX)),
    "class_of_one": lambda: Dataset(SINGLETON, **_signals(SINGLETON)),
    "one_hot_and_constant": lambda: Dataset(SINGLETON, **_signals(SINGLETON, onehot=True)),
    "n2": lambda: Dataset([0, 1], **_signals([0, 1])),
    "features_only": lambda: Dataset(SIX, features=_signals(SIX)["features"]),
    "features_only_class_of_one": lambda: Dataset(
        SINGLETON, features=_signals(SINGLETON)["features"]
    ),
    "pred_probs_only": lambda: Dataset(SIX, pred_probs=_signals(SIX)["pred_probs"]["a"]),
    "pred_probs_only_class_of_one": lambda: Dataset(
        SINGLETON, pred_probs=_signals(SINGLETON)["pred_probs"]["a"]
    ),
    "annotators_all_missing": lambda: Dataset(
        SIX, annotators=np.full((6, 3), -1), class_names=["a", "b"]
    ),
}


def _one_sentence(text) -> bool:
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip())
    return isinstance(text, str) and text.strip().endswith(".") and len(sentences) == 1


@pytest.mark.parametrize("name", list_detectors())
@pytest.mark.parametrize("case", list(DATASETS))
def test_detector_runs_or_says_why_not(case, name):
    ds = DATASETS[case]()
    why = available_detectors(ds)[name]
    det = get_detector(name)
    if why is not None:
        assert _one_sentence(why), why
        with pytest.raises(MissingSignalError, match=re.escape(why)):
            det.score(ds, progress=False)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0/0 on the way
        res = det.score(ds, progress=False)
    assert res.scores.shape == res.flags.shape == (ds.n_samples,)
    assert np.isfinite(res.scores).all()


@pytest.mark.parametrize("case", list(DATASETS))
def test_run_detectors_never_raises_and_runs_exactly_the_available(case):
    ds = DATASETS[case]()
    why = available_detectors(ds)
    results = run_detectors(ds, progress=False)
    assert sorted(results) == sorted(n for n, w in why.items() if w is None)
    assert all(_one_sentence(w) for w in why.values() if w is not None)


def test_the_cases_reach_the_limits_they_are_meant_to():
    # recov needs n_folds samples per class; the kNN detectors more samples than neighbours
    for case in DATASETS:
        why = available_detectors(DATASETS[case]())
        if case.startswith(("n6", "class_of_one", "features_only", "one_hot", "n2")):
            assert "n_folds=5" in why["recov"] and "k=10" in why["knn_disagreement"]
        else:
            assert "features" in why["recov"]
    assert available_detectors(DATASETS["n6_every_signal"]())["ensemble"] is None
