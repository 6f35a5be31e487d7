"""Detector quality when the truth is known: precision/recall of flags, ranking metrics of
scores, and how much detectors agree.

N samples. ``scores`` are noise scores, **higher = more likely mislabeled**; ``is_noisy`` is the
known truth (boolean of shape (N,), True = the given label is wrong). Ranking metrics sort the
scores once (O(N log N), a few (N,) arrays) and read everything from the cumulative counts of
noisy samples per distinct score, so tied scores are handled as one threshold, the way
scikit-learn does.

Undefined values are NaN, never an error: precision when nothing is flagged, recall, AUROC,
average precision and precision@k when no sample is noisy, AUROC when every sample is noisy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from workbench.core.typing import ArrayLike
from workbench.core.validation import as_array

__all__ = [
    "FlagOverlap",
    "PrecisionRecallF1",
    "auroc",
    "average_precision",
    "evaluate",
    "flag_overlap",
    "pr_curve",
    "precision_at_k",
    "precision_recall_f1",
]


# --- input checks ------------------------------------------------------------------------------


def _truth(is_noisy: ArrayLike, n: int | None = None, name: str = "is_noisy") -> np.ndarray:
    arr = as_array(is_noisy, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (N,), found shape {arr.shape}.")
    if arr.dtype != bool:
        if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{name} must be boolean (or 0/1), found dtype {arr.dtype} with values other "
                "than 0 and 1."
            )
        arr = arr.astype(bool)
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} samples but the scores/flags have {n}.")
    return arr


def _scores(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    arr = as_array(scores, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (N,), found shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"{name} must be real numbers, found dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=False)
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN (first at index {int(np.argmax(np.isnan(arr)))}).")
    return arr


def _pair(scores, is_noisy):
    s = _scores(scores)
    y = _truth(is_noisy, len(s))
    if len(s) == 0:
        raise ValueError("scores is empty; expected at least one sample.")
    return s, y


# --- flags -------------------------------------------------------------------------------------


class PrecisionRecallF1(NamedTuple):
    precision: float
    recall: float
    f1: float


def precision_recall_f1(flags: ArrayLike, is_noisy: ArrayLike) -> PrecisionRecallF1:
    """Precision, recall and F1 of a flagged set against the truth.

    Parameters
    ----------
    flags : array-like of bool, shape (N,)
        True = flagged as mislabeled.
    is_noisy : array-like of bool, shape (N,)

    Returns
    -------
    PrecisionRecallF1
        ``precision`` (NaN when nothing is flagged), ``recall`` (NaN when nothing is noisy) and
        ``f1 = 2 TP / (2 TP + FP + FN)`` (NaN when both are empty). Agrees with scikit-learn's
        ``precision_recall_fscore_support(is_noisy, flags, average="binary",
        zero_division=np.nan)``.
    """
    f = _truth(flags, name="flags")
    y = _truth(is_noisy, len(f))
    tp = int(np.count_nonzero(f & y))
    n_flag, n_noisy = int(np.count_nonzero(f)), int(np.count_nonzero(y))
    precision = tp / n_flag if n_flag else np.nan
    recall = tp / n_noisy if n_noisy else np.nan
    denom = n_flag + n_noisy  # 2 TP + FP + FN
    return PrecisionRecallF1(precision, recall, 2 * tp / denom if denom else np.nan)


# --- rankings ----------------------------------------------------------------------------------


class _Ranking:
    """Scores sorted once, descending, with cumulative counts per distinct score."""

    def __init__(self, s: np.ndarray, y: np.ndarray):
        self.order = np.argsort(-s, kind="stable")
        s_sorted = s[self.order]
        self.y_sorted = y[self.order]
        #: index (in sorted order) of the last sample of each group of equal scores
        self.ends = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), len(s) - 1]
        self.thresholds = s_sorted[self.ends]
        self.tps = np.cumsum(self.y_sorted, dtype=np.int64)[self.ends]
        self.fps = self.ends + 1 - self.tps
        self.n_pos = int(self.tps[-1])
        self.n_neg = len(s) - self.n_pos

    def auroc(self) -> float:
        if self.n_pos == 0 or self.n_neg == 0:
            return np.nan
        tps = np.r_[0, self.tps].astype(np.float64)
        fps = np.r_[0, self.fps].astype(np.float64)
        area = np.sum(np.diff(fps) * (tps[1:] + tps[:-1])) / 2.0
        return float(area / (self.n_pos * self.n_neg))

    def average_precision(self) -> float:
        if self.n_pos == 0:
            return np.nan
        precision = self.tps / (self.tps + self.fps)
        recall_steps = np.diff(np.r_[0, self.tps]) / self.n_pos
        return float(np.sum(recall_steps * precision))

    def precision_at_k(self, k: int, ties: str) -> float:
        if ties == "stable":
            return float(self.y_sorted[:k].sum() / k)
        g = int(np.searchsorted(self.ends, k - 1))
        before = int(self.ends[g - 1]) + 1 if g else 0
        tp_before = int(self.tps[g - 1]) if g else 0
        size = int(self.ends[g]) + 1 - before
        tp_tie = int(self.tps[g]) - tp_before
        return float((tp_before + (k - before) * tp_tie / size) / k)


def auroc(scores: ArrayLike, is_noisy: ArrayLike) -> float:
    """Area under the ROC curve: the probability that a random noisy sample scores higher than a
    random clean one (ties count one half).

    Parameters
    ----------
    scores : array-like of shape (N,)
        Noise scores, higher = more likely mislabeled. ±inf is allowed, NaN is not.
    is_noisy : array-like of bool, shape (N,)

    Returns
    -------
    float in [0, 1]; 0.5 is chance. NaN when all or none of the samples are noisy.
    Equal to scikit-learn's ``roc_auc_score(is_noisy, scores)``.

    Examples
    --------
    >>> from workbench.analysis.metrics import auroc
    >>> auroc([0.9, 0.8, 0.1, 0.3], [True, False, False, True])
    0.75
    """
    return _Ranking(*_pair(scores, is_noisy)).auroc()


def average_precision(scores: ArrayLike, is_noisy: ArrayLike) -> float:
    """Average precision: the mean of the precision at each noisy sample's rank, with tied
    scores taken as one threshold, ``sum_n (R_n - R_{n-1}) P_n``.

    Returns NaN when no sample is noisy. Equal to scikit-learn's
    ``average_precision_score(is_noisy, scores)``; chance level is the noise rate.
    """
    return _Ranking(*_pair(scores, is_noisy)).average_precision()


def precision_at_k(
    scores: ArrayLike, is_noisy: ArrayLike, k: int, *, ties: str = "average"
) -> float:
    """Fraction of noisy samples among the ``k`` highest scores.

    Parameters
    ----------
    k : int
        1 <= k <= N.
    ties : {"average", "stable"}, default="average"
        Scores tied at the k-th place: ``"average"`` gives the expected precision when the tie
        is broken at random; ``"stable"`` takes the lower indices first, like
        ``DetectorResult.top_k``.

    Returns
    -------
    float
    """
    s, y = _pair(scores, is_noisy)
    _check_k(k, len(s))
    if ties not in ("average", "stable"):
        raise ValueError(f"ties must be 'average' or 'stable', found {ties!r}.")
    return _Ranking(s, y).precision_at_k(int(k), ties)


def _check_k(k, n: int) -> None:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, found {k!r}.")
    if not 1 <= k <= n:
        raise ValueError(f"k must lie in 1..N={n}, found {k}.")


def pr_curve(scores: ArrayLike, is_noisy: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold (flag when score >= threshold).

    Returns
    -------
    precision : ndarray of shape (T + 1,)
    recall : ndarray of shape (T + 1,)
        Decreasing; NaN when no sample is noisy.
    thresholds : ndarray of shape (T,)
        The T distinct scores, increasing.

    The last point is (precision 1, recall 0), as in scikit-learn's
    ``precision_recall_curve(is_noisy, scores)``, which this equals.
    """
    r = _Ranking(*_pair(scores, is_noisy))
    precision = r.tps / (r.tps + r.fps)
    recall = r.tps / r.n_pos if r.n_pos else np.full(len(r.tps), np.nan)
    return (
        np.r_[precision[::-1], 1.0],
        np.r_[recall[::-1], 0.0],
        r.thresholds[::-1].copy(),
    )


