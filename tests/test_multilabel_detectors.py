"""Detectors on multi-label datasets: availability by task, parity of the pred_probs ones with
cleanlab, hand-checked kNN and annotator votes, and every detector on degenerate label sets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification import rank as cl_rank

from workbench.analysis import multilabel as ml
from workbench.analysis.detectors import available_detectors, get_detector, run_detectors
from workbench.analysis.detectors.annotators import dawid_skene
from workbench.core.dataset import Dataset

MULTI = [
    "multilabel_annotator_agreement",
    "multilabel_confident_learning",
    "multilabel_dawid_skene",
    "multilabel_knn_disagreement",
    "multilabel_label_quality",
]


def make(n=500, k=5, seed=0, flip=0.05, n_annotators=3):
    rng = np.random.default_rng(seed)
    true = rng.random((n, k)) < rng.uniform(0.15, 0.5, k)
    given = true ^ (rng.random((n, k)) < flip)
    probs = 1 / (1 + np.exp(-(np.where(true, 2.0, -2.0) + rng.normal(0, 1.0, (n, k)))))
    features = true.astype(float) + rng.normal(0, 0.35, (n, k))
    votes = np.stack([true ^ (rng.random((n, k)) < 0.1) for _ in range(n_annotators)], axis=1)
    votes = votes.astype(np.int8)
    votes[::9, 0, :] = -1  # annotator 0 skipped some samples
    return Dataset(given, pred_probs=probs, features=features, annotators=votes, true_labels=true)


DS = make()


def test_detectors_say_which_task_they_work_on():
    av = available_detectors(DS)
    for name in MULTI:
        assert av[name] is None, (name, av[name])
    assert av["loss_mixture"] is not None  # no trajectories here: missing signal, not the task
    single = [
        n for n, why in av.items() if n not in MULTI and n not in ("loss_mixture", "multilabel_aum")
    ]
    assert single and all("multi-label" in av[n] for n in single)
    flat = Dataset(
        np.arange(40) % 2,
        pred_probs=np.full((40, 2), 0.5),
        features=np.zeros((40, 3)) + np.arange(40)[:, None],
    )
    av = available_detectors(flat)
    assert all("label sets" in av[n] for n in MULTI)


def test_confident_learning_is_cleanlabs_mask_with_toggled_suggestions():
    result = get_detector("multilabel_confident_learning").score(DS, progress=False)
    labels = [np.flatnonzero(r).tolist() for r in DS.labels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cl_filter.find_label_issues(labels, DS.pred_probs, n_jobs=1)
        per_class = cl_filter.find_multilabel_issues_per_class(labels, DS.pred_probs, n_jobs=1)
    np.testing.assert_array_equal(result.flags, ref)
    np.testing.assert_array_equal(result.scores >= 1, ref)
    np.testing.assert_array_equal(result.details["per_class_flags"], per_class)
    np.testing.assert_array_equal(result.suggested_labels, DS.labels ^ per_class)
    assert DS.is_noisy[result.flags].mean() > 0.6  # mostly real errors on this data
    frame = result.to_frame()
    assert frame["suggested_label"].iloc[0] == np.flatnonzero(result.suggested_labels[0]).tolist()


@pytest.mark.parametrize("filter_by", ["both", "confident_learning", "low_self_confidence"])
def test_confident_learning_rules(filter_by):
    result = get_detector("multilabel_confident_learning", filter_by=filter_by).score(
        DS, progress=False
    )
    np.testing.assert_array_equal(
        result.flags, ml.find_label_issues(DS.labels, DS.pred_probs, filter_by=filter_by)
    )


def test_confident_learning_low_memory_is_cleanlabs_low_memory_mask():
    result = get_detector("multilabel_confident_learning", low_memory=True).score(
        DS, progress=False
    )
    labels = [np.flatnonzero(r).tolist() for r in DS.labels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cl_filter.find_label_issues(labels, DS.pred_probs, low_memory=True)
        per_class = cl_filter.find_multilabel_issues_per_class(
            labels, DS.pred_probs, low_memory=True
        )
    np.testing.assert_array_equal(result.flags, ref)
    np.testing.assert_array_equal(result.details["per_class_flags"], per_class)
    np.testing.assert_array_equal(result.suggested_labels, DS.labels ^ per_class)
    assert result.params["low_memory"] is True
    with pytest.raises(ValueError, match="low_memory=True .*filter_by"):
        get_detector("multilabel_confident_learning", low_memory=True, filter_by="both").score(
            DS, progress=False
        )


@pytest.mark.parametrize("method", ["self_confidence", "normalized_margin"])
def test_label_quality_is_one_minus_cleanlabs(method):
    result = get_detector("multilabel_label_quality", method=method).score(DS, progress=False)
    labels = [np.flatnonzero(r).tolist() for r in DS.labels]
    ref = cl_rank.get_label_quality_scores(labels, DS.pred_probs.astype(np.float64), method=method)
    np.testing.assert_allclose(1 - result.scores, ref, atol=1e-7)  # float32 pred_probs
    n_errors = result.details["estimated_num_errors"]
    assert result.n_flagged == n_errors > 0
    assert result.scores[result.flags].min() >= result.scores[~result.flags].max()
    np.testing.assert_array_equal(result.suggested_labels, DS.pred_probs > 0.5)
    thresholded = get_detector("multilabel_label_quality", threshold=0.5).score(DS, progress=False)
    np.testing.assert_array_equal(thresholded.flags, thresholded.scores >= 0.5)


def test_knn_votes_by_hand():
    # two tight groups on a line; sample 2 is in the first group but carries the second's set
    features = np.array([[0.0], [0.1], [0.2], [0.3], [10.0], [10.1], [10.2], [10.3]])
    labels = [[0], [0], [1], [0], [1], [1], [1], [1, 2]]
    ds = Dataset(labels, features=features, class_names=["a", "b", "c"])
    result = get_detector("multilabel_knn_disagreement", k=3, metric="euclidean").score(
        ds, progress=False
    )
    share = result.details["neighbour_share"]
    np.testing.assert_allclose(share[2], [1.0, 0.0, 0.0])  # its neighbours 0, 1, 3 all say {a}
    np.testing.assert_allclose(share[7], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.flatnonzero(result.flags), [2, 7])
    np.testing.assert_array_equal(result.suggested_labels[2], [1, 0, 0])
    np.testing.assert_array_equal(result.suggested_labels[7], [0, 1, 0])
    assert result.scores.argmax() == 2  # two classes wrong
    # sample 0: neighbours 1, 2, 3 -> agreement (2/3, 2/3, 1), EMA from the best: 0.68
    assert result.scores[0] == pytest.approx(1 - (0.8 * 2 / 3 + 0.2 * (0.8 * 2 / 3 + 0.2)))


def test_annotator_majority_by_hand():
    votes = np.array(
        [
            [[1, 0], [1, 0], [0, 0]],  # majority {0}: given {0} agrees
            [[0, 1], [0, 1], [1, 1]],  # majority {1}; given {0, 1}: class 0 wrong
            [[-1, -1], [-1, -1], [-1, -1]],  # nobody labelled
            [[1, 0], [0, 1], [-1, -1]],  # ties: keep the given set
        ]
    )
    ds = Dataset([[0], [0, 1], [1], [1]], annotators=votes)
    result = get_detector("multilabel_annotator_agreement").score(ds, progress=False)
    np.testing.assert_array_equal(result.flags, [False, True, False, False])
    np.testing.assert_array_equal(result.suggested_labels, [[1, 0], [0, 1], [0, 1], [0, 1]])
    np.testing.assert_allclose(result.details["vote_share"][1], [1 / 3, 1.0])
    assert result.scores[2] == 0.0 and result.scores[1] > result.scores[0]


def test_dawid_skene_is_per_class_binary_dawid_skene():
    result = get_detector("multilabel_dawid_skene").score(DS, progress=False)
    for c in (0, 3):
        fit = dawid_skene(DS.annotators[:, :, c].astype(np.int64), 2)
        np.testing.assert_allclose(result.details["posterior"][:, c], fit.posterior[:, 1])
    truth = DS.true_labels == 1
    consensus = result.suggested_labels == 1
    assert (consensus == truth).mean() > (DS.annotators[:, 1] == DS.true_labels).mean()
    assert DS.is_noisy[result.flags].mean() > 0.3


def _degenerate():
    rng = np.random.default_rng(3)
    n, k = 60, 3
    feats = rng.normal(size=(n, 4))
    yield "no labels anywhere", np.zeros((n, k), bool), rng.random((n, k)), feats
    yield "every label everywhere", np.ones((n, k), bool), rng.random((n, k)), feats
    one = rng.random((n, 1)) < 0.4
    yield "one class", one, np.clip(one * 0.6 + rng.random((n, 1)) * 0.5, 0, 1), feats
    big = rng.random((2000, 1000)) < 0.004
    yield (
        "K=1000, N=2000",
        big,
        np.clip(big * 0.7 + rng.random(big.shape) * 0.35, 0, 1),
        rng.normal(size=(2000, 8)),
    )


@pytest.mark.parametrize("case", list(_degenerate()), ids=lambda c: c[0])
def test_every_detector_on_degenerate_label_sets(case):
    _, Y, probs, features = case
    n, k = Y.shape
    votes = np.stack([Y, Y, ~Y], axis=1).astype(np.int8)
    rng = np.random.default_rng(0)
    trajectories = {"loss": rng.random((n, 3)), "class_margin": rng.normal(size=(n, k, 3))}
    ds = Dataset(Y.astype(int), pred_probs=probs, features=features, annotators=votes,
                 trajectories=trajectories, task="multilabel")  # fmt: skip
    assert ds.n_classes == k
    results = run_detectors(ds, progress=False)  # every detector that works on label sets
    assert set(results) == {*MULTI, "multilabel_aum", "loss_mixture"}
    for name, result in results.items():
        assert result.scores.shape == (n,) and np.isfinite(result.scores).all(), name
        if name != "loss_mixture":  # no suggestion from a loss
            assert result.suggested_labels.shape == (n, k), name
    if Y.all() or not Y.any():  # nothing can be counted off a diagonal
        assert not results["multilabel_confident_learning"].flags.any()
    # every annotator's majority agrees with the given sets (two of three copy them)
    assert not results["multilabel_annotator_agreement"].flags.any()


def test_metrics_per_sample_and_per_annotation_by_hand():
    from workbench.analysis.detectors.base import DetectorResult
    from workbench.analysis.multilabel.metrics import multilabel_evaluate, multilabel_pr_curves

    given = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], bool)
    true = np.array([[1, 0], [1, 1], [1, 0], [-1, -1]])  # sample 3 unknown
    per_class = np.array([[0.1, 0.2], [0.9, 0.1], [0.2, 0.3], [0.9, 0.9]])
    flags = np.array([[False, False], [True, False], [False, True], [True, True]])
    res = DetectorResult("d", per_class.max(axis=1), flags.any(axis=1),
                         details={"per_class_scores": per_class, "per_class_flags": flags})  # fmt: skip
    table = multilabel_evaluate({"d": res}, given, true).set_index("level")
    sample, note = table.loc["sample"], table.loc["annotation"]
    assert (sample["n"], sample["n_noisy"], sample["n_flagged"]) == (3, 2, 2)
    assert sample["precision"] == 1.0 and sample["recall"] == 1.0
    assert (note["n"], note["n_noisy"], note["n_flagged"]) == (6, 2, 2)
    assert note["precision"] == 1.0 and note["ap"] == 1.0
    curves = multilabel_pr_curves({"d": res}, given, true, level="annotation")
    assert curves["d"][0][-1] == 1.0


def test_per_class_aum_by_hand():
    labels = [[0], [0, 1], []]
    margins = np.zeros((3, 2, 4), np.float32)
    margins[0] = [[2, 2, 2, 2], [1, 1, 1, 1]]  # agrees with both annotations
    margins[1] = [[1, 1, 1, 1], [-3, -1, 1, -1]]  # class 1 given, mean margin -1: disagreed
    margins[2] = [[0.5, 0.5, 0.5, 0.5], [-2, 2, -2, 2]]  # AUM 0 on class 1: not below 0
    ds = Dataset(labels, trajectories={"class_margin": margins}, class_names=["a", "b"])
    assert ds.has("trajectories.class_margin")
    result = get_detector("multilabel_aum").score(ds, progress=False)
    np.testing.assert_allclose(result.details["aum"], [[2, 1], [1, -1], [0.5, 0]])
    np.testing.assert_array_equal(result.flags, [False, True, False])
    np.testing.assert_array_equal(result.suggested_labels, [[1, 0], [1, 0], [0, 0]])
    assert result.scores.argmax() == 1
    np.testing.assert_allclose(result.details["per_class_scores"][1, 1], 1 / (1 + np.exp(-1)))


def test_class_margins_belong_to_multilabel_data():
    with pytest.raises(ValueError, match=r"shape \(N=3, K=2, E>=1\)"):
        Dataset([[0], [1], []], trajectories={"class_margin": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="unknown kind 'class_margin'"):
        Dataset([0, 1, 1], trajectories={"class_margin": np.zeros((3, 2, 4))})
