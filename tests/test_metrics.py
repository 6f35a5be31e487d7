"""Tests of the detector-quality metrics: agreement with scikit-learn on random inputs with
ties, the degenerate cases, and detector overlaps."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from workbench.analysis.detectors import DetectorResult
from workbench.analysis.metrics import (
    FlagOverlap,
    auroc,
    average_precision,
    evaluate,
    flag_overlap,
    pr_curve,
    precision_at_k,
    precision_recall_f1,
)


def _random_case(seed, n=500, tie_levels=None):
    """Scores loosely related to the truth; with ``tie_levels`` they take few distinct values."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < rng.uniform(0.05, 0.5)
    s = rng.normal(size=n) + 1.5 * y
    if tie_levels:
        s = np.round(s * tie_levels) / tie_levels
    return s, y


CASES = [(seed, ties) for seed in range(8) for ties in (None, 2, 5)]


# --- agreement with scikit-learn -----------------------------------------------------------------


@pytest.mark.parametrize("seed, ties", CASES)
def test_auroc_matches_sklearn(seed, ties):
    s, y = _random_case(seed, tie_levels=ties)
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed, ties", CASES)
def test_average_precision_matches_sklearn(seed, ties):
    s, y = _random_case(seed, tie_levels=ties)
    assert average_precision(s, y) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed, ties", CASES)
def test_pr_curve_matches_sklearn(seed, ties):
    s, y = _random_case(seed, tie_levels=ties)
    ours = pr_curve(s, y)
    ref = precision_recall_curve(y, s)
    for a, b in zip(ours, ref, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_precision_recall_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.2
    flags = rng.random(300) < rng.uniform(0.01, 0.6)
    p, r, f, _ = precision_recall_fscore_support(y, flags, average="binary", zero_division=np.nan)
    ours = precision_recall_f1(flags, y)
    assert ours == pytest.approx((p, r, f), abs=1e-12)


@pytest.mark.parametrize(
    "flags, y",
    [
        ([False, False, False], [True, False, True]),  # nothing flagged: precision undefined
        ([True, False, True], [False, False, False]),  # nothing noisy: recall undefined
        ([False, False], [False, False]),  # neither
        ([True, True], [True, True]),
    ],
)
def test_precision_recall_f1_degenerate_cases_match_sklearn(flags, y):
    p, r, f, _ = precision_recall_fscore_support(y, flags, average="binary", zero_division=np.nan)
    ours = precision_recall_f1(flags, y)
    np.testing.assert_allclose(ours, (p, r, f), equal_nan=True)


def test_auroc_and_ap_with_infinite_and_constant_scores():
    y = np.array([1, 0, 1, 0, 0], dtype=bool)
    s = np.array([np.inf, np.inf, 1.0, -np.inf, -np.inf])
    finite = np.array([10.0, 10.0, 1.0, -10.0, -10.0])  # same order, same ties
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, finite))
    assert average_precision(s, y) == pytest.approx(average_precision_score(y, finite))
    const = np.zeros(5)
    assert auroc(const, y) == 0.5
    assert average_precision(const, y) == pytest.approx(0.4)


# --- precision@k ---------------------------------------------------------------------------------


def test_precision_at_k_without_ties():
    s = np.array([0.9, 0.1, 0.8, 0.3, 0.7])
    y = np.array([1, 0, 0, 1, 1], dtype=bool)
    assert precision_at_k(s, y, 1) == 1.0
    assert precision_at_k(s, y, 2) == 0.5
    assert precision_at_k(s, y, 3) == pytest.approx(2 / 3)
    assert precision_at_k(s, y, 5) == 0.6


def test_precision_at_k_ties_average_and_stable():
    s = np.array([1.0, 0.5, 0.5, 0.5, 0.5, 0.0])
    y = np.array([1, 0, 1, 1, 0, 1], dtype=bool)
    # Top 3: the 1.0 (noisy) plus 2 of the four tied at 0.5, of which half are noisy.
    assert precision_at_k(s, y, 3) == pytest.approx((1 + 2 * 0.5) / 3)
    # Stable: lower indices first, like DetectorResult.top_k.
    assert precision_at_k(s, y, 3, ties="stable") == pytest.approx(2 / 3)
    top = DetectorResult("x", scores=s, flags=s > 0).top_k(3)
    assert y[top].mean() == precision_at_k(s, y, 3, ties="stable")


