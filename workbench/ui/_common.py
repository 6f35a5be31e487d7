"""Helpers shared by every workbench view: session wrapping, the view protocol, previews.

Every view takes ``(session_or_dataset, **options)``: a Dataset is wrapped into a new Session
with :func:`as_session`. A view exposes ``.widget`` (built lazily), displays itself through
``_repr_mimebundle_`` delegating to that widget and ``close()`` unsubscribes from the session.
"""

from __future__ import annotations

import base64
import html
import logging
import uuid
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from workbench.core.dataset import Dataset
from workbench.core.previews import encode_png, png_data_url, preview_html, to_uint8_image
from workbench.session import Session

__all__ = [
    "as_session",
    "View",
    "asset_path",
    "browser_index",
    "figure_widget",
    "ignore_message",
    "message_widget",
    "plotly_bundle",
    "plotly_text",
    "png_data_url",
    "preview_html",
    "preview_of",
    "Rejoins",
    "widget_module",
]


def as_session(obj, **session_options) -> Session:
    """Return ``obj`` when it is a Session, else wrap a Dataset (or an audit's dataset and
    results) into a new Session. A session made from an audit starts on the audit's primary
    detector (``result.primary``, the one ``result.flagged_frame()`` and the report use).

    Parameters
    ----------
    obj : Session, Dataset, workbench.AuditResult or MultilabelAudit (``wb.audit`` on label sets)
    **session_options
        Passed to :class:`workbench.session.Session` when a new one is made (``results``,
        ``decisions_path``, ``failed``). Giving them with an existing Session is an error.

    Raises
    ------
    TypeError
        If ``obj`` is neither a Session nor a Dataset, or options come with a Session.
    """
    if isinstance(obj, Session):
        if session_options:
            raise TypeError(
                f"Options {sorted(session_options)} only apply when a Dataset is given; this "
                "Session already exists, so they would be ignored."
            )
        return obj
    if isinstance(obj, Dataset):
        return Session(obj, **session_options)
    from workbench.pipeline.multilabel import MultilabelAudit
    from workbench.pipeline.result import AuditResult

    if isinstance(obj, (AuditResult, MultilabelAudit)):  # a multi-label audit opens the same way
        audit = {"results": obj.results, "failed": obj.failed}
        session = Session(obj.dataset, **{**audit, **session_options})
        if obj.primary in session.results:  # open on the detector the audit reports
            session.set_detector(obj.primary)
        return session
    raise TypeError(
        "Expected a workbench.Session, workbench.Dataset or workbench.AuditResult, found "
        f"{type(obj).__name__}. Build one with workbench.Dataset(labels, ...)."
    )


# --- the view protocol ---------------------------------------------------------------------------
class View:
    """Base of every workbench view: lazy ``.widget``, notebook display, ``close()``.

    Subclasses implement ``_build() -> ipywidgets.Widget`` and subscribe to the session with
    ``self._subscribe(event, callback)`` so that ``close()`` can undo it.

    ``shown`` says whether the view is on screen (True unless a container, such as the
    workbench's tabs, says otherwise with ``set_shown``): a view may put off its updates
    while hidden and bring itself up to date in ``_on_shown``.
    """

    shown: bool = True

    def __init__(self, session_or_dataset, **session_options):
        self.session = as_session(session_or_dataset, **session_options)
        self._widget = None
        self._unsubscribers: list = []

    def set_shown(self, shown: bool) -> None:
        """Tell the view whether it is on screen; coming back calls ``_on_shown``."""
        was, self.shown = self.shown, bool(shown)
        if self.shown and not was:
            self._on_shown()

    def _on_shown(self) -> None:
        """Bring a view that put off its updates while hidden up to date (default: nothing)."""

    @property
    def widget(self):
        """The ipywidgets widget showing this view (built on first access)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _subscribe(self, event: str, callback) -> None:
        self._unsubscribers.append(self.session.on(event, callback))

    def close(self) -> None:
        """Stop listening to the session and close the widget (idempotent)."""
        while self._unsubscribers:
            unsubscribe = self._unsubscribers.pop()
            try:
                unsubscribe()
            except ValueError:  # already removed
                pass
        if self._widget is not None:
            self._widget.close()
            self._widget = None

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        ds = self.session.dataset
        return f"{type(self).__name__}(N={ds.n_samples}, K={ds.n_classes})"


def message_widget(sentence: str):
    """An ipywidgets HTML box holding one explanatory sentence (e.g. why a view is empty)."""
    import ipywidgets as w

    return w.HTML(
        f'<div class="wb-message" style="padding:8px;color:#555">{html.escape(sentence)}</div>'
    )


# --- what the browser sends -----------------------------------------------------------------------
# Messages and trait updates from the browser are input like any other: a stale page, another
# front end or a hand-written message can send anything. Views check each one, ignore a bad one
# with a warning on this logger (the kernel's log) and stay usable.
log = logging.getLogger("workbench.ui")


def browser_index(value, n: int) -> int | None:
    """``value`` as a position in ``0..n-1`` when it is one (an int, not a bool), else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value) if 0 <= value < n else None


