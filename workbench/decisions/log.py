"""Review decisions: keep / remove / relabel / needs-review per sample, undoable, exported and
reloaded atomically.

N is the number of samples and K the number of classes. Every decision records who made it,
when (UTC, ISO 8601), and the detector, threshold and noise score (higher = more likely
mislabeled) it was made under. Files are JSON, CSV or Parquet (never pickle), written through a
temporary file in the same folder, fsynced and renamed over the target, so an interrupted write
leaves the previous file intact.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.validation import as_array, check_labels
from workbench.decisions.formats import (
    ACTIONS,
    COLUMNS,
    FORMAT,
    STR_COLUMNS,
    VERSION,
    atomic_write,
    encode,
    format_of,
    read_decisions,
    steps_frame,
)

__all__ = ["ACTIONS", "MERGE_POLICIES", "DecisionLog", "MergeReport"]

#: How :meth:`DecisionLog.merge` resolves a sample both logs decided differently.
MERGE_POLICIES = ("keep_mine", "take_theirs", "newest")


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
        One row per sample both logs decided differently: ``index``, ``mine_action``,
        ``mine_label``, ``mine_user``, ``mine_time``, the same with ``theirs_``, and
        ``resolution`` ("mine" or "theirs").
    """

    policy: str
    added: int
    identical: int
    conflicts: pd.DataFrame

    @property
    def n_conflicts(self) -> int:
        return len(self.conflicts)

    @property
    def taken_theirs(self) -> int:
        return int((self.conflicts["resolution"] == "theirs").sum()) if len(self.conflicts) else 0

    def summary(self) -> str:
        return (
            f"Merged with policy {self.policy!r}: {self.added} new decision(s) taken, "
            f"{self.identical} identical, {self.n_conflicts} conflict(s) "
            f"({self.taken_theirs} resolved to theirs, "
            f"{self.n_conflicts - self.taken_theirs} kept mine)."
        )

    def __repr__(self) -> str:
        return f"MergeReport({self.summary()})"


