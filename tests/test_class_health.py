"""Class health (per-class label quality, overlapping classes, one dataset score): the same
numbers, in the same order, as cleanlab 2.9's ``cleanlab.dataset``."""

import numpy as np
import pandas as pd
import pytest
from cleanlab import dataset as cl_dataset

from workbench.analysis import class_health as ch

RANK_COLUMNS = {
    "Class Name": "class_name",
    "Class Index": "class_index",
    "Label Issues": "label_issues",
    "Inverse Label Issues": "inverse_label_issues",
    "Label Noise": "label_noise",
    "Inverse Label Noise": "inverse_label_noise",
    "Label Quality Score": "label_quality",
}
OVERLAP_COLUMNS = {
    "Class Name A": "class_name_a",
    "Class Name B": "class_name_b",
    "Class Index A": "class_index_a",
    "Class Index B": "class_index_b",
    "Num Overlapping Examples": "num_overlapping",
    "Joint Probability": "joint_probability",
}


def noisy(seed, k, *, n=None, swap=None, dtype=np.float32):
    """Labels and pred_probs where classes ``swap`` = (a, b) are often confused."""
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(300, 2000))
    true = rng.integers(0, k, n)
    true[:k] = np.arange(k)
    p = rng.dirichlet(np.full(k, 0.4), n)
    p[np.arange(n), true] += 1.5 * rng.random(n)
    given = true.copy()
    if swap is not None:
        a, b = swap
        flip = rng.random(n) < 0.35
        given[flip & (true == a)] = b
        given[flip & (true == b)] = a
        other = np.where(true == a, b, a)  # the pair's other class looks likely too
        in_pair = np.isin(true, swap)
        p[in_pair, other[in_pair]] += 0.3
    p /= p.sum(axis=1, keepdims=True)
    return given, p.astype(dtype)


def same(ours: pd.DataFrame, theirs: pd.DataFrame, columns: dict):
    theirs = theirs.rename(columns=columns)
    assert list(ours.columns) == list(theirs.columns)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, rtol=0, atol=1e-12)


CASES = [(0, 3, None), (1, 5, (1, 3)), (2, 8, (0, 7)), (3, 2, (0, 1)), (4, 10, None)]


@pytest.mark.parametrize("seed, k, swap", CASES)
def test_rank_classes_equals_cleanlab(seed, k, swap):
    y, p = noisy(seed, k, swap=swap)
    names = [f"c{i}" for i in range(k)]
    same(
        ch.rank_classes_by_label_quality(y, p, class_names=names),
        cl_dataset.rank_classes_by_label_quality(y, p, class_names=names),
        RANK_COLUMNS,
    )
    same(
        ch.rank_classes_by_label_quality(y, p),
        cl_dataset.rank_classes_by_label_quality(y, p),
        RANK_COLUMNS,
    )


