"""Multi-label engine: parity with cleanlab 2.9's multilabel_classification for every option
(masks, rankings, confident joints, scores, tables), input forms and degenerate data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from cleanlab.count import compute_confident_joint
from cleanlab.multilabel_classification import dataset as cl_dataset
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification import rank as cl_rank

from workbench.analysis import multilabel as ml
from workbench.analysis.multilabel.rank import make_pool, quality_pass
from workbench.analysis.multilabel.statistics import check_inputs


def make(n=600, k=6, seed=0, flip=0.06, dtype=np.float64, decimals=None):
    """Label sets with flipped annotations and sigmoid pred_probs; ``decimals`` rounds the
    probabilities so that ties reach the prune cuts."""
    rng = np.random.default_rng(seed)
    true = rng.random((n, k)) < rng.uniform(0.1, 0.5, k)
    given = true ^ (rng.random((n, k)) < flip)
    probs = 1 / (1 + np.exp(-(np.where(true, 1.8, -1.8) + rng.normal(0, 1.3, (n, k)))))
    if decimals is not None:
        probs = probs.round(decimals)
    labels = [np.flatnonzero(r).tolist() for r in given]
    return labels, given, probs.astype(dtype)


def cl(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


DATA = {
    "f64": make(),
    "f32": make(seed=1, dtype=np.float32),
    "ties": make(n=800, seed=2, decimals=1),
    "ties32": make(n=500, k=4, seed=3, decimals=2, dtype=np.float32),
}


# --- masks ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("filter_by", ml.FILTERS)
def test_find_label_issues_same_mask_as_cleanlab(data, filter_by):
    labels, given, probs = DATA[data]
    ref = cl(cl_filter.find_label_issues, labels, probs, filter_by=filter_by, n_jobs=1)
    ours = ml.find_label_issues(labels, probs, filter_by=filter_by)
    assert ours.dtype == bool
    np.testing.assert_array_equal(ours, ref)
    # the label matrix gives the same as the lists
    np.testing.assert_array_equal(ml.find_label_issues(given, probs, filter_by=filter_by), ref)


@pytest.mark.parametrize("data", ["f64", "ties", "ties32"])
@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
@pytest.mark.parametrize(
    "options",
    [
        {"frac_noise": 0.5},
        {"frac_noise": 0.1, "min_examples_per_class": 0},
        {"min_examples_per_class": 150},
        {"min_examples_per_class": 10_000},
        {"num_to_remove_per_class": [3, 0, 7, 1, 20, 2]},
    ],
)
def test_prune_options_same_mask(data, filter_by, options):
    labels, _, probs = DATA[data]
    k = probs.shape[1]
    if "num_to_remove_per_class" in options:
        options = {"num_to_remove_per_class": options["num_to_remove_per_class"][:k]}
    ref = cl(cl_filter.find_label_issues, labels, probs, filter_by=filter_by, n_jobs=1, **options)
    np.testing.assert_array_equal(
        ml.find_label_issues(labels, probs, filter_by=filter_by, **options), ref
    )


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("calibrate", [True, False])
def test_confident_joint_same_as_cleanlab(data, calibrate):
    labels, _, probs = DATA[data]
    ref = cl(compute_confident_joint, labels, probs, multi_label=True, calibrate=calibrate)
    np.testing.assert_array_equal(ml.confident_joint(labels, probs, calibrate=calibrate), ref)


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
def test_given_confident_joint_is_used_as_cleanlab_does(filter_by):
    labels, _, probs = DATA["f64"]
    other_labels, _, other_probs = make(seed=9)
    joint = ml.confident_joint(other_labels, other_probs)  # a joint that is not the data's own
    ref = cl(
        cl_filter.find_label_issues,
        labels,
        probs,
        filter_by=filter_by,
        confident_joint=joint,
        n_jobs=1,
    )
    ours = ml.find_label_issues(labels, probs, filter_by=filter_by, confident_joint=joint)
    np.testing.assert_array_equal(ours, ref)
    assert not np.array_equal(ours, ml.find_label_issues(labels, probs, filter_by=filter_by))


@pytest.mark.parametrize("data", ["f64", "ties", "f32"])
@pytest.mark.parametrize(
    "filter_by", ["prune_by_noise_rate", "both", "confident_learning", "predicted_neq_given"]
)
@pytest.mark.parametrize(
    "ranked_by,kwargs",
    [
        ("self_confidence", {}),
        ("normalized_margin", {}),
        ("confidence_weighted_entropy", {}),
        ("self_confidence", {"adjust_pred_probs": True}),
        ("normalized_margin", {"adjust_pred_probs": True}),
    ],
)
def test_ranked_indices_same_as_cleanlab(data, filter_by, ranked_by, kwargs):
    labels, _, probs = DATA[data]
    ref = cl(
        cl_filter.find_label_issues, labels, probs, filter_by=filter_by, n_jobs=1,
        return_indices_ranked_by=ranked_by, rank_by_kwargs=kwargs,
    )  # fmt: skip
    ours = ml.find_label_issues(
        labels,
        probs,
        filter_by=filter_by,
        return_indices_ranked_by=ranked_by,
        rank_by_kwargs=kwargs,
    )
    if ranked_by == "confidence_weighted_entropy" and ((probs == 0) | (probs == 1)).any():
        # one-hot rows: our entropy quality takes the limits (see the test below), cleanlab clips
        assert sorted(ours.tolist()) == sorted(ref.tolist())
        return
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("filter_by", ["low_normalized_margin", "low_self_confidence"])
def test_low_rules_ranked_hold_cleanlabs_indices_ordered_by_quality(filter_by):
    """cleanlab orders these by scores of the flagged subset mismatched with the indices; we
    order by each index's own pooled quality: same set, our order is monotone."""
    labels, _, probs = DATA["f64"]
    ref = cl(
        cl_filter.find_label_issues, labels, probs, filter_by=filter_by,
        return_indices_ranked_by="normalized_margin",
    )  # fmt: skip
    ours = ml.find_label_issues(
        labels, probs, filter_by=filter_by, return_indices_ranked_by="normalized_margin"
    )
    assert sorted(ours.tolist()) == sorted(ref.tolist())
    Y, P = check_inputs(labels, probs)
    quality = quality_pass(
        Y, P, method="normalized_margin", pool=make_pool("exponential_moving_average", 0.8, None)
    )
    assert np.all(np.diff(quality[ours]) >= 0)


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("filter_by", ml.FILTERS)
def test_per_class_masks_same_as_cleanlab(data, filter_by):
    labels, _, probs = DATA[data]
    ref = cl(
        cl_filter.find_multilabel_issues_per_class, labels, probs, filter_by=filter_by, n_jobs=1
    )
    np.testing.assert_array_equal(
        ml.find_label_issues_per_class(labels, probs, filter_by=filter_by), ref
    )


