"""The detector interface: every detector turns a Dataset into per-sample noise scores.

A detector declares the signals it needs (keys of ``workbench.core.dataset.SIGNALS``), returns a
noise score per sample (**higher = more likely mislabeled**), a default flag rule and, where it
can, a suggested label. Subclasses follow scikit-learn's estimator manners: ``__init__`` only
stores its keyword arguments; the work happens in ``_score``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from workbench.core.dataset import Dataset

__all__ = ["KINDS", "Detector", "DetectorResult", "MissingSignalError"]

#: What a detector's score ranks (:attr:`Detector.kind`): likely label errors, or ambiguous
#: samples (unclear instances, overlapping classes) whose given label may well be right,
#: out-of-distribution samples, or near / exact copies of other samples.
KINDS = ("label_error", "ambiguity", "outlier", "duplicate")


class MissingSignalError(ValueError):
    """The dataset lacks a signal the detector needs."""


@dataclass(frozen=True, eq=False)
class DetectorResult:
    """What a detector says about every sample.

    Immutable: the arrays are private read-only copies, so :meth:`ranking` is sorted once and
    cached.

    Attributes
    ----------
    detector : str
        Registry name of the detector that produced it.
    scores : ndarray of shape (N,), float64
        Noise score, higher = more likely mislabeled.
    flags : ndarray of shape (N,), bool
        The detector's default flag rule applied to the scores.
    suggested_labels : ndarray of shape (N,), int64, or None
        Most likely correct label per sample, -1 where the detector has no suggestion. On
        multi-label data the suggested label *set* of every sample: (N, K) of 0/1.
    params : dict
        The detector's parameters.
    details : dict
        Extra per-detector outputs (per-class thresholds, annotator quality, ...).
    """

    detector: str
    scores: np.ndarray
    flags: np.ndarray
    suggested_labels: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        scores = _frozen(self.scores, np.float64)
        flags = _frozen(self.flags, bool)
        if scores.ndim != 1 or flags.shape != scores.shape:
            raise ValueError(
                f"{self.detector}: scores and flags must both have shape (N,), found "
                f"{scores.shape} and {flags.shape}."
            )
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "flags", flags)
        if self.suggested_labels is not None:
            object.__setattr__(self, "suggested_labels", _frozen(self.suggested_labels, np.int64))
        object.__setattr__(self, "_ranking", None)

    @property
    def n_flagged(self) -> int:
        return int(self.flags.sum())

    def ranking(self) -> np.ndarray:
        """Sample indices from most to least suspicious, shape (N,), int64 (stable for equal
        scores). Sorted on the first call, then cached; the array is read-only."""
        if self._ranking is None:
            order = np.argsort(-self.scores, kind="stable")
            order.flags.writeable = False
            object.__setattr__(self, "_ranking", order)
        return self._ranking

    def top_k(self, k: int) -> np.ndarray:
        """Indices of the ``k`` most suspicious samples."""
        return self.ranking()[:k]

    def subset(self, mask: np.ndarray) -> DetectorResult:
        """The result on the samples where ``mask`` (N,) bool is True (details left out: they
        may be per-class or per-annotator, not per-sample)."""
        return DetectorResult(
            detector=self.detector,
            scores=self.scores[mask],
            flags=self.flags[mask],
            suggested_labels=None if self.suggested_labels is None else self.suggested_labels[mask],
            params=self.params,
        )

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame(
            {"index": np.arange(len(self.scores)), "score": self.scores, "flagged": self.flags}
        )
        if self.suggested_labels is not None and self.suggested_labels.ndim == 2:
            rows, cols = np.nonzero(self.suggested_labels)  # label sets: lists of classes
            df["suggested_label"] = [c.tolist() for c in np.split(cols, np.cumsum(
                np.bincount(rows, minlength=len(df)))[:-1])]  # fmt: skip
        elif self.suggested_labels is not None:
            df["suggested_label"] = self.suggested_labels
        return df

    def __repr__(self) -> str:
        return f"DetectorResult({self.detector!r}, N={len(self.scores)}, flagged={self.n_flagged})"


def _frozen(values, dtype) -> np.ndarray:
    """A read-only copy of ``values`` as ``dtype`` (the caller's array stays writable)."""
    out = np.array(values, dtype=dtype)
    out.flags.writeable = False
    return out


class Detector:
    """Base class of all detectors.

    Subclasses set the class attributes and implement ``_score(dataset) -> DetectorResult``.
    """

    #: Registry name, e.g. ``"self_confidence"``.
    name: ClassVar[str]
    #: Signals the detector needs, keys of ``workbench.core.dataset.SIGNALS``.
    requires: ClassVar[tuple[str, ...]] = ()
    #: One sentence saying what the score measures.
    summary: ClassVar[str] = ""
    #: The paper the method comes from.
    reference: ClassVar[str] = ""
    #: What the score ranks, one of :data:`KINDS`. Only ``"label_error"`` detectors enter votes
    #: across detectors (``AuditResult.flagged_mask("any")``, ``n_detectors_flagging``) and the
    #: picks of a default or best detector; the others are shown as what they are.
    kind: ClassVar[str] = "label_error"
    #: The tasks (``Dataset.task``) the detector works on: one label per sample
    #: (``"multiclass"``) and / or label sets (``"multilabel"``).
    tasks: ClassVar[tuple[str, ...]] = ("multiclass",)

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def missing(self, dataset: Dataset) -> str | None:
        """Why this detector cannot run on ``dataset``, or None when it can."""
        task = getattr(dataset, "task", "multiclass")
        if task not in self.tasks:
            if task == "multilabel":
                return (
                    "Needs one label per sample; this dataset is multi-label (label sets): "
                    "use the multilabel_* detectors."
                )
            return "Needs label sets (multi-label data); this dataset has one label per sample."
        return dataset.why_missing(self.requires)

    def score(self, dataset: Dataset, *, progress: bool = True) -> DetectorResult:
        """Score every sample of ``dataset``; raises MissingSignalError if a signal is missing.

        ``progress=False`` silences the progress bars of long steps (kNN search, ReCoV repeats).
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a workbench.Dataset, found {type(dataset).__name__}.")
        reason = self.missing(dataset)
        if reason:
            raise MissingSignalError(f"Detector {self.name!r} cannot run: {reason}")
        return self._score(dataset, progress=bool(progress))

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:  # pragma: no cover
        """The work of :meth:`score`; pass ``progress`` on to every step that draws a bar."""
        raise NotImplementedError
