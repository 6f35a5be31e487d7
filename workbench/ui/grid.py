"""The selection grid: thumbnails (images) or snippets (texts) of the selected samples, most
suspicious first; a click opens one full size and tells the workbench to move the review queue
there.

The browser side is ``widgets/grid.js``. Only the first ``max_items`` tiles cross to the
browser, with small previews; the full-size preview is rendered for the one opened sample.
"""

from __future__ import annotations

import numpy as np
import traitlets as t

from workbench.ui._common import (
    Rejoins,
    View,
    asset_path,
    browser_index,
    ignore_message,
    preview_of,
    widget_module,
)
from workbench.ui.multilabel import set_text

__all__ = ["SelectionGrid", "GridWidget"]


class GridWidget(Rejoins):
    """Browser state of the selection grid (synced traits only)."""

    _esm = widget_module("grid.js")
    _css = asset_path("grid.css")

    items = t.List(t.Dict()).tag(sync=True)
    total = t.Int(0).tag(sync=True)
    active = t.Unicode("").tag(sync=True)
    opened = t.Dict().tag(sync=True)

    def __repr__(self) -> str:
        return f"GridWidget(total={self.total}, shown={len(self.items)})"


class SelectionGrid(View):
    """The selected samples as a grid of previews, sorted by the active detector's noise score
    (higher = more likely mislabeled, first).

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    max_items : int, default=60
        At most this many tiles (the most suspicious of the selection).
    on_open : callable, optional
        Called with the sample index when a tile is clicked (the workbench moves its review
        queue there).
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.
    """

    def __init__(self, session_or_dataset, *, max_items: int = 60, on_open=None, **session_options):
        if (
            isinstance(max_items, bool)
            or not isinstance(max_items, int)
            or not 1 <= max_items <= 500
        ):
            raise ValueError(f"max_items must be an int 1..500, found {max_items!r}.")
        if on_open is not None and not callable(on_open):
            raise TypeError(f"on_open must be callable, found {type(on_open).__name__}.")
        super().__init__(session_or_dataset, **session_options)
        self.max_items, self._on_open = max_items, on_open
        self._items = np.empty(0, dtype=np.int64)

    def _build(self):
        w = GridWidget()
        self._widget = w
        w.on_msg(self._on_msg)
        self._subscribe("selection", lambda _: self.refresh())
        self._subscribe("flags", lambda _: self.refresh())
        self.refresh()
        return w

    @property
    def items(self) -> np.ndarray:
        """The sample indices shown, most suspicious first."""
        _ = self.widget
        return self._items.copy()

    def tile(self, i: int, *, size: int = 64) -> dict:
        """What one tile shows about sample ``i`` (JSON-ready)."""
        s, ds = self.session, self.session.dataset
        names = ds.class_names
        preview = preview_of(ds, i, size=size)
        kind = (
            "none" if preview is None else "image" if preview.startswith("data:image/") else "text"
        )
        sug = s.result.suggested_labels
        score = float(s.result.scores[i])
        if ds.is_multilabel:  # label sets as "a | b"; the suggested one where it differs
            given = set_text(names, ds.labels[i])
            other = sug is not None and (np.asarray(sug[i]) > 0).tolist() != ds.labels[i].tolist()
            suggested = set_text(names, np.asarray(sug[i]) > 0) if other else ""
        else:
            given = names[ds.labels[i]]
            suggested = "" if sug is None or sug[i] < 0 else names[sug[i]]
        return {
            "index": int(i),
            "id": None if ds.ids is None else str(ds.ids[i]),  # the user's id, when given
            "preview": preview or "",
            "preview_kind": kind,
            "given": given,
            "suggested": suggested,
            "score": score if np.isfinite(score) else None,
            "flagged": bool(s.flags[i]),
        }

    def refresh(self) -> None:
        """Redraw from the session's selection."""
        w = self._widget
        if w is None:
            return
        s = self.session
        sel = s.selection
        order = np.argsort(-np.nan_to_num(s.result.scores[sel], nan=-np.inf), kind="stable")
        self._items = sel[order][: self.max_items].astype(np.int64)
        with w.hold_sync():
            w.total, w.active = int(sel.size), s.active
            w.items = [self.tile(i) for i in self._items.tolist()]
            if w.opened and w.opened.get("index") not in set(self._items.tolist()):
                w.opened = {}

    def open(self, index: int) -> None:
        """Show sample ``index`` full size and call ``on_open(index)``."""
        i = browser_index(index, self.session.dataset.n_samples)
        if i is None:
            raise ValueError(
                f"index must be an int in 0..{self.session.dataset.n_samples - 1}, found {index!r}."
            )
        self.widget.opened = self.tile(i, size=192)
        if self._on_open is not None:
            self._on_open(i)

    def _on_msg(self, widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "open":
            ignore_message("SelectionGrid", "a message that is not an 'open'", content)
            return
        i = browser_index(content.get("index"), self.session.dataset.n_samples)
        if i is None:
            ignore_message("SelectionGrid", "a sample to open that does not exist", content)
            return
        self.open(i)
