"""The embedding map at large N: highlighted points drawn on top, larger and opaque, the others
fainter the denser the map; "only the highlighted"; a selection keeps its colours over grey
others; size by a second field."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("jscatter")

from test_ui_map import browser_selection, browser_update, make_session  # noqa: E402

from workbench.ui import map as map_module  # noqa: E402
from workbench.ui.map import EmbeddingMap, size_options  # noqa: E402


def test_flagged_points_are_drawn_last_under_flagged_and_not_under_labels():
    s = make_session()
    m = EmbeddingMap(s, color_by="flagged")
    assert m.widget is not None
    w = m.scatter.widget
    n_flagged = int(s.flags.sum())
    assert 0 < n_flagged < s.dataset.n_samples
    order = np.asarray(w.point_order)
    assert sorted(order.tolist()) == list(range(s.dataset.n_samples))
    assert s.flags[order[-n_flagged:]].all() and not s.flags[order[:-n_flagged]].any()
    np.testing.assert_array_equal(np.asarray(w.points)[:, 3], s.flags)
    assert w.opacity_by == "valueB" and w.size_by == "valueB"
    look = m.emphasis()
    assert w.opacity == look["opacity"] and w.size == look["size"]
    assert look["opacity"][1] == 1.0 and look["size"][1] > look["size"][0]
    # the label colourings show classes: nothing on top, and flags changes leave them alone;
    # with nothing on top no draw order travels (it was the identity, 4 bytes a point)
    for name in ["given label", "suggested label", "true label"]:
        m.set_color_by(name)
        assert not np.asarray(w.points)[:, 3].any()
        assert w.point_order is None and m.point_order is None
    m.set_color_by("given label")
    sent = w.points
    s.set_threshold("top_k", 10)
    assert w.points is sent


def test_under_a_score_the_highest_scores_are_drawn_on_top():
    s = make_session()
    m = EmbeddingMap(s, color_by="score: beta")
    assert m.widget is not None
    order = np.asarray(m.scatter.widget.point_order)
    beta = s.results["beta"]
    flagged = beta.flags
    k = int(flagged.sum())
    assert flagged[order[-k:]].all()
    # inside each group, by rising score: the top score is the last drawn
    assert np.all(np.diff(beta.scores[order[-k:]]) >= 0)
    assert np.all(np.diff(beta.scores[order[:-k]]) >= 0)
    assert order[-1] == np.argmax(beta.scores)
    m.set_color_by("mislabeled (truth)")
    np.testing.assert_array_equal(np.asarray(m.scatter.widget.points)[:, 3], s.dataset.is_noisy)
    s.decide([3, 5], "keep")
    m.set_color_by("decision")
    assert set(np.asarray(m.scatter.widget.point_order)[-2:].tolist()) == {3, 5}


def test_highlighted_points_follow_the_threshold():
    s = make_session()
    m = EmbeddingMap(s, color_by="flagged")
    assert m.widget is not None
    before = m.highlighted.copy()
    s.set_threshold("top_k", 10)
    assert m.highlighted.sum() == 10 and not np.array_equal(before, m.highlighted)
    np.testing.assert_array_equal(np.asarray(m.scatter.widget.points)[:, 3], s.flags)


def test_the_others_fade_with_density_and_the_highlighted_grow_while_sparse():
    looks = {}
    for n in (300, 100_000, 1_000_000):
        m = EmbeddingMap(make_session(n=n), color_by="flagged")
        m.highlighted = m.highlight()[0]  # what the build computes, without the browser widget
        looks[n] = m.emphasis()
        covered = m.highlighted.sum() * looks[n]["size"][1] ** 2 / map_module._MAP_AREA_PX
        grown = looks[n]["size"][1] > looks[n]["size"][0]
        assert not grown or covered <= map_module._HIGHLIGHT_COVER + 1e-9
        assert looks[n]["opacity"][1] == 1.0
    small, mid, big = looks[300], looks[100_000], looks[1_000_000]
    assert small["opacity"][0] == 1.0  # a few hundred points: nothing to fade
    assert big["opacity"][0] < mid["opacity"][0] < 1.0
    assert big["opacity"][0] >= map_module._MIN_BACKGROUND
    assert small["size"][1] == small["size"][0] + 1  # 20% of 300 flagged: room to grow
    assert big["size"][1] == big["size"][0]  # 200,000 flagged would cover the map


def test_only_the_highlighted_over_a_faint_background():
    s = make_session()
    m = EmbeddingMap(s)
    assert m.widget is not None
    w = m.scatter.widget
    m._only.value = True  # the checkbox, as a click sets it
    assert m.highlight_only and w.opacity == [map_module._FAINT, 1.0]
    m.set_highlight_only(False)
    assert not m._only.value and w.opacity[0] == m.emphasis()["opacity"][0] > map_module._FAINT
    with pytest.raises(TypeError, match="on must be True or False"):
        m.set_highlight_only("yes")


def test_a_selection_keeps_its_colours_and_the_rest_turns_grey():
    """Item 12 of the laptop-width issue: while a selection is shown the others stay visible,
    in grey; the selected keep their colours, at any size of selection. The grey is the
    browser's (``SelectionLook``, in the selection's own frame): the widget's palettes stay the
    colouring's own, whatever is selected."""
    s = make_session()
    m = EmbeddingMap(s)
    assert m.widget is not None
    w = m.scatter.widget
    look = m._look
    # one look beside the scatter, in the row they share (each view of the row has both)
    assert look.scatter is w and look in m.widget.children[2].children
    assert w in m.widget.children[2].children
    assert look.grey == list(map_module._UNSELECTED) and look.large == map_module._LARGE_SELECTION
    assert 0.3 <= look.fade_large < look.fade_small < 1  # faded a little, more when many
    assert w.opacity_unselected == look.fade_small
    own = [list(c) for c in m.color_values()[1]["colors"]]
    assert w.color == own and "not selected" not in m._legend.value  # nothing selected
    for pick in (np.arange(10), np.arange(200)):  # small, then large
        s.select(pick, source="python")
        # the browser takes the selected palette value by value only when the hover palette
        # has the same length (else the selected points were drawn grey too)
        assert w.color == own and w.color_selected == own and w.color_hover == own
        assert f"not selected, faded ({pick.size:,} selected keep their colours)" in m._legend.value
    browser_selection(w, np.arange(20))  # a small lasso in the browser
    assert s.selection.size == 20 and w.color == own and w.color_selected == own
    assert "not selected, faded (20 selected" in m._legend.value
    m.set_color_by("score: beta")  # a new colouring keeps the look of the selection
    viridis = [list(c) for c in m.color_values()[1]["colors"]]
    assert w.color == viridis and w.color_selected == viridis and w.color_hover == viridis
    browser_update(w, {"selection": None})  # double-click: deselect
    assert s.selection.size == 0 and w.color == viridis
    assert "not selected" not in m._legend.value
    # a selected point is drawn without growing, with a thin outline only
    options = w.regl_scatterplot_options
    assert options["pointOutlineWidth"] == 1 and options["pointSizeSelected"] == 0


