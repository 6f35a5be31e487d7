"""The audit pipeline: signals computed, detectors run or explained, tables, atomic writing."""

from __future__ import annotations

import json
import os
import stat
import warnings

import numpy as np
import pandas as pd
import pytest
from _audit_data import probs_dataset

import workbench.pipeline.report as report_mod
import workbench.session as session_mod
from workbench.analysis.detectors import DetectorResult, get_detector, list_detectors, run_detectors
from workbench.analysis.detectors import registry as registry_mod
from workbench.core.dataset import Dataset
from workbench.decisions.log import DecisionLog
from workbench.pipeline.run import OUTPUT_FILES, AuditResult, audit
from workbench.session import Session
from workbench.ui import as_session


def _requires(name):
    return set(get_detector(name).requires)


@pytest.fixture(scope="module")
def probs_audit() -> AuditResult:
    return audit(probs_dataset(), compute_missing=False, progress=False)


# --- which detectors run --------------------------------------------------------------------------
def test_labels_and_pred_probs_run_the_pred_probs_detectors_and_explain_the_rest(probs_audit):
    r = probs_audit
    single = {n for n in list_detectors() if "multiclass" in get_detector(n).tasks}
    runnable = {n for n in single if _requires(n) <= {"pred_probs", "true_labels"}}
    assert runnable, "no pred_probs detector is registered"
    assert set(r.results) == runnable
    assert set(r.results) | set(r.unavailable) == set(list_detectors())
    for name, why in r.unavailable.items():
        assert why.startswith("Needs ")  # one sentence naming the missing signal
        if name in single:
            assert any(sig in why for sig in _requires(name))
        else:  # a detector of label sets on single-label data
            assert "label sets" in why
    assert r.failed == {}
    # nothing was computed: no features to train a probe on, and compute_missing=False
    assert r.computed == {} and r.dataset.coords is None
    # the detectors still ran somewhere: the session device
    from workbench.compute import resolve_device

    assert r.device == str(resolve_device(None))


def test_compute_missing_projects_pred_probs_when_there_are_no_features():
    r = audit(probs_dataset(n=200), progress=False, detectors=[_first_pred_probs_detector()])
    assert r.dataset.coords.shape == (200, 2)
    assert "pred_probs" in r.computed["coords"]
    assert "pred_probs" not in r.computed and "pred_probs" not in r.not_computed
    assert r.device is not None


def test_compute_missing_says_why_nothing_can_be_computed():
    ds = Dataset(np.array([0, 1, 0, 1]), annotators=np.array([[0, 0], [1, 1], [0, 1], [1, 1]]))
    r = audit(ds, progress=False)
    assert "features" in r.not_computed["pred_probs"]
    assert "coords" in r.not_computed
    assert all(_requires(n) <= {"annotators"} for n in r.results)


def _first_pred_probs_detector():
    return next(n for n in list_detectors() if _requires(n) == {"pred_probs"})


# --- noise structure and quality on injected noise ----------------------------------------------
def test_matrices_estimate_and_quality_on_injected_noise(probs_audit):
    r = probs_audit
    ds = r.dataset
    k = ds.n_classes
    assert set(r.matrices) == {"confusion", "estimated_transition", "true_transition"}
    conf = r.matrices["confusion"]
    assert conf.shape == (k, k) and conf.sum() == ds.n_samples
    pred = ds.pred_probs.argmax(axis=1)
    assert conf[1, 2] == np.sum((ds.labels == 1) & (pred == 2))  # rows given, columns predicted
    true_t = r.matrices["true_transition"]
    np.testing.assert_allclose(true_t.sum(axis=1), 1)
    i, j = 0, 1
    rows = ds.true_labels == i
    assert true_t[i, j] == pytest.approx(np.mean(ds.labels[rows] == j))
    np.testing.assert_allclose(r.matrices["estimated_transition"].sum(axis=1), 1, atol=1e-6)
    # the estimate sees the injected noise: same diagonal within a few points
    np.testing.assert_allclose(
        np.diag(r.matrices["estimated_transition"]), np.diag(true_t), atol=0.12
    )
    n_true = int(ds.is_noisy.sum())
    assert 0.5 * n_true <= r.estimated_num_errors <= 1.5 * n_true
    q = r.quality
    assert isinstance(q, pd.DataFrame) and len(q) == len(r.results)
    # the data are easy: the primary detector ranks injected errors well above chance
    scores = r.results[r.primary].scores
    noisy = ds.is_noisy
    auc = np.mean(scores[noisy][:, None] > scores[~noisy][None, :])
    assert auc > 0.85
    assert set(r.pr_curves) == set(r.results)
    precision, recall = r.pr_curves[r.primary]
    assert precision.shape == recall.shape and recall.max() == pytest.approx(1.0)