def ignore_message(view: str, what: str, value) -> None:
    """Log (warning, logger ``workbench.ui``) that ``view`` ignored a bad ``what`` from the
    browser; the value is shown shortened to 200 characters."""
    log.warning("%s ignored %s from the browser: %.200r", view, what, value)


# --- plotly text ---------------------------------------------------------------------------------
def plotly_text(text) -> str:
    """``text`` as plotly shows it literally.

    plotly reads every label, tick and hover text as its own pseudo-HTML (``<b>``, ``<br>``,
    entities: ``a<b>c`` shows as "ac") and hover templates as ``%{...}``; ``&``, ``<``, ``>``
    and ``%`` become entities that plotly turns back into those characters.
    """
    return html.escape(str(text), quote=False).replace("%", "&#37;")


# --- widgets on a busy page ----------------------------------------------------------------------
class Rejoins(anywidget.AnyWidget):
    """An anywidget whose page model keeps hearing the kernel after a slow start.

    anywidget drops every message the kernel sends to a model whose ES module and
    ``initialize`` were not ready 2 s after the page made the model (a busy page: 2 cores, a
    million points being drawn), so its views never change again. The widget's module calls
    ``rejoinIfDropped(model)`` (``widgets/rejoin.js``) in its ``initialize``: when anywidget gave
    up, the page model takes its messages directly and asks for the whole state once. To find
    its model the page needs the model's id, which this class fixes before the comm opens and
    sends as ``_page_model_id``.
    """

    _page_model_id = traitlets.Unicode("").tag(sync=True)

    def open(self):
        if self.comm is None:
            if self._model_id is None:
                self._model_id = uuid.uuid4().hex  # the comm's id, i.e. the page model's
            self.set_trait("_page_model_id", self._model_id)
        super().open()


# --- plotly figure widgets ------------------------------------------------------------------------
_FIGURE_WIDGET = None
_PLOTLY_BUNDLE: bytes | None = None
PLOTLY_BUNDLE_REQUEST = "workbench-plotly-bundle"
"""Type of the custom message with which a figure asks for plotly's bundle, and of the answer."""


def plotly_bundle() -> bytes:
    """plotly's widget bundle (plotly.js and its FigureWidget, ~5 MB of ES module), UTF-8,
    read once per kernel, without importing plotly (its first import takes seconds)."""
    global _PLOTLY_BUNDLE
    if _PLOTLY_BUNDLE is None:
        import importlib.util

        spec = importlib.util.find_spec("plotly")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("plotly is not installed: the figures need it.")
        folder = Path(next(iter(spec.submodule_search_locations)))
        _PLOTLY_BUNDLE = (folder / "package_data" / "widgetbundle.js").read_bytes()
    return _PLOTLY_BUNDLE


def _answer_bundle_request(widget, content, buffers) -> None:
    if isinstance(content, dict) and content.get("type") == PLOTLY_BUNDLE_REQUEST:
        widget._bundles_sent += 1
        widget.send({"type": PLOTLY_BUNDLE_REQUEST}, buffers=[plotly_bundle()])


