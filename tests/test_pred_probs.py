"""pred_probs detectors: masks equal to cleanlab's find_label_issues, noise scores equal to one
minus cleanlab's label quality, detectors that separate injected noise and stay at chance on
pure noise, bounded memory, and clear errors."""

import tracemalloc
import warnings

import numpy as np
import pytest
from cleanlab import filter as cl_filter
from cleanlab import rank as cl_rank
from test_matrices import CASES, synthetic

from workbench.analysis.detectors import MissingSignalError, get_detector, list_detectors
from workbench.analysis.detectors import _confident_learning as CL
from workbench.analysis.detectors.pred_probs import (
    FILTERS,
    RANKINGS,
    ensemble_noise_scores,
    find_label_issues,
    noise_scores,
)
from workbench.analysis.metrics import auroc
from workbench.core import chunks as _chunks
from workbench.core.dataset import Dataset

PRUNE = ("prune_by_noise_rate", "prune_by_class", "both")
CL_DETECTORS = {
    "cl_prune_by_noise_rate": "prune_by_noise_rate",
    "cl_prune_by_class": "prune_by_class",
    "cl_both": "both",
    "cl_confident_learning": "confident_learning",
    "cl_predicted_neq_given": "predicted_neq_given",
}
RANKING_DETECTORS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def reference(y, p, **kwargs):
    """cleanlab's find_label_issues (n_jobs=1: cleanlab documents that n_jobs only changes the
    run time; it spares the test a process pool per call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cl_filter.find_label_issues(y, p, n_jobs=1, **kwargs)


# --- parity with cleanlab ------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"K{c['k']}-s{c['seed']}")
@pytest.mark.parametrize("filter_by", FILTERS)
def test_mask_equals_cleanlab_for_every_filter(case, filter_by):
    y, p = synthetic(**case)
    np.testing.assert_array_equal(
        find_label_issues(y, p, filter_by=filter_by), reference(y, p, filter_by=filter_by)
    )


@pytest.mark.parametrize("seed", range(20, 32))
def test_mask_equals_cleanlab_on_many_random_cases(seed):
    rng = np.random.default_rng(seed)
    case = dict(
        seed=seed, k=int(rng.integers(2, 21)), ties=bool(seed % 2), imbalanced=bool(seed % 3),
        singleton=bool(seed % 4 == 0), dtype=np.float32 if seed % 5 else np.float64,
    )  # fmt: skip
    y, p = synthetic(**case)
    for filter_by in FILTERS:
        np.testing.assert_array_equal(
            find_label_issues(y, p, filter_by=filter_by), reference(y, p, filter_by=filter_by)
        )


@pytest.mark.parametrize("case", CASES[1::2], ids=lambda c: f"K{c['k']}-s{c['seed']}")
@pytest.mark.parametrize(
    "options",
    [
        {"frac_noise": 0.5},
        {"frac_noise": 0.1},
        {"min_examples_per_class": 0},
        {"min_examples_per_class": 30},
    ],
    ids=str,
)
def test_prune_options_equal_cleanlab(case, options):
    y, p = synthetic(**case)
    for filter_by in PRUNE:
        kw = dict(filter_by=filter_by, **options)
        np.testing.assert_array_equal(find_label_issues(y, p, **kw), reference(y, p, **kw))


def test_num_to_remove_per_class_and_given_joint_equal_cleanlab():
    from workbench.analysis.matrices import confident_joint

    y, p = synthetic(seed=4, k=5)
    remove = [3, 0, 5, 2, 1]
    for filter_by in ("prune_by_class", "prune_by_noise_rate"):
        kw = dict(filter_by=filter_by, num_to_remove_per_class=remove)
        np.testing.assert_array_equal(find_label_issues(y, p, **kw), reference(y, p, **kw))
    joint = confident_joint(y, p, calibrate=False)
    np.testing.assert_array_equal(
        find_label_issues(y, p, confident_joint=joint), reference(y, p, confident_joint=joint)
    )


@pytest.mark.parametrize("remove", [5, np.int64(2), 0])
def test_num_to_remove_per_class_as_one_int_equals_cleanlab(remove):
    y, p = synthetic(seed=4, k=5)
    for filter_by in ("prune_by_class", "prune_by_noise_rate", "both"):
        kw = dict(filter_by=filter_by, num_to_remove_per_class=remove)
        ours = find_label_issues(y, p, **kw)
        np.testing.assert_array_equal(ours, reference(y, p, **kw))
        spelled = find_label_issues(y, p, filter_by=filter_by, num_to_remove_per_class=[remove] * 5)
        np.testing.assert_array_equal(ours, spelled)
    by_class = find_label_issues(y, p, filter_by="prune_by_class", num_to_remove_per_class=remove)
    np.testing.assert_array_equal(np.bincount(y[by_class], minlength=5), remove)


@pytest.mark.parametrize("ranked_by", RANKINGS)
@pytest.mark.parametrize("case", CASES[:4], ids=lambda c: f"K{c['k']}-s{c['seed']}")
def test_ranked_indices_equal_cleanlab(case, ranked_by):
    y, p = synthetic(**case)
    for filter_by in ("prune_by_noise_rate", "confident_learning"):
        kw = dict(filter_by=filter_by, return_indices_ranked_by=ranked_by)
        ours, ref = find_label_issues(y, p, **kw), reference(y, p, **kw)
        regular = _cwe_unclipped(y, p) if ranked_by == "confidence_weighted_entropy" else None
        if regular is None or regular[ref].all():
            np.testing.assert_array_equal(ours, ref)
            continue
        # rows with p[y] = 0 rank first (cleanlab's clip ranks them by entropy, see the
        # test_cwe_* tests); the same set, and the other rows in cleanlab's order
        np.testing.assert_array_equal(np.sort(ours), np.sort(ref))
        quality = cl_rank.get_label_quality_scores(y, p, method=ranked_by)
        assert (np.diff(quality[ours[regular[ours]]]) >= 0).all()
        assert (~regular[ours[: (~regular[ours]).sum()]]).all()


@pytest.mark.parametrize("name", ["mnist", "20news"])
def test_real_label_error_sets_equal_cleanlab(name):
    from workbench.noise.datasets import load_label_errors

    ds = load_label_errors(name).dataset
    for filter_by in FILTERS:
        np.testing.assert_array_equal(
            find_label_issues(ds.labels, ds.pred_probs, filter_by=filter_by),
            reference(ds.labels, ds.pred_probs, filter_by=filter_by),
        )


def test_large_classes_take_the_column_path_with_the_same_result(monkeypatch):
    y, p = synthetic(seed=6, k=20, ties=True, imbalanced=True)
    expected = reference(y, p)
    monkeypatch.setattr(CL, "_BLOCK_BUDGET", 1)  # every class too big for one block
    np.testing.assert_array_equal(find_label_issues(y, p), expected)
    np.testing.assert_array_equal(
        find_label_issues(y, p, filter_by="both"), reference(y, p, filter_by="both")
    )


def test_single_thread_and_thread_pool_agree(monkeypatch):
    y, p = synthetic(seed=2, k=5, imbalanced=True)
    pooled = find_label_issues(y, p)
    monkeypatch.setattr(_chunks, "n_workers", lambda: 1)
    np.testing.assert_array_equal(find_label_issues(y, p), pooled)


def test_torch_block_kernel_equals_numpy_kernel():
    import torch

    y, p = synthetic(seed=3, k=7, ties=True)
    ref = _chunks.row_stats(p, y)
    out = _chunks.RowStats(*(np.empty_like(a) for a in vars(ref).values()))
    _chunks._block_torch(p, y, out, slice(0, len(y)), torch.device("cpu"))
    for field, value in vars(ref).items():
        np.testing.assert_array_equal(getattr(out, field), value, err_msg=field)


# --- noise scores --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", RANKINGS)
@pytest.mark.parametrize("case", CASES[:5], ids=lambda c: f"K{c['k']}-s{c['seed']}")
def test_noise_score_is_one_minus_cleanlab_quality(case, method):
    y, p = synthetic(**case)
    quality = cl_rank.get_label_quality_scores(y, p, method=method)
    ours = noise_scores(y, p, method=method)
    regular = np.ones(len(y), bool)
    if method == "confidence_weighted_entropy":  # degenerate rows differ on purpose (below)
        regular = _cwe_unclipped(y, p)
        assert regular.mean() > 0.8
    np.testing.assert_array_equal(ours[regular], 1.0 - quality.astype(float)[regular])


def _cwe_unclipped(y, p):
    """Rows where none of cleanlab's two 1e-6 clips in confidence_weighted_entropy acts."""
    from cleanlab.internal.label_quality_utils import get_normalized_entropy

    given = p[np.arange(len(y)), y]
    return (given >= 1e-6) & (get_normalized_entropy(p) / np.maximum(given, 1e-6) >= 1e-6)


