"""The trajectory view: per-epoch training signals of the selected samples, and a data map.

Left: loss, margin or given-label probability (a dropdown) per epoch for the selected samples,
capped at ``max_lines`` curves drawn as ONE WebGL trace (None separates the curves), with the
mean curves of the flagged and unflagged samples for context. Right: the data map of
Swayamdipta et al. (2020), one point per sample at (variability, confidence) = (standard
deviation, mean) over epochs of the probability of the given label; box or lasso selections
there select those samples in every view.
"""

from __future__ import annotations

import numpy as np

from workbench.ui._common import View, figure_widget, ignore_message, message_widget, plotly_text

__all__ = ["TrajectoryView"]

_SOURCE = "trajectories"
_KIND_TITLES = {
    "loss": "loss of the given label",
    "margin": "margin (given-label logit minus the largest other)",
    "given_prob": "probability of the given label",
}
_FLAG_RED, _CLEAN_BLUE, _LINE_GREY = "#d62728", "#1f77b4", "rgba(60,60,60,0.35)"
# Both figures side by side fit a 900 px notebook column. The plotly toolbar stands upright in
# the right margin, clear of the titles (lying on top, it covered them).
_LINES_WIDTH, _MAP_WIDTH = 470, 420
_MARGIN = dict(l=60, r=36, t=60, b=50)
_MODEBAR = dict(orientation="v")