@pytest.mark.parametrize("ranked_by", ["self_confidence", "normalized_margin"])
def test_per_class_ranked_lists_same_as_cleanlab(ranked_by):
    labels, _, probs = DATA["ties"]
    ref, _, _ = cl(
        cl_filter.find_multilabel_issues_per_class,
        labels,
        probs,
        return_indices_ranked_by=ranked_by,
        n_jobs=1,
    )
    ours = ml.find_label_issues_per_class(labels, probs, return_indices_ranked_by=ranked_by)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(a, b)


# --- low_memory ------------------------------------------------------------------------------------
# more rows than one batch of cleanlab's threshold pass (10,000), so the batched averages count
LOW_MEMORY_DATA = {
    "f64": DATA["f64"],
    "f32": DATA["f32"],
    "ties": DATA["ties"],
    "ties32": DATA["ties32"],
    "batches": make(n=23_000, k=4, seed=4),
    "batches32": make(n=21_000, k=3, seed=5, dtype=np.float32, decimals=2),
    "rare": make(n=12_000, k=3, seed=6, flip=0.0005),
}
RANKINGS = [None, "self_confidence", "normalized_margin", "confidence_weighted_entropy"]


def _one_hot_rows(probs) -> bool:
    return bool(((probs == 0) | (probs == 1)).any())


