"""Decision files under hostile and messy input: spreadsheet-safe and lossless CSV, a plain
table pandas reads, version 1 files, bounded work for a hostile header, non-finite scores,
file modes, and apply() refusing labels it cannot map; hypothesis round trips in every format."""

from __future__ import annotations

import json
import os
import stat
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench.decisions.formats as dio
from workbench.core.csv_safety import FORMULA_STARTS
from workbench.decisions.log import DecisionLog

CLASSES = ["=cat", "-1", "@bird"]  # class names a spreadsheet would run as formulas
FORMATS = ["json", "csv", "parquet"]
HOSTILE = ['=HYPERLINK("http://evil","x")', "+1+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "'=1", "'",
           "plain", "", "a,b", 'q"uote', "new\nline", "ünï☃", "\x00nul"]  # fmt: skip


def hostile_log(**kw) -> DecisionLog:
    lg = DecisionLog(12, CLASSES, user="=evil()", **kw)
    lg.decide([0, 1], "remove", note=HOSTILE[0], detector="+det", threshold=-0.5, score=[-1.5, 2])
    lg.decide(2, "relabel", label="@bird", note="-3")
    lg.decide([3, 4, 5], "needs_review", note=HOSTILE[3:6], user="@someone")
    return lg


# --- CSV: spreadsheet-safe, plain, lossless ------------------------------------------------------
def test_csv_cells_are_neutralised_and_numbers_stay_numbers(tmp_path):
    path = hostile_log().to_csv(tmp_path / "d.csv")
    table = pd.read_csv(path)  # a plain table: pandas reads it as is
    assert list(table.columns) == list(dio.COLUMNS)
    assert len(table) == 6
    for c in dio.STR_COLUMNS:
        for cell in ("" if pd.isna(v) else str(v) for v in table[c]):
            assert cell[:1] not in FORMULA_STARTS, (c, cell)
    assert table["score"].tolist()[:2] == [-1.5, 2.0]  # negative numbers are numbers
    assert table["label"].tolist()[2] == 2 and (table["label"].drop(2) == -1).all()
    assert table.loc[0, "note"].startswith("'=") and table.loc[0, "user"] == "'=evil()"
    assert table.loc[0, "threshold"] == "'-0.5"


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_hostile_text_is_lossless(tmp_path, fmt):
    lg = hostile_log()
    back = DecisionLog.load(lg.save(tmp_path / f"d.{fmt}"))
    pd.testing.assert_frame_equal(back.log, lg.log)


def test_csv_header_lives_in_a_sidecar_and_csv_alone_merges_into_its_dataset(tmp_path):
    lg = hostile_log()
    path = lg.to_csv(tmp_path / "d.csv")
    side = dio.sidecar_path(path)
    assert side.name == "d.header.json"
    body = json.loads(side.read_text())
    assert body["n_samples"] == 12 and body["class_names"] == CLASSES
    assert not path.read_text().startswith("#")
    side.unlink()
    with pytest.raises(ValueError, match="header file .* is missing"):
        DecisionLog.load(path)
    target = DecisionLog(12, CLASSES)
    assert target.merge(path).added == 6  # read against the target's own header
    with pytest.raises(ValueError, match="labels"):  # a CSV for other classes does not fit
        DecisionLog(12, ["a", "b"]).merge(path)


def test_version_1_files_still_load(tmp_path):
    header = {"format": dio.FORMAT, "version": 1, "n_samples": 5, "class_names": ["a", "b"]}
    v1_json = {**header, "steps": [
        {"step": 0, "index": [1, 2], "action": "remove", "label": -1, "label_name": "",
         "user": "ada", "time": "2026-01-01T00:00:00.000+00:00", "detector": "d",
         "threshold": "", "score": [0.5, None], "note": "=not neutralised in v1"},
        {"step": 1, "index": [3], "action": "relabel", "label": 1, "label_name": "b",
         "user": "ada", "time": "2026-01-01T00:00:01.000+00:00", "detector": "",
         "threshold": "", "score": None, "note": ""},
    ]}  # fmt: skip
    (tmp_path / "v1.json").write_text(json.dumps(v1_json))
    lg = DecisionLog.load(tmp_path / "v1.json")
    assert lg.counts() == {"keep": 0, "remove": 2, "relabel": 1, "needs_review": 0}
    assert lg.log["note"][0] == "=not neutralised in v1" and lg.log["id"].tolist() == [1, 2, 3]
    csv = (
        "# " + json.dumps(header) + "\n"
        "step,index,action,label,label_name,user,time,detector,threshold,score,note\n"
        "0,1,remove,-1,,ada,2026-01-01T00:00:00.000+00:00,d,,0.5,'=kept as written\n"
        "1,3,relabel,1,b,ada,2026-01-01T00:00:01.000+00:00,,,,\n"
    )
    (tmp_path / "v1.csv").write_text(csv)
    lg = DecisionLog.load(tmp_path / "v1.csv")
    assert lg.counts()["relabel"] == 1 and lg.log["note"][0] == "'=kept as written"
    # and it saves again as version 2
    again = DecisionLog.load(lg.to_json(tmp_path / "v2.json"))
    assert json.loads((tmp_path / "v2.json").read_text())["version"] == 2
    pd.testing.assert_frame_equal(again.log, lg.log)


