"""Where decisions live: sample ids and the dataset fingerprint, the SQLite store (WAL, one
transaction per step, undo recorded, several processes at once, kill -9, a locked database),
carrying decisions over to changed data by id, and reviewers' conflicts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from workbench.core.dataset import Dataset
from workbench.core.identity import fingerprint
from workbench.decisions.log import DecisionLog
from workbench.decisions.store import SQLiteStore, StoreError

CLASSES = ["cat", "dog", "owl"]
FILES = [f"img_{i:03d}.png" for i in range(12)]
LABELS = np.arange(12) % 3


def dataset(ids=FILES, labels=LABELS) -> Dataset:
    return Dataset(np.asarray(CLASSES)[labels], class_names=CLASSES, ids=ids)


# --- sample ids on the dataset ---------------------------------------------------------------
def test_dataset_ids_from_values_index_or_column():
    ds = dataset()
    assert ds.ids.tolist() == FILES and ds.to_frame()["id"].tolist() == FILES
    s = pd.Series(np.asarray(CLASSES)[LABELS], index=pd.Index(FILES, name="file"))
    assert Dataset(s, ids="index").ids.tolist() == FILES
    meta = pd.DataFrame({"key": np.arange(12) * 10})
    assert Dataset(LABELS, metadata=meta, ids="key").ids.tolist() == list(range(0, 120, 10))
    assert Dataset(LABELS).ids is None and Dataset(LABELS).sample_ids().tolist() == list(range(12))
    assert Dataset(LABELS, ids=np.arange(12) + 5).ids.dtype == np.int64


@pytest.mark.parametrize(
    "ids, err, match",
    [
        (FILES[:11] + ["img_000.png"], ValueError, r"unique.*\['img_000.png'\]"),
        ([1, 2, 2, 3, 3, 3] + list(range(10, 16)), ValueError, r"more than once: \[2, 3\]"),
        (FILES[:11] + [None], ValueError, r"missing values.*\[11\]"),
        ([0.5 * i for i in range(12)], TypeError, "all ints or all strings"),
        ([1, "a"] + list(range(10)), TypeError, "all ints or all strings"),
        ([True, False] * 6, TypeError, "all ints or all strings"),
        ([b"a%d" % i for i in range(12)], TypeError, "all ints or all strings"),
        (np.arange(12, dtype=np.uint64) + np.uint64(2**63), ValueError, "fit in 64 bits"),
        ([2**70 + i for i in range(12)], ValueError, "fit in 64 bits"),
        (FILES[:5], ValueError, r"shape \(N=12,\)"),
        ("nope", ValueError, "'index' or a column of metadata"),
    ],
)
def test_bad_ids_are_refused_naming_the_values(ids, err, match):
    with pytest.raises(err, match=match):
        Dataset(LABELS, ids=ids)


def test_fingerprint_follows_ids_labels_and_classes():
    a = dataset()
    assert a.fingerprint == dataset().fingerprint and len(a.fingerprint) == 64
    assert dataset(ids=FILES[::-1]).fingerprint != a.fingerprint
    assert dataset(labels=(LABELS + 1) % 3).fingerprint != a.fingerprint
    assert Dataset(LABELS).fingerprint != Dataset(LABELS, ids=np.arange(12)).fingerprint


def test_fingerprint_of_string_ids_is_the_documented_byte_stream():
    """Stores keep fingerprints: the hash must stay each id's 8-byte little-endian length then its
    UTF-8 bytes, whatever the ids contain (empty, non-ASCII, NUL, more than one chunk)."""
    ids = np.array(["", "é", "a\x00b", "😀"] + [f"f{i}" for i in range(300_000)], dtype=object)
    labels = np.arange(len(ids)) % 3
    expected = hashlib.sha256()
    expected.update(json.dumps(["a", "b", "c"]).encode())
    expected.update(f"|labels:{len(ids)}|".encode() + labels.astype(np.int64).tobytes())
    expected.update(b"|ids:str|")
    for v in ids:
        b = v.encode("utf-8")
        expected.update(len(b).to_bytes(8, "little") + b)
    assert fingerprint(ids, labels, ["a", "b", "c"]) == expected.hexdigest()


# --- decisions carry ids; apply joins by id -----------------------------------------------------
def test_decisions_record_id_position_and_given_label(tmp_path):
    lg = DecisionLog.for_dataset(dataset())
    lg.decide(lg.positions(["img_004.png", "img_007.png"]), "remove")
    lg.decide(2, "relabel", label="cat")
    df = lg.log
    assert df["id"].tolist() == ["img_004.png", "img_007.png", "img_002.png"]
    assert df["index"].tolist() == [4, 7, 2] and df["given"].tolist() == [1, 1, 2]
    with pytest.raises(ValueError, match=r"ids \['nope.png'\] are not samples"):
        lg.positions(["img_001.png", "nope.png"])
    for fmt in ("json", "csv", "parquet"):
        back = DecisionLog.load(lg.save(tmp_path / f"d.{fmt}"))
        assert back.log["id"].tolist() == df["id"].tolist()


def test_apply_joins_by_id_after_resorting_filtering_and_appending():
    lg = DecisionLog.for_dataset(dataset())
    lg.decide(lg.positions(["img_004.png"]), "remove")
    lg.decide(lg.positions(["img_005.png", "img_009.png"]), "relabel", label="owl")
    frame = pd.DataFrame({"label": np.asarray(CLASSES)[LABELS], "x": range(12)}, index=FILES)
    shuffled = frame.sample(frac=1, random_state=0)
    subset = shuffled.drop(index=["img_009.png"])
    extra = pd.DataFrame({"label": ["dog"], "x": [99]}, index=["new_sample.png"])
    out = lg.apply(pd.concat([subset, extra]))
    assert "img_004.png" not in out.index and "new_sample.png" in out.index
    assert out.loc["img_005.png", "label"] == "owl" and out.loc["new_sample.png", "label"] == "dog"
    assert list(out.index) == [i for i in subset.index if i != "img_004.png"] + ["new_sample.png"]
    by_column = lg.apply(frame.reset_index(names="file"), id_column="file")
    assert by_column["label"].tolist().count("owl") == 5 and len(by_column) == 11


def test_apply_bad_ids():
    lg = DecisionLog.for_dataset(dataset())
    frame = pd.DataFrame({"label": ["cat", "dog"]}, index=["a.png", "b.png"])
    with pytest.raises(ValueError, match="none of the frame's ids"):
        lg.apply(frame)
    dup = pd.DataFrame({"label": ["cat", "dog"]}, index=["img_000.png", "img_000.png"])
    with pytest.raises(ValueError, match=r"duplicated: \['img_000.png'\]"):
        lg.apply(dup)
    with pytest.raises(ValueError, match="id_column 'file' is not a column"):
        lg.apply(frame, id_column="file")


# --- fingerprint: other data refused, carried over by id on request ----------------------------
def test_a_store_of_another_dataset_is_refused(tmp_path):
    path = tmp_path / "decisions.db"
    DecisionLog.for_dataset(dataset(), path=path).decide(1, "keep")
    other = dataset(ids=FILES[::-1])  # same size and classes: v1 merged such files silently
    with pytest.raises(ValueError, match="another dataset .*on_mismatch='by_id'"):
        DecisionLog.for_dataset(other, path=path)
    json_path = DecisionLog.for_dataset(dataset()).save(tmp_path / "d.json")
    with pytest.raises(ValueError, match="another dataset"):
        DecisionLog.for_dataset(other).merge(json_path)


def test_carry_over_by_id_reports_gone_ids_and_changed_labels(tmp_path):
    old = DecisionLog.for_dataset(dataset(), path=tmp_path / "old.db")
    old.decide(old.positions(["img_001.png", "img_002.png", "img_011.png"]), "remove")
    old.decide(old.positions(["img_003.png"]), "relabel", label="owl")
    old.decide(old.positions(["img_000.png"]), "keep")
    old.undo()  # undone steps are not carried
    # the new data: re-sorted, img_011 dropped, a sample appended, img_002 relabelled since
    new_ids = [f for f in FILES[::-1] if f != "img_011.png"] + ["img_100.png"]
    new_labels = np.array([int(f[4:7]) % 3 if f != "img_100.png" else 0 for f in new_ids])
    new_labels[new_ids.index("img_002.png")] = 0
    ds = dataset(ids=new_ids, labels=new_labels)
    lg = DecisionLog.for_dataset(ds, path=tmp_path / "new.db")
    report = lg.merge(tmp_path / "old.db", on_mismatch="by_id")
    assert report.added == 3 and report.carry.carried == 3
    assert report.carry.gone == ["img_011.png"]
    changed = report.carry.label_changed
    assert changed["id"].tolist() == ["img_002.png"]
    assert changed[["label_then", "label_now"]].values.tolist() == [["owl", "cat"]]
    cur = lg.current().set_index("id")
    assert cur.loc["img_001.png", "index"] == new_ids.index("img_001.png")
    assert cur.loc["img_003.png", "label_name"] == "owl" and "img_000.png" not in cur.index
    loaded = DecisionLog.load(tmp_path / "old.db", ids=new_ids, labels=new_labels,
                              class_names=CLASSES, on_mismatch="by_id")  # fmt: skip
    assert loaded.carry_report.gone == ["img_011.png"] and loaded.counts()["remove"] == 2


# --- the SQLite store ----------------------------------------------------------------------------
def test_sqlite_is_the_store_for_db_paths_in_wal_mode(tmp_path):
    path = tmp_path / "decisions.db"
    lg = DecisionLog.for_dataset(dataset(), path=path, user="ada")
    lg.decide([1, 2], "remove", score=[0.5, np.inf], note="=x")
    lg.decide(3, "relabel", label="owl")
    lg.undo()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = con.execute(
        "SELECT COALESCE(step, row_id), undoes, action FROM wb_decisions ORDER BY row_id"
    ).fetchall()
    # history kept; a step is numbered by its first row; its shared text is stored there only
    assert rows == [(1, -1, "remove"), (1, -1, None), (3, -1, "relabel"), (4, 3, "undo")]
    con.close()
    again = DecisionLog.for_dataset(dataset(), path=path)
    pd.testing.assert_frame_equal(again.log, lg.log)
    pd.testing.assert_frame_equal(again.history(), lg.history())
    assert again.history()["undone"].tolist() == [False, False, True, False]
    again.undo()
    assert DecisionLog.for_dataset(dataset(), path=path).counts()["remove"] == 0
    lg.close()
    again.close()


def test_a_decision_writes_only_its_step(tmp_path):
    path = tmp_path / "decisions.db"
    lg = DecisionLog(1000, CLASSES, path=path)
    lg.decide(np.arange(500), "remove")
    con = sqlite3.connect(path)
    first = con.execute("SELECT MIN(row_id), MAX(row_id) FROM wb_decisions").fetchone()
    lg.decide(7, "keep")
    after = con.execute("SELECT MIN(row_id), MAX(row_id), COUNT(*) FROM wb_decisions").fetchone()
    assert first == (1, 500) and after == (1, 501, 501)  # appended, nothing rewritten
    con.close()
    lg.close()


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from workbench.decisions.log import DecisionLog
    path, user, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    log = DecisionLog(10_000, ["a", "b", "c"], path=path, user=user, busy_timeout=60)
    print("ready", flush=True)
    sys.stdin.readline()  # both processes start together
    for i in range(start, start + count):
        log.decide(i, "remove" if i % 2 else "keep", note=user)
    print("done", flush=True)
    """
)


