"""The workbench: every view on one linked Session in one notebook cell.

A selection made in any view (lasso on the map, a matrix cell, the data map, the queue's
"show in all views") is the session's selection, so every other view shows it; "Clear
selection" clears it everywhere. Views whose signals the dataset lacks are left out, with one
sentence each saying why.
"""

from __future__ import annotations

import html
import threading

import anywidget
import traitlets as t

from workbench.ui._common import View, as_session, asset_path
from workbench.ui.decisions_view import DecisionsView
from workbench.ui.grid import SelectionGrid
from workbench.ui.map import EmbeddingMap
from workbench.ui.matrix import MatrixView
from workbench.ui.multilabel import LabelSetMatricesView, LabelSetReview
from workbench.ui.panel import DetectorPanel
from workbench.ui.queue import ReviewQueue
from workbench.ui.trajectories import TrajectoryView

__all__ = ["Workbench", "open_workbench", "show"]

_SOURCE = "app"
# Map beside the tabs: the least width of each (CSS pixels; with the 12 px gap they fit the
# smallest output area that puts them side by side, 1400 px by default)
_SIDE_MAP_MIN, _SIDE_TABS_MIN, _SIDE_GAP = 400, 850, 12


class WidthProbe(anywidget.AnyWidget):
    """Reports the width of the notebook's output area in CSS pixels (``width``, 0 until the
    browser has drawn it); draws nothing."""

    _esm = asset_path("width.js")
    _css = asset_path("workbench.css")  # the workbench's layout rules, loaded with the probe
    width = t.Int(0).tag(sync=True)


