"""Decisions out to annotation tools (task lists, Label Studio) and re-annotations back in as an
extra annotator."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.core.dataset import Dataset
from workbench.decisions.interop import (
    TASK_COLUMNS,
    add_annotator,
    label_studio_tasks,
    read_annotations,
    task_list,
    write_label_studio,
    write_tasks,
)
from workbench.decisions.log import DecisionLog

CLASSES = ["cat", "dog", "=owl"]
IDS = [f"img_{i}.png" for i in range(10)]


@pytest.fixture
def ds():
    return Dataset(np.asarray(CLASSES)[np.arange(10) % 3], class_names=CLASSES, ids=IDS)


@pytest.fixture
def log(ds):
    lg = DecisionLog.for_dataset(ds, user="ada")
    lg.decide([1, 2], "needs_review", note="@check", score=[0.9, 0.8], detector="self_confidence")
    lg.decide(4, "relabel", label="cat", note="looks like a cat")
    lg.decide(5, "remove")
    return lg


def test_task_list_has_id_given_suggested_and_note(log):
    suggested = np.full(10, -1)
    suggested[[1, 4]] = [2, 1]
    tasks = task_list(log, suggested=suggested)
    assert list(tasks.columns) == list(TASK_COLUMNS)
    assert tasks["id"].tolist() == ["img_1.png", "img_2.png", "img_4.png"]
    assert tasks["given"].tolist() == ["dog", "=owl", "dog"]
    assert tasks["suggested"].tolist() == ["=owl", "", "cat"]  # a relabel's target comes first
    assert tasks["note"].tolist()[0] == "@check"
    with pytest.raises(ValueError, match="suggested must be class codes"):
        task_list(log, suggested=np.zeros(3, int))


def test_task_list_files_round_trip_as_an_extra_annotator(log, ds, tmp_path):
    for suffix in ("csv", "json"):
        path = write_tasks(log, tmp_path / f"tasks.{suffix}")
        if suffix == "csv":
            table = pd.read_csv(path, keep_default_na=False, dtype=str)
            assert table.loc[0, "note"] == "'@check" and table.loc[1, "given"] == "'=owl"
            table.loc[[0, 2], "label"] = ["'=owl", "cat"]  # as a spreadsheet keeps it
            table.to_csv(path, index=False)
        else:
            body = json.loads(path.read_text())
            assert body[0]["id"] == "img_1.png" and body[0]["label"] == ""
            body[0]["label"], body[2]["label"] = "=owl", "cat"
            path.write_text(json.dumps(body))
        labels = read_annotations(path, log)
        expected = np.full(10, -1)
        expected[[1, 4]] = [2, 0]
        np.testing.assert_array_equal(labels, expected)
    with_new = add_annotator(ds, labels)
    assert with_new.annotators.shape == (10, 1) and with_new.annotators[4, 0] == 0
    again = add_annotator(with_new, labels)
    assert again.annotators.shape == (10, 2) and again.ids.tolist() == IDS


def test_label_studio_tasks_and_export(log, tmp_path):
    tasks = label_studio_tasks(log, data={"image": [f"/data/{i}" for i in IDS]})
    assert [t["data"]["sample_id"] for t in tasks] == ["img_1.png", "img_2.png", "img_4.png"]
    assert tasks[2]["data"]["image"] == "/data/img_4.png"
    pred = tasks[2]["predictions"][0]["result"][0]
    assert pred["type"] == "choices" and pred["value"] == {"choices": ["cat"]}
    assert "predictions" not in tasks[1]  # nothing suggested
    # what Label Studio exports after review: annotations per task (latest not cancelled wins)
    exported = [
        {**tasks[0], "annotations": [
            {"result": [{"value": {"choices": ["cat"]}}]},
            {"result": [{"value": {"choices": ["dog"]}}], "was_cancelled": True},
        ]},
        {**tasks[1], "annotations": []},
        {**tasks[2], "annotations": [{"result": [{"value": {"choices": ["=owl"]}}]}]},
    ]  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported))
    labels = read_annotations(path, log)
    assert labels[1] == 0 and labels[2] == -1 and labels[4] == 2
    assert json.loads(write_label_studio(log, tmp_path / "ls.json").read_text())[0]["data"]


def test_bad_annotation_files(log, tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"id": "nope.png", "label": "cat"}]))
    with pytest.raises(ValueError, match=r"ids \['nope.png'\] are not samples"):
        read_annotations(path, log)
    path.write_text(json.dumps([{"id": "img_1.png", "label": "zebra"}]))
    with pytest.raises(ValueError, match=r"labels \['zebra'\] are not classes"):
        read_annotations(path, log)
    path.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ValueError, match="list of tasks"):
        read_annotations(path, log)
    with pytest.raises(ValueError, match=".csv or .json"):
        read_annotations(tmp_path / "a.txt", log)
    with pytest.raises(TypeError, match="DecisionLog"):
        task_list("log")
