"""Tests of the bundled datasets: Gaussian mixtures, the digits demo, the real label errors."""

import json
import shutil
from importlib import resources

import numpy as np
import pytest
from sklearn.datasets import load_digits

from workbench import noise as nz
from workbench.core.dataset import Dataset
from workbench.noise.datasets import (
    DEMO_NOISE_KINDS,
    LABEL_ERROR_SETS,
    load_demo,
    load_label_errors,
    load_label_errors_dir,
    make_gaussian_mixture,
)

SHARED = "/work/shared/data/label-errors"

# --- Gaussian mixtures ------------------------------------------------------------------------


def test_gaussian_mixture_shapes_dtypes_and_reproducibility():
    x, y = make_gaussian_mixture(5000, 4, 16, seed=0)
    assert x.shape == (5000, 16) and x.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1, 2, 3}
    x2, y2 = make_gaussian_mixture(5000, 4, 16, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = make_gaussian_mixture(5000, 4, 16, seed=1)
    assert not np.array_equal(x, x3)


def test_gaussian_mixture_geometry():
    x, y, centers = make_gaussian_mixture(
        40_000, 5, 10, separation=4.0, seed=3, return_centers=True
    )
    d = np.linalg.norm(centers[:, None] - centers[None], axis=2)
    np.testing.assert_allclose(d[~np.eye(5, dtype=bool)], 4.0)  # K <= D: exactly separation apart
    for c in range(5):
        np.testing.assert_allclose(x[y == c].mean(axis=0), centers[c], atol=0.06)
        np.testing.assert_allclose(x[y == c].std(axis=0), 1.0, atol=0.05)
    # K > D: random directions, still about separation apart on average.
    _, _, many = make_gaussian_mixture(10, 50, 200, separation=3.0, seed=0, return_centers=True)
    far = np.linalg.norm(many[:, None] - many[None], axis=2)[~np.eye(50, dtype=bool)]
    assert abs(far.mean() - 3.0) < 0.2


def test_gaussian_mixture_separation_controls_difficulty():
    from sklearn.linear_model import LogisticRegression

    scores = []
    for sep in (0.5, 6.0):
        x, y = make_gaussian_mixture(3000, 3, 5, separation=sep, seed=0)
        scores.append(
            LogisticRegression(max_iter=500).fit(x[:2000], y[:2000]).score(x[2000:], y[2000:])
        )
    assert scores[0] < 0.6 < 0.95 < scores[1]


def test_gaussian_mixture_class_weights():
    _, y = make_gaussian_mixture(50_000, 3, 2, class_weights=[1, 2, 7], seed=0)
    np.testing.assert_allclose(np.bincount(y) / 50_000, [0.1, 0.2, 0.7], atol=0.01)


@pytest.mark.slow
def test_gaussian_mixture_a_million_samples():
    x, y = make_gaussian_mixture(1_000_000, 100, 32, seed=0)
    assert x.shape == (1_000_000, 32) and x.dtype == np.float32
    assert np.bincount(y, minlength=100).min() > 9000
    assert np.isfinite(x).all()


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((0, 2, 2), {}, "n_samples must be an int >= 1"),
        ((10, 1, 2), {}, "n_classes must be an int >= 2"),
        ((10, 2, 0), {}, "n_features must be an int >= 1"),
        ((10.0, 2, 2), {}, "n_samples must be an int"),
        ((10, 2, 2), {"separation": -1}, "separation must be a non-negative number"),
        ((10, 2, 2), {"class_weights": [1, 2, 3]}, "class_weights must be K=2"),
        ((10, 2, 2), {"class_weights": [-1, 2]}, "class_weights must be K=2"),
    ],
)
def test_gaussian_mixture_rejects(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_gaussian_mixture(*args, seed=0, **kwargs)


# --- the digits demo --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_load_demo_default(digits):
    ds = load_demo()
    assert isinstance(ds, Dataset)
    assert (ds.n_samples, ds.n_classes) == (1797, 10)
    assert ds.class_names == [str(i) for i in range(10)]
    np.testing.assert_array_equal(ds.true_labels, digits.target)
    np.testing.assert_allclose(ds.features, digits.data / 16.0, rtol=1e-6)
    assert ds.features.min() >= 0 and ds.features.max() <= 1
    assert ds.previews.shape == (1797, 8, 8) and ds.previews.dtype == np.uint8
    assert ds.previews.max() == 255
    np.testing.assert_array_equal(ds.previews[5] == 0, digits.images[5] == 0)
    meta = ds.metadata
    np.testing.assert_array_equal(meta["digit_index"], np.arange(1797))
    np.testing.assert_array_equal(meta["is_noisy"], ds.is_noisy)
    assert abs(ds.is_noisy.mean() - 0.2) < 0.04
    info = meta.attrs["noise"]
    assert info["kind"] == "symmetric" and info["rate"] == 0.2
    np.testing.assert_allclose(
        info["transition"], nz.realised_transition(ds.true_labels, ds.labels)
    )
    np.testing.assert_array_equal(load_demo().labels, ds.labels)  # seed=0 by default
    assert not np.array_equal(load_demo(seed=1).labels, ds.labels)


@pytest.mark.parametrize(
    "kind", [k for k in DEMO_NOISE_KINDS if k not in ("open_set", "annotators")]
)
def test_load_demo_class_conditional_and_instance_kinds(kind):
    ds = load_demo(kind, rate=0.3, seed=2)
    assert ds.n_samples == 1797
    expected = 0.0 if kind == "none" else 0.3
    assert abs(ds.is_noisy.mean() - expected) < 0.05
    if kind == "pair":
        f = ds.is_noisy
        np.testing.assert_array_equal(ds.labels[f], (ds.true_labels[f] + 1) % 10)


def test_load_demo_instance_noise_flips_to_look_alikes():
    ds = load_demo("instance", rate=0.2, seed=0)
    x, y = ds.features, ds.true_labels
    centers = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    d = np.linalg.norm(x[:, None] - centers[None], axis=2)
    d[np.arange(len(y)), y] = np.inf
    f = ds.is_noisy
    # Flips favour the nearest other digit: far more often than the 1 in 9 of a uniform choice.
    assert (ds.labels[f] == d.argmin(axis=1)[f]).mean() > 0.35


def test_load_demo_open_set():
    ds = load_demo("open_set", rate=0.2, seed=0)
    info = ds.metadata.attrs["noise"]
    outside = info["outside_digits"]
    assert ds.n_classes == 8 and not set(outside) & set(ds.class_names)
    is_open = ds.metadata["is_noisy"].to_numpy()
    assert abs(is_open.mean() - 0.2) < 0.01
    np.testing.assert_array_equal(ds.true_labels == -1, is_open)
    assert set(ds.metadata.loc[is_open, "true_digit"]) == set(outside)
    # Every image of a kept digit is there, with its true label.
    assert (~is_open).sum() == np.isin(load_digits().target, [int(c) for c in ds.class_names]).sum()


def test_load_demo_annotators():
    ds = load_demo("annotators", rate=0.3, seed=0)
    assert ds.has("annotators") and ds.annotators.shape == (1797, 5)
    np.testing.assert_array_equal((ds.annotators >= 0).sum(axis=1), 3)
    assert sum(ds.metadata.attrs["noise"]["is_spammer"]) == 1
    assert 0 < ds.is_noisy.mean() < 0.3  # the majority vote is better than one annotator


def test_load_demo_transition_matrix_and_long_tail():
    t = nz.random_transition_matrix(10, 8.0, seed=0)
    ds = load_demo(t, seed=0)
    assert ds.metadata.attrs["noise"]["kind"] == "transition"
    assert abs(ds.is_noisy.mean() - 0.2) < 0.05
    lt = load_demo("symmetric", rate=0.1, seed=0, imbalance_ratio=10)
    counts = np.bincount(lt.true_labels, minlength=10)
    assert counts[0] / counts[9] == pytest.approx(10, rel=0.1)
    np.testing.assert_array_equal(
        lt.previews, load_demo("none").previews[lt.metadata["digit_index"]]
    )


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("gaussian",), {}, ValueError, "Unknown noise kind 'gaussian'"),
        (("symmetric", 1.0), {}, ValueError, r"rate must lie in \[0, 1\)"),
        ((np.eye(3),), {}, ValueError, r"noise has shape \(3, 3\) but there are 10 classes"),
        (("symmetric",), {"imbalance_ratio": 0.5}, ValueError, "imbalance_ratio must be"),
    ],
)
def test_load_demo_rejects(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_demo(*args, **kwargs)


# --- real label errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, n, k, n_reviewed, n_confirmed",
    [("mnist", 10_000, 10, 100, 15), ("20news", 7_532, 20, 93, 82)],
)
def test_load_label_errors(name, n, k, n_reviewed, n_confirmed):
    le = load_label_errors(name)
    ds = le.dataset
    assert (ds.n_samples, ds.n_classes) == (n, k)
    np.testing.assert_allclose(ds.pred_probs.sum(axis=1), 1, atol=1e-5)
    assert len(le.candidates) == n_reviewed
    assert len(le.confirmed_errors) == n_confirmed
    assert le.is_confirmed.sum() == n_confirmed and le.is_reviewed.sum() == n_reviewed
    assert (le.candidates["votes_given"][le.candidates["confirmed"]] < 3).all()
    np.testing.assert_array_equal(ds.labels[le.candidates["index"]], le.candidates["given_label"])
    np.testing.assert_array_equal(ds.metadata["confirmed_error"], le.is_confirmed)
    np.testing.assert_array_equal(ds.metadata["reviewed"], le.is_reviewed)
    assert ds.true_labels is None  # unreviewed samples are unknown, not clean
    # The same as reading the source files directly.
    raw = np.load(f"{SHARED}/{name}_test_set_pyx.npy", allow_pickle=False).astype(np.float64)
    np.testing.assert_allclose(ds.pred_probs, raw / raw.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(
        ds.labels, np.load(f"{SHARED}/{name}_test_set_original_labels.npy")
    )
    assert name in repr(le)


def test_label_error_class_names():
    assert load_label_errors("mnist").dataset.class_names == [str(i) for i in range(10)]
    names = load_label_errors("20news").dataset.class_names
    assert (
        names[0] == "alt.atheism"
        and names[6] == "misc.forsale"
        and names[19] == "talk.religion.misc"
    )
    assert len(set(names)) == 20


def test_label_errors_ship_with_the_package():
    folder = resources.files("workbench") / "data" / "label_errors"
    shipped = {p.name for p in folder.iterdir()}
    assert {"LICENSE", "ATTRIBUTION.md"} <= shipped
    for name in LABEL_ERROR_SETS:
        assert {
            f"{name}_test_set_pyx.npy",
            f"{name}_test_set_original_labels.npy",
            f"{name}_mturk.json",
        } <= shipped
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "Pervasive Label Errors" in (folder / "ATTRIBUTION.md").read_text()


def test_load_label_errors_rejects_unknown_names():
    with pytest.raises(
        ValueError, match=r"Unknown label-error set 'cifar'; choose from \('mnist', '20news'\)"
    ):
        load_label_errors("cifar")


def _copy_set(tmp_path, name="mnist"):
    for part in ("test_set_pyx.npy", "test_set_original_labels.npy", "mturk.json"):
        shutil.copy(f"{SHARED}/{name}_{part}", tmp_path / f"{name}_{part}")
    return tmp_path


def test_load_label_errors_dir_reads_any_folder(tmp_path):
    le = load_label_errors_dir(_copy_set(tmp_path), "mnist")
    assert len(le.confirmed_errors) == 15


def test_load_label_errors_dir_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_label_errors_dir(tmp_path / "nope", "mnist")
    _copy_set(tmp_path)
    (tmp_path / "mnist_mturk.json").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"missing \['mnist_mturk.json'\]. Sets found there: \['mnist'\]"
    ):
        load_label_errors_dir(tmp_path, "mnist")
    with pytest.raises(FileNotFoundError, match="'imagenet' is incomplete"):
        load_label_errors_dir(tmp_path, "imagenet")