@pytest.mark.parametrize("seed, ties", CASES[:12])
def test_precision_at_k_average_is_the_mean_over_random_tie_breaks(seed, ties):
    s, y = _random_case(seed, n=200, tie_levels=ties)
    k = int(y.sum())
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(400):
        jitter = rng.permutation(len(s))  # random tie-break
        order = np.lexsort((jitter, -s))
        draws.append(y[order[:k]].mean())
    assert precision_at_k(s, y, k) == pytest.approx(np.mean(draws), abs=0.01)


@pytest.mark.parametrize(
    "k, error, match",
    [
        (0, ValueError, r"k must lie in 1\.\.N=3"),
        (4, ValueError, "k must lie"),
        (1.5, TypeError, "k must be an int"),
    ],
)
def test_precision_at_k_rejects_bad_k(k, error, match):
    with pytest.raises(error, match=match):
        precision_at_k([0.1, 0.2, 0.3], [True, False, True], k)
    with pytest.raises(ValueError, match="ties must be 'average' or 'stable'"):
        precision_at_k([0.1, 0.2, 0.3], [True, False, True], 1, ties="random")


# --- degenerate truth ----------------------------------------------------------------------------


def test_degenerate_truth_gives_nan_as_documented():
    s = np.array([0.3, 0.2, 0.1])
    none, every = np.zeros(3, bool), np.ones(3, bool)
    assert np.isnan(auroc(s, none)) and np.isnan(auroc(s, every))
    assert np.isnan(average_precision(s, none))
    assert average_precision(s, every) == 1.0
    assert precision_at_k(s, none, 2) == 0.0
    precision, recall, thresholds = pr_curve(s, none)
    assert np.isnan(recall[:-1]).all() and recall[-1] == 0
    np.testing.assert_array_equal(thresholds, [0.1, 0.2, 0.3])


# --- input validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scores, y, error, match",
    [
        ([0.1, np.nan], [True, False], ValueError, r"scores contains NaN \(first at index 1\)"),
        ([0.1, 0.2], [True], ValueError, "is_noisy has 1 samples but the scores/flags have 2"),
        ([[0.1, 0.2]], [True, False], ValueError, r"scores must be 1-D"),
        ([0.1, 0.2], [2, 0], ValueError, "is_noisy must be boolean"),
        (["a", "b"], [True, False], TypeError, "scores must be real numbers"),
        ([], [], ValueError, "scores is empty"),
    ],
)
def test_ranking_metrics_reject_bad_input(scores, y, error, match):
    for fn in (auroc, average_precision, pr_curve):
        with pytest.raises(error, match=match):
            fn(scores, y)


def test_metrics_accept_torch_pandas_and_0_1_truth():
    s, y = _random_case(0, n=100)
    ref = auroc(s, y)
    assert auroc(torch.tensor(s), torch.tensor(y)) == ref
    assert auroc(pd.Series(s), pd.Series(y.astype(int))) == ref
    assert auroc(s.astype(np.float32), y.astype(float)) == pytest.approx(ref)
    with pytest.raises(ValueError, match="flags has 2 samples|is_noisy has 3 samples"):
        precision_recall_f1([True, False], [True, False, True])


# --- overlaps ------------------------------------------------------------------------------------


