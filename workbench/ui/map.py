"""The embedding map: one WebGL point per sample on 2-D coordinates, linked to the session.

Built on jupyter-scatter (binary transport, WebGL, lasso and rectangle selection). The map stays
interactive at N = 1,000,000: the points travel once as an (N, 3) float32 buffer (x, y, colour
value), a colour change rewrites only the colour column of that buffer, and selections travel
as uint32 index buffers, never as Python lists.

Colour by: the given label, the suggested label, the true label and whether it differs from the
given one (when truth is known), the active detector's flags at the current threshold, the
review decision, or any detector's noise score (higher = more likely mislabeled). Size by a
second field at the same time: the colouring's highlighted points, the flags, the truth or any
detector's score (larger = more suspicious). The legend of both stands above the map, never
over its points.

While a selection is shown, the selected points keep their colours and the others turn grey
(still visible, so the selection stays in its place on the map). The tooltip names the sample
by its id (``Dataset(ids=...)``, with its row position beside it); the side panel tells what the
tooltip does not: the decision and its note, the suggested label, which detectors flag the
sample and how each ranks it. In lasso mode the tooltip is off (it popped up over the lasso
being drawn); hovering still fills the side panel.

What the user looks for stays visible at any N: the highlighted samples (the active detector's
flags under "flagged", the mislabeled ones under the truth, the decided ones under "decision",
and under a score its detector's flags, drawn by rising score) are drawn
on top of the others, larger and opaque, while the others get an opacity that falls with the
density of points on the map; a checkbox shows only the highlighted ones over a faint
background. A selection of more than a few thousand points keeps its own colours (only the
points outside it fade), so the map under a large lasso or "select all" stays readable.
"""

from __future__ import annotations

import html

import numpy as np
import traitlets as t
from ipywidgets import Widget, widget_serialization

from workbench.analysis.detectors import detector_kind, label_error_detectors
from workbench.ui._common import (
    Rejoins,
    View,
    browser_index,
    ignore_message,
    message_widget,
    preview_html,
    preview_of,
    widget_module,
)
from workbench.ui.multilabel import (
    LABEL_COUNT,
    map_color_options,
    map_color_values,
    map_sample_info,
)

__all__ = ["EmbeddingMap", "SelectionLook", "color_options", "size_options"]

_SOURCE = "map"
_GREY = (0.78, 0.78, 0.78, 1.0)
_UNSELECTED = (0.6, 0.6, 0.6, 1.0)  # every point outside a selection, whatever its colour
_FLAG_COLOURS = [(0.75, 0.75, 0.75, 0.9), (0.86, 0.15, 0.12, 1.0)]
_NOISY_COLOURS = [(0.75, 0.75, 0.75, 0.9), (0.86, 0.15, 0.12, 1.0)]
_MAX_LEGEND_CATEGORIES = 24
_MAP_AREA_PX = 250_000  # about the map's drawing area (700 x 360 px), for the point density
_FAINT = 0.05  # opacity of the others with "only the highlighted" on
_HIGHLIGHT_COVER = 0.25  # the highlighted grow only while they cover less than this of the map
_MIN_BACKGROUND = 0.12  # the others' opacity never falls below this (the map keeps its shape)
_LARGE_SELECTION = 5_000  # above this many selected points, the others fade more
_FADE_SMALL, _FADE_LARGE = 0.6, 0.35  # the others' opacity while a few / many are selected
# regl-scatterplot's options at the map's start (see ``_build``)
REGL_OPTIONS = {"pointOutlineWidth": 1, "pointSizeSelected": 0, "syncEvents": True}
# Not "color": it repeated the given label (or the score) the tooltip lists anyway. The
# suggested label and the decision are the side panel's (it says what the tooltip does not).
_TOOLTIP_PROPERTIES = ["id", "given", "score", "flagged"]
_SIZE_STEPS = 8  # sizes (and opacities) from the least to the most suspicious, by a score
_PANEL_DETECTORS = 8  # detectors listed with their rank in the side panel
# What the mouse does on the map. jupyter-scatter starts regl-scatterplot with the action keys
# ``{"merge": "meta", "remove": "alt"}`` (no key starts a lasso, Shift does nothing): Cmd (⌘;
# the Windows key on a PC) adds a lasso or click to the selection, Alt (⌥) removes it.
_HELP = (
    "Lasso: pick the lasso tool (its menu has a brush and a rectangle), then drag; in pan & "
    "zoom mode a drag only pans, however slow. Click a point to select it. Hold Cmd/⌘ (Windows "
    "key on a PC) while lassoing or clicking to add to the selection, Alt/⌥ to remove from it. "
    "Double-click or Escape clears it."
)


class SelectionLook(Rejoins):
    """The map's selection look, applied in the browser (``widgets/map_selection.js``): while
    points are selected, the others are drawn in ``grey`` and faded to ``fade_small`` (at most
    ``large`` selected) or ``fade_large`` of their opacity, in the frame that draws the
    selection. Sits beside each view of ``scatter`` (jupyter-scatter's widget) and works on
    that view's scatterplot; the kernel sends nothing to the map after a lasso. It also draws
    that view's lasso (``widgets/map_lasso.js``): on a 2D canvas over the map, its selection
    shown by a veil over the rest, so neither the lasso nor its selection draws the N points
    again (at a million points each such frame costs most of a second without a GPU). It also makes
    each change the kernel sends the map (a colouring, sizes) one frame of the N points, not
    two (regl-scatterplot redrew once more after each of its settings). Draws no points.
    """

    _esm = widget_module("map_lasso.js", "map_selection.js")
    scatter = t.Instance(Widget).tag(sync=True, **widget_serialization)
    grey = t.List(t.Float(), default_value=list(_UNSELECTED)).tag(sync=True)
    large = t.Int(_LARGE_SELECTION).tag(sync=True)
    fade_small = t.Float(_FADE_SMALL).tag(sync=True)
    fade_large = t.Float(_FADE_LARGE).tag(sync=True)