class Workbench(View):
    """All workbench views composed on one Session.

    Parameters
    ----------
    dataset_or_session : Dataset, Session, AuditResult or BoundedView
        A :class:`workbench.sharded.BoundedView` (a bounded view of a sharded audit) opens on
        its in-memory samples, with the whole dataset's counts in the header and the panel.
    decisions_path : str, path or None, default="auto"
        Where decisions are stored as they are made and reloaded from after a kernel restart:
        ``"auto"`` (the dataset's own SQLite store under ``workbench-output/decisions/``, made
        at the first decision), ``"decisions.db"`` (SQLite) or ``.json`` / ``.csv`` /
        ``.parquet``; None keeps them in memory. Only with a Dataset: a Session has its own.
    decisions_url : str, optional
        A PostgreSQL store shared by a team (``"postgresql://user@host/db"``). Only with a
        Dataset.
    results : dict of name -> DetectorResult, optional
        Precomputed detector results (default: every detector that can run). Only with a Dataset.
    side_by_side_from : int, default=1400
        From this output-area width (CSS pixels, reported by the browser) the map stands on
        the left and the other views in tabs on the right; narrower, the map is a tab too.
        At least 1262 (the map 400 px, the tabs 850 px, 12 px between them).
    map_options, panel_options, queue_options, matrix_options, trajectory_options,
    decisions_options : dict, optional
        Keyword options of each view (e.g. ``map_options={"color_by": "flagged"}``).

    Attributes
    ----------
    session : Session
    map, matrix, trajectories : views, or None when the dataset lacks their signals
    grid : SelectionGrid
        The selected samples' previews, under the map; a click moves the queue there.
    panel : DetectorPanel
    queue : ReviewQueue, or LabelSetReview on multi-label data (the Matrices tab then holds
        LabelSetMatricesView; see :mod:`workbench.ui.multilabel`)
    decisions : DecisionsView
    missing : dict of str -> str
        Views left out and why.
    whole : dict or None
        Whole-dataset counts of a sharded audit (``BoundedView.counts``: ``n_samples``,
        ``n_shown``, ``flagged`` per rule, ``per_class``, ``flagged_per_class``, ``primary``)
        when opened on a bounded view; the views themselves show the view's samples.
    preparing : threading.Thread or None
        Started when the workbench is first shown: :meth:`prepare` in the background, so
        that the Detectors tab opens fast later. None until then.

    Examples
    --------
    >>> wb = Workbench(dataset, decisions_path="decisions.db")  # doctest: +SKIP
    >>> wb  # doctest: +SKIP
    """

    def __init__(
        self,
        dataset_or_session,
        *,
        decisions_path="auto",
        decisions_url=None,
        results=None,
        map_options=None,
        panel_options=None,
        queue_options=None,
        matrix_options=None,
        trajectory_options=None,
        decisions_options=None,
        side_by_side_from: int = 1400,
    ):
        if isinstance(side_by_side_from, bool) or not isinstance(side_by_side_from, int):
            raise TypeError(
                f"side_by_side_from must be an int (pixels), found {side_by_side_from!r}."
            )
        narrowest = _SIDE_MAP_MIN + _SIDE_GAP + _SIDE_TABS_MIN
        if side_by_side_from < narrowest:
            raise ValueError(
                f"side_by_side_from must be at least {narrowest} pixels (the map's {_SIDE_MAP_MIN}"
                f", the gap's {_SIDE_GAP} and the tabs' {_SIDE_TABS_MIN}), found "
                f"{side_by_side_from}."
            )
        self._side_by_side_from = side_by_side_from
        self.whole: dict | None = None
        if _is_bounded_view(dataset_or_session):
            self.whole = dict(dataset_or_session.counts)
            dataset_or_session = dataset_or_session.dataset
        options = {}
        if not (isinstance(decisions_path, str) and decisions_path == "auto"):
            options["decisions_path"] = decisions_path  # None: in memory
        if decisions_url is not None:
            options["decisions_url"] = decisions_url
        if results is not None:
            options["results"] = results
        super().__init__(as_session(dataset_or_session, **options))
        s, ds = self.session, self.session.dataset
        self.missing: dict[str, str] = {}
        self.panel = DetectorPanel(s, **(panel_options or {}))
        multilabel = ds.is_multilabel  # label sets: the views of workbench.ui.multilabel
        review = LabelSetReview if multilabel else ReviewQueue
        self.queue = review(s, **(queue_options or {}))
        self.decisions = DecisionsView(s, **(decisions_options or {}))
        map_options = dict(map_options or {})
        if ds.coords is None and ds.features is None and map_options.get("coords") is None:
            self.map = None
            self.missing["Map"] = (
                "No map: this dataset has neither 2-D coordinates nor "
                "features to project. " + (ds.why_missing(["coords", "features"]) or "")
            )
        else:
            self.map = EmbeddingMap(s, **map_options)
        # Under the map: the selected samples as previews; a click moves the queue there.
        self.grid = SelectionGrid(s, on_open=self.queue.go_to)
        matrices = LabelSetMatricesView if multilabel else MatrixView
        self.matrix = matrices(s, **(matrix_options or {}))
        if self.matrix.reason:
            self.missing["Matrices"] = self.matrix.reason
            self.matrix = None
        self.trajectories = TrajectoryView(s, **(trajectory_options or {}))
        if self.trajectories.reason:
            self.missing["Trajectories"] = self.trajectories.reason
            self.trajectories = None
        self.preparing: threading.Thread | None = None

    @property
    def views(self) -> dict[str, View]:
        """The views shown, by tab title, in tab order."""
        pairs = [
            ("Map", self.map),
            ("Detectors", self.panel),
            ("Review", self.queue),
            ("Matrices", self.matrix),
            ("Trajectories", self.trajectories),
            ("Decisions", self.decisions),
        ]
        return {title: view for title, view in pairs if view is not None}

    # --- building ------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w

        self.summary = w.HTML(_dom_classes=["wb-summary"])
        self.selection_html = w.HTML(_dom_classes=["wb-selection"])
        self.clear_button = w.Button(
            description="Clear selection", icon="times", tooltip="Clear the selection in every view"
        )
        self.clear_button.on_click(lambda _: self.session.clear_selection(source=_SOURCE))
        notes = "".join(
            f"<li><b>{html.escape(title)}</b>: {html.escape(why)}</li>"
            for title, why in self.missing.items()
        )
        self.notes = w.HTML(
            f'<ul class="wb-missing" style="margin:2px 0;color:#666">{notes}</ul>' if notes else ""
        )
        # Each tab is a box filled with its view when first shown: views are built (and their
        # browser models started) one at a time, so the first render stays fast and no view
        # computes anything before someone looks at it.
        views = self.views
        self._boxes = {title: w.Box(layout=w.Layout(width="100%")) for title in views}
        self.tabs = w.Tab(children=list(self._boxes.values()), titles=list(views), selected_index=0)
        self.tabs.observe(lambda change: self._fill(change["new"]), names="selected_index")
        self.tabs.observe(lambda _: self._tell_shown(), names="selected_index")
        self._fill(0)
        # Map beside the other views when the output area is wide enough, tabs otherwise: the
        # browser reports the width.
        self.body = w.Box(children=(self.tabs,), layout=w.Layout(width="100%"))
        self.width_probe = WidthProbe()
        self.width_probe.observe(lambda _: self._arrange(), names="width")
        self._subscribe("selection", lambda _: self._update_header())
        self._subscribe("flags", lambda _: self._update_header())
        self._subscribe("decisions", lambda _: self._update_header())
        self.summary.value = _summary_html(self.session, self.whole)
        self._update_header()
        self._tell_shown()
        # The first tab is built: what the Detectors tab needs is prepared while the user
        # looks at it (the first import of plotly's FigureWidget alone took 3-20 s).
        self.preparing = threading.Thread(
            target=self.prepare, name="workbench-prepare", daemon=True
        )
        self.preparing.start()
        return w.VBox([
            self.summary,
            w.HBox([self.selection_html, self.clear_button],
                   layout=w.Layout(align_items="center", grid_gap="12px")),
            self.notes,
            self.width_probe,
            self.body,
        ], layout=w.Layout(width="100%"), _dom_classes=["wb-workbench"])  # fmt: skip

    @property
    def side_by_side(self) -> bool:
        """Whether the map stands beside the other views (the output area is at least
        ``side_by_side_from`` pixels wide) rather than in its tab."""
        _ = self.widget
        return self.body.children[0] is not self.tabs

    def _arrange(self) -> None:
        """Move the map out of its tab to the left of the tabs, or back. The tabs keep their
        children (re-created views would redraw from scratch); the Map tab then says where
        the map went."""
        import ipywidgets as w

        wide = self.map is not None and self.width_probe.width >= self._side_by_side_from
        if wide == self.side_by_side:
            return
        map_box = self._boxes["Map"]
        if wide:
            self._fill_title("Map")
            self._map_content = map_box.children[0]
            # The tabs get at least what a laptop's notebook column gives them (850 px: every
            # view is made to fit it), the map the rest (its side panel goes below it where
            # the column is narrower than both: widgets/workbench.css).
            self._map_content.layout = w.Layout(flex="1 1 0", min_width=f"{_SIDE_MAP_MIN}px")
            self._map_content.add_class("wb-side-map")
            self.tabs.layout = w.Layout(flex="1 1 0", min_width=f"{_SIDE_TABS_MIN}px")
            map_box.children = (
                w.HTML(
                    '<div style="color:#666;padding:8px">The map is on the left while the '
                    "notebook is this wide.</div>"
                ),
            )
            if self.tabs.selected_index == 0:  # the Map tab: show the next one instead
                self.tabs.selected_index = 1
            self.body.children = (
                w.HBox(
                    [self._map_content, self.tabs],
                    layout=w.Layout(width="100%", grid_gap=f"{_SIDE_GAP}px"),
                ),
            )
        else:
            self._map_content.layout = w.Layout()
            self._map_content.remove_class("wb-side-map")
            self.tabs.layout = w.Layout()
            self.body.children = (self.tabs,)
            map_box.children = (self._map_content,)
        self._tell_shown()

    def _tell_shown(self) -> None:
        """Tell each view whether it is on screen: the selected tab's, and the map while it
        stands beside the tabs. A hidden view may put off its updates (the matrices do not
        redraw for each lasso on the map) until it is shown."""
        views = self.views
        titles = list(self.tabs.titles)
        index = self.tabs.selected_index
        current = titles[index] if index is not None and 0 <= index < len(titles) else None
        beside = self.body.children[0] is not self.tabs  # side_by_side, also while building
        for title, view in views.items():
            view.set_shown(title == current or (title == "Map" and beside))

    def header_summary(self) -> str:
        """The header's first line as plain text, e.g. ``"1,797 samples, 10 classes · 17
        detectors · 3 unavailable"`` (the names and the reasons open from the header)."""
        return _summary_text(self.session, self.whole)

    def _update_header(self) -> None:
        s = self.session
        n_sel, n_flag = len(s.selection), int(s.flags.sum())
        counts = s.decisions.counts()
        decided = sum(counts.values())
        flagged = f"{n_flag:,} flagged by <b>{html.escape(s.active)}</b>"
        if self.whole is not None:  # the whole dataset's count first, the view's after
            rule, n_whole = _whole_flagged(self.whole, s.active)
            flagged = (
                f"{n_whole:,} flagged by <b>{html.escape(rule)}</b> in all "
                f"{self.whole['n_samples']:,} samples ({n_flag:,} by "
                f"<b>{html.escape(s.active)}</b> among the {s.dataset.n_samples:,} shown)"
            )
        self.selection_html.value = f"{n_sel:,} selected · {flagged} · {decided:,} decided"
        self.clear_button.disabled = n_sel == 0

    def _fill(self, position) -> None:
        if position is None or position >= len(self.tabs.titles):
            return
        self._fill_title(self.tabs.titles[position])

    def _fill_title(self, title: str) -> None:
        import ipywidgets as w

        box = self._boxes[title]
        if not box.children:
            view = self.views[title]
            # A view can take seconds to build at a million samples: say so at once (this
            # message reaches the browser before the build starts), then show the view.
            box.children = (w.HTML(_building_html(title, self.session.dataset.n_samples)),)
            try:
                if view is self.map:
                    content = w.VBox([view.widget, self.grid.widget])
                elif view is self.panel and self.whole is not None:
                    content = w.VBox([w.HTML(_whole_html(self.whole, self.session)), view.widget])
                else:
                    content = view.widget
            except BaseException:
                box.children = ()
                raise
            box.children = (content,)

    def prepare(self) -> None:
        """Do now, before anyone opens the Detectors tab, the work its first opening would do:
        import plotly's ``FigureWidget`` (its first import reads JSON-schema grammars: 3 s on
        an idle machine, up to 20 s on a busy one) and compute every detector's ranking,
        average precision and precision-recall curve (the session caches them: 2-3 s at a
        million samples). Runs in a background thread when the workbench is first shown
        (``preparing``); no widget is touched. A failure here is left for the tab itself to
        report when it builds."""
        try:
            import plotly.graph_objects as go

            _ = go.FigureWidget
        except Exception:  # plotly missing or broken: the Detectors tab says so
            return
        s, panel = self.session, self.panel
        for name, result in list(s.results.items()):
            try:
                result.ranking()
                if panel.truth_reason is None:
                    panel.average_precision(name)
                    panel.curve(name)
            except Exception:  # the tab computes it again and reports it there
                continue

    @property
    def built(self) -> list[str]:
        """Titles of the tabs whose view has been built (shown at least once)."""
        _ = self.widget
        return [title for title, box in self._boxes.items() if box.children]

    def select_tab(self, title: str) -> None:
        """Bring the tab named ``title`` to the front (building its view if needed)."""
        titles = list(self.views)
        if title not in titles:
            raise ValueError(f"No tab {title!r}; tabs are {titles}.")
        _ = self.widget
        if title == "Map" and self.side_by_side:  # beside the tabs: always in view
            return
        self.tabs.selected_index = list(self.tabs.titles).index(title)

    def close(self) -> None:
        """Close every view and stop listening to the session."""
        for view in self.views.values():
            view.close()
        self.grid.close()
        super().close()


