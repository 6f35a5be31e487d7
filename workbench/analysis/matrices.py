"""Noise structure: confusion matrix, confident joint, estimated and true transition matrices.

N samples, K classes. Orientation, everywhere in this module:

- ``confusion_matrix``, ``confident_joint`` and ``estimate_joint``: rows = **given** label,
  columns = predicted / estimated true label (cleanlab's confident joint uses the same layout).
- transition matrices: ``T[i, j] = P(given = j | true = i)``, rows = true label, columns = given
  label, rows sum to 1. cleanlab's ``noise_matrix`` is the transpose, ``P(given = i | true = j)``.

``pred_probs`` must be out-of-sample (cross-validated) predicted probabilities. Statistics are
computed in one chunked pass (:mod:`workbench.core.chunks`) and agree exactly with cleanlab 2.9's
``cleanlab.count`` for float32 and float64 input (float16 is computed in float32).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.core import chunks as _chunks
from workbench.core.typing import ArrayLike
from workbench.core.validation import (
    _as_pred_probs,
    _check_pred_prob_values,
    as_array,
    check_consistent_length,
    check_labels,
    check_pred_probs,
)

__all__ = [
    "class_noise_rates",
    "confident_joint",
    "confident_thresholds",
    "confusion_matrix",
    "estimate_joint",
    "estimate_num_errors",
    "estimate_transition_matrix",
    "transition_estimation_error",
    "true_transition_matrix",
]

_TINY = 1e-100  # guards divisions by empty counts
_SLACK = 1e-6  # tolerance of the confident-threshold comparison and of the "close call" rule
_MIN_THRESHOLD = 2e-6  # lower bound of every confident threshold
_MISSING_THRESHOLD = 2.0  # threshold of a class with no given label: nothing reaches it


# --- input ---------------------------------------------------------------------------------------
def _prepare(labels: ArrayLike, pred_probs: ArrayLike, *, rows: bool = False, device=None):
    """Validate ``labels`` (N,) and ``pred_probs`` (N, K); keep float32/float64 as given.

    Returns ``(labels, pred_probs)``, with ``rows=True`` ``(labels, pred_probs, row_stats)``:
    on the CPU the row summaries of :func:`workbench.core.chunks.row_stats` come from the pass
    that checks the values, each block of ``pred_probs`` read from memory once for both
    (the labels are checked first, the values of a bad ``pred_probs`` raise after the pass).
    """
    raw = as_array(pred_probs, "pred_probs")
    dtype = np.float64 if raw.dtype == np.float64 else np.float32
    probs = _as_pred_probs(raw, "pred_probs", None, None, dtype)
    codes, _ = check_labels(labels, n_classes=probs.shape[1])
    check_consistent_length(labels=codes, pred_probs=probs)
    out, block, dev = None, None, _device(device) if rows else None
    if rows and getattr(dev, "type", "cpu") == "cpu":
        out, block = _chunks.row_stats_kernel(probs, codes)
    # Without renormalisation the values are either valid as they are or an error.
    probs = _check_pred_prob_values(probs, "pred_probs", False, 1e-3, dtype, also=block)
    if not rows:
        return codes, probs
    return codes, probs, out if out is not None else _chunks.row_stats(probs, codes, device=dev)


def _device(device):
    from workbench.compute.device import resolve_device

    return resolve_device(device)


# --- the statistics pass -------------------------------------------------------------------------
@dataclass
class Statistics:
    """Everything the pred_probs detectors reduce from the data in one pass.

    ``order`` sorts the samples by given label (stable); class ``k`` occupies
    ``order[bounds[k]:bounds[k + 1]]``. ``rows`` holds the per-sample summaries.
    """

    labels: np.ndarray
    counts: np.ndarray
    order: np.ndarray
    bounds: np.ndarray
    thresholds: np.ndarray
    rows: _chunks.RowStats
    counted: np.ndarray  # (N,) bool: some class reaches its confident threshold
    guess: np.ndarray  # (N,) int64: the confident-joint class (argmax where not counted)
    joint_counts: np.ndarray  # raw confident joint, diagonal at least 1, int64 (K, K)

    @property
    def n_classes(self) -> int:
        return len(self.counts)

    def off_diagonal(self) -> np.ndarray:
        """Boolean (N,): counted into an off-diagonal cell of the confident joint."""
        return self.counted & (self.guess != self.labels)

    def close_call(self) -> np.ndarray:
        """Boolean (N,): the given label is the prediction once it gets a 1e-6 head start.

        Such samples are never flagged (cleanlab's rule for predictions within a hair of the
        given label). With the argmax ``a`` and maximum ``m`` of the row, the given label ``y``
        with probability ``s + 1e-6`` is the first maximum when ``a == y``, or it beats ``m``
        (strictly when ``a`` comes before ``y``).
        """
        r, out = self.rows, np.empty(len(self.labels), bool)

        def block(sl: slice) -> None:  # cache-sized blocks on the thread pool
            y, a, m = self.labels[sl], r.argmax[sl], r.max[sl]
            boosted = r.given[sl] + r.given.dtype.type(_SLACK)
            out[sl] = (a == y) | ((a < y) & (boosted > m)) | ((a > y) & (boosted >= m))

        _chunks.parallel_chunks(block, len(out), 1 << 16)
        return out


def statistics(
    labels: np.ndarray, pred_probs: np.ndarray, *, device=None, rows: _chunks.RowStats | None = None
) -> Statistics:
    """Run the statistics pass on validated input (private twin of the public functions);
    ``rows``: the row summaries when :func:`_prepare` already made them."""
    n, k = pred_probs.shape
    if rows is None:
        rows = _chunks.row_stats(pred_probs, labels, device=_device(device))
    counts = np.bincount(labels, minlength=k)
    key = labels.astype(np.uint16 if k <= 1 << 16 else np.uint32)
    order = np.argsort(key, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    thresholds = _thresholds_from_sorted(rows.given[order], bounds, pred_probs.dtype)
    counted, guess = _chunks.confident_classes(pred_probs, labels, rows, thresholds - _SLACK)
    # Built as (true, given) and transposed: rows = given. The column-major layout matters:
    # calibration sums the matrix in memory order, and cleanlab's joint is laid out this way.
    joint = _cell_counts(guess, labels, counted, k).reshape(k, k).T
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    return Statistics(labels, counts, order, bounds, thresholds, rows, counted, guess, joint)


def _cell_counts(true: np.ndarray, given: np.ndarray, counted: np.ndarray, k: int) -> np.ndarray:
    """Counts of ``true * k + given`` over the counted samples, shape (K * K,), int64.

    Cache-sized blocks of samples on the thread pool, each thread adding to its own histogram
    (uncounted samples go to an extra last bin: cheaper than selecting the counted ones). One
    pass instead when K * K is large next to N, so the histograms never outweigh the data.
    """
    n = len(given)
    if k * k > n // 8:
        return np.bincount(np.where(counted, true * k + given, k * k), minlength=k * k + 1)[:-1]
    totals: dict[int, np.ndarray] = {}

    def block(sl: slice) -> None:
        cells = np.where(counted[sl], true[sl] * k + given[sl], k * k)
        hist = totals.setdefault(threading.get_ident(), np.zeros(k * k + 1, np.int64))
        hist += np.bincount(cells, minlength=k * k + 1)

    _chunks.parallel_chunks(block, n, 1 << 16)
    return sum(totals.values())[:-1]


def _thresholds_from_sorted(given_sorted, bounds, dtype) -> np.ndarray:
    """Per-class mean probability of the given label over the samples given that label.

    Means use numpy's own (pairwise) summation on each class in index order, so they are bit
    for bit those of cleanlab. A class with no sample gets threshold 2 (float64 then).
    """
    means = [
        np.mean(given_sorted[b:e]) if e > b else _MISSING_THRESHOLD
        for b, e in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    missing = bool((np.diff(bounds) == 0).any())
    arr = np.array(means, dtype=np.float64 if missing else dtype)
    return np.clip(arr, _MIN_THRESHOLD, None)


# --- small K×K helpers ---------------------------------------------------------------------------
def _round_rows(matrix: np.ndarray) -> np.ndarray:
    """Round every row of a float matrix to integers keeping each row's rounded total.

    Per row, as cleanlab's ``round_preserving_sum``: while the rounded entries miss the total,
    move the entries with the largest rounding loss first (numpy's default argsort breaks
    ties) by one. All rows that still miss their total are adjusted together; each row sees
    the same sums and sort as on its own, so the result is cleanlab's to the last count.
    """
    floats = np.ascontiguousarray(matrix, dtype=float)
    k = floats.shape[1]
    ints = floats.round()
    target = floats.sum(axis=1).round()
    total = ints.sum(axis=1).round()
    off = np.flatnonzero(np.abs(total - target) > _SLACK)
    while off.size:
        diff = np.round(target[off] - total[off])
        step = np.where(diff < 0, -1.0, 1.0)[:, None]
        n_change = np.minimum(np.abs(diff).astype(int), k)[:, None]
        order = np.argsort(floats[off] - ints[off], axis=1)
        rank = np.arange(k)
        # Up: the last n_change of the order (largest loss); down: the first n_change.
        pick = np.where(step > 0, rank >= k - n_change, rank < n_change)
        ints[off[:, None], order] += step * pick
        total[off] = ints[off].sum(axis=1).round()
        off = off[np.abs(total[off] - target[off]) > _SLACK]
    return ints.astype(int)


def _calibrate(joint: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Scale confident-joint rows to the given-label counts and the total to N, then round.

    The total is summed in the memory order of a column-major joint (cleanlab's layout), so
    the rounding agrees with cleanlab to the last count.
    """
    joint = np.asfortranarray(joint)
    scaled = (joint.T / np.clip(joint.sum(axis=1), _TINY, None) * counts).T
    scaled = scaled / np.clip(np.sum(scaled), _TINY, None) * sum(counts)
    return _round_rows(scaled)