def test_quality_is_absent_without_truth():
    r = audit(probs_dataset(n=200, truth=False), compute_missing=False, progress=False)
    assert r.quality is None and r.pr_curves is None
    assert "true_transition" not in r.matrices
    assert "detector_quality" not in r.summary()


# --- tables ---------------------------------------------------------------------------------------
def test_scores_frame_has_one_row_per_sample_and_every_detector(probs_audit):
    r = probs_audit
    df = r.scores_frame()
    assert len(df) == r.dataset.n_samples
    assert list(df["index"]) == list(range(len(df)))
    for col in ("label", "label_name", "true_label", "suggested_label", "n_detectors_flagging"):
        assert col in df.columns
    for name, res in r.results.items():
        np.testing.assert_array_equal(df[f"{name}_score"], res.scores)
        np.testing.assert_array_equal(df[f"{name}_flag"], res.flags)
    flags = np.array([res.flags for res in r.results.values()])
    np.testing.assert_array_equal(df["n_detectors_flagging"], flags.sum(axis=0))
    assert df["label_name"][0] == r.dataset.class_names[r.dataset.labels[0]]


def test_flagged_frame_is_the_primary_flags_most_suspicious_first(probs_audit):
    r = probs_audit
    f = r.flagged_frame()
    primary = r.results[r.primary]
    assert set(f["index"]) == set(np.flatnonzero(primary.flags))
    assert list(f["rank"]) == list(range(1, len(f) + 1))
    s = f[f"{r.primary}_score"].to_numpy()
    assert (np.diff(s) <= 0).all()
    assert r.flagged_mask("any").sum() >= primary.n_flagged >= r.flagged_mask("all").sum()
    np.testing.assert_array_equal(r.flagged_mask(1), r.flagged_mask("any"))
    other = next(n for n in r.results if n != r.primary)
    assert set(r.flagged_frame(other)["index"]) == set(np.flatnonzero(r.results[other].flags))
    for bad in ("nope", 0, 1.5, True):
        with pytest.raises(ValueError, match="by"):
            r.flagged_mask(bad)


def test_suggested_labels_prefer_the_primary_then_vote():
    ds = probs_dataset(n=6, k=3)
    s = np.zeros(6)
    results = {
        "p": DetectorResult("p", s, s > 0, np.array([2, -1, -1, 0, -1, -1])),
        "a": DetectorResult("a", s, s > 0, np.array([1, 1, 2, 1, -1, -1])),
        "b": DetectorResult("b", s, s > 0, np.array([1, 1, 0, 1, -1, 2])),
        "c": DetectorResult("c", s, s > 0, None),
    }
    r = AuditResult(dataset=ds, results=results, primary="p")
    np.testing.assert_array_equal(r.suggested_labels(), [2, 1, 0, 0, -1, 2])


def test_decisions_template_loads_as_a_decision_log(probs_audit, tmp_path):
    r = probs_audit
    log = r.decisions_template()
    path = log.to_csv(tmp_path / "template.csv")
    back = DecisionLog.load(path)
    cur = back.current()
    flagged = r.flagged_frame()
    assert len(cur) == len(flagged) > 0
    assert set(cur["index"]) == set(flagged["index"])
    assert set(cur["action"]) == {"needs_review"}
    assert set(cur["detector"]) == {r.primary}


def test_summary_is_strict_json(probs_audit):
    s = probs_audit.summary()
    text = json.dumps(s, allow_nan=False)
    back = json.loads(text)
    for key in (
        "n_samples", "n_classes", "class_names", "signals", "detectors", "unavailable_detectors",
        "estimated_num_errors", "matrices", "detector_quality", "primary_detector", "n_flagged",
    ):  # fmt: skip
        assert key in back
    assert back["matrices"]["estimated_transition"]["orientation"].startswith("T[i, j] = P(given")
    assert back["n_flagged"] == probs_audit.results[probs_audit.primary].n_flagged


