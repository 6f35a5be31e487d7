"""The matrix view: labelled heatmaps, clickable cells, selection counts per cell."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_matrix import click, dots, heat, plotly_click, trace_index

pytest.importorskip("plotly")
matrices = pytest.importorskip("workbench.analysis.matrices")

from workbench.analysis.detectors import DetectorResult  # noqa: E402
from workbench.core.dataset import Dataset  # noqa: E402
from workbench.session import Session  # noqa: E402
from workbench.ui import matrix as matrix_module  # noqa: E402
from workbench.ui.matrix import MatrixView  # noqa: E402

N, K = 600, 3
NAMES = ["cat", "dog", "fox"]


def make_session(*, pred_probs=True, truth=True):
    rng = np.random.default_rng(0)
    true = rng.integers(0, K, N)
    given = true.copy()
    flip = rng.random(N) < 0.25
    given[flip] = (given[flip] + rng.integers(1, K, flip.sum())) % K
    pp = rng.dirichlet(np.ones(K), N)
    pp[np.arange(N), true] += 1.0
    pp /= pp.sum(axis=1, keepdims=True)
    kwargs = {}
    if pred_probs:
        kwargs["pred_probs"] = pp
    if truth:
        kwargs["true_labels"] = np.where(rng.random(N) < 0.9, true, -1)  # some unknown
    ds = Dataset(given, class_names=NAMES, **kwargs)
    score = rng.random(N)
    return Session(ds, results={"s": DetectorResult("s", score, score > 0.9)})


def crosstab(rows, cols):
    out = np.zeros((K, K))
    np.add.at(out, (rows, cols), 1)
    return out


def test_panels_axes_and_orientation_in_words():
    v = MatrixView(make_session())
    assert v.widget is not None
    assert v.panels == ["confusion", "estimated", "true"]
    lay = v.figure.layout
    titles = [a.text for a in lay.annotations]
    assert "rows: given label · columns: predicted" in titles[0]
    assert "T[i, j] = P(given = j | true = i)" in titles[1]
    assert "T[i, j] = P(given = j | true = i)" in titles[2]
    assert (lay.xaxis.title.text, lay.yaxis.title.text) == ("predicted label", "given label")
    assert lay.xaxis2.title.text == "given label j"
    assert lay.yaxis2.title.text == "true label i (estimated)"
    assert (lay.xaxis3.title.text, lay.yaxis3.title.text) == ("given label j", "true label i")
    for axis in (lay.xaxis, lay.yaxis, lay.xaxis3, lay.yaxis3):
        assert list(axis.ticktext) == NAMES
    assert list(lay.yaxis.range) == [K - 0.5, -0.5]  # row 0 on top, as printed matrices read


def test_values_come_from_the_engine():
    s = make_session()
    ds = s.dataset
    v = MatrixView(s)
    assert v.widget is not None
    pred = ds.pred_probs.argmax(axis=1)
    np.testing.assert_array_equal(v.matrix("confusion", "counts"), crosstab(ds.labels, pred))
    rates = v.matrix("confusion", "rates")
    np.testing.assert_allclose(rates.sum(axis=1), 1.0)
    t_est = matrices.estimate_transition_matrix(ds.labels, ds.pred_probs)
    np.testing.assert_allclose(v.matrix("estimated"), t_est)
    np.testing.assert_allclose(v.matrix("estimated").sum(axis=1), 1.0, atol=1e-6)
    known = ds.true_labels >= 0
    np.testing.assert_array_equal(
        v.matrix("true", "counts"), crosstab(ds.true_labels[known], ds.labels[known])
    )
    np.testing.assert_allclose(
        v.matrix("true", "rates"),
        matrices.true_transition_matrix(ds.true_labels[known], ds.labels[known], K),
    )
    np.testing.assert_array_equal(heat(v, "confusion").z, v.matrix("confusion", "counts"))
    assert heat(v, "confusion").text[1][2] == f"{int(v.matrix('confusion', 'counts')[1, 2]):,}"


def test_counts_rates_toggle():
    v = MatrixView(make_session())
    assert v.widget is not None
    v._toggle.value = "rates"  # as a click in the browser
    assert v.mode == "rates"
    np.testing.assert_allclose(heat(v, "confusion").z, v.matrix("confusion", "rates"))
    np.testing.assert_allclose(heat(v, "true").z, v.matrix("true", "rates"))
    assert heat(v, "confusion").text[0][0] == f"{v.matrix('confusion', 'rates')[0, 0]:.2f}"
    np.testing.assert_allclose(heat(v, "estimated").z, v.matrix("estimated"))  # always rates
    v.set_mode("counts")
    assert v._toggle.value == "counts"
    with pytest.raises(ValueError, match="mode must be 'counts' or 'rates'"):
        v.set_mode("percent")


def test_clicking_a_cell_selects_its_samples_everywhere():
    s = make_session()
    ds = s.dataset
    pred = ds.pred_probs.argmax(axis=1)
    v = MatrixView(s)
    assert v.widget is not None
    click(v.figure, trace_index(v, "confusion"), 1, 2)  # confusion: given dog, predicted fox
    expected = np.flatnonzero((ds.labels == 1) & (pred == 2))
    assert expected.size > 0
    np.testing.assert_array_equal(s.selection, expected)
    assert s.selection_source == "matrix"
    click(v.figure, trace_index(v, "estimated"), 0, 2)  # given fox, predicted (est. true) cat
    np.testing.assert_array_equal(s.selection, np.flatnonzero((ds.labels == 2) & (pred == 0)))
    click(v.figure, trace_index(v, "true"), 2, 1)  # true fox, given dog (unknown never selected)
    np.testing.assert_array_equal(
        s.selection, np.flatnonzero((ds.true_labels == 2) & (ds.labels == 1))
    )


def test_selection_counts_are_a_second_layer():
    s = make_session()
    ds = s.dataset
    v = MatrixView(s)
    assert v.widget is not None
    assert len(dots(v, "confusion").x) == 0
    chosen = np.arange(0, N, 7)
    s.select(chosen, source="map")
    pred = ds.pred_probs.argmax(axis=1)
    expected = crosstab(ds.labels[chosen], pred[chosen])
    np.testing.assert_array_equal(v.selection_counts("confusion"), expected)
    assert v.selection_counts("estimated").sum() == chosen.size
    known = chosen[ds.true_labels[chosen] >= 0]
    assert v.selection_counts("true").sum() == known.size
    layer = dots(v, "confusion")
    drawn = np.zeros((K, K))
    drawn[np.asarray(layer.y), np.asarray(layer.x)] = layer.customdata
    np.testing.assert_array_equal(drawn, expected)
    # A frame along each such cell's border, inside the cell, so its number stays readable ...
    assert layer.marker.symbol == "square" and layer.marker.color == "rgba(0,0,0,0)"
    cell = v._cell_px(v.figure)
    assert cell - 4 <= layer.marker.size <= cell
    # ... and the count in a badge on the cell's top-right corner, away from its number.
    numbers = [t for t in v.figure.data if t.name == "confusion:selection-count"][0]
    assert numbers.mode == "markers+text" and numbers.cliponaxis is False
    corner = {
        (round(y + 0.46), round(x - 0.46)): int(t)
        for x, y, t in zip(numbers.x, numbers.y, numbers.text, strict=True)
    }
    assert corner == {(int(r), int(c)): int(expected[r, c]) for r, c in np.argwhere(expected)}
    assert all(0.3 < x % 1 < 0.5 for x in numbers.x)  # inside the cell, off its centre
    i, j = np.unravel_index(np.argmax(expected), expected.shape)
    assert f"selected here: {int(expected[i, j]):,}" in heat(v, "confusion").hovertext[i][j]
    assert f"{chosen.size:,}</b> selected" in v._caption.value
    # a click on a dot selects its cell, like a click on the cell
    k = list(zip(np.asarray(layer.y), np.asarray(layer.x), strict=True)).index((i, j))
    plotly_click(v.figure, trace_index(v, "confusion", overlay=True), k, int(j), int(i))
    np.testing.assert_array_equal(s.selection, np.flatnonzero((ds.labels == i) & (pred == j)))
    s.clear_selection(source="map")
    assert len(dots(v, "confusion").x) == 0 and "selected" not in v._caption.value
    assert len([t for t in v.figure.data if t.name == "confusion:selection-count"][0].x) == 0


def test_frames_fade_with_the_share_selected_and_badges_leave_a_spread_selection(monkeypatch):
    s = make_session()
    ds = s.dataset
    v = MatrixView(s)
    assert v.widget is not None
    pred = ds.pred_probs.argmax(axis=1)
    cell = np.flatnonzero((ds.labels == 0) & (pred == 0))
    s.select(np.r_[cell, np.flatnonzero((ds.labels == 1) & (pred == 2))[:1]], source="map")
    layer = dots(v, "confusion")
    opacity = {
        (y, x): float(colour.rsplit(",", 1)[1].rstrip(")"))
        for x, y, colour in zip(layer.x, layer.y, layer.marker.line.color, strict=True)
    }
    assert opacity[(0, 0)] == 1.0 and 0.3 <= opacity[(1, 2)] < 0.35  # all of it vs one sample
    assert f"selected here: {cell.size:,} of {cell.size:,}" in layer.hovertext
    badges = [t for t in v.figure.data if t.name == "confusion:selection-count"][0]
    assert len(badges.x) == 2 and "badges: how many" in v._caption.value
    # a selection in more cells than badges can mark legibly: frames only, counts on hover
    monkeypatch.setattr(matrix_module, "_MAX_BADGES", 3)
    s.select(np.arange(N), source="map")
    badges = [t for t in v.figure.data if t.name == "confusion:selection-count"][0]
    assert len(badges.x) == 0 and len(dots(v, "confusion").x) == K * K
    assert "hover a cell for how many" in v._caption.value


def test_missing_signals():
    only_truth = MatrixView(make_session(pred_probs=False))
    assert only_truth.widget is not None
    assert only_truth.panels == ["true"]
    assert [t.name for t in only_truth.figure.data] == [
        "true",
        "true:selection",
        "true:selection-count",
    ]
    only_probs = MatrixView(make_session(truth=False))
    assert only_probs.panels == ["confusion", "estimated"]
    none = MatrixView(make_session(pred_probs=False, truth=False))
    box = none.widget
    assert none.figure is None
    assert "out-of-sample predicted probabilities" in box.value and "pred_probs" in box.value


def test_bad_input():
    s = make_session()
    with pytest.raises(ValueError, match="mode must be"):
        MatrixView(s, mode="both")
    with pytest.raises(ValueError, match="panel_size"):
        MatrixView(s, panel_size=10)
    v = MatrixView(make_session(truth=False))
    with pytest.raises(ValueError, match="panel must be one of"):
        v.matrix("true")
    with pytest.raises(ValueError, match=r"outside the 3×3 matrix"):
        v.cell_indices("confusion", 3, 0)


def test_close_unsubscribes():
    s = make_session()
    before = len(s._listeners["selection"])
    v = MatrixView(s)
    assert v.widget is not None
    assert len(s._listeners["selection"]) == before + 1
    v.close()
    assert len(s._listeners["selection"]) == before
    s.select([1, 2], source="map")


def test_a_true_class_never_seen_shows_no_rates():
    s = make_session()
    ds = s.dataset
    truth = np.where(ds.true_labels == 2, -1, ds.true_labels)  # nobody is known to be a fox
    s2 = Session(ds.with_signals(true_labels=truth), results=s.results)
    v = MatrixView(s2, mode="rates")
    assert v.widget is not None
    assert np.isnan(v.matrix("true")[2]).all()
    assert list(heat(v, "true").text[2]) == ["–", "–", "–"]
    assert np.isfinite(heat(v, "true").zmax)


def test_panels_are_big_enough_to_read_at_ten_classes():
    from _ui_sessions import digits_session

    v = MatrixView(digits_session(pred_probs=True))
    assert v.widget is not None and v.panels == ["confusion", "estimated", "true"]
    lay = v.figure.layout
    assert v._cell_px(v.figure) >= 30  # a 3-digit count in 12 px fits a cell
    assert heat(v, "confusion").textfont.size >= 12
    # within a notebook column at a laptop's width (900-1000 px): two side by side, the third
    # below the first, none overlapping another
    assert lay.width <= 960
    domains = [lay.xaxis.domain, lay.xaxis2.domain, lay.xaxis3.domain]
    rows = [lay.yaxis.domain, lay.yaxis2.domain, lay.yaxis3.domain]
    assert rows[0] == rows[1] and domains[2] == domains[0] and rows[2][1] < rows[0][0]
    plot_width = lay.width - lay.margin.l - lay.margin.r
    plot_height = lay.height - lay.margin.t - lay.margin.b
    assert (domains[1][0] - domains[0][1]) * plot_width >= 45  # the next panel's ticks, title
    assert (rows[0][0] - rows[2][1]) * plot_height >= 120  # ticks, axis title, next title
    titles = list(lay.annotations)
    assert [
        round((a.x - d[0]) / (d[1] - d[0]), 3) for a, d in zip(titles, domains, strict=True)
    ] == [0.5] * 3  # each title centred over its panel
    assert [a.y for a in titles] == [r[1] for r in rows]  # and just above it
    # with room for three, three in a row
    wide = MatrixView(v.session, max_width=1300)
    assert wide.widget is not None
    assert len({tuple(wide.figure.layout[f"yaxis{i}"].domain) for i in ("", 2, 3)}) == 1
    assert wide.figure.layout.width <= 1300
    with pytest.raises(ValueError, match="max_width must be an integer >= 300"):
        MatrixView(v.session, max_width=100)


def test_bad_clicks_from_the_browser_are_ignored_and_logged(caplog):
    s = make_session()
    v = MatrixView(s)
    assert v.widget is not None
    confusion, frames = trace_index(v, "confusion"), trace_index(v, "confusion", overlay=True)
    with caplog.at_level("WARNING", logger="workbench.ui"):
        click(v.figure, confusion, K, 0)  # below the last row
        click(v.figure, confusion, -1, 1)
        click(v.figure, confusion, "x", 1)
        plotly_click(v.figure, frames, 0, None, "a")
    assert s.selection.size == 0
    ignored = [r.getMessage() for r in caplog.records if "MatrixView ignored" in r.getMessage()]
    assert len(ignored) == 4
    click(v.figure, confusion, 1, 2)  # still working
    assert s.selection.size > 0


def test_markup_in_class_names_is_shown_literally():
    """plotly reads labels as pseudo-HTML: a class named ``a<b>c`` showed as "ac" in the ticks
    and the hover text."""
    rng = np.random.default_rng(0)
    names = ["a<b>c", "x&lt;y", "50% <br>"]
    labels = rng.integers(0, K, N)
    pp = rng.dirichlet(np.ones(K), N)
    ds = Dataset(labels, class_names=names, pred_probs=pp, true_labels=labels)
    score = rng.random(N)
    v = MatrixView(Session(ds, results={"s": DetectorResult("s", score, score > 0.9)}))
    assert v.widget is not None
    shown = ["a&lt;b&gt;c", "x&amp;lt;y", "50&#37; &lt;br&gt;"]
    for axis in ("xaxis", "yaxis", "xaxis2", "yaxis3"):
        assert list(v.figure.layout[axis].ticktext) == shown
    hover = heat(v, "confusion").hovertext
    assert hover[0][1].startswith(f"given: {shown[0]}<br>predicted: {shown[1]}<br>")


def test_subtitles_are_legible():
    """The ``<sub>`` subtitles rendered at 9 px."""
    v = MatrixView(make_session())
    assert v.widget is not None
    for a in v.figure.layout.annotations:
        assert "<sub>" not in a.text and "font-size:12px" in a.text
