"""Every view and export names samples by their id when the dataset has ids (the position
beside it), and by position when it has none: the review queue, the selection grid, the
trajectories' data map, the label-set review, the decisions view and its exports, the HTML
report (table and map tooltip), flagged_frame and the command line's files."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from _ui_sessions import digits_results

from workbench.analysis.detectors import DetectorResult, get_detector
from workbench.cli import main
from workbench.core.dataset import Dataset
from workbench.decisions.log import DecisionLog
from workbench.pipeline.report import render_report
from workbench.pipeline.run import audit
from workbench.session import Session
from workbench.ui import DecisionsView, ReviewQueue
from workbench.ui.grid import SelectionGrid
from workbench.ui.multilabel import LabelSetReview
from workbench.ui.trajectories import TrajectoryView

N, K, E = 90, 3, 5
CLASSES = ["cat", "dog", "owl"]
IDS = [f"photo-{i:03d}.jpg" for i in range(N)][::-1]  # not in position order


def _session(ids=IDS) -> Session:
    rng = np.random.default_rng(0)
    true = np.arange(N) % K
    given = true.copy()
    given[:12] = (given[:12] + 1) % K
    prob = np.clip(np.where(given == true, 0.8, 0.2)[:, None] + 0.1 * rng.random((N, E)), 0, 1)
    ds = Dataset(
        np.asarray(CLASSES)[given],
        class_names=CLASSES,
        ids=ids,
        trajectories={"given_prob": prob},
        previews=rng.random((N, 4, 4)),
    )
    return Session(ds, results=digits_results(given, true), decisions_path=None)


@pytest.mark.parametrize("ids", [IDS, None])
def test_the_review_queue_shows_ids_beside_positions(ids):
    s = _session(ids)
    w = ReviewQueue(s).widget
    assert w.rows and w.has_ids == (ids is not None)
    for row in w.rows:
        assert row["id"] == (None if ids is None else ids[row["index"]])
    if ids is not None:  # and find by id moves there
        target = w.rows[3]
        assert ReviewQueue(s).find(target["id"])


@pytest.mark.parametrize("ids", [IDS, None])
def test_the_selection_grid_names_tiles_by_id(ids):
    s = _session(ids)
    grid = SelectionGrid(s)
    w = grid.widget
    s.select([4, 7, 50])
    assert sorted(t["index"] for t in w.items) == [4, 7, 50]
    for tile in w.items:
        assert tile["id"] == (None if ids is None else ids[tile["index"]])
    grid.open(7)
    assert w.opened["id"] == (None if ids is None else ids[7])


def test_the_data_map_hover_names_the_sample_by_id():
    view = TrajectoryView(_session())
    _ = view.widget
    trace = view.data_map.data[0]
    shown = np.asarray(trace.customdata)
    assert list(trace.text) == [IDS[i] for i in shown]
    assert "%{text} (#%{customdata})" in trace.hovertemplate
    plain = TrajectoryView(_session(ids=None))
    _ = plain.widget
    assert plain.data_map.data[0].text is None
    assert "sample %{customdata}<br>" in plain.data_map.data[0].hovertemplate


def test_the_label_set_review_shows_the_id():
    rng = np.random.default_rng(3)
    true = rng.random((60, 4)) < 0.4
    probs = np.clip(true * 0.6 + rng.random((60, 4)) * 0.5, 0, 1)
    given = true ^ (rng.random((60, 4)) < 0.1)
    ids = [f"clip-{i}" for i in range(60)]
    ds = Dataset(given, pred_probs=probs, class_names=[f"tag{j}" for j in range(4)], ids=ids)
    result = get_detector("multilabel_confident_learning").score(ds, progress=False)
    s = Session(ds, results={"mlcl": result}, decisions_path=None)
    w = LabelSetReview(s).widget
    assert w.index >= 0 and w.sample_id == ids[w.index]


def test_the_decisions_view_and_every_export_carry_ids(tmp_path):
    s = _session()
    s.decide([5, 6], "remove")
    s.decide([8], "relabel", label="owl")
    view = DecisionsView(s, export_stem=str(tmp_path / "d"))
    _ = view.widget
    for i in (5, 6, 8):
        assert f"<td>{IDS[i]}</td>" in view.log_html.value
    for fmt in ("csv", "json", "parquet", "tasks"):
        view.export(fmt)
    assert pd.read_csv(tmp_path / "d.csv")["id"].tolist() == [IDS[5], IDS[6], IDS[8]]
    assert pd.read_parquet(tmp_path / "d.parquet")["id"].tolist() == [IDS[5], IDS[6], IDS[8]]
    assert json.loads((tmp_path / "d.json").read_text())["steps"][0]["id"] == [IDS[5], IDS[6]]
    assert pd.read_csv(tmp_path / "d_tasks.csv")["id"].tolist() == [IDS[8]]  # the relabel


def test_the_report_and_flagged_frame_name_samples_by_id():
    rng = np.random.default_rng(1)
    true = np.arange(N) % K
    given = true.copy()
    given[:9] = (given[:9] + 1) % K
    p = np.full((N, K), 0.1)
    p[np.arange(N), true] = 0.8
    ds = Dataset(given, class_names=CLASSES, pred_probs=p, coords=rng.random((N, 2)), ids=IDS)
    r = audit(ds, detectors=["self_confidence"], progress=False)
    frame = r.flagged_frame()
    assert len(frame) and frame["id"].tolist() == [IDS[i] for i in frame["index"]]
    html = render_report(r, top=5)
    samples = html.split('id="samples"')[1].split("</section>")[0]
    assert "<th>id</th>" in samples
    for i in frame["index"].head(5):
        assert f"<td>{IDS[i]}</td>" in samples
    payload = json.loads(
        re.search(r'id="wb-map-data">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</")
    )
    index = np.frombuffer(base64.b64decode(payload["index"]), dtype=np.int32)
    assert payload["ids"] == [IDS[i] for i in index]
    plain = audit(
        Dataset(given, class_names=CLASSES, pred_probs=p, coords=rng.random((N, 2))),
        detectors=["self_confidence"],
        progress=False,
    )
    assert '"ids":null' in render_report(plain, top=5)


def test_the_command_line_takes_an_id_column(tmp_path, capsys):
    true = np.arange(N) % K
    given = true.copy()
    given[:9] = (given[:9] + 1) % K
    p = np.full((N, K), 0.1)
    p[np.arange(N), true] = 0.8
    table = pd.DataFrame({"file": IDS, "y": np.asarray(CLASSES)[given]})
    table.to_csv(tmp_path / "labels.csv", index=False)
    np.save(tmp_path / "p.npy", p)
    out = tmp_path / "out"
    argv = [str(tmp_path / "labels.csv"), "--label-column", "y", "--pred-probs",
            str(tmp_path / "p.npy"), "--detectors", "self_confidence", "--quiet"]  # fmt: skip
    assert main([*argv, "--id-column", "file", "--out", str(out)]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert scores["id"].tolist() == IDS and scores["index"].tolist() == list(range(N))
    flagged = pd.read_csv(out / "flagged.csv")
    assert len(flagged) and flagged["id"].tolist() == [IDS[i] for i in flagged["index"]]
    template = DecisionLog.load(out / "decisions_template.csv")
    assert set(template.log["id"]) == set(flagged["id"])
    assert f"<td>{flagged['id'][0]}</td>" in (out / "report.html").read_text()
    capsys.readouterr()
    # ids that cannot name samples: one clear line, exit 2, nothing written
    table.assign(file=["same"] * N).to_csv(tmp_path / "dup.csv", index=False)
    bad = [
        str(tmp_path / "dup.csv"),
        *argv[1:],
        "--id-column",
        "file",
        "--out",
        str(tmp_path / "x"),
    ]
    assert main(bad) == 2 and "unique" in capsys.readouterr().err
    assert main([*argv, "--id-column", "nope", "--out", str(tmp_path / "y")]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_positions_stay_the_names_without_ids():
    s = Session(
        Dataset(np.arange(N) % K, class_names=CLASSES),
        results={"x": DetectorResult("x", np.linspace(0, 1, N), np.linspace(0, 1, N) > 0.5)},
        decisions_path=None,
    )
    s.decide([3], "keep")
    assert s.decisions.log["id"].tolist() == [3]
    assert ReviewQueue(s).widget.rows[0]["id"] is None
