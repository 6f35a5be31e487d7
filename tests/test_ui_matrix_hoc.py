"""The matrix view's HOC panel: the transition matrix estimated from features without a model,
beside the confident-joint estimate and the true matrix, computed once through the dataset's
shared analysis, with cells that select the samples their neighbours relabel."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_matrix import click, heat, trace_index

pytest.importorskip("plotly")

from sklearn.neighbors import NearestNeighbors  # noqa: E402

from workbench.analysis import hoc as hoc_module  # noqa: E402
from workbench.analysis.detectors import DetectorResult  # noqa: E402
from workbench.analysis.matrices import true_transition_matrix  # noqa: E402
from workbench.core.dataset import Dataset  # noqa: E402
from workbench.pipeline.run import HOC_AUDIT_MAX_CLASSES  # noqa: E402
from workbench.session import Session  # noqa: E402
from workbench.ui.matrix import MatrixView  # noqa: E402

N, K = 900, 3
NAMES = ["cat", "dog", "fox"]
# T[i, j] = P(given = j | true = i): cats are called dogs, dogs foxes (pair noise).
T = np.array([[0.7, 0.3, 0.0], [0.0, 0.75, 0.25], [0.0, 0.0, 1.0]])


def make_dataset(*, pred_probs=True, truth=True, seed=0):
    """Three well-separated blobs in 2-D (neighbours share their true class) with pair noise."""
    rng = np.random.default_rng(seed)
    true = np.repeat(np.arange(K), N // K)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    x = centres[true] + rng.normal(size=(N, 2))
    given = np.array([rng.choice(K, p=T[t]) for t in true])
    kwargs = {}
    if pred_probs:
        pp = rng.dirichlet(np.ones(K), N)
        pp[np.arange(N), true] += 1.5
        kwargs["pred_probs"] = pp / pp.sum(axis=1, keepdims=True)
    if truth:
        kwargs["true_labels"] = true
    return Dataset(given, class_names=NAMES, features=x, **kwargs)


def make_session(**kwargs):
    ds = make_dataset(**kwargs)
    score = np.random.default_rng(1).random(N)
    return Session(ds, results={"s": DetectorResult("s", score, score > 0.9)})


def neighbour_majority(x, labels, k=10):
    """The majority label of each sample's k nearest neighbours (self excluded; ties: the given
    label when it is among the leaders, else the lowest class), by scikit-learn."""
    _, ind = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    votes = np.zeros((len(labels), K), dtype=int)
    for i, row in enumerate(ind):
        np.add.at(votes[i], labels[[j for j in row if j != i][:k]], 1)
    top = votes.max(axis=1)
    majority = votes.argmax(axis=1)
    return np.where(votes[np.arange(len(labels)), labels] == top, labels, majority)


def test_hoc_panel_beside_the_confident_joint_and_the_truth():
    s = make_session()
    ds = s.dataset
    v = MatrixView(s)
    assert v.widget is not None
    assert v.panels == ["confusion", "estimated", "hoc", "true"]
    assert v.hoc_note is None
    titles = [a.text for a in v.figure.layout.annotations]
    assert titles[2].startswith("HOC noise transition matrix")
    assert "T[i, j] = P(given = j | true = i)" in titles[2] and "from features" in titles[2]
    assert "from pred_probs" in titles[1]  # which estimate is which
    lay = v.figure.layout
    assert (lay.xaxis3.title.text, lay.yaxis3.title.text) == (
        "given label j",
        "true label i (estimated)",
    )
    assert list(lay.xaxis3.ticktext) == NAMES
    # the engine's estimate, a probability matrix close to the realised noise
    expected = hoc_module.dataset_transition_hoc(ds).transition
    np.testing.assert_allclose(v.matrix("hoc"), expected)
    np.testing.assert_allclose(v.matrix("hoc").sum(axis=1), 1.0, atol=1e-6)
    realised = true_transition_matrix(ds.true_labels, ds.labels, K)
    assert np.abs(v.matrix("hoc") - realised).mean() < 0.03
    # always rates, in either mode; hover names the cell and its definition
    np.testing.assert_allclose(heat(v, "hoc").z, expected)
    v.set_mode("rates")
    v.set_mode("counts")
    np.testing.assert_allclose(heat(v, "hoc").z, expected)
    assert heat(v, "hoc").text[0][1] == f"{expected[0, 1]:.2f}"
    assert heat(v, "hoc").hovertext[0][1].startswith("true: cat<br>given: dog<br>T[i, j]")
    assert v.describe_cell("hoc", 0, 1).endswith(f"rate: {expected[0, 1]:.2f}")


def test_hoc_is_computed_once_through_the_shared_analysis(monkeypatch):
    calls = []
    real = hoc_module.estimate_transition_hoc

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hoc_module, "estimate_transition_hoc", counting)
    s = make_session()
    v = MatrixView(s)
    assert v.widget is not None
    assert len(calls) == 1
    v.set_mode("rates")
    v.set_order("clustered")
    v.set_order("index")
    s.select([0, 1, 2], source="map")
    click(v.figure, trace_index(v, "hoc"), 0, 1)
    again = MatrixView(s)  # a second view of the same dataset reads the same estimate
    assert again.widget is not None
    assert len(calls) == 1
    assert hoc_module.dataset_transition_hoc(s.dataset).transition is not None
    assert len(calls) == 1  # and so does the audit's call


def test_clicking_a_hoc_cell_selects_the_samples_the_neighbours_relabel():
    s = make_session()
    ds = s.dataset
    v = MatrixView(s)
    assert v.widget is not None
    majority = neighbour_majority(ds.features, ds.labels)
    index = trace_index(v, "hoc")
    click(v.figure, index, 1, 1)  # given dog, the neighbours agree
    np.testing.assert_array_equal(s.selection, np.flatnonzero((ds.labels == 1) & (majority == 1)))
    click(v.figure, index, 0, 1)  # given dog, the neighbours say cat (cats are called dogs)
    expected = np.flatnonzero((ds.labels == 1) & (majority == 0))
    assert expected.size > 0.5 * np.sum((ds.true_labels == 0) & (ds.labels == 1))
    np.testing.assert_array_equal(s.selection, expected)
    assert s.selection_source == "matrix"
    # most of them are the cats called dogs
    assert np.mean(ds.true_labels[expected] == 0) > 0.9
    # the selection layer counts them in that cell, of the samples the cell holds
    counts = v.selection_counts("hoc")
    assert counts[0, 1] == expected.size and counts.sum() == expected.size
    frames = [t for t in v.figure.data if t.name == "hoc:selection"][0]
    assert list(frames.x) == [1] and list(frames.y) == [0]
    assert frames.hovertext[0] == f"selected here: {expected.size:,} of {expected.size:,}"
    # the same samples in the confident joint's panel: given dog, predicted cat
    click(v.figure, trace_index(v, "estimated"), 0, 1)
    pred = ds.pred_probs.argmax(axis=1)
    np.testing.assert_array_equal(s.selection, np.flatnonzero((ds.labels == 1) & (pred == 0)))


def test_features_alone_give_the_hoc_panel():
    v = MatrixView(make_session(pred_probs=False, truth=False))
    assert v.widget is not None
    assert v.panels == ["hoc"]
    assert v.reason is None
    assert [t.name for t in v.figure.data] == ["hoc", "hoc:selection", "hoc:selection-count"]
    assert v.order_name == "index"  # clustering reads the confusion matrix


def test_four_panels_fit_a_notebook_column_two_by_two():
    v = MatrixView(make_session())
    assert v.widget is not None
    lay = v.figure.layout
    assert lay.width <= 960
    xs = [tuple(lay[f"xaxis{a}"].domain) for a in ("", 2, 3, 4)]
    ys = [tuple(lay[f"yaxis{a}"].domain) for a in ("", 2, 3, 4)]
    # confusion | confident joint, then HOC | truth: each estimate next to the truth
    assert ys[0] == ys[1] and ys[2] == ys[3] and ys[2][1] < ys[0][0]
    assert xs[0] == xs[2] and xs[1] == xs[3] and xs[0][1] < xs[1][0]
    plot_width = lay.width - lay.margin.l - lay.margin.r
    panel_px = (xs[0][1] - xs[0][0]) * plot_width
    # every subtitle (12 px, about 0.62 em a character) fits over its panel and half the gaps
    gap_px = (xs[1][0] - xs[0][1]) * plot_width
    for a in lay.annotations:
        subtitle = a.text.split("<br>")[1].split(">", 1)[1].removesuffix("</span>")
        assert len(subtitle) * 0.62 * 12 <= panel_px + gap_px, subtitle
    wide = MatrixView(v.session, max_width=1700)
    assert wide.widget is not None
    assert len({tuple(wide.figure.layout[f"yaxis{a}"].domain) for a in ("", 2, 3, 4)}) == 1


def test_no_hoc_panel_above_the_audits_limit_and_the_caption_says_why():
    k = HOC_AUDIT_MAX_CLASSES + 1
    rng = np.random.default_rng(0)
    labels = np.arange(20 * k) % k
    ds = Dataset(labels, features=rng.normal(size=(labels.size, 4)), true_labels=labels)
    results = {"s": DetectorResult("s", rng.random(labels.size), np.zeros(labels.size, bool))}
    v = MatrixView(Session(ds, results=results))
    assert v.widget is not None
    assert v.panels == ["true"]
    assert f"K={k}" in v.hoc_note and str(HOC_AUDIT_MAX_CLASSES) in v.hoc_note
    assert "no HOC matrix" in v._caption.value and "K³" in v._caption.value
    # without features the caption does not mention HOC (nothing to estimate it from)
    plain = MatrixView(Session(Dataset(labels, true_labels=labels), results=results))
    assert plain.widget is not None
    assert plain.hoc_note is not None and "HOC" not in plain._caption.value
    with pytest.raises(ValueError, match="panel must be one of"):
        v.matrix("hoc")


@pytest.mark.parametrize(
    "labels, features, names",
    [
        (np.array([0, 1] * 20), np.random.default_rng(0).normal(size=(40, 4)), ["a", "b", "c"]),
        (np.array([0, 1, 0]), np.random.default_rng(1).normal(size=(3, 2)), None),
        (np.array([0, 1] * 15), np.ones((30, 4)), None),  # every sample at the same point
    ],
    ids=["a-class-never-given", "three-samples", "identical-features"],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_degenerate_datasets_still_show_a_probability_matrix(labels, features, names):
    ds = Dataset(labels, features=features, class_names=names)
    results = {"s": DetectorResult("s", np.zeros(ds.n_samples), np.zeros(ds.n_samples, bool))}
    v = MatrixView(Session(ds, results=results))
    assert v.widget is not None
    assert v.panels == ["hoc"]
    t = v.matrix("hoc")
    assert t.shape == (ds.n_classes, ds.n_classes) and np.isfinite(t).all()
    np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-6)
    # every sample sits in exactly one cell, so a click on each cell selects disjoint sets
    cells = [v.cell_indices("hoc", i, j) for i in range(ds.n_classes) for j in range(ds.n_classes)]
    assert sum(len(c) for c in cells) == ds.n_samples