def _write_set(tmp_path, pyx, labels, records, name="toy"):
    np.save(tmp_path / f"{name}_test_set_pyx.npy", pyx)
    np.save(tmp_path / f"{name}_test_set_original_labels.npy", labels)
    (tmp_path / f"{name}_mturk.json").write_text(
        records if isinstance(records, str) else json.dumps(records)
    )
    return tmp_path


def _record(idx, given, guessed, votes_given):
    return {"id": idx, "given_original_label": given, "our_guessed_label": guessed,
            "mturk": {"given": votes_given, "guessed": 5 - votes_given, "neither": 0}}  # fmt: skip


def test_load_label_errors_dir_small_valid_set(tmp_path):
    pyx = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=np.float16)
    labels = np.array([0, 1, 1, 1], dtype=np.uint16)
    le = load_label_errors_dir(
        _write_set(tmp_path, pyx, labels, [_record(2, 1, 0, 1), _record(3, 1, 0, 4)]), "toy"
    )
    np.testing.assert_array_equal(le.confirmed_errors, [2])
    assert le.dataset.class_names == ["0", "1"]  # names not given in the records
    np.testing.assert_array_equal(le.dataset.metadata["guessed_label"], [-1, -1, 0, 0])


@pytest.mark.parametrize(
    "pyx, labels, records, match",
    [
        (np.ones(4), np.zeros(4, int), [], r"expected an N×K array"),
        (np.eye(2)[[0, 1, 0, 1]], np.array([0.0, 1, 0, 1]), [], "expected N integer labels"),
        (
            np.eye(2)[[0, 1, 0, 1]],
            np.array([0, 1, 0]),
            [],
            "malformed: pred_probs has 4 rows but labels has 3",
        ),
        (
            np.eye(2)[[0, 1, 0, 1]],
            np.array([0, 1, 0, 5]),
            [],
            r"malformed: labels must lie in 0\.\.1",
        ),
        (
            np.eye(2)[[0, 1, 0, 1]],
            np.array([0, 1, 0, 1]),
            {"id": 1},
            "expected a list of reviewed candidates",
        ),
        (np.eye(2)[[0, 1, 0, 1]], np.array([0, 1, 0, 1]), "{not json", "not valid JSON"),
        (np.eye(2)[[0, 1, 0, 1]], np.array([0, 1, 0, 1]), [{"id": 1}], "record 0 is malformed"),
        (
            np.eye(2)[[0, 1, 0, 1]],
            np.array([0, 1, 0, 1]),
            [_record(9, 0, 1, 1)],
            r"id 9 outside 0\.\.3",
        ),
        (
            np.eye(2)[[0, 1, 0, 1]],
            np.array([0, 1, 0, 1]),
            [_record(1, 0, 1, 1)],
            "do not belong together",
        ),
        (
            np.eye(2)[[0, 1, 0, 1]],
            np.array([0, 1, 0, 1]),
            [_record(1, 1, 7, 1)],
            r"guesses class 7",
        ),
        (
            np.eye(2)[[0, 1, 0, 1]],
            np.array([0, 1, 0, 1]),
            [_record(1, 1, 0, 1)] * 2,
            "more than once",
        ),
    ],
)
def test_load_label_errors_dir_malformed(tmp_path, pyx, labels, records, match):
    with pytest.raises(ValueError, match=match):
        load_label_errors_dir(_write_set(tmp_path, pyx, labels, records), "toy")


def test_load_label_errors_dir_never_unpickles(tmp_path):
    _write_set(tmp_path, np.eye(2), np.array([0, 1]), [])
    np.save(
        tmp_path / "toy_test_set_pyx.npy",
        np.array([{"a": 1}, None], dtype=object),
        allow_pickle=True,
    )
    with pytest.raises(ValueError, match="not a plain numeric .npy array"):
        load_label_errors_dir(tmp_path, "toy")
    (tmp_path / "toy_test_set_pyx.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="toy_test_set_pyx.npy"):
        load_label_errors_dir(tmp_path, "toy")


def test_docstring_examples_run():
    import doctest

    import workbench.noise.datasets

    result = doctest.testmod(workbench.noise.datasets)
    assert result.attempted >= 5 and result.failed == 0