def _writers(path, specs):
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), *map(str, spec)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for spec in specs
    ]  # fmt: skip
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    return procs


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "decisions.db"
    DecisionLog(10_000, ["a", "b", "c"], path=path).close()  # created first
    procs = _writers(path, [("ada", 0, 300), ("bob", 300, 300)])
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0 and out.strip() == "done"
    lg = DecisionLog(10_000, ["a", "b", "c"], path=path)
    df = lg.log
    assert len(df) == 600 and sorted(df["index"]) == list(range(600))
    assert df.groupby("user").size().to_dict() == {"ada": 300, "bob": 300}
    assert df["step"].is_unique and df["step"].is_monotonic_increasing
    lg.close()


def test_kill_9_while_writing_leaves_a_consistent_store(tmp_path):
    path = tmp_path / "decisions.db"
    DecisionLog(10_000, ["a", "b", "c"], path=path).close()
    (proc,) = _writers(path, [("ada", 0, 100_000 // 10)])
    # wait until some steps are in, then kill it mid-stream
    con = sqlite3.connect(path, timeout=60)
    while con.execute("SELECT COUNT(*) FROM wb_decisions").fetchone()[0] < 50:
        pass
    proc.kill()
    proc.wait()
    con.close()
    lg = DecisionLog(10_000, ["a", "b", "c"], path=path)
    n = len(lg)
    assert n >= 50 and lg.log["index"].tolist() == list(range(n))  # a prefix, nothing torn
    lg.decide(9_999, "keep")  # and it takes new decisions
    lg.close()


def test_a_locked_database_keeps_the_decision_in_memory_and_writes_it_later(tmp_path):
    path = tmp_path / "decisions.db"
    lg = DecisionLog(10, CLASSES, path=path, busy_timeout=0.1)
    lg.decide(1, "keep")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreError, match="recorded in memory .*locked"):
        lg.decide(2, "remove")
    assert lg.counts()["remove"] == 1  # nothing lost in memory
    blocker.execute("ROLLBACK")
    blocker.close()
    lg.decide(3, "remove")  # the pending step goes in first
    back = DecisionLog(10, CLASSES, path=path)
    assert back.log["index"].tolist() == [1, 2, 3]
    lg.close()
    back.close()


def test_bad_store_paths(tmp_path):
    with pytest.raises(ValueError, match="must end in one of"):
        DecisionLog(5, CLASSES, path=tmp_path / "d.txt")
    (tmp_path / "junk.db").write_bytes(b"not a database at all, really not")
    with pytest.raises(ValueError, match="not a SQLite database"):
        DecisionLog(5, CLASSES, path=tmp_path / "junk.db")
    with pytest.raises(ValueError, match="does not exist"):
        DecisionLog(5, CLASSES, path=tmp_path / "no" / "d.db")
    with pytest.raises(ValueError, match="busy_timeout"):
        SQLiteStore(tmp_path / "d.db", busy_timeout=-1)


def test_reopening_is_vectorised(tmp_path):
    """Loading was O(steps × N); 300 single decisions over N = 200,000 reopen as one pass."""
    path = tmp_path / "decisions.db"
    lg = DecisionLog(200_000, CLASSES, path=path)
    for i in range(300):
        lg.decide(i * 3, "remove" if i % 2 else "keep")
    lg.undo(5)
    back = DecisionLog(200_000, CLASSES, path=path)
    pd.testing.assert_frame_equal(back.current(), lg.current())
    assert back.counts() == lg.counts()
    lg.close()
    back.close()


# --- reviewers' conflicts ----------------------------------------------------------------------
def test_conflicts_by_reviewer_and_their_resolution(tmp_path):
    path = tmp_path / "team.db"
    ada = DecisionLog.for_dataset(dataset(), path=path, user="ada")
    bob = DecisionLog.for_dataset(dataset(), path=path, user="bob")
    ada.decide([1, 2, 3], "remove")
    bob.decide([1], "remove")  # agrees
    bob.decide([2], "keep")  # disagrees
    bob.decide([3], "relabel", label="cat")  # disagrees
    ada.reload()
    conf = ada.conflicts()
    assert sorted(set(conf["id"])) == ["img_002.png", "img_003.png"]
    assert conf[conf["index"] == 2][["user", "action"]].values.tolist() == [
        ["ada", "remove"], ["bob", "keep"]]  # fmt: skip
    assert ada.resolve([2], take="bob") == 1
    assert ada.current().set_index("index").loc[2, "action"] == "keep"
    assert set(ada.conflicts()["index"]) == {3}
    assert ada.resolve(None, policy="keep_mine") == 1
    assert ada.conflicts().empty and ada.current().set_index("index").loc[3, "action"] == "remove"
    with pytest.raises(ValueError, match="take= .* or policy="):
        ada.resolve(None)
    ada.close()
    bob.close()


def test_resolving_by_one_reviewer_leaves_samples_they_did_not_decide(tmp_path):
    path = tmp_path / "team.db"
    ada, bob, cy = (
        DecisionLog.for_dataset(dataset(), path=path, user=u) for u in ("ada", "bob", "cy")
    )
    ada.decide([1, 2, 3], "remove")
    bob.decide([1], "keep")
    cy.decide([2], "relabel", label="owl")
    cy.decide([3], "needs_review")
    bob.decide([3], "keep")  # three reviewers disagree on sample 3; bob decided last
    ada.reload()
    assert sorted(set(ada.conflicts()["index"])) == [1, 2, 3]
    assert ada.resolve(None, take="bob") == 2  # samples 1 and 3; bob never decided sample 2
    cur = ada.current().set_index("index")
    assert cur.loc[1, "action"] == "keep" and cur.loc[3, "action"] == "keep"
    assert set(ada.conflicts()["index"]) == {2}
    assert ada.resolve(None, policy="newest") == 1
    assert ada.current().set_index("index").loc[2, "label_name"] == "owl"
    for lg in (ada, bob, cy):
        lg.close()


# --- label-set edits (schema version 2, ready for multi-label review) ---------------------------
def test_label_set_edits_are_recorded_and_applied(tmp_path):
    lg = DecisionLog(4, CLASSES, path=tmp_path / "d.db")
    lg.decide([0, 2], "edit_labels", add=["owl"], remove=[0])
    lg.decide(1, "relabel", label="dog")
    assert lg.counts() == {"keep": 0, "remove": 0, "relabel": 1, "needs_review": 0,
                           "edit_labels": 2}  # fmt: skip
    sets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(lg.label_sets(sets), [[0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 0, 1]])
    back = DecisionLog(4, CLASSES, path=tmp_path / "d.db")
    assert back.log["added"].tolist()[:2] == ["[2]", "[2]"] and back.log["removed"][0] == "[0]"
    with pytest.raises(ValueError, match="needs add= or remove="):
        lg.decide(3, "edit_labels")
    with pytest.raises(ValueError, match="added and removed at once"):
        lg.decide(3, "edit_labels", add=["cat"], remove=["cat"])
    with pytest.raises(ValueError, match="only for action 'edit_labels'"):
        lg.decide(3, "keep", add=["cat"])
    with pytest.raises(ValueError, match="is not a class"):
        lg.decide(3, "edit_labels", add=["zebra"])
    with pytest.raises(ValueError, match=r"shape \(N=4, K=3\)"):
        lg.label_sets(np.zeros((4, 2)))
    lg.close()
    back.close()


def test_a_file_loaded_without_its_dataset_applies_by_id(tmp_path):
    """Only decided samples' ids are in the file; apply still joins the frame by them."""
    lg = DecisionLog.for_dataset(dataset())
    lg.decide(lg.positions(["img_003.png", "img_008.png"]), "remove")
    lg.decide(lg.positions(["img_001.png"]), "relabel", label="owl")
    for fmt in ("json", "csv", "parquet"):
        back = DecisionLog.load(lg.save(tmp_path / f"d.{fmt}"))
        frame = pd.DataFrame({"file": FILES[::-1], "label": np.asarray(CLASSES)[LABELS[::-1]]})
        out = back.apply(frame, id_column="file")
        assert len(out) == 10 and not out["file"].isin(["img_003.png", "img_008.png"]).any()
        assert out.set_index("file").loc["img_001.png", "label"] == "owl"


def test_reload_refuses_a_file_another_dataset_overwrote(tmp_path):
    path = tmp_path / "shared.json"
    lg = DecisionLog.for_dataset(dataset(), path=path)
    lg.decide(1, "keep")
    other = DecisionLog.for_dataset(dataset(ids=FILES[::-1]))
    other.decide(2, "remove")
    other.save(path)
    with pytest.raises(ValueError, match="Cannot reload .*another dataset"):
        lg.reload()
    assert lg.counts()["keep"] == 1  # the log in memory is untouched


def test_a_damaged_or_hostile_store_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "d.db"
    lg = DecisionLog(10, CLASSES, path=path)
    lg.decide([1, 2], "remove")
    lg.close()
    for sql, match in [
        ("UPDATE wb_decisions SET action = 'burn' WHERE row_id = 1", "unknown action 'burn'"),
        (
            "UPDATE wb_decisions SET sample_index = 99 WHERE row_id = 2",
            "column 'index' must lie in",
        ),
        ("UPDATE wb_decisions SET label = 7 WHERE row_id = 1", "column 'label' must be a class"),
    ]:
        damaged = tmp_path / "damaged.db"
        damaged.write_bytes(path.read_bytes())
        con = sqlite3.connect(damaged)
        con.execute(sql)
        con.commit()
        con.close()
        with pytest.raises(ValueError, match=f"damaged: {match}"):
            DecisionLog(10, CLASSES, path=damaged)
        with pytest.raises(ValueError, match=match):
            DecisionLog(10, CLASSES).merge(damaged)
        damaged.unlink()