METHOD = "confidence_weighted_entropy"


def test_cwe_one_hot_rows_are_the_cleanest_and_the_most_suspicious():
    # cleanlab (and our code before the fix) scores a one-hot row on the given label as noise 1
    labels = np.array([0, 1, 0, 2, 0, 1])
    p = np.array(
        [[1.0, 0, 0], [1.0, 0, 0], [0.9, 0.05, 0.05], [0.3, 0.3, 0.4], [0.0, 0.5, 0.5],
         [1 - 1e-9, 1e-9, 0]]
    )  # fmt: skip
    s = noise_scores(labels, p, method=METHOD)
    assert s[0] == 0.0  # one-hot on the given label: the cleanest possible
    assert s[1] == 1.0 and s[4] == 1.0  # p[given] = 0: the most suspicious possible
    assert 0 < s[2] < s[3] < 1 and s[3] < s[5] < 1  # p[given] = 1e-9: nearly as suspicious
    ds = Dataset(labels, pred_probs=p)  # stored as float32
    det = get_detector("confidence_weighted_entropy").score(ds)
    np.testing.assert_array_equal(det.scores, noise_scores(labels, ds.pred_probs, method=METHOD))
    assert det.ranking()[-1] == 0 and set(det.ranking()[:2]) == {1, 4}


