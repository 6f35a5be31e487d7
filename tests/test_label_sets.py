"""Multi-label input: label sets in every accepted form, the task inferred or given, the
Dataset holding them, and bad input refused with the argument named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.core.dataset import Dataset
from workbench.core.label_sets import (
    check_label_set_annotators,
    check_label_sets,
    is_label_sets,
    label_set_lists,
    label_set_strings,
    resolve_task,
)

SETS = [[0, 2], [1], [], [0, 1, 2]]
MATRIX = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 1]], bool)
NAMES = ["cat", "dog", "fish"]


@pytest.mark.parametrize(
    "form",
    [
        SETS,
        [tuple(s) for s in SETS],
        [set(s) for s in SETS],
        [np.array(s, dtype=np.int64) for s in SETS],
        pd.Series(SETS),
        MATRIX,
        MATRIX.astype(np.uint8),
        MATRIX.astype(float),
        pd.DataFrame(MATRIX.astype(int), columns=NAMES),
    ],
    ids=["lists", "tuples", "sets", "arrays", "series", "bool", "uint8", "float", "frame"],
)
def test_every_form_gives_the_same_matrix(form):
    Y, _ = check_label_sets(form, n_classes=3)
    np.testing.assert_array_equal(Y, MATRIX)
    assert is_label_sets(form)
    assert resolve_task(None, form) == "multilabel"


def test_names_and_strings():
    by_name = [[NAMES[j] for j in s] for s in SETS]
    Y, names = check_label_sets(by_name)
    assert names == NAMES
    np.testing.assert_array_equal(Y, MATRIX)
    strings = pd.Series(label_set_strings(MATRIX, NAMES))
    assert strings.tolist() == ["cat|fish", "dog", "", "cat|dog|fish"]
    assert not is_label_sets(strings)  # a class name may hold "|": strings need task=
    Y, names = check_label_sets(strings)
    np.testing.assert_array_equal(Y, MATRIX)
    Y, _ = check_label_sets(pd.Series(["fish ; cat", None, np.nan]), class_names=NAMES, sep=";")
    np.testing.assert_array_equal(Y, [[1, 0, 1], [0, 0, 0], [0, 0, 0]])
    assert label_set_lists(MATRIX) == SETS


def test_single_label_input_stays_single_label():
    assert resolve_task(None, [0, 1, 2]) == "multiclass"
    assert resolve_task(None, np.array([[0], [2], [1]])) == "multiclass"  # a column vector
    assert resolve_task(None, np.array([[0, 2], [1, 1]])) == "multiclass"  # not 0/1
    assert resolve_task(None, np.array([[0], [1]])) == "multiclass"  # one column: ambiguous
    assert resolve_task(None, np.array(["a", "b"])) == "multiclass"
    with pytest.raises(ValueError, match="task='multilabel'"):
        resolve_task("multiclass", SETS)
    with pytest.raises(ValueError, match="task must be one of"):
        resolve_task("multi", SETS)


@pytest.mark.parametrize(
    "labels,kwargs,error,match",
    [
        ([[0], [3]], {"n_classes": 3}, ValueError, "class index 3, outside 0..2"),
        ([[0], [2**70]], {"n_classes": 3}, ValueError, f"index {2**70}, which does not fit in 64"),
        ([[0, 1], [2**63]], {"n_classes": 3}, ValueError, f"index {2**63}, which does not fit"),
        ([[0.0], [-1e30]], {"n_classes": 3}, ValueError, "index -1e.30, which does not fit"),
        ([["cat"], ["cow"]], {"class_names": NAMES}, ValueError, r"not in class_names: \['cow'\]"),
        ([[0], ["x"]], {}, TypeError, "class indices"),
        ([[0], 7], {}, TypeError, r"labels\[1\] must be a label set"),
        ([[0, None]], {}, TypeError, "class indices"),
        (np.array([[0, 2]]), {}, ValueError, "only 0 and 1"),
        (np.array([[0.0, np.nan]]), {}, ValueError, "NaN|finite"),
        (np.zeros((2, 3)), {"n_classes": 2}, ValueError, "3 columns but there are 2"),
        ([], {}, ValueError, "empty"),
        (None, {}, TypeError, "None"),
    ],
)
def test_bad_label_sets_are_refused(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_label_sets(labels, **kwargs)


def test_dataset_holds_label_sets():
    probs = np.random.default_rng(0).random((4, 3))
    ds = Dataset([[NAMES[j] for j in s] for s in SETS], pred_probs=probs)
    assert ds.is_multilabel and ds.task == "multilabel" and ds.class_names == NAMES
    np.testing.assert_array_equal(ds.labels, MATRIX)
    assert ds.pred_probs.shape == (4, 3)  # rows need not sum to 1
    frame = ds.to_frame()
    assert frame["label_name"].tolist() == ["cat|fish", "dog", "", "cat|dog|fish"]
    again = ds.with_signals(features=np.zeros((4, 2)))
    assert again.is_multilabel and again.fingerprint == ds.fingerprint
    assert Dataset(SETS).fingerprint != Dataset([[0], [1], [], [0, 1, 2]]).fingerprint
    assert not Dataset([0, 1, 1]).is_multilabel


def test_dataset_strings_need_the_task_and_truth_may_be_unknown():
    column = pd.Series(["cat|fish", "dog", "", "cat|dog|fish"], index=[10, 11, 12, 13])
    with pytest.raises(ValueError, match="empty/missing label"):  # single-label by default
        Dataset(column)
    ds = Dataset(
        column,
        task="multilabel",
        true_labels=pd.Series([["cat"], None, [], ["dog"]], index=[10, 11, 12, 13]),
    )
    np.testing.assert_array_equal(ds.labels, MATRIX)
    assert ds.true_labels.dtype == np.int8 and (ds.true_labels[1] == -1).all()
    np.testing.assert_array_equal(ds.is_noisy, [True, False, False, True])
    assert ds.has_truth


def test_dataset_label_set_annotators():
    votes = np.array(
        [
            [[1, 0, 1], [-1, -1, -1]],
            [[0, 1, 0], [0, 1, 1]],
            [[0, 0, 0], [0, 0, 0]],
            [[1, 1, 1], [1, 0, 1]],
        ]
    )
    ds = Dataset(SETS, annotators=votes)
    assert ds.annotators.shape == (4, 2, 3) and (ds.annotators[0, 1] == -1).all()
    frame = pd.DataFrame({"ann": [[0, 2], [1], [], None], "bob": ["cat", None, "dog|fish", ""]})
    with pytest.raises(ValueError, match=r"annotators\['bob'\] holds class names not in"):
        check_label_set_annotators(frame, 4, ["0", "1", "2"])
    by_name = pd.DataFrame(
        {"ann": [["cat", "fish"], ["dog"], [], None], "bob": ["cat", None, "dog|fish", ""]}
    )
    out = check_label_set_annotators(by_name, 4, NAMES)
    np.testing.assert_array_equal(out[:, 0], [[1, 0, 1], [0, 1, 0], [0, 0, 0], [-1, -1, -1]])
    np.testing.assert_array_equal(out[:, 1], [[1, 0, 0], [-1, -1, -1], [0, 1, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"shape \(N=4, M, K=3\)"):
        Dataset(SETS, annotators=np.zeros((4, 3)))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"pred_probs": np.full((4, 3), 1.5)}, r"must lie in \[0, 1\]"),
        ({"pred_probs": np.full((4, 2), 0.5)}, "class index 2, outside 0..1"),
        ({"pred_probs": np.full((3, 3), 0.5)}, "3 rows but labels has 4"),
        ({"pred_probs": np.full((4, 3), 0.5), "class_names": ["a", "b"]}, "2 names"),
        ({"true_labels": [[0]]}, "1 label sets but labels has 4"),
    ],
)
def test_dataset_refuses_bad_multilabel_signals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dataset(SETS, **kwargs)
