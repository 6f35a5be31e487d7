"""The decisions view with a shared store: ids in the log, reviewers' conflicts shown and
resolved by policy or one by one, task-list exports, and hostile uploads shown, not raised."""

from __future__ import annotations

import json

import pandas as pd
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
