"""The matrix view: confusion matrix, estimated and true noise-transition matrices, linked.

Up to four heatmaps (plotly ``FigureWidget``), as many side by side as fit, every axis labelled
with class names and its meaning in words:

- confusion matrix: rows = given label, columns = predicted label (argmax of the out-of-sample
  ``pred_probs``); rates are row-normalised, P(predicted = j | given = i);
- estimated noise transition ``T[i, j] = P(given = j | true = i)`` from ``pred_probs`` (the
  calibrated confident joint);
- the same estimated by HOC from ``features`` without a model (the given labels of each sample
  and its nearest neighbours: :func:`workbench.analysis.hoc.dataset_transition_hoc`, computed
  once per dataset in its shared analysis), up to
  :data:`workbench.pipeline.run.HOC_AUDIT_MAX_CLASSES` classes as in the audit;
- the true transition, beside them, when true labels are known.

Clicking a cell selects its samples in every view (``session.select(..., source="matrix")``);
the current selection is a second layer: an orange frame along the border of every cell that
holds selected samples (the cell's own number stays readable inside it), the more opaque the
larger the share of the cell selected, and how many in a small badge on the cell's top-right
corner while the selection lies in at most 12 cells of the matrix (always in the hover text).

At any K (20, 100, 1,000 classes): a cell's number is printed only where it fits in the cell
(hover, or the caption above the matrices past 120 classes, still gives it); the classes are
shown in an order that puts confused classes next to each other (``order="clustered"``, the
default above 10 classes: :meth:`workbench.analysis.derived.Analysis.class_order`); dragging a
box on a matrix zooms in (numbers appear as cells grow; double-click zooms out); and a ranked
list of the most confused class pairs
(:meth:`workbench.analysis.derived.Analysis.confused_pairs`) selects a pair's samples with one
click.
"""

from __future__ import annotations

