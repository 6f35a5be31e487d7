"""The detector panel: pick a detector, set its threshold, and, when the truth is known, see how
good the flagged set is.

Threshold by noise score (higher = more likely mislabeled: flag every score at or above the
value), by top-k, by the detector's own default rule, or "as many as the estimated number of
label errors". The flagged count updates live. With known true labels: precision, recall and F1
at the threshold, the precision-recall curves of every detector in one chart, and how the
detectors' flagged sets overlap. The numbers come from :mod:`workbench.analysis.metrics`; this module
only displays them.
"""

from __future__ import annotations

import html

import numpy as np

from workbench.analysis.detectors.registry import detector_kind, label_error_detectors
from workbench.ui._common import View, figure_widget, ignore_message, plotly_text

__all__ = ["DetectorPanel", "overlap_flags"]

_SOURCE = "panel"
# Colours of the highlighted precision-recall curves (Okabe-Ito, colour-blind safe), best first.
_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]
_GREY, _ACTIVE_GREY = "#b0b0b0", "#333333"
_BINS = 60  # bars of the score histogram
_MODE_LABELS = {
    "default": "detector's rule",
    "score": "score ≥",
    "top_k": "top k",
    "estimated": "estimated errors",
}


def overlap_flags(session, names, rule: str | None = None) -> dict[str, np.ndarray]:
    """Each named detector's flagged set, compared at ``rule``.

    The active detector's set is ``session.flags`` (its rule as set in the panel). Another
    detector flags by its own default rule (``rule="own"``), or its own top k with k = the
    number the active detector flags (``rule="count"``: scores of different detectors live on
    different scales, so an equal budget is a fair comparison; detectors that rank the samples
    alike then flag the same samples). ``rule=None``: "own" while the session flags by the
    default rule, "count" otherwise.
    """
    if rule not in (None, "own", "count"):
        raise ValueError(f"rule must be 'own', 'count' or None, found {rule!r}.")
    mode, _ = session.threshold
    if rule is None:
        rule = "own" if mode == "default" else "count"
    k = int(session.flags.sum())
    out = {}
    for name in names:
        res = session.results[name]
        if name == session.active:
            out[name] = session.flags
        elif rule == "own":
            out[name] = res.flags
        else:
            flags = np.zeros(len(res.scores), dtype=bool)
            flags[res.top_k(k)] = True
            out[name] = flags
    return out


def _nan_last(ap: float) -> tuple[bool, float]:
    """Sort key: highest average precision first, NaN last."""
    return (ap != ap, -ap if ap == ap else 0.0)


def _downsample(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= n:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, n).round().astype(np.int64))
    return x[keep], y[keep]