# --- hostile headers: bounded work ---------------------------------------------------------------
def _hostile_json(path, n=300_000_000, steps=200):
    items = [
        {"step": s, "id": [s], "index": [s], "action": "keep", "label": -1, "label_name": "",
         "given": -1, "added": "", "removed": "", "user": "x", "time": "t", "detector": "",
         "threshold": "", "score": None, "note": "", "undoes": -1}
        for s in range(steps)
    ]  # fmt: skip
    head = {"format": dio.FORMAT, "version": 2, "n_samples": n, "class_names": CLASSES,
            "ids": "position", "fingerprint": None}  # fmt: skip
    path.write_text(json.dumps({**head, "steps": items}))
    return path


def test_a_tiny_file_claiming_a_huge_dataset_is_refused_before_allocating(tmp_path):
    path = _hostile_json(tmp_path / "hostile.json")
    assert path.stat().st_size < 64_000
    target = DecisionLog(20, CLASSES)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="N=300000000"):
            target.merge(path)
        for fmt in ("parquet", "csv"):  # the same header in the other formats
            other = tmp_path / f"hostile.{fmt}"
            data = dio.read_decisions(path)
            dio.write_file(other, data["header"], data["steps"], None)
            with pytest.raises(ValueError, match="N=300000000"):
                target.merge(other)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # nothing of size N was allocated (3e8 would be gigabytes)
    assert len(target) == 0


def test_validation_of_a_hostile_file_is_bounded_by_its_size(tmp_path):
    """Reading without a target (no header to compare) validates without N-sized arrays."""
    path = _hostile_json(tmp_path / "hostile.json")
    tracemalloc.start()
    try:
        data = dio.read_decisions(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(data["steps"]) == 200 and peak < 50_000_000


# --- non-finite scores ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [*FORMATS, "db"])
def test_infinite_scores_autosave_and_round_trip(tmp_path, fmt):
    path = tmp_path / f"auto.{fmt}"
    lg = DecisionLog(5, CLASSES, path=path)
    lg.decide(0, "keep", score=np.inf)  # raised ValueError (not the wrapped OSError) before
    lg.decide(1, "remove", score=-np.inf)
    lg.decide([2, 3], "keep", score=[np.nan, 1.0])
    back = DecisionLog(5, CLASSES, path=path)
    np.testing.assert_array_equal(back.log["score"], [np.inf, -np.inf, np.nan, 1.0])
    back.close()
    lg.close()


def test_a_json_file_holding_bare_infinity_loads_and_saves_again(tmp_path):
    path = hostile_log().to_json(tmp_path / "d.json")
    text = path.read_text().replace('"score": [-1.5, 2.0]', '"score": [Infinity, -Infinity]')
    assert "Infinity" in text
    path.write_text(text)
    lg = DecisionLog.load(path)
    assert lg.log["score"][:2].tolist() == [np.inf, -np.inf]
    again = DecisionLog.load(lg.to_json(tmp_path / "again.json"))
    assert again.log["score"][:2].tolist() == [np.inf, -np.inf]
    json.loads((tmp_path / "again.json").read_text(), parse_constant=_no_constants)


def _no_constants(name):
    raise AssertionError(f"non-standard JSON constant {name} written")


# --- file modes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_autosave_keeps_a_shared_file_readable(tmp_path, fmt):
    path = tmp_path / f"shared.{fmt}"
    lg = DecisionLog(5, CLASSES, path=path)
    lg.decide(0, "keep")
    os.chmod(path, 0o664)
    lg.decide(1, "remove")
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


# --- apply --------------------------------------------------------------------------------------
def test_apply_refuses_labels_outside_the_classes():
    lg = DecisionLog(4, ["a", "b", "c"])
    lg.decide(0, "relabel", label="b")
    with pytest.raises(ValueError, match=r"0\.\.2, found \[7\]"):
        lg.apply(np.array([0, 1, 7, 2]))
    with pytest.raises(ValueError, match=r"0\.\.2, found \[-1\]"):
        lg.apply(np.array([0, -1, 1, 2]))
    with pytest.raises(ValueError, match=r"class names .*found \['zebra'\]"):
        lg.apply(np.array(["a", "zebra", "b", "c"], dtype=object))
    np.testing.assert_array_equal(lg.apply(np.array([0, 0, 1, 2])), [1, 0, 1, 2])


def test_apply_keeps_a_categorical_column_categorical():
    lg = DecisionLog(4, ["a", "b", "c"])
    lg.decide(0, "relabel", label="c")
    lg.decide(3, "remove")
    df = pd.DataFrame({"label": pd.Categorical(["a", "b", "a", "b"], categories=["a", "b", "c"])})
    out = lg.apply(df)
    assert isinstance(out["label"].dtype, pd.CategoricalDtype)
    assert out["label"].tolist() == ["c", "b", "a"]
    assert list(out["label"].cat.categories) == ["a", "b", "c"]
    # a category the column lacks is added, not turned into NaN
    df2 = pd.DataFrame({"label": pd.Categorical(["a", "b", "a", "b"], categories=["a", "b"])})
    out2 = lg.apply(df2)
    assert out2["label"].tolist() == ["c", "b", "a"] and "c" in out2["label"].cat.categories
    arr = lg.apply(pd.Series(pd.Categorical(["a", "b", "a", "b"])))
    assert isinstance(arr, pd.Categorical) and list(arr) == ["c", "b", "a"]


# --- property-based round trips ------------------------------------------------------------------
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
texts = st.one_of(text, st.sampled_from(HOSTILE))
step_strategy = st.fixed_dictionaries(
    {
        "indices": st.lists(st.integers(0, 9), min_size=1, max_size=5),
        "action": st.sampled_from(
            ["keep", "remove", "relabel", "needs_review", "edit_labels", "undo"]
        ),  # fmt: skip
        "label": st.integers(0, 2),
        "note": texts,
        "user": texts,
        "detector": texts,
        "score": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64)),
    }
)


