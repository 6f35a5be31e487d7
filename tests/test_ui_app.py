"""The composed workbench and the decisions view: one session linking every view, exports and
imports through the buttons, autosave surviving a restart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _ui_sessions import browser_send, browser_update, digits_session

import workbench.decisions.formats as dio
import workbench.ui as ui
from workbench.analysis.detectors import DetectorResult
from workbench.core.dataset import Dataset
from workbench.decisions.log import DecisionLog
from workbench.session import Session
from workbench.ui import DecisionsView, Workbench
from workbench.ui.decisions_view import export_message, short_time


def rich_session(tmp_path=None, **kwargs):
    """Digits with coordinates, pred_probs, trajectories and truth: every view can render."""
    base = digits_session(**kwargs)
    ds = base.dataset
    rng = np.random.default_rng(3)
    n = ds.n_samples
    noisy = ds.is_noisy
    loss = rng.random((n, 5)) + noisy[:, None] * np.linspace(1, 2, 5)
    given_prob = np.clip(1 - loss / 3, 0, 1)
    p = np.full((n, 10), 0.1 / 9)
    p[np.arange(n), ds.true_labels] = 0.9
    rich = ds.with_signals(
        coords=rng.normal(size=(n, 2)),
        pred_probs=p,
        trajectories={"loss": loss, "given_prob": given_prob},
    )
    return Session(rich, results=base.results)


# --- decisions view -------------------------------------------------------------------------
@pytest.fixture
def session():
    return digits_session()


def test_decisions_view_shows_counts_and_latest_first(session):
    view = DecisionsView(session, rows=20)
    _ = view.widget
    assert "No decisions yet" in view.log_html.value and view.undo_button.disabled
    session.decide([10, 11], "remove", note="blurry")
    session.decide([12], "relabel", label=4)
    assert "<b>2</b> remove" in view.counts_html.value
    assert "<b>1</b> relabel" in view.counts_html.value
    assert f"<b>{session.dataset.n_samples - 3:,}</b> undecided" in view.counts_html.value
    table = view.log_html.value
    assert table.index("<td>12</td>") < table.index("<td>10</td>")  # latest first
    assert "blurry" in table and not view.undo_button.disabled
    view.undo_button.click()
    assert session.decisions.counts()["relabel"] == 0 and "Undone" in view.status.value
    with pytest.raises(ValueError, match="rows"):
        DecisionsView(session, rows=0)


def test_decisions_view_escapes_notes(session):
    view = DecisionsView(session)
    _ = view.widget
    session.decide([1], "needs_review", note="<script>alert(1)</script>")
    assert "<script>" not in view.log_html.value and "&lt;script&gt;" in view.log_html.value


def test_short_time_is_local_and_short():
    from datetime import UTC, datetime, timedelta, timezone

    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    stamp = "2026-11-23T12:53:07.181+00:00"
    assert short_time(stamp, now=now, tz=UTC) == "12:53:07"
    assert short_time(stamp, now=now, tz=timezone(timedelta(hours=2))) == "14:53:07"
    assert short_time("2026-11-22T09:05:00+00:00", now=now, tz=UTC) == "Nov 22 09:05"
    assert short_time("2025-01-02T09:05:00+00:00", now=now, tz=UTC) == "2025-01-02 09:05"
    # past midnight in the local zone: the local date counts, not the UTC one
    assert short_time("2026-11-23T23:30:00+00:00", now=now, tz=timezone(timedelta(hours=2))) == (
        "Nov 24 01:30"
    )
    assert short_time("not a time", now=now) == "not a time"


def test_decision_times_short_in_the_table_full_on_hover_and_in_files(session, tmp_path):
    import re
    from datetime import datetime

    view = DecisionsView(session, export_stem=str(tmp_path / "d"))
    _ = view.widget
    session.decide([3], "keep")
    stamp = session.decisions.log["time"].iloc[0]
    table = view.log_html.value
    assert re.search(r"<td title=\"[^\"]+\">\d\d:\d\d:\d\d</td>", table), table
    assert f'title="{stamp} (as exported)"' in table
    assert f"<th>time ({datetime.now().astimezone().tzname()})</th>" in table  # zone named
    assert f">{stamp}<" not in table  # the full timestamp is not the cell's text
    view.export_buttons["json"].click()
    assert DecisionLog.load(tmp_path / "d.json").log["time"].iloc[0] == stamp
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stamp)


def test_export_message_counts_decisions_and_samples_apart(session, tmp_path):
    assert (
        export_message(7, 7, "d.json")
        == "Wrote 7 decisions to d.json (7 samples, one decision each)"
    )
    assert export_message(1, 1, "d.json").startswith("Wrote 1 decision to d.json (1 sample,")
    view = DecisionsView(session, export_stem=str(tmp_path / "d"))
    _ = view.widget
    session.decide([1, 2, 3, 4, 5, 6, 7], "relabel", label=1)
    session.decide([1, 2], "remove")  # 9 decisions on 7 samples
    view.export_buttons["csv"].click()
    text = view.status.value
    assert f"Wrote 9 decisions to {(tmp_path / 'd.csv').resolve()} (on 7 samples:" in text
    assert "latest decision per sample counts" in text


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_buttons_roundtrip(session, tmp_path, fmt):
    view = DecisionsView(session, export_stem=str(tmp_path / "review"))
    _ = view.widget
    session.decide(np.arange(5), "remove")
    session.decide([7], "relabel", label=2, note="looks like a 2")
    view.export_buttons[fmt].click()
    path = tmp_path / f"review.{fmt}"
    assert str(path) in view.status.value
    back = DecisionLog.load(path)
    pd.testing.assert_frame_equal(back.log, session.decisions.log)
    # typing the file name with a suffix gives the same file, not review.csv.json
    view.stem_input.value = str(tmp_path / f"review.{fmt}")
    assert view.export(fmt) == path.resolve()


def test_failed_export_says_so_and_keeps_file(session, tmp_path, monkeypatch):
    view = DecisionsView(session, export_stem=str(tmp_path / "d"))
    _ = view.widget
    session.decide([1], "keep")
    view.export_buttons["json"].click()
    before = (tmp_path / "d.json").read_bytes()
    session.decide([2], "remove")

    def broken(f, data):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(dio, "_write_chunk", broken)
    view.export_buttons["json"].click()
    assert "Export failed" in view.status.value and "injected" in view.status.value
    assert (tmp_path / "d.json").read_bytes() == before
    view.stem_input.value = str(tmp_path / "missing_folder" / "d")
    monkeypatch.undo()
    view.export_buttons["csv"].click()
    assert "does not exist" in view.status.value


def test_import_merge_shows_conflicts(session, tmp_path):
    view = DecisionsView(session)
    _ = view.widget
    session.decide([1, 2], "remove")
    theirs = DecisionLog(session.dataset.n_samples, session.dataset.class_names, user="bob")
    theirs.decide([2], "keep")
    theirs.decide([3], "relabel", label=5)
    path = theirs.to_json(tmp_path / "bob.json")
    view.import_path.value = str(path)
    view.policy.value = "take_theirs"
    view.merge_button.click()
    report = view.last_report
    assert report.n_conflicts == 1 and report.added == 1
    assert "1 conflict" in view.status.value and "bob" in view.report_html.value
    cur = session.decisions.current().set_index("index")
    assert cur.loc[2, "action"] == "keep" and cur.loc[3, "label"] == 5


def test_import_bad_file_changes_nothing(session, tmp_path):
    view = DecisionsView(session)
    _ = view.widget
    session.decide([1], "remove")
    before = session.decisions.log
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    view.import_path.value = str(bad)
    view.merge_button.click()
    assert "Nothing merged" in view.status.value
    pd.testing.assert_frame_equal(session.decisions.log, before)
    view.import_path.value = ""
    view.merge_button.click()
    assert "Type the path" in view.status.value
    other = DecisionLog(5, ["a", "b"])
    other.decide(0, "keep")
    view.import_path.value = str(other.to_parquet(tmp_path / "small.parquet"))
    view.merge_button.click()
    assert "Nothing merged" in view.status.value and "N=5" in view.status.value


def browser_upload(upload, name: str, content: bytes) -> None:
    """Deliver a file as the browser's FileUpload sends it: metadata plus a binary buffer."""
    entry = {"name": name, "type": "", "size": len(content), "last_modified": 0}
    upload._handle_msg(
        {
            "content": {
                "data": {
                    "method": "update",
                    "state": {"value": [entry]},
                    "buffer_paths": [["value", 0, "content"]],
                }
            },
            "buffers": [memoryview(content)],
        }
    )


