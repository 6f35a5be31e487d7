"""Messy and hostile input: each defect found by feeding the workbench what a careless or hostile
user would, and its siblings in the other readers. Every test failed before its fix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from workbench.cli import load_inputs, main
from workbench.compute.probe import cross_val_probs
from workbench.core.dataset import Dataset, EmptyClassWarning
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


# --- categorical labels --------------------------------------------------------------------------

CAT = pd.Categorical([2, 1, 1, 0, 0, 2], categories=[2, 1, 0])


@pytest.mark.parametrize(
    "labels",
    [CAT, pd.Series(CAT), pd.CategoricalIndex(CAT)],
    ids=["categorical", "series", "index"],
)
def test_categorical_labels_use_their_codes_and_categories(labels):
    ds = Dataset(labels, features=np.zeros((6, 2)))
    assert ds.class_names == ["2", "1", "0"]
    named = np.asarray(ds.class_names)[ds.labels]
    assert named.tolist() == ["2", "1", "1", "0", "0", "2"]  # every sample keeps its own value


def test_categorical_signals_map_by_category_name():
    truth = pd.Categorical([0, 1, 1, 0, 2, 2], categories=[0, 1, 2])  # another category order
    annot = pd.DataFrame({"ann": pd.Categorical([2, 1, None, 0, 0, 2], categories=[0, 2, 1])})
    ds = Dataset(CAT, features=np.zeros((6, 2)), true_labels=truth, annotators=annot)
    names = np.asarray(ds.class_names)
    assert names[ds.true_labels].tolist() == ["0", "1", "1", "0", "2", "2"]
    assert ds.annotators[:, 0].tolist() == [0, 1, -1, 2, 2, 0]
    # class_names given: categories are looked up by name
    ds = Dataset(CAT, class_names=["0", "1", "2"], features=np.zeros((6, 2)))
    assert ds.labels.tolist() == [2, 1, 1, 0, 0, 2]


def test_categorical_labels_refused_clearly():
    with pytest.raises(
        ValueError, match=r"labels is categorical with 3 categories but there are 4"
    ):
        Dataset(CAT, pred_probs=np.full((6, 4), 0.25))
    with pytest.raises(ValueError, match=r"labels has names not in class_names: \['2'\]"):
        Dataset(CAT, class_names=["0", "1"])
    with pytest.raises(ValueError, match="labels has an empty/missing label at index 1"):
        Dataset(pd.Categorical(["a", None, "b"]))


# --- pandas inputs align on their index ----------------------------------------------------------


def _frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    y[:3] = [0, 1, 2]
    df = pd.DataFrame({"label": y, "f0": y * 10.0 + rng.random(n), "f1": rng.random(n)})
    df.index = [f"s{i}" for i in range(n)]
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), y] = 0.8
    return df, pd.DataFrame(probs, index=df.index)


def test_shuffled_pandas_labels_meet_their_own_rows():
    df, probs = _frame()
    labels = df["label"].sample(frac=1, random_state=1)
    annot = df[["label"]].rename(columns={"label": "a"}).iloc[::-1]
    traj = pd.DataFrame({"e0": df["label"] * 1.0, "e1": df["label"] * 2.0}).sample(frac=1)
    ds = Dataset(
        labels,
        features=df[["f0", "f1"]],
        pred_probs={"m1": probs, "m2": probs.iloc[::-1]},
        coords=df[["f0", "f1"]].iloc[::-1],
        annotators=annot,
        true_labels=df["label"].iloc[::-1],
        trajectories={"loss": traj},
        previews=pd.Series([f"text {i}" for i in df.index], index=df.index).iloc[::-1],
        metadata=df[["f1"]].iloc[::-1],
    )
    y = labels.to_numpy()
    np.testing.assert_array_equal(ds.labels, y)
    np.testing.assert_array_equal(np.floor(ds.features[:, 0] / 10), y)
    np.testing.assert_array_equal(np.floor(ds.coords[:, 0] / 10), y)
    np.testing.assert_array_equal(ds.pred_probs.argmax(1), y)
    np.testing.assert_array_equal(ds.pred_probs_by_model["m2"].argmax(1), y)
    np.testing.assert_array_equal(ds.annotators[:, 0], y)
    np.testing.assert_array_equal(ds.true_labels, y)
    np.testing.assert_array_equal(ds.trajectories["loss"][:, 1], 2 * y)
    assert ds.previews == [f"text {i}" for i in labels.index]
    np.testing.assert_array_equal(ds.metadata["f1"], df.loc[labels.index, "f1"])


def test_pandas_index_mismatch_is_refused_naming_both_arguments():
    df, probs = _frame()
    with pytest.raises(ValueError, match=r"index of features does not match the index of labels"):
        Dataset(df["label"].iloc[:-1], features=df[["f0"]].iloc[1:])
    with pytest.raises(ValueError, match=r"pred_probs\['b'\] does not match"):
        Dataset(df["label"], pred_probs={"a": probs, "b": probs.set_axis(range(40))})
    dup = df["label"].set_axis(["s0"] + list(df.index[1:-1]) + ["s0"])
    with pytest.raises(ValueError, match=r"index of labels has duplicates \('s0'\)"):
        Dataset(dup, features=df[["f0"]])
    with pytest.raises(ValueError, match=r"index of true_labels has duplicates"):
        Dataset(df["label"], true_labels=dup.iloc[::-1], features=df[["f0"]])
    # labels by position: pandas signals must agree with each other
    with pytest.raises(ValueError, match="features and pred_probs are pandas objects with diff"):
        Dataset(df["label"].to_numpy(), features=df[["f0"]], pred_probs=probs.iloc[::-1])


def test_positions_where_there_is_no_index_to_align():
    df, probs = _frame()
    shuffled = df.sample(frac=1, random_state=2)
    # numpy labels, one pandas signal: by position (the documented rule)
    ds = Dataset(shuffled["label"].to_numpy(), features=shuffled[["f0", "f1"]])
    np.testing.assert_array_equal(np.floor(ds.features[:, 0] / 10), ds.labels)
    # an identical index, even with duplicates, needs no reordering
    same = df.set_axis(["x"] * len(df))
    ds = Dataset(same["label"], features=same[["f0", "f1"]])
    np.testing.assert_array_equal(np.floor(ds.features[:, 0] / 10), ds.labels)


def test_cli_files_are_matched_row_by_row_whatever_index_parquet_kept(tmp_path):
    # a labels table saved after filtering keeps its index; a truth file saved after
    # reset_index has none: the command line matches rows, as for .npy and CSV files
    table = pd.DataFrame({"label": [0, 1, 2, 0, 1, 2], "f": np.arange(6.0)}, index=list("abcdef"))
    table.to_parquet(tmp_path / "labels.parquet")
    pd.DataFrame({"t": [0, 1, 2, 0, 1, 1]}).to_parquet(tmp_path / "truth.parquet")
    shuffled = pd.DataFrame({"t": [0, 1, 2, 0, 1, 1]}, index=list("fedcba"))
    shuffled.to_parquet(tmp_path / "truth_indexed.parquet")
    for truth in ("truth.parquet", "truth_indexed.parquet"):
        ds = load_inputs(
            tmp_path / "labels.parquet", feature_columns="f", true_labels=tmp_path / truth
        )
        assert ds.true_labels.tolist() == [0, 1, 2, 0, 1, 1]


def test_compute_functions_align_pandas_features_on_the_labels():
    from workbench.compute.recov import recov_scores

    df, _ = _frame(60)
    onehot = pd.get_dummies(df["label"]).astype(float) * 4  # separable only row by row
    labels = df["label"].sample(frac=1, random_state=3)
    res = cross_val_probs(onehot, labels, n_folds=2, progress=False)
    assert (res.pred_probs.argmax(1) == labels.to_numpy()).mean() > 0.9
    with pytest.raises(ValueError, match="index of features does not match"):
        cross_val_probs(onehot.set_axis(range(60)), labels, progress=False)
    with pytest.raises(ValueError, match="index of features does not match"):
        recov_scores(onehot.set_axis(range(60)), labels, progress=False)


# --- messages that name the argument and what was expected ---------------------------------------

Y6 = np.array([0, 1, 2, 0, 1, 2])


def _probs(n_classes, labels=Y6):
    p = np.full((len(labels), n_classes), 0.1 / (n_classes - 1))
    p[np.arange(len(labels)), labels] = 0.9
    return p


def test_float64_values_too_large_for_float32_are_named_not_called_infinite(tmp_path):
    from workbench.compute.projection import project

    big = np.ones((6, 2))
    big[4, 1] = 1e300
    too_large = r"features has values too large for float32 .*1e\+300 at index \(4, 1\)"
    with pytest.raises(ValueError, match=too_large):
        Dataset(Y6, features=big)
    with pytest.raises(ValueError, match=too_large):
        cross_val_probs(big, Y6, n_folds=2, progress=False)
    with pytest.raises(ValueError, match=too_large):
        project(big)
    with pytest.raises(ValueError, match=r"trajectories\['loss'\] has values too large"):
        Dataset(Y6, trajectories={"loss": big})
    with pytest.raises(ValueError, match=r"coords has values too large"):
        Dataset(Y6, coords=big)
    p = _probs(3)
    p[2, 0] = 1e300
    with pytest.raises(ValueError, match=r"pred_probs must lie in \[0, 1\], found 1e\+300 at"):
        Dataset(Y6, pred_probs=p)
    path = tmp_path / "features.csv"
    pd.DataFrame(big).to_csv(path, index=False)
    labels = tmp_path / "labels.npy"
    np.save(labels, Y6)
    with pytest.raises(ValueError, match="too large for float32"):
        load_inputs(labels, features=path)
    with pytest.raises(ValueError, match=r"features has values too large for float32"):
        Dataset(Y6, features=np.full((6, 2), -1e39))


def test_pred_probs_width_is_checked_against_its_own_name(tmp_path):
    with pytest.raises(ValueError, match=r"pred_probs must have at least 2 columns.*column_stack"):
        Dataset(Y6, pred_probs=np.ones((6, 1)))
    np.save(tmp_path / "labels.npy", Y6)
    np.save(tmp_path / "p.npy", np.ones((6, 1)))
    with pytest.raises(ValueError, match=r"pred_probs must have at least 2 columns"):
        load_inputs(tmp_path / "labels.npy", pred_probs=tmp_path / "p.npy")
    with pytest.raises(ValueError, match=r"pred_probs has 9 columns but class_names has 10 names"):
        Dataset(Y6, pred_probs=_probs(9), class_names=[f"c{i}" for i in range(10)])
    with pytest.warns(EmptyClassWarning, match=r"\['3', '4'\] \(K=5 from the 5 columns of pred_"):
        Dataset(Y6, pred_probs=_probs(5))
    with pytest.raises(ValueError, match=r"pred_probs\['b'\] must have at least 2 columns"):
        Dataset(Y6, pred_probs={"a": _probs(3), "b": np.ones((6, 1))})


def test_too_few_class_names_blame_class_names():
    labels = np.arange(10).repeat(2)
    with pytest.raises(
        ValueError, match=r"0\.\.8 \(K=9, from class_names\), found 9.*give 10 names"
    ):
        Dataset(labels, class_names=[f"c{i}" for i in range(9)])
    with pytest.raises(TypeError, match="class_names must be a sequence of K names"):
        Dataset(["a", "b", "c"], class_names="abc")
    with pytest.raises(ValueError, match=r"\(K=3, from the 3 columns of pred_probs\), found 5"):
        Dataset([0, 1, 5, 2, 1, 0], pred_probs=_probs(3))


def test_torch_dtypes_numpy_lacks_are_converted():
    torch = pytest.importorskip("torch")
    feats = torch.arange(12, dtype=torch.bfloat16).reshape(6, 2)
    probs = torch.tensor(_probs(3)).to(torch.bfloat16)
    ds = Dataset(torch.tensor(Y6), features=feats, pred_probs=probs, renormalize=True)
    np.testing.assert_array_equal(ds.features, np.arange(12, dtype=np.float32).reshape(6, 2))
    assert ds.pred_probs.dtype == np.float32
    np.testing.assert_array_equal(ds.pred_probs.argmax(1), Y6)
    res = cross_val_probs(feats, torch.tensor(Y6), n_folds=2, epochs=2, progress=False)
    assert res.pred_probs.shape == (6, 3)


@pytest.mark.parametrize("previews", [5, "abc", {"a": 1}, np.float64(1.0)])
def test_previews_must_be_a_sequence(previews):
    with pytest.raises(TypeError, match=r"previews must be a sequence of N=6 images"):
        Dataset(Y6, previews=previews)


def test_ragged_lists_are_called_ragged():
    ragged = [[0.9, 0.1], [0.5, 0.5], [1.0], [0.2, 0.8]]
    with pytest.raises(ValueError, match=r"pred_probs is ragged: its rows have different lengths"):
        Dataset([0, 1, 0, 1], pred_probs=ragged)
    with pytest.raises(ValueError, match=r"features is ragged"):
        Dataset([0, 1, 0, 1], features=[[1.0], [2.0, 3.0], [1.0], [1.0]])
    with pytest.raises(ValueError, match=r"pred_probs\['m'\] is ragged"):
        Dataset([0, 1, 0, 1], pred_probs={"m": ragged})


def test_features_without_columns_are_refused_up_front():
    with pytest.raises(ValueError, match=r"features must have at least one column.*\(6, 0\)"):
        Dataset(Y6, features=np.zeros((6, 0)))
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\)"):
        Dataset(Y6, coords=np.zeros((6, 0)))


def test_audit_advice_for_a_small_class_is_an_option_audit_takes(tmp_path, capsys):
    from workbench.pipeline.run import audit

    rng = np.random.default_rng(0)
    y = np.array([0] * 20 + [1] * 20 + [2] * 3)
    x = rng.normal(size=(len(y), 4)) + y[:, None] * 3
    ds = Dataset(y, features=x)
    with pytest.raises(ValueError, match=r"class '2' has only 3 samples") as err:
        audit(ds, progress=False)
    msg = str(err.value)
    assert "n_folds" not in msg.replace("'n_folds': 3", "")  # no option audit does not take
    assert "probe={'model': 'linear', 'n_folds': 3}" in msg and "--folds 3" in msg
    result = audit(ds, probe={"model": "linear", "n_folds": 3}, progress=False)  # the advice
    assert "3-fold" in result.computed["pred_probs"]
    with pytest.raises(ValueError, match=r"probe has unknown option\(s\) \['folds'\]"):
        audit(ds, probe={"folds": 3})
    # the command line: the same advice, and --folds takes it
    np.save(tmp_path / "labels.npy", y)
    np.save(tmp_path / "features.npy", x)
    argv = [str(tmp_path / "labels.npy"), "--features", str(tmp_path / "features.npy"), "-q"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    assert "--folds 3" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "c"), "--folds", "3"]) == 0
    assert main([*argv, "--out", str(tmp_path / "d"), "--folds", "1"]) == 2
    assert "--folds must be 2 or more" in capsys.readouterr().err
    # one sample: no number of folds helps, so none is offered
    ds = Dataset(np.r_[y[:-3], 2], features=x[:-2])
    with pytest.raises(ValueError, match=r"class '2' has only 1 sample, .*To fix it, drop or"):
        audit(ds, progress=False)


# --- a class with no samples ---------------------------------------------------------------------


def _subset_missing_a_class(empty: int, n=240, k=4, seed=0):
    """A subset (a test split, a shard) whose labels never use class ``empty``, with pred_probs,
    features, trajectories and annotators over all K classes."""
    rng = np.random.default_rng(seed)
    present = np.delete(np.arange(k), empty)
    true = rng.choice(present, n)
    labels = true.copy()
    flip = rng.random(n) < 0.15
    labels[flip] = rng.choice(present, flip.sum())
    probs = rng.dirichlet(np.full(k, 0.3), n)
    probs[np.arange(n), true] += 2
    probs[:6, empty] += 3  # the model still believes in the missing class now and then
    probs /= probs.sum(1, keepdims=True)
    feats = rng.normal(size=(n, 5)) + true[:, None]
    epochs = 6
    traj = {
        "loss": rng.random((n, epochs)),
        "margin": rng.normal(size=(n, epochs)),
        "given_prob": rng.random((n, epochs)),
        "predicted": rng.integers(0, k, (n, epochs)),
    }
    annot = np.stack(
        [np.where(rng.random(n) < 0.8, labels, rng.choice(present, n)) for _ in range(3)], 1
    )
    return labels, true, probs, feats, traj, annot


@pytest.mark.parametrize("empty", [3, 1], ids=["last-class", "middle-class"])
def test_a_class_with_no_samples_runs_through_every_detector(empty):
    from workbench.analysis.detectors import available_detectors, run_detectors

    labels, true, probs, feats, traj, annot = _subset_missing_a_class(empty)
    with pytest.warns(EmptyClassWarning, match=rf"\['{empty}'\] \(K=4 from the 4 columns of"):
        ds = Dataset(
            labels,
            pred_probs={"a": probs, "b": probs[:, ::-1][:, ::-1] * 0.5 + 0.125},
            features=feats,
            coords=feats[:, :2],
            trajectories=traj,
            annotators=annot,
            true_labels=true,
        )
    why = available_detectors(ds)
    runnable = [n for n, w in why.items() if w is None]
    blocked = {n: w for n, w in why.items() if w is not None}
    assert all("multi-label" in w for w in blocked.values()), blocked  # only other tasks
    results = run_detectors(ds, runnable, progress=False)
    assert sorted(results) == sorted(runnable) and "recov" in results
    for name, r in results.items():
        assert r.scores.shape == (len(labels),) and np.isfinite(r.scores).all(), name


@pytest.mark.parametrize("empty", [3, 1], ids=["last-class", "middle-class"])
def test_a_class_with_no_samples_agrees_with_cleanlab(empty):
    from cleanlab.count import estimate_py_and_noise_matrices_from_probabilities
    from cleanlab.filter import find_label_issues

    from workbench.analysis.detectors import run_detectors
    from workbench.analysis.matrices import estimate_transition_matrix

    labels, _, probs, *_ = _subset_missing_a_class(empty)
    with pytest.warns(EmptyClassWarning):
        ds = Dataset(labels, pred_probs=probs)
    for filter_by in ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                      "predicted_neq_given"):  # fmt: skip
        ours = run_detectors(ds, [f"cl_{filter_by}"], progress=False)[f"cl_{filter_by}"].flags
        theirs = find_label_issues(labels, probs, filter_by=filter_by)
        np.testing.assert_array_equal(ours, theirs, err_msg=filter_by)
    _, noise, _, _ = estimate_py_and_noise_matrices_from_probabilities(
        labels, probs, converge_latent_estimates=False
    )
    transition = estimate_transition_matrix(labels, probs)
    np.testing.assert_allclose(transition, noise.T, atol=1e-6)
    assert (transition[empty] == 0).all()  # undefined for a class nobody is labelled with


@pytest.mark.slow
def test_a_class_with_no_samples_in_the_views_the_audit_and_the_probe(tmp_path):
    from workbench.compute.recov import recov_scores
    from workbench.pipeline.run import audit
    from workbench.session import Session
    from workbench.ui.app import open_workbench

    labels, true, probs, feats, traj, annot = _subset_missing_a_class(1)
    names = ["a", "b", "c", "d"]
    with pytest.warns(EmptyClassWarning) as caught:
        ds = Dataset(labels, features=feats, class_names=names, true_labels=true)
        result = audit(ds, progress=False)  # the probe trains without class 'b'
    assert len(caught) == 1  # said once, not again for every signal the audit adds
    assert result.dataset.pred_probs.shape == (len(labels), 4) and not result.failed
    result.write(tmp_path / "audit")
    session = Session(result.dataset)
    assert set(session.results) >= {"cl_prune_by_noise_rate", "knn_disagreement", "recov"}
    open_workbench(session)
    res = cross_val_probs(feats, labels, n_classes=4, n_folds=3, progress=False)
    assert res.pred_probs.shape == (len(labels), 4)
    assert res.pred_probs[:, 1].max() < 0.5  # never a target
    assert recov_scores(feats, labels, n_repeats=4, progress=False).scores.shape == labels.shape