# --- bad input ------------------------------------------------------------------------------------
def test_bad_arguments_raise_before_any_work():
    ds = probs_dataset(n=50)
    with pytest.raises(TypeError, match="Dataset"):
        audit({"labels": [0, 1]})
    with pytest.raises(ValueError, match="Unknown detector"):
        audit(ds, detectors=["no_such_detector"], progress=False)
    with pytest.raises(ValueError, match="empty"):
        audit(ds, detectors=[], progress=False)
    with pytest.raises(ValueError, match="probe"):
        audit(ds, probe="forest", progress=False)
    with pytest.raises(ValueError, match="projection"):
        audit(ds, projection="tsne", progress=False)
    with pytest.raises(TypeError, match="seed"):
        audit(ds, seed="zero", progress=False)
    with pytest.raises(ValueError, match="primary"):
        audit(ds, primary="no_such_detector", progress=False)
    with pytest.raises(ValueError, match="device"):
        audit(ds, device="tpu", progress=False)


def test_a_detector_that_cannot_run_is_an_error_naming_why():
    ds = probs_dataset(n=50)
    blocked = next(n for n in list_detectors() if "pred_probs" not in _requires(n))
    with pytest.raises(ValueError, match=f"{blocked}: Needs"):
        audit(ds, detectors=[blocked], compute_missing=False, progress=False)


def test_no_runnable_detector_lists_the_reasons():
    ds = Dataset(np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="No detector can run") as err:
        audit(ds, progress=False)
    assert "pred_probs" in str(err.value)


@pytest.fixture
def broken_first(monkeypatch):
    """Two pred_probs detectors, the first of which raises when scoring."""
    names = [n for n in list_detectors() if _requires(n) == {"pred_probs"}][:2]
    real = registry_mod.get_detector

    class Broken:
        def score(self, dataset, progress=True):
            raise RuntimeError("numerical trouble")

    monkeypatch.setattr(
        registry_mod, "get_detector", lambda n, **kw: Broken() if n == names[0] else real(n, **kw)
    )
    return names


def test_a_failing_detector_is_recorded_not_fatal(broken_first):
    ds, names = probs_dataset(n=80), broken_first
    with pytest.warns(RuntimeWarning, match="numerical trouble"):
        r = audit(ds, detectors=names, compute_missing=False, progress=False)
    assert list(r.results) == names[1:]
    assert "RuntimeError: numerical trouble" in r.failed[names[0]]
    assert r.summary()["failed_detectors"] == r.failed
    session = as_session(r)  # the workbench lists it with the reason
    assert list(session.results) == names[1:]
    assert session.unavailable[names[0]] == "failed: RuntimeError: numerical trouble"


def test_a_session_and_run_detectors_survive_a_failing_detector(broken_first, monkeypatch):
    ds, names = probs_dataset(n=80), broken_first
    with pytest.raises(RuntimeError, match="numerical trouble"):
        run_detectors(ds, names, progress=False)  # errors="raise" by default
    with pytest.warns(RuntimeWarning, match="numerical trouble"):
        assert list(run_detectors(ds, names, progress=False, errors="warn")) == names[1:]
    with pytest.raises(ValueError, match="errors must be"):
        run_detectors(ds, names, progress=False, errors="ignore")
    runnable = {n: None if n in names else "missing" for n in list_detectors()}
    monkeypatch.setattr(session_mod, "available_detectors", lambda d: runnable)
    monkeypatch.setattr(registry_mod, "available_detectors", lambda d: runnable)
    with pytest.warns(RuntimeWarning, match="numerical trouble"):
        session = Session(ds)
    assert list(session.results) == names[1:]
    assert session.unavailable[names[0]].startswith("failed: RuntimeError")