@pytest.mark.parametrize("data", sorted(LOW_MEMORY_DATA))
@pytest.mark.parametrize("ranked_by", RANKINGS)
def test_low_memory_same_as_cleanlab(data, ranked_by):
    labels, given, probs = LOW_MEMORY_DATA[data]
    if ranked_by == "confidence_weighted_entropy" and _one_hot_rows(probs):
        pytest.skip("our entropy quality takes the limits on 0/1 probabilities, cleanlab clips")
    ref = cl(
        cl_filter.find_label_issues, labels, probs, low_memory=True,
        return_indices_ranked_by=ranked_by,
    )  # fmt: skip
    ours = ml.find_label_issues(labels, probs, low_memory=True, return_indices_ranked_by=ranked_by)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(
        ml.find_label_issues(given, probs, low_memory=True, return_indices_ranked_by=ranked_by),
        ref,
    )
    # per class: cleanlab's masks; its ranked lists in index order, ours ordered by quality
    ref_pc = cl(
        cl_filter.find_multilabel_issues_per_class, labels, probs, low_memory=True,
        return_indices_ranked_by=ranked_by,
    )  # fmt: skip
    ours_pc = ml.find_label_issues_per_class(
        labels, probs, low_memory=True, return_indices_ranked_by=ranked_by
    )
    if ranked_by is None:
        np.testing.assert_array_equal(ours_pc, ref_pc)
        return
    Y, P = check_inputs(labels, probs)
    quality = quality_pass(Y, P, method=ranked_by)
    for c, (a, b) in enumerate(zip(ours_pc, ref_pc[0], strict=True)):
        np.testing.assert_array_equal(np.sort(a), b)
        assert np.all(np.diff(quality[a, c]) >= 0)


def test_low_memory_is_its_own_rule():
    """Batched thresholds and the lowest-quality rule: not the default masks on this data."""
    labels, _, probs = LOW_MEMORY_DATA["batches"]
    low = ml.find_label_issues(labels, probs, low_memory=True)
    assert low.any()
    assert not np.array_equal(low, ml.find_label_issues(labels, probs))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter_by": "both"},
        {"frac_noise": 0.5},
        {"num_to_remove_per_class": [1, 1, 1, 1, 1, 1]},
        {"min_examples_per_class": 3},
        {"confident_joint": np.ones((6, 2, 2), int)},
    ],
)
def test_low_memory_refuses_the_options_it_does_not_use(kwargs):
    labels, _, probs = DATA["f64"]
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"low_memory=True .*{name}"):
        ml.find_label_issues(labels, probs, low_memory=True, **kwargs)
    with pytest.raises(ValueError, match=f"low_memory=True .*{name}"):
        ml.find_label_issues_per_class(labels, probs, low_memory=True, **kwargs)
    with pytest.raises(TypeError, match="low_memory must be True or False, found 'yes'"):
        ml.find_label_issues(labels, probs, low_memory="yes")


# --- scores --------------------------------------------------------------------------------------
POOLINGS = [
    ({"method": "exponential_moving_average", "alpha": 0.8}, {}),
    ({"method": "exponential_moving_average", "alpha": 0.3}, {"alpha": 0.3}),
    ({"method": "exponential_moving_average", "alpha": None}, {"alpha": None}),
    ({"method": "softmin", "temperature": 0.1}, {"pooling": "softmin"}),
    ({"method": "softmin", "temperature": 2.0}, {"pooling": "softmin", "temperature": 2.0}),
    ({"method": np.min}, {"pooling": np.min}),
]


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize(
    "method,adjust",
    [
        ("self_confidence", False),
        ("normalized_margin", False),
        ("confidence_weighted_entropy", False),
        ("self_confidence", True),
        ("normalized_margin", True),
    ],
)
@pytest.mark.parametrize("pooling", range(len(POOLINGS)))
def test_label_quality_scores_same_as_cleanlab(data, method, adjust, pooling):
    labels, given, probs = DATA[data]
    aggregator, ours_kwargs = POOLINGS[pooling]
    ref = cl(
        cl_rank.get_label_quality_scores, labels, probs, method=method,
        adjust_pred_probs=adjust, aggregator_kwargs=aggregator,
    )  # fmt: skip
    noise = ml.label_noise_scores(
        labels, probs, method=method, adjust_pred_probs=adjust, **ours_kwargs
    )
    rows = _regular_rows(probs, method)
    np.testing.assert_allclose(1.0 - noise[rows], ref[rows], rtol=0, atol=1e-12)
    # the private twin is cleanlab's arithmetic, bit for bit
    Y, P = check_inputs(given, probs)
    pool = make_pool(ours_kwargs.get("pooling", "exponential_moving_average"),
                     ours_kwargs.get("alpha", 0.8), ours_kwargs.get("temperature", 0.1))  # fmt: skip
    quality = quality_pass(Y, P, method=method, adjust_pred_probs=adjust, pool=pool)
    np.testing.assert_array_equal(quality[rows], ref[rows])