def _prf(flags: np.ndarray, is_noisy: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall, F1 (NaN precision when nothing is flagged)."""
    from workbench.analysis.metrics import precision_recall_f1

    p, r, f = precision_recall_f1(flags, is_noisy)
    return float(p), float(r), float(f)


class DetectorPanel(View):
    """Detector choice, threshold control, flagged count and (with truth) detector quality.

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    curve_points : int, default=1000
        At most this many points per precision-recall curve are drawn.
    overlap_detectors : list of str, optional
        Detectors compared in the overlap table (default: up to four, the active one first).
    highlight : int, default=5
        The precision-recall chart colours this many detectors, the best by average
        precision, plus the active one; the others are thin grey lines. The legend lists every
        detector with its average precision, best first.
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.
    """

    def __init__(
        self,
        session_or_dataset,
        *,
        curve_points: int = 1000,
        overlap_detectors=None,
        highlight: int = 5,
        **session_options,
    ):
        super().__init__(session_or_dataset, **session_options)
        if isinstance(curve_points, bool) or not isinstance(curve_points, int) or curve_points < 10:
            raise ValueError(f"curve_points must be an int >= 10, found {curve_points!r}.")
        if isinstance(highlight, bool) or not isinstance(highlight, int) or highlight < 1:
            raise ValueError(f"highlight must be a positive int, found {highlight!r}.")
        names = list(self.session.results)
        unknown = [n for n in overlap_detectors or [] if n not in names]
        if unknown:
            raise ValueError(
                f"overlap_detectors {unknown} are not in this session's detectors {names}."
            )
        analysis = self.session.analysis
        self.truth_reason = analysis.quality_reason
        self._known = analysis.known_truth if self.truth_reason is None else None
        if overlap_detectors is None:  # the active one and the three best others
            others = [n for n in label_error_detectors(names) if n != self.session.active]
            if self._known is not None:
                others.sort(key=lambda n: _nan_last(self.average_precision(n)))
            overlap_detectors = [self.session.active] + others[:3]
        self._curve_points, self._overlap = curve_points, list(overlap_detectors)
        self._compare = "own"
        self._syncing = False
        self.figure = None
        self.histogram = None
        self._colours: dict[str, str] = {}
        self._highlight = highlight

    # --- numbers -------------------------------------------------------------------------------
    @property
    def has_quality(self) -> bool:
        """Whether precision / recall can be shown (true labels known, some of them noisy)."""
        return self._known is not None

    def quality(self) -> dict[str, float] | None:
        """Precision, recall and F1 of the current flags on the samples with known truth."""
        if self._known is None:
            return None
        known, noisy = self._known, self.session.dataset.is_noisy
        p, r, f = _prf(self.session.flags[known], noisy[known])
        return {
            "precision": p,
            "recall": r,
            "f1": f,
            "n_flagged": int(self.session.flags.sum()),
            "n_noisy": int(noisy[known].sum()),
            "n_found": int((self.session.flags & noisy)[known].sum()),
        }

    def curve(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(recall, precision) of detector ``name`` over all thresholds, on known samples."""
        if self._known is None:
            raise ValueError(self.truth_reason)
        scores = self.session.results[name].scores
        precision, recall = self.session.analysis.pr_curve(name, scores)
        return recall, precision

    def overlap(self):
        """``workbench.analysis.metrics.flag_overlap`` of the compared detectors' flagged sets."""
        from workbench.analysis.metrics import flag_overlap

        return flag_overlap(overlap_flags(self.session, self._overlap, self._compare))

    # --- building ------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w

        s, ds = self.session, self.session.dataset
        live = ds.n_samples <= 200_000
        self.detector = w.Dropdown(
            options=list(s.results),
            value=s.active,
            description="Detector",
            layout=w.Layout(width="320px"),
        )
        unavailable = "".join(
            f"<li><b>{html.escape(n)}</b>: {html.escape(why)}</li>"
            for n, why in sorted(s.unavailable.items())
        )
        self.unavailable = w.HTML(
            f"<details><summary>{len(s.unavailable)} detector(s) cannot run on this dataset"
            f'</summary><ul style="margin:2px 0">{unavailable}</ul></details>'
            if s.unavailable
            else ""
        )
        modes = ["default", "score", "top_k"] + (["estimated"] if ds.pred_probs is not None else [])
        self.mode = w.ToggleButtons(
            options=[(_MODE_LABELS[m], m) for m in modes],
            value=s.threshold[0],
            description="Flag by",
        )
        self.score = w.FloatSlider(
            description="score ≥",
            continuous_update=live,
            readout_format=".4g",
            layout=w.Layout(width="480px"),
        )
        self.top_k = w.IntSlider(
            description="top k",
            min=0,
            max=ds.n_samples,
            continuous_update=live,
            layout=w.Layout(width="480px"),
        )
        self.count = w.HTML()
        self.per_class_html = w.HTML()
        self.quality_html = w.HTML()
        self.detector.observe(self._on_detector, names="value")
        self.mode.observe(self._on_mode, names="value")
        self.score.observe(self._on_score, names="value")
        self.top_k.observe(self._on_top_k, names="value")
        self.overlap_select = w.SelectMultiple(
            options=list(s.results),
            value=self._overlap,
            description="Compare",
            rows=min(5, len(s.results)),
        )
        self.overlap_select.observe(self._on_overlap_select, names="value")
        self.compare_rule = w.ToggleButtons(
            options=[("each its own rule", "own"), ("the same number flagged", "count")],
            value=self._compare,
            description="Compare at",
            tooltips=[
                "The active detector as set above; each other by its own default rule",
                "Each detector's top k, k = the number the active detector flags",
            ],
            style={"button_width": "180px"},
        )
        self.compare_rule.observe(self._on_compare_rule, names="value")
        self.overlap_html = w.HTML()
        children = [
            w.HBox([self.detector]),
            self.unavailable,
            self.mode,
            self.score,
            self.top_k,
            self.count,
            self.histogram_widget(),
            self.per_class_html,
            self.quality_html,
        ]
        if self._known is not None:
            self.figure = self._make_figure()
            children.append(self.figure)
        else:
            children.append(
                w.HTML(f'<div style="color:#666">{html.escape(self.truth_reason)}</div>')
            )
        if len(s.results) > 1:
            children += [
                w.HTML("<b>Overlap of flagged sets</b>"),
                self.overlap_select,
                self.compare_rule,
                self.overlap_html,
            ]
        self._subscribe("flags", lambda _: self._sync())
        self._widget = w.VBox(children)
        self._sync()
        return self._widget

    def average_precision(self, name: str) -> float:
        """Average precision of detector ``name`` on the samples with known truth."""
        if self._known is None:
            raise ValueError(self.truth_reason)
        return self.session.analysis.average_precision(name, self.session.results[name].scores)

    def highlighted(self) -> list[str]:
        """The detectors drawn in colour in the precision-recall chart: the ``highlight`` best
        by average precision (label-error detectors only: an ambiguity or outlier score is drawn, not
        ranked), plus the active one; the others are drawn thin and grey."""
        top = self._best()
        return top + ([self.session.active] if self.session.active not in top else [])

    def _best(self) -> list[str]:
        ranked = sorted(self.session.results, key=lambda n: _nan_last(self.average_precision(n)))
        return label_error_detectors(ranked)[: self._highlight]

    def _line_style(self, name: str) -> dict:
        active = name == self.session.active
        colour = self._colours.get(name, _ACTIVE_GREY if active else _GREY)
        return dict(color=colour, width=3 if active else 1.8 if name in self._colours else 1.0)

    def _make_figure(self):
        import plotly.graph_objects as go

        names = list(self.session.results)
        ranked = sorted(names, key=lambda n: _nan_last(self.average_precision(n)))
        self._colours = {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(self._best())}
        # The widget starts from the finished figure: traces added to a FigureWidget before it is
        # first drawn never reached the browser (an empty chart in JupyterLab).
        fig = go.Figure()
        for name in names:
            recall, precision = _downsample(*self.curve(name), self._curve_points)
            # Plain lists: plotly's FigureWidget drops binary-encoded (numpy) trace data when
            # it is shown inside a container widget (seen with plotly 7.1 in JupyterLab 4.6).
            recall, precision = recall.tolist(), precision.tolist()
            ap = self.average_precision(name)
            coloured = name in self._colours or name == self.session.active
            # Detector names are shown literally (plotly would read markup in them).
            label = plotly_text(
                name if detector_kind(name) == "label_error" else f"{name} ({detector_kind(name)})"
            )
            fig.add_scatter(
                x=recall,
                y=precision,
                mode="lines",
                name=f"{label} · AP {ap:.2f}" if ap == ap else f"{label} · AP –",
                meta=name,
                legendrank=ranked.index(name) + 1,
                line=self._line_style(name),
                opacity=1.0 if coloured else 0.55,
                hovertemplate=(
                    f"{plotly_text(name)} (AP {ap:.3f})<br>recall %{{x:.3f}}<br>"
                    "precision %{y:.3f}"
                    "<extra></extra>"
                ),
            )
        noisy = self.session.dataset.is_noisy[self._known]
        fig.add_scatter(
            x=[0, 1],
            y=[noisy.mean()] * 2,
            mode="lines",
            name=f"random flags · AP {noisy.mean():.2f}",
            meta="random flags",
            legendrank=len(names) + 1,
            line=dict(dash="dot", color="grey"),
            hoverinfo="skip",
        )
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            name="current threshold",
            meta="current threshold",
            legendrank=0,
            marker=dict(size=12, color="black", symbol="x"),
        )
        legend_height = 22 * (len(names) + 2)
        fig.update_layout(
            height=max(420, min(legend_height + 90, 640)),
            width=760,  # with its legend, within a laptop's notebook column
            margin=dict(l=60, r=20, t=56, b=50),
            title=dict(
                text="Precision-recall on the samples with known truth<br><span style='font-size:12px;color:#444'>colour: the "
                f"{min(self._highlight, len(names))} best by average precision (AP) and the "
                "active detector (thick); grey: the others</span>",
                x=0.0,
                xanchor="left",
                font_size=14,
            ),
            xaxis=dict(
                title="recall (share of mislabeled samples flagged)",
                range=[0, 1.02],
                constrain="domain",
            ),
            yaxis=dict(
                title="precision (share of flags that are mislabeled)",
                range=[0, 1.02],
                scaleanchor="x",
                constrain="domain",
            ),
            legend=dict(
                title=dict(text="detector · AP (best first)", font_size=11),
                font=dict(size=11),
                x=1.02,
                xanchor="left",
                y=1.0,
                yanchor="top",
                tracegroupgap=0,
                itemclick="toggle",
            ),
        )
        return figure_widget(fig)

    # --- keeping widgets and session in step ---------------------------------------------------
    def _sync(self) -> None:
        """Bring every control and number in line with the session."""
        if self._widget is None:
            return
        s = self.session
        scores = s.result.scores
        finite = scores[np.isfinite(scores)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        mode, value = s.threshold
        n_flag = int(s.flags.sum())
        self._syncing = True
        try:
            self.detector.value = s.active
            self.mode.value = mode
            # widen before narrowing so min <= max holds at every step
            self.score.max = max(self.score.max, hi)
            self.score.min, self.score.max = lo, hi
            self.score.step = (hi - lo) / 1000
            self.score.value = float(value) if mode == "score" else self._score_for(n_flag)
            self.top_k.value = int(value) if mode == "top_k" else n_flag
            self.score.disabled = mode != "score"
            self.top_k.disabled = mode != "top_k"
        finally:
            self._syncing = False
        n = s.dataset.n_samples
        text = f"<b>{n_flag:,}</b> flagged of {n:,} ({n_flag / n:.1%})"
        if mode == "estimated" or s.dataset.pred_probs is not None and mode != "default":
            try:
                text += f" · estimated label errors: {s.estimated_num_errors():,}"
            except (ImportError, ValueError):
                pass
        self.count.value = text
        self._show_histogram()
        self._show_quality()
        self._show_overlap()

    # --- score histogram: the guide when the truth is unknown ------------------------------------
    def histogram_counts(self, bins: int = _BINS):
        """The active detector's finite scores in ``bins`` equal bins.

        Returns
        -------
        edges : ndarray of shape (bins + 1,)
        flagged, unflagged : ndarray of shape (bins,), int
            How many samples of each bin are flagged at the current threshold, and not.
        """
        s = self.session
        scores = s.result.scores
        ok = np.isfinite(scores)
        finite = scores[ok]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, bins + 1)
        flags = s.flags[ok]
        flagged = np.histogram(finite[flags], bins=edges)[0]
        unflagged = np.histogram(finite[~flags], bins=edges)[0]
        return edges, flagged, unflagged

    def flagged_per_class(self) -> dict[str, tuple[int, int]]:
        """Per given class: (flagged, samples) at the current threshold."""
        ds = self.session.dataset
        k = ds.n_classes
        if ds.is_multilabel:  # label sets (N, K): per class, the samples given it
            flagged = ds.labels[self.session.flags].sum(axis=0)
            total = ds.labels.sum(axis=0)
        else:
            flagged = np.bincount(ds.labels[self.session.flags], minlength=k)
            total = np.bincount(ds.labels, minlength=k)
        return {
            str(name): (int(f), int(t))
            for name, f, t in zip(ds.class_names, flagged, total, strict=True)
        }

    def histogram_widget(self):
        """The histogram of the active detector's scores, flagged samples in red, with the
        threshold as a line that can be dragged (or a bar clicked) to set it."""
        if self.histogram is None:
            import plotly.graph_objects as go

            fig = go.Figure(
                data=[
                    go.Bar(x=[], y=[], name="flagged", marker_color="#d62728"),
                    go.Bar(x=[], y=[], name="not flagged", marker_color="#9ecae1"),
                ],
                layout=dict(
                    barmode="stack",
                    bargap=0.02,
                    width=640,
                    height=260,
                    margin=dict(l=56, r=36, t=40, b=44),
                    modebar=dict(orientation="v"),
                    plot_bgcolor="white",
                    legend=dict(orientation="h", x=1.0, xanchor="right", y=1.12),
                    yaxis=dict(title="samples", gridcolor="#eee"),
                    shapes=[
                        dict(
                            type="line",
                            xref="x",
                            yref="paper",
                            x0=0,
                            x1=0,
                            y0=0,
                            y1=1,
                            line=dict(color="black", width=2, dash="dash"),
                            editable=True,
                        )
                    ],
                ),
            )
            self._draw_histogram(fig)
            self.histogram = figure_widget(fig)
            # the threshold line can be dragged: plotly reports where it was dropped
            self.histogram._config = {"edits": {"shapePosition": True}}
            self.histogram.observe(self._on_histogram_relayout, names="_js2py_relayout")
            for trace in self.histogram.data:
                trace.on_click(self._on_histogram_click)
        return self.histogram

    def _histogram_state(self) -> dict:
        """What the histogram shows now: bar positions and heights, the line, the title."""
        s = self.session
        edges, flagged, unflagged = self.histogram_counts()
        mode, value = s.threshold
        k = int(s.flags.sum())
        line = float(value) if mode == "score" else self._score_for(k) if k else edges[-1]
        return {
            "x": ((edges[:-1] + edges[1:]) / 2).tolist(),
            "width": float(edges[1] - edges[0]),
            "y": [flagged.tolist(), unflagged.tolist()],
            "line": float(line),
            "title": f"Scores of {plotly_text(s.active)} (higher = more likely mislabeled)"
            "<br><span style='font-size:12px;color:#444'>drag the dashed line or click a bar "
            "to flag every score at or above it</span>",
        }

    def _draw_histogram(self, fig) -> None:
        state = self._histogram_state()
        for trace, y in zip(fig.data, state["y"], strict=True):
            trace.update(x=state["x"], y=y, width=state["width"])
        fig.layout.shapes[0].update(x0=state["line"], x1=state["line"])
        fig.layout.title = dict(text=state["title"], x=0.0, xanchor="left", font=dict(size=13))
        fig.layout.xaxis.title = "noise score"

    def _show_histogram(self) -> None:
        if self.histogram is not None:
            # One batch: unbatched updates of this FigureWidget kept it from being drawn in
            # JupyterLab (plotly 7.1).
            with self.histogram.batch_update():
                self._draw_histogram(self.histogram)
            _keep_start_state(self.histogram)
        per_class = self.flagged_per_class()
        cells = "".join(
            f'<span style="white-space:nowrap"><b>{html.escape(name)}</b> {f:,}/{t:,}</span> '
            for name, (f, t) in per_class.items()
        )
        self.per_class_html.value = (
            '<div style="font-size:12px;color:#333;max-width:900px">Flagged per given class '
            f"(flagged/samples): {cells}</div>"
        )

    def _set_score_threshold(self, x) -> None:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x):
            ignore_message("DetectorPanel", "a threshold that is not a finite number", x)
            return
        self.session.set_threshold("score", float(x))

    def _on_histogram_relayout(self, change) -> None:
        message = change["new"] or {}
        data = message.get("relayout_data") if isinstance(message, dict) else None
        if isinstance(data, dict) and "shapes[0].x0" in data:
            self._set_score_threshold(data["shapes[0].x0"])

    def _on_histogram_click(self, trace, points, state) -> None:
        if points.xs:
            edges = self.histogram_counts()[0]
            half = float(edges[1] - edges[0]) / 2
            x = points.xs[0]
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                self._set_score_threshold(x - half)  # the bar's left edge: the bar is flagged

    def _score_for(self, k: int) -> float:
        """The score threshold that flags the current top ``k``."""
        res = self.session.result
        if k <= 0:
            return float(self.score.max)
        return float(res.scores[res.top_k(k)[-1]])

    def _show_quality(self) -> None:
        q = self.quality()
        if q is None:
            self.quality_html.value = ""
            return

        def fmt(v):
            return "–" if v != v else f"{v:.3f}"

        self.quality_html.value = (
            f"precision <b>{fmt(q['precision'])}</b> · recall <b>{fmt(q['recall'])}</b> · "
            f"F1 <b>{fmt(q['f1'])}</b> · {q['n_found']:,} of {q['n_noisy']:,} known mislabeled "
            "samples flagged"
        )
        s = self.session
        if self.figure is not None:
            # One trace per update: plotly's FigureWidget mishandles a batch that restyles
            # different properties of several traces (the other traces lose their data).
            self.figure.data[-1].update(x=[q["recall"]], y=[q["precision"]])
            for trace in self.figure.data[:-2]:
                style = self._line_style(trace.meta)
                if (trace.line.width, trace.line.color) != (style["width"], style["color"]):
                    trace.line.update(style)
                opacity = 1.0 if trace.meta in self._colours or trace.meta == s.active else 0.55
                if trace.opacity != opacity:
                    trace.opacity = opacity

    def _show_overlap(self) -> None:
        if len(self.session.results) < 2:
            return
        if len(self._overlap) < 2:
            self.overlap_html.value = "Pick two or more detectors to compare."
            return
        self.overlap_html.value = self._rules_html() + _overlap_html(self.overlap(), self._overlap)

    def _rules_html(self) -> str:
        """Which rule each compared detector flags by, and why two may flag the same."""
        s = self.session
        mode, value = s.threshold
        k = int(s.flags.sum())
        active_rule = {
            "default": "its default rule",
            "score": f"score ≥ {value:.4g}" if value is not None else "score",
            "top_k": f"its top {value}",
            "estimated": "as many as the estimated number of label errors",
        }[mode]
        items = []
        for name in self._overlap:
            if name == s.active:
                rule = f"{active_rule} (the detector chosen above)"
            elif self._compare == "own":
                rule = f"its default rule ({int(s.results[name].flags.sum()):,} flagged)"
            else:
                rule = f"its {k:,} highest scores"
            items.append(f"<li><b>{html.escape(name)}</b>: {html.escape(rule)}</li>")
        same = []
        if self._compare == "count":
            ranks = {n: np.argsort(-s.results[n].scores, kind="stable")[:k] for n in self._overlap}
            names = list(ranks)
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    if np.array_equal(np.sort(ranks[a]), np.sort(ranks[b])):
                        same.append(f"{html.escape(a)} and {html.escape(b)}")
        note = (
            '<div style="color:#555">Same flags at the same count: '
            + "; ".join(same)
            + " put the same samples first (their scores rank alike); compare them at "
            "their own rules to see where they differ.</div>"
            if same
            else ""
        )
        how = "each detector's own rule" if self._compare == "own" else "the same number flagged"
        return (
            f'<div style="font-size:12px">Compared at <i>{how}</i>:'
            f'<ul style="margin:2px 0">{"".join(items)}</ul>{note}</div>'
        )

    def _on_detector(self, change) -> None:
        if self._syncing:
            return
        s = self.session
        mode, _ = s.threshold
        k = int(s.flags.sum())
        s.set_detector(change["new"])
        if mode == "score":  # keep the number flagged: scores of detectors differ in scale
            s.set_threshold(
                "score", self._score_for(k) if k else float(np.nanmax(s.result.scores)) + 1.0
            )

    def _on_mode(self, change) -> None:
        if self._syncing:
            return
        s, mode = self.session, change["new"]
        k = int(s.flags.sum())
        if mode == "score":
            s.set_threshold("score", self._score_for(k) if k else float(self.score.max))
        elif mode == "top_k":
            s.set_threshold("top_k", k)
        else:
            s.set_threshold(mode)

    def _on_score(self, change) -> None:
        # Only in score mode: a browser slider echoes its value back (rounded to its step)
        # when it renders, which must not switch the flag rule.
        if not self._syncing and self.session.threshold[0] == "score":
            self.session.set_threshold("score", float(change["new"]))

    def _on_top_k(self, change) -> None:
        if not self._syncing and self.session.threshold[0] == "top_k":
            self.session.set_threshold("top_k", int(change["new"]))

    def _on_overlap_select(self, change) -> None:
        self._overlap = list(change["new"])
        self._show_overlap()

    def _on_compare_rule(self, change) -> None:
        self._compare = change["new"]
        self._show_overlap()


