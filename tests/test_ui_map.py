"""The embedding map: built without a browser, driven by the messages a browser would send."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("jscatter")

from workbench.analysis.detectors import DetectorResult  # noqa: E402
from workbench.core.dataset import Dataset  # noqa: E402
from workbench.session import Session  # noqa: E402
from workbench.ui.map import EmbeddingMap, color_options  # noqa: E402

N, K = 300, 3
NAMES = ["cat", "dog", "fox"]


def make_session(*, coords=True, features=False, truth=True, previews=None, n=N, ids=None):
    rng = np.random.default_rng(0)
    true = rng.integers(0, K, n)
    given = true.copy()
    flip = rng.random(n) < 0.2
    given[flip] = (given[flip] + 1) % K
    kwargs = {}
    if coords:
        kwargs["coords"] = rng.normal(size=(n, 2))
    if features:
        kwargs["features"] = rng.normal(size=(n, 5))
    if truth:
        kwargs["true_labels"] = true
    ds = Dataset(given, class_names=NAMES, previews=previews, ids=ids, **kwargs)
    a = rng.random(n)
    b = rng.random(n) * 10
    suggested = np.where(rng.random(n) < 0.5, true, -1)
    results = {
        "alpha": DetectorResult("alpha", a, a > 0.8, suggested),
        "beta": DetectorResult("beta", b, b > 9.0, None),
    }
    return Session(ds, results=results)


def browser_update(widget, state: dict, buffers=()) -> None:
    """Deliver a comm message as the browser sends it: state plus binary buffers."""
    paths = [[name, "view"] for name in state if isinstance(state[name], dict)]
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": paths}},
            "buffers": list(buffers),
        }
    )


def browser_selection(widget, indices) -> None:
    arr = np.asarray(indices, dtype=np.uint32)
    state = {"selection": {"view": None, "dtype": "uint32", "shape": [arr.size]}}
    browser_update(widget, state, [memoryview(arr.tobytes())])


def test_build_sends_one_float32_buffer_of_four_columns():
    from ipywidgets.widgets.widget import _remove_buffers

    s = make_session()
    m = EmbeddingMap(s)
    box = m.widget
    assert box is m.widget  # built once
    sw = m.scatter.widget
    points = np.asarray(sw.points)
    assert points.shape == (N, 4)
    assert points.dtype == np.float32
    np.testing.assert_array_equal(points[:, 2], s.dataset.labels)
    assert not points[:, 3].any()  # highlighted (drawn on top): none under a label colouring
    # x and y keep the order of the coordinates
    assert np.corrcoef(points[:, 0], s.dataset.coords[:, 0])[0, 1] > 0.999
    state, paths, buffers = _remove_buffers(sw.get_state())
    assert ["points", "view"] in paths
    sent = dict(zip((tuple(p) for p in paths), buffers, strict=True))
    assert memoryview(sent[("points", "view")]).nbytes == N * 4 * 4
    assert "points" not in str(state.get("points", {}).get("view", ""))
    assert sw.color_by == "valueA" and sw.color_scale == "categorical"
    assert sw.color_domain == {"cat": 0, "dog": 1, "fox": 2}
    # the legend is a row above the map, not jupyter-scatter's box over the points
    assert sw.legend is False
    assert m._legend in m.widget.children and "<b>given label</b>" in m._legend.value
    assert all(f"</span>{name}</span>" in m._legend.value for name in NAMES)


def test_options_and_bad_input():
    s = make_session()
    assert color_options(s) == [
        "given label",
        "suggested label",
        "true label",
        "mislabeled (truth)",
        "flagged",
        "decision",
        "score: alpha",
        "score: beta",
    ]
    assert "true label" not in color_options(make_session(truth=False))
    with pytest.raises(ValueError, match="color_by must be one of"):
        EmbeddingMap(s, color_by="nope")
    with pytest.raises(ValueError, match="method"):
        EmbeddingMap(s, method="tsne")
    with pytest.raises(ValueError, match="height"):
        EmbeddingMap(s, height=5)
    with pytest.raises(ValueError, match=r"coords must have shape \(300, 2\)"):
        _ = EmbeddingMap(s, coords=np.zeros((N, 3))).widget
    m = EmbeddingMap(s)
    assert m.widget is not None
    with pytest.raises(ValueError, match="color_by must be one of"):
        m.set_color_by("score: gamma")
    with pytest.raises(TypeError, match="workbench.Session, workbench.Dataset"):
        EmbeddingMap(np.zeros(3))


def test_browser_lasso_selects_in_the_session():
    s = make_session()
    m = EmbeddingMap(s)
    assert m.widget is not None
    seen = []
    s.on("selection", lambda sess: seen.append((sess.selection.copy(), sess.selection_source)))
    browser_selection(m.scatter.widget, [40, 3, 17])
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0][0], [3, 17, 40])
    assert seen[0][1] == "map"
    assert "<b>3</b> selected" in m._status.value
    assert "most suspicious of 3 selected" in m._panel.value
    top = [40, 3, 17][int(np.argmax(s.result.scores[[40, 3, 17]]))]
    assert f"<b>id {top}</b>" in m._panel.value  # the highest active score, not the lowest index
    browser_update(m.scatter.widget, {"selection": None})  # double-click: deselect
    assert s.selection.size == 0


def test_selection_from_another_view_highlights_without_echo():
    s = make_session()
    m = EmbeddingMap(s)
    assert m.widget is not None
    events = []
    s.on("selection", lambda sess: events.append(sess.selection_source))
    s.select([5, 6, 7], source="matrix")
    np.testing.assert_array_equal(m.scatter.widget.selection, [5, 6, 7])
    assert m.scatter.widget.selection.dtype == np.uint32
    assert events == ["matrix"]  # the map did not answer with a selection of its own
    assert s.selection_source == "matrix"


def test_selection_made_before_the_widget_is_shown():
    s = make_session()
    s.select([1, 2], source="queue")
    m = EmbeddingMap(s)
    assert m.widget is not None
    np.testing.assert_array_equal(m.scatter.widget.selection, [1, 2])


def test_color_by_updates_the_encoded_column():
    s = make_session()
    m = EmbeddingMap(s)
    assert m.widget is not None
    sw = m.scatter.widget
    before = np.asarray(sw.points)
    m.set_color_by("flagged")
    after = np.asarray(sw.points)
    np.testing.assert_array_equal(after[:, 2], s.flags.astype(np.float32))
    np.testing.assert_array_equal(after[:, :2], before[:, :2])  # only the colour column moves
    assert sw.color_domain == {"not flagged": 0, "flagged": 1}
    assert "<b>flagged by alpha</b>" in m._legend.value
    # through the dropdown, as a click in the browser would
    m._dropdown.value = "score: beta"
    assert m.color_by == "score: beta"
    vals = np.asarray(sw.points)[:, 2]
    scores = s.results["beta"].scores
    assert sw.color_scale == "linear"
    # the score's colour scale is in the legend row above the map, not over its points
    assert sw.legend is False and "linear-gradient" in m._legend.value
    assert "noise score: beta (higher = worse)" in m._legend.value
    assert 0 < vals.min() and vals.max() < 1  # strictly inside: never read as categories
    assert np.all(np.diff(vals[np.argsort(scores, kind="stable")]) >= 0)
    lo, hi = sw.color_domain
    assert scores.min() <= lo < hi <= scores.max()
    m.set_color_by("suggested label")
    vals = np.asarray(sw.points)[:, 2]
    sug = s.result.suggested_labels
    np.testing.assert_array_equal(vals, np.where(sug < 0, K, sug))
    assert list(sw.color_domain) == [*NAMES, "no suggestion"]
    m.set_color_by("mislabeled (truth)")
    np.testing.assert_array_equal(np.asarray(sw.points)[:, 2], s.dataset.is_noisy)
    m.set_color_by("true label")
    np.testing.assert_array_equal(np.asarray(sw.points)[:, 2], s.dataset.true_labels)


def test_class_colours_stay_the_same_across_label_encodings():
    s = make_session()
    m = EmbeddingMap(s)
    assert m.widget is not None
    given = list(m.scatter.widget.color)
    m.set_color_by("suggested label")
    assert list(m.scatter.widget.color)[:K] == given[:K]


def test_threshold_change_updates_counts_and_colours():
    s = make_session()
    m = EmbeddingMap(s, color_by="flagged")
    assert m.widget is not None
    s.set_threshold("top_k", 25)
    np.testing.assert_array_equal(np.asarray(m.scatter.widget.points)[:, 2], s.flags)
    assert int(np.asarray(m.scatter.widget.points)[:, 2].sum()) == 25
    assert "<b>25</b> flagged by alpha" in m._status.value
    s.set_detector("beta")
    np.testing.assert_array_equal(np.asarray(m.scatter.widget.points)[:, 2], s.flags)
    assert "flagged by beta" in m._status.value


def test_decisions_recolour_the_decision_encoding():
    s = make_session()
    m = EmbeddingMap(s, color_by="decision")
    assert m.widget is not None
    assert np.all(np.asarray(m.scatter.widget.points)[:, 2] == 0)
    s.decisions.decide([3, 4], "remove")
    s.decisions.decide([9], "relabel", label="fox")
    vals = np.asarray(m.scatter.widget.points)[:, 2]
    cats = list(m.scatter.widget.color_domain)
    assert cats[int(vals[3])] == "remove" and cats[int(vals[9])] == "relabel"
    assert cats[int(vals[0])] == "undecided"
    assert m.sample_info(9)["decision"] == "relabel to fox"


def test_tooltip_answers_from_the_session_with_a_lazy_preview():
    imgs = np.random.default_rng(1).integers(0, 16, size=(N, 8, 8)).astype(np.uint8)
    s = make_session(previews=list(imgs))
    m = EmbeddingMap(s)
    assert m.widget is not None
    sw = m.scatter.widget
    assert sw.tooltip_preview_type == "image"
    assert "given" in sw.tooltip_properties and "true" in sw.tooltip_properties
    assert "color" not in sw.tooltip_properties  # it repeated "given" (or the score)
    sent = []
    sw.send = lambda msg, buffers=None: sent.append(msg)
    sw._handle_custom_msg(
        {
            "type": "tooltip",
            "index": 7,
            "properties": ["given", "score", "flagged"],
            "preview": "preview",
        },
        [],
    )
    (msg,) = sent
    assert msg["index"] == 7
    assert msg["properties"]["given"] == NAMES[s.dataset.labels[7]]
    assert msg["properties"]["score"].startswith(f"{s.result.scores[7]:.4g}")
    assert msg["preview"].startswith("data:image/png;base64,")


def test_text_previews_and_hover_panel():
    texts = [f"sample text number {i}" for i in range(N)]
    s = make_session(previews=texts)
    m = EmbeddingMap(s)
    assert m.widget is not None
    assert m.scatter.widget.tooltip_preview_type == "text"
    browser_update(m.scatter.widget, {"hovering": 12})
    assert "sample text number 12" in m._panel.value
    assert ">hovered<" in m._panel.value
    browser_update(m.scatter.widget, {"hovering": None})  # the mouse left the point
    assert "sample text number 12" in m._panel.value and "last hovered" in m._panel.value
    browser_selection(m.scatter.widget, [30, 31])  # a new selection replaces it
    top = [30, 31][int(np.argmax(s.result.scores[[30, 31]]))]
    assert f"sample text number {top}" in m._panel.value
    assert "most suspicious of 2 selected" in m._panel.value


def test_tooltip_and_panel_name_the_sample_by_its_id_and_say_different_things():
    """The hover showed row positions, not the user's ids, and the side panel repeated it
    line by line: now the tooltip gives id, labels, score and flag; the panel the decision and
    note, the suggested label, the detectors flagging and each detector's rank."""
    ids = [f"img-{i:03d}.png" for i in range(N)]
    s = make_session(ids=ids)
    m = EmbeddingMap(s)
    assert m.widget is not None
    sw = m.scatter.widget
    props = set(sw.tooltip_properties)
    assert props == {"id", "given", "score", "flagged", "true"}
    sent = []
    sw.send = lambda msg, buffers=None: sent.append(msg)
    sw._handle_custom_msg({"type": "tooltip", "index": 7, "properties": sorted(props)}, [])
    assert sent[-1]["properties"]["id"] == "img-007.png (row 7)"
    s.decide([7], "relabel", label="fox", note="ear shape says fox")
    browser_update(sw, {"hovering": 7})
    panel = m._panel.value
    assert "<b>id img-007.png (row 7)</b>" in panel
    assert "relabel to fox" in panel and "ear shape says fox" in panel
    labels = set(re.findall(r"<td style='color:#666[^']*'>([^<]+)</td>", panel))
    assert labels == {"decision", "suggested"}
    n_by = len(m.panel_info(7)["flagged_by"])
    assert f'<span style="color:#666">flagged by</span> <b>{n_by}</b> of 2' in panel
    assert not labels & props  # nothing the tooltip says is repeated
    info = m.panel_info(7)
    assert info["note"] == "ear shape says fox"
    expected_by = [n for n, r in s.results.items() if (s.flags if n == s.active else r.flags)[7]]
    assert info["flagged_by"] == expected_by
    for name, score, rank in info["ranks"]:
        scores = s.results[name].scores
        assert score == scores[7] and rank == 1 + int((scores > scores[7]).sum())
        assert f"#{rank:,}" in panel
    assert [r[2] for r in info["ranks"]] == sorted(r[2] for r in info["ranks"])
    top = int(np.argmax(s.results["beta"].scores))
    assert dict((n, r) for n, _, r in m.panel_info(top)["ranks"])["beta"] == 1
    # without ids of its own a dataset names samples by position
    plain = EmbeddingMap(make_session())
    assert plain.sample_info(7)["id"] == "7" and plain.panel_info(7)["note"] == ""
    # an outlier score is ranked, named so, and does not vote in "flagged by n of m" (as in
    # the queue)
    base = make_session()
    out = np.ones(N)
    results = {**base.results, "knn_outlier": DetectorResult("knn_outlier", out, out > 0)}
    m2 = EmbeddingMap(Session(base.dataset, results=results))
    assert m2.widget is not None
    info = m2.panel_info(7)
    assert "knn_outlier" not in info["flagged_by"] and info["n_voters"] == 2
    assert "knn_outlier" in [r[0] for r in info["ranks"]]
    browser_update(m2.scatter.widget, {"hovering": 7})
    assert "knn_outlier (outlier)" in m2._panel.value