def _keep_at_least(prune_counts: np.ndarray, n: int, frac_noise: float) -> np.ndarray:
    """Raise each diagonal entry of the (true × given) prune counts to at least ``n``, taking
    the difference evenly from the non-zero off-diagonal entries of that column, then keep only
    ``frac_noise`` of every off-diagonal count (truncated), preserving column totals."""
    diag = np.diagonal(prune_counts)
    new_diag = np.maximum(diag, n)
    per_col = np.maximum(np.count_nonzero(prune_counts, axis=0) - 1.0, 1.0)
    mat = prune_counts - (new_diag - diag) / per_col
    mat[mat < 0] = 0
    np.fill_diagonal(mat, new_diag)
    reduced = mat * frac_noise
    np.fill_diagonal(reduced, mat.diagonal())
    np.fill_diagonal(reduced, mat.diagonal() + np.sum(mat - reduced, axis=0))
    return _round_rows(reduced.astype(int))


# --- public API ----------------------------------------------------------------------------------
def confusion_matrix(
    labels: ArrayLike, predicted_or_pred_probs: ArrayLike, n_classes: int | None = None
) -> np.ndarray:
    """Counts of (given label, predicted label) pairs: rows = given, columns = predicted.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels 0..K-1.
    predicted_or_pred_probs : array-like of shape (N,) or (N, K)
        Predicted labels, or predicted probabilities whose row argmax is the prediction.
    n_classes : int, optional
        K; default: the width of ``pred_probs`` or the largest label + 1.

    Returns
    -------
    ndarray of shape (K, K), int64
        ``C[i, j]`` = number of samples given ``i`` and predicted ``j``.
    """
    pred = as_array(predicted_or_pred_probs, "predicted_or_pred_probs")
    if pred.ndim == 2:
        if n_classes is not None and pred.shape[1] != n_classes:
            raise ValueError(
                f"predicted_or_pred_probs has {pred.shape[1]} columns but n_classes={n_classes}."
            )
        n_classes = pred.shape[1]
        pred = check_pred_probs(pred, renormalize=True).argmax(axis=1)
    elif pred.ndim != 1:
        raise ValueError(
            "predicted_or_pred_probs must be 1-D (N,) predicted labels or 2-D (N, K) "
            f"probabilities, found shape {pred.shape}."
        )
    if n_classes is not None and (int(n_classes) != n_classes or n_classes < 1):
        raise ValueError(f"n_classes must be a positive integer, found {n_classes!r}.")
    given, _ = check_labels(labels, n_classes=n_classes)
    predicted, _ = check_labels(pred, name="predicted_or_pred_probs", n_classes=n_classes)
    check_consistent_length(labels=given, predicted_or_pred_probs=predicted)
    k = n_classes or int(max(given.max(initial=-1), predicted.max(initial=-1)) + 1)
    return np.bincount(given * k + predicted, minlength=k * k).reshape(k, k).astype(np.int64)