LABEL_NAMES = ["=a", "b c", "-1"]


def _build(steps, ids=None, labels=None) -> DecisionLog:
    lg = DecisionLog(10, LABEL_NAMES, ids=ids, labels=labels, user="u")
    for s in steps:
        if s["action"] == "undo":
            lg.undo()
            continue
        kw = {"label": s["label"]} if s["action"] == "relabel" else {}
        if s["action"] == "edit_labels":
            kw = {"add": [s["label"]], "remove": [(s["label"] + 1) % 3]}
        lg.decide(s["indices"], s["action"], note=s["note"], user=s["user"],
                  detector=s["detector"], score=s["score"], **kw)  # fmt: skip
    return lg


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step_strategy, max_size=6), fmt=st.sampled_from(FORMATS),
       ids=st.sampled_from(["position", "int", "str"]))  # fmt: skip
def test_every_export_import_round_trip_is_lossless(tmp_path_factory, steps, fmt, ids):
    id_values = {"position": None, "int": np.arange(10) * -7, "str": [f"=f{i}" for i in range(10)]}
    labels = np.arange(10) % 3
    lg = _build(steps, ids=id_values[ids], labels=labels)
    folder = tmp_path_factory.mktemp("rt")
    path = lg.save(folder / f"d.{fmt}")
    back = DecisionLog.load(path)
    pd.testing.assert_frame_equal(back.history(), lg.history())
    pd.testing.assert_frame_equal(back.current(), lg.current())
    assert back.counts() == lg.counts()
    # and into a log made for the same dataset (fingerprint checked)
    same = DecisionLog.load(path, ids=id_values[ids], labels=labels, class_names=lg.class_names)
    pd.testing.assert_frame_equal(same.history(), lg.history())


def test_loading_a_hostile_file_without_a_target_keeps_memory_bounded(tmp_path):
    """DecisionLog.load has no dataset to compare with: the per-sample state for the N the
    header claims (3e8: 5 GB when filled) is zeroed memory that only the decisions touch."""
    import subprocess
    import sys

    path = _hostile_json(tmp_path / "hostile.json")
    code = (
        "import resource, sys\n"
        "from workbench.decisions.log import DecisionLog\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "log = DecisionLog.load(sys.argv[1])\n"
        "assert log.n_samples == 300_000_000 and len(log) == 200, len(log)\n"
        "assert log.counts()['keep'] == 200\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) < 300_000  # kB: far below the 5 GB a filled state would take


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step_strategy, max_size=6), ids=st.sampled_from(["position", "int", "str"]))
def test_every_sqlite_store_reopens_losslessly(tmp_path_factory, steps, ids):
    id_values = {"position": None, "int": np.arange(10) * -7, "str": [f"=f{i}" for i in range(10)]}
    labels = np.arange(10) % 3
    path = tmp_path_factory.mktemp("db") / "d.db"
    stored = DecisionLog(10, LABEL_NAMES, ids=id_values[ids], labels=labels, user="u", path=path)
    memory = _build(steps, ids=id_values[ids], labels=labels)
    for s in steps:  # the same steps, stored one transaction each
        if s["action"] == "undo":
            stored.undo()
            continue
        kw = {"label": s["label"]} if s["action"] == "relabel" else {}
        if s["action"] == "edit_labels":
            kw = {"add": [s["label"]], "remove": [(s["label"] + 1) % 3]}
        stored.decide(s["indices"], s["action"], note=s["note"], user=s["user"],
                      detector=s["detector"], score=s["score"], **kw)  # fmt: skip
    again = DecisionLog(10, LABEL_NAMES, ids=id_values[ids], labels=labels, path=path)
    cols = [c for c in memory.history().columns if c not in ("step", "undoes", "time")]
    pd.testing.assert_frame_equal(again.history()[cols], memory.history()[cols])
    pd.testing.assert_frame_equal(again.history(), stored.history())
    assert again.counts() == memory.counts()
    stored.close()
    again.close()
