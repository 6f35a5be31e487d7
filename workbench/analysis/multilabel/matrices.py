"""Count matrices of a multi-label dataset: per-class 2×2 (given vs predicted) and the class
co-occurrence of the given label sets.

N samples, K classes; ``labels`` (N, K) bool label sets, ``pred_probs`` (N, K) independent
per-class probabilities. A class is *predicted* where its probability exceeds ``threshold``.
The views (:mod:`workbench.ui.multilabel`) and the HTML report draw these.
"""

from __future__ import annotations

import numpy as np

from workbench.core.validation import check_number

__all__ = ["class_counts", "class_order", "cooccurrence"]


def class_counts(labels: np.ndarray, pred_probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(K, 2, 2) int64: ``[c, given, predicted]`` sample counts (0 = lacks, 1 = has class c).

    ``[c, 1, 0]``: given ``c`` but not predicted (possibly an extra label); ``[c, 0, 1]``:
    predicted but not given (possibly a missing label).
    """
    threshold = check_number(threshold, "threshold", low=0.0, high=1.0)
    Y = np.asarray(labels, dtype=bool)
    pred = np.asarray(pred_probs) > threshold
    if Y.shape != pred.shape or Y.ndim != 2:
        raise ValueError(
            f"labels and pred_probs must both be (N, K), found {Y.shape} and {pred.shape}."
        )
    both = np.count_nonzero(Y & pred, axis=0)
    given = np.count_nonzero(Y, axis=0)
    predicted = np.count_nonzero(pred, axis=0)
    out = np.empty((Y.shape[1], 2, 2), np.int64)
    out[:, 1, 1] = both
    out[:, 1, 0] = given - both
    out[:, 0, 1] = predicted - both
    out[:, 0, 0] = len(Y) - given - predicted + both
    return out


def class_order(labels: np.ndarray, pred_probs: np.ndarray | None, threshold: float = 0.5,
                max_classes: int = 20) -> np.ndarray:  # fmt: skip
    """Classes to show: all when K <= ``max_classes`` (or without ``pred_probs``, the first
    ``max_classes``), else the ``max_classes`` with the most samples off the diagonal of their
    2×2 matrix, worst first."""
    k = np.shape(labels)[1]
    if k <= max_classes or pred_probs is None:
        return np.arange(min(k, max_classes))
    counts = class_counts(labels, pred_probs, threshold)
    off = counts[:, 0, 1] + counts[:, 1, 0]
    return np.argsort(-off, kind="stable")[:max_classes]


def cooccurrence(labels: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """(C, C) int64: ``[a, b]`` = samples given both classes ``a`` and ``b`` of ``classes``
    (default all K); the diagonal holds the class sizes."""
    Y = np.asarray(labels, dtype=bool)
    if classes is not None:
        Y = Y[:, np.asarray(classes, dtype=np.int64)]
    Yf = Y.astype(np.float32)  # exact for counts below 2**24; BLAS instead of an int matmul
    if len(Y) >= 1 << 24:
        Yf = Y.astype(np.float64)
    return np.rint(Yf.T @ Yf).astype(np.int64)
