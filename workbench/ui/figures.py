"""Static plotly figures for the workshop notebooks, sized for a ~950 px notebook column.

Each function takes plain arrays or a long DataFrame and returns a ``plotly.graph_objects.Figure``
the caller can keep adjusting (``fig.update_layout(...)``) before ``fig.show()``. Nothing is
computed here that the analysis layer owns: precision-recall curves come from
:func:`workbench.analysis.metrics.pr_curve`.

Shared parameters: ``width`` (default 940 px, the notebook column) and ``height`` in pixels,
``title`` (str, optional).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analysis.metrics import pr_curve

__all__ = [
    "COLUMN_WIDTH",
    "LOW_END_BLUES",
    "data_map",
    "heatmap_grid",
    "mean_band_panels",
    "memorisation_curves",
    "pr_curve_panels",
    "seed_summary",
]

#: Width of a JupyterLab notebook column at a common window size; figures stay inside it.
COLUMN_WIDTH = 940
_PALETTE = px.colors.qualitative.D3

#: A blue scale on [0, 1] stretched at the low end, so that a 3 % cell of a transition matrix
#: shows beside a 70 % diagonal (use with ``zmax=1``).
LOW_END_BLUES = [
    [0.0, "#ffffff"],
    [0.01, "#eef5fc"],
    [0.05, "#c6dbef"],
    [0.15, "#82badb"],
    [0.4, "#3182bd"],
    [1.0, "#08306b"],
]


def seed_summary(frame: pd.DataFrame, by: Sequence[str] | str, value: str) -> pd.DataFrame:
    """Mean, standard deviation, count and min/max of ``value`` over the rows of each ``by`` group.

    ``frame`` holds one row per seed (and group); the result one row per group, with columns
    ``mean``, ``std`` (0 for a single seed), ``n``, ``min`` and ``max``.
    """
    if value not in frame.columns:
        raise ValueError(f"value {value!r} is not a column of frame; found {list(frame.columns)}.")
    stats = frame.groupby(by, sort=False)[value].agg(["mean", "std", "count", "min", "max"])
    return stats.rename(columns={"count": "n"}).fillna({"std": 0.0})


def mean_band_panels(
    frame: pd.DataFrame,
    x: str,
    values: Sequence[str],
    color: str,
    *,
    colors: Mapping[str, str] | None = None,
    band: str = "std",
    titles: Sequence[str] | None = None,
    y_ranges: Sequence[tuple[float, float] | None] | None = None,
    width: int = COLUMN_WIDTH,
    height: int = 380,
    title: str | None = None,
) -> go.Figure:
    """One panel per column of ``values``: the mean over seeds per ``color`` group, with a band.

    Parameters
    ----------
    frame : DataFrame
        Long format, one row per (seed, ``color`` group, ``x``), a column per entry of
        ``values``.
    x, color : str
        The column on the horizontal axis (e.g. epoch) and the grouping column (e.g. method).
    values : sequence of str
        Columns to plot, one panel each.
    colors : mapping group -> colour, optional
    band : {"std", "range"}, default="std"
        The band: mean ± one standard deviation over the seeds, or their min..max.
    titles, y_ranges : per panel, optional
    """
    if band not in ("std", "range"):
        raise ValueError(f"band must be 'std' or 'range', found {band!r}.")
    missing = [c for c in (x, color, *values) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; found {list(frame.columns)}.")
    groups = list(dict.fromkeys(frame[color]))
    colors = dict(colors or {})
    for i, g in enumerate(groups):
        colors.setdefault(g, _PALETTE[i % len(_PALETTE)])
    fig = make_subplots(
        rows=1, cols=len(values), subplot_titles=list(titles or values), horizontal_spacing=0.08
    )
    for col, value in enumerate(values, start=1):
        for g in groups:
            stats = seed_summary(frame[frame[color] == g], x, value).sort_index()
            xs = stats.index.to_numpy()
            low, high = (
                (stats["mean"] - stats["std"], stats["mean"] + stats["std"])
                if band == "std"
                else (stats["min"], stats["max"])
            )
            fig.add_trace(
                go.Scatter(
                    x=np.r_[xs, xs[::-1]],
                    y=np.r_[high.to_numpy(), low.to_numpy()[::-1]],
                    fill="toself",
                    fillcolor=colors[g],
                    opacity=0.15,
                    line_width=0,
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=str(g),
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=stats["mean"],
                    name=str(g),
                    line_color=colors[g],
                    legendgroup=str(g),
                    showlegend=col == 1,
                    hovertemplate=f"{g}<br>{x} %{{x}}: %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        if y_ranges and y_ranges[col - 1] is not None:
            fig.update_yaxes(range=list(y_ranges[col - 1]), row=1, col=col)
    fig.update_xaxes(title_text=x)
    fig.update_layout(
        width=width,
        height=height,
        title=title,
        legend=dict(orientation="h", y=-0.22),
        margin=dict(l=50, r=20, t=70 if title else 40, b=40),
    )
    return fig


def heatmap_grid(
    panels: Mapping[str, tuple[np.ndarray, Sequence[str], Sequence[str]]],
    *,
    cols: int = 3,
    zmax: float = 1.0,
    text_min: float = 0.0,
    colorscale: str | Sequence = "Blues",
    x_title: str = "given label j",
    y_title: str = "true class i",
    colorbar_title: str = "T[i, j]",
    width: int = COLUMN_WIDTH,
    panel_height: int = 300,
    title: str | None = None,
) -> go.Figure:
    """A grid of labelled heatmaps on one colour scale (rows of each matrix top to bottom).

    Parameters
    ----------
    panels : mapping title -> (matrix (R, C), column names (C,), row names (R,))
    cols : int, default=3
        Panels per row.
    zmax : float, default=1.0
        Top of the colour scale (values above it take its colour; the printed numbers are exact).
    text_min : float, default=0.0
        Cells below it carry no printed number (0 prints every cell). Numbers print without
        the leading zero (.03 = 0.03) to fit small cells.
    colorscale : plotly colour scale name or list of [position, colour], default="Blues"
    """
    names = list(panels)
    rows = -(-len(names) // cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.07, vertical_spacing=0.14
    )
    for i, name in enumerate(names):
        t, col_names, row_names = panels[name]
        t = np.asarray(t, dtype=float)
        shown = np.nan_to_num(t)
        text = np.where(shown >= text_min, np.char.mod("%.2f", shown), "")
        text = np.char.replace(text, "0.", ".")
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(
            go.Heatmap(
                z=t,
                x=list(col_names),
                y=list(row_names),
                text=text,
                texttemplate="%{text}",
                textfont_size=7,
                coloraxis="coloraxis",
                hovertemplate="row %{y} → column %{x}: %{z:.3f}<extra></extra>",
            ),
            row=r,
            col=c,
        )
        fig.update_xaxes(type="category", tickfont_size=9, row=r, col=c)
        fig.update_yaxes(type="category", autorange="reversed", tickfont_size=9, row=r, col=c)
        if r == rows:
            fig.update_xaxes(title_text=x_title, row=r, col=c)
        if c == 1:
            fig.update_yaxes(title_text=y_title, row=r, col=c)
    fig.update_layout(
        width=width,
        height=panel_height * rows + 80,
        title=title,
        coloraxis=dict(
            colorscale=colorscale, cmin=0, cmax=zmax, colorbar=dict(title=colorbar_title)
        ),
        margin=dict(l=60, r=20, t=90 if title else 50, b=50),
    )
    return fig


def pr_curve_panels(
    panels: Mapping[str, tuple[Mapping, np.ndarray]],
    detectors: Sequence[str],
    *,
    width: int = COLUMN_WIDTH,
    height: int = 440,
    title: str | None = None,
) -> go.Figure:
    """Precision-recall curves of ``detectors``, one panel per entry of ``panels``.

    Parameters
    ----------
    panels : mapping title -> (results, is_noisy)
        ``results`` maps a detector name to its ``DetectorResult`` (scores: higher = more likely
        mislabelled; ``flags``: its default rule), ``is_noisy`` (N,) bool is the truth.
    detectors : sequence of str
        The detectors to draw, in legend order.

    Each curve follows a detector's ranking from its most suspicious sample; the dot marks its
    default flags; the dotted line is a random ranking (precision = the noise rate).
    """
    colors = dict(zip(detectors, _PALETTE, strict=False))
    fig = make_subplots(
        rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.06
    )
    for col, (results, is_noisy) in enumerate(panels.values(), start=1):
        is_noisy = np.asarray(is_noisy, dtype=bool)
        for det in detectors:
            r = results[det]
            precision, recall, _ = pr_curve(r.scores, is_noisy)
            fig.add_trace(
                go.Scatter(
                    x=recall,
                    y=precision,
                    mode="lines",
                    line_color=colors[det],
                    name=det,
                    legendgroup=det,
                    showlegend=col == 1,
                    hovertemplate=f"{det}<br>recall %{{x:.2f}}, precision %{{y:.2f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            flags = np.asarray(r.flags, dtype=bool)
            if flags.any():
                hit = (flags & is_noisy).sum()
                fig.add_trace(
                    go.Scatter(
                        x=[hit / max(is_noisy.sum(), 1)],
                        y=[hit / flags.sum()],
                        mode="markers",
                        marker=dict(color=colors[det], size=9, line=dict(color="white", width=1)),
                        legendgroup=det,
                        showlegend=False,
                        hovertemplate=f"{det}: default flags<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
        fig.add_hline(y=is_noisy.mean(), line_dash="dot", line_color="grey", row=1, col=col)
    fig.update_xaxes(title_text="recall", range=[0, 1.02])
    fig.update_yaxes(range=[0, 1.02])
    fig.update_yaxes(title_text="precision", col=1)
    fig.update_layout(
        width=width,
        height=height,
        title=title,
        legend=dict(orientation="h", y=-0.2),
        margin=dict(l=50, r=20, t=70 if title else 40, b=40),
    )
    return fig


def memorisation_curves(
    loss: np.ndarray,
    is_noisy: np.ndarray,
    history: pd.DataFrame,
    *,
    accuracy_columns: Sequence[str],
    share_right: float | None = None,
    width: int = COLUMN_WIDTH,
    height: int = 420,
    title: str | None = None,
) -> go.Figure:
    """Early learning, then memorisation: loss of clean vs mislabelled samples, and accuracy.

    Parameters
    ----------
    loss : ndarray of shape (N, E)
        Per-sample loss of the given label after each epoch (a recorder's ``loss``).
    is_noisy : ndarray of shape (N,), bool
        True where the given label is wrong.
    history : DataFrame
        One row per epoch, an ``epoch`` column (1-based) and the ``accuracy_columns``.
    accuracy_columns : sequence of str
        Drawn in the right panel (solid, dotted, dashed ...); the best epoch of the first one
        is marked.
    share_right : float, optional
        Share of the given labels that are right: a training accuracy above it means the
        network fits wrong labels.

    Left panel: mean loss per epoch of the clean and of the mislabelled samples, with a band
    for their middle 50 %.
    """
    loss = np.asarray(loss, dtype=np.float64)
    is_noisy = np.asarray(is_noisy, dtype=bool)
    if loss.ndim != 2 or loss.shape[0] != len(is_noisy):
        raise ValueError(
            f"loss must have shape (N, E) with N = len(is_noisy) = {len(is_noisy)}, found "
            f"{loss.shape}."
        )
    epochs = np.arange(1, loss.shape[1] + 1)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=("Loss of the given label, per epoch", "Accuracy per epoch"),
    )
    for name, mask, color in (
        ("clean", ~is_noisy, "#1f77b4"),
        ("mislabelled", is_noisy, "#d62728"),
    ):
        q25, q75 = np.percentile(loss[mask], [25, 75], axis=0)
        fig.add_trace(
            go.Scatter(
                x=np.r_[epochs, epochs[::-1]],
                y=np.r_[q75, q25[::-1]],
                fill="toself",
                fillcolor=color,
                opacity=0.18,
                line_width=0,
                hoverinfo="skip",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=epochs, y=loss[mask].mean(0), name=f"{name} (mean loss)", line_color=color
            ),
            row=1,
            col=1,
        )
    for column, dash in zip(accuracy_columns, ("solid", "dot", "dash", "dashdot"), strict=False):
        fig.add_trace(
            go.Scatter(
                x=history["epoch"],
                y=history[column],
                name=column,
                line=dict(color="black", dash=dash),
            ),
            row=1,
            col=2,
        )
    best = history.loc[history[accuracy_columns[0]].idxmax()]
    fig.add_vline(x=best["epoch"], line_dash="dash", line_color="grey", row=1, col=2)
    fig.add_annotation(
        x=best["epoch"],
        y=0.45,
        text=f" best: epoch {best['epoch']:.0f}",
        showarrow=False,
        xanchor="left",
        row=1,
        col=2,
    )
    if share_right is not None:
        fig.add_hline(y=share_right, line_dash="dot", line_color="#d62728", row=1, col=2)
        fig.add_annotation(
            x=epochs[-1],
            y=share_right,
            text="share of given labels that are right:<br>above it, wrong labels are fitted",
            showarrow=False,
            xanchor="right",
            yanchor="top",
            font=dict(color="#d62728", size=11),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="cross-entropy loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", range=[0.4, 1.02], row=1, col=2)
    fig.update_layout(
        width=width,
        height=height,
        title=title,
        legend=dict(orientation="h", y=-0.2),
        margin=dict(l=50, r=20, t=70 if title else 40, b=40),
    )
    return fig


def data_map(
    confidence: np.ndarray,
    variability: np.ndarray,
    correctness: np.ndarray,
    is_noisy: np.ndarray | None = None,
    *,
    ambiguous_quantile: float = 2 / 3,
    hard_confidence: float = 0.5,
    width: int = 760,
    height: int = 480,
    title: str | None = None,
) -> go.Figure:
    """A data map (Swayamdipta et al. 2020) with its three regions drawn.

    Parameters
    ----------
    confidence, variability, correctness : ndarray of shape (N,)
        Mean and standard deviation over epochs of the probability of the given label, and the
        share of epochs in which the given label was predicted.
    is_noisy : ndarray of shape (N,), bool, optional
        Known wrong labels, drawn as crosses.
    ambiguous_quantile : float, default=2/3
        Samples with variability above this quantile are **ambiguous** (right of the line).
    hard_confidence : float, default=0.5
        Left of the line: confidence above it is **easy to learn**, below it **hard to learn**.
    """
    confidence, variability, correctness = (
        np.asarray(a, dtype=float) for a in (confidence, variability, correctness)
    )
    noisy = np.zeros(len(confidence), bool) if is_noisy is None else np.asarray(is_noisy, bool)
    cut = float(np.quantile(variability, ambiguous_quantile))
    fig = go.Figure()
    for mask, symbol, name in ((~noisy, "circle", "right label"), (noisy, "x", "wrong label")):
        if not mask.any():
            continue
        fig.add_trace(
            go.Scattergl(
                x=variability[mask],
                y=confidence[mask],
                mode="markers",
                name=name,
                marker=dict(
                    symbol=symbol,
                    size=5,
                    color=correctness[mask],
                    coloraxis="coloraxis",
                    opacity=0.75,
                ),
                hovertemplate="variability %{x:.2f}, confidence %{y:.2f}<extra>"
                + name
                + "</extra>",
            )
        )
    top = float(variability.max()) * 1.02
    fig.add_shape(type="line", x0=cut, x1=cut, y0=0, y1=1, line=dict(dash="dash", color="grey"))
    fig.add_shape(
        type="line", x0=0, x1=cut, y0=hard_confidence, y1=hard_confidence,
        line=dict(dash="dash", color="grey"),
    )  # fmt: skip
    for x, y, text in (
        (cut / 2, 0.97, "easy to learn"),
        (cut / 2, 0.03, "hard to learn"),
        ((cut + top) / 2, 0.5, "ambiguous"),
    ):
        fig.add_annotation(x=x, y=y, text=f"<b>{text}</b>", showarrow=False, font_size=12)
    fig.update_layout(
        width=width,
        height=height,
        title=title,
        xaxis=dict(title="variability (std of P(given label) over epochs)", range=[0, top]),
        yaxis=dict(title="confidence (mean P(given label))", range=[0, 1]),
        coloraxis=dict(colorscale="RdYlGn", cmin=0, cmax=1, colorbar=dict(title="correctness")),
        legend=dict(orientation="h", y=-0.18),
        margin=dict(l=50, r=20, t=60 if title else 30, b=40),
    )
    return fig
