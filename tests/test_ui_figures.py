"""Static notebook figures: the numbers they draw, their size, and their input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analysis.metrics import pr_curve
from workbench.ui import figures


def _seeds_frame():
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.1), (2, 0.2)):
        for method in ("a", "b"):
            for epoch in (1, 2, 3):
                rows.append(
                    {"seed": seed, "method": method, "epoch": epoch,
                     "acc": epoch / 10 + shift + (method == "b")}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_seed_summary():
    stats = figures.seed_summary(_seeds_frame(), ["method", "epoch"], "acc")
    row = stats.loc[("a", 2)]
    assert row["mean"] == pytest.approx(0.3)
    assert row["std"] == pytest.approx(0.1)  # sample standard deviation of 0.2, 0.3, 0.4
    assert (row["n"], row["min"], row["max"]) == (3, pytest.approx(0.2), pytest.approx(0.4))
    single = figures.seed_summary(_seeds_frame().query("seed == 0"), ["method", "epoch"], "acc")
    assert (single["std"] == 0).all()
    with pytest.raises(ValueError, match="value 'loss' is not a column"):
        figures.seed_summary(_seeds_frame(), "method", "loss")


def test_mean_band_panels_draw_the_mean_and_the_band():
    fig = figures.mean_band_panels(_seeds_frame(), "epoch", ["acc"], "method")
    assert fig.layout.width == figures.COLUMN_WIDTH <= 950
    lines = [t for t in fig.data if t.fill is None]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [t.name for t in lines] == ["a", "b"] and len(bands) == 2
    np.testing.assert_allclose(lines[0].y, [0.2, 0.3, 0.4])
    np.testing.assert_allclose(bands[0].y, [0.3, 0.4, 0.5, 0.3, 0.2, 0.1])  # mean ± std, closed
    ranged = figures.mean_band_panels(_seeds_frame(), "epoch", ["acc"], "method", band="range")
    np.testing.assert_allclose(ranged.data[0].y, [0.3, 0.4, 0.5, 0.3, 0.2, 0.1])  # max, min
    with pytest.raises(ValueError, match=r"no column\(s\) \['loss'\]"):
        figures.mean_band_panels(_seeds_frame(), "epoch", ["loss"], "method")
    with pytest.raises(ValueError, match="band must be"):
        figures.mean_band_panels(_seeds_frame(), "epoch", ["acc"], "method", band="iqr")


def test_heatmap_grid_prints_every_cell():
    t = np.array([[0.9, 0.1], [0.03, 0.97]])
    fig = figures.heatmap_grid({"one": (t, ["x", "y"], ["x", "y"]), "two": (t, ["x", "y"], ["x", "y"])}, cols=3)  # fmt: skip
    assert len(fig.data) == 2 and fig.layout.width <= 950
    assert fig.data[0].text.tolist() == [[".90", ".10"], [".03", ".97"]]
    hidden = figures.heatmap_grid({"one": (t, ["x", "y"], ["x", "y"])}, text_min=0.05)
    assert hidden.data[0].text.tolist() == [[".90", ".10"], ["", ".97"]]


class _Result:
    def __init__(self, scores, flags):
        self.scores, self.flags = np.asarray(scores, float), np.asarray(flags, bool)


def test_pr_curve_panels_use_the_metric_and_mark_the_default_flags():
    truth = np.array([1, 0, 1, 0, 0, 1], bool)
    r = _Result([0.9, 0.8, 0.7, 0.2, 0.1, 0.05], [1, 1, 1, 0, 0, 0])
    fig = figures.pr_curve_panels({"panel": ({"det": r}, truth)}, ["det"])
    curve, dot = fig.data
    precision, recall, _ = pr_curve(r.scores, truth)
    np.testing.assert_allclose(curve.x, recall)
    np.testing.assert_allclose(curve.y, precision)
    assert dot.x[0] == pytest.approx(2 / 3) and dot.y[0] == pytest.approx(2 / 3)


def test_memorisation_curves_and_data_map():
    rng = np.random.default_rng(0)
    loss = rng.random((20, 5))
    noisy = np.arange(20) < 5
    history = pd.DataFrame({"epoch": np.arange(1, 6), "held-out": [0.5, 0.9, 0.8, 0.7, 0.6]})
    fig = figures.memorisation_curves(loss, noisy, history, accuracy_columns=["held-out"])
    mean_noisy = [t for t in fig.data if t.name == "mislabelled (mean loss)"][0]
    np.testing.assert_allclose(mean_noisy.y, loss[noisy].mean(0))
    assert fig.layout.shapes[0].x0 == 2  # best held-out epoch
    with pytest.raises(ValueError, match=r"loss must have shape \(N, E\)"):
        figures.memorisation_curves(loss[:3], noisy, history, accuracy_columns=["held-out"])
    var = np.linspace(0, 0.3, 20)
    fig = figures.data_map(rng.random(20), var, rng.random(20), noisy)
    assert [t.name for t in fig.data] == ["right label", "wrong label"]
    assert fig.layout.shapes[0].x0 == pytest.approx(np.quantile(var, 2 / 3))
    assert fig.layout.width <= 950