# --- writing --------------------------------------------------------------------------------------
def test_write_creates_every_file(probs_audit, tmp_path):
    out = tmp_path / "a" / "b"
    files = probs_audit.write(out, top=10)
    assert sorted(files) == sorted(OUTPUT_FILES)
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)
    assert sorted(os.listdir(tmp_path / "a")) == ["b"]  # no temporary left beside it
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == probs_audit.dataset.n_samples
    flagged = pd.read_csv(out / "flagged.csv")
    assert len(flagged) == probs_audit.results[probs_audit.primary].n_flagged
    assert DecisionLog.load(out / "decisions_template.csv").counts()["needs_review"] == len(flagged)
    assert json.loads((out / "summary.json").read_text())["files"] == list(OUTPUT_FILES)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(out / "report.html").st_mode) == 0o666 & ~mask


def test_write_failure_leaves_nothing(probs_audit, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(report_mod, "render_report", boom)
    out = tmp_path / "new" / "audit"
    with pytest.raises(RuntimeError, match="disk trouble"):
        probs_audit.write(out)
    assert os.listdir(tmp_path) == []  # not even the parent folder it created


def test_write_failure_keeps_a_previous_audit_intact(probs_audit, tmp_path, monkeypatch):
    out = tmp_path / "audit"
    probs_audit.write(out, top=5)
    before = {f: (out / f).read_bytes() for f in OUTPUT_FILES}
    (out / "my_notes.txt").write_text("keep me")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_mod, "render_report", boom)
    with pytest.raises(KeyboardInterrupt):
        probs_audit.write(out, top=20)
    assert {f: (out / f).read_bytes() for f in OUTPUT_FILES} == before
    assert sorted(os.listdir(tmp_path)) == ["audit"]
    monkeypatch.undo()
    probs_audit.write(out, top=20)  # a later success replaces the files, keeps foreign ones
    assert (out / "my_notes.txt").read_text() == "keep me"
    assert (out / "report.html").read_bytes() != before["report.html"]


def test_write_refuses_a_file_as_outdir(probs_audit, tmp_path):
    f = tmp_path / "x"
    f.write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        probs_audit.write(f)
    with pytest.raises(ValueError, match="top"):
        probs_audit.write(tmp_path / "y", top=-1)
    assert sorted(os.listdir(tmp_path)) == ["x"]


