"""The trajectory view: curves of the selection, group means, and the selectable data map."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("plotly")

from workbench.analysis.detectors import DetectorResult  # noqa: E402
from workbench.core.dataset import Dataset  # noqa: E402
from workbench.session import Session  # noqa: E402
from workbench.ui.trajectories import TrajectoryView  # noqa: E402

N, K, E = 400, 3, 6


def make_session(kinds=("loss", "given_prob", "margin"), n=N):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, K, n)
    noisy = rng.random(n) < 0.2
    base = np.where(noisy, 0.15, 0.7)[:, None]
    given_prob = np.clip(base + 0.2 * rng.random((n, E)) * np.linspace(0.5, 1, E), 0, 1)
    signals = {
        "given_prob": given_prob,
        "loss": -np.log(given_prob + 1e-3),
        "margin": 2 * given_prob - 1,
    }
    traj = {k: signals[k] for k in kinds} if kinds else None
    ds = Dataset(labels, trajectories=traj)
    score = 1 - given_prob.mean(axis=1)
    results = {"dm": DetectorResult("dm", score, score > 0.5)}
    return Session(ds, results=results)


def browser_points(fig, event_type, point_indexes, *, selector=True):
    """Send a plotly points event as the browser does (trace 0)."""
    msg = {
        "event_type": event_type,
        "points": {
            "trace_indexes": [0] * len(point_indexes),
            "point_indexes": list(point_indexes),
            "xs": [0.0] * len(point_indexes),
            "ys": [0.0] * len(point_indexes),
        },
    }
    if selector:
        msg["selector"] = {"type": "box", "selector_state": {"xrange": [0, 1], "yrange": [0, 1]}}
    fig._js2py_pointsCallback = msg


def curves(trace, e=E):
    """Split one None-separated trace back into curves."""
    y = np.asarray(trace.y, dtype=float)
    x = np.asarray(trace.x, dtype=float)
    assert len(y) % (e + 1) == 0
    assert np.isnan(y[e :: e + 1]).all() and np.isnan(x[e :: e + 1]).all()
    return y.reshape(-1, e + 1)[:, :e]


def test_without_trajectories_says_why():
    v = TrajectoryView(make_session(kinds=None))
    box = v.widget
    assert v.lines is None and v.data_map is None
    assert "no per-epoch training signals" in box.value
    assert "trajectories.loss" in box.value and "TrajectoryRecorder" in box.value


def test_selected_curves_are_one_trace():
    s = make_session()
    v = TrajectoryView(s)
    assert v.widget is not None
    assert v.kind == "loss"
    assert len(v.lines.data[0].y) == 0
    s.select([5, 9, 30], source="map")
    got = curves(v.lines.data[0])
    np.testing.assert_allclose(got, s.dataset.trajectories["loss"][[5, 9, 30]], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(v.lines.data[0].x)[:E], np.arange(1, E + 1))
    assert v.lines.layout.title.text == "3 selected samples"
    assert v.lines.layout.yaxis.title.text == "loss of the given label"


def test_curves_are_capped_and_the_title_says_so():
    s = make_session()
    v = TrajectoryView(s, max_lines=10)
    assert v.widget is not None
    s.select(np.arange(50), source="map")
    assert curves(v.lines.data[0]).shape == (10, E)
    np.testing.assert_array_equal(v.drawn_samples(), np.arange(10))
    assert "10 of 50 selected samples drawn" in v.lines.layout.title.text


def test_group_means_follow_the_flags():
    s = make_session()
    v = TrajectoryView(s, kind="given_prob")
    assert v.widget is not None
    traj = s.dataset.trajectories["given_prob"].astype(np.float64)
    flagged, clean = v.group_means()
    np.testing.assert_allclose(flagged, traj[s.flags].mean(axis=0))
    np.testing.assert_allclose(clean, traj[~s.flags].mean(axis=0))
    np.testing.assert_allclose(v.lines.data[1].y, flagged)
    s.set_threshold("top_k", 7)
    np.testing.assert_allclose(v.lines.data[1].y, traj[s.flags].mean(axis=0))
    assert v.lines.data[1].name == "mean of 7 flagged"
    assert v.lines.data[2].name == f"mean of {N - 7:,} unflagged"
    s.set_threshold("top_k", 0)
    assert np.isnan(v.group_means()[0]).all()


def test_signal_dropdown_switches_the_curves():
    s = make_session()
    v = TrajectoryView(s)
    assert v.widget is not None
    s.select([1, 2], source="map")
    v._dropdown.value = "margin"  # as the browser would
    assert v.kind == "margin"
    np.testing.assert_allclose(
        curves(v.lines.data[0]), s.dataset.trajectories["margin"][[1, 2]], rtol=1e-6
    )
    assert v.lines.layout.yaxis.title.text.startswith("margin")
    with pytest.raises(ValueError, match="kind must be one of"):
        v.set_kind("predicted")


def test_data_map_coordinates_and_colours():
    s = make_session()
    v = TrajectoryView(s)
    assert v.widget is not None
    p = s.dataset.trajectories["given_prob"]
    trace = v.data_map.data[0]
    np.testing.assert_allclose(trace.x, p.std(axis=1), rtol=1e-6)
    np.testing.assert_allclose(trace.y, p.mean(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(trace.marker.color, s.flags)
    assert "variability" in v.data_map.layout.xaxis.title.text
    assert "confidence" in v.data_map.layout.yaxis.title.text
    s.set_threshold("top_k", 3)
    np.testing.assert_array_equal(trace.marker.color, s.flags)


def test_data_map_box_selection_selects_in_the_session():
    s = make_session()
    v = TrajectoryView(s)
    assert v.widget is not None
    browser_points(v.data_map, "plotly_selected", [11, 3, 250])
    np.testing.assert_array_equal(s.selection, [3, 11, 250])
    assert s.selection_source == "trajectories"
    assert curves(v.lines.data[0]).shape == (3, E)  # its own selection still draws curves
    browser_points(v.data_map, "plotly_deselect", [], selector=False)
    assert s.selection.size == 0


def test_selection_elsewhere_highlights_the_data_map():
    s = make_session()
    v = TrajectoryView(s)
    assert v.widget is not None
    s.select([8, 2], source="matrix")
    assert list(v.data_map.data[0].selectedpoints) == [2, 8]
    s.clear_selection(source="matrix")
    assert v.data_map.data[0].selectedpoints is None


def test_large_data_map_draws_a_seeded_subset_and_maps_back():
    s = make_session(n=3000)
    v = TrajectoryView(s, max_points=500, seed=3)
    assert v.widget is not None
    trace = v.data_map.data[0]
    assert len(trace.x) == 500
    shown = np.asarray(trace.customdata)
    assert np.all(np.diff(shown) > 0) and shown.max() < 3000
    assert "500 of 3,000 drawn" in v.data_map.layout.title.text
    assert "flagged by dm" in v.data_map.layout.title.text
    browser_points(v.data_map, "plotly_selected", [0, 1])
    np.testing.assert_array_equal(s.selection, shown[:2])
    other = TrajectoryView(s, max_points=500, seed=3)
    assert other.widget is not None
    np.testing.assert_array_equal(other.data_map.data[0].customdata, shown)  # reproducible
    hidden = np.setdiff1d(np.arange(3000), shown)[:3]
    s.select(np.r_[shown[5], hidden], source="map")
    assert list(v.data_map.data[0].selectedpoints) == [5]


def test_only_loss_draws_curves_but_explains_the_missing_data_map():
    s = make_session(kinds=("loss",))
    v = TrajectoryView(s)
    box = v.widget
    assert v.data_map is None and v.lines is not None
    assert "needs the per-epoch probability of the given label" in v.map_reason
    assert "trajectories.given_prob" in box.children[1].children[1].value


def test_bad_input():
    s = make_session(kinds=("loss",))
    with pytest.raises(ValueError, match="max_lines must be a positive integer"):
        TrajectoryView(s, max_lines=0)
    with pytest.raises(ValueError, match="max_points"):
        TrajectoryView(s, max_points=2.5)
    with pytest.raises(ValueError, match="kind must be one of"):
        TrajectoryView(s, kind="accuracy")
    with pytest.raises(ValueError, match="not recorded for this dataset"):
        TrajectoryView(s, kind="margin")


def test_close_unsubscribes():
    s = make_session()
    before = {e: len(s._listeners[e]) for e in ("selection", "flags", "decisions")}
    v = TrajectoryView(s)
    assert v.widget is not None
    v.close()
    assert {e: len(s._listeners[e]) for e in before} == before
    s.select([1], source="map")
    assert v._widget is None
    assert "application/vnd.jupyter.widget-view+json" in v._repr_mimebundle_()


def test_bad_data_map_selections_are_ignored_and_logged(caplog):
    s = make_session()
    v = TrajectoryView(s)
    assert v.widget is not None
    s.select([5, 6], source="matrix")
    with caplog.at_level("WARNING", logger="workbench.ui"):
        browser_points(v.data_map, "plotly_selected", [3, N + 7])
    np.testing.assert_array_equal(s.selection, [5, 6])  # unchanged
    assert list(v.data_map.data[0].selectedpoints) == [5, 6]
    assert any("TrajectoryView ignored" in r.getMessage() for r in caplog.records)
    browser_points(v.data_map, "plotly_selected", [3, 4])  # still working
    np.testing.assert_array_equal(s.selection, [3, 4])


def test_markup_in_the_detector_name_is_shown_literally():
    base = make_session()
    res = base.results["dm"]
    odd = "<i>dm</i>"
    s = Session(base.dataset, results={odd: DetectorResult(odd, res.scores, res.flags)})
    v = TrajectoryView(s)
    assert v.widget is not None
    assert "flagged by &lt;i&gt;dm&lt;/i&gt;" in v.data_map.layout.title.text


def test_the_browsers_selection_outline_does_not_break_a_second_display():
    """After a lasso, plotly.js reports its outline as ``layout.selections`` with undefined
    properties; stored in the Python layout they made ``to_json`` (a second display of
    ``view.data_map``) raise ``TypeError: <object object> is not JSON serializable``."""
    from _ui_sessions import browser_update

    s = make_session()
    v = TrajectoryView(s)
    assert v.widget is not None
    outline = {
        "type": "path",
        "path": "M0.01,0.1L0.2,0.1L0.2,0.9Z",
        "xref": "x",
        "yref": "y",
        "line": {"width": 1, "dash": "dot", "color": "_undefined_"},
        "opacity": "_undefined_",
    }
    browser_points(v.data_map, "plotly_selected", [4, 9])
    browser_update(
        v.data_map,
        {"_js2py_relayout": {"relayout_data": {"selections": [outline]}, "source_view_id": "a"}},
    )
    browser_update(
        v.data_map,
        {
            "_js2py_relayout": {
                "relayout_data": {"selections[0].path": "M0,0Z", "xaxis.range[0]": 0.01},
                "source_view_id": "a",
            }
        },
    )
    assert v.data_map.layout.xaxis.range[0] == 0.01  # the rest of a relayout still applies
    json.loads(v.data_map.to_json())  # no sentinel left in the layout
    assert "application/vnd.jupyter.widget-view+json" in v.data_map._repr_mimebundle_()
    np.testing.assert_array_equal(s.selection, [4, 9])


def test_figures_fit_a_laptop_column_with_the_toolbar_clear_of_the_titles():
    s = make_session()
    v = TrajectoryView(s)
    box = v.widget.children[1]
    assert box.layout.flex_flow == "row wrap"  # one above the other in a narrow column
    assert v.lines.layout.width + v.data_map.layout.width <= 900
    for fig in (v.lines, v.data_map):
        assert fig.layout.modebar.orientation == "v" and fig.layout.margin.r >= 30
    assert v.data_map.layout.title.xanchor == "left"
    assert v.data_map.layout.hoverdistance <= 5
    assert len(v.lines.layout.title.text) <= 60