def test_upload_merges(session, tmp_path):
    view = DecisionsView(session)
    _ = view.widget
    theirs = DecisionLog(session.dataset.n_samples, session.dataset.class_names, user="eve")
    theirs.decide([9], "needs_review")
    browser_upload(view.upload, "eve.csv", theirs.to_csv(tmp_path / "eve.csv").read_bytes())
    assert session.decisions.counts()["needs_review"] == 1
    assert "Merged eve.csv" in view.status.value and view.upload.value == ()
    browser_upload(view.upload, "eve.txt", b"x")
    assert "upload a .json" in view.status.value and view.upload.value == ()
    browser_upload(view.upload, "broken.json", b"{not json")
    assert "Nothing merged" in view.status.value


# --- the composed workbench -----------------------------------------------------------------
def test_workbench_composes_every_view_on_one_session():
    s = rich_session()
    wb = Workbench(s)
    assert wb.widget is not None
    assert list(wb.views) == ["Map", "Detectors", "Review", "Matrices", "Trajectories", "Decisions"]
    assert wb.missing == {}
    tabs = wb.tabs
    assert tabs.titles == tuple(wb.views)
    assert all(v.session is s for v in wb.views.values())
    assert wb.built == ["Map"]  # the other views are built when their tab is first shown
    for position, (title, view) in enumerate(wb.views.items()):
        browser_update(tabs, {"selected_index": position})  # the user clicks the tab
        shown = tabs.children[position].children
        if view is wb.map:  # the map with the selection grid under it
            assert shown[0].children == (view.widget, wb.grid.widget)
        else:
            assert shown == (view.widget,)
        assert title in wb.built
    assert wb.built == list(wb.views)