def test_no_tooltip_in_lasso_mode_the_side_panel_still_follows_the_hover():
    """The tooltip popped up during a lasso drag and covered the lasso."""
    s = make_session()
    m = EmbeddingMap(s)
    assert m.widget is not None
    sw = m.scatter.widget
    assert sw.mouse_mode == "panZoom" and sw.tooltip_enable
    browser_update(sw, {"mouse_mode": "lasso"})  # the toolbar's lasso button
    assert sw.tooltip_enable is False
    browser_update(sw, {"hovering": 12})
    assert "<b>id 12</b>" in m._panel.value
    browser_update(sw, {"mouse_mode": "panZoom"})
    assert sw.tooltip_enable is True


def test_missing_coordinates():
    s = make_session(coords=False)
    m = EmbeddingMap(s)
    box = m.widget
    assert m.coords is None and m.scatter is None
    assert "neither 2-D coordinates nor features" in box.value
    assert "coords" in m.reason


def test_coordinates_projected_from_features():
    pytest.importorskip("workbench.compute.projection")
    s = make_session(coords=False, features=True)
    m = EmbeddingMap(s)
    assert m.widget is not None
    assert m.coords.shape == (N, 2) and m.coords.dtype == np.float32
    assert np.isfinite(m.coords).all()


def test_close_unsubscribes():
    s = make_session()
    before = {e: len(s._listeners[e]) for e in ("selection", "flags", "decisions")}
    m = EmbeddingMap(s)
    assert m.widget is not None
    assert len(s._listeners["selection"]) == before["selection"] + 1
    m.close()
    assert {e: len(s._listeners[e]) for e in before} == before
    m.close()  # idempotent
    s.select([1, 2], source="matrix")  # nothing listens any more, nothing breaks


