"""The matrix view: confusion matrix, estimated and true noise-transition matrices, linked.

Three heatmaps side by side (plotly ``FigureWidget``), every axis labelled with class names and
its meaning in words:

- confusion matrix: rows = given label, columns = predicted label (argmax of the out-of-sample
  ``pred_probs``); rates are row-normalised, P(predicted = j | given = i);
- estimated noise transition ``T[i, j] = P(given = j | true = i)`` from ``pred_probs``;
- the true transition, beside it, when true labels are known.

Clicking a cell selects its samples in every view (``session.select(..., source="matrix")``);
the current selection is a second layer: an orange frame along the border of every cell that
holds selected samples (the cell's own number stays readable inside it), the more opaque the
larger the share of the cell selected, and how many in a small badge on the cell's top-right
corner while the selection lies in at most 12 cells of the matrix (always in the hover text).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from workbench.analysis.matrices import MATRICES
from workbench.ui._common import (
    View,
    browser_index,
    figure_widget,
    ignore_message,
    message_widget,
    plotly_text,
)

__all__ = ["MatrixView"]

_SOURCE = "matrix"
_MAX_TEXT_CLASSES = 30  # above this, cells carry no printed numbers (unreadable)
_OVERLAY = ":selection"  # name suffix of the traces framing the cells holding selected samples
_COUNTS = ":selection-count"  # name suffix of the traces printing how many in each such cell
_MIN_CORNER_PX = 24  # cells smaller than this get no corner count (hover still gives it)
_MAX_BADGES = 12  # a selection spread over more cells of a panel gets no badges there (hover)
_BADGE_AT = 0.46  # the count badge's centre, in cells right of and above the cell's centre
_ORANGE = "rgb(240,110,0)"
_FAINTEST = 0.3  # opacity of the frame of a cell of which a tiny share is selected (all: 1)
_MAX_HOVER_CLASSES = 120  # above this, no per-cell hover text (K*K strings)
# Colour grows with the square root of the value (stops at (i/8)^2), so that the few off-diagonal
# samples that matter for label noise stay visible next to a heavy diagonal.
_SQRT_BLUES = [
    [(i / 8) ** 2, c]
    for i, c in enumerate(
        [
            "#f7fbff",
            "#deebf7",
            "#c6dbef",
            "#9ecae1",
            "#6baed6",
            "#4292c6",
            "#2171b5",
            "#08519c",
            "#08306b",
        ]
    )
]


class MatrixView(View):
    """Confusion, estimated transition and true transition matrices, with clickable cells.

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    mode : {"counts", "rates"}, default="counts"
        What the cells show first (a toggle switches). The estimated transition matrix is an
        estimate of probabilities and is always shown as rates.
    panel_size : int, default=340
        Width and height of each heatmap in pixels (34-pixel cells at K = 10).
    max_width : int, default=960
        The figure's widest: as many heatmaps side by side as fit, the others below (three
        in a row from ``max_width=1210`` at K = 10).
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.

    Notes
    -----
    What a click selects: confusion cell (i, j): samples with given label i predicted as j;
    estimated-transition cell (i, j): samples given label j that the model predicts as i (its
    best guess at the true label); true-transition cell (i, j): samples whose true label is i
    and given label is j.
    """

    def __init__(
        self,
        session_or_dataset,
        *,
        mode: str = "counts",
        panel_size: int = 340,
        max_width: int = 960,
        **session_options,
    ):
        super().__init__(session_or_dataset, **session_options)
        if mode not in ("counts", "rates"):
            raise ValueError(f"mode must be 'counts' or 'rates', found {mode!r}.")
        if not isinstance(panel_size, (int, np.integer)) or panel_size < 150:
            raise ValueError(
                f"panel_size must be an integer >= 150 (pixels), found {panel_size!r}."
            )
        if not isinstance(max_width, (int, np.integer)) or max_width < 300:
            raise ValueError(f"max_width must be an integer >= 300 (pixels), found {max_width!r}.")
        self._mode, self._size, self._max_width = mode, int(panel_size), int(max_width)
        ds = self.session.dataset
        self.panels: list[str] = []
        if ds.pred_probs is not None:
            self.panels += ["confusion", "estimated"]
        if ds.has_truth:
            self.panels.append("true")
        self.reason = (
            None
            if self.panels
            else "No matrices: they need out-of-sample predicted probabilities or known true "
            "labels. " + (ds.why_missing(["pred_probs", "true_labels"]) or "")
        )
        self.figure = None
        self._cells: dict[str, np.ndarray] = {}
        self._matrices: dict[str, dict[str, np.ndarray]] = {}

    # --- data ----------------------------------------------------------------------------------
    def _compute(self) -> None:
        ds, analysis = self.session.dataset, self.session.analysis
        k = ds.n_classes
        mats = analysis.matrices()
        if ds.pred_probs is not None:
            predicted = analysis.predicted
            counts = np.asarray(mats["confusion"], dtype=float)
            self._matrices["confusion"] = {"counts": counts, "rates": _row_rates(counts)}
            t_est = mats["estimated_transition"]
            # Cell (i, j) of T holds samples given j that the model predicts as i.
            cell_counts = counts.T
            self._matrices["estimated"] = {"counts": t_est, "rates": t_est, "members": cell_counts}
            self._cells["confusion"] = ds.labels * k + predicted
            self._cells["estimated"] = predicted * k + ds.labels
        if "true_transition" in mats:
            known = analysis.known_truth
            # A cross-tabulation rows = true, columns = given.
            counts = np.asarray(mats["true_counts"], dtype=float)
            self._matrices["true"] = {"counts": counts, "rates": mats["true_transition"]}
            self._cells["true"] = np.where(known, ds.true_labels * k + ds.labels, -1)

    def _members(self, panel: str) -> np.ndarray:
        """K×K number of samples in each cell of ``panel`` (what a click there selects)."""
        m = self._matrices[panel]
        return m.get("members", m["counts"])

    def matrix(self, panel: str, mode: str | None = None) -> np.ndarray:
        """The K×K matrix a panel shows ("confusion", "estimated", "true") in ``mode``."""
        if panel not in self.panels:
            raise ValueError(f"panel must be one of {self.panels}, found {panel!r}.")
        if not self._matrices:
            self._compute()
        return self._matrices[panel][mode or self._mode]

    def cell_indices(self, panel: str, row: int, col: int) -> np.ndarray:
        """Sample indices behind cell (row, col) of ``panel`` (see the class Notes)."""
        if panel not in self.panels:
            raise ValueError(f"panel must be one of {self.panels}, found {panel!r}.")
        k = self.session.dataset.n_classes
        if not (0 <= row < k and 0 <= col < k):
            raise ValueError(f"cell ({row}, {col}) lies outside the {k}×{k} matrix.")
        if not self._cells:
            self._compute()
        return np.flatnonzero(self._cells[panel] == row * k + col)

    def selection_counts(self, panel: str) -> np.ndarray:
        """K×K counts of the currently selected samples in each cell of ``panel``."""
        if not self._cells:
            self._compute()
        k = self.session.dataset.n_classes
        cell = self._cells[panel][self.session.selection]
        return np.bincount(cell[cell >= 0], minlength=k * k).reshape(k, k)

    # --- building ------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Show "counts" or "rates"."""
        if mode not in ("counts", "rates"):
            raise ValueError(f"mode must be 'counts' or 'rates', found {mode!r}.")
        self._mode = mode
        if self.figure is not None:
            if self._toggle.value != mode:
                self._toggle.value = mode
                return
            self._refresh()

    def _build(self):
        import ipywidgets as w
        import plotly.graph_objects as go

        if not self.panels:
            return message_widget(self.reason)
        self._compute()
        ds = self.session.dataset
        k, names = ds.n_classes, list(ds.class_names)
        described = {panel: MATRICES[_MATRIX_OF[panel]] for panel in _MATRIX_OF}
        titles = {
            "confusion": f"{described['confusion'].title}<br><span style='font-size:12px;color:#444'>rows: given label · "
            "columns: predicted</span>",
            "estimated": f"{described['estimated'].title}<br><span style='font-size:12px;color:#444'>{_DEFINITION}</span>",
            "true": f"{described['true'].title}<br><span style='font-size:12px;color:#444'>{_DEFINITION}, known truth</span>",
        }
        axes = {
            "confusion": (described["confusion"].columns, described["confusion"].rows),
            "estimated": ("given label j", "true label i (estimated)"),
            "true": ("given label j", "true label i"),
        }
        geo = self._geometry(names)
        fig = go.Figure()
        ticks = (
            dict(
                tickmode="array", tickvals=list(range(k)), ticktext=[plotly_text(n) for n in names]
            )
            if k <= 60
            else {}
        )
        size = 12 if k <= 12 else 10 if k <= 20 else 8
        for c, panel in enumerate(self.panels, start=1):
            xname, yname = ("x", "y") if c == 1 else (f"x{c}", f"y{c}")
            fig.add_trace(
                go.Heatmap(
                    z=np.zeros((k, k)),
                    x=list(range(k)),
                    y=list(range(k)),
                    colorscale=_SQRT_BLUES,
                    showscale=False,
                    name=panel,
                    xgap=1,
                    ygap=1,
                    hoverongaps=False,
                    textfont=dict(size=size),
                    xaxis=xname,
                    yaxis=yname,
                )
            )
            # Second layer: an orange frame along the border of each cell holding selected
            # samples (the cell's number stays readable inside it) ...
            fig.add_trace(
                go.Scatter(
                    x=[],
                    y=[],
                    mode="markers",
                    name=f"{panel}{_OVERLAY}",
                    marker=dict(
                        symbol="square",
                        color="rgba(0,0,0,0)",
                        line=dict(color=_ORANGE, width=2),
                    ),
                    hoverinfo="text",
                    showlegend=False,
                    xaxis=xname,
                    yaxis=yname,
                )
            )
            # ... and how many of them in a small badge on the cell's top-right corner, where
            # no number is printed.
            fig.add_trace(
                go.Scatter(
                    x=[],
                    y=[],
                    mode="markers+text",
                    name=f"{panel}{_COUNTS}",
                    marker=dict(color=_ORANGE, opacity=1.0, line=dict(color="white", width=1)),
                    textposition="middle center",
                    textfont=dict(size=10, color="white"),
                    cliponaxis=False,
                    hoverinfo="skip",
                    showlegend=False,
                    xaxis=xname,
                    yaxis=yname,
                )
            )
            x0, x1 = geo["domains"][c - 1]
            y0, y1 = geo["row_domains"][c - 1]
            xt, yt = axes[panel]
            axis = dict(showgrid=False, zeroline=False, constrain="domain", **ticks)
            fig.layout[f"xaxis{'' if c == 1 else c}"] = dict(
                axis,
                title=dict(text=xt, standoff=6),
                domain=[x0, x1],
                anchor=yname,
                side="bottom",
                range=[-0.5, k - 0.5],
            )
            fig.layout[f"yaxis{'' if c == 1 else c}"] = dict(
                axis,
                title=dict(text=yt, standoff=4),
                domain=[y0, y1],
                anchor=xname,
                range=[k - 0.5, -0.5],  # row 0 on top, as printed matrices read
                scaleanchor=xname,
            )
            fig.add_annotation(
                text=titles[panel],
                x=(x0 + x1) / 2,
                y=y1,
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                yshift=8,
                showarrow=False,
                font_size=14,
            )
        fig.update_layout(
            width=geo["width"],
            height=geo["height"],
            margin=geo["margin"],
            clickmode="event",
            plot_bgcolor="white",
            showlegend=False,
            font_size=12,
        )
        self._caption = w.HTML()
        # The widget starts from the finished figure: nothing depends on updates that reach the
        # browser before the figure is first drawn.
        self._refresh(fig)
        self.figure = figure_widget(fig)
        for trace in self.figure.data:
            if not trace.name.endswith(_COUNTS):
                trace.on_click(self._on_click)
        self._toggle = w.ToggleButtons(
            options=["counts", "rates"],
            value=self._mode,
            tooltips=["numbers of samples", "row-normalised rates"],
            style={"button_width": "72px"},
            layout=w.Layout(width="auto", flex="0 0 auto"),
        )
        self._toggle.observe(lambda ch: self.set_mode(ch["new"]), names="value")
        self._subscribe("selection", lambda s: self._refresh())
        return w.VBox([w.HBox([self._toggle, self._caption]), self.figure])

    def _geometry(self, names) -> dict:
        """Pixel layout: each heatmap a ``panel_size`` square, with room between the panels
        for the next one's tick labels and axis title (wider for long class names).

        As many panels side by side as fit in ``max_width`` pixels (a notebook column at a
        laptop's width is 900-1000 px), the others on further rows: the figure never needs
        horizontal scrolling there.
        """
        n, side = len(self.panels), self._size
        k = len(names)
        longest = max((len(str(name)) for name in names), default=1) if k <= 60 else 4
        gap = int(min(220, 48 + 7 * longest))
        left, right, top = gap, 16, 84
        bottom = int(min(200, 56 + (6 * longest if longest > 3 else 0)))
        columns = max(1, min(n, (self._max_width - left - right + gap) // (side + gap)))
        rows = -(-n // columns)
        row_gap = bottom + top  # the upper panel's ticks and axis title, the lower one's title
        plot_width = columns * side + (columns - 1) * gap
        plot_height = rows * side + (rows - 1) * row_gap
        domains, row_domains = [], []
        for c in range(n):
            col, row = c % columns, c // columns
            domains.append(
                (col * (side + gap) / plot_width, (col * (side + gap) + side) / plot_width)
            )
            y1 = 1.0 - row * (side + row_gap) / plot_height
            row_domains.append((max(0.0, y1 - side / plot_height), y1))
        return {
            "width": left + plot_width + right,
            "height": top + plot_height + bottom,
            "margin": dict(l=left, r=right, t=top, b=bottom),
            "domains": domains,
            "row_domains": row_domains,
        }

    def _cell_px(self, fig) -> float:
        """Side of one heatmap cell on screen, in pixels (from the figure's geometry)."""
        lay = fig.layout
        x0, x1 = lay.xaxis.domain
        y0, y1 = lay.yaxis.domain
        width = (lay.width - lay.margin.l - lay.margin.r) * (x1 - x0)
        height = (lay.height - lay.margin.t - lay.margin.b) * (y1 - y0)
        return min(width, height) / self.session.dataset.n_classes

    def _refresh(self, fig=None) -> None:
        fig = self.figure if fig is None else fig
        ds = self.session.dataset
        k, names = ds.n_classes, [plotly_text(n) for n in ds.class_names]
        sel = self.session.selection
        by_name = {t.name: t for t in fig.data}
        cell_px = self._cell_px(fig)
        badges = {}
        with fig.batch_update() if hasattr(fig, "batch_update") else nullcontext():
            for panel in self.panels:
                trace = by_name[panel]
                frames, numbers = by_name[panel + _OVERLAY], by_name[panel + _COUNTS]
                mode = "rates" if panel == "estimated" else self._mode
                z = self._matrices[panel][mode]
                trace.z = z
                top = float(np.nanmax(z)) if np.isfinite(z).any() else 0.0
                trace.zmin, trace.zmax = 0.0, top if top > 0 else 1.0
                counts = self.selection_counts(panel) if sel.size else None
                if k <= _MAX_TEXT_CLASSES:
                    trace.text = [[_fmt(v, mode) for v in row] for row in z]
                    trace.texttemplate = "%{text}"
                else:
                    trace.text, trace.texttemplate = None, None
                if k <= _MAX_HOVER_CLASSES:
                    trace.hovertext = _hover_text(panel, z, mode, names, counts)
                    trace.hoverinfo = "text"
                if counts is None:
                    counts = np.zeros((k, k), dtype=np.int64)
                rows, cols = np.nonzero(counts)
                c = counts[rows, cols]
                members = self._members(panel)[rows, cols].astype(np.int64)
                share = c / np.maximum(members, 1)
                # A frame just inside the cell's border: the cell's own number stays readable.
                # Its opacity tells how much of the cell is selected, so a selection spread
                # over most cells still shows where it concentrates.
                frames.update(
                    x=cols.tolist(),
                    y=rows.tolist(),
                    customdata=c.tolist(),
                    marker_size=max(cell_px - 3.0, 4.0),
                    marker_line_color=[_orange(_FAINTEST + (1 - _FAINTEST) * f) for f in share],
                    hovertext=[
                        f"selected here: {v:,} of {m:,}" for v, m in zip(c, members, strict=True)
                    ],
                )
                # The count on the top-right corner, where cells are big enough to hold it and
                # few enough hold selected samples (badges on most cells would hide the matrix).
                badges[panel] = len(c) <= _MAX_BADGES
                corner = cell_px >= _MIN_CORNER_PX and badges[panel]
                text = [f"{v:,}" for v in c] if corner else []
                numbers.update(
                    x=(cols + _BADGE_AT).tolist() if corner else [],
                    y=(rows - _BADGE_AT).tolist() if corner else [],
                    text=text,
                    marker_size=[10 + 6 * len(t) for t in text],
                )
        how_many = "badges: how many" if all(badges.values()) else "hover a cell for how many"
        where = (
            f" · <b>{sel.size:,}</b> selected (orange frames: the cells holding them, stronger "
            f"where more of the cell is selected; {how_many})"
            if sel.size
            else ""
        )
        self._caption.value = (
            f'<span style="line-height:32px;color:#444">Click a cell to select its samples'
            f"{where} · colour grows with √value</span>"
        )

    # --- browser -> session --------------------------------------------------------------------
    def _on_click(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        panel = trace.name.removesuffix(_OVERLAY)
        ind = points.point_inds[0]
        if isinstance(ind, (list, tuple)) and len(ind) == 2:
            row, col = ind
        else:  # a frame of the selection layer: its cell is where it is drawn
            ys, xs = list(points.ys or [None]), list(points.xs or [None])
            row, col = _cell_at(ys[0]), _cell_at(xs[0])
        k = self.session.dataset.n_classes
        if (
            panel not in self.panels
            or browser_index(row, k) is None
            or browser_index(col, k) is None
        ):
            ignore_message("MatrixView", "a click outside the matrix cells", (panel, ind))
            return
        self.select_cell(panel, row, col)

    def select_cell(self, panel: str, row: int, col: int) -> None:
        """Select the samples of cell (row, col) of ``panel`` in every view."""
        self.session.select(self.cell_indices(panel, row, col), source=_SOURCE)


#: The audit's name of the matrix each panel shows (:data:`workbench.analysis.matrices.MATRICES`).
_MATRIX_OF = {
    "confusion": "confusion",
    "estimated": "estimated_transition",
    "true": "true_transition",
}
#: The transition matrices' definition, without the row-sum note the hover has no room for.
_DEFINITION = MATRICES["true_transition"].cell.split(", rows")[0]


def _cell_at(coordinate):
    """The cell index at a point's coordinate (cells are centred on integers), None when the
    browser sent no number."""
    if isinstance(coordinate, bool) or not isinstance(coordinate, (int, float)):
        return None
    return int(round(coordinate)) if np.isfinite(coordinate) else None


def _row_rates(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts, dtype=float), where=totals > 0)


def _fmt(v: float, mode: str) -> str:
    if not np.isfinite(v):
        return "–"  # a true class never seen: no evidence for its row
    return f"{int(round(v)):,}" if mode == "counts" else f"{v:.2f}"


def _hover_text(panel, z, mode, names, sel) -> list[list[str]]:
    rows, cols = {
        "confusion": ("given", "predicted"),
        "estimated": ("true", "given"),
        "true": ("true", "given"),
    }[panel]
    what = {
        "confusion": "P(predicted = j | given = i)" if mode == "rates" else "samples",
        "estimated": _DEFINITION,
        "true": _DEFINITION if mode == "rates" else "samples",
    }[panel]
    k = z.shape[0]
    out = []
    for i in range(k):
        row = []
        for j in range(k):
            s = f"{rows}: {names[i]}<br>{cols}: {names[j]}<br>{what}: {_fmt(z[i, j], mode)}"
            if sel is not None:
                s += f"<br>selected here: {sel[i, j]:,}"
            row.append(s)
        out.append(row)
    return out


def _orange(opacity: float) -> str:
    return f"rgba(240,110,0,{opacity:.2f})"