def test_view_opened_late_shows_the_current_state():
    s = rich_session()
    wb = Workbench(s)
    _ = wb.widget
    s.select([5, 6, 7], source="map")
    s.decide([6], "remove")
    wb.select_tab("Review")
    assert wb.queue.widget.total == 3
    assert [r["decision"] for r in wb.queue.widget.rows if r["index"] == 6] == ["remove"]
    wb.select_tab("Decisions")
    assert "<b>1</b> remove" in wb.decisions.counts_html.value


def test_selection_in_one_view_shows_in_all_and_clears_everywhere():
    s = rich_session()
    wb = Workbench(s)
    _ = wb.widget
    chosen = [4, 8, 15, 16, 23, 42]
    s.select(chosen, source="map")  # e.g. a lasso on the map
    assert wb.queue.widget.total == 6
    assert sorted(wb.queue.items.tolist()) == chosen
    assert "6 selected" in wb.selection_html.value and not wb.clear_button.disabled
    assert wb.map.widget is not None and wb.trajectories.widget is not None
    browser_send(wb.queue.widget, {"type": "bulk", "action": "remove"})
    assert "6 decided" in wb.selection_html.value
    wb.clear_button.click()
    assert len(s.selection) == 0 and s.selection_source == "app"
    assert wb.queue.widget.total == int(s.flags.sum())
    assert wb.clear_button.disabled


def test_panel_threshold_drives_queue_and_header():
    s = rich_session()
    wb = Workbench(s)
    wb.select_tab("Detectors")
    browser_update(wb.panel.mode, {"index": 2})  # "top k"
    browser_update(wb.panel.top_k, {"value": 25})
    assert s.threshold == ("top_k", 25)
    assert wb.queue.widget.total == 25 and "25 flagged" in wb.selection_html.value


def test_renders_with_what_the_dataset_has():
    s = digits_session(truth=False)  # no coords, features, pred_probs, truth or trajectories
    wb = Workbench(s)
    _ = wb.widget
    assert list(wb.views) == ["Detectors", "Review", "Decisions"]
    assert set(wb.missing) == {"Map", "Matrices", "Trajectories"}
    assert "trajectories" in wb.missing["Trajectories"]
    assert "Trajectories" in wb.notes.value and "coords" in wb.notes.value
    assert wb.map is None and wb.trajectories is None and wb.matrix is None
    with pytest.raises(ValueError, match="No tab 'Map'"):
        wb.select_tab("Map")
    wb.select_tab("Decisions")
    assert wb.tabs.selected_index == 2


