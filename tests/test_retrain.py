"""Retraining after cleaning: removing true label errors helps; the sweep shows where."""

import doctest

import numpy as np
import pandas as pd
import pytest

from workbench.compute import cleaning_sweep, retrain_after_cleaning
from workbench.compute import retrain as retrain_module


def _asymmetric_noise(n=2400, seed=0):
    """Class 0 often mislabeled as 1 (systematic noise moves the boundary), plus 10% random."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 1.0, (4, 8))
    true = rng.integers(0, 4, n)
    x = (mu[true] + rng.normal(size=(n, 8))).astype(np.float32)
    y = true.copy()
    flip = (true == 0) & (rng.random(n) < 0.45)
    y[flip] = 1
    rand = rng.random(n) < 0.1
    y[rand] = rng.integers(0, 4, rand.sum())
    return x, y, true


def test_removing_or_fixing_true_errors_helps():
    x, y, true = _asymmetric_noise()
    noisy = y != true
    removed = retrain_after_cleaning(x, y, remove=noisy, true_labels=true, progress=False)
    assert removed.accuracy_after > removed.accuracy_before + 0.05
    assert removed.n_removed == noisy[removed.train_index].sum() and removed.n_relabeled == 0
    counts = np.bincount(true, minlength=4)
    assert removed.evaluated_on.startswith("held-out")
    assert removed.n_test == sum(int(round(0.3 * c)) for c in counts)
    assert set(removed.train_index).isdisjoint(removed.test_index)
    assert len(removed.train_index) + removed.n_test == len(y)
    fixed = retrain_after_cleaning(x, y, relabel=np.where(noisy, true, -1), true_labels=true,
                                   progress=False)  # fmt: skip
    assert fixed.accuracy_after > fixed.accuracy_before + 0.05
    assert fixed.n_relabeled == noisy[fixed.train_index].sum() and fixed.n_removed == 0
    # relabeling the errors to yet another wrong class does not help
    wrong = retrain_after_cleaning(x, y, relabel=np.where(noisy, (true + 2) % 4, -1),
                                   true_labels=true, progress=False)  # fmt: skip
    assert wrong.accuracy_after < fixed.accuracy_after - 0.05
    assert removed.gain == pytest.approx(removed.accuracy_after - removed.accuracy_before)


def test_removing_random_samples_does_not_help():
    x, y, true = _asymmetric_noise()
    rng = np.random.default_rng(1)
    res = retrain_after_cleaning(x, y, remove=rng.random(len(y)) < 0.2, true_labels=true,
                                 progress=False)  # fmt: skip
    assert res.accuracy_after < res.accuracy_before + 0.02


def test_separate_test_set_and_no_cleaning_is_neutral():
    x, y, true = _asymmetric_noise(n=3200)
    x, y, xt, yt = x[:2400], y[:2400], x[2400:], true[2400:]
    res = retrain_after_cleaning(x, y, test_features=xt, test_labels=yt, progress=False)
    assert res.evaluated_on == "test set" and res.n_test == 800 and res.n_train == len(y)
    assert res.accuracy_before > 0.6
    # no decision: both models see identical data, batches and initial weights
    assert res.accuracy_after == res.accuracy_before


def test_sweep_curve_shows_removing_noise_helps():
    x, y, true = _asymmetric_noise()
    noisy = y != true
    rng = np.random.default_rng(0)
    good_scores = noisy + 0.5 * rng.random(len(y))  # a detector that ranks errors first
    df = cleaning_sweep(x, y, good_scores, true_labels=true, progress=False)
    assert isinstance(df, pd.DataFrame) and len(df) == 7
    assert list(df.columns) == ["threshold", "fraction_removed", "n_removed", "accuracy",
                                "accuracy_gain", "precision_removed", "recall_removed"]  # fmt: skip
    assert df.n_removed.iloc[0] == 0 and np.isnan(df.threshold.iloc[0])
    assert df.n_removed.is_monotonic_increasing and df.recall_removed.is_monotonic_increasing
    assert (df.precision_removed.iloc[1:4] == 1).all()
    assert df.accuracy.iloc[-1] > df.accuracy.iloc[0] + 0.05
    random_df = cleaning_sweep(x, y, rng.random(len(y)), true_labels=true, progress=False)
    assert random_df.accuracy_gain.max() < df.accuracy_gain.max() - 0.04
    assert (random_df.precision_removed.iloc[1:] < 0.4).all()


def test_sweep_by_thresholds():
    x, y, true = _asymmetric_noise(n=900)
    scores = np.linspace(0, 1, len(y))
    df = cleaning_sweep(x, y, scores, thresholds=[0.9, 0.5], true_labels=true, epochs=3,
                        progress=False)  # fmt: skip
    train_scores = scores[np.setdiff1d(np.arange(len(y)), _held_out(true))]
    assert df.n_removed.tolist() == [0, (train_scores >= 0.9).sum(), (train_scores >= 0.5).sum()]
    assert df.threshold.tolist()[1:] == [0.9, 0.5]


def _held_out(true):
    res = retrain_after_cleaning(np.zeros((len(true), 1)), true, true_labels=true, epochs=1,
                                 progress=False)  # fmt: skip
    return res.test_index


def test_without_truth_the_sweep_has_no_precision_columns():
    x, y, true = _asymmetric_noise(n=1200)
    x, y, xt, yt = x[:900], y[:900], x[900:], true[900:]
    df = cleaning_sweep(x, y, np.arange(len(y)), fractions=[0.1], test_features=xt,
                        test_labels=yt, epochs=2, progress=False)  # fmt: skip
    assert "precision_removed" not in df and len(df) == 2


def test_bad_input_raises_clear_errors():
    x, y, true = _asymmetric_noise(n=200)
    with pytest.raises(ValueError, match="true_labels"):
        retrain_after_cleaning(x, y)
    with pytest.raises(TypeError, match="remove must be a boolean"):
        retrain_after_cleaning(x, y, remove=np.arange(200), true_labels=true)
    with pytest.raises(ValueError, match="Inconsistent"):
        retrain_after_cleaning(x, y, remove=np.zeros(10, bool), true_labels=true)
    with pytest.raises(ValueError, match=r"relabel must lie in -1..3"):
        retrain_after_cleaning(x, y, relabel=np.full(200, 7), true_labels=true)
    with pytest.raises(ValueError, match="both test_features and test_labels"):
        retrain_after_cleaning(x, y, test_features=x)
    with pytest.raises(ValueError, match="test_size"):
        retrain_after_cleaning(x, y, true_labels=true, test_size=1.5)
    with pytest.raises(ValueError, match="shape of features"):
        retrain_after_cleaning(x, y, test_features=x[:, :3], test_labels=y)
    with pytest.raises(ValueError, match="fractions must lie"):
        cleaning_sweep(x, y, np.zeros(200), fractions=[1.0], true_labels=true)
    with pytest.raises(ValueError, match="not both"):
        cleaning_sweep(x, y, np.zeros(200), fractions=[0.1], thresholds=[1], true_labels=true)
    with pytest.raises(ValueError, match="scores must be finite"):
        cleaning_sweep(x, y, np.full(200, np.nan), true_labels=true)
    with pytest.raises(ValueError, match="removes every training sample"):
        cleaning_sweep(x, y, np.ones(200), thresholds=[0.5], true_labels=true)
    with pytest.raises(ValueError, match="model must be one of"):
        cleaning_sweep(x, y, np.ones(200), model="svm", true_labels=true)


def test_docstring_example_runs():
    result = doctest.testmod(retrain_module, verbose=False)
    assert result.attempted >= 1 and result.failed == 0


def test_probe_options_are_said_once():
    """The options every probe-training function takes are cross_val_probs' keywords, with the
    same defaults; an unknown one is refused by name."""
    import inspect

    from workbench.compute.probe import PROBE_DEFAULTS, ProbeOptions, cross_val_probs

    sig = inspect.signature(cross_val_probs).parameters
    assert set(ProbeOptions.__annotations__) == set(PROBE_DEFAULTS)
    for name, default in PROBE_DEFAULTS.items():
        assert sig[name].default == default, name
    x = np.zeros((20, 2))
    y = np.arange(20) % 2
    with pytest.raises(TypeError, match="Unknown probe option.*'epoch'"):
        retrain_after_cleaning(x, y, test_features=x, test_labels=y, epoch=3)
