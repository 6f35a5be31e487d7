"""Views of a multi-label dataset: per-class 2×2 matrices and the class co-occurrence matrix,
every cell clickable to select its samples.

N samples, K classes; ``dataset.labels`` (N, K) bool label sets, ``dataset.pred_probs`` (N, K)
independent per-class probabilities (out-of-sample). Two plotly heatmap figures:

- **per-class 2×2**: for each class ``c``, rows = given (has ``c`` / lacks ``c``), columns =
  predicted (``pred_probs[:, c] > threshold`` or not): true positives, missed (given, not
  predicted: possibly an extra label), unexpected (predicted, not given: possibly a missing
  label) and true negatives. With many classes the ``max_classes`` with the most off-diagonal
  samples are shown, the worst first;
- **co-occurrence**: ``[a, b]`` = samples given both ``a`` and ``b`` (the diagonal: samples
  given ``a``), the pairs a swapped label tends to come from.

Clicking a cell selects its samples: :attr:`LabelSetMatrices.selection` is set and the
``on_select(indices)`` callbacks run. The view stands alone (a Dataset is enough).

:class:`LabelSetQueue` reviews a detector's flagged samples one by one: the given and the
suggested set, a toggle per class, "take suggested", and decisions recorded in a
:class:`~workbench.decisions.log.DecisionLog` as label-set edits (``"edit_labels"``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import traitlets as t

from workbench.analysis.multilabel.matrices import class_counts, class_order, cooccurrence
from workbench.ui._common import (
    Rejoins,
    View,
    browser_index,
    figure_widget,
    ignore_message,
    plotly_text,
    preview_of,
    widget_module,
)

__all__ = [
    "LabelSetMatrices",
    "LabelSetMatricesView",
    "LabelSetQueue",
    "LabelSetReview",
    "class_matrices_figure",
    "cooccurrence_figure",
    "labelset_keymap",
    "map_color_options",
]

_PANEL_PX = 150  # one 2×2 matrix
_COLUMNS = 5  # matrices per row
_MAX_WIDTH = 900


def _check(dataset) -> None:
    if not getattr(dataset, "is_multilabel", False):
        raise ValueError("these views need a multi-label Dataset (task='multilabel').")


def class_matrices_figure(dataset, *, threshold: float = 0.5, max_classes: int = 20):
    """Plotly figure of the per-class 2×2 matrices (module docstring); trace ``c<k>`` is the
    matrix of class ``k``, ``z[given][predicted]`` its counts."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _check(dataset)
    if dataset.pred_probs is None:
        raise ValueError("the per-class 2×2 matrices need pred_probs (given vs predicted).")
    classes = class_order(dataset.labels, dataset.pred_probs, threshold, max_classes)
    counts = class_counts(dataset.labels, dataset.pred_probs, threshold)
    cols = min(_COLUMNS, len(classes))
    rows = -(-len(classes) // cols)
    names = [plotly_text(dataset.class_names[c]) for c in classes]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.06,
                        vertical_spacing=0.5 / max(rows, 1))  # fmt: skip
    for i, c in enumerate(classes):
        z = counts[c]
        text = [[f"{z[g, p]:,}" for p in (0, 1)] for g in (0, 1)]
        fig.add_trace(
            go.Heatmap(
                z=z, x=["not predicted", "predicted"], y=["lacks", "has"], name=f"c{c}",
                text=text, texttemplate="%{text}", showscale=False, colorscale="Blues",
                hovertemplate=(f"{names[i]}: given %{{y}}, %{{x}}<br>%{{z:,}} samples"
                               "<extra></extra>"),
            ),
            row=i // cols + 1, col=i % cols + 1,
        )  # fmt: skip
    width = min(_MAX_WIDTH, 80 + cols * _PANEL_PX)
    fig.update_layout(
        width=width, height=90 + rows * (_PANEL_PX + 30), margin=dict(l=60, r=20, t=70, b=30),
        title=f"Per class: given (rows) vs predicted p > {threshold:g} (columns)",
    )  # fmt: skip
    return fig