def _regular_rows(probs, method):
    """Rows without a (near) one-hot class, where the entropy quality is cleanlab's formula."""
    if method != "confidence_weighted_entropy":
        return np.ones(len(probs), bool)
    return ((probs > 1e-6) & (probs < 1 - 1e-6)).all(axis=1)


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("method", ml.METHODS)
def test_per_class_scores_same_as_cleanlab(data, method):
    labels, _, probs = DATA[data]
    ref = np.asarray(cl(cl_rank.get_label_quality_scores_per_class, labels, probs, method=method))
    ours = ml.per_class_noise_scores(labels, probs, method=method)
    assert ours.shape == probs.shape
    rows = _regular_rows(probs, method)
    np.testing.assert_allclose(1.0 - ours[rows], ref[rows], rtol=0, atol=1e-12)


def test_entropy_scores_take_limits_on_degenerate_rows():
    """cleanlab scores a one-hot prediction that agrees with the annotation as the most
    suspicious (clipping); ours gives it noise 0 and a one-hot disagreement noise 1."""
    labels = [[0], [1], [0]]
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.7, 0.2]])
    noise = ml.per_class_noise_scores(labels, probs, method="confidence_weighted_entropy")
    assert noise[0, 0] == 0.0 and noise[0, 1] == 0.0
    assert noise[1, 0] == 1.0 and noise[1, 1] == 1.0
    ref = np.asarray(
        cl(
            cl_rank.get_label_quality_scores_per_class,
            labels,
            probs,
            method="confidence_weighted_entropy",
        )
    )
    np.testing.assert_allclose(1 - noise[2], ref[2], atol=1e-12)


def test_pool_qualities_matches_scores():
    labels, given, probs = DATA["f64"]
    per_class = 1 - ml.per_class_noise_scores(labels, probs)
    np.testing.assert_allclose(
        1 - ml.pool_qualities(per_class), ml.label_noise_scores(labels, probs), atol=1e-15
    )


# --- tables --------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", ["f64", "ties"])
@pytest.mark.parametrize("names", [None, ["a", "b", "c", "d", "e", "f"]])
def test_tables_same_as_cleanlab(data, names):
    labels, _, probs = DATA[data]
    ref = cl(cl_dataset.common_multilabel_issues, labels, probs, class_names=names)
    ours = ml.common_multilabel_issues(labels, probs, class_names=names)
    pd.testing.assert_frame_equal(ours, ref, check_dtype=False)
    ref = cl(cl_dataset.rank_classes_by_multilabel_quality, labels, probs, class_names=names)
    ours = ml.rank_classes_by_multilabel_quality(labels, probs, class_names=names)
    pd.testing.assert_frame_equal(ours, ref, check_dtype=False)
    ref = cl(cl_dataset.overall_multilabel_health_score, labels, probs)
    assert ml.overall_multilabel_health_score(labels, probs) == pytest.approx(ref, abs=0)


def test_tables_with_a_given_joint():
    labels, _, probs = DATA["f64"]
    joint = ml.confident_joint(*make(seed=5)[::2])
    ref = cl(cl_dataset.common_multilabel_issues, labels, probs, confident_joint=joint)
    pd.testing.assert_frame_equal(
        ml.common_multilabel_issues(labels, probs, confident_joint=joint), ref, check_dtype=False
    )
    ref = cl(cl_dataset.rank_classes_by_multilabel_quality, labels, probs, joint=joint)
    pd.testing.assert_frame_equal(
        ml.rank_classes_by_multilabel_quality(labels, probs, joint=joint), ref, check_dtype=False
    )


