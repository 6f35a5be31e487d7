"""What a selection costs the kernel, counted rather than timed: the review queue reads the
decision log's N-sample arrays once per state of the log (not per selection or page), the
matrices set only the selection's layers on a selection and do nothing while their tab is
hidden, until it is shown again."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_sessions import browser_update, digits_session

from workbench.session import Session
from workbench.ui import Workbench
from workbench.ui import matrix as matrix_module
from workbench.ui.matrix import MatrixView
from workbench.ui.queue import ReviewQueue


def count_calls(obj, name: str, monkeypatch=None) -> list:
    """Count the calls of ``obj.name`` (the real function still runs)."""
    calls = []
    real = getattr(obj, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    if monkeypatch is None:
        setattr(obj, name, counted)
    else:
        monkeypatch.setattr(obj, name, counted)
    return calls


def map_session():
    base = digits_session(pred_probs=True)
    rng = np.random.default_rng(3)
    ds = base.dataset.with_signals(coords=rng.normal(size=(base.dataset.n_samples, 2)))
    return Session(ds, results=base.results)


def restyled(fig) -> dict[str, set]:
    """The properties the messages of ``fig`` to the browser set, by trace name."""
    from plotly.basedatatypes import Undefined

    sent: dict[str, set] = {}

    def record(change):
        msg = change["new"]
        if not msg:
            return
        data = msg.get("style_data") or msg.get("restyle_data") or {}
        traces = msg.get("style_traces") or msg.get("restyle_traces") or []
        for key, values in data.items():
            for index, value in zip(traces, values, strict=True):
                if value is not Undefined:
                    sent.setdefault(fig.data[index].name, set()).add(key)

    fig.observe(record, names=["_py2js_update", "_py2js_restyle"])
    return sent


def test_queue_reads_the_decision_arrays_once_per_state_of_the_log():
    s = digits_session()
    queue = ReviewQueue(s, page_size=10)
    log = s.decisions
    calls = {name: count_calls(log, name) for name in ("actions", "relabels", "counts")}
    _ = queue.widget
    assert {name: len(c) for name, c in calls.items()} == {
        "actions": 1,
        "relabels": 1,
        "counts": 1,
    }
    rng = np.random.default_rng(0)
    for _ in range(4):  # four lassos: the rows change, the log does not
        s.select(rng.choice(s.dataset.n_samples, 300, replace=False), source="map")
        browser_update(queue.widget, {"page": 1})
    assert {name: len(c) for name, c in calls.items()} == {
        "actions": 1,
        "relabels": 1,
        "counts": 1,
    }
    first = queue.items[:3]
    s.decide(first[:1], "remove")
    s.decide(first[1:2], "relabel", label=0)
    assert len(calls["actions"]) == 3  # once per decision
    browser_update(queue.widget, {"page": 0})
    rows = {r["index"]: r for r in queue.widget.rows}
    assert rows[int(first[0])]["decision"] == "remove"
    assert rows[int(first[1])]["decision"] == "relabel"
    assert rows[int(first[1])]["decision_label"] == s.dataset.class_names[0]
    assert queue.widget.counts["remove"] == 1 and queue.widget.counts["relabel"] == 1
    s.decisions.undo()
    assert rows[int(first[1])]["decision"] == "relabel"  # the old page's rows, not resent
    rows = {r["index"]: r for r in queue.widget.rows}
    assert rows[int(first[1])]["decision"] == ""
    assert queue.widget.counts["relabel"] == 0


def test_queue_filters_read_the_current_decisions():
    s = digits_session()
    queue = ReviewQueue(s, page_size=10, hide_decided=True)
    _ = queue.widget
    before = queue.items
    s.decide(before[:2], "keep")
    assert queue.items.tolist() == before[2:].tolist()
    s.decisions.undo()
    assert queue.items.tolist() == before.tolist()


def test_a_selection_sets_only_the_matrices_selection_layers(monkeypatch):
    s = digits_session(pred_probs=True)
    view = MatrixView(s)
    _ = view.widget
    fig = view.figure
    sent = restyled(fig)
    texts = count_calls(
        matrix_module, "_fitting_text", monkeypatch
    )  # the heatmaps' printed numbers
    s.select(np.flatnonzero(s.dataset.labels == 3), source="map")
    assert texts == []  # nothing of the heatmaps themselves is made or validated again
    assert set(sent) >= {"confusion:selection", "confusion", "estimated:selection"}
    for panel in view.panels:  # the heatmaps: their hover's counts only
        assert sent.get(panel, set()) <= {"hovertext", "hoverinfo"}
    assert {"x", "y"} <= sent["confusion:selection"]  # the frames
    # the frames sit on the cells holding the selection
    trace = next(t for t in fig.data if t.name == "confusion:selection")
    expected = np.count_nonzero(view.selection_counts("confusion"))
    assert len(trace.x) == expected > 0
    sent.clear()
    view.set_mode("rates")  # the values change: the heatmaps are set again
    assert "z" in sent["confusion"] and len(texts) == len(view.panels)


@pytest.fixture
def bench():
    s = map_session()
    wb = Workbench(s)
    _ = wb.widget
    return s, wb


def test_hidden_matrices_wait_until_shown(bench):
    s, wb = bench
    wb.select_tab("Matrices")
    view = wb.matrix
    assert view.shown
    done = view.refreshes
    s.select([1, 2, 3], source="map")  # on screen: redrawn at once
    assert view.refreshes == done + 1
    wb.select_tab("Map")
    assert not view.shown and wb.map.shown
    rng = np.random.default_rng(1)
    for _ in range(5):  # lassos on the map while the matrices are hidden
        s.select(rng.choice(s.dataset.n_samples, 200, replace=False), source="map")
    assert view.refreshes == done + 1
    wb.select_tab("Matrices")  # shown again: brought up to date once
    assert view.refreshes == done + 2
    trace = next(t for t in view.figure.data if t.name == "confusion:selection")
    assert len(trace.x) == np.count_nonzero(view.selection_counts("confusion"))
    wb.select_tab("Review")
    wb.select_tab("Matrices")  # nothing changed meanwhile: nothing to do
    assert view.refreshes == done + 2


def test_the_map_beside_the_tabs_counts_as_shown(bench):
    s, wb = bench
    browser_update(wb.width_probe, {"width": 3000})
    assert wb.side_by_side
    assert wb.map.shown and wb.views[wb.tabs.titles[wb.tabs.selected_index]].shown
    assert not wb.matrix.shown
    browser_update(wb.width_probe, {"width": 600})
    assert not wb.side_by_side
    current = wb.tabs.titles[wb.tabs.selected_index]
    assert wb.map.shown == (current == "Map")


def test_the_map_keeps_its_draw_order_while_the_highlighted_stay(monkeypatch):
    """Coloured by the flags, the highlighted points go on top without a sort, and the
    order is neither rebuilt nor sent again while they stay the same."""
    from workbench.ui.map import EmbeddingMap

    s = map_session()
    view = EmbeddingMap(s, color_by="flagged")
    _ = view.widget
    widget = view.scatter.widget
    sorts = count_calls(np, "argsort", monkeypatch)
    resent = []
    widget.observe(lambda ch: resent.append(ch["new"]), names="point_order")
    order = view.point_order
    np.testing.assert_array_equal(order, np.argsort(s.flags, kind="stable"))
    sorts.clear()
    view.set_color_by("flagged")  # drawn again, the same points on top
    view.set_size_by("same size")
    assert view.point_order is order and resent == [] and sorts == []
    ranked = np.argsort(-s.result.scores, kind="stable")
    s.set_threshold("top_k", 25)
    np.testing.assert_array_equal(view.point_order, np.argsort(s.flags, kind="stable"))
    assert len(resent) == 1 and view.point_order[-25:].tolist() == sorted(ranked[:25].tolist())
    view.set_color_by("score: weak")  # a score orders by itself: sorted
    key = view.highlight()[1]
    np.testing.assert_array_equal(view.point_order, np.argsort(key, kind="stable"))
    assert len(resent) == 2
