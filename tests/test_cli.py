"""The headless command: every file written and parseable; malformed input exits 2, writes nothing."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _audit_data import noisy_labels, probs_for

from workbench.analysis.detectors import get_detector, list_detectors
from workbench.cli import load_inputs, main
from workbench.decisions.log import DecisionLog
from workbench.pipeline.run import OUTPUT_FILES

N, K = 240, 3


@pytest.fixture
def files(tmp_path):
    """Labels (CSV, .npy, Parquet), pred_probs (.npy), features and true labels for N samples."""
    rng = np.random.default_rng(0)
    true = rng.integers(0, K, N)
    true[:K] = np.arange(K)
    given = noisy_labels(true, K, 0.2, rng)
    p = probs_for(true, K, rng)
    feats = rng.normal(0, 1, (N, 5)) + true[:, None]
    d = tmp_path / "in"
    d.mkdir()
    names = np.array(["cat", "dog", "owl"])
    table = pd.DataFrame({"id": np.arange(N), "y": names[given]})
    for j in range(feats.shape[1]):
        table[f"emb_{j}"] = feats[:, j]
    table.to_csv(d / "labels.csv", index=False)
    table.to_parquet(d / "labels.parquet")
    np.save(d / "labels.npy", given)
    np.save(d / "probs.npy", p)
    np.save(d / "true.npy", true)
    np.save(d / "feats.npy", feats)
    return {
        "dir": d,
        "given": given,
        "true": true,
        "probs": p,
        "feats": feats,
        "out": tmp_path / "out",
    }


def run(argv, capsys):
    code = main([*argv, "--quiet"] if "--help" not in argv else argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_failure(code, err, out_dir, *, match):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one clear line, no traceback
    assert lines[0].startswith("workbench-audit: error: ")
    assert match in lines[0], lines[0]
    assert not out_dir.exists()


def _pred_probs_only(names):
    return all(set(get_detector(n).requires) <= {"pred_probs", "true_labels"} for n in names)


# --- success --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_writes_every_file_and_they_parse(tmp_path, capsys):
    out = tmp_path / "demo-audit"
    code = main(["demo", "--out", str(out), "--top", "20"])
    stdout, _ = capsys.readouterr()
    assert code == 0
    assert "wrote" in stdout and "estimated label errors" in stdout
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)
    scores = pd.read_csv(out / "scores.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert len(scores) == summary["n_samples"] == 1797 and summary["n_classes"] == 10
    for col in ("index", "label", "label_name", "true_label", "suggested_label"):
        assert col in scores.columns
    for name in summary["detectors"]:
        assert {f"{name}_score", f"{name}_flag"} <= set(scores.columns)
    assert {"pred_probs", "trajectories", "coords"} <= set(summary["computed_signals"])
    flagged = pd.read_csv(out / "flagged.csv")
    assert len(flagged) == summary["n_flagged"] > 0
    assert (flagged["rank"] == np.arange(1, len(flagged) + 1)).all()
    log = DecisionLog.load(out / "decisions_template.csv")
    assert log.counts()["needs_review"] == len(flagged)
    assert summary["truth_known"] and summary["detector_quality"]
    html = (out / "report.html").read_text()
    for sid in ("summary", "matrices", "map", "detectors", "samples", "references"):
        assert f'<section id="{sid}">' in html
    assert html.count("data:image/png;base64,") == 20  # the top 20 flagged digits


def test_labels_csv_with_pred_probs_runs_only_pred_probs_detectors(files, capsys):
    d, out = files["dir"], files["out"]
    code, _, err = run(
        [str(d / "labels.csv"), "--label-column", "y", "--pred-probs", str(d / "probs.npy"),
         "--out", str(out), "--no-compute"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["class_names"] == ["cat", "dog", "owl"]
    assert summary["detectors"] and _pred_probs_only(summary["detectors"])
    assert summary["unavailable_detectors"]  # and it says why the others could not run
    assert all(v.startswith("Needs ") for v in summary["unavailable_detectors"].values())
    assert summary["computed_signals"] == {} and summary["truth_known"] is False


def test_npy_labels_with_features_and_truth_compute_the_rest(files, capsys):
    d, out = files["dir"], files["out"]
    det = next(n for n in list_detectors() if set(get_detector(n).requires) == {"pred_probs"})
    feature_det = next(n for n in list_detectors() if set(get_detector(n).requires) == {"features"})
    code, stdout, err = run(
        [str(d / "labels.npy"), "--features", str(d / "feats.npy"), "--true-labels",
         str(d / "true.npy"), "--out", str(out), "--detectors", f"{det},{feature_det}",
         "--seed", "3"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert stdout == "" and err == ""  # --quiet: not even the progress bars of the steps
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["detectors"]) == [det, feature_det]
    assert "pred_probs" in summary["computed_signals"] and summary["seed"] == 3
    assert summary["n_true_errors"] == int((files["given"] != files["true"]).sum())


def test_parquet_with_feature_columns_and_npz_bundle(files, tmp_path):
    d = files["dir"]
    ds = load_inputs(d / "labels.parquet", label_column="y", feature_columns="emb_*")
    assert ds.features.shape == (N, 5) and ds.class_names == ["cat", "dog", "owl"]
    np.testing.assert_allclose(ds.features, files["feats"], rtol=1e-6)
    ds = load_inputs(d / "labels.csv", label_column="y", feature_columns="emb_0, emb_3")
    assert ds.features.shape == (N, 2)
    np.savez(
        tmp_path / "bundle.npz", labels=files["given"], pred_probs=files["probs"],
        true_labels=files["true"], class_names=np.array(["a", "b", "c"]),
    )  # fmt: skip
    ds = load_inputs(tmp_path / "bundle.npz")
    assert ds.class_names == ["a", "b", "c"] and ds.has_truth and ds.pred_probs.shape == (N, K)
    np.savez(tmp_path / "probs_only.npz", whatever=files["probs"])
    ds = load_inputs(d / "labels.npy", pred_probs=tmp_path / "probs_only.npz")
    assert ds.pred_probs.shape == (N, K)


# --- malformed input: exit 2, one line, nothing written --------------------------------------------
def test_missing_file(files, capsys):
    code, _, err = run([str(files["dir"] / "nope.csv"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="no such file")


def test_wrong_label_column(files, capsys):
    d = files["dir"]
    code, _, err = run(
        [str(d / "labels.csv"), "--label-column", "lbl", "--out", str(files["out"])], capsys
    )
    assert_clean_failure(code, err, files["out"], match="no column 'lbl' (columns: id, y, emb_0")


def test_table_without_a_label_column_asks_for_one(files, capsys):
    d = files["dir"]
    code, _, err = run([str(d / "labels.csv"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="give --label-column")


def test_pred_probs_shape_mismatch(files, capsys):
    d = files["dir"]
    np.save(d / "short.npy", files["probs"][:-1])
    code, _, err = run(
        [str(d / "labels.npy"), "--pred-probs", str(d / "short.npy"), "--out", str(files["out"])],
        capsys,
    )
    assert_clean_failure(code, err, files["out"], match=f"pred_probs has {N - 1} rows")


def test_nan_in_features(files, capsys):
    d = files["dir"]
    f = files["feats"].copy()
    f[7, 2] = np.nan
    np.save(d / "nan.npy", f)
    code, _, err = run(
        [str(d / "labels.npy"), "--features", str(d / "nan.npy"), "--out", str(files["out"])],
        capsys,
    )
    assert_clean_failure(code, err, files["out"], match="features contains NaN")


def test_pickled_npy_is_refused(files, capsys):
    d = files["dir"]
    np.save(d / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    code, _, err = run([str(d / "obj.npy"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="pickled Python objects")
    (d / "raw.npy").write_bytes(pickle.dumps([1, 2, 3]))
    code, _, err = run([str(d / "raw.npy"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="pickled Python objects")


def test_unreadable_files(files, capsys):
    d = files["dir"]
    (d / "bad.parquet").write_bytes(b"not parquet at all")
    code, _, err = run([str(d / "bad.parquet"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="cannot read it as PARQUET")
    (d / "labels.txt").write_text("0\n1\n")
    code, _, err = run([str(d / "labels.txt"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="unsupported file type '.txt'")
    (d / "empty.csv").write_text("")
    code, _, err = run([str(d / "empty.csv"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="cannot read it as CSV")


def test_non_numeric_signals_and_bad_labels(files, capsys):
    d = files["dir"]
    pd.DataFrame({"a": ["x"] * N, "b": 1.0}).to_csv(d / "text_feats.csv", index=False)
    code, _, err = run(
        [
            str(d / "labels.npy"),
            "--features",
            str(d / "text_feats.csv"),
            "--out",
            str(files["out"]),
        ],
        capsys,
    )
    assert_clean_failure(code, err, files["out"], match="columns a are not numeric")
    np.save(d / "neg.npy", np.array([0, 1, -3, 1]))
    code, _, err = run([str(d / "neg.npy"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="found -3 at index 2")


def test_labels_only_asks_for_a_signal(files, capsys):
    code, _, err = run([str(files["dir"] / "labels.npy"), "--out", str(files["out"])], capsys)
    assert_clean_failure(code, err, files["out"], match="give --pred-probs")


def test_bad_options(files, capsys):
    d, out = files["dir"], files["out"]
    base = [str(d / "labels.npy"), "--pred-probs", str(d / "probs.npy"), "--out", str(out)]
    code, _, err = run([*base, "--detectors", "nope"], capsys)
    assert_clean_failure(code, err, out, match="Unknown detector(s) ['nope']")
    code, _, err = run([*base, "--device", "tpu"], capsys)
    assert_clean_failure(code, err, out, match="device='tpu'")
    blocked = next(n for n in list_detectors() if "pred_probs" not in get_detector(n).requires)
    code, _, err = run([*base, "--detectors", blocked, "--no-compute"], capsys)
    assert_clean_failure(code, err, out, match=f"{blocked}: Needs")
    with pytest.raises(SystemExit) as exit_info:  # argparse's own usage errors also exit 2
        main([str(d / "labels.npy")])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_out_dir_is_left_unchanged_on_bad_input(files, capsys):
    out = files["out"]
    out.mkdir()
    (out / "scores.csv").write_text("previous audit")
    code, _, err = run([str(files["dir"] / "missing.npy"), "--out", str(out)], capsys)
    assert code == 2
    assert (
        os.listdir(out) == ["scores.csv"] and (out / "scores.csv").read_text() == "previous audit"
    )
    (files["dir"] / "f").write_text("")
    code, _, err = run([str(files["dir"] / "labels.npy"), "--out", str(files["dir"] / "f")], capsys)
    assert code == 2 and "not a folder" in err


# --- entry points -----------------------------------------------------------------------------------
def test_python_m_workbench_help():
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m workbench")
    for word in ("--pred-probs", "--features", "--label-column", "--no-compute", "OUT-OF-SAMPLE"):
        assert word in proc.stdout


def test_help_in_process(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: workbench-audit" in capsys.readouterr().out


def test_interrupt_writes_nothing(files, capsys, monkeypatch):
    import workbench.pipeline.run as audit_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit_mod, "audit", interrupted)
    d, out = files["dir"], files["out"]
    code, _, err = run(
        [str(d / "labels.npy"), "--pred-probs", str(d / "probs.npy"), "--out", str(out)], capsys
    )
    assert code == 130 and "interrupted; nothing written" in err
    assert not out.exists()


def test_npz_member_that_is_not_an_array_is_refused(files, tmp_path, capsys):
    """np.load gives a zip member without .npy as raw bytes: the command names and refuses it."""
    import zipfile

    bundle = tmp_path / "bundle.npz"
    np.savez(bundle, labels=files["given"], pred_probs=files["probs"])
    with zipfile.ZipFile(bundle, "a") as z:
        z.writestr("notes.txt", b"not an array")
    code, _, err = run([str(bundle), "--out", str(files["out"])], capsys)
    assert_clean_failure(
        code, err, files["out"], match="members that are not .npy arrays ('notes.txt')"
    )
    probs = tmp_path / "probs.npz"
    with zipfile.ZipFile(probs, "w") as z:
        z.writestr("pred_probs", b"\x00" * 16)  # one member, no .npy suffix
    d = files["dir"]
    code, _, err = run(
        [str(d / "labels.npy"), "--pred-probs", str(probs), "--out", str(files["out"])], capsys
    )
    assert_clean_failure(code, err, files["out"], match="--pred-probs")
    assert "('pred_probs')" in err


def test_split_column_reports_leakage_of_near_duplicates(files, capsys):
    """--split COLUMN reaches near_duplicate: near copies across splits are counted as leakage."""
    d = files["dir"]
    table = pd.read_csv(d / "labels.csv")
    emb = [c for c in table.columns if c.startswith("emb_")]
    table.loc[1, emb] = table.loc[0, emb].to_numpy()  # exact copies, 0 in train and 1 in test
    table.loc[3, emb] = table.loc[2, emb].to_numpy()
    table["fold"] = np.where(np.arange(N) % 2 == 0, "train", "test")
    table.to_csv(d / "split.csv", index=False)
    argv = [
        str(d / "split.csv"), "--label-column", "y", "--feature-columns", "emb_*",
        "--pred-probs", str(d / "probs.npy"), "--no-compute",
        "--detectors", "self_confidence,near_duplicate", "--out", str(files["out"]),
    ]  # fmt: skip
    code, _, err = run([*argv, "--split", "fold"], capsys)
    assert code == 0, err
    html = (files["out"] / "report.html").read_text()
    assert "Leakage between splits (column fold)" in html
    ds = load_inputs(
        d / "split.csv", label_column="y", feature_columns="emb_*", split_column="fold"
    )
    assert list(ds.metadata["fold"][:2]) == ["train", "test"]
    res = get_detector("near_duplicate", split="fold").score(ds, progress=False)
    assert res.details["leaking"][:4].all()
    assert f'<div class="v">{int(res.details["pair_crosses_split"].sum()):,}</div>' in html
    # without --split: no leakage part
    out2 = files["out"].parent / "out2"
    code, _, err = run([*argv[:-1], str(out2)], capsys)
    assert code == 0, err
    assert "Leakage between splits" not in (out2 / "report.html").read_text()


def test_split_column_errors_exit_2(files, capsys):
    d = files["dir"]
    out = files["out"]
    code, _, err = run(
        [str(d / "labels.csv"), "--label-column", "y", "--pred-probs", str(d / "probs.npy"),
         "--split", "fold", "--out", str(out)], capsys,
    )  # fmt: skip
    assert_clean_failure(code, err, out, match="no column 'fold'")
    code, _, err = run(
        [str(d / "labels.npy"), "--pred-probs", str(d / "probs.npy"), "--split", "fold",
         "--out", str(out)], capsys,
    )  # fmt: skip
    assert_clean_failure(code, err, out, match="is not a table")
    code, _, err = run(["demo", "--split", "fold", "--out", str(out)], capsys)
    assert_clean_failure(code, err, out, match="the demo has no split column")