def confident_thresholds(labels: ArrayLike, pred_probs: ArrayLike) -> np.ndarray:
    """Per-class confident thresholds: the mean ``pred_probs[i, k]`` over samples given ``k``.

    Returns
    -------
    ndarray of shape (K,)
        Equal to cleanlab's ``get_confident_thresholds`` (classes with no sample: 2).
    """
    y, p = _prepare(labels, pred_probs)
    k = p.shape[1]
    order = np.argsort(y, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=k))])
    return _thresholds_from_sorted(_chunks.gather_given(p, y)[order], bounds, p.dtype)


def confident_joint(
    labels: ArrayLike, pred_probs: ArrayLike, *, calibrate: bool = True, device=None
) -> np.ndarray:
    """Confident joint: counts of samples confidently in (given ``i``, true ``j``), rows = given.

    A sample counts into column ``j`` when ``pred_probs[i, j]`` reaches class ``j``'s confident
    threshold (minus 1e-6); with several such classes, the argmax. Northcutt, Jiang, Chuang,
    "Confident Learning" (JAIR 2021), equation 2.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
        Out-of-sample predicted probabilities.
    calibrate : bool, default=True
        Rescale rows to the given-label counts and the total to N (integers, row totals kept).
    device : str or torch.device, optional
        Where the pass runs; None: :func:`workbench.compute.resolve_device`.

    Returns
    -------
    ndarray of shape (K, K), int64
        Equal to cleanlab's ``compute_confident_joint(labels, pred_probs, calibrate=...)``.

    Examples
    --------
    >>> from workbench.analysis.matrices import confident_joint
    >>> confident_joint([0, 0, 0, 1, 1, 1], [[0.9, 0.1], [0.8, 0.2], [0.2, 0.8],
    ...                                      [0.1, 0.9], [0.3, 0.7], [0.95, 0.05]])
    array([[2, 1],
           [1, 2]])
    """
    y, p, rows = _prepare(labels, pred_probs, rows=True, device=device)
    stats = statistics(y, p, device=device, rows=rows)
    return _calibrate(stats.joint_counts, stats.counts) if calibrate else stats.joint_counts


