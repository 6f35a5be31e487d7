"""Review decisions: keep / remove / relabel / needs-review (and label-set edits) per sample,
undoable, stored as they are made, exported and re-imported.

N is the number of samples and K the number of classes. Every decision records the sample's id
and its position, who made it, when (UTC, ISO 8601), the sample's label at the time, and the
detector, threshold and noise score (higher = more likely mislabeled) it was made under.

Where decisions live (:mod:`workbench.decisions.store`): a SQLite file by default
(``path="decisions.db"``: one transaction per decision step, several kernels may write at
once), a PostgreSQL server for a team (``url="postgresql://..."``), or a JSON / CSV / Parquet
file rewritten atomically. Undo is a recorded step: history is never deleted. A dataset
fingerprint (ids, labels, class names) travels with the decisions, so decisions made on other
data are refused unless carried over by id (``on_mismatch="by_id"``).
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.identity import check_ids, fingerprint, id_kind, id_positions
from workbench.core.validation import as_array, check_labels
from workbench.decisions.formats import (
    ACTIONS,
    ALL_ACTIONS,
    COLUMNS,
    STR_COLUMNS,
    UNDO,
    check_same_dataset,
    column,
    encode,
    format_of,
    make_header,
    read_decisions,
    steps_frame,
    write_file,
)
from workbench.decisions.store import (
    AUTO,
    BUSY_TIMEOUT_S,
    SQLiteStore,
    StoreError,
    auto_path,
    open_store,
)

__all__ = [
    "ACTIONS",
    "ALL_ACTIONS",
    "MERGE_POLICIES",
    "MISMATCH_POLICIES",
    "CarryReport",
    "DecisionLog",
    "MergeReport",
]

#: How :meth:`DecisionLog.merge` resolves a sample both logs decided differently.
MERGE_POLICIES = ("keep_mine", "take_theirs", "newest")
#: What to do with decisions made on another dataset: refuse, or carry them over by sample id.
MISMATCH_POLICIES = ("raise", "by_id")
#: The detector recorded on a step that resolves reviewers' conflicts.
RESOLUTION = "conflict resolution"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError/KeyError where no login name exists
        return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _threshold_text(threshold) -> str:
    if threshold is None:
        return ""
    if isinstance(threshold, tuple):
        mode, value = (tuple(threshold) + (None,))[:2]
        return (
            str(mode)
            if value is None
            else f"{mode}={value:g}"
            if isinstance(value, float)
            else f"{mode}={value}"
        )
    if isinstance(threshold, (float, np.floating)):
        return f"{float(threshold):g}"
    return str(threshold)


@dataclass
class CarryReport:
    """What carrying decisions over from another dataset by id found.

    Attributes
    ----------
    carried : int
        Decisions whose sample id exists in this dataset (mapped to its position here).
    gone : list
        Ids of decisions whose sample is not in this dataset (left out).
    label_changed : pandas.DataFrame
        Carried samples whose given label differs from the one they had when decided: ``id``,
        ``index``, ``label_then``, ``label_now`` (class names).
    """

    carried: int = 0
    gone: list = field(default_factory=list)
    label_changed: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> str:
        return (
            f"{self.carried} decision(s) carried over by id; {len(self.gone)} whose sample id "
            f"is gone; {len(self.label_changed)} sample(s) whose label changed since."
        )


@dataclass
class MergeReport:
    """What :meth:`DecisionLog.merge` did.

    Attributes
    ----------
    policy : str
    added : int
        Samples only the other log had decided; their decisions were taken.
    identical : int
        Samples both logs decided the same way (nothing to do).
    conflicts : pandas.DataFrame
        One row per sample both logs decided differently: ``id``, ``index``, ``mine_action``,
        ``mine_label_name``, ``mine_user``, ``mine_time``, ``mine_note``, the same with
        ``theirs_``, and ``resolution`` ("mine" or "theirs").
    carry : CarryReport or None
        With ``on_mismatch="by_id"``: what was carried over by id.
    """

    policy: str
    added: int
    identical: int
    conflicts: pd.DataFrame
    carry: CarryReport | None = None

    @property
    def n_conflicts(self) -> int:
        return len(self.conflicts)

    @property
    def taken_theirs(self) -> int:
        return int((self.conflicts["resolution"] == "theirs").sum()) if len(self.conflicts) else 0

    def summary(self) -> str:
        text = (
            f"Merged with policy {self.policy!r}: {self.added} new decision(s) taken, "
            f"{self.identical} identical, {self.n_conflicts} conflict(s) "
            f"({self.taken_theirs} resolved to theirs, "
            f"{self.n_conflicts - self.taken_theirs} kept mine)."
        )
        return text + (f" {self.carry.summary()}" if self.carry is not None else "")

    def __repr__(self) -> str:
        return f"MergeReport({self.summary()})"


class _Grow:
    """A 1-D array with amortised O(1) append."""

    def __init__(self, dtype):
        self.a = np.empty(64, dtype=dtype)
        self.n = 0

    def extend(self, values) -> None:
        values = np.asarray(values)
        need = self.n + len(values)
        if need > len(self.a):
            bigger = np.empty(max(need, 2 * len(self.a)), dtype=self.a.dtype)
            bigger[: self.n] = self.a[: self.n]
            self.a = bigger
        self.a[self.n : need] = values
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self.a[: self.n]


class _Shifted:
    """Per-sample ints (-1: none) stored as value + 1 in zeroed memory: ``np.zeros`` pages are
    only committed where written, so a log's memory follows its decisions, not the N a file's
    header claims. Reading returns int64 values (-1 where never set)."""

    def __init__(self, n: int, dtype):
        self.a = np.zeros(n, dtype=dtype)

    def __getitem__(self, key):
        return self.a[key].astype(np.int64) - 1

    def __setitem__(self, key, values) -> None:
        self.a[key] = np.asarray(values) + 1


class DecisionLog:
    """The history of review decisions over N samples, with multi-level undo and a store.

    Parameters
    ----------
    n_samples : int
        N; decisions name samples by position 0..N-1 and by id.
    class_names : sequence of str
        The K class names, in index order (relabels may name a class or give its index).
    ids : array-like of shape (N,), optional
        The samples' ids (unique ints or strings); default: positions.
    labels : array-like of shape (N,), optional
        The given labels (codes 0..K-1 or names): recorded with every decision and, with the
        ids and class names, the dataset's fingerprint that decisions are checked against.
    path : str or path, optional
        Where decisions are stored as they are made: ``.db`` / ``.sqlite`` (SQLite, one
        transaction per step), or ``.json`` / ``.csv`` / ``.parquet`` (rewritten atomically).
        An existing store is loaded, so a kernel restart loses nothing. ``"auto"``: the
        dataset's own SQLite store, :func:`~workbench.decisions.store.auto_path` (in
        ``workbench-output/decisions/``, named by the fingerprint; needs ``labels``), created
        only at the first decision. None (default): in memory only.
    url : str, optional
        A database server instead (``postgresql://user@host:5432/db``): the team store.
    user : str, optional
        Who decides; default: the login name (``getpass.getuser()``, then ``$USER``).
    busy_timeout : float, default=30
        Seconds a SQLite writer waits for another process's transaction.
    table_prefix : str, default="wb_"
        Table names in a database (one store per prefix).

    Raises
    ------
    ValueError
        If ``path`` has an unknown suffix, or the existing store is malformed or was made for
        other samples, classes or data (the store is left untouched; carry decisions over by
        id with :meth:`merge` or :meth:`load` and ``on_mismatch="by_id"``).
    StoreError
        The store cannot be reached (a locked database, a server that is down).
    """

    def __init__(
        self,
        n_samples: int,
        class_names,
        *,
        ids=None,
        labels=None,
        path=None,
        url=None,
        user: str | None = None,
        busy_timeout: float = BUSY_TIMEOUT_S,
        table_prefix: str = "wb_",
    ):
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise TypeError(f"n_samples must be an int, found {type(n_samples).__name__}.")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, found {n_samples}.")
        names = [str(c) for c in class_names]
        if len(names) < 1 or len(set(names)) != len(names):
            raise ValueError(f"class_names must be non-empty and unique, found {names[:20]}.")
        self.n_samples, self.class_names = int(n_samples), names
        self.ids = check_ids(ids, self.n_samples)
        self._id_kind = id_kind(self.ids)
        self.labels = None  # (N,) class codes of a single-label dataset
        self.given_sets = (
            None  # (N, K) bool of a multi-label dataset (label_sets() applies decisions)
        )
        if labels is not None:
            if np.ndim(labels) == 2:
                self.given_sets = _check_label_sets(labels, self.n_samples, len(names))
            else:
                self.labels, _ = check_labels(
                    labels, name="labels", class_names=names, n_classes=len(names)
                )
                if len(self.labels) != self.n_samples:
                    raise ValueError(
                        f"labels must have shape (N={self.n_samples},) or (N, K={len(names)}) "
                        f"for label sets, found {self.labels.shape}."
                    )
        given = self.labels if self.labels is not None else self.given_sets
        self.fingerprint = fingerprint(self.ids, given, names) if given is not None else None
        self.user = user if user is not None else _default_user()
        self._listeners: list = []
        self._reset()
        self._store = None
        self._pending = None  # the "auto" store, created at the first decision
        if isinstance(path, str) and path == AUTO:
            if url is not None:
                raise ValueError("give path= or url=, not both.")
            if self.fingerprint is None:
                raise ValueError(
                    "path='auto' names the store by the dataset's fingerprint: give labels= "
                    "(or build the log with DecisionLog.for_dataset)."
                )
            path = auto_path(self.fingerprint)
            if not path.exists():
                self._pending = SQLiteStore(path, busy_timeout=busy_timeout,
                                            table_prefix=table_prefix, create_folder=True)  # fmt: skip
        if self._pending is None and (path is not None or url is not None):
            store = open_store(path, url, busy_timeout=busy_timeout, table_prefix=table_prefix)
            stored, steps = store.open(self._header())
            if stored is not None or steps:
                self._replay(self._own_steps(steps))
            self._store = store
        self.path = None if path is None else Path(path)
        self.url = None if self._store is None or path is not None else self._store.location

    @classmethod
    def for_dataset(cls, dataset, **options) -> DecisionLog:
        """A log for a :class:`~workbench.core.dataset.Dataset`: its size, classes, ids and
        labels (so its fingerprint); ``options`` as for the constructor."""
        return cls(
            dataset.n_samples,
            dataset.class_names,
            ids=getattr(dataset, "ids", None),
            labels=dataset.labels,
            **options,
        )

    # --- state ---------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._steps: list[dict] = []  # every step, undo records too (workbench.decisions.formats)
        self._start: list[int] = []  # first row of each step
        self._live: list[int] = []  # positions in _steps of decision steps in force (a stack)
        self._undone: set[int] = set()  # positions in _steps of undone steps
        self._r_act, self._r_lab, self._r_prev = _Grow(np.int8), _Grow(np.int64), _Grow(np.int64)
        self._act = _Shifted(self.n_samples, np.int8)  # latest action code, -1 none
        self._lab = _Shifted(self.n_samples, np.int64)  # latest relabel target
        self._row = _Shifted(self.n_samples, np.int64)  # latest row in the history
        self._unsaved = 0  # trailing steps not yet in the store
        self._users: set[str] = set()  # who decided (two or more: conflicts are possible)
        self._n_live_rows = 0
        self._cache: pd.DataFrame | None = None

    def _codes(self, action) -> np.ndarray | int:
        if isinstance(action, str):
            return ALL_ACTIONS.index(action) if action != UNDO else -1
        return pd.Categorical(action, categories=ALL_ACTIONS).codes

    def _push(self, cols: dict) -> None:
        """Append one step (validated, unique indices) and update the latest state."""
        idx = cols["index"]
        r0 = self._r_act.n
        if isinstance(cols["action"], str) and cols["action"] == UNDO:
            self._r_act.extend(np.full(len(idx), -1, np.int8))
            self._r_lab.extend(np.full(len(idx), -1, np.int64))
            self._r_prev.extend(np.full(len(idx), -1, np.int64))
            self._steps.append(cols)
            self._start.append(r0)
            return
        rows = r0 + np.arange(len(idx))
        codes = np.broadcast_to(self._codes(cols["action"]), len(idx)).astype(np.int8)
        self._r_act.extend(codes)
        self._r_lab.extend(cols["label"])
        self._r_prev.extend(self._row[idx])
        self._act[idx] = codes
        self._lab[idx] = cols["label"]
        self._row[idx] = rows
        self._steps.append(cols)
        self._start.append(r0)
        self._live.append(len(self._steps) - 1)
        user = cols["user"]
        self._users.update([user] if isinstance(user, str) else pd.unique(user).tolist())
        self._n_live_rows += len(idx)
        self._cache = None

    def _pop_live(self) -> dict:
        """Undo the latest step in force; returns it."""
        pos = self._live.pop()
        s, a = self._steps[pos], self._start[pos]
        idx = s["index"]
        prev = self._r_prev.view[a : a + len(idx)]
        has = prev >= 0
        self._row[idx] = prev
        self._act[idx] = np.where(has, self._r_act.view[np.maximum(prev, 0)], -1)
        self._lab[idx] = np.where(has, self._r_lab.view[np.maximum(prev, 0)], -1)
        self._undone.add(pos)
        self._n_live_rows -= len(idx)
        self._cache = None
        return s

    def _replay(self, steps: list[dict]) -> None:
        """Rebuild the state from a whole history, vectorised: O(rows log rows), not O(steps×N)."""
        self._reset()
        if not steps:
            return
        number_pos = {s["step"]: i for i, s in enumerate(steps)}
        undone = {
            number_pos[s["undoes"]]
            for s in steps
            if isinstance(s["action"], str) and s["action"] == UNDO
        }
        sizes = np.asarray([len(s["index"]) for s in steps], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        idx = np.concatenate([s["index"] for s in steps])
        lab = np.concatenate([s["label"] for s in steps])
        code_of = {a: i for i, a in enumerate(ALL_ACTIONS)} | {UNDO: -1}
        step_codes = np.asarray(
            [code_of[s["action"]] if isinstance(s["action"], str) else -2 for s in steps],
            dtype=np.int8,
        )
        codes = np.repeat(step_codes, sizes)
        for i in np.flatnonzero(step_codes == -2).tolist():  # steps with mixed actions
            codes[starts[i] : starts[i] + sizes[i]] = self._codes(steps[i]["action"])
        live_step = np.ones(len(steps), dtype=bool)
        live_step[list(undone)] = False
        is_undo = np.asarray(
            [isinstance(s["action"], str) and s["action"] == UNDO for s in steps], dtype=bool
        )
        live_step &= ~is_undo
        live_row = np.repeat(live_step, sizes)
        rows = np.flatnonzero(live_row)
        prev = np.full(len(idx), -1, dtype=np.int64)
        order = rows[np.argsort(idx[rows], kind="stable")]  # by sample, then by row
        same = idx[order[1:]] == idx[order[:-1]]
        prev[order[1:][same]] = order[:-1][same]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = ~same
        final = order[last]
        self._row[idx[final]] = final
        self._act[idx[final]] = codes[final]
        self._lab[idx[final]] = lab[final]
        self._r_act.extend(np.where(is_undo.repeat(sizes), -1, codes).astype(np.int8))
        self._r_lab.extend(lab)
        self._r_prev.extend(prev)
        self._steps = list(steps)
        self._start = starts.tolist()
        self._live = np.flatnonzero(live_step).tolist()
        self._undone = undone
        self._n_live_rows = int(live_row.sum())
        for i in self._live:
            user = steps[i]["user"]
            self._users.update([user] if isinstance(user, str) else pd.unique(user).tolist())

    def _own_steps(self, steps: list[dict], ids_checked: bool = False) -> list[dict]:
        """Steps read for this dataset (same fingerprint): drop their ``id`` after checking it
        names the same samples as ``index``."""
        out = []
        for s in steps:
            s = dict(s)
            file_ids = s.pop("id", None)
            if file_ids is not None and self.ids is not None and not ids_checked:
                idx = s["index"]
                ok = idx >= 0
                want = self.ids[idx[ok]]
                got = np.asarray(file_ids, dtype=object)[ok]
                if want.dtype.kind in "iu":
                    same = np.array_equal(np.asarray(got, dtype=np.int64), want)
                else:
                    same = np.array_equal(np.asarray([str(v) for v in got], dtype=object), want)
                if not same:
                    raise ValueError(
                        f"decision step {s['step']} names ids that are not at the positions it "
                        "records; these decisions were made on other data (carry them over "
                        "with on_mismatch='by_id')."
                    )
            out.append(s)
        return out

    def on_change(self, callback):
        """Call ``callback()`` after every change (decide, undo, merge); returns an unsubscribe."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, found {type(callback).__name__}.")
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def _changed(self, new_steps: int = 1) -> None:
        """Store what changed (one transaction per step), then tell the listeners."""
        self._unsaved += new_steps
        error = None
        if (self._store is not None or self._pending is not None) and self._unsaved:
            try:
                if self._store is None:
                    self._open_pending()
                self._flush()
            except (OSError, ValueError, TypeError) as exc:  # StoreError is an OSError
                error = exc
        for callback in list(self._listeners):
            callback()
        if error is not None:
            n = self._unsaved
            raise StoreError(
                f"The decision is recorded in memory ({n} step{'s' * (n != 1)} not stored yet; "
                f"they are written with the next change), but storing to "
                f"{self.location} failed: {error}. Export elsewhere with "
                "to_json/to_csv/to_parquet if it persists."
            ) from error

    def _open_pending(self) -> None:
        """Create the "auto" store (its folder, file and tables) at the first decision; every
        step so far is unsaved and goes in with the next flush."""
        self._pending.open(self._header())  # StoreError, OSError: the log keeps it in memory
        self._store, self._pending = self._pending, None

    def _flush(self) -> None:
        new = self._steps[len(self._steps) - self._unsaved :]
        if self._store.incremental and len(new) == 1:  # the common case: one step, O(its size)
            numbers = [self._store.write_one(new[0], self._id_kind, self.ids)]
        else:
            numbers = self._store.write(new, self._steps, self._header(), self.ids)
        old = [s["step"] for s in new]
        if numbers != old:  # the database numbered them (other writers' steps in between)
            mapping = dict(zip(old, numbers, strict=True))
            for s in new:
                s["step"] = mapping[s["step"]]
                if s["undoes"] in mapping:
                    s["undoes"] = mapping[s["undoes"]]
            self._cache = None
        self._unsaved = 0

    # --- ids -----------------------------------------------------------------------------------
    def positions(self, ids) -> np.ndarray:
        """Positions (int64, shape (n,)) of sample ``ids``; unknown ids raise ValueError naming
        them."""
        wanted = np.asarray([ids] if np.isscalar(ids) else list(ids), dtype=object)
        pos = id_positions(self.ids, self.n_samples, wanted)
        if (pos < 0).any():
            bad = wanted[pos < 0]
            raise ValueError(
                f"ids {bad[:10].tolist()}{' ...' if len(bad) > 10 else ''} are not samples of "
                "this dataset."
            )
        return pos

    def id_of(self, indices) -> np.ndarray:
        """The ids of positions ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        return idx.copy() if self.ids is None else self.ids[idx]

    # --- deciding ------------------------------------------------------------------------------
    def decide(
        self,
        indices,
        action: str,
        *,
        label=None,
        add=None,
        remove=None,
        detector: str | None = None,
        threshold=None,
        score=None,
        note: str | None = None,
        user: str | None = None,
    ) -> int:
        """Record one decision for each of ``indices`` as one undoable step.

        Parameters
        ----------
        indices : int or array-like of int of shape (n,)
            Sample positions 0..N-1 (duplicates count once, the last one wins); for ids use
            :meth:`positions`.
        action : {"keep", "remove", "relabel", "needs_review", "edit_labels"}
        label : int, str, or array-like of shape (n,), optional
            The new class (index or name) for ``"relabel"``; required there, refused elsewhere.
        add, remove : sequence of class indices or names, optional
            For ``"edit_labels"`` (a label-set edit, multi-label): classes added to / removed
            from each sample's label set.
        detector : str, optional
            The detector whose flags were being reviewed.
        threshold : float, str or (mode, value), optional
            The flag rule in force (e.g. ``session.threshold``).
        score : float or array-like of shape (n,), optional
            Noise score of each sample (higher = more likely mislabeled); may be infinite.
        note : str, optional
        user : str, optional
            Overrides the log's user for this step.

        Returns
        -------
        int
            Number of samples decided.
        """
        if action not in ALL_ACTIONS:
            raise ValueError(f"action must be one of {ALL_ACTIONS}, found {action!r}.")
        idx = as_array([indices] if np.isscalar(indices) else indices, "indices")
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise ValueError(
                f"indices must be a 1-D array of ints, found shape {idx.shape} "
                f"and dtype {idx.dtype}."
            )
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_samples):
            raise ValueError(
                f"indices must lie in 0..{self.n_samples - 1}, found [{idx.min()}, {idx.max()}]."
            )
        n = len(idx)
        labels = self._check_label(label, action, n)
        added, removed = self._check_label_set(add, remove, action)
        scores = (
            np.full(n, np.nan)
            if score is None
            else as_array(score, "score").astype(np.float64).reshape(-1)
        )
        if scores.size == 1 and n != 1:
            scores = np.full(n, scores[0])
        if scores.shape != (n,):
            raise ValueError(f"score must be a number or have shape ({n},), found {scores.shape}.")
        if n == 0:
            return 0
        _, last = np.unique(idx[::-1], return_index=True)
        if len(last) != n:  # duplicates: keep the last occurrence of each index
            keep = np.sort(n - 1 - last)
            idx, labels, scores = idx[keep], labels[keep], scores[keep]
        m = len(idx)
        names = np.asarray(self.class_names + [""], dtype=object)
        label_name = names[np.where(labels >= 0, labels, len(self.class_names))]
        self._push({
            "step": self._next_step(),
            "undoes": -1,
            "index": idx,
            "action": action,
            "label": labels,
            "label_name": str(label_name[0]) if (label_name == label_name[0]).all()
            else label_name,
            "given": self._given(idx),
            "added": added,
            "removed": removed,
            "user": str(user if user is not None else self.user),
            "time": _now(),
            "detector": "" if detector is None else str(detector),
            "threshold": _threshold_text(threshold),
            "score": scores,
            "note": "" if note is None else str(note),
        })  # fmt: skip
        self._changed()
        return m

    def _given(self, idx: np.ndarray) -> np.ndarray:
        return self.labels[idx].astype(np.int64) if self.labels is not None else np.full(
            len(idx), -1, np.int64)  # fmt: skip

    def _next_step(self) -> int:
        return int(self._steps[-1]["step"]) + 1 if self._steps else 0

    def _class_code(self, value, what: str) -> int:
        k = len(self.class_names)
        if isinstance(value, (str, np.str_)):
            if value not in self.class_names:
                raise ValueError(
                    f"{what} {value!r} is not a class; classes are {self.class_names}."
                )
            return self.class_names.index(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float)) \
                or int(value) != value:  # fmt: skip
            raise TypeError(f"{what} must be a class index or name, found {value!r}.")
        if not 0 <= int(value) < k:
            raise ValueError(f"{what} must lie in 0..{k - 1}, found {int(value)}.")
        return int(value)

    def _check_label(self, label, action: str, n: int) -> np.ndarray:
        if action != "relabel":
            if label is not None:
                raise ValueError(
                    f"label is only for action 'relabel', found label={label!r} "
                    f"with action {action!r}."
                )
            return np.full(n, -1, dtype=np.int64)
        if label is None:
            raise ValueError("action 'relabel' needs label= (a class index or name).")
        k = len(self.class_names)
        if isinstance(label, str) or np.isscalar(label):
            return np.full(n, self._class_code(label, "label"), dtype=np.int64)
        codes, _ = check_labels(label, name="label", class_names=self.class_names, n_classes=k)
        if codes.shape != (n,):
            raise ValueError(
                f"label must be one class or have shape ({n},), found shape {codes.shape}."
            )
        return codes

    def _check_label_set(self, add, remove, action: str) -> tuple[str, str]:
        if action != "edit_labels":
            if add is not None or remove is not None:
                raise ValueError(
                    f"add= and remove= are only for action 'edit_labels', found action {action!r}."
                )
            return "", ""
        out = []
        for what, values in (("add", add), ("remove", remove)):
            values = [] if values is None else [values] if np.isscalar(values) else list(values)
            codes = sorted({self._class_code(v, what) for v in values})
            out.append(codes)
        if not out[0] and not out[1]:
            raise ValueError("action 'edit_labels' needs add= or remove= (classes).")
        both = set(out[0]) & set(out[1])
        if both:
            raise ValueError(
                f"a class cannot be added and removed at once: {[self.class_names[c] for c in both]}."
            )
        return tuple(json.dumps(c) if c else "" for c in out)

    def undo(self, steps: int = 1) -> int:
        """Undo the last ``steps`` steps in force (a bulk decision is one step); returns how
        many. Each undo is recorded as a step of its own (history is never deleted)."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive int, found {steps!r}.")
        done = 0
        while done < steps and self._live:
            target = self._pop_live()
            self._push({
                "step": self._next_step(), "undoes": int(target["step"]),
                "index": np.array([-1]), "action": UNDO, "label": np.array([-1]),
                "label_name": "", "given": np.array([-1]), "added": "", "removed": "",
                "user": str(self.user), "time": _now(), "detector": "", "threshold": "",
                "score": np.array([np.nan]), "note": "",
            })  # fmt: skip
            done += 1
        if done:
            self._changed(done)
        return done

    @property
    def can_undo(self) -> bool:
        return bool(self._live)

    @property
    def n_steps(self) -> int:
        """Decision steps in force (undone ones and undo records not counted)."""
        return len(self._live)

    def __len__(self) -> int:
        return self._n_live_rows

    def __repr__(self) -> str:
        counts = ", ".join(f"{a}={c}" for a, c in self.counts().items())
        where = f", store={self.location!r}" if self.location is not None else ""
        return f"DecisionLog(N={self.n_samples}, {counts}{where})"

    # --- reading -------------------------------------------------------------------------------
    def _history(self) -> pd.DataFrame:
        if self._cache is None:
            self._cache = steps_frame(self._steps, self.ids, self._id_kind)
        return self._cache

    def history(self) -> pd.DataFrame:
        """Every row ever recorded, undone steps and undo records included, oldest first; the
        columns of :attr:`log` plus ``undone`` (bool)."""
        df = self._history().copy()
        undone = np.zeros(len(self._steps), dtype=bool)
        undone[list(self._undone)] = True
        sizes = [len(s["index"]) for s in self._steps]
        df["undone"] = np.repeat(undone, sizes)
        return df

    def _live_rows(self) -> np.ndarray:
        if not self._live:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(
            [self._start[p] + np.arange(len(self._steps[p]["index"])) for p in self._live]
        )

    @property
    def log(self) -> pd.DataFrame:
        """Every decision in force in order (oldest first), one row per sample per step;
        columns ``step, id, index, action, label, label_name, given, added, removed, user, time,
        detector, threshold, score, note, undoes`` (``label`` is -1 and ``label_name`` empty
        unless the action is ``relabel``; ``given`` is the label when decided, -1 unknown)."""
        return self._history().iloc[self._live_rows()].reset_index(drop=True)

    def tail(self, n: int = 100) -> pd.DataFrame:
        """The last ``n`` decisions in force, latest first (cheap for long logs)."""
        parts, total = [], 0
        for p in reversed(self._live):
            parts.append(self._steps[p])
            total += len(self._steps[p]["index"])
            if total >= n:
                break
        return (
            steps_frame(parts[::-1], self.ids, self._id_kind)
            .iloc[::-1]
            .head(n)
            .reset_index(drop=True)
        )

    def current(self) -> pd.DataFrame:
        """The latest decision of every decided sample, sorted by sample position."""
        decided = np.flatnonzero(self._row.a)
        return self._history().iloc[self._row[decided]].reset_index(drop=True)

    def actions(self) -> np.ndarray:
        """Latest action per sample as an object array of shape (N,), ``""`` where undecided."""
        return np.asarray(("",) + ALL_ACTIONS, dtype=object)[self._act.a]

    def counts(self) -> dict[str, int]:
        """How many samples currently carry each action (``edit_labels`` only when used)."""
        c = np.zeros(len(ALL_ACTIONS) + 1, dtype=np.int64)
        for start in range(0, self.n_samples, 1 << 22):  # bincount copies to intp: by chunks
            c += np.bincount(self._act.a[start : start + (1 << 22)], minlength=len(c))
        c = c[1:]
        out = {a: int(c[i]) for i, a in enumerate(ACTIONS)}
        if c[ALL_ACTIONS.index("edit_labels")]:
            out["edit_labels"] = int(c[ALL_ACTIONS.index("edit_labels")])
        return out

    def remove_mask(self) -> np.ndarray:
        """Boolean (N,): True where the latest decision is ``remove``."""
        return self._act.a == ALL_ACTIONS.index("remove") + 1

    def relabels(self) -> pd.DataFrame:
        """Samples whose latest decision is ``relabel``: columns ``id, index, label,
        label_name``."""
        idx = np.flatnonzero(self._act.a == ALL_ACTIONS.index("relabel") + 1)
        lab = self._lab[idx]
        return pd.DataFrame(
            {
                "id": self.id_of(idx),
                "index": idx,
                "label": lab,
                "label_name": np.asarray(self.class_names, dtype=object)[lab],
            }
        )

    def conflicts(self) -> pd.DataFrame:
        """Samples on which reviewers disagree: each reviewer's latest decision in force differs
        from another's (since the sample's last :meth:`resolve`). One row per sample and
        reviewer: ``id, index, user, action, label_name, time, note``, grouped by sample."""
        cols = ["id", "index", "user", "action", "label_name", "time", "note"]
        if len(self._users) < 2:  # one reviewer cannot disagree (no pass over the history)
            return steps_frame([], self.ids, self._id_kind)[cols]
        df = self.log
        if df.empty:
            return df[cols]
        df = df.assign(_order=np.arange(len(df)))
        res = df[df["detector"] == RESOLUTION].groupby("index")["_order"].max()
        after = df["_order"].to_numpy() > df["index"].map(res).fillna(-1).to_numpy()
        df = df[after & (df["detector"] != RESOLUTION).to_numpy()]
        latest = df.groupby(["index", "user"], sort=False).tail(1)
        decision = latest["action"] + "\x00" + latest["label"].astype(str) + "\x00" + \
            latest["added"] + "\x00" + latest["removed"]  # fmt: skip
        n_kinds = decision.groupby(latest["index"]).transform("nunique")
        out = latest[n_kinds.to_numpy() > 1].sort_values(["index", "_order"])
        return out[cols].reset_index(drop=True)

    def resolve(self, indices, *, take: str | None = None, policy: str | None = None,
                note: str | None = None) -> int:  # fmt: skip
        """Resolve reviewers' conflicts on ``indices`` (positions; None: every conflict) by
        recording the chosen decision again as one step (detector ``"conflict resolution"``).

        ``take`` names the reviewer whose decision wins; or ``policy``: ``"keep_mine"`` (this
        log's user, else the newest), ``"take_theirs"`` (the newest of the other reviewers) or
        ``"newest"``. Returns how many samples were resolved.
        """
        if (take is None) == (policy is None):
            raise ValueError("give take= (a reviewer) or policy= (one of MERGE_POLICIES).")
        if policy is not None and policy not in MERGE_POLICIES:
            raise ValueError(f"policy must be one of {MERGE_POLICIES}, found {policy!r}.")
        conf = self.conflicts()
        if indices is not None:
            wanted = np.atleast_1d(np.asarray(indices, dtype=np.int64))
            conf = conf[conf["index"].isin(wanted)]
        if conf.empty:
            return 0
        if take is not None and take not in set(conf["user"]):
            raise ValueError(f"take={take!r} is not a reviewer of these conflicts.")
        log = self.log
        # per sample, the reviewers the rule prefers (all where none is), then the newest
        conf = conf.assign(_t=pd.to_datetime(conf["time"], utc=True, format="ISO8601"),
                           _o=np.arange(len(conf)))  # fmt: skip
        if take is not None:  # a sample where `take` did not decide is left as it is
            prefer, has = (conf["user"] == take).to_numpy(), np.ones(len(conf), dtype=bool)
        else:
            prefer = {
                "keep_mine": conf["user"] == self.user,
                "take_theirs": conf["user"] != self.user,
                "newest": pd.Series(True, index=conf.index),
            }[policy]
            has = prefer.groupby(conf["index"]).transform("any").to_numpy()
            prefer = prefer.to_numpy()
        candidates = conf[prefer | ~has]
        if candidates.empty:
            return 0
        picked = candidates.sort_values(["index", "_t", "_o"], kind="stable")
        picked = picked.groupby("index", sort=True).tail(1)
        rows = log.merge(picked[["index", "user", "time"]], on=["index", "user", "time"])
        rows = rows.drop_duplicates("index", keep="last").sort_values("index")
        cols = {c: rows[c].to_numpy() for c in COLUMNS if c not in ("id",)}
        cols["step"], cols["undoes"] = self._next_step(), -1
        for c in STR_COLUMNS:
            cols[c] = np.asarray([str(v) for v in cols[c]], dtype=object)
        cols["detector"] = RESOLUTION
        cols["user"] = str(self.user)
        cols["time"] = _now()
        cols["note"] = note if note is not None else np.asarray(
            [f"resolved: took {u}'s decision" for u in rows["user"]], dtype=object)  # fmt: skip
        cols["index"] = cols["index"].astype(np.int64)
        cols["label"] = cols["label"].astype(np.int64)
        cols["given"] = self._given(cols["index"])
        cols["score"] = cols["score"].astype(np.float64)
        self._push(cols)
        self._changed()
        return len(rows)

    def label_sets(self, label_sets) -> np.ndarray:
        """Apply the current label-set edits to an (N, K) 0/1 matrix (multi-label); returns a
        new uint8 matrix (other actions leave rows unchanged; removed samples are kept)."""
        m = np.asarray(label_sets)
        if m.shape != (self.n_samples, len(self.class_names)):
            raise ValueError(
                f"label_sets must have shape (N={self.n_samples}, K={len(self.class_names)}), "
                f"found {m.shape}."
            )
        out = (m != 0).astype(np.uint8)
        cur = self.current()
        cur = cur[cur["action"] == "edit_labels"]
        for i, add, rem in zip(cur["index"], cur["added"], cur["removed"], strict=True):
            if add:
                out[i, json.loads(add)] = 1
            if rem:
                out[i, json.loads(rem)] = 0
        return out

    def apply(self, labels_or_dataframe, *, label_column: str = "label", id_column=None):
        """Apply the current decisions: drop removed samples, set relabelled samples' labels.

        ``keep``, ``needs_review`` and ``edit_labels`` leave a sample's label unchanged.

        Parameters
        ----------
        labels_or_dataframe : array-like of shape (N,) or pandas.DataFrame
            Labels as class indices or class names, by position (relabels follow the same
            form); or a table whose ``label_column`` holds them, **joined by id**: its index
            (or ``id_column``) holds sample ids, so it may be re-sorted, filtered or have rows
            appended (rows whose id is not a sample here are left as they are). A Categorical
            label column stays Categorical.
        label_column : str, default="label"
        id_column : str, optional
            The column of sample ids; default: the DataFrame's index.

        Returns
        -------
        ndarray of shape (N - removed,) or pandas.DataFrame
            Cleaned labels; or the DataFrame without removed rows, in its own order, its index
            kept as it was.

        Raises
        ------
        ValueError
            Labels outside 0..K-1 or not among the class names; a frame with duplicate ids or
            no id of this dataset.
        """
        frame = isinstance(labels_or_dataframe, pd.DataFrame)
        if frame:
            df = labels_or_dataframe
            if label_column not in df.columns:
                raise ValueError(
                    f"label_column {label_column!r} is not a column; columns are "
                    f"{list(df.columns)[:20]}."
                )
            raw = df[label_column]
            pos = self._frame_positions(df, id_column)
        else:
            raw = labels_or_dataframe
        categorical = isinstance(getattr(raw, "dtype", None), pd.CategoricalDtype)
        if categorical:
            cat = pd.Categorical(raw)
            values = np.asarray(cat.astype(object))
        else:
            values = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw)
        if values.ndim != 1 or (not frame and len(values) != self.n_samples):
            raise ValueError(f"labels must have shape (N={self.n_samples},), found {values.shape}.")
        if not frame:
            pos = np.arange(self.n_samples)
        known = pos >= 0
        by_name = values.dtype.kind in "OUST" and all(
            isinstance(v, str) for v in values[known].tolist()
        )
        if by_name:
            bad = pd.Index(self.class_names).get_indexer(values[known].astype(object)) < 0
            if bad.any():
                raise ValueError(
                    f"labels must be class names {self.class_names[:20]}, found "
                    f"{pd.unique(values[known][bad])[:10].tolist()}."
                )
            new = values.astype(object).copy()
            target = np.asarray(self.class_names, dtype=object)
        else:
            try:
                ints = values.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError(
                    f"labels must be class indices (ints) or class names, found dtype "
                    f"{values.dtype}."
                ) from None
            if not (np.all(np.isfinite(ints)) and np.all(ints == np.round(ints))):
                raise TypeError(
                    f"labels must be class indices (ints) or class names, found dtype "
                    f"{values.dtype}."
                )
            k = len(self.class_names)
            out_of_range = known & ((ints < 0) | (ints >= k))
            if out_of_range.any():
                raise ValueError(
                    f"labels must lie in 0..{k - 1}, found "
                    f"{pd.unique(ints[out_of_range])[:10].astype(np.int64).tolist()}."
                )
            new = values.copy() if categorical else ints.astype(np.int64)
            target = np.arange(k) if not categorical else np.arange(k).astype(object)
        # rows of the input that are samples here, and their decisions
        act = np.full(len(values), -1, dtype=np.int64)
        lab = np.full(len(values), -1, dtype=np.int64)
        act[known] = self._act[pos[known]]
        lab[known] = self._lab[pos[known]]
        rel = act == ALL_ACTIONS.index("relabel")
        if categorical:
            cats = list(cat.categories)
            names_mode = all(isinstance(c, str) for c in cats) and by_name
            target = np.asarray(self.class_names if names_mode else range(len(self.class_names)),
                                dtype=object)  # fmt: skip
        new[rel] = target[lab[rel]]
        keep = act != ALL_ACTIONS.index("remove")
        if categorical:
            missing = [c for c in pd.unique(new[rel]) if c not in cat.categories]
            new = pd.Categorical(new, categories=[*cat.categories, *missing], ordered=cat.ordered)
        if not frame:
            return new[keep]
        out = labels_or_dataframe.copy()
        out[label_column] = new
        return out.loc[keep]

    def _frame_positions(self, df: pd.DataFrame, id_column) -> np.ndarray:
        if id_column is not None:
            if id_column not in df.columns:
                raise ValueError(
                    f"id_column {id_column!r} is not a column; columns are {list(df.columns)[:20]}."
                )
            ids = df[id_column]
        else:
            ids = df.index
        ids = pd.Index(ids)
        if ids.has_duplicates:
            raise ValueError(
                f"the frame's {'column ' + repr(id_column) if id_column else 'index'} must hold "
                f"unique sample ids; duplicated: {ids[ids.duplicated()].unique()[:10].tolist()}."
            )
        pos = id_positions(self.ids, self.n_samples, ids.to_numpy(dtype=object))
        if len(ids) and (pos < 0).all():
            raise ValueError(
                f"none of the frame's ids ({ids[:5].tolist()} ...) is a sample id of this log "
                f"({'positions 0..N-1' if self.ids is None else self.ids[:5].tolist()} ...); "
                "give id_column= or set the index to the ids."
            )
        return pos

    # --- files ---------------------------------------------------------------------------------
    def _header(self) -> dict:
        return make_header(self.n_samples, self.class_names, self._id_kind, self.fingerprint)

    def to_json(self, path) -> Path:
        """Write the whole history to a JSON file atomically; returns the path."""
        return write_file(path, self._header(), self._steps, self.ids, fmt="json")

    def to_csv(self, path) -> Path:
        """Write the whole history to CSV atomically: a plain table (``pandas.read_csv`` reads
        it; text cells neutralised against spreadsheet formulas), and its header beside it in
        ``<name>.header.json``."""
        return write_file(path, self._header(), self._steps, self.ids, fmt="csv")

    def to_parquet(self, path) -> Path:
        """Write the whole history to Parquet atomically (header in the schema metadata)."""
        return write_file(path, self._header(), self._steps, self.ids, fmt="parquet")

    def save(self, path) -> Path:
        """Write to ``path`` in the format its suffix names (.json, .csv, .parquet)."""
        fmt = format_of(Path(path))
        return getattr(self, f"to_{fmt}")(path)

    def to_bytes(self, fmt: str) -> bytes:
        """The file bytes of :meth:`save` in ``fmt`` (CSV: the table only)."""
        return encode(fmt, self._header(), self._steps, self.ids)

    @classmethod
    def load(
        cls,
        path,
        *,
        user: str | None = None,
        ids=None,
        labels=None,
        class_names=None,
        on_mismatch: str = "raise",
    ) -> DecisionLog:
        """Read a decisions file (JSON, CSV, Parquet, detected from its content) or a SQLite
        store into a new log without autosave.

        Give the dataset's ``ids`` and ``labels`` (and ``class_names``) to check the decisions
        against it; with ``on_mismatch="by_id"`` decisions made on other data are carried over
        by sample id (see :attr:`carry_report`).

        Raises
        ------
        ValueError
            If the file is not a workbench decisions file, is of a newer version, is malformed,
            or was made for other data; the message names the file and what is wrong.
        """
        if on_mismatch not in MISMATCH_POLICIES:
            raise ValueError(
                f"on_mismatch must be one of {MISMATCH_POLICIES}, found {on_mismatch!r}."
            )
        header, steps = _read_any(path)
        names = header["class_names"] if class_names is None else list(class_names)
        n = header["n_samples"] if labels is None and ids is None else (
            len(labels) if labels is not None else len(ids))  # fmt: skip
        log = cls(n, names, ids=ids, labels=labels, user=user)
        log.carry_report = None
        if labels is None and ids is None and class_names is None:
            log.ids = _ids_from_steps(header, steps)
            log._id_kind = header["ids"]
            log.fingerprint = header["fingerprint"]
            log._replay([{k: v for k, v in s.items() if k != "id"} for s in steps])
            return log
        try:
            check_same_dataset(header, log._header())
            log._replay(log._own_steps(steps))
        except ValueError as err:
            if on_mismatch == "raise":
                raise ValueError(f"Cannot read decisions from {str(path)!r}: {err}") from None
            mapped, report = log._carry(header, steps)
            log._replay(mapped)
            log.carry_report = report
        return log

    def reload(self) -> None:
        """Re-read the store (e.g. after another process wrote to it)."""
        if self._store is None and self._pending is not None:
            if not self._pending.path.exists():
                return  # nothing stored yet, here or by another kernel
            self._open_pending()
        if self._store is None:
            raise ValueError("reload needs a log created with path=... or url=...")
        if self._unsaved:
            self._flush()
        header, steps = self._store.read()
        try:
            check_same_dataset(header, self._header())
        except ValueError as err:
            raise ValueError(f"Cannot reload {self._store.location}: {err}.") from None
        self._replay(self._own_steps(steps))
        for callback in list(self._listeners):
            callback()

    @property
    def store(self):
        """Where the decisions are stored (a :class:`~workbench.decisions.store.DecisionStore`),
        or None for a log in memory (or an ``"auto"`` store not created yet)."""
        return self._store

    @property
    def location(self) -> str | None:
        """The store's path or URL (password hidden), also before an ``"auto"`` store is
        created; None for a log in memory."""
        store = self._store if self._store is not None else self._pending
        return None if store is None else store.location

    @property
    def pending(self) -> bool:
        """True while the ``"auto"`` store waits for the first decision (no file yet)."""
        return self._pending is not None

    def close(self) -> None:
        """Close the store's connection (a later change reopens it)."""
        if self._store is not None:
            self._store.close()

    def _carry(self, header: dict, steps: list[dict]) -> tuple[list[dict], CarryReport]:
        """Steps of another dataset mapped onto this one by sample id (undone steps and undo
        records dropped; relabels mapped by class name)."""
        undone = {
            s["undoes"] for s in steps if isinstance(s["action"], str) and s["action"] == UNDO
        }
        old_names = header["class_names"]
        name_map = np.asarray([self.class_names.index(c) if c in self.class_names else -1
                               for c in old_names] + [-1], dtype=np.int64)  # fmt: skip
        out, gone, changed, carried = [], [], [], 0
        for s in steps:
            if s["step"] in undone or (isinstance(s["action"], str) and s["action"] == UNDO):
                continue
            file_ids = np.asarray(s["id"], dtype=object)
            if header["ids"] == "str" and self.ids is not None and self.ids.dtype.kind in "iu":
                pos = np.full(len(file_ids), -1, np.int64)
            else:
                pos = id_positions(self.ids, self.n_samples, file_ids)
            ok = pos >= 0
            gone.extend(file_ids[~ok].tolist())
            if not ok.any():
                continue
            lab = name_map[np.where(s["label"] >= 0, s["label"], len(old_names))][ok]
            action = np.asarray(column(s, "action"))[ok]
            lost = (action == "relabel") & (lab < 0)
            if lost.any():
                raise ValueError(
                    f"decisions relabel to classes this dataset does not have: "
                    f"{sorted(set(np.asarray(column(s, 'label_name'))[ok][lost].tolist()))}."
                )
            new = {c: (v[ok] if isinstance(v, np.ndarray) and c not in ("id",) else v)
                   for c, v in s.items() if c != "id"}  # fmt: skip
            new["index"], new["label"] = pos[ok], lab
            then = name_map[np.where(s["given"] >= 0, s["given"], len(old_names))][ok]
            new["given"] = self._given(pos[ok])
            if self.labels is not None:
                differ = (s["given"][ok] >= 0) & (then != new["given"])
                for j in np.flatnonzero(differ):
                    changed.append((self.id_of([pos[ok][j]])[0], int(pos[ok][j]),
                                    old_names[s["given"][ok][j]],
                                    self.class_names[new["given"][j]]))  # fmt: skip
            carried += int(ok.sum())
            for c in ("added", "removed"):
                if not isinstance(new[c], str) or new[c]:
                    cells = np.asarray(column(new, c), dtype=object)
                    new[c] = np.asarray([_map_set(t, old_names, self.class_names) for t in cells],
                                        dtype=object)  # fmt: skip
            out.append(new)
        for i, s in enumerate(out):
            s["step"], s["undoes"] = i, -1
        report = CarryReport(
            carried,
            gone,
            pd.DataFrame(changed, columns=["id", "index", "label_then", "label_now"]),
        )
        return out, report

    def merge(self, other, *, policy: str = "keep_mine", on_mismatch: str = "raise") -> MergeReport:
        """Merge another log's latest decisions into this one, as one undoable step.

        Samples only ``other`` decided take its decision. Samples both decided the same way
        are left alone. Samples both decided differently are conflicts, all listed in the
        report, resolved by ``policy``: ``"keep_mine"``, ``"take_theirs"`` or ``"newest"``
        (later ``time`` wins; ties keep mine). Decisions taken keep their user and time.

        Parameters
        ----------
        other : DecisionLog, or path to a decisions file or SQLite store
        policy : {"keep_mine", "take_theirs", "newest"}, default="keep_mine"
        on_mismatch : {"raise", "by_id"}, default="raise"
            Decisions made on other data (another fingerprint, size or classes) are refused,
            or carried over by sample id (the report's ``carry`` lists ids that are gone and
            samples whose label changed since).
        """
        if policy not in MERGE_POLICIES:
            raise ValueError(f"policy must be one of {MERGE_POLICIES}, found {policy!r}.")
        if on_mismatch not in MISMATCH_POLICIES:
            raise ValueError(
                f"on_mismatch must be one of {MISMATCH_POLICIES}, found {on_mismatch!r}."
            )
        carry = None
        if isinstance(other, DecisionLog):
            header = other._header()
            steps = [{**s, "id": _ids_of_step(s, other.ids)} for s in other._steps]
        elif isinstance(other, (str, os.PathLike)):
            header, steps = _read_any(other, expect=self._header() if on_mismatch == "raise"
                                      else None)  # fmt: skip
        else:
            raise TypeError(f"other must be a DecisionLog or a path, found {type(other).__name__}.")
        try:
            check_same_dataset(header, self._header())
            theirs_log = DecisionLog(self.n_samples, self.class_names, ids=self.ids)
            theirs_log._replay(self._own_steps(steps))
        except ValueError as err:
            if on_mismatch == "raise":
                raise ValueError(f"Cannot merge: {err}") from None
            mapped, carry = self._carry(header, steps)
            theirs_log = DecisionLog(self.n_samples, self.class_names, ids=self.ids)
            theirs_log._replay(mapped)
        report = self._merge_log(theirs_log, policy)
        report.carry = carry
        return report

    def _merge_log(self, other: DecisionLog, policy: str) -> MergeReport:
        theirs, mine = other.current(), self.current().set_index("index")
        both = theirs["index"].isin(mine.index).to_numpy()
        new = theirs[~both]
        shared = theirs[both]
        m = mine.loc[shared["index"].to_numpy()]
        differ = (
            (m["action"].to_numpy() != shared["action"].to_numpy())
            | (m["label"].to_numpy() != shared["label"].to_numpy())
            | (m["added"].to_numpy() != shared["added"].to_numpy())
            | (m["removed"].to_numpy() != shared["removed"].to_numpy())
        )
        conf_t, conf_m = shared[differ], m[differ]
        if policy == "keep_mine":
            take = np.zeros(len(conf_t), dtype=bool)
        elif policy == "take_theirs":
            take = np.ones(len(conf_t), dtype=bool)
        else:
            take = (
                pd.to_datetime(conf_t["time"], utc=True, format="ISO8601").to_numpy()
                > pd.to_datetime(conf_m["time"], utc=True, format="ISO8601").to_numpy()
            )
        conflicts = pd.DataFrame(
            {
                "id": self.id_of(conf_t["index"].to_numpy()),
                "index": conf_t["index"].to_numpy(),
                **{
                    f"mine_{c}": conf_m[c].to_numpy()
                    for c in ("action", "label_name", "user", "time", "note")
                },
                **{
                    f"theirs_{c}": conf_t[c].to_numpy()
                    for c in ("action", "label_name", "user", "time", "note")
                },
                "resolution": np.where(take, "theirs", "mine"),
            }
        )
        taken = pd.concat([new, conf_t[take]]).sort_values("index")
        if len(taken):
            cols = {c: taken[c].to_numpy() for c in COLUMNS if c != "id"}
            cols["step"], cols["undoes"] = self._next_step(), -1
            for c in STR_COLUMNS:
                cols[c] = np.asarray([str(v) for v in cols[c]], dtype=object)
            for c in ("index", "label"):
                cols[c] = cols[c].astype(np.int64)
            cols["given"] = self._given(cols["index"])
            cols["score"] = cols["score"].astype(np.float64)
            self._push(cols)
            self._changed()
        return MergeReport(policy, len(new), int((~differ).sum()), conflicts)


