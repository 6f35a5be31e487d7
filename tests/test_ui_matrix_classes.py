"""The matrix view at K = 20, 100 and 1,000 classes: numbers only where they fit, classes
ordered so that confusions cluster, zoom, and the ranked list of the most confused pairs."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_matrix import heat

pytest.importorskip("plotly")
pytest.importorskip("scipy")

from workbench.analysis.class_health import confusion_order  # noqa: E402
from workbench.analysis.derived import analysis_of  # noqa: E402
from workbench.analysis.detectors import DetectorResult  # noqa: E402
from workbench.core.dataset import Dataset  # noqa: E402
from workbench.session import Session  # noqa: E402
from workbench.ui import matrix as matrix_module  # noqa: E402
from workbench.ui.matrix import MatrixView  # noqa: E402


def grouped(n: int, k: int, *, seed: int = 0, noise: float = 0.12):
    """Labels flipped only inside hidden groups of 4 classes (scattered over the indices), and
    pred_probs that know the true class: the confusions form K/4 blocks once ordered."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    group = np.empty(k, np.int64)
    group[rng.permutation(k)] = np.arange(k) // 4
    members = np.argsort(group, kind="stable").reshape(-1, 4)  # row g: the classes of group g
    given = true.copy()
    flip = np.flatnonzero(rng.random(n) < noise)
    given[flip] = members[group[true[flip]], rng.integers(0, 4, flip.size)]
    logits = rng.normal(0, 1, (n, k)).astype(np.float32)
    logits[np.arange(n), true] += 3.5
    pp = np.exp(logits)
    pp /= pp.sum(axis=1, keepdims=True)
    names = [f"class {i}" for i in range(k)]
    return Dataset(given, pred_probs=pp, true_labels=true, class_names=names), group


def built(ds, **kwargs):
    v = MatrixView(Session(ds), **kwargs)
    assert v.widget is not None  # builds the figure
    return v


@pytest.fixture(scope="module")
def k20():
    return grouped(6_000, 20)


@pytest.fixture(scope="module")
def k100():
    return grouped(20_000, 100, seed=1)


@pytest.fixture(scope="module")
def k1000():
    return grouped(12_000, 1000, seed=2, noise=0.3)


