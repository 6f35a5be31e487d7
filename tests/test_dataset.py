"""Tests of the Dataset model: every malformed input is rejected naming the argument, and the
good paths (numpy / torch / pandas, string labels, annotators with gaps) work."""

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.core.dataset import SIGNALS, TRAJECTORY_KINDS, Dataset, EmptyClassWarning

LABELS = [0, 1, 2, 1]
PROBS = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])


# --- bad input: one test per rule -------------------------------------------------------------


def test_rejects_two_dimensional_labels():
    with pytest.raises(
        ValueError, match=r"labels must be 1-D of shape \(N,\), found shape \(4, 1\)"
    ):
        Dataset(np.array(LABELS).reshape(-1, 1))


def test_rejects_pred_probs_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"pred_probs.*2-D \(N, K\), found shape \(4,\)"):
        Dataset(LABELS, pred_probs=np.ones(4) / 4)


def test_rejects_features_and_coords_of_the_wrong_shape():
    with pytest.raises(
        ValueError, match=r"features must be 2-D of shape \(N, D\), found shape \(4,\)"
    ):
        Dataset(LABELS, features=np.ones(4))
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\), found \(4, 3\)"):
        Dataset(LABELS, coords=np.ones((4, 3)))


def test_rejects_non_numeric_features():
    with pytest.raises(TypeError, match="features must be real numbers"):
        Dataset(LABELS, features=np.full((4, 2), "x"))
    with pytest.raises(TypeError, match="features must be real numbers, found dtype complex128"):
        Dataset(LABELS, features=np.ones((4, 2)) + 1j)
    with pytest.raises(TypeError, match="coords must be real numbers, found dtype bool"):
        Dataset(LABELS, coords=np.ones((4, 2), dtype=bool))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pred_probs": PROBS[:3]}, "pred_probs has 3 rows but labels has 4 samples"),
        ({"features": np.ones((5, 2))}, "labels=4, features=5"),
        ({"coords": np.ones((3, 2))}, "labels=4, coords=3"),
        ({"true_labels": [0, 1, 2]}, "labels=4, true_labels=3"),
        ({"previews": ["a", "b"]}, "labels=4, previews=2"),
        ({"metadata": pd.DataFrame({"a": range(5)})}, "labels=4, metadata=5"),
        ({"annotators": np.zeros((3, 2), dtype=int)}, "annotators has 3 rows but labels has 4"),
    ],
)
def test_rejects_lengths_that_disagree(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dataset(LABELS, **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("arg", ["pred_probs", "features", "coords"])
def test_rejects_nan_and_inf(arg, bad):
    arr = PROBS.copy() if arg == "pred_probs" else np.ones((4, 2 if arg == "coords" else 3))
    arr[1, 0] = bad
    with pytest.raises(
        ValueError, match=rf"{arg} contains NaN or infinity \(first at index \(1, 0\)\)"
    ):
        Dataset(LABELS, **{arg: arr})


def test_rejects_nan_in_trajectories():
    loss = np.ones((4, 3))
    loss[2, 2] = np.nan
    with pytest.raises(ValueError, match=r"trajectories\['loss'\] contains NaN"):
        Dataset(LABELS, trajectories={"loss": loss})


def test_rejects_probabilities_outside_0_1():
    bad = PROBS.copy()
    bad[0] = [1.2, -0.1, -0.1]
    with pytest.raises(ValueError, match=r"pred_probs must lie in \[0, 1\]"):
        Dataset(LABELS, pred_probs=bad)


def test_rejects_rows_not_summing_to_one_and_renormalize_fixes_them():
    off = PROBS * 0.9
    with pytest.raises(ValueError, match="rows must sum to 1.*renormalize=True"):
        Dataset(LABELS, pred_probs=off)
    ds = Dataset(LABELS, pred_probs=off, renormalize=True)
    np.testing.assert_allclose(ds.pred_probs, PROBS, rtol=1e-6)
    np.testing.assert_allclose(ds.pred_probs.sum(axis=1), 1, atol=1e-6)


def test_rejects_labels_outside_0_to_k_minus_1():
    with pytest.raises(
        ValueError, match=r"labels must lie in 0\.\.2 \(K=3, from the 3 columns of pred_probs\)"
    ):
        Dataset([0, 1, 3, 2], pred_probs=PROBS)
    with pytest.raises(ValueError, match=r"labels must be 0 or more, found -1"):
        Dataset([0, 1, -1, 2])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1"):
        Dataset([0, 1, 2], class_names=["a", "b"])


def test_classes_with_no_samples_are_accepted_with_a_warning():
    with pytest.warns(EmptyClassWarning, match=r"Classes with no samples in labels: \['2'\]"):
        ds = Dataset([0, 1, 1, 0], pred_probs=PROBS)
    assert ds.n_classes == 3 and ds.pred_probs.shape == (4, 3)
    with pytest.warns(EmptyClassWarning, match=r"Classes with no samples in labels: \['c'\]"):
        Dataset(["a", "b"], class_names=["a", "b", "c"])


def test_rejects_fewer_than_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes, found K=1"):
        Dataset([0, 0, 0])
    with pytest.raises(ValueError, match=r"pred_probs must have at least 2 columns \(one per"):
        Dataset([0, 0], pred_probs=np.ones((2, 1)))


def test_rejects_fewer_than_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples, found 1"):
        Dataset([0])
    with pytest.raises(ValueError, match="at least 2 samples, found 0"):
        Dataset([])


def test_rejects_unknown_class_names():
    with pytest.raises(ValueError, match=r"labels has names not in class_names: \['zebra'\]"):
        Dataset(["cat", "zebra"], class_names=["cat", "dog"])
    with pytest.raises(ValueError, match="class_names has duplicates"):
        Dataset([0, 1], class_names=["cat", "cat"])
    with pytest.raises(ValueError, match="pred_probs has 2 columns but class_names has 3 names"):
        Dataset([0, 1], class_names=["a", "b", "c"], pred_probs=np.eye(2))


def test_rejects_uint64_beyond_int64():
    big = np.array([0, 1, np.iinfo(np.uint64).max], dtype=np.uint64)
    with pytest.raises(ValueError, match="labels has values beyond the int64 range"):
        Dataset(big)


def test_rejects_object_arrays():
    with pytest.raises(TypeError, match="labels has object dtype"):
        Dataset(np.array([0, 1, "a"], dtype=object))
    with pytest.raises(TypeError, match="features has object dtype"):
        Dataset([0, 1], features=np.array([[1, None], [2, 3]], dtype=object))
    with pytest.raises(TypeError, match="labels mixes class-name strings and numbers"):
        Dataset([0, "cat", 1])


def test_rejects_bool_and_fractional_labels():
    with pytest.raises(TypeError, match="found dtype bool"):
        Dataset([True, False])
    with pytest.raises(TypeError, match="non-integer floats"):
        Dataset([0.5, 1.0])


@pytest.mark.parametrize(
    "trajectories, error, match",
    [
        (np.ones((4, 3)), TypeError, "trajectories must be a dict of kind"),
        ({"accuracy": np.ones((4, 3))}, ValueError, "trajectories has an unknown kind 'accuracy'"),
        (
            {"loss": np.ones((3, 3))},
            ValueError,
            r"trajectories\['loss'\] must have shape \(N=4, E>=1\), found \(3, 3\)",
        ),
        ({"loss": np.ones((4, 0))}, ValueError, r"must have shape \(N=4, E>=1\)"),
        ({"loss": np.ones(4)}, ValueError, r"must have shape \(N=4, E>=1\), found \(4,\)"),
        (
            {"loss": np.ones((4, 3)), "margin": np.ones((4, 2))},
            ValueError,
            "disagree on the number of epochs",
        ),
        (
            {"given_prob": np.full((4, 3), 1.5)},
            ValueError,
            r"trajectories\['given_prob'\] must lie in \[0, 1\]",
        ),
        (
            {"predicted": np.full((4, 3), 7)},
            ValueError,
            r"trajectories\['predicted'\] must lie in 0\.\.2",
        ),
        ({"predicted": np.full((4, 3), 0.5)}, TypeError, "non-integer floats"),
        ({"loss": np.full((4, 3), "x")}, TypeError, r"trajectories\['loss'\] must be real numbers"),
    ],
)
def test_rejects_bad_trajectories(trajectories, error, match):
    with pytest.raises(error, match=match):
        Dataset(LABELS, trajectories=trajectories)


@pytest.mark.parametrize(
    "annotators, error, match",
    [
        (
            np.zeros(4, dtype=int),
            ValueError,
            r"annotators must be 2-D of shape \(N, M\), found shape \(4,\)",
        ),
        (np.zeros((4, 0), dtype=int), ValueError, "at least one column"),
        (np.full((4, 2), 5), ValueError, r"annotators\[:, 0\] must lie in 0\.\.2"),
        (
            np.full((4, 2), -2),
            ValueError,
            r"annotators\[:, 0\] must be 0 or more \(or -1 for missing\)",
        ),
        (np.full((4, 2), 0.5), TypeError, "non-integer floats"),
        ([[0, 1], [0], [1, 1], [2, 2]], ValueError, "rows of equal length"),
        (
            pd.DataFrame({"ann": [0, 1, 9, 1]}),
            ValueError,
            r"annotators\['ann'\] must lie in 0\.\.2",
        ),
        ([["a", "b"]] * 4, ValueError, r"annotators\[:, 0\] has names not in class_names"),
    ],
)
def test_rejects_bad_annotators(annotators, error, match):
    with pytest.raises(error, match=match):
        Dataset(LABELS, annotators=annotators)


def test_rejects_bad_pred_probs_dicts():
    with pytest.raises(ValueError, match="pred_probs is an empty dict"):
        Dataset(LABELS, pred_probs={})
    with pytest.raises(ValueError, match="pred_probs models disagree on K"):
        Dataset(LABELS, pred_probs={"a": PROBS, "b": np.ones((4, 4)) / 4})
    with pytest.raises(ValueError, match=r"pred_probs\['b'\] rows must sum to 1"):
        Dataset(LABELS, pred_probs={"a": PROBS, "b": PROBS * 0.5})


def test_rejects_bad_true_labels_and_metadata():
    with pytest.raises(ValueError, match=r"true_labels must lie in 0\.\.2"):
        Dataset(LABELS, true_labels=[0, 1, 2, 3])
    with pytest.raises(TypeError, match="metadata must be a pandas DataFrame, found dict"):
        Dataset(LABELS, metadata={"a": [1, 2, 3, 4]})


# --- good paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "convert",
    [
        lambda x: np.asarray(x),
        lambda x: torch.tensor(np.asarray(x)),
        lambda x: pd.Series(list(x)) if np.ndim(x) == 1 else pd.DataFrame(x),
    ],
    ids=["numpy", "torch", "pandas"],
)
def test_accepts_numpy_torch_and_pandas(convert):
    feats = np.arange(8, dtype=np.float64).reshape(4, 2)
    ds = Dataset(
        convert(LABELS),
        pred_probs=convert(PROBS),
        features=convert(feats),
        coords=convert(feats),
        true_labels=convert([0, 1, 2, 2]),
        annotators=convert(np.array([[0, 1], [1, -1], [2, 2], [1, 0]])),
        trajectories={
            "loss": convert(feats),
            "predicted": convert(np.array([[0, 1], [1, 1], [2, 2], [0, 1]])),
        },
    )
    np.testing.assert_array_equal(ds.labels, LABELS)
    assert ds.labels.dtype == np.int64
    assert ds.pred_probs.dtype == np.float32 and ds.features.dtype == np.float32
    np.testing.assert_allclose(ds.pred_probs, PROBS, rtol=1e-6)
    assert ds.trajectories["predicted"].dtype == np.int32
    assert (ds.n_samples, ds.n_classes, len(ds)) == (4, 3, 4)
    np.testing.assert_array_equal(ds.is_noisy, [False, False, False, True])
    assert ds.has_truth


def test_string_labels_with_class_names():
    ds = Dataset(["dog", "cat", "dog", "bird"], class_names=["cat", "dog", "bird"])
    np.testing.assert_array_equal(ds.labels, [1, 0, 1, 2])
    assert ds.class_names == ["cat", "dog", "bird"]
    ds2 = Dataset(["dog", "cat", "dog", "bird"])
    assert ds2.class_names == ["bird", "cat", "dog"]
    ds3 = Dataset(["dog", "cat"], true_labels=["cat", None], class_names=["cat", "dog"])
    np.testing.assert_array_equal(ds3.true_labels, [0, -1])
    np.testing.assert_array_equal(ds3.is_noisy, [True, False])


def test_string_labels_with_pred_probs_order_columns_by_class_names():
    ds = Dataset(["b", "a", "c", "a"], class_names=["a", "b", "c"], pred_probs=PROBS)
    np.testing.assert_array_equal(ds.labels, [1, 0, 2, 0])


@pytest.mark.parametrize(
    "annotators",
    [
        np.array([[0, -1], [1, 1], [-1, 2], [1, 0]]),
        np.array([[0, np.nan], [1, 1], [np.nan, 2], [1, 0]]),
        [[0, None], [1, 1], [None, 2], [1, 0]],
        pd.DataFrame({"ann1": [0, 1, None, 1], "ann2": [None, 1, 2, 0]}),
        pd.DataFrame({"ann1": pd.array([0, 1, None, 1], dtype="Int64"), "ann2": [np.nan, 1, 2, 0]}),
        [["a", None], ["b", "b"], [None, "c"], ["b", "a"]],
        pd.DataFrame({"x": ["a", "b", None, "b"], "y": [None, "b", "c", "a"]}),
    ],
    ids=["minus1", "nan", "none-list", "frame-none", "frame-Int64", "strings", "frame-strings"],
)
def test_annotators_with_missing_entries(annotators):
    ds = Dataset(["a", "b", "c", "b"], annotators=annotators)
    np.testing.assert_array_equal(ds.annotators, [[0, -1], [1, 1], [-1, 2], [1, 0]])
    assert ds.annotators.dtype == np.int64
    assert ds.has("annotators")


def test_pred_probs_ensemble_is_the_mean_and_keeps_each_model():
    other = np.roll(PROBS, 1, axis=1)
    ds = Dataset(LABELS, pred_probs={"m1": PROBS, "m2": other})
    np.testing.assert_allclose(ds.pred_probs, (PROBS + other) / 2, rtol=1e-6)
    assert list(ds.pred_probs_by_model) == ["m1", "m2"]
    assert ds.has("pred_probs_ensemble")
    assert not Dataset(LABELS, pred_probs=PROBS).has("pred_probs_ensemble")


def test_has_and_why_missing():
    ds = Dataset(LABELS, pred_probs=PROBS, trajectories={"loss": np.ones((4, 2))})
    assert ds.has("pred_probs") and ds.has("trajectories.loss")
    for missing in (
        "features",
        "coords",
        "annotators",
        "true_labels",
        "previews",
        "trajectories.margin",
    ):
        assert not ds.has(missing)
    assert ds.why_missing(["pred_probs", "trajectories.loss"]) is None
    msg = ds.why_missing(["pred_probs", "features", "coords"])
    assert msg.startswith("Needs features:") and "coords:" in msg and "pred_probs" not in msg
    assert SIGNALS["features"] in msg
    with pytest.raises(ValueError, match="Unknown signal 'nope'"):
        ds.has("nope")
    assert set(f"trajectories.{k}" for k in TRAJECTORY_KINDS) <= set(SIGNALS)


def test_is_noisy_needs_true_labels():
    ds = Dataset(LABELS)
    assert not ds.has_truth
    with pytest.raises(ValueError, match="is_noisy needs true_labels"):
        _ = ds.is_noisy
    unknown = Dataset(LABELS, true_labels=[-1, -1, -1, -1])
    assert not unknown.has_truth
    assert not unknown.is_noisy.any()


def test_with_signals_adds_and_replaces_without_touching_labels():
    ds = Dataset(["a", "b", "c", "b"], pred_probs=PROBS, true_labels=[0, 1, 2, 2])
    coords = np.zeros((4, 2))
    ds2 = ds.with_signals(coords=coords)
    assert ds2 is not ds and ds.coords is None
    np.testing.assert_array_equal(ds2.coords, coords)
    np.testing.assert_array_equal(ds2.labels, ds.labels)
    np.testing.assert_array_equal(ds2.pred_probs, ds.pred_probs)
    np.testing.assert_array_equal(ds2.true_labels, ds.true_labels)
    assert ds2.class_names == ["a", "b", "c"]
    ds3 = ds2.with_signals(pred_probs=None)
    assert not ds3.has("pred_probs") and ds3.has("coords")
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\)"):
        ds.with_signals(coords=np.zeros((4, 3)))
    ens = Dataset(LABELS, pred_probs={"m1": PROBS, "m2": PROBS}).with_signals(
        features=np.ones((4, 2))
    )
    assert list(ens.pred_probs_by_model) == ["m1", "m2"]


def test_to_frame():
    meta = pd.DataFrame({"file": ["a.png", "b.png", "c.png", "d.png"]}, index=[10, 11, 12, 13])
    ds = Dataset(["x", "y", "z", "y"], true_labels=["x", "y", "z", "z"], metadata=meta)
    df = ds.to_frame()
    assert list(df.columns) == ["id", "index", "label", "label_name", "true_label", "meta_file"]
    np.testing.assert_array_equal(df["index"], np.arange(4))
    assert df["label_name"].tolist() == ["x", "y", "z", "y"]
    assert df["true_label"].tolist() == [0, 1, 2, 2]
    assert df["meta_file"].tolist() == meta["file"].tolist()
    assert list(Dataset(LABELS).to_frame().columns) == ["id", "index", "label", "label_name"]


def test_previews_and_repr():
    imgs = np.zeros((4, 8, 8), dtype=np.uint8)
    ds = Dataset(LABELS, previews=imgs, pred_probs=PROBS)
    assert ds.has("previews")
    assert repr(ds) == "Dataset(N=4, K=3, signals=['pred_probs', 'previews'])"
