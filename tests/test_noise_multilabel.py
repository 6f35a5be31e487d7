"""Label-set noise simulators: seeded, one-sided where they say so, realised rates honest."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.noise.multilabel import (
    cooccurrence_swaps,
    extra_labels,
    flip_labels,
    missing_labels,
)

RNG = np.random.default_rng(0)
TRUE = RNG.random((20_000, 6)) < np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7])


def test_missing_labels_only_remove_at_the_rate():
    out = missing_labels(TRUE, 0.2, seed=1)
    assert not (out.noisy_labels & ~TRUE).any()
    np.testing.assert_allclose(out.missing_rate, 0.2, atol=0.03)
    np.testing.assert_array_equal(out.extra_rate, 0.0)
    counted = (TRUE & ~out.noisy_labels).sum(axis=0) / TRUE.sum(axis=0)
    np.testing.assert_array_equal(out.missing_rate, counted)
    assert out.rate == pytest.approx(out.is_noisy.mean())


def test_extra_labels_only_add_at_the_rate():
    out = extra_labels(TRUE, [0.0, 0.01, 0.02, 0.05, 0.1, 0.2], seed=2)
    assert not (~out.noisy_labels & TRUE).any()
    np.testing.assert_allclose(out.extra_rate, [0.0, 0.01, 0.02, 0.05, 0.1, 0.2], atol=0.015)


def test_per_class_flips_are_seeded():
    a = flip_labels(TRUE, missing_rate=0.1, extra_rate=0.05, seed=3)
    b = flip_labels(TRUE, missing_rate=0.1, extra_rate=0.05, seed=np.random.default_rng(3))
    c = flip_labels(TRUE, missing_rate=0.1, extra_rate=0.05, seed=4)
    np.testing.assert_array_equal(a.noisy_labels, b.noisy_labels)
    assert not np.array_equal(a.noisy_labels, c.noisy_labels)
    table = a.per_class_rates()
    assert list(table["n_missing"]) == list((TRUE & ~a.noisy_labels).sum(axis=0))
    assert a.to_frame()["true_label"].iloc[0] == np.flatnonzero(TRUE[0]).tolist()


def test_swaps_go_to_co_occurring_classes_and_keep_the_set_size():
    # class 0 only ever co-occurs with class 1; class 2 never with class 3
    true = np.zeros((3000, 4), bool)
    true[:1000, [0, 1]] = True
    true[1000:2000, 2] = True
    true[2000:, [1, 3]] = True
    out = cooccurrence_swaps(true, 0.5, seed=5)
    np.testing.assert_array_equal(out.noisy_labels.sum(axis=1), true.sum(axis=1))
    changed = out.is_noisy
    assert 0.4 < changed.mean() < 0.6
    # {0, 1} losing 1 can only gain 3 (1 co-occurs with 3, not with 2); {1, 3} losing 1 can
    # only gain 0; losing a class that co-occurs with no absent class: uniform
    rows = np.flatnonzero(changed[:1000] & ~out.noisy_labels[:1000, 1])
    assert rows.size and out.noisy_labels[rows, 3].all()
    rows = np.flatnonzero(changed[2000:] & ~out.noisy_labels[2000:, 1]) + 2000
    assert rows.size and out.noisy_labels[rows, 0].all()
    gained = out.noisy_labels[1000:2000][changed[1000:2000]]
    assert gained[:, [0, 1, 3]].sum(axis=0).min() > 50  # {2} -> uniform over 0, 1, 3


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: missing_labels(TRUE, 1.5), r"must lie in \[0, 1\]"),
        (lambda: extra_labels(TRUE, [0.1, 0.2]), "K=6"),
        (lambda: cooccurrence_swaps(TRUE, -0.1), r"number in \[0, 1\]"),
        (lambda: missing_labels([[0], [7]], 0.1, n_classes=3), "outside 0..2"),
    ],
)
def test_bad_rates_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
