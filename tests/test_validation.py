"""Tests of the input-validation helpers in workbench.core.validation."""

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.core.validation import (
    as_array,
    check_consistent_length,
    check_finite,
    check_labels,
    check_pred_probs,
    check_rng,
    check_transition,
)

# --- as_array --------------------------------------------------------------------------------


def test_as_array_accepts_numpy_torch_pandas_and_lists():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    for x in (
        expected,
        torch.tensor(expected),
        pd.DataFrame(expected),
        expected.tolist(),
    ):
        np.testing.assert_array_equal(as_array(x, "x"), expected)
    np.testing.assert_array_equal(as_array(pd.Series([1, 2]), "x"), [1, 2])


def test_as_array_detaches_torch_tensors_that_require_grad():
    t = torch.ones(3, requires_grad=True)
    assert as_array(t, "x").dtype == np.float32


@pytest.mark.parametrize(
    "bad, error",
    [(None, "is None"), ("abc", "found a str"), (b"abc", "found a bytes")],
)
def test_as_array_rejects_none_and_strings(bad, error):
    with pytest.raises(TypeError, match=error):
        as_array(bad, "features")


def test_as_array_rejects_object_arrays_naming_the_argument():
    with pytest.raises(TypeError, match="features has object dtype"):
        as_array(np.array([1, "a", None], dtype=object), "features")


# --- check_consistent_length / check_finite --------------------------------------------------


