"""The review queue: flagged (or selected) samples sorted by noise score, one page at a time,
decided with buttons or single keys.

The browser side is ``widgets/queue.js`` (an anywidget ES module). Only the rows of the page on
screen cross to the browser, so a queue of a million flagged samples costs one page. Keys pressed
in the browser travel as ``{"type": "key", ...}`` messages and buttons as ``decide`` / ``bulk``
/ ``undo`` messages; the Python side turns them into ``session.decide(...)`` calls, which record
the active detector, the threshold and each sample's noise score with the decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import traitlets as t

from workbench.analysis.detectors import label_error_detectors
from workbench.decisions.log import ACTIONS
from workbench.ui._common import (
    Rejoins,
    View,
    asset_path,
    ignore_message,
    preview_of,
    widget_module,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReviewQueue", "QueueWidget", "keymap"]

_SOURCE = "queue"


def keymap(n_classes: int) -> dict[str, str]:
    """Keys the queue answers to, mapped to commands.

    Commands: ``next``, ``previous``, ``next_page``, ``previous_page``, ``first``, ``last``,
    ``keep``, ``remove``, ``needs_review``, ``relabel:<class index>`` (digit keys, for the first
    ten classes; the queue's key legend names each digit's class), ``relabel:suggested``,
    ``undo``, and two the browser handles itself: ``pick_class`` (focus the current row's
    type-to-filter class box: any class, however many) and ``note`` (focus the note box; the
    note is filed with the next decision).
    """
    keys = {
        "ArrowDown": "next", "j": "next", "ArrowUp": "previous", "k": "previous",
        "PageDown": "next_page", "PageUp": "previous_page", "Home": "first", "End": "last",
        "a": "keep", "Enter": "keep", "x": "remove", "r": "remove", "Delete": "remove",
        "?": "needs_review", "s": "relabel:suggested", "u": "undo", "ctrl+z": "undo",
        "c": "pick_class", "n": "note",
    }  # fmt: skip
    for c in range(min(n_classes, 10)):
        keys[str(c)] = f"relabel:{c}"
    return keys


class QueueWidget(Rejoins):
    """Browser state of the review queue (synced traits only; the logic lives in ReviewQueue)."""

    _esm = widget_module("queue.js")
    _css = asset_path("queue.css")

    # --- what the queue holds
    title = t.Unicode("").tag(sync=True)
    total = t.Int(0).tag(sync=True)
    class_names = t.List(t.Unicode()).tag(sync=True)
    detectors = t.List(t.Unicode()).tag(sync=True)
    active = t.Unicode("").tag(sync=True)
    has_truth = t.Bool(False).tag(sync=True)
    has_ids = t.Bool(False).tag(sync=True)  # rows carry the dataset's sample ids
    # --- paging: only ``rows`` (the page on screen) ever crosses to the browser
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(20).tag(sync=True)
    cursor = t.Int(0).tag(sync=True)
    rows = t.List(t.Dict()).tag(sync=True)
    # --- review state
    hide_decided = t.Bool(False).tag(sync=True)
    # --- filters (-1 / "any" / 0: no filter)
    filter_given = t.Int(-1).tag(sync=True)
    filter_suggested = t.Int(-1).tag(sync=True)
    filter_state = t.Unicode("any").tag(sync=True)
    min_flagged = t.Int(0).tag(sync=True)
    can_undo = t.Bool(False).tag(sync=True)
    counts = t.Dict().tag(sync=True)
    keymap = t.Dict().tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    # a note the reviewer typed, filed with the next decision, then cleared
    note = t.Unicode("").tag(sync=True)

    def __repr__(self) -> str:
        return f"QueueWidget(total={self.total}, page={self.page}, cursor={self.cursor})"


class ReviewQueue(View):
    """Review flagged samples one by one: keep, remove, relabel or mark for review.

    The queue holds the current selection when there is one, else the samples the active
    detector flags at the current threshold, most suspicious first (noise score, higher = more
    likely mislabeled). Each row is one line: the sample's index and preview, the given and
    suggested labels, the active detector's score, how many of the label-error detectors flag
    it ("3 of 16"; every detector's score on hover or in the row's expandable detail) and the
    current decision.

    Keys (click the queue first): ↓/j next, ↑/k previous, a/Enter keep, x/r/Delete remove,
    ? needs review, 0-9 relabel to that class (the key legend names each digit's class), s
    relabel to the suggested label, c relabel to any class (type to filter), n write a note
    for the next decision, u/Ctrl-Z undo (the cursor goes back to the undone row).

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    page_size : int, default=20
        Rows per page sent to the browser.
    hide_decided : bool, default=False
        Leave decided samples out of the queue.
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.
    """

    def __init__(
        self,
        session_or_dataset,
        *,
        page_size: int = 20,
        hide_decided: bool = False,
        **session_options,
    ):
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= 500
        ):
            raise ValueError(f"page_size must be an int 1..500, found {page_size!r}.")
        super().__init__(session_or_dataset, **session_options)
        self._page_size, self._hide_decided = page_size, bool(hide_decided)
        self._items = np.empty(0, dtype=np.int64)
        self._syncing = False
        self._decided = None  # (log, actions, relabel names, counts) until the decisions change

    # --- building ------------------------------------------------------------------------------
    def _build(self):
        s = self.session
        self._decided = None  # decisions made while no widget listened
        w = QueueWidget(
            class_names=list(s.dataset.class_names),
            detectors=list(s.results),
            has_truth=s.dataset.has_truth,
            has_ids=s.dataset.ids is not None,
            page_size=self._page_size,
            hide_decided=self._hide_decided,
            keymap=keymap(s.dataset.n_classes),
        )
        self._widget = w  # the handlers below read it
        w.on_msg(self._on_msg)
        w.observe(self._on_cursor, names="cursor")
        w.observe(self._on_page, names="page")
        w.observe(self._on_hide_decided, names="hide_decided")
        w.observe(
            self._on_filter,
            names=["filter_given", "filter_suggested", "filter_state", "min_flagged"],
        )
        w.observe(self._on_page_size, names="page_size")
        self._subscribe("selection", lambda _: self.refresh())
        self._subscribe("flags", lambda _: self.refresh())
        self._subscribe("decisions", lambda _: self._on_decisions())
        self.refresh()
        return w

    def _decisions_now(self) -> tuple[np.ndarray, pd.Series, dict[str, int]]:
        """The decision log's latest action per sample (object (N,), ``""`` undecided), the
        relabelled samples' new label names (by index) and the counts per action.

        Built once per state of the log, not per selection or page: each is a pass over all
        N samples (an 8 MB array at a million). Dropped when the session says the decisions
        changed (and rebuilt if the session's log is another one)."""
        log = self.session.decisions
        if self._decided is None or self._decided[0] is not log:
            relabel = log.relabels().set_index("index")["label_name"]
            self._decided = (log, log.actions(), relabel, log.counts())
        return self._decided[1:]

    # --- contents ------------------------------------------------------------------------------
    @property
    def items(self) -> np.ndarray:
        """Sample indices in queue order (most suspicious first)."""
        _ = self.widget
        return self._items.copy()

    @property
    def current(self) -> int | None:
        """The sample index under the cursor, None when the queue is empty."""
        w = self.widget
        return int(self._items[w.cursor]) if len(self._items) else None

    def _compute_items(self) -> np.ndarray:
        s, w = self.session, self._widget
        pool = s.selection if s.selection.size else np.flatnonzero(s.flags)
        if w.hide_decided and pool.size:
            pool = pool[self._decisions_now()[0][pool] == ""]
        if w.filter_given >= 0:
            pool = pool[s.dataset.labels[pool] == w.filter_given]
        if w.filter_suggested >= 0:
            pool = pool[self._suggested(pool) == w.filter_suggested]
        if w.filter_state != "any":
            actions = self._decisions_now()[0][pool]
            if w.filter_state == "undecided":
                pool = pool[actions == ""]
            elif w.filter_state == "decided":
                pool = pool[actions != ""]
            else:
                pool = pool[actions == w.filter_state]
        if w.min_flagged > 0:
            pool = pool[self.n_flagging(pool) >= w.min_flagged]
        order = np.argsort(-s.result.scores[pool], kind="stable")
        return pool[order].astype(np.int64)

    def n_flagging(self, indices) -> np.ndarray:
        """How many label-error detectors flag each of ``indices`` (the active one at the
        session's threshold, the others by their own rule), as the rows' "flagged by"."""
        s = self.session
        idx = np.asarray(indices, dtype=np.int64)
        out = np.zeros(len(idx), dtype=np.int64)
        for name in label_error_detectors(s.results):
            flags = s.flags if name == s.active else s.results[name].flags
            out += flags[idx]
        return out

    def set_filters(
        self, *, given=None, suggested=None, state: str = "any", min_flagged: int = 0
    ) -> None:
        """Show only the queue's samples of given class ``given`` and suggested class
        ``suggested`` (index or name; None: any), in decision ``state`` ("any", "undecided",
        "decided" or an action) and flagged by at least ``min_flagged`` detectors."""
        names = list(self.session.dataset.class_names)

        def code(value, what):
            if value is None:
                return -1
            if isinstance(value, str):
                if value not in names:
                    raise ValueError(f"{what} must be a class name in {names}, found {value!r}.")
                return names.index(value)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{what} must be a class index or name, found {value!r}.")
            if not 0 <= value < len(names):
                raise ValueError(f"{what} must lie in 0..{len(names) - 1}, found {value}.")
            return int(value)

        states = ("any", "undecided", "decided", *ACTIONS)
        if state not in states:
            raise ValueError(f"state must be one of {states}, found {state!r}.")
        if isinstance(min_flagged, bool) or not isinstance(min_flagged, (int, np.integer)):
            raise TypeError(f"min_flagged must be an int, found {min_flagged!r}.")
        w = self.widget
        with w.hold_trait_notifications():
            w.filter_given, w.filter_suggested = code(given, "given"), code(suggested, "suggested")
            w.filter_state, w.min_flagged = state, max(int(min_flagged), 0)

    def go_to(self, index: int) -> bool:
        """Move the cursor to sample ``index`` (a position 0..N-1) when it is in the queue;
        returns whether it is (the message line says when not)."""
        w = self.widget
        rows = np.flatnonzero(self._items == int(index))
        if not rows.size:
            w.message = f"Sample {int(index)} is not in this queue."
            return False
        w.cursor = int(rows[0])
        return True

    def find(self, sample_id) -> bool:
        """Move the cursor to the sample whose id (or, without ids, position) is
        ``sample_id``; returns whether it is in the queue (the message line says so)."""
        w, ds = self.widget, self.session.dataset
        ids = np.asarray(ds.sample_ids())
        text = str(sample_id).strip()
        if ids.dtype.kind in "iu":
            hits = np.flatnonzero(ids == int(text)) if text.lstrip("-").isdigit() else ids[:0]
        else:
            hits = np.flatnonzero(ids.astype(str) == text)
        if not hits.size:
            w.message = f"No sample has the id {text!r}."
            return False
        rows = np.flatnonzero(np.isin(self._items, hits))
        if not rows.size:
            w.message = f"Sample {text} (#{int(hits[0])}) is not in this queue."
            return False
        w.cursor = int(rows[0])
        w.message = f"Found sample {text} at row {int(rows[0]) + 1}."
        return True

    def refresh(self, *, keep_cursor: bool = False) -> None:
        """Recompute the queue from the session (selection or flags) and redraw the page."""
        w = self._widget
        if w is None:
            return
        s = self.session
        self._items = self._compute_items()
        n = len(self._items)
        if s.selection.size:
            title = f"Selection: {n:,} sample(s), sorted by {s.active} score"
        else:
            mode, value = s.threshold
            rule = {
                "default": "default rule",
                "score": f"score ≥ {value:g}" if value is not None else "score",
                "top_k": f"top {value}",
                "estimated": "estimated number of errors",
            }
            title = f"Flagged by {s.active} ({rule[mode]}): {n:,} sample(s)"
        if w.hide_decided:
            title += ", undecided only"
        names = s.dataset.class_names
        filters = []
        if w.filter_given >= 0:
            filters.append(f"given {names[w.filter_given]}")
        if w.filter_suggested >= 0:
            filters.append(f"suggested {names[w.filter_suggested]}")
        if w.filter_state != "any":
            filters.append(w.filter_state.replace("_", " "))
        if w.min_flagged > 0:
            filters.append(f"flagged by ≥ {w.min_flagged}")
        if filters:
            title += " · filtered: " + ", ".join(filters)
        cursor = min(w.cursor, max(n - 1, 0)) if keep_cursor else 0
        with w.hold_sync():
            self._syncing = True
            try:
                w.title, w.total, w.active = title, n, s.active
                w.detectors = list(s.results)
                w.cursor = cursor
                w.page = cursor // w.page_size
            finally:
                self._syncing = False
            self._send_page()
            self._send_state()

    def rows(self, start: int, stop: int) -> list[dict]:
        """The queue rows at positions ``start..stop-1`` as sent to the browser.

        Each row carries what the queue shows on one line (index, preview, given and suggested
        label, the active detector's score as ``active_score`` and how many detectors flag the
        sample, ``n_flagged`` of ``n_detectors``, counting the detectors of label errors only,
        not ambiguity or outlier scores) and, for the detail the browser shows on demand, every
        detector's score in ``scores`` (``votes``: whether it counts in ``n_flagged``).
        """
        s, ds = self.session, self.session.dataset
        names = ds.class_names
        idx = self._items[max(start, 0) : max(stop, 0)]
        actions, relabel, _ = self._decisions_now()
        suggested = self._suggested(idx)
        # Ambiguity and outlier scores (Detector.kind: datamap_variability, knn_outlier) show in
        # the detail but do not vote in "flagged by n of m", as everywhere detectors are counted.
        voters = set(label_error_detectors(s.results))
        ids = ds.ids  # the user's sample ids (None: positions name the samples)
        out = []
        for offset, i in enumerate(idx.tolist()):
            preview = preview_of(ds, i, size=56)
            kind = (
                "none"
                if preview is None
                else "image"
                if preview.startswith("data:image/")
                else "text"
            )
            scores = []
            for name, res in s.results.items():
                v = float(res.scores[i])
                flagged = bool(s.flags[i] if name == s.active else res.flags[i])
                scores.append(
                    {
                        "detector": name,
                        "score": v if np.isfinite(v) else None,
                        "flagged": flagged,
                        "votes": name in voters,
                    }
                )
            active = float(s.result.scores[i])
            sug = int(suggested[offset])
            row = {
                "position": start + offset, "index": i,
                "id": None if ids is None else str(ids[i]), "preview": preview or "",
                "preview_kind": kind, "given": names[ds.labels[i]],
                "given_code": int(ds.labels[i]),
                "suggested": names[sug] if sug >= 0 else "", "suggested_code": sug,
                "active_detector": s.active,
                "active_score": active if np.isfinite(active) else None,
                "active_flagged": bool(s.flags[i]),
                "n_flagged": sum(sc["flagged"] for sc in scores if sc["votes"]),
                "n_detectors": len(voters),
                "scores": scores, "decision": actions[i],
                "decision_label": str(relabel.get(i, "")) if actions[i] == "relabel" else "",
            }  # fmt: skip
            if ds.has_truth:
                tl = int(ds.true_labels[i])
                row["true"] = names[tl] if tl >= 0 else ""
            out.append(row)
        return out

    def _suggested(self, idx: np.ndarray) -> np.ndarray:
        """Suggested label per index: the active detector's, else the first detector's that has
        one; -1 where none does."""
        out = np.full(len(idx), -1, dtype=np.int64)
        ordered = [self.session.result] + [
            r for n, r in self.session.results.items() if n != self.session.active
        ]
        for res in ordered:
            if res.suggested_labels is not None:
                fill = out < 0
                out[fill] = res.suggested_labels[idx[fill]]
        return out

    def _send_page(self) -> None:
        w = self._widget
        start = w.page * w.page_size
        w.rows = self.rows(start, start + w.page_size)

    def _send_state(self) -> None:
        w, log = self._widget, self.session.decisions
        w.can_undo = log.can_undo
        w.counts = dict(self._decisions_now()[2])

    # --- trait changes from the browser ------------------------------------------------------
    def _on_cursor(self, change) -> None:
        if self._syncing:
            return
        w, n = self._widget, len(self._items)
        cursor = min(max(change["new"], 0), max(n - 1, 0))
        if cursor != change["new"]:
            w.cursor = cursor
            return
        if cursor // w.page_size != w.page:
            w.page = cursor // w.page_size

    def _on_page(self, change) -> None:
        if self._syncing:
            return
        w = self._widget
        last = max((len(self._items) - 1) // w.page_size, 0)
        page = min(max(change["new"], 0), last)
        if page != change["new"]:
            w.page = page
            return
        if w.cursor // w.page_size != page:  # paging moves the cursor onto the page shown
            self._syncing = True
            try:
                w.cursor = min(page * w.page_size, max(len(self._items) - 1, 0))
            finally:
                self._syncing = False
        self._send_page()

    def _on_page_size(self, change) -> None:
        if not 1 <= change["new"] <= 500:
            self._widget.page_size = change["old"]
            return
        self.refresh(keep_cursor=True)

    def _on_hide_decided(self, change) -> None:
        self.refresh(keep_cursor=True)

    def _on_filter(self, change) -> None:
        w, k = self._widget, self.session.dataset.n_classes
        name, new = change["name"], change["new"]
        if name == "filter_state":
            ok = new in ("any", "undecided", "decided", *ACTIONS)
        else:
            ok = new >= (0 if name == "min_flagged" else -1) and (name == "min_flagged" or new < k)
        if not ok:
            ignore_message("ReviewQueue", f"a {name} filter", new)
            setattr(w, name, change["old"])
            return
        self.refresh()

    def _on_decisions(self) -> None:
        self._decided = None
        if self._widget.hide_decided:
            self.refresh(keep_cursor=True)
        else:
            self._send_page()
            self._send_state()

    # --- commands ------------------------------------------------------------------------------
    def move(self, step: int) -> None:
        """Move the cursor by ``step`` rows (clamped to the queue)."""
        w = self.widget
        w.cursor = min(max(w.cursor + step, 0), max(len(self._items) - 1, 0))

    def decide(
        self, action: str, *, label=None, position: int | None = None, advance: bool = True
    ) -> bool:
        """Decide the sample at ``position`` (default: the cursor) and move to the next one.

        ``label`` is a class index or name for ``"relabel"``, or ``"suggested"``. Returns
        whether a decision was recorded (a position past the end or a label that is no class
        records nothing and says why in the queue's message line).

        Raises
        ------
        TypeError
            If ``position`` is neither None nor an int.
        """
        w = self.widget
        if position is not None and (
            isinstance(position, (bool, np.bool_)) or not isinstance(position, (int, np.integer))
        ):
            raise TypeError(
                f"position must be an int (a row of the queue) or None, found {position!r}."
            )
        pos = w.cursor if position is None else int(position)
        if not 0 <= pos < len(self._items):
            w.message = (
                "The queue is empty." if not len(self._items) else (f"No row at position {pos}.")
            )
            return False
        i = int(self._items[pos])
        if action == "relabel" and isinstance(label, str) and label == "suggested":
            label = int(self._suggested(np.array([i]))[0])
            if label < 0:
                w.message = f"Sample {i} has no suggested label."
                return False
        if not self._record([i], action, label):
            return False
        if advance and not w.hide_decided:
            self.move(+1)
        return True

    def decide_all(self, action: str, *, label=None) -> int:
        """Decide every sample in the queue (the selection, or every flagged sample) in one
        undoable step. ``label`` (for ``"relabel"``) is a class index or name, or
        ``"suggested"`` to relabel each sample to its own suggestion. Returns how many samples
        were decided (0 when nothing was recorded; the message line says why)."""
        items = self.items
        if not len(items):
            self.widget.message = "The queue is empty."
            return 0
        if action == "relabel" and isinstance(label, str) and label == "suggested":
            sug = self._suggested(items)
            items, label = items[sug >= 0], sug[sug >= 0]
            if not len(items):
                self.widget.message = "No sample in the queue has a suggested label."
                return 0
        return len(items) if self._record(items, action, label) else 0

    def undo(self) -> bool:
        """Undo the last decision step (a bulk decision is one step) and put the cursor back
        on the first row it changed, so the sample can be decided again at once."""
        log = self.session.decisions
        if not log.can_undo:
            self.widget.message = "Nothing to undo."
            return False
        actions, relabels = log.actions().copy(), log.relabels()
        stored = None
        try:
            log.undo()
        except OSError as exc:  # the store failed; the undo is done in memory, stored later
            stored = str(exc)
        changed = actions != log.actions()
        after = log.relabels()
        if len(relabels) or len(after):  # a relabel undone to another relabel
            a = relabels.set_index("index")["label"]
            b = after.set_index("index")["label"].reindex(a.index)
            changed[a.index[(a != b).to_numpy()].to_numpy()] = True
        rows = np.flatnonzero(np.isin(self._items, np.flatnonzero(changed)))
        if rows.size:
            self.widget.cursor = int(rows[0])
        undone = np.flatnonzero(changed)
        self.widget.message = (
            "Undone." if len(undone) == 0
            else f"Undone: sample {int(undone[0])}." if len(undone) == 1
            else f"Undone: {len(undone):,} samples."
        )  # fmt: skip
        if stored is not None:
            self.widget.message += f" {stored}"
        return True

    def _record(self, indices, action: str, label) -> bool:
        w = self._widget
        note = w.note.strip() or None
        try:
            n = self.session.decide(indices, action, label=label, note=note)
        except (ValueError, TypeError) as exc:
            w.message = str(exc)
            return False
        except OSError as exc:  # autosave failed; the decision is kept in memory
            w.message = str(exc)
            w.note = ""
            return True
        w.note = ""
        what = action.replace("_", " ")
        if action == "relabel":
            # The log accepted the label: a class name, a class index, or one per sample.
            names = self.session.dataset.class_names
            if isinstance(label, str):
                what += f" to {label}"
            elif np.ndim(label) == 0:
                what += f" to {names[int(label)]}"
            else:
                what += " to suggested labels"
        w.message = (
            f"{what.capitalize()}: sample {int(indices[0])}."
            if n == 1
            else f"{what.capitalize()}: {n:,} samples."
        )
        return True

    def press(self, key: str) -> bool:
        """Act on one key as the browser would send it; returns whether the key is bound."""
        command = self.widget.keymap.get(key)
        if command is None:
            return False
        moves = {
            "next": 1,
            "previous": -1,
            "next_page": self.widget.page_size,
            "previous_page": -self.widget.page_size,
            "first": -len(self._items),
            "last": len(self._items),
        }
        if command in ("pick_class", "note"):
            pass  # the browser moves the keyboard focus; nothing to do here
        elif command in moves:
            self.move(moves[command])
        elif command == "undo":
            self.undo()
        elif command.startswith("relabel:"):
            target = command.split(":", 1)[1]
            self.decide("relabel", label=target if target == "suggested" else int(target))
        else:
            self.decide(command)
        return True

    def _on_msg(self, widget, content, buffers) -> None:
        """A message from the browser: checked field by field; a bad one is logged and
        ignored (see :func:`workbench.ui._common.ignore_message`)."""
        if not isinstance(content, dict):
            ignore_message("ReviewQueue", "a message that is not an object", content)
            return
        kind = content.get("type")
        if kind == "key":
            key = content.get("key")
            if not isinstance(key, str):
                ignore_message("ReviewQueue", "a key that is not a string", content)
                return
            if content.get("ctrl") is True or content.get("meta") is True:
                key = "ctrl+" + key.lower()
            self.press(key)
        elif kind in ("decide", "bulk"):
            action, label = content.get("action"), content.get("label")
            if not isinstance(action, str) or action not in ACTIONS:
                ignore_message("ReviewQueue", f"an action that is not one of {ACTIONS}", content)
                return
            if label is not None and not (
                isinstance(label, str) or (isinstance(label, int) and not isinstance(label, bool))
            ):
                ignore_message("ReviewQueue", "a label that is no class index or name", content)
                return
            if kind == "bulk":
                self.decide_all(action, label=label)
                return
            position, advance = content.get("position"), content.get("advance", True)
            if position is not None and (
                isinstance(position, bool) or not isinstance(position, int)
            ):
                ignore_message("ReviewQueue", "a row position that is not an int", content)
                return
            if not isinstance(advance, bool):
                ignore_message("ReviewQueue", "an 'advance' that is not true or false", content)
                return
            self.decide(action, label=label, position=position, advance=advance)
        elif kind == "undo":
            self.undo()
        elif kind == "select_all":
            self.session.select(self._items, source=_SOURCE)
        elif kind == "find":
            sample_id = content.get("id")
            if not isinstance(sample_id, (str, int)) or isinstance(sample_id, bool):
                ignore_message("ReviewQueue", "an id to find that is no string or int", content)
                return
            self.find(sample_id)
        else:
            ignore_message("ReviewQueue", "a message of unknown type", content)