def estimate_joint(labels: ArrayLike, pred_probs: ArrayLike, *, device=None) -> np.ndarray:
    """Estimated joint distribution ``P(given = i, true = j)``, rows = given, sums to 1.

    Returns
    -------
    ndarray of shape (K, K), float64
        The calibrated confident joint divided by N; row ``i`` sums to the share of label ``i``.
    """
    joint = confident_joint(labels, pred_probs, calibrate=True, device=device)
    return joint / np.clip(float(np.sum(joint)), _TINY, None)


def _transition_from_joint(joint: np.ndarray) -> np.ndarray:
    """T[i, j] = P(given = j | true = i) from a confident joint (rows given, columns true)."""
    noise = joint / np.clip(joint.sum(axis=0).astype(float), _TINY, None)
    diag = np.diagonal(noise).copy()
    noise = np.clip(noise, 0, 0.9999)
    np.fill_diagonal(noise, diag)
    noise = noise / np.clip(noise.sum(axis=0), _TINY, None)
    return np.ascontiguousarray(noise.T)


def estimate_transition_matrix(
    labels: ArrayLike, pred_probs: ArrayLike, *, device=None
) -> np.ndarray:
    """Estimated noise-transition matrix ``T[i, j] = P(given = j | true = i)``.

    Rows = true label, columns = given label, rows sum to 1. Computed from the calibrated
    confident joint; equal to the transpose of cleanlab's ``noise_matrix`` from
    ``estimate_py_and_noise_matrices_from_probabilities`` (off-diagonal rates clipped below
    0.9999).

    Returns
    -------
    ndarray of shape (K, K), float64

    Examples
    --------
    >>> from workbench.analysis.matrices import estimate_transition_matrix
    >>> estimate_transition_matrix([0, 0, 0, 1, 1, 1], [[0.9, 0.1], [0.8, 0.2], [0.2, 0.8],
    ...                                                 [0.1, 0.9], [0.3, 0.7], [0.95, 0.05]])
    array([[0.66666667, 0.33333333],
           [0.33333333, 0.66666667]])
    """
    return _transition_from_joint(confident_joint(labels, pred_probs, device=device))