def _detector_count(session) -> str:
    n, missing = len(session.results), len(session.unavailable)
    return f"{n} detector{'s' * (n != 1)}" + (f" · {missing} unavailable" if missing else "")


def _dataset_size(session, whole=None) -> str:
    ds = session.dataset
    if whole is not None:  # a bounded view of a sharded dataset: the whole dataset's size
        n = int(whole["n_samples"])
        return (
            f"{n:,} sample{'s' * (n != 1)}, {ds.n_classes} classes ({ds.n_samples:,} shown: "
            "every flagged one and a class-stratified sample)"
        )
    return f"{ds.n_samples:,} sample{'s' * (ds.n_samples != 1)}, {ds.n_classes} classes"


def _summary_text(session, whole=None) -> str:
    return f"{_dataset_size(session, whole)} · {_detector_count(session)}"


def _is_bounded_view(obj) -> bool:
    """True for a :class:`workbench.sharded.BoundedView` (without importing Dask)."""
    if type(obj).__name__ != "BoundedView":
        return False
    from workbench.sharded.views import BoundedView

    return isinstance(obj, BoundedView)


#: The sharded rules (``filter_by``) behind the in-memory detector names.
_RULE_OF = {
    "cl_prune_by_noise_rate": "prune_by_noise_rate",
    "cl_prune_by_class": "prune_by_class",
    "cl_both": "both",
    "cl_confident_learning": "confident_learning",
    "cl_predicted_neq_given": "predicted_neq_given",
}