def test_repr_mimebundle_delegates_to_the_widget():
    m = EmbeddingMap(make_session())
    bundle = m._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_a_dataset_is_wrapped_into_a_new_session():
    s = make_session()
    m = EmbeddingMap(s.dataset, results=s.results, color_by="score: beta")
    assert m.widget is not None
    assert m.session is not s and m.session.dataset is s.dataset
    assert m.scatter.widget.color_scale == "linear"


def test_two_maps_on_one_session_follow_each_other():
    s = make_session()
    a, b = EmbeddingMap(s), EmbeddingMap(s, color_by="flagged")
    assert a.widget is not None and b.widget is not None
    browser_selection(a.scatter.widget, [4, 8, 15])
    np.testing.assert_array_equal(b.scatter.widget.selection, [4, 8, 15])
    assert s.selection_source == "map"
    browser_selection(b.scatter.widget, [16, 23])
    np.testing.assert_array_equal(a.scatter.widget.selection, [16, 23])


def test_help_names_the_modifier_keys_the_map_really_uses():
    """jupyter-scatter starts regl-scatterplot with ``actionKeyMap: {merge: "meta", remove:
    "alt"}``: Cmd/Meta adds to the selection, Alt removes, Shift does nothing. The help line
    says so (it used to say Shift)."""
    import re
    from pathlib import Path

    import jscatter

    bundle = (Path(jscatter.__file__).parent / "bundle.js").read_text(errors="replace")
    keymaps = set(re.findall(r"actionKeyMap:\s*(\{[^}]*\})", bundle))
    assert keymaps == {'{ merge: "meta", remove: "alt" }'}, keymaps
    m = EmbeddingMap(make_session())
    help_text = m.widget.children[-1].value
    assert "Cmd" in help_text and "add to the selection" in help_text
    assert "Alt" in help_text and "remove from it" in help_text
    assert "Shift" not in help_text
    assert "Double-click or Escape clears" in help_text and "rectangle" in help_text