def test_confusion_order_puts_each_group_together():
    for k, seed in ((20, 0), (100, 1), (1000, 2)):
        rng = np.random.default_rng(seed)
        group = rng.permutation(np.arange(k) // 4)
        c = rng.poisson(2.0, (k, k)).astype(float) * (group[:, None] == group[None, :]) * 10
        c += rng.poisson(0.05, (k, k))
        order = confusion_order(c)
        assert sorted(order.tolist()) == list(range(k))
        # every group occupies 4 consecutive positions
        position = np.empty(k, int)
        position[order] = np.arange(k)
        spans = [np.ptp(position[group == g]) for g in range(k // 4)]
        assert max(spans) == 3, (k, max(spans))


def test_confusion_order_bad_input():
    with pytest.raises(ValueError, match="square"):
        confusion_order(np.ones((3, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        confusion_order(-np.ones((3, 3)))


@pytest.mark.parametrize("fixture", ["k20", "k100", "k1000"])
def test_clustered_order_shows_the_confusions_as_blocks(fixture, request):
    ds, group = request.getfixturevalue(fixture)
    v = built(ds)
    k = ds.n_classes
    assert v.order_name == "clustered"
    order = v.order
    np.testing.assert_array_equal(order, analysis_of(ds).class_order())
    # the shown matrix is the engine's, permuted along both axes
    counts = v.matrix("confusion", "counts")
    np.testing.assert_array_equal(np.asarray(heat(v, "confusion").z), counts[np.ix_(order, order)])
    # neighbours on the axes mostly share a hidden group (3 of 4 at best); index order: ~1 in k/4
    same = (group[order[1:]] == group[order[:-1]]).mean()
    assert same > (0.6 if k <= 100 else 0.45), same  # K = 1000: ~4 flips a class only
    plain = (group[1:] == group[:-1]).mean()
    assert plain < 0.3
    if k <= 60:
        assert list(v.figure.layout.xaxis.ticktext) == [ds.class_names[c] for c in order]


def test_index_order_keeps_the_dataset_order(k20):
    ds, _ = k20
    v = built(ds, order="index")
    np.testing.assert_array_equal(v.order, np.arange(20))
    np.testing.assert_array_equal(
        np.asarray(heat(v, "confusion").z), v.matrix("confusion", "counts")
    )
    v.set_order("clustered")
    assert v._order_dropdown.value == "clustered"
    assert not np.array_equal(v.order, np.arange(20))
    with pytest.raises(ValueError, match="order"):
        v.set_order("random")
    with pytest.raises(ValueError, match="order"):
        MatrixView(Session(ds), order="sorted")


def test_numbers_are_printed_only_where_they_fit_at_k20(k20):
    ds, _ = k20
    v = built(ds)
    trace = heat(v, "confusion")
    cell = v._cell_px(v.figure)
    z = np.asarray(trace.z)
    text = trace.text
    font = trace.textfont.size
    hidden = shown = 0
    for i in range(20):
        for j in range(20):
            full = f"{int(z[i, j]):,}"
            if text[i][j]:
                assert text[i][j] == full
                assert len(full) * matrix_module._CHAR_PX * font <= cell - 3
                shown += 1
            else:
                hidden += 1
                assert len(full) * matrix_module._CHAR_PX * font > cell - 3
            # hover still gives every number, with the class names in the order shown
            assert f"samples: {full}" in trace.hovertext[i][j]
            assert ds.class_names[v.order[i]] in trace.hovertext[i][j]
    assert hidden >= 20 and shown > 0  # the diagonal (~300 a cell) does not fit in 17 px
    # the class names keep a gap from the first column
    assert v.figure.layout.yaxis.ticks == "outside"


def test_zooming_in_prints_the_numbers(k20):
    ds, _ = k20
    v = built(ds)
    before = sum(bool(t) for row in heat(v, "confusion").text for t in row)
    v.figure.layout.xaxis.range = [-0.5, 4.5]  # what plotly.js sends after a box zoom
    assert v._zoom == pytest.approx(4.0)
    after = sum(bool(t) for row in heat(v, "confusion").text for t in row)
    assert after == 400 > before  # 68-pixel cells hold every number
    assert v.figure.layout.dragmode == "zoom"


def test_clicking_a_position_selects_the_class_shown_there(k20):
    ds, _ = k20
    v = built(ds)
    order = v.order
    trace = heat(v, "confusion")

    class Points:
        point_inds = [[2, 5]]
        xs, ys = [5], [2]

    v._on_click(trace, Points(), None)
    given, predicted = order[2], order[5]
    expected = np.flatnonzero((ds.labels == given) & (analysis_of(ds).predicted == predicted))
    np.testing.assert_array_equal(v.session.selection, expected)


@pytest.mark.parametrize("fixture", ["k20", "k100", "k1000"])
def test_confused_pairs_rank_the_planted_pairs_and_select_them(fixture, request):
    ds, group = request.getfixturevalue(fixture)
    v = built(ds)
    pairs = v.confused_pairs()
    assert list(pairs.columns[:2]) == ["class_name_a", "class_name_b"]
    assert len(pairs) == ds.n_classes * (ds.n_classes - 1) // 2
    top = pairs.head(10)
    a, b = top["class_index_a"].to_numpy(), top["class_index_b"].to_numpy()
    assert (group[a] == group[b]).all()  # flips happen only inside the groups
    assert (np.diff(top["num_overlapping"].to_numpy()) <= 0).all()
    conf = v.matrix("confusion", "counts")
    np.testing.assert_array_equal(top["a_as_b"], conf[a, b])
    np.testing.assert_array_equal(top["b_as_a"], conf[b, a])
    given = np.bincount(ds.labels, minlength=ds.n_classes)
    np.testing.assert_allclose(top["noise_rate"], top["num_overlapping"] / (given[a] + given[b]))
    # the list in the widget: a click on the first row's button selects that pair
    rows = v._pairs.children
    assert "Most confused class pairs" in rows[0].value
    assert len(rows) == 1 + matrix_module._PAIRS_SHOWN + 1  # header, rows, "more"
    rows[1].children[0].click()
    pred = analysis_of(ds).predicted
    expected = np.flatnonzero(
        ((ds.labels == a[0]) & (pred == b[0])) | ((ds.labels == b[0]) & (pred == a[0]))
    )
    np.testing.assert_array_equal(v.session.selection, expected)
    assert expected.size == top["a_as_b"].iloc[0] + top["b_as_a"].iloc[0]
    assert f"{expected.size:,} samples" == rows[1].children[0].description
    rows[-1].click()  # "more"
    assert len(v._pairs.children) == 1 + 2 * matrix_module._PAIRS_SHOWN + 1


def test_a_thousand_classes_build_with_hover_in_the_caption(k1000):
    ds, _ = k1000
    v = built(ds)
    trace = heat(v, "confusion")
    assert trace.text is None and trace.hovertext is None  # 1e6 strings would not travel
    assert v.figure.layout.xaxis.showticklabels is False  # 0.3-pixel cells: no names
    frames = next(t for t in v.figure.data if t.name == "confusion:selection")
    v.select_pair(int(v.order[0]), int(v.order[1]))
    assert len(frames.x) == 0  # frames on sub-pixel cells would hide the matrix

    class Points:
        point_inds = [[0, 1]]

    v._on_hover(trace, Points(), None)
    g, p = ds.class_names[v.order[0]], ds.class_names[v.order[1]]
    assert f"given: {g} · predicted: {p}" in v._caption.value
    assert "selected here" in v._caption.value


def test_pair_indices_bad_input(k20):
    ds, _ = k20
    v = built(ds)
    with pytest.raises(ValueError, match="class index"):
        v.pair_indices(0, 20)
    truth_only = Dataset(ds.labels, true_labels=ds.true_labels)
    score = np.linspace(0, 1, truth_only.n_samples)
    t = MatrixView(Session(truth_only, results={"s": DetectorResult("s", score, score > 0.9)}))
    assert t.order_name == "index" and t.confused_pairs().empty
    with pytest.raises(ValueError, match="pred_probs"):
        t.pair_indices(0, 1)