# --- inputs --------------------------------------------------------------------------------------
def test_label_forms_agree():
    labels, given, probs = DATA["f64"]
    names = list("abcdef")
    as_names = [[names[j] for j in row] for row in labels]
    as_strings = pd.Series(["|".join(row) for row in as_names])
    ref = ml.find_label_issues(labels, probs)
    for form in (given, given.astype(np.uint8), given.astype(float), pd.DataFrame(given.astype(int)),
                 [tuple(r) for r in labels], [set(r) for r in labels], pd.Series(labels)):  # fmt: skip
        np.testing.assert_array_equal(ml.find_label_issues(form, probs), ref)
    from workbench.core.label_sets import check_label_sets

    for form in (as_names, as_strings):
        Y, found = check_label_sets(form, class_names=names)
        np.testing.assert_array_equal(Y, given)
        np.testing.assert_array_equal(ml.find_label_issues(Y, probs), ref)


@pytest.mark.parametrize(
    "labels,probs,error,match",
    [
        ([[0], [3]], np.full((2, 3), 0.5), ValueError, "class index 3, outside 0..2"),
        ([[0], [-1]], np.full((2, 3), 0.5), ValueError, "class index -1"),
        ([[0], [1.5]], np.full((2, 3), 0.5), ValueError, "whole numbers"),
        ([[0], [True]], np.full((2, 3), 0.5), TypeError, "class indices"),
        ([[0], 1], np.full((2, 3), 0.5), TypeError, r"labels\[1\] must be a label set"),
        (np.array([[0, 2, 0], [1, 0, 0]]), np.full((2, 3), 0.5), ValueError, "only 0 and 1"),
        (np.zeros((2, 4)), np.full((2, 3), 0.5), ValueError, "4 columns but there are 3"),
        ([[0], [1]], np.full((3, 3), 0.5), ValueError, "2 samples but pred_probs has 3"),
        ([[0], [1]], np.full((2, 3), 1.5), ValueError, r"must lie in \[0, 1\]"),
        ([[0], [1]], np.array([[0.5, np.nan, 0.1], [0.2, 0.2, 0.2]]), ValueError, "NaN|finite"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(labels, probs, error, match):
    with pytest.raises(error, match=match):
        ml.find_label_issues(labels, probs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"filter_by": "nope"}, "filter_by must be one of"),
        ({"frac_noise": 0}, r"frac_noise must lie in \(0, 1\]"),
        ({"filter_by": "confident_learning", "frac_noise": 0.5}, "apply only to filter_by"),
        ({"num_to_remove_per_class": [1, 2]}, "K=6 integers"),
        ({"confident_joint": np.ones((6, 6), int)}, r"shape \(6, 2, 2\)"),
        ({"return_indices_ranked_by": "x"}, "method must be one of"),
        (
            {
                "return_indices_ranked_by": "confidence_weighted_entropy",
                "rank_by_kwargs": {"adjust_pred_probs": True},
            },
            "not defined",
        ),
        (
            {"return_indices_ranked_by": "self_confidence", "rank_by_kwargs": {"foo": 1}},
            "only 'adjust_pred_probs'",
        ),
    ],
)
def test_bad_options_are_refused(kwargs, match):
    labels, _, probs = DATA["f64"]
    with pytest.raises(ValueError, match=match):
        ml.find_label_issues(labels, probs, **kwargs)


def test_bad_pooling_is_refused():
    labels, _, probs = DATA["f64"]
    with pytest.raises(ValueError, match="pooling must be one of"):
        ml.label_noise_scores(labels, probs, pooling="mean")
    with pytest.raises(ValueError, match="alpha must lie in"):
        ml.label_noise_scores(labels, probs, alpha=1.5)


# --- degenerate data -----------------------------------------------------------------------------
RNG = np.random.default_rng(4)
N_D, K_D = 300, 4
NONE = ([[] for _ in range(N_D)], RNG.random((N_D, K_D)))
EVERY = ([list(range(K_D)) for _ in range(N_D)], RNG.random((N_D, K_D)))
_ONE = RNG.random(N_D) < 0.3
_ONE_GIVEN = _ONE ^ (RNG.random(N_D) < 0.1)
ONE = (
    [[0] if o else [] for o in _ONE_GIVEN],
    np.clip(_ONE * 0.6 + RNG.random(N_D) * 0.5, 0, 1)[:, None],
)
_BIG = RNG.random((2000, 1000)) < 0.004
BIG = (
    [np.flatnonzero(r).tolist() for r in _BIG],
    np.clip(_BIG * 0.7 + RNG.random(_BIG.shape) * 0.35, 0, 1),
)