def browser_custom(widget, content) -> None:
    """Deliver a custom message (``model.send(content)`` in the browser)."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def test_bad_messages_from_the_browser_are_ignored_and_logged(caplog):
    """A hover index >= N used to raise IndexError and left the side panel raising until the
    selection changed; a tooltip request for index "x" raised. Each bad message is now
    ignored with a warning, and the map keeps answering good ones."""
    texts = [f"sample text number {i}" for i in range(N)]
    s = make_session(previews=texts)
    m = EmbeddingMap(s)
    assert m.widget is not None
    sw = m.scatter.widget
    sent = []
    sw.send = lambda msg, buffers=None: sent.append(msg)
    with caplog.at_level("WARNING", logger="workbench.ui"):
        browser_update(sw, {"hovering": N + 5})
        browser_update(sw, {"hovering": 12})  # the next good hover is shown
        assert "sample text number 12" in m._panel.value and ">hovered<" in m._panel.value
        browser_update(sw, {"hovering": N})
        assert "sample text number 12" in m._panel.value
        for bad in (
            {"type": "tooltip", "index": "x", "properties": ["given"], "preview": None},
            {"type": "tooltip", "index": N, "properties": ["given"], "preview": None},
            {"type": "tooltip", "index": True, "properties": ["given"], "preview": None},
            {"type": "tooltip", "index": 3, "properties": "given", "preview": None},
            {"type": "tooltip", "index": 3, "properties": [["given"]], "preview": None},
            {"index": 3},
            ["tooltip", 3],
        ):
            browser_custom(sw, bad)
        browser_custom(sw, {"type": "tooltip", "index": 4, "properties": ["given"], "preview": 1})
        browser_selection(sw, [3, N + 2])  # a point that does not exist
        assert s.selection.size == 0 and len(sw.selection) == 0
        browser_selection(sw, [3, 9])
        np.testing.assert_array_equal(s.selection, [3, 9])
        floats = np.array([1.5, 2.0], dtype=np.float32)
        state = {"selection": {"view": None, "dtype": "float32", "shape": [2]}}
        browser_update(sw, state, [memoryview(floats.tobytes())])
    np.testing.assert_array_equal(s.selection, [3, 9])  # unchanged ...
    np.testing.assert_array_equal(sw.selection, [3, 9])  # ... and shown again in the browser
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == 7
    assert any("hovered point" in t and str(N + 5) in t for t in ignored)
    assert any("tooltip request" in t and "'x'" in t for t in ignored)
    assert sum("selection" in t for t in ignored) == 2
    # tooltips for the good requests only: index 3 twice (bad property lists ask for nothing)
    assert [(msg["index"], msg["properties"]) for msg in sent] == [
        (3, {}),
        (3, {}),
        (4, {"given": NAMES[s.dataset.labels[4]]}),
    ]
    assert sent[-1]["preview"] == "sample text number 4"
    with pytest.raises(ValueError, match=r"index must be an int in 0\.\.299, found 300"):
        m.sample_info(N)


def test_points_keep_a_margin_and_the_side_panel_never_scrolls_sideways():
    """Edge points were cut in half (no margin) and the side panel scrolled sideways."""
    long_texts = ["x" * 400 + f" sample {i}" for i in range(N)]
    s = make_session(previews=long_texts)
    m = EmbeddingMap(s)
    assert m.widget is not None
    pts = np.asarray(m.scatter.widget.points)[:, :2]
    assert np.abs(pts).max() <= 0.96  # the view spans -1..1: a margin on every side
    assert np.isclose(np.abs(pts[:, 0]).max(), 1 / 1.1, atol=0.01)
    assert m._panel.layout.overflow == "hidden auto" and m._panel.layout.width == "210px"
    browser_update(m.scatter.widget, {"hovering": 3})
    assert "overflow-wrap:anywhere" in m._panel.value


def test_every_encoding_by_a_column_has_a_histogram_and_domain():
    """jupyter-scatter's browser side reads ``<channel>_histogram`` and ``<channel>_domain``
    for every channel drawn "by" a column: the map drew opacity and size by one without them
    and the browser threw "Cannot read properties of null (reading 'length')"."""
    m = EmbeddingMap(make_session())
    sw = m.scatter.widget if m.widget is not None else None
    for channel in ("color", "opacity", "size"):
        if getattr(sw, f"{channel}_by") is not None:
            assert getattr(sw, f"{channel}_histogram"), channel
            assert getattr(sw, f"{channel}_domain") is not None, channel