def test_a_lasso_sends_nothing_back_to_the_map(monkeypatch):
    """A lasso's selection stays in the browser it came from: no echo of its indices (4 bytes
    a point), no palette, no opacity; a selection made elsewhere sends the selection alone."""
    s = make_session()
    m = EmbeddingMap(s, color_by="flagged")
    assert m.widget is not None
    w = m.scatter.widget
    sent = []
    monkeypatch.setattr(w, "_send", lambda msg, buffers=None: sent.append(msg))
    browser_selection(w, np.arange(40))
    assert s.selection.size == 40 and "<b>40</b> selected" in m._status.value
    assert sent == []
    browser_update(w, {"selection": None})  # double-click: deselect
    assert s.selection.size == 0 and sent == []
    s.select([1, 2, 3], source="matrix")  # another view's selection
    assert [sorted(msg["state"]) for msg in sent] == [["selection"]]
    np.testing.assert_array_equal(w.selection, [1, 2, 3])
    # other changes from the browser are still echoed (only the selection's echo is off)
    sent.clear()
    browser_update(w, {"mouse_mode": "lasso"})  # (the map then turns the tooltip off)
    assert sent[0]["method"] == "echo_update" and list(sent[0]["state"]) == ["mouse_mode"]


def test_colour_and_size_by_two_fields():
    """Colour by the given class and size by a score at once (item 12)."""
    s = make_session()
    m = EmbeddingMap(s, color_by="given label", size_by="score: beta")
    assert m.widget is not None
    w = m.scatter.widget
    pts = np.asarray(w.points)
    np.testing.assert_array_equal(pts[:, 2], s.dataset.labels)  # colour: the class
    beta = s.results["beta"].scores
    size = pts[:, 3]
    assert 0 < size.min() and size.max() < 1  # continuous: never read as categories
    assert np.all(np.diff(size[np.argsort(beta, kind="stable")]) >= 0)  # higher score, larger
    look = m.emphasis()
    assert w.size == look["size"] and w.opacity == look["opacity"]
    assert len(w.size) == map_module._SIZE_STEPS and np.all(np.diff(w.size) > 0)
    assert w.size_by == "valueB" and w.opacity_by == "valueB"
    assert "size: " in m._legend.value and "score: beta (larger = higher)" in m._legend.value
    # through the dropdown, as a click in the browser would: size by the flags
    m._size_dropdown.value = "flagged"
    assert m.size_by == "flagged"
    np.testing.assert_array_equal(np.asarray(w.points)[:, 3], s.flags)
    np.testing.assert_array_equal(np.asarray(w.points)[:, 2], s.dataset.labels)
    assert w.size[1] > w.size[0]
    s.set_threshold("top_k", 7)  # the sizes follow the threshold
    np.testing.assert_array_equal(np.asarray(w.points)[:, 3], s.flags)
    m.set_size_by("mislabeled (truth)")
    np.testing.assert_array_equal(np.asarray(w.points)[:, 3], s.dataset.is_noisy)
    m.set_size_by("same size")
    assert w.size[0] == w.size[1] and ">size: " not in m._legend.value
    m.set_color_by("flagged")  # "highlighted": the colouring's highlighted points grow
    m.set_size_by("highlighted")
    np.testing.assert_array_equal(np.asarray(w.points)[:, 3], s.flags)
    assert m.size_by == "highlighted" and w.size[1] > w.size[0]
    assert size_options(s) == [
        "highlighted",
        "same size",
        "flagged",
        "mislabeled (truth)",
        "score: alpha",
        "score: beta",
    ]
    assert "mislabeled (truth)" not in size_options(make_session(truth=False))
    with pytest.raises(ValueError, match="size_by must be one of"):
        m.set_size_by("score: gamma")
    with pytest.raises(ValueError, match="size_by must be one of"):
        EmbeddingMap(s, size_by="given label")


def test_reset_view_is_a_button_without_animation():
    m = EmbeddingMap(make_session())
    assert m.widget is not None
    assert "reset" not in m.scatter.widget.toolbar_buttons
    assert m._reset.description == "Reset view"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_selection_look_module_parses(tmp_path):
    """The browser side of the selection's look (widgets/map_selection.js) as anywidget gets
    it: one ES module with a render function."""
    look = map_module.SelectionLook(scatter=EmbeddingMap(make_session()).widget)
    esm = look.get_state()["_esm"]
    assert "export default" in esm and "render(" in esm
    copy = tmp_path / "map_selection.mjs"  # `node --check` parses ES modules by the extension
    copy.write_text(esm)
    proc = subprocess.run(["node", "--check", str(copy)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