# --- helpers ---------------------------------------------------------------------------------------
def _ids_of_step(step: dict, ids) -> np.ndarray:
    idx = step["index"]
    out = np.empty(len(idx), dtype=object)
    ok = idx >= 0
    out[ok] = idx[ok] if ids is None else ids[idx[ok]]
    return out


def _map_set(text: str, old: list[str], new: list[str]) -> str:
    if not text:
        return text
    codes = sorted(new.index(old[c]) for c in json.loads(text) if old[c] in new)
    return json.dumps(codes) if codes else ""


def _ids_from_steps(header: dict, steps: list[dict]):
    """The ids a file names (a log loaded without its dataset): an object array with the ids
    of decided samples and None for the samples no decision names."""
    if header["ids"] == "position":
        return None
    ids = np.full(header["n_samples"], None, dtype=object)
    for s in steps:
        ok = s["index"] >= 0
        ids[s["index"][ok]] = np.asarray(s["id"], dtype=object)[ok]
    return ids


def _read_any(path, expect: dict | None = None) -> tuple[dict, list[dict]]:
    """Header and steps of a decisions file or SQLite store."""
    from workbench.decisions.store import DB_SUFFIXES, SQLiteStore

    path = Path(path)
    if path.suffix.lower() in DB_SUFFIXES:
        if not path.is_file():
            raise FileNotFoundError(f"No decisions store at {str(path)!r}.")
        store = SQLiteStore(path)
        try:
            header, steps = store.read()
        finally:
            store.close()
        if expect is not None:
            check_same_dataset(header, expect)
        return header, steps
    data = read_decisions(path, expect=expect)
    return data["header"], data["steps"]


def _check_label_sets(labels, n: int, k: int) -> np.ndarray:
    """(N, K) 0/1 label sets of a multi-label dataset, as bool."""
    arr = as_array(labels, "labels")
    if arr.shape != (n, k):
        raise ValueError(f"labels as label sets must have shape (N={n}, K={k}), found {arr.shape}.")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError("labels as label sets must hold only 0 and 1 (or booleans).")
    return arr.astype(bool)