def test_workbench_from_dataset_with_autosave_survives_restart(tmp_path):
    base = digits_session()
    path = tmp_path / "decisions.json"
    wb = Workbench(base.dataset, results=base.results, decisions_path=path)
    _ = wb.widget
    browser_send(wb.queue.widget, {"type": "key", "key": "x"})
    browser_send(wb.queue.widget, {"type": "key", "key": "7"})
    first, second = wb.queue.items[:2].tolist()
    assert path.exists()
    wb.close()
    # kernel restart: a new workbench on the same file has every decision, undo included
    again = Workbench(base.dataset, results=base.results, decisions_path=path)
    cur = again.session.decisions.current().set_index("index")
    assert cur.loc[first, "action"] == "remove" and cur.loc[second, "label"] == 7
    _ = again.widget
    assert again.queue.widget.rows[0]["decision"] == "remove"
    browser_send(again.queue.widget, {"type": "undo"})
    assert DecisionLog.load(path).counts()["relabel"] == 0
    with pytest.raises(TypeError, match="only apply when a Dataset"):
        Workbench(again.session, decisions_path=path)


def test_view_options_pass_through():
    s = rich_session()
    wb = Workbench(
        s,
        queue_options={"page_size": 5},
        map_options={"color_by": "flagged"},
        decisions_options={"rows": 20},
    )
    _ = wb.widget
    assert wb.queue.widget.page_size == 5 and wb.map.color_by == "flagged"
    with pytest.raises(TypeError):
        Workbench(s, queue_options={"nonsense": 1})


def test_close_stops_every_view():
    s = rich_session()
    wb = Workbench(s)
    _ = wb.widget
    assert any(s._listeners.values())
    wb.close()
    assert not any(s._listeners.values())  # no view listens any more
    s.select([1, 2, 3])  # and nothing breaks when the session changes


def test_show_and_open_workbench(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    s = digits_session(truth=False)
    assert ui.show(s) is None
    assert isinstance(shown[0], Workbench) and shown[0].session is s
    wb = ui.open_workbench(s)
    bundle = wb._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data


def test_small_text_dataset_without_truth():
    rng = np.random.default_rng(0)
    ds = Dataset(
        rng.integers(0, 2, 30),
        class_names=["neg", "pos"],
        previews=[f"review {i}" for i in range(30)],
    )
    s = rng.random(30)
    wb = Workbench(ds, results={"only": DetectorResult("only", s, s > 0.7)})
    _ = wb.widget
    assert list(wb.views) == ["Detectors", "Review", "Decisions"]
    assert wb.queue.widget.rows[0]["preview_kind"] == "text"


def test_workbench_opens_on_an_audit_result_with_its_results():
    import workbench as wb

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(3 * c, 1.0, (40, 4)) for c in range(3)])
    labels = np.repeat([0, 1, 2], 40)
    labels[:6] = 1  # a few wrong labels
    result = wb.audit(Dataset(labels, features=x), progress=False)
    bench = ui.open_workbench(result)
    assert bench.session.dataset is result.dataset  # with the signals the audit computed
    assert set(bench.session.results) == set(result.results)
    assert bench.session.results["self_confidence"] is result.results["self_confidence"]
    with pytest.raises(TypeError, match="AuditResult"):
        ui.open_workbench("labels.csv")


def test_header_summarises_the_detectors():
    s = rich_session()
    s.unavailable = {"aum": "needs trajectories of margins", "recov": "needs <features>"}
    wb = Workbench(s)
    _ = wb.widget
    n = s.dataset.n_samples
    assert wb.header_summary() == f"{n:,} samples, 10 classes · 2 detectors · 2 unavailable"
    head = wb.summary.value
    summary = head[head.index("<summary") : head.index("</summary>")]
    assert "2 detectors · 2 unavailable" in summary and "(why?)" in summary
    assert 'title="Detectors: strong, weak"' in summary  # every name on hover
    assert "strong" not in summary.split(">", 1)[1]  # not in the visible line
    details = head[head.index("</summary>") :]
    assert "strong, weak" in details  # and in the details that open on a click
    assert "needs trajectories of margins" in details and "needs &lt;features&gt;" in details
    s.unavailable = {}
    wb2 = Workbench(s)
    _ = wb2.widget
    assert wb2.header_summary().endswith("· 2 detectors")
    assert "unavailable" not in wb2.summary.value and "(which?)" in wb2.summary.value


def test_upload_of_something_that_is_no_file_is_refused(session, caplog):
    """``bytes(content)`` turned a number sent as the file's content into that many zero
    bytes (10**15: a MemoryError out of the handler). Only a name and bytes are read."""
    view = DecisionsView(session)
    _ = view.widget
    with caplog.at_level("WARNING", logger="workbench.ui"):
        for content in (10**15, "a string", [1, 2]):
            entry = {
                "name": "x.json",
                "type": "",
                "size": 1,
                "content": content,
                "last_modified": 0,
            }
            browser_update(view.upload, {"value": [entry]})
            assert "could not be read" in view.status.value and view.upload.value == ()
    assert sum("DecisionsView ignored" in r.getMessage() for r in caplog.records) == 3
    assert len(session.decisions) == 0