def _whole_flagged(whole: dict, active: str) -> tuple[str, int]:
    """The whole-dataset rule matching the active detector (the audit's primary rule when
    none does) and how many samples it flags in the whole dataset."""
    flagged = whole.get("flagged", {})
    rule = _RULE_OF.get(active, active)
    if rule not in flagged:
        rule = whole.get("primary", next(iter(flagged), ""))
    return rule, int(flagged.get(rule, 0))


def _whole_html(whole: dict, session) -> str:
    """The whole dataset's counts above the detector panel: samples, flagged by every rule,
    and per given class the samples and those flagged by the audit's primary rule."""
    n = int(whole["n_samples"])
    rules = " · ".join(
        f"{html.escape(str(rule))}: {int(k):,} ({int(k) / max(n, 1):.2%})"
        for rule, k in whole.get("flagged", {}).items()
    )
    names = session.dataset.class_names
    given = whole.get("per_class", [])
    flagged = whole.get("flagged_per_class", [None] * len(given))
    rows = "".join(
        f"<tr><td>{html.escape(str(names[c]) if c < len(names) else str(c))}</td>"
        f"<td style='text-align:right'>{int(g):,}</td>"
        f"<td style='text-align:right'>{'' if f is None else f'{int(f):,}'}</td></tr>"
        for c, (g, f) in enumerate(zip(given, flagged, strict=False))
    )
    primary = html.escape(str(whole.get("primary", "")))
    return (
        '<div class="wb-whole" style="font-size:12px;color:#333;margin:2px 0 6px 0">'
        f"<b>Whole dataset</b>: {n:,} samples, {int(whole.get('n_shown', 0)):,} shown here. "
        f"Flagged: {rules}. The panel below counts the samples shown."
        '<details style="margin-top:2px"><summary style="cursor:pointer">Per given class '
        f"(whole dataset, flagged by {primary})</summary>"
        '<table class="wb-whole-classes" style="font-size:12px"><tr><th>class</th>'
        f"<th>samples</th><th>flagged</th></tr>{rows}</table></details></div>"
    )


