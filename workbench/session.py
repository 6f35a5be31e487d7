"""The audit session: one object holding a dataset, detector results, the threshold, the
selection and the decisions. Views subscribe to it; it never imports any UI.

Events (``session.on(event, callback)``; callbacks receive the session):

- ``"selection"``: the selected indices changed (from any view);
- ``"flags"``: the active detector or its threshold changed, so the flagged set changed;
- ``"decisions"``: a decision was added, undone, imported or reloaded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors import (
    DetectorResult,
    available_detectors,
    label_error_detectors,
    score_each,
)
from workbench.core.dataset import Dataset
from workbench.core.validation import as_array

__all__ = ["Session", "THRESHOLD_MODES"]

#: How the flagged set is chosen: every score >= a value, the k highest scores, the detector's
#: own default rule, or as many as the estimated number of label errors.
THRESHOLD_MODES = ("default", "score", "top_k", "estimated")

_EVENTS = ("selection", "flags", "decisions")


def _sorted_unique(idx: np.ndarray, n: int) -> np.ndarray:
    """``np.unique(idx)`` of indices in 0..n-1, fast for a selection from the map: kept as
    is when already sorted and unique; a large one (a lasso of 100,000 points, "select all")
    through a mask of the N samples (a few ms at N = 1,000,000, where ``np.unique`` took
    0.2 s for 117,000 indices and 2.6 s for all of them)."""
    if idx.size < 2 or bool((idx[1:] > idx[:-1]).all()):
        return idx.copy()  # the caller's array may change later; the selection must not
    if idx.size * 32 < n:
        return np.unique(idx)
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return np.flatnonzero(mask).astype(np.int64, copy=False)


class Session:
    """State shared by every view of one dataset.

    Parameters
    ----------
    dataset : Dataset
    results : dict of name -> DetectorResult, optional
        Precomputed detector results; default: run every detector that can run (one that
        fails is left out with a RuntimeWarning). The first label-error detector among them
        is active at first (``Detector.kind``).
    decisions_path : str, path or None, default="auto"
        Where decisions are stored as they are made and reloaded from. ``"auto"``: this
        dataset's own SQLite store, ``workbench-output/decisions/<fingerprint>.db`` (the
        folder: ``$WORKBENCH_DECISIONS_DIR``, else ``$WORKBENCH_OUTPUT_DIR/decisions``), made
        at the first decision (opening a session writes nothing) and found again when the
        same data are opened later. A path: ``"decisions.db"`` (SQLite: one transaction per
        decision, several kernels may write at once) or a ``.json`` / ``.csv`` / ``.parquet``
        file (rewritten atomically). None: in memory only. A store made for another dataset
        (its fingerprint differs) is refused.
    decisions_url : str, optional
        A PostgreSQL store a team shares instead (``"postgresql://user@host:5432/db"``).
    failed : dict of name -> str, optional
        Why detectors failed where ``results`` were computed (an audit's ``failed``).

    Attributes
    ----------
    unavailable : dict of name -> str
        Every detector without a result and why: a missing signal, or how it failed.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        results: dict[str, DetectorResult] | None = None,
        decisions_path="auto",
        failed: dict[str, str] | None = None,
        decisions_url=None,
    ):
        from workbench.decisions.log import DecisionLog

        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a workbench.Dataset, found {type(dataset).__name__}.")
        self.dataset = dataset
        failed = {k: f"failed: {v}" for k, v in (failed or {}).items()}
        if results is None:  # every detector that can run; one that fails is reported
            results, errors, _ = score_each(dataset, progress=False)
            failed.update({k: f"failed: {v}" for k, v in errors.items()})
        self.results = dict(results)
        why_not = {**available_detectors(dataset), **failed}
        if not self.results:
            raise ValueError(
                "No detector can run on this dataset: "
                + "; ".join(f"{k}: {v}" for k, v in why_not.items())
            )
        self.unavailable = {
            k: v for k, v in why_not.items() if v is not None and k not in self.results
        }
        self._listeners: dict[str, list[Callable]] = defaultdict(list)
        self._selection = np.empty(0, dtype=np.int64)
        self.selection_source: str | None = None
        # the first detector of label errors (not an ambiguity or outlier score, Detector.kind)
        self._active = next(iter([*label_error_detectors(self.results), *self.results]))
        self._mode, self._value = "default", None
        self._flags = self.results[self._active].flags
        if (
            decisions_url is not None
            and isinstance(decisions_path, str)
            and decisions_path == "auto"
        ):
            decisions_path = None  # the team store instead of the local default
        self.decisions = DecisionLog.for_dataset(dataset, path=decisions_path, url=decisions_url)
        self.decisions.on_change(lambda: self._emit("decisions"))

    # --- subscriptions -----------------------------------------------------------------------
    def on(self, event: str, callback: Callable[[Session], None]) -> Callable[[], None]:
        """Call ``callback(session)`` whenever ``event`` happens; returns an unsubscribe function."""
        if event not in _EVENTS:
            raise ValueError(f"Unknown event {event!r}; choose from {_EVENTS}.")
        self._listeners[event].append(callback)
        return lambda: self._listeners[event].remove(callback)

    def _emit(self, event: str) -> None:
        for callback in list(self._listeners[event]):
            callback(self)

    # --- selection ---------------------------------------------------------------------------
    @property
    def selection(self) -> np.ndarray:
        """Selected sample indices, sorted, unique, int64."""
        return self._selection

    def select(self, indices: Iterable[int], *, source: str | None = None) -> None:
        """Replace the selection; ``source`` names the view it came from (views skip echoes)."""
        idx = (
            as_array(list(indices) if not hasattr(indices, "__len__") else indices, "indices")
            .astype(np.int64, copy=False)
            .reshape(-1)
        )
        if idx.size and (idx.min() < 0 or idx.max() >= self.dataset.n_samples):
            raise ValueError(
                f"selection indices must lie in 0..{self.dataset.n_samples - 1}, found "
                f"[{idx.min()}, {idx.max()}]."
            )
        idx = _sorted_unique(idx, self.dataset.n_samples)
        if np.array_equal(idx, self._selection):
            return
        self._selection, self.selection_source = idx, source
        self._emit("selection")

    def clear_selection(self, *, source: str | None = None) -> None:
        self.select(np.empty(0, dtype=np.int64), source=source)

    # --- decisions ---------------------------------------------------------------------------
    def decide(self, indices, action: str, *, label=None, note: str | None = None) -> int:
        """Record ``action`` for ``indices`` in ``self.decisions`` as one undoable step, with the
        active detector, the threshold in force and each sample's noise score."""
        idx = np.atleast_1d(np.asarray(indices))
        in_range = (
            idx.dtype.kind in "iu"
            and idx.ndim == 1
            and (idx.size == 0 or (idx.min() >= 0 and idx.max() < self.dataset.n_samples))
        )
        return self.decisions.decide(
            idx,
            action,
            label=label,
            detector=self._active,
            threshold=self.threshold,
            score=self.result.scores[idx] if in_range else None,
            note=note,
        )

    # --- detector and threshold --------------------------------------------------------------
    @property
    def active(self) -> str:
        """Name of the detector whose flags the views show."""
        return self._active

    @property
    def result(self) -> DetectorResult:
        return self.results[self._active]

    @property
    def flags(self) -> np.ndarray:
        """Boolean (N,): flagged by the active detector at the current threshold."""
        return self._flags

    @property
    def threshold(self) -> tuple[str, float | int | None]:
        """(mode, value): mode is one of THRESHOLD_MODES."""
        return self._mode, self._value

    def set_detector(self, name: str) -> None:
        if name not in self.results:
            raise ValueError(f"Unknown detector {name!r}; this session has {sorted(self.results)}.")
        self._active = name
        self._apply_threshold()

    def set_threshold(self, mode: str = "default", value: float | int | None = None) -> None:
        """Choose the flag rule: ``("score", s)``, ``("top_k", k)``, ``("estimated", None)``
        (as many as the estimated number of label errors) or ``("default", None)``."""
        if mode not in THRESHOLD_MODES:
            raise ValueError(f"Unknown threshold mode {mode!r}; choose from {THRESHOLD_MODES}.")
        if mode == "score" and (value is None or not np.isfinite(float(value))):
            raise ValueError(f"threshold mode 'score' needs a finite value, found {value!r}.")
        if mode == "top_k":
            if (
                value is None
                or int(value) != value
                or not 0 <= int(value) <= self.dataset.n_samples
            ):
                raise ValueError(
                    f"threshold mode 'top_k' needs an integer 0..{self.dataset.n_samples}, "
                    f"found {value!r}."
                )
            value = int(value)
        if mode == "estimated" and self.dataset.pred_probs is None:
            raise ValueError(
                "threshold mode 'estimated' needs pred_probs to estimate the number "
                "of label errors."
            )
        self._mode, self._value = mode, value
        self._apply_threshold()

    @property
    def analysis(self):
        """The dataset's shared derived quantities (:class:`workbench.analysis.derived.Analysis`):
        matrices, statistics, kNN graph, precision-recall curves; what the views read."""
        return analysis_of(self.dataset)

    def estimated_num_errors(self) -> int:
        """Number of label errors estimated from pred_probs (confident joint off-diagonal)."""
        return self.analysis.estimated_num_errors()

    def _apply_threshold(self) -> None:
        scores = self.result.scores
        if self._mode == "default":
            flags = self.result.flags
        elif self._mode == "score":
            flags = scores >= float(self._value)
        else:
            k = self._value if self._mode == "top_k" else self.estimated_num_errors()
            flags = np.zeros(len(scores), dtype=bool)
            flags[self.result.top_k(k)] = True
        self._flags = flags
        # Emitted even when the flagged set is unchanged: the scores views colour by may differ.
        self._emit("flags")