class TrajectoryView(View):
    """Training dynamics of the selected samples and a selectable data map.

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    kind : {"loss", "margin", "given_prob"}, optional
        Signal drawn per epoch; default: the first of these the dataset has.
    max_lines : int, default=200
        At most this many selected samples are drawn (the first by index); the title says so.
    max_points : int, default=100_000
        The data map draws at most this many samples (a seeded random subset beyond it; plotly
        WebGL stays fluid to about 1e5 points); selections there come from the drawn points.
    seed : int, default=0
        Seed of that subset.
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.
    """

    def __init__(
        self,
        session_or_dataset,
        *,
        kind: str | None = None,
        max_lines: int = 200,
        max_points: int = 100_000,
        seed: int = 0,
        **session_options,
    ):
        super().__init__(session_or_dataset, **session_options)
        ds = self.session.dataset
        self.kinds = [k for k in _KIND_TITLES if k in ds.trajectories]
        for name, value in (("max_lines", max_lines), ("max_points", max_points)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, found {value!r}.")
        if kind is not None and kind not in _KIND_TITLES:
            raise ValueError(f"kind must be one of {list(_KIND_TITLES)}, found {kind!r}.")
        if kind is not None and kind not in self.kinds:
            raise ValueError(
                f"kind {kind!r} is not recorded for this dataset; it has {self.kinds}. "
                + (ds.why_missing([f"trajectories.{kind}"]) or "")
            )
        self._kind = kind or (self.kinds[0] if self.kinds else None)
        self.max_lines, self.max_points, self._seed = int(max_lines), int(max_points), seed
        self.reason = (
            None
            if self.kinds
            else "No trajectories: this dataset has no per-epoch training signals. "
            + (ds.why_missing(["trajectories.loss", "trajectories.given_prob"]) or "")
        )
        self.map_reason = (
            None
            if "given_prob" in ds.trajectories
            else "No data map: it needs the per-epoch probability of the given label. "
            + (ds.why_missing(["trajectories.given_prob"]) or "")
        )
        self.lines = None
        self.data_map = None
        self._shown: np.ndarray | None = None
        self._position: np.ndarray | None = None
        self._sum_cache: dict[str, np.ndarray] = {}
        self._publishing = False

    # --- numbers -------------------------------------------------------------------------------
    @property
    def kind(self) -> str | None:
        return self._kind

    def set_kind(self, kind: str) -> None:
        """Draw ``kind`` ("loss", "margin" or "given_prob") per epoch."""
        if kind not in self.kinds:
            raise ValueError(f"kind must be one of {self.kinds}, found {kind!r}.")
        self._kind = kind
        if self.lines is not None:
            if self._dropdown.value != kind:
                self._dropdown.value = kind
                return
            self._draw_means()
            self._draw_selected()

    def group_means(self, kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean curves (E,) of the flagged and the unflagged samples (NaN for an empty group)."""
        kind = kind or self._kind
        traj = self.session.dataset.trajectories[kind]
        if kind not in self._sum_cache:
            self._sum_cache[kind] = traj.sum(axis=0, dtype=np.float64)
        flags = self.session.flags
        n_flag = int(flags.sum())
        n_clean = len(flags) - n_flag
        flag_sum = traj[flags].sum(axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            flagged = flag_sum / n_flag if n_flag else np.full(traj.shape[1], np.nan)
            clean = (
                (self._sum_cache[kind] - flag_sum) / n_clean
                if n_clean
                else np.full(traj.shape[1], np.nan)
            )
        return flagged, clean

    def data_map_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample (variability, confidence): std and mean over epochs of P(given label)."""
        p = self.session.dataset.trajectories["given_prob"]
        return p.std(axis=1, dtype=np.float64), p.mean(axis=1, dtype=np.float64)

    def drawn_samples(self) -> np.ndarray:
        """Indices of the selected samples whose curves are drawn (at most ``max_lines``)."""
        return self.session.selection[: self.max_lines]

    # --- building ------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w

        if not self.kinds:
            return message_widget(self.reason)
        self._dropdown = w.Dropdown(
            options=self.kinds,
            value=self._kind,
            description="signal",
            layout=w.Layout(width="240px"),
        )
        self._dropdown.observe(lambda ch: self.set_kind(ch["new"]), names="value")
        self._note = w.HTML()
        # Each widget starts from its finished figure: nothing depends on updates that reach
        # the browser before the figure is first drawn.
        self.lines = self._make_lines()
        self._draw_means()
        self._draw_selected()
        self.lines = figure_widget(self.lines)
        right = message_widget(self.map_reason) if self.map_reason else self._make_data_map()
        self._subscribe("selection", self._on_selection)
        self._subscribe("flags", self._on_flags)
        # The two figures side by side where the column is wide enough (both fit in 900 px),
        # one above the other where it is not: never a horizontal scroll bar.
        figures = w.HBox([self.lines, right], layout=w.Layout(flex_flow="row wrap"))
        return w.VBox([w.HBox([self._dropdown, self._note]), figures])

    def _make_lines(self):
        import plotly.graph_objects as go

        e = self.session.dataset.trajectories[self._kind].shape[1]
        fig = go.Figure(
            data=[
                go.Scattergl(
                    x=[],
                    y=[],
                    mode="lines",
                    name="selected samples",
                    line=dict(color=_LINE_GREY, width=1),
                    hoverinfo="skip",
                ),
                go.Scattergl(
                    x=[],
                    y=[],
                    mode="lines+markers",
                    name="mean of flagged",
                    line=dict(color=_FLAG_RED, width=3),
                    marker=dict(size=4),
                ),
                go.Scattergl(
                    x=[],
                    y=[],
                    mode="lines+markers",
                    name="mean of unflagged",
                    line=dict(color=_CLEAN_BLUE, width=3),
                    marker=dict(size=4),
                ),
            ],
            layout=dict(
                width=_LINES_WIDTH,
                height=400,
                margin=_MARGIN,
                modebar=_MODEBAR,
                xaxis=dict(
                    title="epoch", range=[0.8, e + 0.2] if e > 1 else None, dtick=max(1, e // 10)
                ),
                legend=dict(orientation="h", y=-0.2, x=0),
                plot_bgcolor="white",
                hovermode="closest",
            ),
        )
        fig.update_xaxes(showgrid=True, gridcolor="#eee")
        fig.update_yaxes(showgrid=True, gridcolor="#eee")
        return fig

    def _make_data_map(self):
        import plotly.graph_objects as go

        n = self.session.dataset.n_samples
        var, conf = self.data_map_coords()
        if n > self.max_points:
            rng = np.random.default_rng(self._seed)
            shown = np.sort(rng.choice(n, size=self.max_points, replace=False))
        else:
            shown = np.arange(n)
        position = np.full(n, -1, dtype=np.int64)
        position[shown] = np.arange(len(shown))
        self._shown, self._position = shown, position
        # On a line of its own: after the title at 13 px it ran past the figure's edge.
        self._subset = (
            ""
            if len(shown) == n
            else f"<br><span style='font-size:11px;color:#444'>{len(shown):,} of {n:,} drawn, "
            "at random</span>"
        )
        fig = go.Figure(
            data=[
                go.Scattergl(
                    x=var[shown],
                    y=conf[shown],
                    mode="markers",
                    name="samples",
                    marker=dict(
                        size=4 if len(shown) < 20_000 else 2,
                        cmin=0,
                        cmax=1,
                        colorscale=[[0, _CLEAN_BLUE], [1, _FLAG_RED]],
                    ),
                    customdata=shown,
                    selected=dict(marker=dict(size=8, opacity=1.0)),
                    unselected=dict(marker=dict(opacity=0.15)),
                    **_hover_names(self.session.dataset.ids, shown),
                )
            ],
            layout=dict(
                width=_MAP_WIDTH,
                height=400,
                margin=_MARGIN,
                modebar=_MODEBAR,
                # from the figure's left edge, not the plot's: the whole width for the title
                title=dict(font=dict(size=13), x=0.01, xanchor="left", xref="container"),
                # hover only right next to a point: a lasso drawn through the points is not
                # covered by the tooltips of the points it passes
                hoverdistance=3,
                xaxis=dict(title="variability (std over epochs of P(given label))"),
                yaxis=dict(title="confidence (mean P(given label))", range=[-0.02, 1.02]),
                dragmode="lasso",
                plot_bgcolor="white",
            ),
        )
        fig.update_xaxes(showgrid=True, gridcolor="#eee")
        fig.update_yaxes(showgrid=True, gridcolor="#eee")
        self.data_map = fig
        self._color_data_map()
        self._highlight()
        self.data_map = figure_widget(fig)
        trace = self.data_map.data[0]
        trace.on_selection(self._on_map_selection)
        trace.on_deselect(lambda tr, pts: self._publish(np.empty(0, np.int64)))
        return self.data_map

    # --- drawing -------------------------------------------------------------------------------
    def _draw_means(self) -> None:
        flagged, clean = self.group_means()
        epochs = np.arange(1, len(flagged) + 1)
        n_flag = int(self.session.flags.sum())
        with self.lines.batch_update():
            self.lines.data[1].update(x=epochs, y=flagged, name=f"mean of {n_flag:,} flagged")
            self.lines.data[2].update(
                x=epochs, y=clean, name=f"mean of {len(self.session.flags) - n_flag:,} unflagged"
            )
            self.lines.layout.yaxis.title = _KIND_TITLES[self._kind]

    def _draw_selected(self) -> None:
        traj = self.session.dataset.trajectories[self._kind]
        drawn = self.drawn_samples()
        e = traj.shape[1]
        # One trace: each curve is E points followed by a None gap.
        xs = np.tile(np.append(np.arange(1, e + 1, dtype=float), np.nan), len(drawn))
        ys = np.hstack([traj[drawn].astype(np.float64), np.full((len(drawn), 1), np.nan)])
        total = self.session.selection.size
        if total == 0:
            title = "Select samples in any view to draw their curves"
        elif total > len(drawn):
            title = f"{len(drawn):,} of {total:,} selected samples drawn (first {self.max_lines})"
        else:
            title = f"{total:,} selected sample{'s' if total != 1 else ''}"
        with self.lines.batch_update():
            # Fainter as they grow in number, so the group means stay readable.
            alpha = float(np.clip(2.5 / np.sqrt(max(len(drawn), 1)), 0.08, 0.5))
            self.lines.data[0].update(
                x=xs, y=ys.reshape(-1), line_color=f"rgba(60,60,60,{alpha:.2f})"
            )
            self.lines.layout.title = dict(
                text=title, font=dict(size=13), x=0.0, xanchor="left", xref="paper"
            )
        self._note.value = (
            f'<span style="line-height:32px;color:#444">{self.session.selection.size:,} '
            f"selected · curves capped at {self.max_lines}</span>"
        )

    def _color_data_map(self) -> None:
        if self.data_map is not None:
            fig = self.data_map
            fig.data[0].marker.color = self.session.flags[self._shown].astype(np.int8)
            fig.layout.title.text = (
                f"Data map: red = flagged by {plotly_text(self.session.active)}{self._subset}"
            )

    def _highlight(self) -> None:
        sel = self.session.selection
        pos = self._position[sel]
        pos = pos[pos >= 0]
        self.data_map.data[0].selectedpoints = pos if sel.size else None

    # --- session events ------------------------------------------------------------------------
    def _on_selection(self, session) -> None:
        self._draw_selected()
        if self.data_map is not None and not self._publishing:
            self._highlight()

    def _on_flags(self, session) -> None:
        self._draw_means()
        self._color_data_map()

    def _on_map_selection(self, trace, points, selector) -> None:
        inds = np.asarray(points.point_inds)
        if inds.size and (
            inds.ndim != 1
            or inds.dtype.kind not in "iu"
            or inds.min() < 0
            or inds.max() >= len(self._shown)
        ):
            ignore_message(
                "TrajectoryView", "a data-map selection of points it does not draw", inds
            )
            self._highlight()  # the browser shows the session's selection again
            return
        self._publish(self._shown[inds.astype(np.int64)])

    def _publish(self, indices) -> None:
        self._publishing = True  # the data map already shows its own selection
        try:
            self.session.select(indices, source=_SOURCE)
        finally:
            self._publishing = False


def _hover_names(ids, shown: np.ndarray) -> dict:
    """The data map's hover: the sample's id with its position beside it, or its position
    alone when the dataset has no ids."""
    tail = "<br>variability %{x:.3f}<br>confidence %{y:.3f}<extra></extra>"
    if ids is None:
        return {"hovertemplate": "sample %{customdata}" + tail}
    return {
        "text": [plotly_text(str(v)) for v in ids[shown].tolist()],
        "hovertemplate": "sample %{text} (#%{customdata})" + tail,
    }