import html
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
_OVERLAY = ":selection"  # name suffix of the traces framing the cells holding selected samples
_COUNTS = ":selection-count"  # name suffix of the traces printing how many in each such cell
_MIN_CORNER_PX = 24  # cells smaller than this get no corner count (hover still gives it)
_MAX_BADGES = 12  # a selection spread over more cells of a panel gets no badges there (hover)
_BADGE_AT = 0.46  # the count badge's centre, in cells right of and above the cell's centre
_ORANGE = "rgb(240,110,0)"
_FAINTEST = 0.3  # opacity of the frame of a cell of which a tiny share is selected (all: 1)
_MAX_HOVER_CLASSES = 120  # above this, no per-cell hover text (K*K strings): the caption
_CHAR_PX = 0.62  # width of one digit, in units of the font size
_MIN_TICK_PX = 7.0  # cells smaller than this get no class names on the axes (hover has them)
_MIN_FRAME_PX = 4.0  # cells smaller than this get no selection frames (hover has the counts)
_PAIRS_SHOWN = 10  # rows of the confused-pairs list at first ("more" adds as many)
_HOC_NEIGHBORS = 10  # the kNN graph HOC reads (its default; the one knn_disagreement shares)
_RATES_ONLY = ("estimated", "hoc")  # estimates of probabilities: always shown as rates
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
    """Confusion, estimated (confident joint, HOC) and true transition matrices, clickable.

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    mode : {"counts", "rates"}, default="counts"
        What the cells show first (a toggle switches). The estimated transition matrices are
        estimates of probabilities and are always shown as rates.
    panel_size : int, default=340
        Width and height of each heatmap in pixels (34-pixel cells at K = 10).
    max_width : int, default=960
        The figure's widest: as many heatmaps side by side as fit, the others below (two in a
        row at 960, three from ``max_width=1210`` at K = 10, four from 1605).
    order : {"auto", "clustered", "index"}, default="auto"
        The order of the classes along both axes: "clustered" puts classes confused with each
        other next to each other, "index" keeps the dataset's order; "auto" clusters above
        10 classes. A dropdown switches.
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.

    Notes
    -----
    What a click selects: confusion cell (i, j): samples with given label i predicted as j;
    estimated-transition cell (i, j): samples given label j that the model predicts as i (its
    best guess at the true label); HOC cell (i, j): samples given label j whose 10 nearest
    neighbours in feature space mostly carry label i (the neighbourhood's consensus that HOC
    builds on; HOC itself estimates rates, not a true label per sample); true-transition cell
    (i, j): samples whose true label is i and given label is j.

    The HOC panel needs ``features`` and at most
    :data:`workbench.pipeline.run.HOC_AUDIT_MAX_CLASSES` classes (its fit grows as K³); above
    that the caption says why it is missing (``hoc_note``).
    """

    def __init__(
        self,
        session_or_dataset,
        *,
        mode: str = "counts",
        panel_size: int = 340,
        max_width: int = 960,
        order: str = "auto",
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
        if order not in ("auto", "clustered", "index"):
            raise ValueError(f"order must be 'auto', 'clustered' or 'index', found {order!r}.")
        self._mode, self._size, self._max_width = mode, int(panel_size), int(max_width)
        ds = self.session.dataset
        if order == "auto":
            order = "clustered" if ds.n_classes > 10 and ds.pred_probs is not None else "index"
        if order == "clustered" and ds.pred_probs is None:
            order = "index"  # the clustering reads the confusion matrix (pred_probs)
        self._order_name = order
        self._order: np.ndarray | None = None  # position on the axes -> class index
        self._zoom = 1.0  # how many times the cells are magnified by a zoom (1: whole matrix)
        self._pairs_shown = _PAIRS_SHOWN
        self._hover_note = ""  # past 120 classes: the hovered cell, named in the caption
        self.panels: list[str] = []
        if ds.pred_probs is not None:
            self.panels += ["confusion", "estimated"]
        self.hoc_note = _hoc_note(ds)  # why there is no HOC panel (None: there is one)
        if self.hoc_note is None:
            self.panels.append("hoc")
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
        self._computed = 0  # how many times the matrices were computed (a new one: redraw)
        self._drawn = None  # what the heatmaps show (computation, mode, cell size), see _refresh
        self._stale = False  # the selection changed while the view was hidden
        self.refreshes = 0  # how many times the figure was brought up to date (tests read it)

    # --- data ----------------------------------------------------------------------------------
    def _compute(self) -> None:
        self._computed += 1
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
        if "hoc" in self.panels:
            t_hoc, consensus = self._hoc()
            # Cell (i, j) holds samples given j whose neighbours mostly carry label i.
            cells = consensus * k + ds.labels
            members = np.bincount(cells, minlength=k * k).reshape(k, k).astype(float)
            self._matrices["hoc"] = {"counts": t_hoc, "rates": t_hoc, "members": members}
            self._cells["hoc"] = cells
        self._order = (
            np.asarray(analysis.class_order(), dtype=np.int64)
            if self._order_name == "clustered"
            else np.arange(k, dtype=np.int64)
        )
        if "true_transition" in mats:
            known = analysis.known_truth
            # A cross-tabulation rows = true, columns = given.
            counts = np.asarray(mats["true_counts"], dtype=float)
            self._matrices["true"] = {"counts": counts, "rates": mats["true_transition"]}
            self._cells["true"] = np.where(known, ds.true_labels * k + ds.labels, -1)

    def _hoc(self) -> tuple[np.ndarray, np.ndarray]:
        """HOC's K×K transition matrix and the neighbours' majority label of every sample (N,),
        both from the dataset's one kNN graph and kept in its shared analysis (computed once,
        not per redraw)."""
        from workbench.analysis.detectors.features import knn_label_vote, resolve_metric
        from workbench.analysis.hoc import dataset_transition_hoc

        ds, analysis = self.session.dataset, self.session.analysis
        n_neighbors = min(_HOC_NEIGHBORS, ds.n_samples - 1)
        metric = resolve_metric("auto", ds.features)
        hoc = dataset_transition_hoc(ds, n_neighbors=n_neighbors, metric=metric)

        def consensus():
            graph = analysis.knn_graph(n_neighbors, metric, progress=False)
            return knn_label_vote(ds.labels, graph, n_classes=ds.n_classes).majority

        majority = analysis.cached(
            ("neighbour_majority", n_neighbors, metric), (ds.labels, ds.features), consensus
        )
        return np.asarray(hoc.transition, dtype=np.float64), majority

    def _members(self, panel: str) -> np.ndarray:
        """K×K number of samples in each cell of ``panel`` (what a click there selects)."""
        m = self._matrices[panel]
        return m.get("members", m["counts"])

    def matrix(self, panel: str, mode: str | None = None) -> np.ndarray:
        """The K×K matrix a panel shows ("confusion", "estimated", "hoc", "true") in ``mode``
        (the estimates are rates in either mode)."""
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

    @property
    def order(self) -> np.ndarray:
        """Int64 (K,): the class shown at each position along both axes (position -> class)."""
        if self._order is None:
            self._compute()
        return self._order

    @property
    def order_name(self) -> str:
        """Either "clustered" (confused classes next to each other) or "index" (dataset order)."""
        return self._order_name

    def set_order(self, name: str) -> None:
        """Show the classes "clustered" (confused ones together) or in "index" order."""
        if name not in ("clustered", "index"):
            raise ValueError(f"order must be 'clustered' or 'index', found {name!r}.")
        if name == "clustered" and self.session.dataset.pred_probs is None:
            raise ValueError("order='clustered' needs pred_probs (it reads the confusion matrix).")
        self._order_name = name
        if self._matrices:
            self._compute()
        if self.figure is not None:
            if self._order_dropdown.value != name:
                self._order_dropdown.value = name  # re-enters here through the observer
                return
            with self.figure.batch_update():
                self._set_ticks(self.figure)
                self._refresh()

    def confused_pairs(self):
        """The most confused class pairs first (any K): a DataFrame with the class names
        (``class_name_a``, ``class_name_b``) and the columns of
        :meth:`workbench.analysis.derived.Analysis.confused_pairs`; empty without pred_probs."""
        import pandas as pd

        ds = self.session.dataset
        if ds.pred_probs is None:
            return pd.DataFrame()
        pairs = self.session.analysis.confused_pairs()
        names = np.asarray([str(n) for n in ds.class_names], dtype=object)
        out = pairs.copy()
        out.insert(0, "class_name_a", names[pairs["class_index_a"].to_numpy()])
        out.insert(1, "class_name_b", names[pairs["class_index_b"].to_numpy()])
        return out

    def pair_indices(self, a: int, b: int) -> np.ndarray:
        """Sample indices given ``a`` and predicted ``b`` or given ``b`` and predicted ``a``."""
        k = self.session.dataset.n_classes
        for name, v in (("a", a), ("b", b)):
            if browser_index(v, k) is None:
                raise ValueError(f"{name} must be a class index in 0..{k - 1}, found {v!r}.")
        if "confusion" not in self.panels:
            raise ValueError("Class pairs need pred_probs (the confusion matrix).")
        return np.union1d(
            self.cell_indices("confusion", int(a), int(b)),
            self.cell_indices("confusion", int(b), int(a)),
        )

    def select_pair(self, a: int, b: int) -> None:
        """Select the samples confused between classes ``a`` and ``b`` in every view."""
        self.session.select(self.pair_indices(a, b), source=_SOURCE)

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
            "estimated": f"{described['estimated'].title}<br><span style='font-size:12px;color:#444'>{_DEFINITION}, from pred_probs</span>",
            "hoc": f"{described['hoc'].title}<br><span style='font-size:12px;color:#444'>{_DEFINITION}, from features</span>",
            "true": f"{described['true'].title}<br><span style='font-size:12px;color:#444'>{_DEFINITION}, known truth</span>",
        }
        axes = {
            "confusion": (described["confusion"].columns, described["confusion"].rows),
            "estimated": ("given label j", "true label i (estimated)"),
            "hoc": ("given label j", "true label i (estimated)"),
            "true": ("given label j", "true label i"),
        }
        geo = self._geometry(names)
        fig = go.Figure()
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
            # Ticks outside: the class names keep a gap from the first row and column.
            axis = dict(
                showgrid=False, zeroline=False, constrain="domain", ticks="outside", ticklen=3
            )
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
        self._set_ticks(fig)
        fig.update_layout(
            width=geo["width"],
            height=geo["height"],
            margin=geo["margin"],
            clickmode="event",
            dragmode="zoom",  # drag a box to zoom in, double-click to zoom out
            plot_bgcolor="white",
            showlegend=False,
            font_size=12,
        )
        self._caption = w.HTML()
        # The widget starts from the finished figure: nothing depends on updates that reach the
        # browser before the figure is first drawn.
        self._drawn = None
        self._refresh(fig)
        self.figure = figure_widget(fig)
        for trace in self.figure.data:
            if not trace.name.endswith(_COUNTS):
                trace.on_click(self._on_click)
            if trace.name in self.panels and k > _MAX_HOVER_CLASSES:
                trace.on_hover(self._on_hover)
        for c in range(1, len(self.panels) + 1):
            self.figure.layout.on_change(self._on_zoom, f"xaxis{'' if c == 1 else c}.range")
        self._toggle = w.ToggleButtons(
            options=["counts", "rates"],
            value=self._mode,
            tooltips=["numbers of samples", "row-normalised rates"],
            style={"button_width": "72px"},
            layout=w.Layout(width="auto", flex="0 0 auto"),
        )
        self._toggle.observe(lambda ch: self.set_mode(ch["new"]), names="value")
        self._order_dropdown = w.Dropdown(
            options=[
                ("clustered: confused classes together", "clustered"),
                ("class index", "index"),
            ]
            if ds.pred_probs is not None
            else [("class index", "index")],
            value=self._order_name,
            description="order",
            layout=w.Layout(width="300px", flex="0 0 auto"),
        )
        self._order_dropdown.observe(lambda ch: self.set_order(ch["new"]), names="value")
        self._subscribe("selection", lambda s: self._on_selection())
        self._pairs = w.VBox(layout=w.Layout(width="100%"))
        self._fill_pairs()
        return w.VBox(
            [
                w.HBox(
                    [self._toggle, self._order_dropdown, self._caption],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self.figure,
                self._pairs,
            ]
        )

    def _set_ticks(self, fig) -> None:
        """Class names along the axes, in the current order, where cells are tall enough."""
        k, names = self.session.dataset.n_classes, self.session.dataset.class_names
        cell = self._size / k * self._zoom
        if cell >= _MIN_TICK_PX and k <= 2_000:
            ticks = dict(
                tickmode="array",
                tickvals=list(range(k)),
                ticktext=[plotly_text(names[c]) for c in self.order],
                tickfont_size=int(min(12, max(7, cell - 1))),
                showticklabels=True,
            )
        else:  # too small to read: hover (or the caption) names a cell's classes
            ticks = dict(showticklabels=False, tickmode="auto")
        for c in range(1, len(self.panels) + 1):
            fig.layout[f"xaxis{'' if c == 1 else c}"].update(ticks)
            fig.layout[f"yaxis{'' if c == 1 else c}"].update(ticks)

    def _on_zoom(self, layout, xrange) -> None:
        """Numbers, names and frames follow the cell size when a box zoom enlarges the cells."""
        k = self.session.dataset.n_classes
        try:
            span = abs(float(xrange[1]) - float(xrange[0]))
        except (TypeError, ValueError, IndexError):
            return
        zoom = max(1.0, k / span) if span > 0 else 1.0
        if abs(zoom - self._zoom) < 1e-6:
            return
        self._zoom = zoom
        with self.figure.batch_update():
            self._set_ticks(self.figure)
            self._refresh()

    def _on_hover(self, trace, points, state) -> None:
        """Past 120 classes cells carry no hover text: the caption names the hovered cell."""
        if not points.point_inds or trace.name not in self.panels:
            return
        ind = points.point_inds[0]
        if not (isinstance(ind, (list, tuple)) and len(ind) == 2):
            return
        k = self.session.dataset.n_classes
        row, col = browser_index(ind[0], k), browser_index(ind[1], k)
        if row is None or col is None:
            return
        self._hover_note = self.describe_cell(
            trace.name, int(self.order[row]), int(self.order[col])
        )
        self._refresh_caption()

    def describe_cell(self, panel: str, row: int, col: int) -> str:
        """One line naming cell (row, col) of ``panel`` (class indices) and its value."""
        ds = self.session.dataset
        names = ds.class_names
        mode = "rates" if panel in _RATES_ONLY else self._mode
        value = self.matrix(panel, mode)[row, col]
        rows, cols = _AXIS_WORDS[panel]
        text = (
            f"{rows}: {names[row]} · {cols}: {names[col]} · "
            f"{'samples' if mode == 'counts' else 'rate'}: {_fmt(value, mode)}"
        )
        if self.session.selection.size:
            text += f" · selected here: {int(self.selection_counts(panel)[row, col]):,}"
        return text

    def _fill_pairs(self) -> None:
        """The ranked list of the most confused class pairs; a click selects a pair's samples."""
        import ipywidgets as w

        pairs = self.confused_pairs()
        if pairs.empty:
            self._pairs.children = []
            return
        shown = pairs.head(self._pairs_shown)
        head = w.HTML(
            "<b>Most confused class pairs</b> <span style='color:#444'>(estimated mislabeled "
            "between the two, from the confident joint; the share of the samples given either "
            "label; click to select the samples one is predicted as the other)</span>"
        )
        rows = []
        for rank, r in enumerate(shown.itertuples(index=False), start=1):
            a, b = int(r.class_index_a), int(r.class_index_b)
            button = w.Button(
                description=f"{r.a_as_b + r.b_as_a:,} samples",
                tooltip=f"select the samples given {r.class_name_a} predicted {r.class_name_b} "
                f"or given {r.class_name_b} predicted {r.class_name_a}",
                layout=w.Layout(width="130px", flex="0 0 auto"),
            )
            button.on_click(lambda _b, a=a, b=b: self.select_pair(a, b))
            text = w.HTML(
                f"<span style='line-height:28px'>{rank}. <b>{html.escape(r.class_name_a)}</b> ↔ "
                f"<b>{html.escape(r.class_name_b)}</b> · {r.a_as_b:,} given "
                f"{html.escape(r.class_name_a)} predicted {html.escape(r.class_name_b)}, "
                f"{r.b_as_a:,} the other way · est. {r.num_overlapping:,} mislabeled "
                f"({100 * r.noise_rate:.1f}% of the two)</span>",
                layout=w.Layout(flex="1 1 auto", width="auto"),
            )
            rows.append(w.HBox([button, text], layout=w.Layout(width="100%")))
        children = [head, *rows]
        if len(pairs) > len(shown):
            more = w.Button(
                description=f"more ({len(pairs) - len(shown):,} pairs left)",
                layout=w.Layout(width="auto"),
            )

            def _more(_b):
                self._pairs_shown += _PAIRS_SHOWN
                self._fill_pairs()

            more.on_click(_more)
            children.append(more)
        self._pairs.children = children

    def _geometry(self, names) -> dict:
        """Pixel layout: each heatmap a ``panel_size`` square, with room between the panels
        for the next one's tick labels and axis title (wider for long class names).

        As many panels side by side as fit in ``max_width`` pixels (a notebook column at a
        laptop's width is 900-1000 px), the others on further rows: the figure never needs
        horizontal scrolling there.
        """
        n, side = len(self.panels), self._size
        k = len(names)
        named = side / max(k, 1) >= _MIN_TICK_PX  # class names on the axes (see _set_ticks)
        longest = max((len(str(name)) for name in names), default=1) if named else 4
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

    def _on_selection(self) -> None:
        if self.shown:
            self._refresh()
        else:  # brought up to date when shown again (a lasso on the map costs nothing here)
            self._stale = True

    def _on_shown(self) -> None:
        if self._stale and self.figure is not None:
            self._refresh()

    def _refresh(self, fig=None) -> None:
        """Bring the figure up to date with the matrices, the mode, the zoom and the selection.

        The heatmaps' values and printed numbers are set again only when what they show
        changed (another computation, mode or cell size); a selection alone sets the hover
        texts and the selection's frames and badges (plotly validates each property set, 0.1-
        0.5 s for every panel's cells at once)."""
        fig = self.figure if fig is None else fig
        self._stale = False
        self.refreshes += 1
        ds = self.session.dataset
        order = self.order
        k = ds.n_classes
        names = [plotly_text(ds.class_names[c]) for c in order]
        position = np.empty(k, dtype=np.int64)
        position[order] = np.arange(k)
        shown = np.ix_(order, order)
        sel = self.session.selection
        by_name = {t.name: t for t in fig.data}
        cell_px = self._cell_px(fig) * self._zoom
        drawn = (self._computed, self._mode, cell_px)
        redraw = drawn != self._drawn
        badges = {}
        with fig.batch_update() if hasattr(fig, "batch_update") else nullcontext():
            for panel in self.panels:
                trace = by_name[panel]
                frames, numbers = by_name[panel + _OVERLAY], by_name[panel + _COUNTS]
                mode = "rates" if panel in _RATES_ONLY else self._mode
                z = self._matrices[panel][mode][shown]
                counts = self.selection_counts(panel)[shown] if sel.size else None
                if redraw:
                    trace.z = z
                    top = float(np.nanmax(z)) if np.isfinite(z).any() else 0.0
                    trace.zmin, trace.zmax = 0.0, top if top > 0 else 1.0
                    # A number only where it fits in its cell (hover still gives every one).
                    text = (
                        _fitting_text(z, mode, cell_px, trace.textfont.size or 10)
                        if k <= _MAX_HOVER_CLASSES
                        else None
                    )
                    if text is not None:
                        trace.text, trace.texttemplate = text, "%{text}"
                    else:
                        trace.text, trace.texttemplate = None, None
                if k <= _MAX_HOVER_CLASSES:
                    trace.hovertext = _hover_text(panel, z, mode, names, counts)
                    trace.hoverinfo = "text"
                else:  # the caption names the hovered cell (K*K hover strings are too many)
                    trace.hovertext, trace.hoverinfo = None, "z"
                if counts is None or cell_px < _MIN_FRAME_PX:
                    counts = np.zeros((k, k), dtype=np.int64)
                rows, cols = np.nonzero(counts)
                c = counts[rows, cols]
                members = self._members(panel)[shown][rows, cols].astype(np.int64)
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
        self._drawn = drawn
        self._badges_all = all(badges.values()) and cell_px >= _MIN_FRAME_PX
        self._framed = cell_px >= _MIN_FRAME_PX
        self._refresh_caption()

    def _refresh_caption(self) -> None:
        sel = self.session.selection
        how_many = "badges: how many" if self._badges_all else "hover a cell for how many"
        where = (
            (
                f" · <b>{sel.size:,}</b> selected (orange frames: the cells holding them, "
                f"stronger where more of the cell is selected; {how_many})"
                if self._framed
                else f" · <b>{sel.size:,}</b> selected (hover a cell for how many; zoom in "
                "to see frames)"
            )
            if sel.size
            else ""
        )
        order = (
            " · classes ordered so that confusions cluster"
            if (self._order_name == "clustered")
            else ""
        )
        hovered = f"<br><b>hovered</b>: {html.escape(self._hover_note)}" if self._hover_note else ""
        hoc = (
            f" · no HOC matrix: {html.escape(self.hoc_note)}"
            if self.hoc_note and self.session.dataset.features is not None
            else ""
        )
        self._caption.value = (
            f'<span style="line-height:32px;color:#444">Click a cell to select its samples'
            f"{where} · colour grows with √value{order} · drag a box to zoom, double-click "
            f"to zoom out{hoc}</span>{hovered}"
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
        # The browser sends positions on the axes; the classes there follow the order shown.
        self.select_cell(panel, int(self.order[int(row)]), int(self.order[int(col)]))

    def select_cell(self, panel: str, row: int, col: int) -> None:
        """Select the samples of cell (row, col) of ``panel`` in every view."""
        self.session.select(self.cell_indices(panel, row, col), source=_SOURCE)


#: The audit's name of the matrix each panel shows (:data:`workbench.analysis.matrices.MATRICES`).
_MATRIX_OF = {
    "confusion": "confusion",
    "estimated": "estimated_transition",
    "hoc": "hoc_transition",
    "true": "true_transition",
}
#: The transition matrices' definition, without the row-sum note the hover has no room for.
_DEFINITION = MATRICES["true_transition"].cell.split(", rows")[0]


_AXIS_WORDS = {
    "confusion": ("given", "predicted"),
    "estimated": ("true", "given"),
    "hoc": ("true", "given"),
    "true": ("true", "given"),
}


def _hoc_note(ds) -> str | None:
    """Why ``ds`` gets no HOC panel; None when it gets one (features, at least 3 samples, one
    label per sample and at most the audit's limit of classes: the fit grows as K³)."""
    from workbench.pipeline.run import HOC_AUDIT_MAX_CLASSES

    if ds.features is None:
        return "HOC needs features (N×D)"
    if ds.is_multilabel:
        return "HOC estimates single-label transition matrices"
    if ds.n_samples < 3:
        return f"HOC needs at least 3 samples, found N={ds.n_samples}"
    if ds.n_classes > HOC_AUDIT_MAX_CLASSES:
        return (
            f"its fit grows as K³ and K={ds.n_classes} exceeds the limit of "
            f"{HOC_AUDIT_MAX_CLASSES} classes (the audit's); "
            "workbench.analysis.hoc.dataset_transition_hoc(ds) computes it on request"
        )
    return None


def _fitting_text(z, mode, cell_px, font_px) -> list[list[str]] | None:
    """Each cell's number where it fits inside the cell ("" elsewhere); None when none fits."""
    text = [[_fmt(v, mode) for v in row] for row in z]
    room = cell_px - 3.0
    fits = [[len(t) * _CHAR_PX * font_px <= room for t in row] for row in text]
    if not any(any(row) for row in fits):
        return None
    return [
        [t if f else "" for t, f in zip(r, fr, strict=True)]
        for r, fr in zip(text, fits, strict=True)
    ]


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
    rows, cols = _AXIS_WORDS[panel]
    what = {
        "confusion": "P(predicted = j | given = i)" if mode == "rates" else "samples",
        "estimated": _DEFINITION,
        "hoc": _DEFINITION,
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
