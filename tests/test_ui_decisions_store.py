"""The decisions view with a shared store: ids in the log, reviewers' conflicts shown and
resolved by policy or one by one, task-list exports, and hostile uploads shown, not raised."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _ui_sessions import digits_results
from test_ui_app import browser_upload

import workbench.decisions.formats as dio
from workbench.core.dataset import Dataset
from workbench.decisions.log import DecisionLog
from workbench.session import Session
from workbench.ui import DecisionsView

CLASSES = ["cat", "dog", "owl"]


def _session(path, user):
    import numpy as np

    labels = np.arange(30) % 3
    ds = Dataset(labels, class_names=CLASSES, ids=[f"f{i}.png" for i in range(30)])
    s = Session(ds, results=digits_results(labels, labels), decisions_path=path)
    s.decisions.user = user
    return s


def test_conflicts_between_reviewers_are_listed_and_resolved(tmp_path):
    path = tmp_path / "team.db"
    ada, bob = _session(path, "ada"), _session(path, "bob")
    view = DecisionsView(ada)
    _ = view.widget
    assert "f" not in view.conflict_sample.options and view.resolve_button.disabled
    ada.decide([1, 2], "remove")
    bob.decide([1], "keep")
    bob.decide([2], "relabel", label="owl")
    view.reload_button.click()
    assert "Reloaded" in view.status.value
    assert "2 samples where reviewers disagree" in view.conflicts_html.value
    assert "f1.png" in view.conflicts_html.value and "<td>bob</td>" in view.conflicts_html.value
    assert [label for label, _ in view.conflict_sample.options] == ["f1.png", "f2.png"]
    view.conflict_sample.value = 1
    assert list(view.conflict_take.options) == ["ada", "bob"]
    view.conflict_take.value = "bob"
    view.take_button.click()
    assert "Resolved 1 conflict." in view.status.value
    assert ada.decisions.current().set_index("id").loc["f1.png", "action"] == "keep"
    view.policy.value = "keep_mine"
    view.resolve_button.click()
    assert ada.decisions.conflicts().empty and "No conflicts between" in view.conflicts_html.value
    assert "<td>f2.png</td>" in view.log_html.value  # the log shows ids
    ada.decisions.close()
    bob.decisions.close()


def test_task_list_exports(tmp_path):
    s = _session(None, "ada")
    s.decide([3, 4], "needs_review", note="check")
    view = DecisionsView(s, export_stem=str(tmp_path / "out"))
    _ = view.widget
    view.export_buttons["tasks"].click()
    tasks = pd.read_csv(tmp_path / "out_tasks.csv")
    assert tasks["id"].tolist() == ["f3.png", "f4.png"] and "Wrote" in view.status.value
    view.export_buttons["label_studio"].click()
    body = json.loads((tmp_path / "out_label_studio.json").read_text())
    assert [t["data"]["sample_id"] for t in body] == ["f3.png", "f4.png"]
    view.export_buttons["csv"].click()
    assert dio.sidecar_path(tmp_path / "out.csv").exists()


def test_a_hostile_upload_is_refused_with_a_message(tmp_path):
    s = _session(None, "ada")
    view = DecisionsView(s)
    _ = view.widget
    head = {"format": dio.FORMAT, "version": 2, "n_samples": 300_000_000, "class_names": CLASSES,
            "ids": "position", "fingerprint": None}  # fmt: skip
    steps = [{"step": i, "id": [i], "index": [i], "action": "keep", "label": -1,
              "label_name": "", "given": -1, "added": "", "removed": "", "user": "x", "time": "t",
              "detector": "", "threshold": "", "score": None, "note": "", "undoes": -1}
             for i in range(200)]  # fmt: skip
    browser_upload(view.upload, "evil.json", json.dumps({**head, "steps": steps}).encode())
    assert "Nothing merged" in view.status.value and "N=300000000" in view.status.value
    browser_upload(view.upload, "evil.db", b"SQLite format 3\x00" + b"\x00" * 100)
    assert "Nothing merged" in view.status.value
    assert len(s.decisions) == 0 and view.upload.value == ()
    other = DecisionLog.for_dataset(s.dataset, user="eve")
    other.decide(5, "remove")
    browser_upload(view.upload, "eve.csv", other.to_bytes("csv"))  # no sidecar: read as ours
    assert "Merged eve.csv" in view.status.value and s.decisions.counts()["remove"] == 1
    stranger = DecisionLog(30, CLASSES, user="eve")  # positions, not this dataset's ids
    stranger.decide(6, "remove")
    browser_upload(view.upload, "stranger.csv", stranger.to_bytes("csv"))
    assert "Nothing merged" in view.status.value and "other data" in view.status.value


def test_a_locked_store_is_reported_by_the_views_and_loses_nothing(tmp_path):
    import sqlite3

    from workbench.ui import ReviewQueue

    path = tmp_path / "d.db"
    s = _session(path, "ada")
    view, queue = DecisionsView(s), ReviewQueue(s)
    _ = view.widget, queue.widget
    s.decide([1, 2], "remove")
    s.decide([3], "keep")
    s.decisions.store.busy_timeout = 0.05
    s.decisions.close()  # the next write reconnects, waiting 0.05 s for a lock
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        view.undo_button.click()  # raised out of the button's handler before
        assert "Undone, but" in view.status.value and "locked" in view.status.value
        assert queue.undo() is True and "locked" in queue.widget.message
        assert s.decisions.counts()["remove"] == 0 and s.decisions.counts()["keep"] == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    s.decide([4], "keep")  # the two undo records are stored first
    back = DecisionLog.for_dataset(s.dataset, path=path)
    assert back.counts() == s.decisions.counts() == {"keep": 1, "remove": 0, "relabel": 0,
                                                     "needs_review": 0}  # fmt: skip
    assert back.history()["action"].tolist().count("undo") == 2
    back.close()
    s.decisions.close()


# --- the default store: "auto", one SQLite file per dataset, made at the first decision ---------
def _dataset(labels=None):
    import numpy as np

    labels = np.arange(30) % 3 if labels is None else labels
    return Dataset(labels, class_names=CLASSES, ids=[f"f{i}.png" for i in range(30)])


def test_decisions_last_by_default_in_a_store_per_dataset(tmp_path, monkeypatch):
    import numpy as np

    from workbench.decisions.store import auto_path

    folder = tmp_path / "out" / "decisions"
    monkeypatch.setenv("WORKBENCH_DECISIONS_DIR", str(folder))
    ds = _dataset()
    s = Session(ds, results=digits_results(ds.labels, ds.labels))
    path = folder / f"{ds.fingerprint[:16]}.db"
    assert s.decisions.location == str(path) == str(auto_path(ds.fingerprint))
    view = DecisionsView(s)
    _ = view.widget
    assert "from the first decision" in view.store_html.value and str(path) in view.store_html.value
    assert not folder.exists()  # opening a session and its views writes nothing
    s.decide([1, 2], "remove")
    assert path.exists() and "as they are made" in view.store_html.value
    s.decisions.undo()
    s.decide([4], "relabel", label="owl")
    # the same data opened again (a kernel restart) finds its decisions
    again = Session(_dataset(), results=digits_results(ds.labels, ds.labels))
    pd.testing.assert_frame_equal(again.decisions.history(), s.decisions.history())
    # other data in the same folder: a store of its own, nothing refused
    other = _dataset(labels=(np.arange(30) + 1) % 3)
    t = Session(other, results=digits_results(other.labels, other.labels))
    assert t.decisions.location != s.decisions.location and len(t.decisions) == 0
    t.decide([0], "keep")
    assert sorted(p.name for p in folder.glob("*.db")) == sorted(
        [path.name, f"{other.fingerprint[:16]}.db"]
    )
    # opting out: in memory, and the view says so
    mem = Session(ds, results=digits_results(ds.labels, ds.labels), decisions_path=None)
    assert mem.decisions.location is None and len(mem.decisions) == 0
    view = DecisionsView(mem)
    _ = view.widget
    assert "in memory only" in view.store_html.value
    for log in (s.decisions, again.decisions, t.decisions):
        log.close()


def test_the_default_store_waits_for_a_decision_and_reports_failures(tmp_path, monkeypatch):
    from workbench.decisions.store import StoreError

    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    monkeypatch.setenv("WORKBENCH_DECISIONS_DIR", str(blocked / "decisions"))
    ds = _dataset()
    s = Session(ds, results=digits_results(ds.labels, ds.labels))
    assert s.decisions.pending and s.decisions.store is None
    s.decisions.reload()  # nothing stored yet anywhere: nothing to read, no error
    with pytest.raises(StoreError, match="recorded in memory"):
        s.decide([1], "remove")
    assert s.decisions.counts()["remove"] == 1  # kept in memory
    # a team member's kernel made the store meanwhile: reload opens it, stores ours, reads theirs
    monkeypatch.setenv("WORKBENCH_DECISIONS_DIR", str(tmp_path / "shared"))
    ada = Session(ds, results=digits_results(ds.labels, ds.labels))
    bob = Session(ds, results=digits_results(ds.labels, ds.labels))
    bob.decisions.user = "bob"
    bob.decide([5], "keep")
    ada.decide([6], "remove")  # ada's store is created now, with bob's step already in it
    ada.decisions.reload()
    assert ada.decisions.current()["id"].tolist() == ["f5.png", "f6.png"]
    assert "store=" in repr(ada.decisions)
    for log in (ada.decisions, bob.decisions):
        log.close()


def test_workbench_takes_decisions_path_none_for_memory():
    from workbench.ui import Workbench

    ds = _dataset()
    wb = Workbench(ds, results=digits_results(ds.labels, ds.labels), decisions_path=None)
    assert wb.session.decisions.location is None
    wb = Workbench(ds, results=digits_results(ds.labels, ds.labels))
    assert wb.session.decisions.pending  # the default: this dataset's own store, made later