@pytest.mark.parametrize("asymmetric", [False, True])
@pytest.mark.parametrize("seed, k, swap", CASES)
def test_overlapping_classes_equal_cleanlab(seed, k, swap, asymmetric):
    y, p = noisy(seed, k, swap=swap)
    names = [f"c{i}" for i in range(k)]
    ours = ch.find_overlapping_classes(y, p, asymmetric=asymmetric, class_names=names)
    theirs = cl_dataset.find_overlapping_classes(y, p, asymmetric=asymmetric, class_names=names)
    same(ours, theirs, OVERLAP_COLUMNS)
    assert len(ours) == (k * (k - 1) if asymmetric else k * (k - 1) // 2)
    if swap is not None and not asymmetric:  # the confused pair comes first
        assert sorted(ours.loc[0, ["class_index_a", "class_index_b"]]) == sorted(swap)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed, k, swap", CASES)
def test_health_summary_and_score_equal_cleanlab(seed, k, swap, dtype):
    y, p = noisy(seed, k, swap=swap, dtype=dtype)
    names = [f"c{i}" for i in range(k)]
    ours = ch.health_summary(y, p, class_names=names)
    theirs = cl_dataset.health_summary(y, p, class_names=names, verbose=False)
    assert ours["overall_label_health_score"] == theirs["overall_label_health_score"]
    assert ours["overall_label_health_score"] == ch.overall_label_health_score(y, p)
    assert ch.overall_label_health_score(y, p) == cl_dataset.overall_label_health_score(
        y, p, verbose=False
    )
    np.testing.assert_allclose(ours["joint"], theirs["joint"], rtol=0, atol=1e-15)
    same(ours["classes_by_label_quality"], theirs["classes_by_label_quality"], RANK_COLUMNS)
    same(ours["overlapping_classes"], theirs["overlapping_classes"], OVERLAP_COLUMNS)


def test_a_given_joint_gives_the_same_tables():
    y, p = noisy(5, 4, swap=(0, 2))
    q = ch.class_joint(y, p)["joint"]
    same(
        ch.rank_classes_by_label_quality(joint=q, num_examples=len(y)),
        cl_dataset.rank_classes_by_label_quality(joint=q, num_examples=len(y)),
        RANK_COLUMNS,
    )
    same(
        ch.find_overlapping_classes(joint=q, num_examples=len(y)),
        cl_dataset.find_overlapping_classes(joint=q, num_examples=len(y)),
        OVERLAP_COLUMNS,
    )


def test_known_answer_the_swapped_pair_is_the_noisiest():
    y, p = noisy(6, 6, n=3000, swap=(2, 4))
    ranked = ch.rank_classes_by_label_quality(y, p)
    assert set(ranked["class_index"][:2]) == {2, 4}
    assert (ranked["label_quality"].diff().dropna() >= 0).all()
    assert 0 < ch.overall_label_health_score(y, p) < 1


def test_a_class_nobody_was_given_and_a_perfect_model():
    y, p = noisy(7, 4)
    y[y == 3] = 0  # class 3 never given: its row of the joint is empty
    same(
        ch.rank_classes_by_label_quality(y, p),
        cl_dataset.rank_classes_by_label_quality(y, p),
        RANK_COLUMNS,
    )
    onehot = np.eye(3)[np.arange(30) % 3]
    assert ch.overall_label_health_score(np.arange(30) % 3, onehot) == 1.0
    assert (ch.find_overlapping_classes(np.arange(30) % 3, onehot)["num_overlapping"] == 0).all()


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda y, p: ch.rank_classes_by_label_quality(y, p, class_names=["a"]), ValueError,
         "class_names has 1"),
        (lambda y, p: ch.find_overlapping_classes(y, p, asymmetric="yes"), TypeError,
         "asymmetric"),
        (lambda y, p: ch.rank_classes_by_label_quality(y), ValueError, "pred_probs"),
        (lambda y, p: ch.rank_classes_by_label_quality(joint=np.ones((3, 3))), ValueError,
         "sum to 1"),
        (lambda y, p: ch.rank_classes_by_label_quality(joint=np.eye(3) / 3), ValueError,
         "num_examples"),
        (lambda y, p: ch.rank_classes_by_label_quality(y, p, num_examples=0), ValueError,
         "num_examples"),
        (lambda y, p: ch.health_summary(y, p[:-1]), ValueError, "pred_probs"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(call, error, match):
    y, p = noisy(8, 3)
    with pytest.raises(error, match=match):
        call(y, p)


def test_from_the_shared_statistics_pass_of_a_dataset():
    from workbench.analysis.derived import analysis_of
    from workbench.core.dataset import Dataset

    y, p = noisy(9, 4, swap=(1, 2))
    ds = Dataset(y, pred_probs=p, class_names=list("abcd"))
    est = ch.joint_from_statistics(analysis_of(ds).statistics())
    ours = ch.summary_from_joint(est, class_names=ds.class_names)
    direct = ch.health_summary(y, p, class_names=list("abcd"))
    assert ours["overall_label_health_score"] == direct["overall_label_health_score"]
    pd.testing.assert_frame_equal(ours["overlapping_classes"], direct["overlapping_classes"])
    pd.testing.assert_frame_equal(
        ours["classes_by_label_quality"], direct["classes_by_label_quality"]
    )
    with pytest.raises(TypeError, match="Statistics"):
        ch.joint_from_statistics(p)
