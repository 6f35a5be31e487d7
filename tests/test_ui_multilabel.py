"""Multi-label views: per-class 2×2 matrices and the co-occurrence matrix hold the right
counts, and a click (as plotly reports it from the browser) selects that cell's samples."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.core.dataset import Dataset
from workbench.ui.multilabel import LabelSetMatrices, class_matrices_figure, cooccurrence_figure


def _dataset(k=4, n=120, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.random((n, k)) < 0.4
    P = np.clip(Y * 0.6 + rng.random((n, k)) * 0.5, 0, 1)
    return Dataset(Y, pred_probs=P, class_names=[f"tag{j}" for j in range(k)])


def click(fig, trace_index, point):
    """A click on a heatmap cell (``point`` = [row, col]), as the browser reports it."""
    fig._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"trace_indexes": [trace_index], "point_indexes": [point],
                   "xs": [0], "ys": [0]},
        "device_state": None,
    }  # fmt: skip


def test_matrices_hold_the_counts():
    ds = _dataset()
    fig = class_matrices_figure(ds)
    assert len(fig.data) == 4 and fig.layout.width <= 950
    pred = ds.pred_probs > 0.5
    for c, trace in enumerate(fig.data):
        z = np.asarray(trace.z)
        assert z[1, 1] == np.count_nonzero(ds.labels[:, c] & pred[:, c])
        assert z[1, 0] == np.count_nonzero(ds.labels[:, c] & ~pred[:, c])
        assert z[0, 1] == np.count_nonzero(~ds.labels[:, c] & pred[:, c])
        assert z.sum() == ds.n_samples
    co = np.asarray(cooccurrence_figure(ds).data[0].z)
    assert co[0, 1] == np.count_nonzero(ds.labels[:, 0] & ds.labels[:, 1])
    np.testing.assert_array_equal(np.diag(co), ds.labels.sum(axis=0))


def test_clicks_select_the_cell():
    ds = _dataset()
    seen = []
    view = LabelSetMatrices(ds, on_select=seen.append)
    assert view.widget is not None  # builds the figure widgets
    click(view.matrices, 2, [0, 1])  # class 2: lacks it, predicted
    pred = ds.pred_probs[:, 2] > 0.5
    np.testing.assert_array_equal(view.selection, np.flatnonzero(~ds.labels[:, 2] & pred))
    assert len(seen) == 1 and seen[0] is view.selection
    click(view.cooccurrence, 0, [1, 3])
    np.testing.assert_array_equal(view.selection, np.flatnonzero(ds.labels[:, 1] & ds.labels[:, 3]))


def test_bad_clicks_are_ignored(caplog):
    view = LabelSetMatrices(_dataset())
    assert view.widget is not None
    click(view.matrices, 0, [5, 0])
    click(view.matrices, 0, 7)
    click(view.cooccurrence, 0, ["a", 1])
    assert view.selection.size == 0
    assert "ignored" in caplog.text


def test_many_classes_show_the_worst_and_single_label_is_refused():
    ds = _dataset(k=30, n=300)
    fig = class_matrices_figure(ds, max_classes=10)
    assert len(fig.data) == 10
    off = [np.asarray(t.z)[0, 1] + np.asarray(t.z)[1, 0] for t in fig.data]
    assert off == sorted(off, reverse=True)
    with pytest.raises(ValueError, match="multi-label"):
        LabelSetMatrices(Dataset([0, 1, 1, 0]))


def _queue(**kwargs):
    from workbench.analysis.detectors import get_detector
    from workbench.ui.multilabel import LabelSetQueue

    rng = np.random.default_rng(3)
    true = rng.random((200, 4)) < 0.4
    probs = np.clip(true * 0.6 + rng.random((200, 4)) * 0.5, 0, 1)
    given = true ^ (rng.random((200, 4)) < 0.08)  # some wrong annotations to review
    ds = Dataset(given, pred_probs=probs, class_names=[f"tag{j}" for j in range(4)])
    result = get_detector("multilabel_confident_learning").score(ds, progress=False)
    return ds, result, LabelSetQueue(ds, result, **kwargs)


def test_queue_walks_the_flagged_samples_and_records_label_set_edits():
    ds, result, queue = _queue()
    assert len(queue.order) == result.n_flagged > 0
    assert np.all(np.diff(result.scores[queue.order]) <= 0)  # most suspicious first
    first = queue.current
    np.testing.assert_array_equal(queue.working, ds.labels[first])
    queue.take_suggestion()
    np.testing.assert_array_equal(queue.working, result.suggested_labels[first] > 0)
    queue.save()
    assert queue.current == queue.order[1]
    edited = queue.decisions.label_sets(ds.labels)
    np.testing.assert_array_equal(edited[first], result.suggested_labels[first])
    # the second sample: keep as given
    second = queue.current
    queue.save()
    current = queue.decisions.current().set_index("index")
    assert current.loc[first, "action"] == "edit_labels"
    assert current.loc[second, "action"] == "keep"


def test_queue_widget_toggles_like_the_browser():
    ds, result, queue = _queue()
    widget = queue.widget
    i = queue.current
    button = queue._toggles[1]
    assert button.value == bool(ds.labels[i, 1])
    button.value = not button.value  # what a click in the browser sends
    assert queue.working[1] != ds.labels[i, 1]
    differs = np.flatnonzero(result.suggested_labels[i].astype(bool) != ds.labels[i])
    assert all(queue._toggles[c].button_style == "warning" for c in differs)
    assert "suggested" in queue._header.value and widget is queue.widget
    queue.toggle(99)  # a bad class from the browser is ignored
    queue.position = len(queue.order) - 1
    queue.next()
    assert queue.current is None and "done" in queue._header.value
    queue.save()  # nothing to save at the end