def figure_widget(figure):
    """A plotly ``FigureWidget`` of ``figure`` that shares one plotly.js per page and keeps
    the browser's selection outlines out of its Python-side layout.

    plotly's own FigureWidget sends its whole bundle (~5 MB: plotly.js and the widget) as
    each widget's ES module, which the browser then evaluates once per figure (two figures
    in the Detectors tab: two copies, seconds at a time on a busy machine). These figures'
    module is ``widgets/plotly_figure.js`` (2 KB): the first figure on a page asks the
    kernel for the bundle (a custom message; ``bundles_sent`` counts the answers), the page
    evaluates it once and every other figure reuses it.

    After a box or lasso selection, plotly.js reports the outline it draws as
    ``layout.selections``, with properties it leaves undefined; plotly.py stores those as a
    sentinel object that no JSON encoder can write, so showing the figure again raised
    ``TypeError: <object object> is not JSON serializable``. The selected points reach
    Python through the selection callbacks, which is all the views use.
    """
    global _FIGURE_WIDGET
    if _FIGURE_WIDGET is None:
        import plotly.graph_objects as go

        class FigureWidget(Rejoins, go.FigureWidget):
            _esm = widget_module("plotly_figure.js", shared=("rejoin.js",))

            _bundles_sent = 0

            def _handle_custom_msg(self, content, buffers):
                # Answered by the class, from the moment the widget's comm is open: JupyterLab
                # sends widget messages to a kernel subshell, whose thread handled the page's
                # request while this widget's __init__ still ran in the main one, before a
                # callback registered there (on_msg) existed; the request went unanswered.
                _answer_bundle_request(self, content, buffers)
                super()._handle_custom_msg(content, buffers)

            @property
            def bundles_sent(self) -> int:
                """How many times this figure sent plotly's bundle to a page that asked."""
                return self._bundles_sent

            @traitlets.validate("_js2py_relayout", "_js2py_update")
            def _drop_selection_outlines(self, proposal):
                message = proposal["value"]
                key = "relayout_data" if "relayout_data" in (message or {}) else "layout_data"
                data = (message or {}).get(key)
                if isinstance(data, dict) and any(k.startswith("selections") for k in data):
                    data = {k: v for k, v in data.items() if not k.startswith("selections")}
                    message = {**message, key: data}
                return message

        _FIGURE_WIDGET = FigureWidget
    return _FIGURE_WIDGET(figure)


# --- assets --------------------------------------------------------------------------------------
def asset_path(name: str) -> Path:
    """Path of a browser-side file (``queue.js``, ``queue.css``) of the widget library.

    Looks in the checkout's top-level ``widgets/`` folder, then in ``workbench/static/`` (where
    an installed wheel keeps them).
    """
    here = Path(__file__).resolve().parent
    for folder in (here.parents[1] / "widgets", here.parent / "static"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"Widget asset {name!r} not found in {here.parents[1] / 'widgets'} or "
        f"{here.parent / 'static'}; reinstall the package."
    )


def widget_module(*names: str, shared: tuple[str, ...] = ("dom.js", "rejoin.js")) -> str:
    """The ES module of a widget as anywidget loads it, one string: the helpers the widgets share
    (``shared``: ``widgets/dom.js``'s ``h()`` and ``fmtScore()``, ``widgets/rejoin.js``'s
    ``rejoinIfDropped()``) followed by each of ``names`` in order, the widget's own code (the one
    with the ``export default``) last: ``widget_module("queue.js")``. anywidget loads a module
    from a string, where a relative ``import`` has nothing to resolve against, so the shared
    code travels inside each widget's module.
    """
    parts = [*shared, *names]
    return "\n".join(asset_path(name).read_text(encoding="utf-8") for name in parts)


# --- previews ------------------------------------------------------------------------------------
def preview_of(dataset: Dataset, index: int, *, size: int = 64) -> str | None:
    """Sample ``index``'s preview: a PNG data URL about ``size`` pixels wide for images, the
    plain text for texts, None when the dataset has no preview for it."""
    if dataset.previews is None:
        return None
    p = dataset.previews[int(index)]
    if p is None:
        return None
    if isinstance(p, (str, bytes)):
        return p.decode(errors="replace") if isinstance(p, bytes) else p
    arr = np.asarray(p)
    if arr.ndim == 0 or arr.dtype.kind not in "biuf":
        return str(p)
    img = to_uint8_image(arr, invert=arr.ndim != 3)
    scale = max(1, min(64, size // max(img.shape[0], img.shape[1], 1)))
    return "data:image/png;base64," + base64.b64encode(encode_png(img, scale=scale)).decode()