def class_noise_rates(
    labels: ArrayLike, pred_probs: ArrayLike, *, class_names=None, device=None
) -> pd.DataFrame:
    """Per-class estimated noise, from the calibrated confident joint.

    Returns
    -------
    DataFrame with one row per class and columns
        ``class``, ``n_given``; ``estimated_errors`` (samples given the class whose true label
        is another); ``noise_rate_given`` = P(true != k | given = k);
        ``flip_rate_true`` = P(given != k | true = k) = 1 - T[k, k].
    """
    y, p, rows = _prepare(labels, pred_probs, rows=True, device=device)
    stats = statistics(y, p, device=device, rows=rows)
    joint = _calibrate(stats.joint_counts, stats.counts)
    t = _transition_from_joint(joint)
    n_given = stats.counts
    errors = joint.sum(axis=1) - joint.diagonal()
    k = len(n_given)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names but there are {k} classes.")
    return pd.DataFrame(
        {
            "class": names,
            "n_given": n_given,
            "estimated_errors": errors,
            "noise_rate_given": errors / np.maximum(n_given, 1),
            "flip_rate_true": 1.0 - t.diagonal(),
        }
    )


def estimate_num_errors(labels: ArrayLike, pred_probs: ArrayLike, *, device=None) -> int:
    """Estimated number of label errors: samples in the off-diagonal of the confident joint,
    except those whose given label is the prediction within 1e-6.

    Equal to cleanlab's ``num_label_issues`` (default ``estimation_method="off_diagonal"``).
    """
    y, p, rows = _prepare(labels, pred_probs, rows=True, device=device)
    stats = statistics(y, p, device=device, rows=rows)
    return int(np.count_nonzero(stats.off_diagonal() & ~stats.close_call()))


def true_transition_matrix(
    true_labels: ArrayLike, given_labels: ArrayLike, n_classes: int | None = None
) -> np.ndarray:
    """Empirical transition matrix ``T[i, j] = P(given = j | true = i)`` from known labels.

    Rows = true label, columns = given label; a class that never occurs as a true label gets a
    row of NaN (no evidence).

    Returns
    -------
    ndarray of shape (K, K), float64
    """
    counts = confusion_matrix(true_labels, given_labels, n_classes).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)


def transition_estimation_error(estimated: ArrayLike, true: ArrayLike) -> dict[str, float]:
    """How far an estimated transition matrix is from the true one.

    Both in the orientation ``T[i, j] = P(given = j | true = i)``. Rows of ``true`` that are NaN
    (classes never seen as true labels) are left out.

    Returns
    -------
    dict
        ``mae``: mean absolute error over the compared entries; ``frobenius``: Frobenius norm of
        the difference; ``max_abs``: largest absolute difference; ``rows``: rows compared.
    """
    est = as_array(estimated, "estimated").astype(np.float64)
    tru = as_array(true, "true").astype(np.float64)
    for name, arr in (("estimated", est), ("true", tru)):
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{name} must be a square (K, K) matrix, found shape {arr.shape}.")
    if est.shape != tru.shape:
        raise ValueError(f"estimated has shape {est.shape} but true has shape {tru.shape}.")
    keep = ~np.isnan(tru).any(axis=1)
    if not np.isfinite(est[keep]).all():
        raise ValueError("estimated contains NaN or infinity in a row that true defines.")
    diff = est[keep] - tru[keep]
    if diff.size == 0:
        raise ValueError("true has no row without NaN; nothing to compare.")
    return {
        "mae": float(np.abs(diff).mean()),
        "frobenius": float(np.sqrt((diff**2).sum())),
        "max_abs": float(np.abs(diff).max()),
        "rows": int(keep.sum()),
    }