def test_check_consistent_length_names_every_length():
    assert check_consistent_length(a=[1, 2], b=np.zeros(2), c=None) == 2
    assert check_consistent_length() == 0
    with pytest.raises(ValueError, match=r"labels=3, pred_probs=2"):
        check_consistent_length(labels=[0, 1, 2], pred_probs=np.zeros((2, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_finite_reports_first_bad_position(bad):
    arr = np.zeros((3, 2))
    arr[2, 1] = bad
    with pytest.raises(
        ValueError, match=r"pred_probs contains NaN or infinity \(first at index \(2, 1\)\)"
    ):
        check_finite(arr, "pred_probs")
    check_finite(np.zeros(3), "ok")
    check_finite(np.arange(3), "integers are always finite")


# --- check_labels: good paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        [0, 2, 1, 2],
        np.array([0, 2, 1, 2], dtype=np.uint8),
        np.array([0.0, 2.0, 1.0, 2.0]),
        torch.tensor([0, 2, 1, 2]),
        pd.Series([0, 2, 1, 2]),
        pd.Series([0, 2, 1, 2], dtype="Int64"),
    ],
    ids=["list", "uint8", "integral-floats", "torch", "pandas", "pandas-Int64"],
)
def test_check_labels_integer_inputs(labels):
    codes, names = check_labels(labels)
    assert codes.dtype == np.int64
    np.testing.assert_array_equal(codes, [0, 2, 1, 2])
    assert names == ["0", "1", "2"]


def test_check_labels_n_classes_extends_default_names():
    _, names = check_labels([0, 1], n_classes=4)
    assert names == ["0", "1", "2", "3"]


@pytest.mark.parametrize(
    "labels",
    [
        ["cat", "dog", "cat"],
        np.array(["cat", "dog", "cat"]),
        pd.Series(["cat", "dog", "cat"]),
        pd.Series(["cat", "dog", "cat"], dtype="string"),
    ],
    ids=["list", "numpy", "pandas", "pandas-string"],
)
def test_check_labels_string_inputs_get_sorted_names(labels):
    codes, names = check_labels(labels)
    assert names == ["cat", "dog"]
    np.testing.assert_array_equal(codes, [0, 1, 0])


def test_check_labels_categorical_keeps_the_category_order():
    s = pd.Series(pd.Categorical(["cat", "dog", "cat", None], categories=["dog", "cat", "bird"]))
    codes, names = check_labels(s, allow_missing=True)
    assert names == ["dog", "cat", "bird"]
    np.testing.assert_array_equal(codes, [1, 0, 1, -1])
    codes, names = check_labels(pd.Series(["b", "a"], dtype="category"))
    assert names == ["a", "b"] and codes.tolist() == [1, 0]
    codes, names = check_labels(s[:3], class_names=["cat", "dog", "bird"])
    assert codes.tolist() == [0, 1, 0]


def test_check_labels_strings_follow_given_class_names():
    codes, names = check_labels(["dog", "cat", "bird"], class_names=["dog", "cat", "bird"])
    np.testing.assert_array_equal(codes, [0, 1, 2])
    assert names == ["dog", "cat", "bird"]


def test_check_labels_class_names_are_stringified():
    codes, names = check_labels([0, 1], class_names=[10, 20])
    assert names == ["10", "20"]


@pytest.mark.parametrize(
    "labels",
    [
        [0, -1, 1],
        [0, None, 1],
        [0.0, np.nan, 1.0],
        np.array([0.0, np.nan, 1.0]),
        pd.Series([0, None, 1], dtype="Int64"),
        pd.Series([0, None, 1], dtype=object),
        pd.Series([0.0, np.nan, 1.0]),
    ],
    ids=["-1", "None", "nan-list", "nan-numpy", "Int64-NA", "object-None", "float-nan"],
)
def test_check_labels_missing_integer_labels_become_minus_one(labels):
    codes, _ = check_labels(labels, allow_missing=True)
    np.testing.assert_array_equal(codes, [0, -1, 1])


@pytest.mark.parametrize(
    "labels",
    [["a", None, "b"], ["a", np.nan, "b"], pd.Series(["a", None, "b"]), ["a", "", "b"]],
    ids=["None", "nan", "pandas-None", "empty"],
)
def test_check_labels_missing_string_labels_become_minus_one(labels):
    codes, names = check_labels(labels, allow_missing=True)
    np.testing.assert_array_equal(codes, [0, -1, 1])
    assert names == ["a", "b"]


def test_check_labels_string_encoding_matches_a_python_lookup_at_scale():
    rng = np.random.default_rng(0)
    names = [f"class_{i}" for i in range(50)]
    idx = rng.integers(0, 50, size=20_000)
    codes, out_names = check_labels(np.asarray(names)[idx], class_names=names)
    np.testing.assert_array_equal(codes, idx)
    assert out_names == names


# --- check_labels: bad input ------------------------------------------------------------------


def test_check_labels_rejects_2d():
    with pytest.raises(
        ValueError, match=r"labels must be 1-D of shape \(N,\), found shape \(2, 1\)"
    ):
        check_labels(np.array([[0], [1]]))
    with pytest.raises(ValueError, match="must be 1-D"):
        check_labels(pd.DataFrame({"a": [0, 1]}))


def test_check_labels_rejects_bool():
    with pytest.raises(TypeError, match="found dtype bool"):
        check_labels(np.array([True, False]))
    with pytest.raises(TypeError, match="found bool value True"):
        check_labels([True, None])


def test_check_labels_rejects_non_integer_floats():
    with pytest.raises(TypeError, match="non-integer floats"):
        check_labels([0.5, 1.0])
    with pytest.raises(TypeError, match="non-integer floats"):
        check_labels([0.0, np.inf])


def test_check_labels_rejects_nan_without_allow_missing():
    with pytest.raises(ValueError, match="labels contains NaN at index 1"):
        check_labels([0.0, np.nan])
    with pytest.raises(ValueError, match="empty/missing label at index 1"):
        check_labels(["a", None])


def test_check_labels_rejects_negative_labels():
    with pytest.raises(ValueError, match="labels must be 0 or more, found -1 at index 1"):
        check_labels([0, -1])
    with pytest.raises(ValueError, match=r"or -1 for missing\), found -2 at index 2"):
        check_labels([0, -1, -2], allow_missing=True)


def test_check_labels_rejects_labels_beyond_k():
    with pytest.raises(ValueError, match=r"must lie in 0\.\.2 \(K=3, from n_classes\), found 3 at"):
        check_labels([0, 3], n_classes=3)
    with pytest.raises(ValueError, match=r"true_labels must lie in 0\.\.1"):
        check_labels([0, 5], name="true_labels", class_names=["a", "b"])


def test_check_labels_rejects_uint64_beyond_int64():
    big = np.array([0, np.iinfo(np.int64).max + 10], dtype=np.uint64)
    with pytest.raises(ValueError, match="beyond the int64 range"):
        check_labels(big)
    ok, _ = check_labels(np.array([0, 1], dtype=np.uint64))
    assert ok.dtype == np.int64


def test_check_labels_rejects_object_arrays_and_mixed_lists():
    with pytest.raises(TypeError, match="object dtype"):
        check_labels(np.array([0, "a"], dtype=object))
    with pytest.raises(TypeError, match="mixes class-name strings and numbers"):
        check_labels([0, "a", 1])
    with pytest.raises(TypeError, match="mixes class-name strings and numbers"):
        check_labels(pd.Series([0, "a"], dtype=object))
    with pytest.raises(TypeError, match="found dict value"):
        check_labels(pd.Series([{}, None], dtype=object))


def test_check_labels_rejects_unknown_and_duplicate_class_names():
    with pytest.raises(ValueError, match=r"names not in class_names: \['c'\]"):
        check_labels(["a", "c"], class_names=["a", "b"])
    with pytest.raises(ValueError, match="class_names has duplicates"):
        check_labels([0, 1], class_names=["a", "a"])
    with pytest.raises(ValueError, match="class_names has 2 names but there are 3 classes"):
        check_labels([0, 1], class_names=["a", "b"], n_classes=3)


def test_check_labels_lists_at_most_five_unknown_names():
    with pytest.raises(ValueError, match=r"\.\.\.; class_names are"):
        check_labels([str(i) for i in range(10)], class_names=["0"])


# --- check_pred_probs -------------------------------------------------------------------------


def test_check_pred_probs_good_inputs_become_float32():
    p = np.array([[0.9, 0.1], [0.3, 0.7]])
    for x in (p, torch.tensor(p), pd.DataFrame(p), p.tolist(), p.astype(np.float16)):
        out = check_pred_probs(x)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, p, atol=1e-3)
    np.testing.assert_array_equal(check_pred_probs(np.eye(2, dtype=int)), np.eye(2))