def _summary_html(session, whole=None) -> str:
    """Title, dataset size and a detector count whose names (and, for the detectors that
    cannot run, the reasons) open on a click; the names are also the count's tooltip."""
    names, missing = list(session.results), session.unavailable
    listed = ", ".join(html.escape(x) for x in names)
    why = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in sorted(missing.items())
    )
    details = f'<div style="margin:2px 0 4px 1em">Running: {listed}</div>'
    if missing:
        details += (
            f'<div style="margin-left:1em">Cannot run on this dataset:</div>'
            f'<ul style="margin:0 0 4px 0">{why}</ul>'
        )
    tooltip = html.escape("Detectors: " + ", ".join(names), quote=True)
    more = " (why?)" if missing else " (which?)"
    return (
        f"<b>Label-noise workbench</b> · {html.escape(_dataset_size(session, whole))} · "
        '<details class="wb-detectors" style="display:inline-block;vertical-align:top">'
        f'<summary title="{tooltip}" style="cursor:pointer">{_detector_count(session)}'
        f'<span style="color:#666">{more}</span></summary>'
        f'<div style="font-size:12px;color:#444;max-width:900px">{details}</div></details>'
    )


def open_workbench(dataset_or_session, **options) -> Workbench:
    """The workbench for a Dataset, Session or the result of :func:`workbench.audit` (see
    :class:`Workbench` for the options); it displays itself as the last expression of a cell."""
    return Workbench(dataset_or_session, **options)


def show(dataset_or_session, **options) -> None:
    """Display the workbench for a Dataset, Session or audit result in the notebook, in one call.

    Keep a handle with ``wb = open_workbench(dataset)`` to reach the session and views later.
    """
    from IPython.display import display

    display(Workbench(dataset_or_session, **options))


def _building_html(title: str, n_samples: int) -> str:
    """What a tab shows while its view is being built: a spinner and what is happening."""
    return (
        '<div class="wb-building" style="padding:16px;color:#444;font-size:14px">'
        '<i class="fa fa-spinner fa-spin" style="margin-right:8px"></i>'
        f"Building the {html.escape(title)} view for {n_samples:,} samples…</div>"
    )
