"""Decision log: deciding, undo, apply, atomic export/reload in every format, merge, autosave."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import workbench.core.atomic as atomic
import workbench.decisions.formats as dio
from workbench.decisions.log import ACTIONS, DecisionLog, MergeReport

CLASSES = ["cat", "dog", "bird"]
FORMATS = ["json", "csv", "parquet"]


@pytest.fixture
def log():
    lg = DecisionLog(20, CLASSES, user="ada")
    lg.decide(
        [1, 2, 3],
        "remove",
        detector="self_confidence",
        threshold=("score", 0.5),
        score=[0.9, 0.8, 0.7],
        note="bulk",
    )
    lg.decide(4, "relabel", label="bird")
    lg.decide([5, 6], "relabel", label=[0, 1])
    lg.decide(7, "needs_review", note='has "quotes", commas\nand a newline')
    lg.decide(2, "keep")
    return lg


# --- deciding --------------------------------------------------------------------------------
def test_decide_records_who_what_when(log):
    df = log.log
    assert list(df.columns) == list(dio.COLUMNS)
    assert len(df) == len(log) == 8
    first = df.iloc[0]
    assert (first["index"], first["action"], first["user"]) == (1, "remove", "ada")
    assert first["detector"] == "self_confidence"
    assert first["threshold"] == "score=0.5"
    assert first["score"] == pytest.approx(0.9)
    assert first["note"] == "bulk"
    t = pd.Timestamp(first["time"])
    assert t.tzinfo is not None and t.utcoffset().total_seconds() == 0
    assert df.loc[df["index"] == 4, "label"].item() == 2
    assert df.loc[df["index"] == 4, "label_name"].item() == "bird"
    assert df.loc[df["index"] == 1, "label"].item() == -1


def test_current_is_latest_per_sample(log):
    cur = log.current()
    assert cur["index"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert cur.set_index("index").loc[2, "action"] == "keep"  # overridden
    assert log.counts() == {"keep": 1, "remove": 2, "relabel": 3, "needs_review": 1}
    assert log.remove_mask().nonzero()[0].tolist() == [1, 3]
    rel = log.relabels()
    assert rel["index"].tolist() == [4, 5, 6]
    assert rel["label"].tolist() == [2, 0, 1]
    assert rel["label_name"].tolist() == ["bird", "cat", "dog"]
    acts = log.actions()
    assert acts.shape == (20,) and acts[0] == "" and acts[7] == "needs_review"


def test_duplicate_indices_last_wins():
    lg = DecisionLog(5, CLASSES)
    assert lg.decide([1, 1, 2], "relabel", label=[0, 2, 1]) == 2
    assert lg.relabels().set_index("index")["label"].to_dict() == {1: 2, 2: 1}


def test_default_user_is_login_name(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "grace")
    assert DecisionLog(3, CLASSES).user == "grace"

    def fail():
        raise OSError("no login")

    monkeypatch.setattr("getpass.getuser", fail)
    monkeypatch.setenv("USER", "linus")
    assert DecisionLog(3, CLASSES).user == "linus"


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(indices=[0], action="delete"), ValueError, "action must be one of"),
        (dict(indices=[25], action="keep"), ValueError, r"0\.\.19"),
        (dict(indices=[-1], action="keep"), ValueError, r"0\.\.19"),
        (dict(indices=[0.5], action="keep"), ValueError, "ints"),
        (dict(indices=[[0, 1]], action="keep"), ValueError, "1-D"),
        (dict(indices=[0], action="relabel"), ValueError, "needs label"),
        (dict(indices=[0], action="keep", label=1), ValueError, "only for action 'relabel'"),
        (dict(indices=[0], action="relabel", label="fish"), ValueError, "not a class"),
        (dict(indices=[0], action="relabel", label=3), ValueError, r"0\.\.2"),
        (dict(indices=[0], action="relabel", label=True), TypeError, "class index"),
        (dict(indices=[0, 1], action="relabel", label=[0, 1, 2]), ValueError, r"shape \(2,\)"),
        (dict(indices=[0, 1], action="keep", score=[1.0, 2.0, 3.0]), ValueError, "score"),
    ],
)
def test_decide_bad_input_changes_nothing(log, kwargs, err, match):
    before = log.log
    indices = kwargs.pop("indices")
    with pytest.raises(err, match=match):
        log.decide(indices, **kwargs)
    pd.testing.assert_frame_equal(log.log, before)


@pytest.mark.parametrize(
    "args, err",
    [
        ((0, CLASSES), ValueError),
        ((2.0, CLASSES), TypeError),
        ((3, ["a", "a"]), ValueError),
        ((3, []), ValueError),
    ],
)
def test_constructor_bad_input(args, err):
    with pytest.raises(err):
        DecisionLog(*args)


def test_unknown_suffix_rejected(tmp_path):
    with pytest.raises(ValueError, match="must end in one of"):
        DecisionLog(3, CLASSES, path=tmp_path / "d.pkl")


# --- undo -----------------------------------------------------------------------------------
def test_bulk_decision_undoes_as_one_step():
    lg = DecisionLog(100, CLASSES)
    lg.decide([0, 1], "keep")
    lg.decide(np.arange(10, 60), "remove")
    lg.decide([0], "relabel", label=1)
    assert lg.counts()["remove"] == 50
    assert lg.undo() == 1
    assert lg.counts() == {"keep": 2, "remove": 50, "relabel": 0, "needs_review": 0}
    assert lg.undo() == 1  # the bulk step, all 50 at once
    assert lg.counts() == {"keep": 2, "remove": 0, "relabel": 0, "needs_review": 0}
    assert len(lg) == 2
    assert lg.undo(5) == 1
    assert not lg.can_undo and lg.undo() == 0 and len(lg.current()) == 0


def test_undo_restores_previous_decision_of_same_sample():
    lg = DecisionLog(5, CLASSES)
    lg.decide(3, "relabel", label="dog")
    lg.decide(3, "remove")
    lg.undo()
    cur = lg.current()
    assert cur["action"].tolist() == ["relabel"] and cur["label_name"].tolist() == ["dog"]
    with pytest.raises(ValueError, match="positive int"):
        lg.undo(0)


def test_on_change_called_and_unsubscribed():
    lg = DecisionLog(5, CLASSES)
    calls = []
    unsubscribe = lg.on_change(lambda: calls.append(1))
    lg.decide(0, "keep")
    lg.undo()
    lg.decide([], "keep")  # nothing decided -> no change
    assert len(calls) == 2
    unsubscribe()
    lg.decide(1, "keep")
    assert len(calls) == 2
    with pytest.raises(TypeError):
        lg.on_change("not callable")


# --- apply ----------------------------------------------------------------------------------
def test_apply_to_int_labels(log):
    labels = np.arange(20) % 3
    out = log.apply(labels)
    keep = np.setdiff1d(np.arange(20), [1, 3])
    expected = labels.copy()
    expected[[4, 5, 6]] = [2, 0, 1]
    np.testing.assert_array_equal(out, expected[keep])
    np.testing.assert_array_equal(labels, np.arange(20) % 3)  # input untouched


def test_apply_to_names_and_dataframe(log):
    names = np.asarray(CLASSES)[np.arange(20) % 3]
    out = log.apply(list(names))
    assert len(out) == 18 and out[2] == "bird"  # sample 4 sits at position 2 after removal
    df = pd.DataFrame(
        {"y": names, "x": np.arange(20) * 10, "sample": np.arange(20)}, index=np.arange(20) + 100
    )
    # joined by id: the frame's index holds no sample id of this log (positions 0..19)
    with pytest.raises(ValueError, match="none of the frame's ids"):
        log.apply(df, label_column="y")
    clean = log.apply(df, label_column="y", id_column="sample")
    assert clean.index.tolist() == [i + 100 for i in range(20) if i not in (1, 3)]
    assert clean.loc[104, "y"] == "bird" and clean.loc[105, "y"] == "cat"
    assert clean.loc[110, "x"] == 100
    assert df.loc[104, "y"] == "dog"  # input untouched


def test_apply_bad_input(log):
    with pytest.raises(ValueError, match=r"shape \(N=20,\)"):
        log.apply(np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="label_column 'label' is not a column"):
        log.apply(pd.DataFrame({"y": np.zeros(20, dtype=int)}))
    with pytest.raises(TypeError, match="class indices"):
        log.apply(np.linspace(0, 1, 20))


# --- files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_export_reload_roundtrip(log, tmp_path, fmt):
    path = getattr(log, f"to_{fmt}")(tmp_path / f"decisions.{fmt}")
    back = DecisionLog.load(path)
    pd.testing.assert_frame_equal(back.log, log.log)
    pd.testing.assert_frame_equal(back.current(), log.current())
    assert back.n_steps == log.n_steps and back.class_names == CLASSES
    back.undo()  # steps survive the file: the last one (keep 2) undoes alone
    assert back.current().set_index("index").loc[2, "action"] == "remove"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_log_roundtrip(tmp_path, fmt):
    lg = DecisionLog(4, CLASSES)
    back = DecisionLog.load(lg.save(tmp_path / f"e.{fmt}"))
    assert len(back) == 0 and back.n_samples == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_interrupted_export_keeps_previous_file(log, tmp_path, monkeypatch, fmt):
    path = tmp_path / f"decisions.{fmt}"
    log.save(path)
    before = path.read_bytes()
    log.decide(np.arange(8, 20), "remove", note="x" * 20000)  # big enough for several chunks
    monkeypatch.setattr(dio, "_CHUNK", 512)
    written = []

    def failing_write(f, data):
        if len(written) == 3:
            raise OSError("disk full (injected)")
        written.append(len(data))
        f.write(data)

    monkeypatch.setattr(dio, "_write_chunk", failing_write)
    with pytest.raises(OSError, match="injected"):
        log.save(path)
    assert len(written) == 3  # the failure really came mid-write
    assert path.read_bytes() == before
    sidecar = [dio.sidecar_path(path).name] if fmt == "csv" else []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, *sidecar])  # no temp
    assert len(DecisionLog.load(path)) == 8


def test_failure_before_rename_keeps_previous_file(log, tmp_path, monkeypatch):
    path = log.to_json(tmp_path / "d.json")
    before = path.read_bytes()
    log.decide(10, "remove")

    def broken_fsync(fd):
        raise OSError("fsync failed (injected)")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="injected"):
        log.to_json(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]


def test_export_to_missing_folder(log, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        log.to_csv(tmp_path / "nope" / "d.csv")


def _rewrite_json(path, edit):
    body = json.loads(path.read_text())
    edit(body)
    path.write_text(json.dumps(body))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda b: b.update(format="something-else"), "not a workbench decisions file"),
        (lambda b: b.update(version=99), "newer workbench"),
        (lambda b: b.update(version="1"), "version must be"),
        (lambda b: b.update(n_samples=-3), "n_samples"),
        (lambda b: b.update(class_names=["a", "a"]), "class_names"),
        (lambda b: b["steps"][0].pop("action"), r"columns \['action'\] are missing"),
        (lambda b: b["steps"][0].update(action="burn"), "unknown action 'burn'"),
        (lambda b: b["steps"][0]["index"].__setitem__(0, 500), "'index' must lie in"),
        (lambda b: b["steps"][0]["index"].__setitem__(0, 1.5), "must hold integers"),
        (lambda b: b["steps"][0].update(label=[1, -1, -1]), "'label' must be a class"),
        (lambda b: b["steps"][1].update(label=7), "'label' must be a class"),
        (lambda b: b["steps"][1].update(step=0), "step numbers must increase"),
        (lambda b: b["steps"][0]["index"].__setitem__(1, 1), "names a sample twice"),
        (lambda b: b["steps"][0]["score"].__setitem__(0, "high"), "high"),
        (lambda b: b["steps"][0].update(label=[0]), "1 values for 3 rows"),
        (lambda b: b["steps"][0].update(user=5), "'user' must be a string"),
        (lambda b: b["steps"][0].update(index=[]), "for 0 rows"),
        (lambda b: b["steps"][0].update(index=[], id=[], label=[], score=[]), "no rows"),
        (lambda b: b.update(steps="all of them"), "'steps' must be a list"),
    ],
)
def test_malformed_json_raises_and_changes_nothing(log, tmp_path, edit, match):
    path = log.to_json(tmp_path / "d.json")
    _rewrite_json(path, edit)
    target = DecisionLog(20, CLASSES)
    target.decide(0, "keep")
    before = target.log
    with pytest.raises(ValueError, match=match):
        DecisionLog.load(path)
    with pytest.raises(ValueError, match=match):
        target.merge(path)
    pd.testing.assert_frame_equal(target.log, before)


@pytest.mark.parametrize(
    "content",
    [
        b"index,label\n0,1\n1,2\n",  # someone else's CSV
        b'# {"format": "label-noise-workbench/decisions", "version": 1}\nindex\n0\n',
        b"\x00\x01garbage",
        b'{"format": "label-noise-workbench/decisions", "version": 1, ',  # truncated JSON
        b"PAR1 not really parquet",
        b'["a list"]',
    ],
)
def test_foreign_files_raise(tmp_path, content):
    path = tmp_path / "foreign.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="Cannot read decisions from"):
        DecisionLog.load(path)


def test_foreign_parquet_raises(tmp_path):
    path = tmp_path / "other.parquet"
    pd.DataFrame({"index": [0, 1], "action": ["keep", "keep"]}).to_parquet(path)
    with pytest.raises(ValueError, match="no workbench header"):
        DecisionLog.load(path)


def test_malformed_csv_and_parquet(log, tmp_path):
    path = log.to_csv(tmp_path / "d.csv")
    path.write_text(path.read_text().replace('"remove"', '"burn"', 1))
    with pytest.raises(ValueError, match="unknown action 'burn'"):
        DecisionLog.load(path)
    path = log.to_csv(tmp_path / "d.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0].replace("index", "idx")] + lines[1:]))
    with pytest.raises(ValueError, match="Cannot read decisions"):
        DecisionLog.load(path)
    import pyarrow.parquet as pq

    path = log.to_parquet(tmp_path / "d.parquet")
    table = pq.read_table(path).drop_columns(["note"])
    pq.write_table(table, path)
    with pytest.raises(ValueError, match=r"columns \['note'\] are missing"):
        DecisionLog.load(path)


def test_files_are_compact_for_bulk_steps(tmp_path):
    lg = DecisionLog(50_000, CLASSES)
    lg.decide(np.arange(50_000), "remove", detector="d", score=np.linspace(0, 1, 50_000))
    body = json.loads(lg.to_json(tmp_path / "d.json").read_text())
    step = body["steps"][0]
    assert step["action"] == "remove" and step["detector"] == "d"  # shared values stored once
    assert len(step["index"]) == 50_000
    back = DecisionLog.load(tmp_path / "d.json")
    np.testing.assert_allclose(back.log["score"], np.linspace(0, 1, 50_000))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        DecisionLog.load(tmp_path / "absent.json")


# --- autosave -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_autosave_and_reload_after_restart(tmp_path, fmt):
    path = tmp_path / f"auto.{fmt}"
    lg = DecisionLog(30, CLASSES, path=path, user="ada")
    assert not path.exists()  # nothing decided yet, nothing written
    lg.decide(np.arange(5), "remove")
    assert path.exists()
    lg.decide(7, "relabel", label="dog", note="ears")
    lg.decide(8, "needs_review")
    lg.undo()
    # "kernel restart": a new log on the same path sees everything, undo history included
    again = DecisionLog(30, CLASSES, path=path)
    pd.testing.assert_frame_equal(again.log, lg.log)
    assert again.counts() == {"keep": 0, "remove": 5, "relabel": 1, "needs_review": 0}
    again.undo()
    assert DecisionLog(30, CLASSES, path=path).counts()["relabel"] == 0


def test_autosave_file_for_other_dataset_is_refused_untouched(tmp_path):
    path = tmp_path / "auto.json"
    DecisionLog(30, CLASSES, path=path).decide(1, "keep")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="N=30"):
        DecisionLog(31, CLASSES, path=path)
    with pytest.raises(ValueError, match="classes"):
        DecisionLog(30, ["cat", "dog", "fish"], path=path)
    assert path.read_bytes() == before


def test_autosave_failure_keeps_decision_in_memory(tmp_path, monkeypatch):
    path = tmp_path / "auto.json"
    lg = DecisionLog(10, CLASSES, path=path)
    lg.decide(1, "keep")

    def failing_write(f, data):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(dio, "_write_chunk", failing_write)
    with pytest.raises(OSError, match="recorded in memory"):
        lg.decide(2, "remove")
    assert lg.counts()["remove"] == 1
    assert DecisionLog.load(path).counts()["remove"] == 0
    monkeypatch.undo()
    lg.to_csv(tmp_path / "rescue.csv")
    assert DecisionLog.load(tmp_path / "rescue.csv").counts()["remove"] == 1


def test_reload_picks_up_changes(tmp_path):
    path = tmp_path / "auto.parquet"
    a = DecisionLog(10, CLASSES, path=path)
    b = DecisionLog(10, CLASSES, path=path)
    a.decide(3, "remove")
    seen = []
    b.on_change(lambda: seen.append(1))
    b.reload()
    assert b.remove_mask()[3] and seen == [1]
    with pytest.raises(ValueError, match="path"):
        DecisionLog(10, CLASSES).reload()


# --- merge ----------------------------------------------------------------------------------
def _two_logs():
    mine, theirs = DecisionLog(10, CLASSES, user="ada"), DecisionLog(10, CLASSES, user="bob")
    mine.decide([0, 1, 2], "remove")
    theirs.decide([1], "remove")  # identical
    theirs.decide([2], "relabel", label="cat")  # conflict, theirs newer
    theirs.decide([5, 6], "keep")  # new
    mine.decide([3], "keep")
    theirs.decide([3], "relabel", label="dog")  # conflict, theirs newer
    mine.decide([3], "needs_review")  # mine now newer on 3
    return mine, theirs


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("keep_mine", {2: "remove", 3: "needs_review"}),
        ("take_theirs", {2: "relabel", 3: "relabel"}),
        ("newest", {2: "relabel", 3: "needs_review"}),
    ],
)
def test_merge_policies(policy, expected, monkeypatch):
    times = iter(f"2026-11-23T10:00:{s:02d}.000+00:00" for s in range(60))
    monkeypatch.setattr("workbench.decisions.log._now", lambda: next(times))
    mine, theirs = _two_logs()
    report = mine.merge(theirs, policy=policy)
    assert isinstance(report, MergeReport)
    assert report.added == 2 and report.identical == 1 and report.n_conflicts == 2
    conf = report.conflicts.set_index("index")
    assert conf.loc[2, "mine_action"] == "remove" and conf.loc[2, "theirs_action"] == "relabel"
    assert conf.loc[2, "theirs_label_name"] == "cat" and conf.loc[3, "theirs_user"] == "bob"
    cur = mine.current().set_index("index")
    assert {i: cur.loc[i, "action"] for i in (2, 3)} == expected
    assert cur.loc[5, "action"] == "keep" and cur.loc[5, "user"] == "bob"  # provenance kept
    assert report.taken_theirs == sum(a == "relabel" for a in expected.values())
    assert "conflict" in report.summary()
    mine.undo()  # the merge is one step
    assert 5 not in mine.current()["index"].tolist()


def test_merge_from_path_and_bad_input(tmp_path):
    mine, theirs = _two_logs()
    path = theirs.to_parquet(tmp_path / "theirs.parquet")
    assert mine.merge(path, policy="take_theirs").n_conflicts == 2
    with pytest.raises(ValueError, match="policy must be one of"):
        mine.merge(theirs, policy="coin_flip")
    with pytest.raises(TypeError, match="DecisionLog or a path"):
        mine.merge(42)
    with pytest.raises(ValueError, match="Cannot merge"):
        mine.merge(DecisionLog(11, CLASSES))


def test_merge_nothing_to_take_is_not_a_change():
    mine, theirs = DecisionLog(5, CLASSES), DecisionLog(5, CLASSES)
    mine.decide(1, "keep")
    theirs.decide(1, "keep")
    steps = mine.n_steps
    report = mine.merge(theirs)
    assert (report.added, report.identical, report.n_conflicts) == (0, 1, 0)
    assert mine.n_steps == steps


def test_large_bulk_decision_is_vectorised():
    n = 200_000
    lg = DecisionLog(n, CLASSES)
    lg.decide(np.arange(0, n, 2), "remove", score=np.linspace(0, 1, n // 2))
    lg.decide(np.arange(1, n, 4), "relabel", label=np.arange(n // 4) % 3)
    assert lg.counts()["remove"] == n // 2 and lg.counts()["relabel"] == n // 4
    assert len(lg.apply(np.zeros(n, dtype=int))) == n // 2
    assert len(lg.tail(10)) == 10 and lg.tail(10)["action"].eq("relabel").all()


def test_actions_constant():
    assert ACTIONS == ("keep", "remove", "relabel", "needs_review")
    assert repr(DecisionLog(3, CLASSES)).startswith("DecisionLog(N=3")


def test_a_log_for_a_multilabel_dataset_carries_its_label_sets():
    """Label sets (N, K) are the given labels of a multi-label dataset: they make the
    fingerprint, and a session opens on such a dataset."""
    import workbench as wb

    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]] * 10)
    probs = np.random.default_rng(0).random((40, 3))
    ds = wb.Dataset(y, pred_probs=probs, task="multilabel")
    log = DecisionLog.for_dataset(ds)
    assert log.fingerprint == ds.fingerprint and log.labels is None
    np.testing.assert_array_equal(log.given_sets, y.astype(bool))
    other = wb.Dataset(1 - y, pred_probs=probs, task="multilabel")
    assert DecisionLog.for_dataset(other).fingerprint != log.fingerprint
    with pytest.raises(ValueError, match=r"shape \(N=40, K=3\)"):
        DecisionLog(40, ["a", "b", "c"], labels=np.zeros((40, 2)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        DecisionLog(40, ["a", "b", "c"], labels=np.full((40, 3), 2))
    session = wb.Session(ds)
    assert session.decide([0, 1], "remove") == 2
