"""Messy and hostile input: each defect found by feeding the workbench what a careless or hostile
user would, and its siblings in the other readers. Every test failed before its fix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from workbench.cli import load_inputs, main
from workbench.compute.probe import cross_val_probs
from workbench.core.dataset import Dataset
from workbench.core.validation import check_labels

# --- huge and overflowing integer labels ---------------------------------------------------------


@pytest.mark.parametrize("top", [10**7, 10**12, np.iinfo(np.int64).max])
def test_a_huge_label_is_refused_in_o_n_memory_with_the_fix(top):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"labels holds sparse integers") as err:
            Dataset(np.array([0, 1, top]), features=np.zeros((3, 2)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak  # the old code built one name per integer up to the maximum
    assert "class_names=" in str(err.value) and "pandas.factorize(labels)" in str(err.value)


def test_sparse_labels_are_refused_whatever_reads_them(tmp_path):
    # K inferred from labels whose values leave most classes empty: ids, 1-based codes, typos
    with pytest.raises(ValueError, match=r"holds sparse integers.*K=6 classes.*\(0, 5\)"):
        Dataset([0, 0, 0, 5, 5, 5], features=np.zeros((6, 2)))
    with pytest.raises(ValueError, match=r"labels holds sparse integers"):
        check_labels(np.array([3, 10**10]))  # max + 1 > 2 N: never class indices
    with pytest.raises(ValueError, match=r"labels holds sparse integers"):
        cross_val_probs(np.zeros((4, 2)), [0, 1, 0, 10**12])
    path = tmp_path / "labels.csv"
    pd.DataFrame({"label": [0, 1, 10**12, 1], "f": [1.0, 2, 3, 4]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="sparse integers"):
        load_inputs(path, feature_columns="f")
    # the fixes the message offers work
    codes, names = pd.factorize(pd.Series([0, 1, 10**12, 1]))
    ds = Dataset(codes, class_names=[str(n) for n in names], features=np.zeros((4, 2)))
    assert ds.class_names == ["0", "1", "1000000000000"]
    ds = Dataset([0, 5, 5, 0, 1, 2, 3, 4], class_names=list("abcdef"), features=np.zeros((8, 2)))
    assert ds.n_classes == 6 and ds.labels.tolist() == [0, 5, 5, 0, 1, 2, 3, 4]


def test_dense_labels_with_a_gap_are_not_called_sparse():
    codes, names = check_labels([0, 0, 2, 2])  # half of 0..max used: the gap is an empty class
    assert names == ["0", "1", "2"] and codes.tolist() == [0, 0, 2, 2]
    codes, names = check_labels(np.array([0, 9, 9, 0, 0]))  # default: only max+1 > 2N refused
    assert len(names) == 10


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 2**70],
        pd.Series([0, 1, 2**70]),
        np.array([0, 1, 2**64 - 1], dtype=np.uint64),
        np.array([0.0, 1.0, 2.0**70]),
        [0, 1, -(2**70)],
    ],
    ids=["list", "series", "uint64", "float", "negative"],
)
def test_integer_overflow_is_named_as_such(labels):
    with pytest.raises(ValueError, match=r"labels has values beyond the int64 range \(integer "):
        Dataset(labels, features=np.zeros((3, 2)))


def test_integer_overflow_in_a_csv_is_named_as_such(tmp_path, capsys):
    path = tmp_path / "labels.csv"
    path.write_text(f"label,f\n0,1\n1,2\n{2**70},3\n")
    code = main([str(path), "--feature-columns", "f", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "integer overflow" in err and "1180591620717411303424 at index 2" in err
    assert "-9223372036854775808" not in err
    assert not (tmp_path / "out").exists()