class DecisionLog:
    """The history of review decisions over N samples, with multi-level undo and autosave.

    Parameters
    ----------
    n_samples : int
        N; decisions name samples by position 0..N-1.
    class_names : sequence of str
        The K class names, in index order (relabels may name a class or give its index).
    path : str or path, optional
        Autosave file (``.json``, ``.csv`` or ``.parquet``): written atomically after every
        change and reloaded here when it exists, so a kernel restart loses nothing.
    user : str, optional
        Who decides; default: the login name (``getpass.getuser()``, then ``$USER``).

    Raises
    ------
    ValueError
        If ``path`` has an unknown suffix, or the existing file is malformed or was written for
        other samples or classes (the file is left untouched).
    """

    def __init__(self, n_samples: int, class_names, *, path=None, user: str | None = None):
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise TypeError(f"n_samples must be an int, found {type(n_samples).__name__}.")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, found {n_samples}.")
        names = [str(c) for c in class_names]
        if len(names) < 1 or len(set(names)) != len(names):
            raise ValueError(f"class_names must be non-empty and unique, found {names[:20]}.")
        self.n_samples, self.class_names = int(n_samples), names
        self.user = user if user is not None else _default_user()
        self.path = None if path is None else Path(path)
        if self.path is not None:
            format_of(self.path)
        self._listeners: list = []
        self._reset()
        if self.path is not None and self.path.exists():
            self._replace_with(read_decisions(self.path), source=self.path)

    # --- state ---------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._steps: list[dict] = []  # one dict per step (see workbench.decisions.formats)
        self._undo: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._act = np.full(self.n_samples, -1, dtype=np.int8)  # latest action code, -1 none
        self._lab = np.full(self.n_samples, -1, dtype=np.int64)  # latest relabel target
        self._row = np.full(self.n_samples, -1, dtype=np.int64)  # latest row in the log
        self._n_rows = 0
        self._cache: pd.DataFrame | None = None

    def _push(self, cols: dict) -> None:
        """Append one step (already validated, unique indices) and update the latest state."""
        idx = cols["index"]
        self._undo.append(
            (idx, self._act[idx].copy(), self._lab[idx].copy(), self._row[idx].copy())
        )
        action = cols["action"]
        self._act[idx] = (
            ACTIONS.index(action)
            if isinstance(action, str)
            else pd.Categorical(action, categories=ACTIONS).codes
        )
        self._lab[idx] = cols["label"]
        self._row[idx] = self._n_rows + np.arange(len(idx))
        self._n_rows += len(idx)
        self._steps.append(cols)
        self._cache = None

    def _replace_with(self, steps: dict, *, source) -> None:
        if steps["n_samples"] != self.n_samples or steps["class_names"] != self.class_names:
            raise ValueError(
                f"{source} holds decisions for N={steps['n_samples']} samples and classes "
                f"{steps['class_names'][:10]}, but this log has N={self.n_samples} and classes "
                f"{self.class_names[:10]}; use a decisions file made for this dataset."
            )
        self._reset()
        for cols in steps["steps"]:
            self._push(cols)

    def on_change(self, callback):
        """Call ``callback()`` after every change (decide, undo, merge); returns an unsubscribe."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, found {type(callback).__name__}.")
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def _changed(self) -> None:
        error = None
        if self.path is not None:
            try:
                self.save(self.path)
            except OSError as exc:
                error = exc
        for callback in list(self._listeners):
            callback()
        if error is not None:
            raise OSError(
                f"The decision is recorded in memory, but autosaving to {self.path} failed: "
                f"{error}. Export it elsewhere with to_json/to_csv/to_parquet."
            ) from error

    # --- deciding ------------------------------------------------------------------------------
    def decide(
        self,
        indices,
        action: str,
        *,
        label=None,
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
            Sample positions 0..N-1 (duplicates count once, the last one wins).
        action : {"keep", "remove", "relabel", "needs_review"}
        label : int, str, or array-like of shape (n,), optional
            The new class (index or name) for ``"relabel"``; required there, refused elsewhere.
        detector : str, optional
            The detector whose flags were being reviewed.
        threshold : float, str or (mode, value), optional
            The flag rule in force (e.g. ``session.threshold``).
        score : float or array-like of shape (n,), optional
            Noise score of each sample (higher = more likely mislabeled).
        note : str, optional
        user : str, optional
            Overrides the log's user for this step.

        Returns
        -------
        int
            Number of samples decided.
        """
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, found {action!r}.")
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
        if np.bincount(idx, minlength=self.n_samples).max() > 1:
            # duplicates: keep the last occurrence of each index
            _, last = np.unique(idx[::-1], return_index=True)
            keep = np.sort(n - 1 - last)
            idx, labels, scores = idx[keep], labels[keep], scores[keep]
        m = len(idx)
        names = np.asarray(self.class_names + [""], dtype=object)
        label_name = names[np.where(labels >= 0, labels, len(self.class_names))]
        self._push({
            "step": self._next_step(),
            "index": idx,
            "action": action,
            "label": labels,
            "label_name": str(label_name[0]) if (label_name == label_name[0]).all()
            else label_name,
            "user": str(user if user is not None else self.user),
            "time": _now(),
            "detector": "" if detector is None else str(detector),
            "threshold": _threshold_text(threshold),
            "score": scores,
            "note": "" if note is None else str(note),
        })  # fmt: skip
        self._changed()
        return m

    def _next_step(self) -> int:
        return int(self._steps[-1]["step"]) + 1 if self._steps else 0

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
            if isinstance(label, (str, np.str_)):
                if label not in self.class_names:
                    raise ValueError(
                        f"label {label!r} is not a class; classes are {self.class_names}."
                    )
                code = self.class_names.index(label)
            else:
                if isinstance(label, (bool, np.bool_)) or int(label) != label:
                    raise TypeError(f"label must be a class index or name, found {label!r}.")
                code = int(label)
                if not 0 <= code < k:
                    raise ValueError(f"label must lie in 0..{k - 1}, found {code}.")
            return np.full(n, code, dtype=np.int64)
        codes, _ = check_labels(label, name="label", class_names=self.class_names, n_classes=k)
        if codes.shape != (n,):
            raise ValueError(
                f"label must be one class or have shape ({n},), found shape {codes.shape}."
            )
        return codes

    def undo(self, steps: int = 1) -> int:
        """Undo the last ``steps`` steps (a bulk decision is one step); returns how many."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive int, found {steps!r}.")
        done = 0
        while done < steps and self._steps:
            cols = self._steps.pop()
            idx, act, lab, row = self._undo.pop()
            self._act[idx], self._lab[idx], self._row[idx] = act, lab, row
            self._n_rows -= len(cols["index"])
            done += 1
        if done:
            self._cache = None
            self._changed()
        return done

    @property
    def can_undo(self) -> bool:
        return bool(self._steps)

    @property
    def n_steps(self) -> int:
        return len(self._steps)

    def __len__(self) -> int:
        return self._n_rows

    def __repr__(self) -> str:
        counts = ", ".join(f"{a}={c}" for a, c in self.counts().items())
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"DecisionLog(N={self.n_samples}, {counts}{where})"

    # --- reading -------------------------------------------------------------------------------
    @property
    def log(self) -> pd.DataFrame:
        """Every decision in order (oldest first), one row per sample per step; columns
        ``step, index, action, label, label_name, user, time, detector, threshold, score, note``
        (``label`` is -1 and ``label_name`` empty unless the action is ``relabel``)."""
        if self._cache is None:
            self._cache = steps_frame(self._steps)
        return self._cache.copy()

    def tail(self, n: int = 100) -> pd.DataFrame:
        """The last ``n`` decisions, latest first (cheap for long logs)."""
        parts, total = [], 0
        for cols in reversed(self._steps):
            parts.append(cols)
            total += len(cols["index"])
            if total >= n:
                break
        return steps_frame(parts[::-1]).iloc[::-1].head(n).reset_index(drop=True)

    def current(self) -> pd.DataFrame:
        """The latest decision of every decided sample, sorted by sample index."""
        rows = self._row[self._row >= 0]
        decided = np.flatnonzero(self._row >= 0)
        if self._cache is None:
            self._cache = steps_frame(self._steps)
        out = self._cache.iloc[self._row[decided]] if len(rows) else self._cache.iloc[:0]
        return out.reset_index(drop=True)

    def actions(self) -> np.ndarray:
        """Latest action per sample as an object array of shape (N,), ``""`` where undecided."""
        return np.asarray(("",) + ACTIONS, dtype=object)[self._act.astype(np.int64) + 1]

    def counts(self) -> dict[str, int]:
        """How many samples currently carry each action."""
        c = np.bincount(self._act[self._act >= 0], minlength=len(ACTIONS))
        return {a: int(c[i]) for i, a in enumerate(ACTIONS)}

    def remove_mask(self) -> np.ndarray:
        """Boolean (N,): True where the latest decision is ``remove``."""
        return self._act == ACTIONS.index("remove")

    def relabels(self) -> pd.DataFrame:
        """Samples whose latest decision is ``relabel``: columns ``index, label, label_name``."""
        idx = np.flatnonzero(self._act == ACTIONS.index("relabel"))
        lab = self._lab[idx]
        return pd.DataFrame(
            {
                "index": idx,
                "label": lab,
                "label_name": np.asarray(self.class_names, dtype=object)[lab],
            }
        )

    def apply(self, labels_or_dataframe, *, label_column: str = "label"):
        """Apply the current decisions: drop removed samples, set relabelled samples' labels.

        ``keep`` and ``needs_review`` leave a sample unchanged.

        Parameters
        ----------
        labels_or_dataframe : array-like of shape (N,) or pandas.DataFrame with N rows
            Labels as class indices or class names (relabels follow the same form), or a table
            whose ``label_column`` holds them.
        label_column : str, default="label"

        Returns
        -------
        ndarray of shape (N - removed,) or pandas.DataFrame
            Cleaned labels; or the DataFrame without removed rows, its index (the original
            positions for a default index) kept as it was.
        """
        frame = isinstance(labels_or_dataframe, pd.DataFrame)
        if frame:
            if label_column not in labels_or_dataframe.columns:
                raise ValueError(
                    f"label_column {label_column!r} is not a column; columns are "
                    f"{list(labels_or_dataframe.columns)[:20]}."
                )
            raw = labels_or_dataframe[label_column]
        else:
            raw = labels_or_dataframe
        values = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw)
        if values.ndim != 1 or len(values) != self.n_samples:
            raise ValueError(f"labels must have shape (N={self.n_samples},), found {values.shape}.")
        rel = self.relabels()
        if values.dtype.kind in "OUST":
            new = values.astype(object)
            new[rel["index"].to_numpy()] = rel["label_name"].to_numpy()
        elif (
            values.dtype.kind in "iuf"
            and np.all(np.isfinite(values))
            and np.all(values == np.round(values))
        ):
            new = values.astype(np.int64)
            new[rel["index"].to_numpy()] = rel["label"].to_numpy()
        else:
            raise TypeError(
                f"labels must be class indices (ints) or class names, found dtype {values.dtype}."
            )
        keep = ~self.remove_mask()
        if not frame:
            return new[keep]
        out = labels_or_dataframe.copy()
        out[label_column] = new
        return out.loc[keep]

    # --- files ---------------------------------------------------------------------------------
    def _header(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "n_samples": self.n_samples,
            "class_names": self.class_names,
        }

    def to_json(self, path) -> Path:
        """Write the whole history to a JSON file atomically; returns the path."""
        return atomic_write(path, encode("json", self._header(), self._steps))

    def to_csv(self, path) -> Path:
        """Write the whole history to CSV atomically (first line ``# {header JSON}``)."""
        return atomic_write(path, encode("csv", self._header(), self._steps))

    def to_parquet(self, path) -> Path:
        """Write the whole history to Parquet atomically (header in the schema metadata)."""
        return atomic_write(path, encode("parquet", self._header(), self._steps))

    def save(self, path) -> Path:
        """Write to ``path`` in the format its suffix names (.json, .csv, .parquet)."""
        fmt = format_of(Path(path))
        return getattr(self, f"to_{fmt}")(path)

    @classmethod
    def load(cls, path, *, user: str | None = None) -> DecisionLog:
        """Read a decisions file written by :meth:`to_json`, :meth:`to_csv` or
        :meth:`to_parquet` (detected from its content) into a new log without autosave.

        Raises
        ------
        ValueError
            If the file is not a workbench decisions file, is of a newer version, or is
            malformed; the message names the file and what is wrong.
        """
        data = read_decisions(Path(path))
        log = cls(data["n_samples"], data["class_names"], user=user)
        log._replace_with(data, source=path)
        return log

    def reload(self) -> None:
        """Re-read the autosave file (e.g. after another process wrote it)."""
        if self.path is None:
            raise ValueError("reload needs a log created with path=...")
        data = read_decisions(self.path)
        self._replace_with(data, source=self.path)
        for callback in list(self._listeners):
            callback()

    def merge(self, other, *, policy: str = "keep_mine") -> MergeReport:
        """Merge another log's latest decisions into this one, as one undoable step.

        Samples only ``other`` decided take its decision. Samples both decided the same way
        are left alone. Samples both decided differently are conflicts, all listed in the
        report, resolved by ``policy``: ``"keep_mine"``, ``"take_theirs"`` or ``"newest"``
        (later ``time`` wins; ties keep mine). Decisions taken keep their user and time.

        Parameters
        ----------
        other : DecisionLog, or path to a decisions file
        policy : {"keep_mine", "take_theirs", "newest"}, default="keep_mine"
        """
        if policy not in MERGE_POLICIES:
            raise ValueError(f"policy must be one of {MERGE_POLICIES}, found {policy!r}.")
        if not isinstance(other, DecisionLog):
            if not isinstance(other, (str, os.PathLike)):
                raise TypeError(
                    f"other must be a DecisionLog or a path, found {type(other).__name__}."
                )
            other = DecisionLog.load(other)
        if other.n_samples != self.n_samples or other.class_names != self.class_names:
            raise ValueError(
                f"Cannot merge decisions for N={other.n_samples}, classes "
                f"{other.class_names[:10]} into a log for N={self.n_samples}, classes "
                f"{self.class_names[:10]}."
            )
        theirs, mine = other.current(), self.current().set_index("index")
        both = theirs["index"].isin(mine.index).to_numpy()
        new = theirs[~both]
        shared = theirs[both]
        m = mine.loc[shared["index"].to_numpy()]
        differ = (m["action"].to_numpy() != shared["action"].to_numpy()) | (
            m["label"].to_numpy() != shared["label"].to_numpy()
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
            cols = {c: taken[c].to_numpy() for c in COLUMNS}
            cols["step"] = self._next_step()
            for c in STR_COLUMNS:
                cols[c] = np.asarray([str(v) for v in cols[c]], dtype=object)
            self._push(cols)
            self._changed()
        return MergeReport(policy, len(new), int((~differ).sum()), conflicts)