@pytest.mark.parametrize("filter_by", ml.FILTERS)
def test_no_labels_anywhere(filter_by):
    """cleanlab refuses some rules here ("at least 2 classes"); nothing is counted off the
    diagonal (no class has a sample to set its threshold), so only the model's predictions
    of classes nobody was given can flag samples."""
    labels, probs = NONE
    ours = ml.find_label_issues(labels, probs, filter_by=filter_by)
    if filter_by == "predicted_neq_given":
        np.testing.assert_array_equal(
            ours, (probs > 0.5 + 1e-6).any(axis=1) | ((probs > 0.5).any(axis=1) & ours)
        )
        assert ours[(probs > 0.51).any(axis=1)].all()
    else:
        assert not ours.any()
    if filter_by in ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning"):
        np.testing.assert_array_equal(
            ours, cl(cl_filter.find_label_issues, labels, probs, filter_by=filter_by, n_jobs=1)
        )
    scores = ml.label_noise_scores(labels, probs)  # cleanlab: "max() arg is an empty sequence"
    np.testing.assert_allclose(scores, 1 - ml.pool_qualities(1 - probs))


@pytest.mark.parametrize("filter_by", ml.FILTERS)
def test_every_label_everywhere(filter_by):
    """cleanlab refuses every rule here; nothing can be counted off the diagonal, so only
    predictions against a given class flag samples."""
    labels, probs = EVERY
    ours = ml.find_label_issues(labels, probs, filter_by=filter_by)
    if filter_by == "predicted_neq_given":
        assert ours[(probs < 0.49).any(axis=1)].all() and not ours[(probs > 0.51).all(axis=1)].any()
    else:
        assert not ours.any()
    np.testing.assert_allclose(ml.label_noise_scores(labels, probs), 1 - ml.pool_qualities(probs))


@pytest.mark.parametrize("filter_by", ml.FILTERS)
def test_one_class(filter_by):
    labels, probs = ONE
    ours = ml.find_label_issues(labels, probs, filter_by=filter_by)
    if not filter_by.startswith("low_"):  # cleanlab refuses K=1 for these ("multi-label format")
        np.testing.assert_array_equal(
            ours, cl(cl_filter.find_label_issues, labels, probs, filter_by=filter_by, n_jobs=1)
        )
    else:
        quality = np.where(_ONE_GIVEN, probs[:, 0], 1 - probs[:, 0])
        n_errors = ml.find_label_issues(labels, probs, filter_by="confident_learning").sum()
        assert (
            n_errors > 0 and ours.sum() == n_errors and quality[ours].max() <= quality[~ours].min()
        )
    scores = ml.label_noise_scores(labels, probs)
    np.testing.assert_allclose(
        scores, np.where(_ONE_GIVEN, 1 - probs[:, 0], probs[:, 0]), atol=1e-15
    )


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both", "low_self_confidence"])
def test_a_thousand_classes_two_thousand_samples(filter_by):
    labels, probs = BIG
    ours = ml.find_label_issues(labels, probs, filter_by=filter_by)
    np.testing.assert_array_equal(
        ours, cl(cl_filter.find_label_issues, labels, probs, filter_by=filter_by, n_jobs=1)
    )
    np.testing.assert_allclose(
        1 - ml.label_noise_scores(labels, probs),
        cl(cl_rank.get_label_quality_scores, labels, probs),
        atol=1e-12,
    )
    table = ml.rank_classes_by_multilabel_quality(labels, probs)
    assert len(table) == 1000


def test_empty_label_sets_need_the_number_of_classes():
    from workbench.core.label_sets import check_label_sets

    with pytest.raises(ValueError, match="no class at all"):
        check_label_sets([[], []])
    Y, _ = check_label_sets([[], []], n_classes=3)
    assert Y.shape == (2, 3) and not Y.any()


@pytest.mark.parametrize("data", ["none", "every", "one", "big"])
def test_low_memory_on_degenerate_data(data):
    """cleanlab's low_memory refuses none of these: same masks (no labels anywhere: a side
    nobody was given keeps the threshold floor, so confident predictions of it count)."""
    labels, probs = {"none": NONE, "every": EVERY, "one": ONE, "big": BIG}[data]
    ours = ml.find_label_issues(labels, probs, low_memory=True)
    ref = cl(cl_filter.find_label_issues, labels, probs, low_memory=True)
    np.testing.assert_array_equal(ours, ref)