def test_cwe_falls_steadily_as_the_given_label_becomes_certain():
    # rows [1 - e, e] with label 0: the noise score must fall as e -> 0, down to 0 at e = 0;
    # cleanlab's clip at 1e-6 makes it jump back up for tiny e
    e = np.r_[0.3, 10.0 ** -np.arange(2, 16), 0.0]
    p = np.c_[1 - e, e]
    s = noise_scores(np.zeros(len(e), int), p, method=METHOD)
    assert (np.diff(s) < 0).all() and s[-1] == 0.0
    # and with the label on the vanishing class it rises to 1
    s = noise_scores(np.ones(len(e), int), p, method=METHOD)
    assert (np.diff(s) > 0).all() and s[-1] == 1.0


@pytest.mark.parametrize("k", [2, 3, 10])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cwe_ranks_samples_as_cleanlab_reversed_on_random_data(k, dtype):
    from scipy.stats import spearmanr

    rng = np.random.default_rng(k)
    p = rng.dirichlet(np.full(k, 0.5), 3000).astype(dtype)
    p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, k, 3000)
    quality = cl_rank.get_label_quality_scores(y, p, method=METHOD)
    ours = noise_scores(y, p, method=METHOD)
    assert spearmanr(ours, quality).statistic < -0.9999
    # the same order up to ties outside the degenerate rows (p[y] or x below cleanlab's 1e-6
    # clips, a few here): sorted by cleanlab's quality, our noise never rises
    regular = _cwe_unclipped(y, p)
    assert regular.mean() > 0.98
    order = np.argsort(quality[regular], kind="stable")
    assert (np.diff(ours[regular][order]) <= 0).all()


@pytest.mark.parametrize("weight_by", ["uniform", "accuracy", "custom"])
def test_ensemble_equals_cleanlab(weight_by):
    y, p1 = synthetic(seed=1, k=4)
    rng = np.random.default_rng(9)
    p2 = rng.dirichlet(np.ones(4), len(y))
    p2[np.arange(len(y)), y] += 0.5
    p2 /= p2.sum(axis=1, keepdims=True)
    weights = [0.25, 0.75] if weight_by == "custom" else None
    ours = ensemble_noise_scores(
        y, [p1, p2], method="normalized_margin", weight_by=weight_by, weights=weights
    )
    ref = cl_rank.get_label_quality_ensemble_scores(
        y, [p1.astype(float), p2], method="normalized_margin",
        weight_ensemble_members_by=weight_by, custom_weights=np.array(weights) if weights else None,
        verbose=False,
    )  # fmt: skip
    np.testing.assert_allclose(ours, 1.0 - ref, atol=1e-7)