def test_check_pred_probs_dtype_option():
    assert check_pred_probs(np.eye(2), dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize(
    "bad, kwargs, error, match",
    [
        (np.ones(3) / 3, {}, ValueError, r"2-D of shape \(N, K\), found shape \(3,\)"),
        (np.ones((2, 1)), {}, ValueError, "at least 2 columns"),
        (np.ones((0, 2)), {}, ValueError, "has no rows"),
        (np.eye(2) + 0j, {}, TypeError, "real numbers, found dtype complex128"),
        (np.array([[True, False], [False, True]]), {}, TypeError, "found dtype bool"),
        (np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "found dtype <U1"),
        (np.eye(2), {"n_samples": 3}, ValueError, "has 2 rows but labels has 3 samples"),
        (np.eye(2), {"n_classes": 3}, ValueError, "has 2 columns but there are 3 classes"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), {}, ValueError, "NaN or infinity"),
        (np.array([[np.inf, 0.0], [0.5, 0.5]]), {}, ValueError, "NaN or infinity"),
        (
            np.array([[1.5, -0.5], [0.5, 0.5]]),
            {},
            ValueError,
            r"lie in \[0, 1\], found values in \[-0.5, 1.5\]",
        ),
        (
            np.array([[0.5, 0.4], [0.5, 0.5]]),
            {},
            ValueError,
            "row 0 sums to 0.9 .*renormalize=True",
        ),
        (np.array([[0.0, 0.0], [0.5, 0.5]]), {"renormalize": True}, ValueError, "row summing to 0"),
    ],
)
def test_check_pred_probs_rejects(bad, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_pred_probs(bad, **kwargs)


def test_check_pred_probs_renormalize_fixes_rows():
    p = np.array([[0.5, 0.4], [0.2, 0.2], [0.3, 0.7]])
    out = check_pred_probs(p, renormalize=True)
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(out[0], [5 / 9, 4 / 9], rtol=1e-6)
    np.testing.assert_allclose(out[2], [0.3, 0.7], rtol=1e-6)


def test_check_pred_probs_tolerates_float16_rounding():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=100).astype(np.float16)
    out = check_pred_probs(p)
    assert out.shape == (100, 10)


# --- check_rng --------------------------------------------------------------------------------


def test_check_rng_is_reproducible_and_passes_generators_through():
    assert check_rng(3).random() == check_rng(3).random()
    g = np.random.default_rng(1)
    assert check_rng(g) is g
    assert isinstance(check_rng(None), np.random.Generator)
    assert check_rng(np.int64(5)).random() == check_rng(5).random()


@pytest.mark.parametrize(
    "bad, error", [(1.5, TypeError), ("0", TypeError), (True, TypeError), (-1, ValueError)]
)
def test_check_rng_rejects(bad, error):
    with pytest.raises(error, match="seed"):
        check_rng(bad)


# --- check_transition -------------------------------------------------------------------------


def test_check_transition_accepts_row_stochastic_matrices():
    t = np.array([[0.9, 0.1], [0.25, 0.75]])
    for x in (t, torch.tensor(t), pd.DataFrame(t), t.tolist(), t.astype(np.float32)):
        out = check_transition(x, n_classes=2)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, t, rtol=1e-6)
        np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-12)


@pytest.mark.parametrize(
    "bad, kwargs, error, match",
    [
        (np.ones(3) / 3, {}, ValueError, r"square \(K, K\) matrix, found shape \(3,\)"),
        (np.ones((2, 3)) / 3, {}, ValueError, r"square \(K, K\) matrix, found shape \(2, 3\)"),
        (np.ones((1, 1)), {}, ValueError, "at least 2×2"),
        (np.eye(2), {"n_classes": 3}, ValueError, r"shape \(2, 2\) but there are 3 classes"),
        (np.eye(2, dtype=bool), {}, TypeError, "real numbers, found dtype bool"),
        (np.array([[1.0, np.inf], [0, 1]]), {}, ValueError, "NaN or infinity"),
        (np.array([[1.1, -0.1], [0, 1]]), {}, ValueError, r"non-negative, found -0\.1 at \(0, 1\)"),
        (np.array([[0.5, 0.3], [0.5, 0.5]]), {}, ValueError, r"row 0 sums to 0\.8\.$"),
        (np.array([[0.9, 0.2], [0.1, 0.8]]), {}, ValueError, "noise_matrix is the transpose"),
    ],
)
def test_check_transition_rejects(bad, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_transition(bad, **kwargs)