def test_flag_overlap_counts_jaccard_and_combinations():
    rng = np.random.default_rng(0)
    flags = {name: rng.random(1000) < p for name, p in (("a", 0.1), ("b", 0.3), ("c", 0.0))}
    flags["d"] = flags["a"] | (rng.random(1000) < 0.05)
    result = DetectorResult("b", scores=flags["b"].astype(float), flags=flags["b"])
    ov = flag_overlap({**flags, "b": result})
    assert isinstance(ov, FlagOverlap)
    names = list(flags)
    for i, j in itertools.product(names, names):
        both = int((flags[i] & flags[j]).sum())
        either = int((flags[i] | flags[j]).sum())
        assert ov.intersection.loc[i, j] == both
        if either:
            assert ov.jaccard.loc[i, j] == pytest.approx(both / either)
        else:
            assert np.isnan(ov.jaccard.loc[i, j])
    combos = ov.combinations
    assert list(combos.columns) == names + ["n_detectors", "n_samples"]
    assert combos["n_samples"].sum() == 1000
    assert combos["n_samples"].is_monotonic_decreasing
    # Each row's count is the number of samples with exactly that membership pattern.
    for _, row in combos.iterrows():
        pattern = np.ones(1000, bool)
        for name in names:
            pattern &= flags[name] == row[name]
        assert pattern.sum() == row["n_samples"]
        assert row["n_detectors"] == sum(row[n] for n in names)
    assert not combos["c"].any()


def test_flag_overlap_rejects():
    with pytest.raises(ValueError, match="non-empty dict"):
        flag_overlap({})
    with pytest.raises(ValueError, match=r"flags\['b'\] has 2 samples but the scores/flags have 3"):
        flag_overlap({"a": [True, False, True], "b": [True, False]})
    with pytest.raises(ValueError, match="at most 62 detectors"):
        flag_overlap({str(i): [True] for i in range(63)})


# --- evaluate ------------------------------------------------------------------------------------


def test_evaluate_one_row_per_detector_agreeing_with_sklearn():
    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.15
    good = rng.normal(size=2000) + 2.0 * y
    bad = rng.normal(size=2000)
    results = {
        "good": DetectorResult("good", scores=good, flags=good > 1.5),
        "random": DetectorResult("random", scores=bad, flags=bad > 1.0),
        "coarse": DetectorResult("coarse", scores=np.round(good), flags=np.round(good) >= 2),
    }
    df = evaluate(results, y)
    assert list(df.columns) == [
        "detector",
        "n_flagged",
        "precision",
        "recall",
        "f1",
        "auroc",
        "ap",
        "precision_at_k",
    ]
    assert df["detector"].tolist() == ["good", "random", "coarse"]
    assert df.attrs["k"] == int(y.sum())
    for _, row in df.iterrows():
        r = results[row["detector"]]
        p, rec, f, _ = precision_recall_fscore_support(
            y, r.flags, average="binary", zero_division=np.nan
        )
        assert row["n_flagged"] == r.flags.sum()
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p, rec, f))
        assert row["auroc"] == pytest.approx(roc_auc_score(y, r.scores))
        assert row["ap"] == pytest.approx(average_precision_score(y, r.scores))
        assert row["precision_at_k"] == pytest.approx(precision_at_k(r.scores, y, int(y.sum())))
    good_row, random_row = df.iloc[0], df.iloc[1]
    assert good_row["auroc"] > 0.85 > 0.6 > random_row["auroc"]
    assert evaluate(results, y, k=10).attrs["k"] == 10


def test_evaluate_degenerate_and_bad_input():
    r = {"x": DetectorResult("x", scores=[0.1, 0.2, 0.3], flags=[False, False, True])}
    df = evaluate(r, [False, False, False])
    row = df.iloc[0]
    assert np.isnan(row["recall"]) and np.isnan(row["auroc"]) and np.isnan(row["ap"])
    assert np.isnan(row["precision_at_k"]) and row["precision"] == 0.0
    with pytest.raises(ValueError, match="non-empty dict"):
        evaluate({}, [True])
    with pytest.raises(TypeError, match=r"results\['x'\] must be a DetectorResult"):
        evaluate({"x": np.zeros(3)}, [True, False, True])
    with pytest.raises(ValueError, match="is_noisy has 2 samples but the scores/flags have 3"):
        evaluate(r, [True, False])
    with pytest.raises(ValueError, match=r"k must lie in 1\.\.N=3"):
        evaluate(r, [True, False, True], k=5)
    with pytest.raises(ValueError, match="is_noisy is empty"):
        evaluate(r, [])


def test_docstring_examples_run():
    import doctest

    import workbench.analysis.metrics

    result = doctest.testmod(workbench.analysis.metrics)
    assert result.attempted >= 2 and result.failed == 0