# --- agreement between detectors ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FlagOverlap:
    """How the flagged sets of several detectors overlap.

    Attributes
    ----------
    intersection : pandas.DataFrame, detectors × detectors, int
        Samples flagged by both (the diagonal: by each).
    jaccard : pandas.DataFrame, detectors × detectors, float
        |A ∩ B| / |A ∪ B|; NaN when neither flags anything.
    combinations : pandas.DataFrame
        An UpSet-style table: one boolean column per detector, ``n_detectors`` and
        ``n_samples``, one row per combination that occurs (the row with every column False
        counts the samples no detector flags), most frequent first.
    """

    intersection: pd.DataFrame
    jaccard: pd.DataFrame
    combinations: pd.DataFrame


def flag_overlap(flags: Mapping[str, ArrayLike]) -> FlagOverlap:
    """Pairwise overlaps and the combinations of the flagged sets of several detectors.

    Parameters
    ----------
    flags : dict of name -> boolean array of shape (N,) or DetectorResult
        At most 62 detectors.

    Returns
    -------
    FlagOverlap
    """
    if not isinstance(flags, Mapping) or not flags:
        raise ValueError("flags must be a non-empty dict of name -> (N,) boolean flags.")
    if len(flags) > 62:
        raise ValueError(f"flag_overlap handles at most 62 detectors, found {len(flags)}.")
    names = [str(n) for n in flags]
    n = None
    code = None
    for bit, (name, f) in enumerate(flags.items()):
        values = f.flags if hasattr(f, "scores") else f  # a DetectorResult, or the flags
        arr = _truth(values, n, name=f"flags[{name!r}]")
        n = len(arr)
        code = np.zeros(n, dtype=np.int64) if code is None else code
        code |= arr.astype(np.int64) << bit
    combos, counts = np.unique(code, return_counts=True)
    member = (combos[:, None] >> np.arange(len(names))) & 1  # combos × detectors
    inter = (member.T * counts) @ member
    size = np.diag(inter)
    union = size[:, None] + size[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    table = pd.DataFrame(member.astype(bool), columns=names)
    table["n_detectors"] = member.sum(axis=1)
    table["n_samples"] = counts
    table = table.sort_values(["n_samples", "n_detectors"], ascending=[False, True], kind="stable")
    return FlagOverlap(
        intersection=pd.DataFrame(inter, index=names, columns=names),
        jaccard=pd.DataFrame(jac, index=names, columns=names),
        combinations=table.reset_index(drop=True),
    )


# --- one table for many detectors --------------------------------------------------------------


def evaluate(results: Mapping, is_noisy: ArrayLike, *, k: int | None = None) -> pd.DataFrame:
    """Score every detector against the known truth: one row per detector.

    Parameters
    ----------
    results : dict of name -> DetectorResult
        Anything with ``scores`` (higher = more likely mislabeled) and ``flags`` of shape (N,).
    is_noisy : array-like of bool, shape (N,)
    k : int, optional
        For precision@k; default the number of noisy samples (then precision@k = recall@k =
        R-precision).

    Returns
    -------
    pandas.DataFrame
        Columns ``detector``, ``n_flagged``, ``precision``, ``recall``, ``f1`` (of the default
        flags), ``auroc``, ``ap`` (average precision) and ``precision_at_k`` (ties averaged);
        ``attrs["k"]`` holds k. NaN where a metric is undefined (see the module docstring).
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict of name -> DetectorResult.")
    y = _truth(is_noisy)
    if len(y) == 0:
        raise ValueError("is_noisy is empty; expected at least one sample.")
    if k is None:
        k = int(y.sum())
    else:
        _check_k(k, len(y))
    rows = []
    for name, res in results.items():
        if not hasattr(res, "scores") or not hasattr(res, "flags"):
            raise TypeError(
                f"results[{name!r}] must be a DetectorResult (with scores and flags), found "
                f"{type(res).__name__}."
            )
        s = _scores(res.scores, name=f"results[{name!r}].scores")
        _truth(y, len(s))
        prf = precision_recall_f1(res.flags, y)
        rank = _Ranking(s, y)
        rows.append(
            {
                "detector": str(name),
                "n_flagged": int(np.count_nonzero(np.asarray(res.flags))),
                "precision": prf.precision,
                "recall": prf.recall,
                "f1": prf.f1,
                "auroc": rank.auroc(),
                "ap": rank.average_precision(),
                "precision_at_k": rank.precision_at_k(int(k), "average") if k else np.nan,
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["k"] = int(k)
    return df