def size_options(session) -> list[str]:
    """The size-by choices the map offers for ``session``, in menu order: ``"highlighted"``
    (the colouring's highlighted points a little larger), ``"same size"``, the active
    detector's flags, the truth (when known) and every detector's score."""
    options = ["highlighted", "same size", "flagged"]
    if session.dataset.has_truth:
        options.append("mislabeled (truth)")
    return options + [f"score: {name}" for name in session.results]


def color_options(session) -> list[str]:
    """The colour-by choices the map offers for ``session``, in menu order."""
    ds = session.dataset
    if ds.is_multilabel:  # label sets: "has: <class>", label count (workbench.ui.multilabel)
        return map_color_options(session)
    options = ["given label", "suggested label"]
    if ds.has_truth:
        options += ["true label", "mislabeled (truth)"]
    options += ["flagged", "decision"]
    options += [f"score: {name}" for name in session.results]
    return options


class EmbeddingMap(View):
    """One point per sample on a 2-D map, coloured by labels, flags, decisions or scores.

    Lasso and rectangle selections (toolbar) become ``session.select(..., source="map")``; a
    selection made in another view is highlighted here. Hovering shows a tooltip (labels,
    score, flag, decision and, where the dataset has previews, the image or text) and fills a
    side panel with the hovered or first selected sample.

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    color_by : str, default="given label"
        One of :func:`color_options`.
    size_by : str, default="highlighted"
        One of :func:`size_options`: a second field shown by the points' size (and opacity),
        e.g. colour by the given label and size by a detector's score.
    coords : array-like of shape (N, 2), optional
        Coordinates to use instead of ``dataset.coords``. Without either, they are projected
        from ``dataset.features`` with :func:`workbench.compute.projection.project`.
    method : {"pca", "umap"}, default="pca"
        Projection used when coordinates must be computed from features.
    seed : int, default=0
        Seed of that projection.
    height : int, default=420
        Height of the map in pixels.
    point_size : float, optional
        Default: larger points for small N, 1.5 px at a million points.
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.

    Attributes
    ----------
    coords : ndarray of shape (N, 2), float32, or None
        The coordinates shown (None when none exist and none can be computed).
    reason : str or None
        Why there is no map, when ``coords`` is None.
    """

    def __init__(
        self,
        session_or_dataset,
        *,
        color_by: str = "given label",
        size_by: str = "highlighted",
        coords=None,
        method: str = "pca",
        seed: int = 0,
        height: int = 420,
        point_size: float | None = None,
        **session_options,
    ):
        super().__init__(session_or_dataset, **session_options)
        options = color_options(self.session)
        if color_by == "given label" and self.session.dataset.is_multilabel:
            color_by = LABEL_COUNT  # the default, for label sets
        if color_by not in options:
            raise ValueError(f"color_by must be one of {options}, found {color_by!r}.")
        sizes = size_options(self.session)
        if size_by not in sizes:
            raise ValueError(f"size_by must be one of {sizes}, found {size_by!r}.")
        if method not in ("pca", "umap"):
            raise ValueError(f"method must be 'pca' or 'umap', found {method!r}.")
        if not isinstance(height, (int, np.integer)) or height < 100:
            raise ValueError(f"height must be an integer >= 100 (pixels), found {height!r}.")
        n = self.session.dataset.n_samples
        if point_size is None:
            point_size = 6.0 if n <= 5_000 else 3.0 if n <= 200_000 else 1.5
        self._color_by, self._size_by = color_by, size_by
        self._method, self._seed, self._height, self._point_size = method, seed, height, point_size
        self._given_coords = coords
        self.coords: np.ndarray | None = None
        self.reason: str | None = None
        self.scatter = None
        self._points: np.ndarray | None = None
        self._syncing = False  # True while the map takes a selection from the session
        self._publishing = False  # True while the map hands its own selection to the session
        self._hovered: int | None = None  # last hovered sample, until the selection changes
        self._hover_live = False
        self._highlight_only = False  # only the highlighted points, over a faint background
        self.highlighted: np.ndarray | None = None  # bool (N,): drawn on top, larger, opaque
        # the draw order sent (last = on top); None: the points' own order (none highlighted)
        self.point_order: np.ndarray | None = None
        # the highlighted the draw order was made from, if not a score
        self._ordered_by: np.ndarray | None = None
        self._colours: list | None = None

    # --- coordinates ---------------------------------------------------------------------------
    def _resolve_coords(self) -> None:
        ds = self.session.dataset
        if self._given_coords is not None:
            from workbench.core.validation import as_array

            c = as_array(self._given_coords, "coords")
            if c.shape != (ds.n_samples, 2):
                raise ValueError(f"coords must have shape ({ds.n_samples}, 2), found {c.shape}.")
            self.coords = np.ascontiguousarray(c, dtype=np.float32)
        elif ds.coords is not None:
            self.coords = ds.coords
        elif ds.features is not None:
            from workbench.compute.projection import project

            self.coords = np.asarray(
                project(ds.features, method=self._method, seed=self._seed), dtype=np.float32
            )
        else:
            self.reason = (
                "No map: this dataset has neither 2-D coordinates nor features to project. "
                + (ds.why_missing(["coords", "features"]) or "")
            )

    # --- building ------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w

        self._resolve_coords()
        if self.coords is None:
            return message_widget(self.reason)
        import jscatter

        x, y = self.coords[:, 0], self.coords[:, 1]
        # A margin around the points, so the outermost ones are drawn whole, not cut in half
        sc = jscatter.Scatter(x=x, y=y, x_scale=_padded(x), y_scale=_padded(y))
        sc.size(self._point_size)
        sc.height(self._height)
        sc.axes(False)
        # Its legend is a box over the top right of the plot that hid points: ours is a row
        # above the map (``legend_html``).
        sc.legend(False)
        # No lasso on a long press: in pan & zoom mode a slow drag (a press held still for a
        # moment) started one and replaced the selection. The lasso tool lassoes.
        sc.lasso(type="freeform", on_long_press=False)
        sc.opacity(unselected=0.25)
        # A thin outline and no growth for selected points: a large selection stays a map.
        # Events in their own handler ("syncEvents"): a lasso's selection leaves for the
        # kernel at the mouse release, not after the next frame (at a million points one
        # frame takes most of a second in a software-rendered browser), so the kernel and
        # every view work on it while the browser draws it.
        sc.widget.regl_scatterplot_options = dict(REGL_OPTIONS)
        sc.tooltip(True, size="small")
        self.scatter = sc
        widget = sc.widget
        # A lasso's selection (4 bytes a point) is not echoed back to the browser it came from
        # (ipywidgets sends every change from a browser back to it, and jupyter-scatter then
        # selected the same points again). A second view of the map in the same page shares the
        # browser's model and follows without it. Per-instance trait metadata (traitlets).
        widget._selection_metadata = {"echo_update": False}
        widget.opacity_unselected = _FADE_SMALL
        # the grey outside a selection, applied by the browser in the selection's own frame
        self._look = SelectionLook(scatter=widget)
        widget.toolbar_buttons = [
            "pan_zoom",
            "lasso",
            "lasso_type",
            "lasso_brush_size",
            "divider",
            "full_screen",
            "download",
        ]  # "reset" animates, which a million points never finished: the button below does not
        widget.tooltip_histograms = False
        # In a flex row, "auto" width would collapse to nothing: let the map take the room left.
        widget.layout = w.Layout(flex="1 1 auto", width="auto", min_width="360px")
        self._setup_tooltip(widget)
        # x, y (normalised by jupyter-scatter), the colour value and whether the point is
        # highlighted (valueB: 0 or 1, its opacity and size): 16 bytes per point.
        pts = np.zeros((self.session.dataset.n_samples, 4), dtype=np.float32)
        pts[:, :2] = np.asarray(widget.points)[:, :2]
        self._points = pts
        self._default_selected_colour = widget.color_selected
        widget.opacity_by = "valueB"
        widget.size_by = "valueB"
        # jupyter-scatter's browser side reads a histogram and a domain for every encoding
        # with a "by" (for its tooltip): without them it threw "Cannot read properties of
        # null (reading 'length')" on every draw.
        for channel in ("opacity", "size"):
            setattr(widget, f"{channel}_histogram", [0.5, 0.5])
            setattr(widget, f"{channel}_domain", [0.0, 1.0])

        self._dropdown = w.Dropdown(
            options=color_options(self.session),
            value=self._color_by,
            description="colour by",
            layout=w.Layout(width="340px"),
        )
        self._dropdown.observe(lambda ch: self.set_color_by(ch["new"]), names="value")
        self._size_dropdown = w.Dropdown(
            options=size_options(self.session),
            value=self._size_by,
            description="size by",
            layout=w.Layout(width="280px"),
        )
        self._size_dropdown.observe(lambda ch: self.set_size_by(ch["new"]), names="value")
        self._legend = w.HTML()  # a VBox stretches it (width 100% plus its margin scrolled)
        self._status = w.HTML()
        self._only = w.Checkbox(
            value=self._highlight_only,
            description="only the highlighted, over a faint background",
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self._only.observe(lambda ch: self.set_highlight_only(ch["new"]), names="value")
        self._reset = w.Button(
            description="Reset view",
            tooltip="zoom out to all points",
            layout=w.Layout(width="auto"),
        )
        self._reset.on_click(lambda _b: self.reset_view())
        # Fixed width, wrapped text, no sideways scrolling (long names and texts wrap).
        self._panel = w.HTML(
            layout=w.Layout(flex="0 0 210px", width="210px", overflow="hidden auto")
        )
        help_text = w.HTML(f'<span style="color:#666;font-size:12px">{_HELP}</span>')

        self._apply_color()
        widget.observe(self._on_widget_selection, names="selection")
        widget.observe(self._on_hover, names="hovering")
        widget.observe(self._on_mouse_mode, names="mouse_mode")
        self._on_mouse_mode({"new": widget.mouse_mode})
        self._subscribe("selection", self._on_session_selection)
        self._subscribe("flags", self._on_flags)
        self._subscribe("decisions", self._on_decisions)
        if self.session.selection.size:
            self._on_session_selection(self.session)
        self._update_status()
        self._update_panel()
        return w.VBox(
            [
                w.HBox(
                    [self._dropdown, self._size_dropdown, self._only, self._reset, self._status],
                    layout=w.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self._legend,
                w.HBox([widget, self._panel, self._look], layout=w.Layout(width="100%")),
                help_text,
            ],
            layout=w.Layout(width="100%"),
        )

    # --- colour --------------------------------------------------------------------------------
    @property
    def color_by(self) -> str:
        """The current colour-by choice."""
        return self._color_by

    def set_color_by(self, name: str) -> None:
        """Colour the points by ``name`` (one of :func:`color_options`)."""
        options = color_options(self.session)
        if name not in options:
            raise ValueError(f"color_by must be one of {options}, found {name!r}.")
        self._color_by = name
        if self.scatter is not None:
            if self._dropdown.value != name:
                self._dropdown.value = name  # re-enters here through the observer
                return
            self._apply_color()

    @property
    def size_by(self) -> str:
        """The current size-by choice."""
        return self._size_by

    def set_size_by(self, name: str) -> None:
        """Size the points by ``name`` (one of :func:`size_options`), independently of the
        colour: e.g. colour by the given label and size by a detector's score."""
        options = size_options(self.session)
        if name not in options:
            raise ValueError(f"size_by must be one of {options}, found {name!r}.")
        self._size_by = name
        if self.scatter is not None:
            if self._size_dropdown.value != name:
                self._size_dropdown.value = name  # re-enters here through the observer
                return
            self._apply_color()

    def size_values(self, highlighted: np.ndarray | None = None) -> np.ndarray:
        """The size column (``valueB``) for the current size-by choice.

        Returns
        -------
        ndarray of shape (N,), float32
            0 or 1 (the highlighted, flagged or mislabeled points get the larger size), or, by
            a score, the score normalised to (0, 1): higher = more likely mislabeled = larger.
        """
        s, name = self.session, self._size_by
        if name in ("highlighted", "same size"):
            marked = self.highlight()[0] if highlighted is None else highlighted
            return np.asarray(marked, dtype=np.float32)
        if name == "flagged":
            return s.flags.astype(np.float32)
        if name == "mislabeled (truth)":
            return s.dataset.is_noisy.astype(np.float32)
        return _continuous(s.results[name.split(": ", 1)[1]].scores, "")[0]

    @property
    def highlight_only(self) -> bool:
        """True while only the highlighted points show, over a faint background."""
        return self._highlight_only

    def set_highlight_only(self, on: bool) -> None:
        """Show only the highlighted points (flagged, mislabeled, high-score, decided) over a
        faint background (``True``), or every point (``False``)."""
        if not isinstance(on, (bool, np.bool_)):
            raise TypeError(f"on must be True or False, found {on!r}.")
        self._highlight_only = bool(on)
        if self.scatter is not None:
            if self._only.value != self._highlight_only:
                self._only.value = self._highlight_only  # re-enters here through the observer
                return
            self._apply_emphasis()

    def reset_view(self) -> None:
        """Zoom back out to every point, at once (no animation, so it works at any N)."""
        if self.scatter is not None:
            self.scatter.widget.reset_view(animation=0)

    def highlight(self, name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What ``name`` (default: the current colouring) draws on top.

        Returns
        -------
        highlighted : ndarray of shape (N,), bool
            The points drawn on top, larger and opaque: the active detector's flags
            ("flagged"), the mislabeled ones ("mislabeled (truth)"), the decided ones
            ("decision"), the detector's flags (a score colouring); none under the label
            colourings (the classes are what they show; a detector switch or threshold change
            then leaves the map's million points alone).
        key : ndarray of shape (N,), float64
            The draw order: points are drawn by rising key (the last on top); highlighted
            points come after all others, and under a score, higher scores above lower ones.
        """
        name = self._color_by if name is None else name
        s, ds = self.session, self.session.dataset
        score = None
        if name == "mislabeled (truth)":
            marked = ds.is_noisy
        elif name == "decision":
            marked = _decision_codes(s)[0] > 0
        elif name.startswith("score: "):
            detector = name.split(": ", 1)[1]
            marked = s.flags if detector == s.active else s.results[detector].flags
            score = np.asarray(s.results[detector].scores, dtype=np.float64)
        elif name == "flagged":
            marked = s.flags
        else:  # a label colouring
            marked = np.zeros(ds.n_samples, dtype=bool)
        marked = np.asarray(marked, dtype=bool)
        key = marked.astype(np.float64)
        if score is not None:
            finite = np.isfinite(score)
            lo, hi = (score[finite].min(), score[finite].max()) if finite.any() else (0, 1)
            span = hi - lo if hi > lo else 1.0
            key += 0.999 * np.where(finite, (score - lo) / span, 0.0)
        return marked, key

    def emphasis(self) -> dict:
        """How the points are drawn now: ``opacity`` and ``size`` lists indexed by the size
        column (``valueB``), from the density of points on the map (``n * size**2`` over the
        map's area): the others fade as it grows.

        Sized by the highlighted points, the flags or the truth: ``[others, marked]``, the
        marked opaque and one pixel larger while they are few enough to cover less than a
        quarter of the map (``"same size"``: never larger). Sized by a score:
        ``_SIZE_STEPS`` steps from small and faded (low score) to large and opaque (high)."""
        n = self.session.dataset.n_samples
        size = float(self._point_size)
        density = n * size**2 / _MAP_AREA_PX
        others = float(np.clip(1.5 / max(density, 1e-9), _MIN_BACKGROUND, 1.0))
        if self._highlight_only:
            others = _FAINT
        if self._size_by.startswith("score: "):
            return {
                "opacity": [float(v) for v in np.linspace(others, 1.0, _SIZE_STEPS)],
                "size": [
                    float(v) for v in np.linspace(max(1.0, 0.6 * size), 2 * size + 1, _SIZE_STEPS)
                ],
            }
        # The marked grow (up to one pixel) only while they are sparse enough not to cover
        # the map: 6.5% flagged at 200,000 points already cover most of its pixels.
        if self._size_by == "flagged":
            marked = int(self.session.flags.sum())
        elif self._size_by == "mislabeled (truth)":
            marked = int(self.session.dataset.is_noisy.sum())
        else:
            marked = 0 if self.highlighted is None else int(self.highlighted.sum())
        room = np.sqrt(_HIGHLIGHT_COVER * _MAP_AREA_PX / max(marked, 1))
        grown = size if self._size_by == "same size" else float(np.clip(room, size, size + 1))
        return {"opacity": [others, 1.0], "size": [size, grown]}

    def color_values(self, name: str | None = None):
        """Encode ``name`` (default: the current choice) for the colour column.

        Returns
        -------
        values : ndarray of shape (N,), float32
            Category codes (integers) or scores normalised to (0, 1).
        legend : dict
            ``kind`` ("categorical" or "continuous"), ``title``, ``colors`` (RGBA tuples) and
            ``categories`` (names, categorical) or ``domain`` ((low, high), continuous).
        """
        name = self._color_by if name is None else name
        s, ds = self.session, self.session.dataset
        names = list(ds.class_names)
        if ds.is_multilabel:  # label count, "has: <class>"; the shared colourings below
            coded = map_color_values(s, name, _class_colours(ds.n_classes + 1), _GREY)
            if coded is not None:
                return coded
        if name in ("given label", "suggested label", "true label"):
            if name == "given label":
                codes = ds.labels
            elif name == "true label":
                codes = ds.true_labels
            else:
                sug = s.result.suggested_labels
                codes = np.full(ds.n_samples, -1, np.int64) if sug is None else sug
            colours = _class_colours(len(names))
            if (codes < 0).any():  # "no suggestion" / "unknown" as an extra grey category
                codes = np.where(codes < 0, len(names), codes)
                names = names + ["unknown" if name == "true label" else "no suggestion"]
                colours = colours + [_GREY]
            return _categorical(codes, names, colours, name)
        if name == "mislabeled (truth)":
            noisy = ds.is_noisy.astype(np.int8)
            return _categorical(
                noisy, ["label correct or unknown", "mislabeled"], _NOISY_COLOURS, name
            )
        if name == "flagged":
            return _categorical(
                s.flags.astype(np.int8),
                ["not flagged", "flagged"],
                _FLAG_COLOURS,
                f"flagged by {s.active}",
            )
        if name == "decision":
            codes, cats = _decision_codes(s)
            return _categorical(codes, cats, _decision_colours(len(cats)), "decision")
        detector = name.split(": ", 1)[1]
        return _continuous(s.results[detector].scores, f"noise score: {detector} (higher = worse)")

    def _apply_color(self) -> None:
        widget = self.scatter.widget
        values, legend = self.color_values()
        pts = self._points.copy()  # a new object, so the trait sees the change
        pts[:, 2] = values
        self._points = pts
        colours = legend["colors"]
        if legend["kind"] == "categorical":
            cats = {c: i for i, c in enumerate(legend["categories"])}
            domain, scale = cats, "categorical"
            hist = np.bincount(values.astype(np.int64), minlength=len(cats)) / max(len(values), 1)
        else:
            lo, hi = legend["domain"]
            domain, scale = [lo, hi], "linear"
            counts = np.histogram(values, bins=20, range=(0.0, 1.0))[0]
            hist = counts / max(counts.max(), 1)
        marked, key = self.highlight()
        self.highlighted = marked
        pts[:, 3] = self.size_values(marked)
        if self._color_by.startswith("score: "):  # by rising score, the highlighted on top
            order = np.argsort(key, kind="stable").astype(np.uint32)
            same_order = self.point_order is not None and np.array_equal(order, self.point_order)
            self._ordered_by = None
        elif not marked.any():  # nothing on top: the points' own order, nothing sent
            order, same_order = None, self.point_order is None
            self._ordered_by = None
        else:  # the others, then the highlighted: no sort, none at all if they did not change
            same_order = (
                self.point_order is not None
                and self._ordered_by is not None
                and np.array_equal(marked, self._ordered_by)
            )
            order = self.point_order if same_order else _others_then(marked)
            self._ordered_by = marked.copy()
        self.point_order = order
        self._colours = [list(c) for c in colours]
        self._legend_info = legend
        with widget.hold_sync():
            if not same_order:
                widget.point_order = order
            widget.color_scale = scale
            widget.color_domain = domain
            widget.color_histogram = [float(h) for h in hist]
            widget.color_by = "valueA"
            widget.color_title = legend["title"]
            widget.legend = False
            self._apply_emphasis()  # the palette (grey outside a selection), sizes, legend
            widget.prevent_filter_reset = True
            widget.non_spatial_points_update = True
            widget.points = pts

    def _apply_emphasis(self) -> None:
        """Opacity, size and palettes of the points. The selection's look is the browser's
        (:class:`SelectionLook`): while one is shown, the selected points keep their colours
        (drawn with the "selected" palette, the colouring's own) and every other point is grey,
        faded a little, never hidden; the widget's ``color`` stays the colouring's own, so a
        selection sends nothing here."""
        widget = self.scatter.widget
        look = self.emphasis()
        colours = self._colours or []
        with widget.hold_sync():
            widget.opacity = look["opacity"]
            widget.size = look["size"]
            if colours:
                widget.color = colours
                # regl-scatterplot draws the selected points in the "selected" palette, value
                # by value, only when it and the hover palette are as long as the normal one
                # (else in the normal colour, which is grey while a selection is shown).
                widget.color_selected = colours
                widget.color_hover = colours
            else:
                widget.color_selected = self._default_selected_colour
        self._update_legend()

    # --- legend: a row above the map (jupyter-scatter's own box covered points) ----------------
    def legend_html(self) -> str:
        """The legend of the colour, the size and the selection, as HTML: swatches of the
        categories (up to 24) or the colour scale with its range, what the size shows, and,
        while a selection is shown, that the grey points are the unselected ones."""
        info = getattr(self, "_legend_info", None) or self.color_values()[1]
        parts = [f"<b>{html.escape(info['title'])}</b>"]
        if info["kind"] == "categorical":
            names, colours = info["categories"], info["colors"]
            if len(names) <= _MAX_LEGEND_CATEGORIES:
                parts += [
                    f'<span style="white-space:nowrap">{_swatch(c)}{html.escape(str(n))}</span>'
                    for n, c in zip(names, colours, strict=True)
                ]
            else:
                parts.append(f"{len(names)} categories (the tooltip names each)")
        else:
            lo, hi = info["domain"]
            stops = ", ".join(_css(info["colors"][i]) for i in np.linspace(0, 255, 6).astype(int))
            parts.append(
                f'<span style="white-space:nowrap">{lo:.3g} <span style="display:inline-block;'
                f"width:120px;height:10px;vertical-align:middle;background:linear-gradient("
                f'to right, {stops})"></span> {hi:.3g}</span>'
            )
        size = self._size_by
        if size != "same size":
            what = "the highlighted" if size == "highlighted" else html.escape(size)
            small, big = _dot(5), _dot(11)
            parts.append(
                f'<span style="white-space:nowrap;margin-left:10px">size: {small}{big} '
                f"{what}{' (larger = higher)' if size.startswith('score: ') else ''}</span>"
            )
        n_sel = self.session.selection.size
        if n_sel:
            parts.append(
                f'<span style="white-space:nowrap;margin-left:10px">'
                # grey, or faded under a lasso's veil (drawn by the browser, map_lasso.js)
                f"{_swatch(_UNSELECTED)}not selected, faded ({n_sel:,} selected keep their "
                "colours)"
                "</span>"
            )
        return (
            '<div class="wb-map-legend" style="font-size:12px;line-height:18px;display:flex;'
            'flex-wrap:wrap;gap:2px 8px;align-items:center">' + "".join(parts) + "</div>"
        )

    def _update_legend(self) -> None:
        if self.scatter is not None:
            self._legend.value = self.legend_html()

    # --- session -> map ------------------------------------------------------------------------
    def _on_session_selection(self, session) -> None:
        # Skip only this map's own echo: another map on the same session still follows.
        if self._publishing or self.scatter is None:
            return
        self._syncing = True
        try:
            self.scatter.widget.selection = session.selection.astype(np.uint32)
        finally:
            self._syncing = False
        self._update_legend()
        self._hovered = None
        self._update_status()
        self._update_panel()

    def _on_flags(self, session) -> None:
        # colours (and the highlighted points) that follow the flags
        c = self._color_by
        if c in ("flagged", "suggested label") or c.startswith("score: "):
            self._apply_color()
        elif self._size_by == "flagged":
            self._apply_color()
        self._update_status()
        self._update_panel()

    def _on_decisions(self, session) -> None:
        if self._color_by == "decision":
            self._apply_color()
        self._update_panel()

    # --- map -> session ------------------------------------------------------------------------
    def _on_widget_selection(self, change) -> None:
        if self._syncing:
            return
        sel = change["new"]
        idx = np.empty(0, np.int64) if sel is None else np.asarray(sel)
        n = self.session.dataset.n_samples
        if idx.size and (
            idx.ndim != 1 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n
        ):
            ignore_message("EmbeddingMap", f"a selection (indices must be ints 0..{n - 1})", sel)
            self._on_session_selection(self.session)  # the browser shows the session's again
            return
        idx = idx.astype(np.int64)
        self._publishing = True
        try:
            self.session.select(idx, source=_SOURCE)
        finally:
            self._publishing = False
        self._update_legend()
        self._hovered = None
        self._update_status()
        self._update_panel()

    def _on_hover(self, change) -> None:
        new = change["new"]
        if new is None or new < 0:
            self._hover_live = False  # keep showing the last hovered sample: no flicker
        elif browser_index(new, self.session.dataset.n_samples) is None:
            ignore_message("EmbeddingMap", "a hovered point", new)
            return
        else:
            self._hovered, self._hover_live = int(new), True
        self._update_panel()

    def _on_mouse_mode(self, change) -> None:
        # In lasso mode every drag draws a lasso: a tooltip then popped up over it (one
        # scheduled by the last hover before the press, which its lasso start did not cancel).
        # The side panel still shows the hovered sample.
        self.scatter.widget.tooltip_enable = change["new"] != "lasso"

    # --- tooltip and side panel ----------------------------------------------------------------
    def _setup_tooltip(self, widget) -> None:
        ds = self.session.dataset
        props = list(_TOOLTIP_PROPERTIES) + (["true"] if ds.has_truth else [])
        widget.tooltip_properties = props
        widget.tooltip_properties_non_visual_info = {
            p: {"scale": None, "domain": None, "range": None, "histogram": None}
            for p in props
            if p != "color"
        }
        kind = _preview_kind(ds)
        if kind is not None:
            widget.tooltip_preview = "preview"
            widget.tooltip_preview_type = kind
            if kind == "image":
                widget.tooltip_preview_image_size = "contain"
                widget.tooltip_preview_image_height = 96
                widget.tooltip_preview_image_background_color = "white"
        # jupyter-scatter answers tooltip requests from a DataFrame; ours come from the session,
        # computed for the one hovered sample (so previews are rendered lazily, never for all N).
        # Its own message handler reads ``event["type"]`` unchecked: ours checks the message.
        widget._handle_tooltip = self._handle_tooltip
        widget.on_msg(widget._handle_custom_msg, remove=True)
        widget.on_msg(self._on_custom_msg)

    def _on_custom_msg(self, widget, content, buffers) -> None:
        if not isinstance(content, dict):
            ignore_message("EmbeddingMap", "a message that is not an object", content)
        elif content.get("type") == "tooltip":
            self._handle_tooltip(content)

    def sample_info(self, index: int) -> dict:
        """What the map knows about sample ``index`` (JSON-ready values): ``id`` (the sample's
        id, its row position beside it when ids were given), ``index`` (the position), the
        given, suggested (and true) label, the active detector's score and flag, the decision.
        The tooltip shows the id, labels, score and flag; the side panel the rest."""
        s, ds = self.session, self.session.dataset
        i = browser_index(index, ds.n_samples)
        if i is None:
            raise ValueError(f"index must be an int in 0..{ds.n_samples - 1}, found {index!r}.")
        if ds.is_multilabel:  # label sets as "a | b"
            return {"id": self.id_text(i), **map_sample_info(s, i, decision_of(s, i))}
        names = ds.class_names
        sug = s.result.suggested_labels
        info = {
            "id": self.id_text(i),
            "index": i,
            "given": names[ds.labels[i]],
            "suggested": "-" if sug is None or sug[i] < 0 else names[sug[i]],
            "score": f"{s.result.scores[i]:.4g} ({s.active})",
            "flagged": "yes" if s.flags[i] else "no",
            "decision": decision_of(s, i),
        }
        if ds.has_truth:
            t = ds.true_labels[i]
            info["true"] = names[t] if t >= 0 else "unknown"
        return info

    def id_text(self, i: int) -> str:
        """Sample ``i`` as the map names it: its id, with the row position beside it when the
        dataset has ids of its own (``"img-17.png (row 17)"``), else the position."""
        ids = self.session.dataset.ids
        return str(i) if ids is None else f"{ids[i]} (row {i})"

    def panel_info(self, index: int) -> dict:
        """What the side panel says about sample ``index``, beyond the tooltip: the decision
        and its note, the suggested label, the detectors that flag it, and every detector's
        score with its rank among the N samples (1 = the most suspicious), most suspicious
        first.

        Returns
        -------
        dict
            ``id``, ``given``, ``decision``, ``note`` (str, "" for none), ``suggested``,
            ``flagged_by``
            (the label-error detectors that flag it: the active one by the current threshold,
            the others by their own rule; ambiguity and outlier scores do not vote, as in the
            queue's "flagged by n of m"), ``n_voters`` (how many label-error detectors there
            are) and ``ranks``: a list of ``(detector, score, rank)`` over every detector,
            sorted by rank (higher score = more likely mislabeled = lower rank).
        """
        s = self.session
        info = self.sample_info(index)
        i = info["index"]
        flagged_by, ranks = [], []
        voters = label_error_detectors(s.results)
        for name, res in s.results.items():
            flags = s.flags if name == s.active else res.flags
            if flags[i] and name in voters:
                flagged_by.append(name)
            score = float(res.scores[i])
            ranks.append((name, score, _rank(res.scores, score)))
        ranks.sort(key=lambda r: (r[2] is None, r[2] or 0))
        return {
            "id": info["id"],
            "given": info["given"],
            "decision": info["decision"],
            # undecided: no note (the decision log's N actions not read again)
            "note": "" if info["decision"] == "undecided" else _note_of(s, i),
            "suggested": info["suggested"],
            "flagged_by": flagged_by,
            "n_voters": len(voters),
            "ranks": ranks,
        }

    def _handle_tooltip(self, event: dict) -> None:
        i = browser_index(event.get("index"), self.session.dataset.n_samples)
        if i is None:
            ignore_message(
                "EmbeddingMap", "a tooltip request for a point that does not exist", event
            )
            return
        info = self.sample_info(i)
        asked = event.get("properties")
        asked = asked if isinstance(asked, list) else []
        props = {p: info[p] for p in asked if isinstance(p, str) and p in info}
        preview = preview_of(self.session.dataset, i) if event.get("preview") else None
        self.scatter.widget.send(
            {"type": "tooltip", "index": i, "preview": preview, "properties": props}
        )

    def _update_status(self) -> None:
        s = self.session
        self._status.value = (
            f'<span style="line-height:32px">{s.dataset.n_samples:,} samples · '
            f"<b>{int(s.flags.sum()):,}</b> flagged by {html.escape(s.active)} · "
            f"<b>{s.selection.size:,}</b> selected</span>"
        )

    def _update_panel(self) -> None:
        if self.scatter is None:
            return
        sel = self.session.selection
        # the hovered sample, else the most suspicious selected one (highest active score)
        if self._hovered is not None:
            i = self._hovered
        elif sel.size:
            scores = np.nan_to_num(self.session.result.scores[sel], nan=-np.inf)
            i = int(sel[np.argmax(scores)])
        else:
            i = None
        if i is None:
            self._panel.value = (
                '<div style="color:#666;padding:4px">Hover over a point or select some to see '
                "a sample here.</div>"
            )
            return
        info = self.panel_info(i)
        if self._hovered is not None:
            head = "hovered" if self._hover_live else "last hovered"
        else:
            given = html.escape(str(info["given"]))  # no tooltip to say it here
            head = f"most suspicious of {sel.size:,} selected (given {given})"
        n = self.session.dataset.n_samples
        grey = "color:#666;padding-right:6px;vertical-align:top"
        decision = html.escape(info["decision"])
        if info["note"]:
            decision += f'<div style="color:#444"><i>note:</i> {html.escape(info["note"])}</div>'
        rows = [
            f"<tr><td style='{grey}'>decision</td><td>{decision}</td></tr>",
            f"<tr><td style='{grey}'>suggested</td><td>{html.escape(info['suggested'])}</td></tr>",
        ]
        by, n_det = info["flagged_by"], info["n_voters"]
        names = ", ".join(html.escape(b) for b in by)
        # at most three lines of names (all of them on hover): 20 detectors made a column
        flagged_by = (
            f'<div style="margin-top:2px"><span style="color:#666">flagged by</span> '
            f"<b>{len(by)}</b> of {n_det}"
            + (
                f'<div title="{names}" style="display:-webkit-box;-webkit-line-clamp:3;'
                f'-webkit-box-orient:vertical;overflow:hidden">{names}</div>'
                if by
                else ""
            )
            + "</div>"
        )
        # one line per detector: its name cut to fit (whole on hover), rank and score; an
        # ambiguity or outlier score says what it ranks
        ranked = "".join(
            '<div style="display:flex;gap:4px;line-height:18px">'
            f'<span title="{html.escape(name)}" style="flex:1 1 auto;min-width:0;'
            f'overflow:hidden;text-overflow:ellipsis;white-space:nowrap">{html.escape(name)}'
            f'</span><span style="white-space:nowrap">{"–" if rank is None else f"#{rank:,}"}'
            f'</span><span style="white-space:nowrap;color:#666;width:44px;text-align:right">'
            f"{score:.3g}</span></div>"
            for name, score, rank in (
                (n if detector_kind(n) == "label_error" else f"{n} ({detector_kind(n)})", v, r)
                for n, v, r in info["ranks"][:_PANEL_DETECTORS]
            )
        )
        more = len(info["ranks"]) - _PANEL_DETECTORS
        more_text = f"<div style='color:#666'>… {more} more</div>" if more > 0 else ""
        p = self.session.dataset.previews
        pic = preview_html(p[i], size=96) if p is not None else ""
        self._panel.value = (
            '<div class="wb-map-panel" style="padding:4px;font-size:12px;'
            'overflow-wrap:anywhere;max-width:200px">'
            f'<div style="color:#666">{head}</div>'
            f"<div><b>id {html.escape(info['id'])}</b></div>{pic}"
            f'<table style="table-layout:fixed;width:100%">{"".join(rows)}</table>{flagged_by}'
            f'<div style="color:#666;margin-top:4px">rank of {n:,} by each detector '
            "(#1 = most suspicious), score</div>"
            f"{ranked}{more_text}</div>"
        )


def _css(rgba) -> str:
    r, g, b, *a = (float(v) for v in rgba)
    return f"rgba({round(255 * r)},{round(255 * g)},{round(255 * b)},{a[0] if a else 1.0:g})"


def _swatch(rgba) -> str:
    return (
        '<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
        f'margin-right:3px;vertical-align:middle;background:{_css(rgba)}"></span>'
    )


def _dot(px: int) -> str:
    return (
        f'<span style="display:inline-block;width:{px}px;height:{px}px;border-radius:50%;'
        'margin-right:2px;vertical-align:middle;background:#777"></span>'
    )


def _padded(values, share: float = 0.05) -> tuple[float, float]:
    """The range of ``values`` widened by ``share`` of its span on each side."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    pad = share * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


# --- encoders ------------------------------------------------------------------------------------
def _categorical(codes, names, colours, title):
    values = np.asarray(codes).astype(np.float32)
    return values, {
        "kind": "categorical",
        "title": title,
        "categories": list(names),
        "colors": list(colours),
    }


def _continuous(scores, title):
    from matplotlib import colormaps

    scores = np.asarray(scores, dtype=np.float64)
    finite = scores[np.isfinite(scores)]
    if finite.size:
        lo, hi = (float(v) for v in np.quantile(finite, [0.005, 0.995]))
        if not hi > lo:
            lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = 0.0, 1.0
    span = hi - lo if hi > lo else 1.0
    v = np.clip((np.nan_to_num(scores, nan=lo) - lo) / span, 0.0, 1.0)
    # Kept strictly inside (0, 1): an all-integer column would be drawn as categories.
    values = (0.001 + 0.998 * v).astype(np.float32)
    colours = [tuple(float(c) for c in rgba) for rgba in colormaps["viridis"](np.arange(256))]
    return values, {"kind": "continuous", "title": title, "domain": (lo, hi), "colors": colours}


def _class_colours(k: int) -> list:
    from jscatter.color_maps import glasbey_dark, okabe_ito

    base = okabe_ito if k <= len(okabe_ito) else glasbey_dark
    return [tuple(base[i % len(base)]) for i in range(k)]


def _decision_colours(n: int) -> list:
    palette = [
        (0.8, 0.8, 0.8, 0.9),
        (0.0, 0.62, 0.45, 1.0),
        (0.84, 0.37, 0.0, 1.0),
        (0.0, 0.45, 0.7, 1.0),
        (0.8, 0.47, 0.65, 1.0),
        (0.34, 0.71, 0.91, 1.0),
    ]
    return [palette[i % len(palette)] for i in range(n)]


def _preview_kind(ds) -> str | None:
    if ds.previews is None or len(ds.previews) == 0:
        return None
    first = ds.previews[0]
    return "text" if isinstance(first, (str, bytes)) else "image"


# --- decisions -----------------------------------------------------------------------------------
def _decision_codes(session):
    """Per-sample decision codes and the category names ("undecided" first)."""
    import pandas as pd

    from workbench.decisions.log import ACTIONS, ALL_ACTIONS

    # label sets are edited ("edit_labels"), not relabelled
    actions = ALL_ACTIONS if session.dataset.is_multilabel else ACTIONS
    cats = ["undecided", *actions]
    codes = pd.Categorical(session.decisions.actions(), categories=("", *actions)).codes
    return codes.astype(np.int8), cats


def _rank(scores: np.ndarray, score: float) -> int | None:
    """1 + how many of ``scores`` are above ``score`` (None for a NaN score): one pass, no
    sorted copy kept (a million samples and a few dozen detectors: milliseconds a hover)."""
    if score != score:
        return None
    return int(np.count_nonzero(np.asarray(scores) > score)) + 1


def _note_of(session, i: int) -> str:
    """The note of sample ``i``'s decision in force ("" when none or undecided)."""
    if not session.decisions.actions()[i]:
        return ""
    table = session.decisions.current()
    row = table[table["index"].to_numpy() == i]
    note = row["note"].iloc[0] if len(row) and "note" in row else ""
    return "" if note is None or note != note else str(note)


def decision_of(session, i: int) -> str:
    """Sample ``i``'s decision as the tooltip says it ("undecided", "relabel to cat", ...)."""
    action = str(session.decisions.actions()[i])
    if not action:
        return "undecided"
    if action == "relabel":
        table = session.decisions.relabels()
        row = table[table["index"].to_numpy() == i]
        if len(row):
            return f"relabel to {row['label_name'].iloc[0]}"
    return action


def _others_then(marked: np.ndarray) -> np.ndarray:
    """Uint32 (N,): the draw order with the ``marked`` points last (on top), each group in
    index order; the same as a stable argsort of ``marked``, in one pass without sorting."""
    return np.concatenate([np.flatnonzero(~marked), np.flatnonzero(marked)]).astype(np.uint32)