def cooccurrence_figure(dataset, *, max_classes: int = 40):
    """Plotly heatmap of the class co-occurrence counts of the given label sets (trace
    ``cooccurrence``; both axes the classes, the diagonal the class sizes)."""
    import plotly.graph_objects as go

    _check(dataset)
    co = cooccurrence(dataset.labels, np.arange(min(dataset.n_classes, max_classes)))
    names = [plotly_text(c) for c in dataset.class_names[: co.shape[0]]]
    fig = go.Figure(
        go.Heatmap(
            z=co, x=names, y=names, name="cooccurrence", colorscale="Blues",
            hovertemplate="given %{y} and %{x}: %{z:,} samples<extra></extra>",
        )
    )  # fmt: skip
    side = min(_MAX_WIDTH, 200 + 22 * co.shape[0])
    fig.update_layout(
        width=max(side, 440), height=side, title="Class co-occurrence in the given label sets",
        xaxis_title="class", yaxis_title="class", yaxis_autorange="reversed",
    )  # fmt: skip
    return fig


class LabelSetMatrices:
    """Per-class 2×2 matrices and the co-occurrence matrix of a multi-label dataset, linked
    to a selection (see the module docstring).

    Parameters
    ----------
    dataset : Dataset with ``task="multilabel"``
    threshold : float, default=0.5
        A class is predicted where its probability exceeds it.
    max_classes : int, default=20
        Most 2×2 matrices shown (the classes with most off-diagonal samples).
    on_select : callable, optional
        Called with the selected indices (N,) int64 after every click.
    """

    def __init__(self, dataset, *, threshold: float = 0.5, max_classes: int = 20,
                 on_select: Callable[[np.ndarray], None] | None = None):  # fmt: skip
        _check(dataset)
        self.dataset = dataset
        self.threshold = threshold
        self.max_classes = max_classes
        self.selection = np.empty(0, np.int64)
        self._callbacks = [on_select] if on_select is not None else []
        self._widget = None
        self.matrices = self.cooccurrence = None

    # --- selection -----------------------------------------------------------------------------
    def on_select(self, callback: Callable[[np.ndarray], None]) -> None:
        """Call ``callback(indices)`` after every selection."""
        self._callbacks.append(callback)

    def cell_indices(self, kind: str, a: int, b: int) -> np.ndarray:
        """Samples of a cell: ``kind="class"``: class ``a``, given ``b // 2``, predicted
        ``b % 2``; ``kind="cooccurrence"``: given both classes ``a`` and ``b``."""
        Y = self.dataset.labels
        if kind == "class":
            pred = self.dataset.pred_probs[:, a] > self.threshold
            return np.flatnonzero((Y[:, a] == bool(b // 2)) & (pred == bool(b % 2)))
        if kind == "cooccurrence":
            return np.flatnonzero(Y[:, a] & Y[:, b])
        raise ValueError(f"kind must be 'class' or 'cooccurrence', found {kind!r}.")

    def select(self, indices) -> None:
        self.selection = np.asarray(indices, dtype=np.int64)
        for callback in list(self._callbacks):
            callback(self.selection)

    # --- widget --------------------------------------------------------------------------------
    @property
    def widget(self):
        if self._widget is None:
            import ipywidgets as w

            children = []
            if self.dataset.pred_probs is not None:
                self.matrices = figure_widget(class_matrices_figure(
                    self.dataset, threshold=self.threshold, max_classes=self.max_classes))  # fmt: skip
                for trace in self.matrices.data:
                    trace.on_click(self._on_class_click)
                children.append(self.matrices)
            self.cooccurrence = figure_widget(cooccurrence_figure(self.dataset))
            self.cooccurrence.data[0].on_click(self._on_cooccurrence_click)
            children.append(self.cooccurrence)
            self._widget = w.VBox(children)
        return self._widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _on_class_click(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        ind = points.point_inds[0]
        c = browser_index(int(trace.name[1:]) if trace.name[1:].isdigit() else None,
                          self.dataset.n_classes)  # fmt: skip
        if not (isinstance(ind, (list, tuple)) and len(ind) == 2) or c is None:
            ignore_message("LabelSetMatrices", "a click", ind)
            return
        given, pred = browser_index(ind[0], 2), browser_index(ind[1], 2)
        if given is None or pred is None:
            ignore_message("LabelSetMatrices", "a click", ind)
            return
        self.select(self.cell_indices("class", c, 2 * given + pred))

    def _on_cooccurrence_click(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        ind = points.point_inds[0]
        k = len(trace.z)
        if not (isinstance(ind, (list, tuple)) and len(ind) == 2):
            ignore_message("LabelSetMatrices", "a click", ind)
            return
        a, b = browser_index(ind[0], k), browser_index(ind[1], k)
        if a is None or b is None:
            ignore_message("LabelSetMatrices", "a click", ind)
            return
        self.select(self.cell_indices("cooccurrence", a, b))


class LabelSetQueue:
    """Review queue for label sets: one flagged sample at a time, its given and suggested sets,
    a toggle per class, and decisions recorded as label-set edits.

    Parameters
    ----------
    dataset : Dataset with ``task="multilabel"``
    result : DetectorResult of a multi-label detector (``suggested_labels`` (N, K))
        Its flagged samples are reviewed, most suspicious first (``only_flagged=False``: all).
    decisions : DecisionLog, optional
        Where decisions go (``"edit_labels"`` with the classes added / removed, ``"keep"`` when
        the set stays as given); default a new in-memory log for the dataset's ids.

    Toggling class ``c`` (:meth:`toggle`, or its button) flips it in the working set; :meth:`take_suggestion`
    (the "take suggested" button) sets the working set to the suggestion; :meth:`save` records
    the decision and moves to the next sample.
    """

    def __init__(self, dataset, result, *, decisions=None, only_flagged: bool = True):
        from workbench.decisions.log import DecisionLog

        _check(dataset)
        suggested = result.suggested_labels
        if suggested is None or np.ndim(suggested) != 2:
            raise ValueError(f"{result.detector} gives no suggested label sets (N, K).")
        self.dataset, self.result = dataset, result
        self.suggested = np.asarray(suggested) > 0
        ranking = np.asarray(result.ranking())
        self.order = ranking[np.asarray(result.flags)[ranking]] if only_flagged else ranking
        self.decisions = (
            decisions
            if decisions is not None
            else DecisionLog(
                dataset.n_samples, dataset.class_names, ids=getattr(dataset, "ids", None)
            )
        )
        self.position = 0
        self._widget = None
        self._reset_working()

    # --- state ---------------------------------------------------------------------------------
    @property
    def current(self) -> int | None:
        """Position of the sample under review, None when the queue is done (or empty)."""
        return int(self.order[self.position]) if self.position < len(self.order) else None

    def _reset_working(self) -> None:
        i = self.current
        self.working = self.dataset.labels[i].copy() if i is not None else None
        self._refresh()

    def toggle(self, c: int) -> None:
        if self.working is None:
            return
        c = browser_index(c, self.dataset.n_classes)
        if c is None:
            ignore_message("LabelSetQueue", "a class toggle", c)
            return
        self.working[c] = not self.working[c]
        self._refresh()

    def take_suggestion(self) -> None:
        if self.working is not None:
            self.working = self.suggested[self.current].copy()
            self._refresh()

    def save(self, note: str | None = None) -> None:
        """Record the working set for the current sample (with ``note``) and move on."""
        i = self.current
        if i is None:
            return
        given = self.dataset.labels[i]
        add = np.flatnonzero(self.working & ~given).tolist()
        remove = np.flatnonzero(given & ~self.working).tolist()
        score = float(self.result.scores[i])
        if add or remove:
            self.decisions.decide(i, "edit_labels", add=add, remove=remove, score=score,
                                  detector=self.result.detector, note=note)  # fmt: skip
        else:
            self.decisions.decide(i, "keep", score=score, detector=self.result.detector,
                                  note=note)  # fmt: skip
        self.next()

    def decide_each(self, indices, kind: str, note: str | None = None) -> int:
        """Decide samples ``indices`` at once: ``kind`` ``"keep"``, ``"remove"`` or
        ``"suggested"`` (each sample's label set becomes its suggested set: one label-set edit
        per distinct change, a sample whose suggestion equals its given set is kept). Returns
        the number of decision steps recorded (undo them together)."""
        idx = np.asarray(indices, dtype=np.int64)
        if not idx.size:
            return 0
        detector, scores = self.result.detector, np.asarray(self.result.scores, float)
        if kind in ("keep", "remove"):
            self.decisions.decide(idx, kind, score=scores[idx], detector=detector, note=note)
            return 1
        if kind != "suggested":
            raise ValueError(f"kind must be 'keep', 'remove' or 'suggested', found {kind!r}.")
        given, sug = self.dataset.labels[idx], self.suggested[idx]
        changes: dict[tuple, list[int]] = {}
        for row, i in enumerate(idx):
            key = (tuple(np.flatnonzero(sug[row] & ~given[row])),
                   tuple(np.flatnonzero(given[row] & ~sug[row])))  # fmt: skip
            changes.setdefault(key, []).append(int(i))
        for (add, remove), members in changes.items():
            m = np.asarray(members)
            if add or remove:
                self.decisions.decide(m, "edit_labels", add=list(add), remove=list(remove),
                                      score=scores[m], detector=detector, note=note)  # fmt: skip
            else:
                self.decisions.decide(m, "keep", score=scores[m], detector=detector, note=note)
        return len(changes)

    def next(self) -> None:
        self.position = min(self.position + 1, len(self.order))
        self._reset_working()

    def previous(self) -> None:
        self.position = max(self.position - 1, 0)
        self._reset_working()

    # --- widget --------------------------------------------------------------------------------
    @property
    def widget(self):
        if self._widget is None:
            import ipywidgets as w

            names = self.dataset.class_names
            self._header = w.HTML()
            self._toggles = [w.ToggleButton(description=str(n), layout=w.Layout(width="auto"))
                             for n in names]  # fmt: skip
            for c, button in enumerate(self._toggles):
                button.observe(lambda change, c=c: self._on_toggle(c, change), names="value")
            buttons = []
            for label, fn in (("previous", self.previous), ("take suggested (s)",
                              self.take_suggestion), ("save & next", self.save),
                              ("next", self.next)):  # fmt: skip
                b = w.Button(description=label)
                b.on_click(lambda _b, fn=fn: fn())
                buttons.append(b)
            self._widget = w.VBox([self._header, w.HBox(self._toggles,
                                   layout=w.Layout(flex_flow="row wrap")), w.HBox(buttons)])  # fmt: skip
            self._refresh()
        return self._widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _on_toggle(self, c: int, change) -> None:
        if self._syncing or self.working is None:
            return
        if bool(change["new"]) != bool(self.working[c]):
            self.toggle(c)

    _syncing = False

    def _refresh(self) -> None:
        if self._widget is None:
            return
        import html

        i, names = self.current, self.dataset.class_names
        if i is None:
            self._header.value = "<b>Queue done</b>: every flagged sample was reviewed."
            return
        given, suggested = self.dataset.labels[i], self.suggested[i]
        sets = lambda m: html.escape(" | ".join(names[c] for c in np.flatnonzero(m)) or "∅")  # noqa: E731
        self._header.value = (
            f"<b>{self.position + 1} / {len(self.order)}</b> · sample {i} · score "
            f"{self.result.scores[i]:.3f}<br>given: {sets(given)}<br>suggested: {sets(suggested)}"
        )
        self._syncing = True
        try:
            for c, button in enumerate(self._toggles):
                button.value = bool(self.working[c])
                button.button_style = "warning" if suggested[c] != given[c] else ""
        finally:
            self._syncing = False


# --- the workbench on multi-label data ------------------------------------------------------------
# The workbench's views branch here when ``session.dataset.is_multilabel``: the map's colourings
# and tooltip, the Matrices tab (:class:`LabelSetMatricesView`) and the Review tab
# (:class:`LabelSetReview`), each linked to the session like the single-label views.
LABEL_COUNT = "label count"
HAS_PREFIX = "has: "
SUGGESTED_HAS_PREFIX = "suggested has: "


def map_color_options(session) -> list[str]:
    """The map's colour-by choices on multi-label data, in menu order: the label count, "has:
    <class>" per class (given set), "suggested has: <class>", the truth, flags, decisions and
    every detector's score."""
    ds = session.dataset
    options = [LABEL_COUNT, *(HAS_PREFIX + str(c) for c in ds.class_names)]
    options += [SUGGESTED_HAS_PREFIX + str(c) for c in ds.class_names]
    if ds.has_truth:
        options.append("mislabeled (truth)")
    options += ["flagged", "decision"]
    return options + [f"score: {name}" for name in session.results]


def map_color_values(session, name: str, class_colours: list, grey: tuple):
    """Colour codes of a multi-label-only colouring (``name`` from :func:`map_color_options`);
    None for the colourings both kinds of data share (flags, decisions, truth, scores).

    Returns ``(values (N,) float32 category codes, legend)`` as ``EmbeddingMap.color_values``:
    the label count is one category per count 0..K (capped at ``len(class_colours) - 1``,
    "n+"); "has: c" is two categories (lacks, has)."""
    ds = session.dataset
    names = list(ds.class_names)
    if name == LABEL_COUNT:
        counts = ds.labels.sum(axis=1).astype(np.int64)
        top = int(min(counts.max(initial=0), len(class_colours) - 1))
        cats = [str(v) for v in range(top + 1)]
        if counts.max(initial=0) > top:
            cats[-1] = f"{top}+"
        values = np.minimum(counts, top).astype(np.float32)
        return values, {"kind": "categorical", "title": "labels per sample (given)",
                        "categories": cats, "colors": list(class_colours[: top + 1])}  # fmt: skip
    for prefix, sets, what in ((HAS_PREFIX, ds.labels, "given"),
                               (SUGGESTED_HAS_PREFIX, session.result.suggested_labels,
                                f"suggested by {session.active}")):  # fmt: skip
        if name.startswith(prefix) and name[len(prefix) :] in names:
            c = names.index(name[len(prefix) :])
            has = np.zeros(ds.n_samples, bool) if sets is None else np.asarray(sets)[:, c] > 0
            return has.astype(np.float32), {
                "kind": "categorical", "title": f"{names[c]} ({what})",
                "categories": [f"lacks {names[c]}", f"has {names[c]}"],
                "colors": [grey, (0.0, 0.45, 0.7, 1.0)],
            }  # fmt: skip
    return None


def set_text(names, mask) -> str:
    """A label set (K,) bool as ``"a | b"`` (``∅`` when empty)."""
    return " | ".join(str(names[c]) for c in np.flatnonzero(mask)) or "∅"


def map_sample_info(session, i: int, decision: str) -> dict:
    """What the map's tooltip and side panel say about sample ``i`` of a multi-label dataset:
    the given, suggested (and true) label sets as ``"a | b"`` (``∅`` for none); ``decision``
    as the map words it."""
    ds, names = session.dataset, session.dataset.class_names
    sug = session.result.suggested_labels
    info = {
        "index": int(i),
        "given": set_text(names, ds.labels[i]),
        "suggested": "-" if sug is None else set_text(names, np.asarray(sug)[i] > 0),
        "score": f"{session.result.scores[i]:.4g} ({session.active})",
        "flagged": "yes" if session.flags[i] else "no",
        "decision": decision,
    }
    if ds.has_truth:
        t = ds.true_labels[i]
        info["true"] = set_text(names, t > 0) if (t >= 0).all() else "unknown"
    return info


class LabelSetMatricesView(View):
    """The Matrices tab on multi-label data: :class:`LabelSetMatrices` linked to a session (a
    click on a cell selects its samples in every view).

    Parameters
    ----------
    session_or_dataset : Session or Dataset (multi-label)
    threshold, max_classes : as :class:`LabelSetMatrices`
    """

    def __init__(self, session_or_dataset, *, threshold: float = 0.5, max_classes: int = 20,
                 **session_options):  # fmt: skip
        super().__init__(session_or_dataset, **session_options)
        _check(self.session.dataset)
        self.reason = None
        self.matrices = LabelSetMatrices(
            self.session.dataset, threshold=threshold, max_classes=max_classes,
            on_select=lambda idx: self.session.select(idx, source="matrix"),
        )  # fmt: skip

    def _build(self):
        return self.matrices.widget


class LabelSetQueueWidget(Rejoins):
    """Browser state of the label-set review queue (``widgets/labelset_queue.js``)."""

    _esm = widget_module("labelset_queue.js")
    title = t.Unicode("").tag(sync=True)
    class_names = t.List(t.Unicode()).tag(sync=True)
    position = t.Int(0).tag(sync=True)
    total = t.Int(0).tag(sync=True)
    index = t.Int(-1).tag(sync=True)  # the sample under review, -1 when none
    sample_id = t.Unicode("").tag(sync=True)  # its id ("" when the dataset has no ids)
    score = t.Unicode("").tag(sync=True)
    preview = t.Unicode("").tag(sync=True)  # PNG data URL or text; "" without previews
    given = t.List(t.Bool()).tag(sync=True)
    suggested = t.List(t.Bool()).tag(sync=True)
    working = t.List(t.Bool()).tag(sync=True)
    keymap = t.Dict().tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    # the page of the queue around the sample under review (one dict per row, see _rows)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(20).tag(sync=True)
    rows = t.List(t.Dict()).tag(sync=True)
    n_selected = t.Int(0).tag(sync=True)  # rows marked for a bulk decision
    # a note the reviewer typed, filed with the next decision (one or bulk), then cleared
    note = t.Unicode("").tag(sync=True)


def labelset_keymap(n_classes: int) -> dict[str, str]:
    """Keys of the label-set review: digits toggle classes 0-9 (``toggle:<c>``), ``s`` takes
    the suggested set, Enter / ``a`` save and move on, ``x`` remove the sample and move on,
    ↓ / ``j`` next, ↑ / ``k`` previous, PageDown / PageUp a page on / back, Home / End the
    first / last sample, space marks the row for a bulk decision (``select``), ``n`` the note
    box (the browser moves the focus), ``u`` undo the last decision (back to its sample)."""
    keys = {"s": "take_suggested", "Enter": "save", "a": "save", "x": "remove",
            "ArrowDown": "next", "j": "next", "ArrowUp": "previous", "k": "previous",
            "PageDown": "next_page", "PageUp": "previous_page", "Home": "first", "End": "last",
            " ": "select", "n": "note", "u": "undo"}  # fmt: skip
    for c in range(min(n_classes, 10)):
        keys[str(c)] = f"toggle:{c}"
    return keys


class LabelSetReview(View):
    """The Review tab on multi-label data: :class:`LabelSetQueue` on the session's selection
    (most suspicious first) or, without one, the active detector's flagged samples; decisions
    go to ``session.decisions`` as label-set edits (``edit_labels``), ``keep`` or ``remove``.

    The browser shows a page of ``page_size`` rows around the sample under review (its given
    and suggested sets, score and current decision) and, for that sample, a toggle per class.
    Rows marked for a bulk decision (space, or the row's box) are kept, removed or given their
    suggested sets in one undoable decision; a note typed in the note box goes with the next
    decision.

    Keys (click the queue first): 0-9 toggle that class, s take the suggested set, Enter / a
    save and next, x remove and next, ↓ / j next, ↑ / k previous, PageDown / PageUp a page on
    / back, Home / End first / last, space mark the row, n write a note, u undo.

    Parameters
    ----------
    session_or_dataset : Session or Dataset (multi-label)
    page_size : int, default=20
        Rows per page sent to the browser.
    """

    def __init__(self, session_or_dataset, *, page_size: int = 20, **session_options):
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= 500
        ):
            raise ValueError(f"page_size must be an int 1..500, found {page_size!r}.")
        super().__init__(session_or_dataset, **session_options)
        _check(self.session.dataset)
        self.page_size = page_size
        self.queue: LabelSetQueue | None = None
        self.selected: set[int] = set()  # samples marked for a bulk decision
        # decisions made here, last last: (samples, steps) (undo goes back to the first sample)
        self._saved: list[tuple[list[int], int]] = []
        self._rebuild()

    # --- state ---------------------------------------------------------------------------------
    def _result(self):
        """The active detector's result when it suggests label sets, else the first that does."""
        s = self.session
        candidates = [s.result, *s.results.values()]
        for result in candidates:
            if result.suggested_labels is not None and np.ndim(result.suggested_labels) == 2:
                return result
        return None

    def _rebuild(self) -> None:
        s, result = self.session, self._result()
        self.selected = set()
        if result is None:
            self.queue = None
        else:
            self.queue = LabelSetQueue(s.dataset, result, decisions=s.decisions)
            if s.selection.size:  # the selection, most suspicious first (by the shown scores)
                scores = np.nan_to_num(np.asarray(result.scores, float)[s.selection], nan=-np.inf)
                self.queue.order = s.selection[np.argsort(-scores, kind="stable")]
            else:
                self.queue.order = np.flatnonzero(s.flags)[
                    np.argsort(-np.nan_to_num(np.asarray(result.scores, float)[s.flags],
                                              nan=-np.inf), kind="stable")]  # fmt: skip
            self.queue.position = 0
            self.queue._reset_working()
        self._sync()

    @property
    def title(self) -> str:
        s = self.session
        if s.selection.size:
            return f"{s.selection.size:,} selected"
        return f"flagged by {s.active}"

    @property
    def page(self) -> int:
        """The page holding the sample under review (the last page once the queue is done)."""
        q = self.queue
        if q is None or not len(q.order):
            return 0
        return min(q.position, len(q.order) - 1) // self.page_size

    def go_to(self, index: int) -> bool:
        """Move to sample ``index`` when it is in the queue; returns whether it is."""
        if self.queue is None:
            return False
        hits = np.flatnonzero(self.queue.order == index)
        if not hits.size:
            return False
        self.move_to(int(hits[0]))
        return True

    def move_to(self, position: int) -> None:
        """Put the sample at queue ``position`` (clamped) under review."""
        q = self.queue
        if q is None:
            return
        q.position = int(min(max(position, 0), max(len(q.order) - 1, 0)))
        q._reset_working()
        self._sync()

    def press(self, key: str) -> bool:
        """Act on one key as the browser sends it; returns whether the key is bound."""
        command = labelset_keymap(self.session.dataset.n_classes).get(key)
        if command is None:
            return False
        self.command(command)
        return True

    def command(self, command: str) -> None:
        """``toggle:<c>``, ``take_suggested``, ``save``, ``remove``, ``next``, ``previous``,
        ``next_page``, ``previous_page``, ``first``, ``last``, ``select`` (mark / unmark the
        sample under review), ``select_page``, ``clear_selection``, ``bulk:keep``,
        ``bulk:remove``, ``bulk:suggested`` (the marked rows), ``note`` (the browser's) or
        ``undo``."""
        q = self.queue
        if q is None:
            return
        if command == "undo":
            self.undo()
            return
        if command == "note":
            return  # the browser moves the keyboard focus to the note box
        self._message("")
        moves = {"next_page": self.page_size, "previous_page": -self.page_size,
                 "first": -len(q.order), "last": len(q.order)}  # fmt: skip
        if command.startswith("toggle:") and command[7:].isdigit():
            q.toggle(int(command[7:]))
        elif command == "take_suggested":
            q.take_suggestion()
        elif command == "save":
            if q.current is not None:
                self._saved.append(([q.current], 1))
            q.save(note=self._take_note())
        elif command == "remove":
            if q.current is not None:
                self._decide([q.current], "remove")
                q.next()
        elif command == "next":
            q.next()
        elif command == "previous":
            q.previous()
        elif command in moves:
            self.move_to(min(q.position, max(len(q.order) - 1, 0)) + moves[command])
            return
        elif command == "select":
            if q.current is not None:
                self.selected ^= {q.current}
        elif command == "select_page":
            start = self.page * self.page_size
            self.selected |= {int(i) for i in q.order[start : start + self.page_size]}
        elif command == "clear_selection":
            self.selected = set()
        elif command.startswith("bulk:") and command[5:] in ("keep", "remove", "suggested"):
            self.decide_selected(command[5:])
            return
        else:
            ignore_message("LabelSetReview", "an unknown command", command)
            return
        self._sync()

    def decide_selected(self, kind: str) -> int:
        """Decide every marked sample at once (one undoable step): ``kind`` ``"keep"``,
        ``"remove"`` or ``"suggested"`` (each takes its suggested set). Returns how many."""
        if not self.selected:
            self._message("Mark rows first (space, or the row's box).")
            return 0
        idx = sorted(self.selected)
        self._decide(idx, kind)
        self.selected = set()
        what = {"keep": "Kept", "remove": "Removed", "suggested": "Suggested sets taken"}[kind]
        self._sync()
        self._message(f"{what}: {len(idx):,} sample{'s' if len(idx) > 1 else ''}.")
        return len(idx)

    def _decide(self, indices: list[int], kind: str) -> None:
        steps = self.queue.decide_each(indices, kind, note=self._take_note())
        if steps:
            self._saved.append((list(indices), steps))

    def _take_note(self) -> str | None:
        """The note typed in the browser (cleared: it goes with this decision only)."""
        w = self._widget
        if w is None:
            return None
        note = w.note.strip() or None
        w.note = ""
        return note

    def undo(self) -> bool:
        """Undo the last decision made here (a bulk decision entirely) or, when there is none,
        the last step in the session's log; the review goes back to the (first) sample it
        decided when that sample is in the queue. Returns whether there was one to undo."""
        log = self.session.decisions
        if not log.can_undo:
            self._message("Nothing to undo.")
            return False
        samples, steps = self._saved.pop() if self._saved else ([], 1)
        log.undo(steps)
        if samples:
            self.go_to(samples[0])
        self._sync()
        self._message(
            "Undone." if not samples
            else f"Undone: sample {samples[0]}." if len(samples) == 1
            else f"Undone: {len(samples):,} samples."
        )  # fmt: skip
        return True

    def _message(self, text: str) -> None:
        if self._widget is not None:
            self._widget.message = text

    # --- rows ----------------------------------------------------------------------------------
    def rows(self, start: int, stop: int) -> list[dict]:
        """Rows ``start:stop`` of the queue as the browser shows them: ``position``, ``index``,
        ``id``, ``score``, ``given`` and ``suggested`` sets (``"a | b"``, ``∅`` when empty),
        ``decision`` (``""`` undecided, ``keep``, ``remove`` or ``"edit → <set>"``) and
        ``selected`` (marked for a bulk decision)."""
        q = self.queue
        if q is None:
            return []
        ds, log = self.session.dataset, self.session.decisions
        idx = q.order[start:stop]
        names = ds.class_names
        actions = log.actions()[idx]
        edited = {}
        if (actions == "edit_labels").any():
            cur = log.current()
            cur = cur[cur["index"].isin(idx[actions == "edit_labels"])].set_index("index")
            for i, row in cur.iterrows():
                working = ds.labels[i].copy()
                if row["added"]:
                    working[json.loads(row["added"])] = True
                if row["removed"]:
                    working[json.loads(row["removed"])] = False
                edited[int(i)] = "edit → " + set_text(names, working)
        scores = np.asarray(q.result.scores, float)
        return [
            {
                "position": int(start + r),
                "index": int(i),
                "id": "" if ds.ids is None else str(ds.ids[i]),
                "score": f"{scores[i]:.3f}",
                "given": set_text(names, ds.labels[i]),
                "suggested": set_text(names, q.suggested[i]),
                "decision": edited.get(int(i), str(actions[r])),
                "selected": int(i) in self.selected,
            }
            for r, i in enumerate(idx)
        ]

    # --- widget --------------------------------------------------------------------------------
    def _build(self):
        ds = self.session.dataset
        w = LabelSetQueueWidget(
            class_names=[str(c) for c in ds.class_names], keymap=labelset_keymap(ds.n_classes),
            page_size=self.page_size,
        )  # fmt: skip
        self._widget = w
        w.on_msg(self._on_msg)
        self._subscribe("selection", lambda _: self._rebuild())
        self._subscribe("flags", lambda _: self._rebuild())
        self._sync()
        return w

    def _sync(self) -> None:
        w = self._widget
        if w is None:
            return
        q, k = self.queue, self.session.dataset.n_classes
        with w.hold_sync():
            w.title = self.title
            w.page = self.page
            start = self.page * self.page_size
            w.rows = self.rows(start, start + self.page_size)
            w.n_selected = len(self.selected)
            if q is None or q.current is None:
                w.index, w.position = -1, 0 if q is None else q.position
                w.total = 0 if q is None else len(q.order)
                w.given = w.suggested = w.working = [False] * k
                w.message = "" if q is not None else "No detector suggests label sets here."
                return
            i = q.current
            w.position, w.total, w.index = q.position, len(q.order), i
            ids = self.session.dataset.ids
            w.sample_id = "" if ids is None else str(ids[i])
            w.score = f"{q.result.scores[i]:.3f} ({q.result.detector})"
            w.preview = preview_of(self.session.dataset, i, size=96) or ""
            w.given = [bool(v) for v in self.session.dataset.labels[i]]
            w.suggested = [bool(v) for v in q.suggested[i]]
            w.working = [bool(v) for v in q.working]

    def _on_msg(self, widget, content, buffers) -> None:
        if not isinstance(content, dict):
            ignore_message("LabelSetReview", "a message that is not an object", content)
            return
        kind = content.get("type")
        if kind == "key" and isinstance(content.get("key"), str):
            self.press(content["key"])
        elif kind == "command" and isinstance(content.get("command"), str):
            self.command(content["command"])
        elif kind == "toggle":
            c = browser_index(content.get("class"), self.session.dataset.n_classes)
            if c is None:
                ignore_message("LabelSetReview", "a toggle of no class", content)
                return
            self.command(f"toggle:{c}")
        elif kind in ("go", "mark"):
            total = 0 if self.queue is None else len(self.queue.order)
            pos = browser_index(content.get("position"), total)
            if pos is None:
                ignore_message("LabelSetReview", "a row that is not in the queue", content)
                return
            if kind == "go":
                self.move_to(pos)
            else:  # the row's box: mark or unmark that row
                self.selected ^= {int(self.queue.order[pos])}
                self._sync()
        else:
            ignore_message("LabelSetReview", "a message of unknown type", content)
