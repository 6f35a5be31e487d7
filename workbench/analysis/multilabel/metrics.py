"""Detector quality on multi-label data with known truth, per sample and per (sample, class).

N samples, K classes. The truth is a label set per sample (``true`` (N, K), -1 rows where
unknown, as ``Dataset.true_labels``). Two levels:

- **sample**: a sample is noisy when its given set differs from the true set; a detector's
  per-sample ``scores`` and ``flags`` are measured against that;
- **annotation**: each (sample, class) is noisy when the given annotation of that class
  differs from the truth (a missing or an extra label); measured for the detectors that give
  ``details["per_class_scores"]`` (N, K) (and ``per_class_flags`` for precision / recall).

Precision, recall, F1 of the flags, average precision, AUROC and the precision-recall curve
of the scores come from :mod:`workbench.analysis.metrics` (the single-label definitions),
on the samples / annotations whose truth is known.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench.analysis.metrics import auroc, average_precision, pr_curve, precision_recall_f1

__all__ = ["annotation_truth", "multilabel_evaluate", "multilabel_pr_curves"]


def annotation_truth(given: np.ndarray, true: np.ndarray):
    """``(known, noisy_sample, noisy_annotation)``: (N,) rows with known truth, (N,) sets that
    differ, (N, K) annotations that differ (False on unknown rows)."""
    true = np.asarray(true)
    known = (true >= 0).all(axis=1)
    wrong = (true == 1) != np.asarray(given, bool)
    wrong &= known[:, None]
    return known, wrong.any(axis=1), wrong


def _row(detector, level, scores, flags, truth) -> dict:
    row = {"detector": detector, "level": level, "n": int(truth.size),
           "n_noisy": int(truth.sum())}  # fmt: skip
    if flags is not None:
        prf = precision_recall_f1(flags, truth)
        row.update(n_flagged=int(np.count_nonzero(flags)), precision=prf.precision,
                   recall=prf.recall, f1=prf.f1)  # fmt: skip
    both = 0 < truth.sum() < truth.size
    row["ap"] = average_precision(scores, truth) if both else np.nan
    row["auroc"] = auroc(scores, truth) if both else np.nan
    return row


def multilabel_evaluate(results: Mapping, given: np.ndarray, true: np.ndarray) -> pd.DataFrame:
    """One row per detector and level (``"sample"``, ``"annotation"``): ``n``, ``n_noisy``,
    ``n_flagged``, ``precision``, ``recall``, ``f1``, ``ap``, ``auroc`` on the known truth.

    Parameters
    ----------
    results : dict of name -> DetectorResult
    given : (N, K) bool given label sets
    true : (N, K) true label sets, 0/1 (-1 rows unknown)
    """
    known, noisy, wrong = annotation_truth(given, true)
    if not known.any():
        raise ValueError("true has no known label set; every row is -1 (unknown).")
    rows = []
    for name, res in results.items():
        rows.append(_row(name, "sample", np.asarray(res.scores)[known],
                         np.asarray(res.flags)[known], noisy[known]))  # fmt: skip
        per_class = res.details.get("per_class_scores")
        if per_class is not None:
            flags = res.details.get("per_class_flags")
            rows.append(_row(name, "annotation", np.asarray(per_class)[known].ravel(),
                             None if flags is None else np.asarray(flags)[known].ravel(),
                             wrong[known].ravel()))  # fmt: skip
    return pd.DataFrame(rows)


def multilabel_pr_curves(results: Mapping, given, true, *, level: str = "sample") -> dict:
    """``{name: (precision, recall, thresholds)}`` of every detector's scores at ``level``
    (``"sample"`` or ``"annotation"``; detectors without per-class scores are left out there)."""
    if level not in ("sample", "annotation"):
        raise ValueError(f"level must be 'sample' or 'annotation', found {level!r}.")
    known, noisy, wrong = annotation_truth(given, true)
    out = {}
    for name, res in results.items():
        if level == "sample":
            out[name] = pr_curve(np.asarray(res.scores)[known], noisy[known])
        elif res.details.get("per_class_scores") is not None:
            scores = np.asarray(res.details["per_class_scores"])[known].ravel()
            out[name] = pr_curve(scores, wrong[known].ravel())
    return out