# --- detectors -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def noisy_mixture():
    """Gaussian mixture, 25% symmetric noise, 5-fold cross-validated logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from workbench.noise import symmetric_noise
    from workbench.noise.datasets import make_gaussian_mixture

    x, true = make_gaussian_mixture(3000, 5, 8, separation=4.0, seed=0)
    noisy = symmetric_noise(true, 0.25, seed=1)
    p = cross_val_predict(
        LogisticRegression(max_iter=1000), x, noisy.noisy_labels, cv=5, method="predict_proba"
    )
    return Dataset(noisy.noisy_labels, pred_probs=p, true_labels=true)


def test_every_pred_probs_detector_is_registered_and_documented():
    names = set(list_detectors())
    for name in [*CL_DETECTORS, *RANKING_DETECTORS, "ensemble"]:
        assert name in names
        det = get_detector(name)
        assert det.summary and det.reference and det.requires
        assert "pred_probs" in det.requires[0]


@pytest.mark.parametrize("name", [*CL_DETECTORS, *RANKING_DETECTORS])
def test_detectors_separate_injected_noise(noisy_mixture, name):
    result = get_detector(name).score(noisy_mixture)
    is_noisy = noisy_mixture.is_noisy
    assert auroc(result.scores, is_noisy) > 0.9
    assert result.n_flagged > 0
    # flagged samples are mostly truly mislabeled, and most suggestions are the true label
    assert is_noisy[result.flags].mean() > 0.6
    hit = (
        result.suggested_labels[result.flags & is_noisy]
        == noisy_mixture.true_labels[result.flags & is_noisy]
    )
    assert hit.mean() > 0.8


def test_confident_learning_ranking_beats_chance_at_the_top(noisy_mixture):
    """cl_prune_by_noise_rate ranks its flagged set first (by margin), then the rest."""
    result = get_detector("cl_prune_by_noise_rate").score(noisy_mixture)
    k = int(noisy_mixture.is_noisy.sum())
    precision_at_k = noisy_mixture.is_noisy[result.top_k(k)].mean()
    assert precision_at_k > 0.75  # chance is 0.25


@pytest.mark.parametrize("name", [*CL_DETECTORS, *RANKING_DETECTORS])
def test_detectors_are_at_chance_on_pure_noise(name):
    """pred_probs independent of the labels: no detector may separate the flipped samples.
    With 4,000 flipped of 20,000 the AUROC's standard deviation is about 0.0056."""
    rng = np.random.default_rng(5)
    n = 20_000
    true = rng.integers(0, 4, n)
    flipped = np.zeros(n, bool)
    flipped[rng.choice(n, n // 5, replace=False)] = True
    given = np.where(flipped, (true + rng.integers(1, 4, n)) % 4, true)
    p = rng.dirichlet(np.ones(4), n)
    ds = Dataset(given, pred_probs=p, true_labels=true)
    assert abs(auroc(get_detector(name).score(ds).scores, ds.is_noisy) - 0.5) < 0.03


@pytest.mark.parametrize("name", list(CL_DETECTORS))
def test_cl_detector_flags_equal_find_label_issues_and_score_threshold_one(noisy_mixture, name):
    result = get_detector(name).score(noisy_mixture)
    y, p = noisy_mixture.labels, noisy_mixture.pred_probs
    np.testing.assert_array_equal(result.flags, reference(y, p, filter_by=CL_DETECTORS[name]))
    np.testing.assert_array_equal(result.scores >= 1, result.flags)
    assert result.details["confident_joint"].shape == (5, 5)
    flagged = result.flags
    assert (result.suggested_labels[flagged] != y[flagged]).all()


@pytest.mark.parametrize("name", ["self_confidence", "normalized_margin"])
def test_ranking_detector_flags_equal_cleanlab_low_filters(noisy_mixture, name):
    result = get_detector(name).score(noisy_mixture)
    y, p = noisy_mixture.labels, noisy_mixture.pred_probs
    np.testing.assert_array_equal(result.flags, reference(y, p, filter_by="low_" + name))
    thresholded = get_detector(name, threshold=0.5).score(noisy_mixture)
    np.testing.assert_array_equal(thresholded.flags, thresholded.scores >= 0.5)


def test_ensemble_detector_needs_two_models_and_separates_noise(noisy_mixture):
    det = get_detector("ensemble")
    with pytest.raises(MissingSignalError, match="pred_probs_ensemble"):
        det.score(noisy_mixture)
    rng = np.random.default_rng(3)
    other = 0.7 * noisy_mixture.pred_probs + 0.3 * rng.dirichlet(
        np.ones(5), noisy_mixture.n_samples
    )
    ds = noisy_mixture.with_signals(pred_probs={"logreg": noisy_mixture.pred_probs, "noisy": other})
    result = det.score(ds)
    assert auroc(result.scores, ds.is_noisy) > 0.9
    assert result.details["models"] == ["logreg", "noisy"]
    np.testing.assert_allclose(
        result.scores,
        ensemble_noise_scores(ds.labels, list(ds.pred_probs_by_model.values())),
    )


# --- memory and bad input ------------------------------------------------------------------------
def test_memory_stays_well_below_the_input_size():
    rng = np.random.default_rng(0)
    n, k = 200_000, 50
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.full(k, 0.2), n).astype(np.float32)
    p[np.arange(n), y] += 1.0
    p /= p.sum(axis=1, keepdims=True)
    y = np.where(rng.random(n) < 0.2, rng.integers(0, k, n), y)  # 20% noise: real pruning work
    tracemalloc.start()
    mask = find_label_issues(y, p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert mask.sum() > 10_000
    assert peak < 0.5 * p.nbytes, (
        f"peak {peak / 2**20:.0f} MB for a {p.nbytes / 2**20:.0f} MB input"
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filter_by": "prune"}, "filter_by must be one of"),
        ({"frac_noise": 0}, "frac_noise"),
        ({"frac_noise": 1.5}, "frac_noise"),
        ({"frac_noise": True}, "frac_noise"),
        ({"min_examples_per_class": -1}, "min_examples_per_class"),
        ({"min_examples_per_class": 1.5}, "min_examples_per_class"),
        ({"filter_by": "confident_learning", "frac_noise": 0.5}, "apply only"),
        ({"num_to_remove_per_class": [1, 2]}, "num_to_remove_per_class"),
        ({"num_to_remove_per_class": -1}, "num_to_remove_per_class"),
        ({"num_to_remove_per_class": 1.5}, "num_to_remove_per_class"),
        ({"return_indices_ranked_by": "margin"}, "return_indices_ranked_by"),
        ({"confident_joint": np.ones((2, 2), int)}, "confident_joint"),
    ],
)
def test_bad_options_raise(kwargs, match):
    y, p = synthetic(seed=0, k=3)
    with pytest.raises((ValueError, TypeError), match=match):
        find_label_issues(y, p, **kwargs)


def test_bad_arrays_raise():
    y, p = synthetic(seed=0, k=3)
    with pytest.raises(ValueError, match="Inconsistent"):
        find_label_issues(y[:-1], p)
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        find_label_issues(np.full(len(y), 3), p)
    bad = p.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        noise_scores(y, bad)
    with pytest.raises(ValueError, match="method"):
        noise_scores(y, p, method="entropy")
    with pytest.raises(ValueError, match="empty"):
        ensemble_noise_scores(y, [])
    with pytest.raises(TypeError, match="list"):
        ensemble_noise_scores(y, p)
    with pytest.raises(ValueError, match="custom"):
        ensemble_noise_scores(y, [p, p], weight_by="custom")
    with pytest.raises(ValueError, match="weights"):
        ensemble_noise_scores(y, [p, p], weight_by="custom", weights=[1.0])
    with pytest.raises(ValueError, match="threshold"):
        get_detector("self_confidence", threshold=float("nan")).score(Dataset(y, pred_probs=p))


def test_pandas_inputs_align_on_the_labels_index():
    """find_label_issues, noise_scores and the matrices take pandas rows by index, like
    Dataset: shuffled pred_probs rows give the same answer; other index values are refused."""
    import pandas as pd

    from workbench.analysis.detectors.pred_probs import find_label_issues, noise_scores
    from workbench.analysis.matrices import confident_joint

    rng = np.random.default_rng(3)
    n, k = 300, 4
    labels = pd.Series(rng.integers(0, k, n), index=[f"s{i}" for i in range(n)])
    probs = pd.DataFrame(rng.dirichlet(np.ones(k), n), index=labels.index)
    shuffled = probs.sample(frac=1, random_state=0)
    np.testing.assert_array_equal(
        find_label_issues(labels, shuffled), find_label_issues(labels.to_numpy(), probs.to_numpy())
    )
    np.testing.assert_array_equal(
        noise_scores(labels, shuffled), noise_scores(labels.to_numpy(), probs.to_numpy())
    )
    np.testing.assert_array_equal(
        confident_joint(labels, shuffled), confident_joint(labels.to_numpy(), probs.to_numpy())
    )
    with pytest.raises(ValueError, match="pred_probs"):
        find_label_issues(labels, probs.set_axis([f"t{i}" for i in range(n)]))