def _keep_start_state(fig) -> None:
    """Make the figure's current traces and layout what a browser draws when it meets the
    widget anew (a page reload, the notebook opened again, a second window).

    plotly's FigureWidget sends each change as a message to the browsers that have it and
    refreshes the state a new browser starts from (``_widget_data``, ``_widget_layout``) only
    when it is built or displayed by itself: shown inside the workbench, a reloaded page drew
    the histogram as it was built (old bars and line), and a later change, which sends only
    what differs, left the bars of an unchanged trace old.
    """
    from copy import deepcopy

    fig._widget_data = deepcopy(fig._data)
    fig._widget_layout = deepcopy(fig._layout_obj._props)


def _overlap_html(report, names, *, max_rows: int = 16) -> str:
    """Pairwise overlap (count, Jaccard) and an UpSet-style list of the flag combinations."""
    inter, jac, combos = report.intersection, report.jaccard, report.combinations
    esc = [html.escape(str(n)) for n in names]
    cell = 'style="padding:1px 6px;text-align:right"'
    head = "".join(f"<th {cell}>{n}</th>" for n in esc)
    rows = []
    for i, a in enumerate(names):
        tds = []
        for j, b in enumerate(names):
            if i == j:
                tds.append(f"<td {cell}><b>{int(inter.loc[a, b]):,}</b></td>")
            else:
                jv = jac.loc[a, b]
                jtext = "–" if jv != jv else f"{jv:.2f}"
                tds.append(
                    f'<td {cell} title="Jaccard {jtext}">{int(inter.loc[a, b]):,} '
                    f'<span style="color:#888">({jtext})</span></td>'
                )
        rows.append(f"<tr><th {cell}>{esc[i]}</th>{''.join(tds)}</tr>")
    pairwise = (
        f'<table class="wb-overlap" style="border-collapse:collapse;font-size:12px">'
        f"<tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )
    flagged = combos[combos["n_detectors"] > 0].head(max_rows)
    biggest = max(int(flagged["n_samples"].max()), 1) if len(flagged) else 1
    lines = []
    for _, row in flagged.iterrows():
        dots = "".join(
            f'<span title="{n}" style="color:{"#b3261e" if row[name] else "#ccc"}">●</span>'
            for n, name in zip(esc, names, strict=True)
        )
        width = int(160 * row["n_samples"] / biggest)
        lines.append(
            f'<tr><td style="letter-spacing:2px">{dots}</td><td {cell}>{int(row["n_samples"]):,}'
            f'</td><td><div style="background:#b3261e;height:8px;width:{width}px"></div></td></tr>'
        )
    none = combos.loc[combos["n_detectors"] == 0, "n_samples"]
    upset = (
        '<div style="margin-top:6px"><i>Flagged by exactly these detectors</i> '
        f"(dots in the order {', '.join(esc)}):</div>"
        f'<table style="font-size:12px">{"".join(lines)}</table>'
        f'<div style="color:#666">{int(none.sum()) if len(none) else 0:,} samples flagged by '
        "none of them.</div>"
    )
    return (
        "<div><i>Flagged by both</i> (diagonal: by each; Jaccard in brackets)</div>"
        + pairwise
        + upset
    )