# --- the demo: probe, trajectories, projection ------------------------------------------------------
@pytest.fixture(scope="module")
def demo_audit():
    from workbench.noise.datasets import load_demo

    ds = load_demo(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no detector may fail on the demo
        return ds, audit(ds, progress=False, seed=0)


@pytest.mark.slow
def test_audit_of_the_demo_computes_signals_and_runs_every_kind_of_detector(demo_audit):
    ds, r = demo_audit
    assert ds.pred_probs is None and ds.features is not None
    assert {"pred_probs", "trajectories", "coords"} <= set(r.computed)
    assert r.dataset.pred_probs.shape == (ds.n_samples, ds.n_classes)
    assert r.dataset.coords.shape == (ds.n_samples, 2)
    required = set().union(*map(_requires, r.results))
    assert {"pred_probs", "features"} <= required
    assert any(n.startswith("trajectories.") for n in required)
    assert r.failed == {}
    assert len(r.quality) == len(r.results)
    scores = r.results[r.primary].scores
    noisy = r.dataset.is_noisy
    assert np.mean(scores[noisy][:, None] > scores[~noisy][None, :]) > 0.85
    n_true = int(noisy.sum())
    assert 0.6 * n_true <= r.estimated_num_errors <= 1.4 * n_true


@pytest.mark.slow
def test_audit_is_reproducible_from_its_seed(demo_audit):
    ds, r = demo_audit
    again = audit(ds, progress=False, seed=0, detectors=[r.primary])
    np.testing.assert_array_equal(again.dataset.pred_probs, r.dataset.pred_probs)
    np.testing.assert_array_equal(again.dataset.coords, r.dataset.coords)
    np.testing.assert_array_equal(again.results[r.primary].scores, r.results[r.primary].scores)


def test_summary_leaves_out_matrices_of_very_many_classes():
    k = 101
    rng = np.random.default_rng(1)
    labels = np.concatenate([np.arange(k), rng.integers(0, k, 200)])
    p = np.full((len(labels), k), 0.2 / (k - 1), dtype=np.float32)
    p[np.arange(len(labels)), labels] = 0.8
    r = audit(Dataset(labels, pred_probs=p), compute_missing=False, progress=False)
    s = r.summary()
    assert s["matrices"]["confusion"]["values"] is None
    assert s["matrices"]["confusion"]["orientation"].startswith("rows = given label")
    assert r.matrices["confusion"].shape == (k, k)


# --- an ambiguity score is shown as what it is -----------------------------------------------------
def _ambiguity_finds_the_noise(n=400, seed=0):
    """A contrived dataset on which datamap_variability (an ambiguity score) happens to rank the
    injected errors best: their given-label probability swings, the clean ones' stays put; the
    loss carries no signal."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 3, n)
    noisy = rng.random(n) < 0.2
    given = np.where(noisy, (true + rng.integers(1, 3, n)) % 3, true)
    swing = np.where(noisy[:, None], 0.4, 0.02) * np.sin(np.arange(8))[None, :]
    prob = np.clip(0.5 + swing + 0.01 * rng.random((n, 8)), 0, 1)
    trajectories = {"given_prob": prob, "loss": rng.random((n, 8))}
    return Dataset(given, trajectories=trajectories, true_labels=true)


def test_an_ambiguity_score_is_never_primary_a_vote_or_the_best_detector():
    from workbench.session import Session

    ds = _ambiguity_finds_the_noise()
    names = ["datamap_variability", "loss_mixture"]
    r = audit(ds, detectors=names, compute_missing=False, progress=False)
    q = r.quality.set_index("detector")["ap"]
    assert q["datamap_variability"] > q["loss_mixture"] + 0.3  # it does rank best here
    assert r.primary == "loss_mixture"  # yet the first label-error detector is the default
    var, loss = r.results["datamap_variability"].flags, r.results["loss_mixture"].flags
    assert (var & ~loss).any()  # its flags would change the votes...
    np.testing.assert_array_equal(r.flagged_mask("any"), loss)  # ...but it does not vote
    np.testing.assert_array_equal(r.flagged_mask("all"), loss)
    np.testing.assert_array_equal(r.scores_frame()["n_detectors_flagging"], loss.astype(int))
    assert r.summary()["detectors"]["datamap_variability"]["kind"] == "ambiguity"
    assert r.summary()["detectors"]["loss_mixture"]["kind"] == "label_error"
    html = report_mod.render_report(r)
    assert '<tr class="best"><td>loss_mixture</td>' in html
    assert "<td>datamap_variability (ambiguity, not label errors)</td>" in html
    # the session (and the UI's detector panel, which shows session.active) starts on it too
    assert Session(ds, results=dict(r.results)).active == "loss_mixture"
    only_ambiguity = {"datamap_variability": r.results["datamap_variability"]}
    assert Session(ds, results=only_ambiguity).active == "datamap_variability"
    alone = audit(ds, detectors=names[:1], compute_missing=False, progress=False)
    assert alone.primary == "datamap_variability" and not alone.flagged_mask("all").any()


def test_an_outlier_score_is_shown_as_what_it_is_and_does_not_vote():
    rng = np.random.default_rng(1)
    n, k = 300, 3
    true = rng.integers(0, k, n)
    x = rng.normal(size=(n, 8)) + 4 * np.eye(k, 8)[true]
    x[:3] += 20 * np.eye(8)[5:]  # three far from everything, each its own way
    given = np.where(rng.random(n) < 0.15, (true + 1) % k, true)
    ds = Dataset(given, features=x, true_labels=true)
    names = ["knn_outlier", "knn_disagreement"]
    r = audit(ds, detectors=names, compute_missing=False, progress=False)
    out, dis = r.results["knn_outlier"].flags, r.results["knn_disagreement"].flags
    assert out[:3].sum() >= 2 and (out & ~dis).any()  # it flags samples far from the rest...
    np.testing.assert_array_equal(r.flagged_mask("any"), dis)  # ...which are not votes
    assert r.primary == "knn_disagreement"
    assert r.summary()["detectors"]["knn_outlier"]["kind"] == "outlier"
    assert "<td>knn_outlier (outlier, not label errors)</td>" in report_mod.render_report(r)


# --- class health and the HOC transition matrix ------------------------------------------------------
def test_class_health_is_in_the_result_and_the_summary(probs_audit):
    from workbench.analysis.class_health import health_summary
    from workbench.analysis.derived import analysis_of

    r = probs_audit
    ds = r.dataset
    expected = health_summary(ds.labels, ds.pred_probs, class_names=ds.class_names)
    h = r.class_health
    assert h is analysis_of(ds).class_health()  # computed once, from the shared statistics pass
    assert h["overall_label_health_score"] == pytest.approx(expected["overall_label_health_score"])
    pd.testing.assert_frame_equal(
        h["classes_by_label_quality"], expected["classes_by_label_quality"]
    )
    pd.testing.assert_frame_equal(h["overlapping_classes"], expected["overlapping_classes"])
    s = json.loads(json.dumps(r.summary(), allow_nan=False))["class_health"]
    assert s["overall_label_health_score"] == pytest.approx(h["overall_label_health_score"])
    assert s["num_label_issues"] == expected["num_label_issues"]
    table = expected["classes_by_label_quality"]
    assert [c["class_name"] for c in s["classes_by_label_quality"]] == list(table["class_name"])
    pairs = expected["overlapping_classes"]
    assert len(s["overlapping_classes"]) == int((pairs["num_overlapping"] > 0).sum()) > 0
    assert s["overlapping_classes"][0]["class_index_a"] == pairs["class_index_a"].iloc[0]
    # no features: no HOC matrix
    assert "hoc_transition" not in r.matrices and "hoc_transition" not in r.summary()["matrices"]


def _features_dataset(n=500, k=3, seed=0):
    rng = np.random.default_rng(seed)
    ds = probs_dataset(n=n, k=k, seed=seed)
    centers = rng.normal(0, 8, (k, 6))
    return ds.with_signals(features=centers[ds.true_labels] + rng.normal(0, 1, (n, 6)))


def test_hoc_transition_is_among_the_matrices_with_features():
    from workbench.analysis.hoc import dataset_transition_hoc
    from workbench.analysis.matrices import MATRICES

    ds = _features_dataset()
    r = audit(ds, compute_missing=False, progress=False, detectors=["self_confidence"])
    hoc = r.matrices["hoc_transition"]
    assert hoc is not None and hoc.shape == (3, 3)
    # computed once, kept in the dataset's shared analysis, and HOC's own estimate
    assert dataset_transition_hoc(r.dataset).transition is hoc
    fresh = Dataset(ds.labels, features=ds.features)
    np.testing.assert_allclose(hoc, dataset_transition_hoc(fresh).transition, atol=1e-6)
    np.testing.assert_allclose(hoc.sum(axis=1), 1.0, atol=1e-6)
    # on clusterable features it is close to the realised transition matrix
    assert np.abs(hoc - r.matrices["true_transition"]).mean() < 0.05
    s = json.loads(json.dumps(r.summary(), allow_nan=False))["matrices"]["hoc_transition"]
    assert s["orientation"] == MATRICES["hoc_transition"].orientation
    np.testing.assert_allclose(s["values"], hoc)
    assert "hoc_transition" in r.timings and "class_health" in r.timings


def test_split_must_name_a_metadata_column_before_any_work():
    ds = probs_dataset(n=60)
    with pytest.raises(ValueError, match=r"split='fold' must name a column .* found columns \[\]"):
        audit(ds, compute_missing=False, progress=False, split="fold")
    with pytest.raises(TypeError, match="split must be None or the name"):
        audit(ds, compute_missing=False, progress=False, split=3)


def test_hoc_above_the_audit_class_limit_is_skipped_with_the_reason():
    from workbench.pipeline.report import render_report
    from workbench.pipeline.run import HOC_AUDIT_MAX_CLASSES

    k = HOC_AUDIT_MAX_CLASSES + 1
    ds = _features_dataset(n=10 * k, k=k)
    r = audit(ds, compute_missing=False, progress=False, detectors=["self_confidence"])
    assert "hoc_transition" not in r.matrices and "hoc_transition" not in r.timings
    why = r.skipped["hoc_transition"]
    assert f"K={k}" in why and "dataset_transition_hoc" in why
    assert r.summary()["skipped"] == {"hoc_transition": why}
    import html

    assert f"No HOC matrix: {html.escape(why)}." in render_report(r)
    small = audit(_features_dataset(), compute_missing=False, progress=False,
                  detectors=["self_confidence"])  # fmt: skip
    assert small.skipped == {} and "hoc_transition" in small.matrices
