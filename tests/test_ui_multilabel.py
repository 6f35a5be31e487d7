"""Multi-label views: per-class 2×2 matrices and the co-occurrence matrix hold the right
counts, and a click (as plotly reports it from the browser) selects that cell's samples."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_matrix import click, plotly_click

from workbench.core.dataset import Dataset
from workbench.ui.multilabel import LabelSetMatrices, class_matrices_figure, cooccurrence_figure


def _dataset(k=4, n=120, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.random((n, k)) < 0.4
    P = np.clip(Y * 0.6 + rng.random((n, k)) * 0.5, 0, 1)
    return Dataset(Y, pred_probs=P, class_names=[f"tag{j}" for j in range(k)])


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
    click(view.matrices, 2, 0, 1)  # class 2: lacks it, predicted
    pred = ds.pred_probs[:, 2] > 0.5
    np.testing.assert_array_equal(view.selection, np.flatnonzero(~ds.labels[:, 2] & pred))
    assert len(seen) == 1 and seen[0] is view.selection
    click(view.cooccurrence, 0, 1, 3)
    np.testing.assert_array_equal(view.selection, np.flatnonzero(ds.labels[:, 1] & ds.labels[:, 3]))


def test_bad_clicks_are_ignored(caplog):
    view = LabelSetMatrices(_dataset())
    assert view.widget is not None
    click(view.matrices, 0, 5, 0)  # no row 5 in a 2×2 matrix
    plotly_click(view.matrices, 0, 7, 0, 0)  # a flat index, not [row, col]
    plotly_click(view.cooccurrence, 0, ["a", 1], 1, "a")
    assert view.selection.size == 0
    assert caplog.text.count("ignored a click") == 3, caplog.text


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


# --- the workbench on multi-label data ------------------------------------------------------------
def _labelled(n=240, k=4, seed=5, trajectories=False):
    """Label sets with some wrong annotations, per-class probabilities, 2-D coordinates and the
    true sets."""
    rng = np.random.default_rng(seed)
    true = rng.random((n, k)) < 0.4
    given = true ^ (rng.random((n, k)) < 0.06)
    probs = np.clip(true * 0.6 + rng.random((n, k)) * 0.45, 0, 1)
    extra = {"trajectories": {"loss": rng.random((n, 6))}} if trajectories else {}
    return Dataset(given, pred_probs=probs, class_names=[f"tag{j}" for j in range(k)],
                   coords=rng.normal(size=(n, 2)), true_labels=true, **extra)  # fmt: skip


@pytest.fixture(scope="module")
def wb():
    from workbench.ui.app import Workbench

    bench = Workbench(_labelled())
    yield bench
    bench.close()


def test_workbench_opens_every_tab_on_label_sets(wb):
    from workbench.ui.multilabel import LabelSetMatricesView, LabelSetReview

    assert list(wb.views) == ["Map", "Detectors", "Review", "Matrices", "Decisions"]
    assert isinstance(wb.matrix, LabelSetMatricesView) and isinstance(wb.queue, LabelSetReview)
    assert "trajectories" in wb.missing["Trajectories"].lower()
    for title in wb.views:
        wb.select_tab(title)
    assert wb.built == list(wb.views)
    assert "4 classes" in wb.header_summary()


def test_map_colours_by_class_label_count_and_score(wb):
    ds, m = wb.session.dataset, wb.map
    assert m.color_by == "label count"
    values, legend = m.color_values("label count")
    np.testing.assert_array_equal(values, ds.labels.sum(axis=1))
    assert legend["categories"][0] == "0"
    for c in range(ds.n_classes):
        values, legend = m.color_values(f"has: tag{c}")
        np.testing.assert_array_equal(values, ds.labels[:, c])
        assert legend["categories"] == [f"lacks tag{c}", f"has tag{c}"]
    sug = wb.session.result.suggested_labels
    np.testing.assert_array_equal(m.color_values("suggested has: tag2")[0], sug[:, 2] > 0)
    np.testing.assert_array_equal(m.color_values("mislabeled (truth)")[0], ds.is_noisy)
    m.set_color_by("score: multilabel_label_quality")
    assert m.color_values()[1]["kind"] == "continuous"
    m.set_color_by("flagged")
    np.testing.assert_array_equal(m.color_values()[0], wb.session.flags)
    i = int(np.flatnonzero(ds.labels.sum(axis=1) == 2)[0])
    info = m.sample_info(i)
    assert info["given"] == " | ".join(f"tag{c}" for c in np.flatnonzero(ds.labels[i]))
    assert info["true"] and info["decision"] == "undecided"
    with pytest.raises(ValueError, match="color_by"):
        m.set_color_by("given label")


def test_panel_measures_precision_recall_against_true_sets(wb):
    ds, panel = wb.session.dataset, wb.panel
    assert panel.has_quality and panel.truth_reason is None
    q = panel.quality()
    noisy = (ds.labels != ds.true_labels).any(axis=1)
    flags = wb.session.flags
    assert q["n_noisy"] == noisy.sum() and q["n_found"] == (flags & noisy).sum()
    assert q["precision"] == pytest.approx((flags & noisy).sum() / flags.sum())
    assert q["recall"] == pytest.approx((flags & noisy).sum() / noisy.sum())
    per_class = panel.flagged_per_class()
    assert per_class["tag1"] == (ds.labels[flags, 1].sum(), ds.labels[:, 1].sum())
    precision, recall = panel.curve(wb.session.active)
    assert len(precision) == len(recall) > 1 and recall.max() == pytest.approx(1.0)


def test_matrix_click_selects_and_the_review_queue_follows(wb):
    s, ds = wb.session, wb.session.dataset
    wb.select_tab("Review")  # built, so it follows the selection (also when run alone)
    wb.select_tab("Matrices")
    click(wb.matrix.matrices.cooccurrence, 0, 0, 1)
    expected = np.flatnonzero(ds.labels[:, 0] & ds.labels[:, 1])
    np.testing.assert_array_equal(np.sort(s.selection), expected)
    q = wb.queue.queue
    np.testing.assert_array_equal(np.sort(q.order), expected)
    scores = q.result.scores[q.order]
    assert np.all(np.diff(scores) <= 0)  # most suspicious first
    assert wb.queue.widget.total == expected.size and "selected" in wb.queue.widget.title
    last = int(q.order[-1])
    assert wb.queue.go_to(last) and wb.queue.widget.index == last  # a click in the grid
    outside = int(np.setdiff1d(np.arange(ds.n_samples), expected)[0])
    assert not wb.queue.go_to(outside) and wb.queue.widget.index == last
    s.clear_selection()  # back to the flagged samples
    np.testing.assert_array_equal(np.sort(wb.queue.queue.order), np.flatnonzero(s.flags))
    s.set_detector("multilabel_label_quality")  # the queue follows the active detector
    assert wb.queue.queue.result.detector == "multilabel_label_quality"
    np.testing.assert_array_equal(np.sort(wb.queue.queue.order), np.flatnonzero(s.flags))
    s.set_detector("multilabel_confident_learning")


def test_review_keys_toggle_take_suggested_and_record_label_set_edits(wb, caplog):
    s, ds, review = wb.session, wb.session.dataset, wb.queue
    s.clear_selection()
    w = review.widget
    i = w.index
    assert i == review.queue.current and w.given == ds.labels[i].tolist()
    before = list(w.working)
    review._on_msg(w, {"type": "key", "key": "1"}, [])  # as the browser sends a key press
    assert w.working[1] != before[1] and w.working[0] == before[0]
    review._on_msg(w, {"type": "key", "key": "1"}, [])
    assert w.working == before
    review.press("s")
    assert w.working == (review.queue.suggested[i]).tolist()
    review.press("0")  # then one more class flipped
    want = review.queue.suggested[i].copy()
    want[0] = ~want[0]
    review.press("Enter")
    assert w.index != i and w.position == 1
    row = s.decisions.current().set_index("index").loc[i]
    assert row["action"] in ("edit_labels", "keep")
    np.testing.assert_array_equal(s.decisions.label_sets(ds.labels)[i], want)
    codes, cats = wb.map.color_values("decision")[0], wb.map.color_values("decision")[1]
    assert cats["categories"][int(codes[i])] == row["action"]
    review._on_msg(w, {"type": "toggle", "class": 99}, [])  # no such class: ignored
    review._on_msg(w, "junk", [])
    assert "ignored" in caplog.text
    review.press("k")
    assert w.index == i
    assert review.press("q") is False
    review.press("j")
    review.press("u")  # undo: the decision goes, the review is back on its sample
    assert w.index == i and "Undone: sample" in w.message
    assert i not in s.decisions.current()["index"].to_numpy()
    assert review.undo() is False and w.message == "Nothing to undo."


def test_trajectories_tab_where_trajectories_exist():
    from workbench.ui.app import Workbench

    bench = Workbench(_labelled(n=120, trajectories=True))
    assert "Trajectories" in bench.views and "Trajectories" not in bench.missing
    bench.select_tab("Trajectories")
    assert "Trajectories" in bench.built
    bench.close()


def test_review_shows_the_preview_and_ends_after_the_last_sample():
    from workbench.ui.multilabel import LabelSetReview

    base = _labelled(n=60)
    images = list(np.random.default_rng(0).random((60, 8, 8)))
    ds = Dataset(base.labels, pred_probs=base.pred_probs, class_names=base.class_names,
                 previews=images)  # fmt: skip
    review = LabelSetReview(ds)
    w = review.widget
    assert w.index >= 0 and w.preview.startswith("data:image/png")
    for _ in range(w.total):  # j: next, past the last one
        review.press("j")
    assert w.index == -1 and w.total == len(review.queue.order) > 0
    review.press("1")  # nothing under review: nothing to toggle
    review.press("Enter")
    assert review.session.decisions.counts().get("keep", 0) == 0
    assert w.working == [False] * ds.n_classes


# --- the review's page of rows, bulk decisions, notes -----------------------------------------------
def _review(page_size=5):
    from workbench.ui.multilabel import LabelSetReview

    review = LabelSetReview(_labelled(n=300, seed=7), page_size=page_size)
    assert len(review.queue.order) > 3 * page_size  # several pages to walk
    return review, review.widget


def test_review_sends_a_page_of_rows_and_the_cursor_pages_on():
    from workbench.ui.multilabel import set_text

    review, w = _review()
    ds, q = review.session.dataset, review.queue
    names = ds.class_names
    assert w.page == 0 and w.page_size == 5 and len(w.rows) == 5
    assert [r["position"] for r in w.rows] == [0, 1, 2, 3, 4]
    for r in w.rows:
        i = r["index"]
        assert i == q.order[r["position"]]
        assert r["given"] == set_text(names, ds.labels[i])
        assert r["suggested"] == set_text(names, q.suggested[i])
        assert r["score"] == f"{q.result.scores[i]:.3f}" and r["decision"] == ""
    review.press("j")
    review.press("j")
    assert w.position == 2 and w.page == 0
    review.press("PageDown")  # a page on: the cursor keeps its row on the page
    assert w.position == 7 and w.page == 1 and [r["position"] for r in w.rows][0] == 5
    assert w.index == q.order[7]
    review.press("End")
    assert w.position == w.total - 1 and w.page == (w.total - 1) // 5
    assert w.rows[-1]["position"] == w.total - 1
    review.press("Home")
    assert w.position == 0 and w.page == 0
    review.press("PageUp")  # at the start: stays
    assert w.position == 0
    review._on_msg(w, {"type": "go", "position": 3}, [])  # a click on a row
    assert w.position == 3 and w.index == q.order[3]
    np.testing.assert_array_equal(q.working, ds.labels[q.order[3]])


def test_review_ignores_bad_row_messages(caplog):
    review, w = _review()
    for bad in ({"type": "go", "position": 10_000}, {"type": "go", "position": "2"},
                {"type": "mark", "position": -1}, {"type": "mark"}):  # fmt: skip
        review._on_msg(w, bad, [])
    assert w.position == 0 and w.n_selected == 0
    assert caplog.text.count("ignored") >= 4


def test_review_bulk_decisions_on_marked_rows_undo_in_one_step():
    review, w = _review()
    s, ds, q = review.session, review.session.dataset, review.queue
    review.command("bulk:keep")  # nothing marked yet
    assert "Mark rows first" in w.message and s.decisions.counts()["keep"] == 0
    review.press(" ")  # mark the sample under review
    review._on_msg(w, {"type": "mark", "position": 2}, [])  # a row's box
    review._on_msg(w, {"type": "mark", "position": 4}, [])
    review._on_msg(w, {"type": "mark", "position": 4}, [])  # unmarked again
    marked = [int(q.order[0]), int(q.order[2])]
    assert w.n_selected == 2
    assert [r["selected"] for r in w.rows] == [True, False, True, False, False]
    w.note = "  tags checked against the scan  "  # typed in the browser's note box
    review.command("bulk:suggested")
    assert w.message == "Suggested sets taken: 2 samples." and w.n_selected == 0
    assert w.note == ""  # the note went with that decision
    edited = s.decisions.label_sets(ds.labels)
    for i in marked:
        np.testing.assert_array_equal(edited[i], q.suggested[i])
    current = s.decisions.current().set_index("index")
    assert set(current.index) == set(marked)
    assert (current["note"] == "tags checked against the scan").all()
    rows = {r["index"]: r for r in w.rows}
    for i in marked:
        want = "keep" if (q.suggested[i] == ds.labels[i]).all() else "edit → "
        assert rows[i]["decision"].startswith(want)
    review.press("u")  # one undo takes the whole bulk decision back
    assert w.message == "Undone: 2 samples." and len(s.decisions.current()) == 0
    assert w.index == marked[0]
    review.command("select_page")
    assert w.n_selected == 5
    review.command("bulk:remove")
    assert s.decisions.counts()["remove"] == 5 and w.message == "Removed: 5 samples."
    assert {r["decision"] for r in w.rows} == {"remove"}
    review.command("select")
    review.command("clear_selection")
    assert w.n_selected == 0


def test_review_x_removes_and_a_note_goes_with_one_decision():
    review, w = _review()
    s, q = review.session, review.queue
    first, second = int(q.order[0]), int(q.order[1])
    w.note = "blurry"
    review.press("x")  # remove the sample under review, move on
    assert w.index == second and w.note == ""
    row = s.decisions.current().set_index("index").loc[first]
    assert row["action"] == "remove" and row["note"] == "blurry"
    assert w.rows[0]["decision"] == "remove"
    review.press("Enter")  # keep the next one as given, no note
    assert s.decisions.current().set_index("index").loc[second, "note"] == ""
    assert review.press("n") is True  # the browser moves the focus to the note box
    assert w.index == q.order[2]
    review.press("u")
    assert w.index == second and "Undone: sample" in w.message