def test_workbench_opens_on_the_audits_primary_detector():
    """``wb.show(result)`` opened on the first detector of label errors (``aum`` in the
    teacher's notebook), not on ``result.primary``, which ``flagged_frame()`` and the report
    use."""
    import dataclasses

    import workbench as wb

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(3 * c, 1.0, (40, 4)) for c in range(3)])
    labels = np.repeat([0, 1, 2], 40)
    labels[:6] = 1
    result = wb.audit(Dataset(labels, features=x), progress=False)
    default = ui.Workbench(result.dataset, results=result.results).session.active
    others = [n for n in result.results if n not in (default, result.primary)]
    for primary in [result.primary, *others[-1:]]:
        res = dataclasses.replace(result, primary=primary)
        bench = ui.open_workbench(res)
        assert bench.session.active == primary
        np.testing.assert_array_equal(bench.session.flags, res.results[primary].flags)
        _ = bench.widget
        assert f"flagged by <b>{primary}</b>" in bench.selection_html.value
        assert bench.panel.widget is not None and bench.panel.detector.value == primary
    assert others  # the check above used a detector other than the default


def test_map_beside_the_other_views_when_the_output_area_is_wide():
    s = rich_session()
    wb = Workbench(s)
    w = wb.widget
    assert not wb.side_by_side and wb.tabs.titles[0] == "Map"
    wb.select_tab("Review")
    tabs_before = wb.tabs.children
    map_content = wb._boxes["Map"].children[0]
    browser_update(wb.width_probe, {"width": 1500})  # the browser reports its width
    assert wb.side_by_side
    row = wb.body.children[0]
    assert row.children[0] is map_content and row.children[1] is wb.tabs
    assert map_content.children == (wb.map.widget, wb.grid.widget)
    assert wb.tabs.children == tabs_before  # no view is re-created
    assert "on the left" in wb._boxes["Map"].children[0].value
    # the tabs at least a laptop column's width (every view fits it), the map the rest; its
    # side panel may go below it (a class the workbench's style sheet knows)
    px = [int(x.layout.min_width.removesuffix("px")) for x in (map_content, wb.tabs)]
    assert px[1] >= 848 and sum(px) + int(row.layout.grid_gap.removesuffix("px")) <= 1400
    assert "wb-side-map" in map_content._dom_classes
    assert ".wb-side-map" in wb.width_probe._css
    assert wb.tabs.titles[wb.tabs.selected_index] == "Review"  # the tab shown stays
    wb.select_tab("Map")  # in view already: nothing moves
    assert wb.tabs.titles[wb.tabs.selected_index] == "Review"
    wb.select_tab("Matrices")
    assert wb.tabs.titles[wb.tabs.selected_index] == "Matrices" and "Matrices" in wb.built
    browser_update(wb.width_probe, {"width": 1000})
    assert not wb.side_by_side and wb.body.children == (wb.tabs,)
    assert "wb-side-map" not in map_content._dom_classes and map_content.layout.min_width is None
    assert wb._boxes["Map"].children == (map_content,)
    assert wb.tabs.titles[wb.tabs.selected_index] == "Matrices"
    assert w.children[-1] is wb.body
    wb.select_tab("Map")
    browser_update(wb.width_probe, {"width": 1600})  # on the Map tab: the next tab shows
    assert wb.tabs.selected_index == 1
    narrow = Workbench(s, side_by_side_from=2000)
    _ = narrow.widget
    browser_update(narrow.width_probe, {"width": 1500})
    assert not narrow.side_by_side
    with pytest.raises(ValueError, match="side_by_side_from must be at least 1262 pixels"):
        Workbench(s, side_by_side_from=1000)  # the map and the tabs could not both fit


def test_decisions_view_wraps_in_a_narrow_column(session):
    """Its rows of controls ran 1,500 px wide and its table scrolled sideways at a laptop's
    column."""
    view = DecisionsView(session)
    box = view.widget
    rows = [c for c in box.children if c.__class__.__name__ == "HBox"]
    assert rows and all(r.layout.flex_flow == "row wrap" for r in rows)
    session.decide([1], "keep", note="a long note " * 20)
    assert "white-space:nowrap" not in view.log_html.value
    assert "overflow-wrap:anywhere" in view.log_html.value
