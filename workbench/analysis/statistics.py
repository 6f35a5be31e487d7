"""The statistics pass of confident learning: what the ``pred_probs`` detectors reduce over
samples before they score any one sample (cleanlab's ``count`` module computes the same).

N samples, K classes; ``pred_probs`` (N, K) must be out-of-sample (cross-validated).
One chunked pass (:mod:`workbench.core.chunks`) gives

- per-class **confident thresholds** ``t[k]`` = mean probability of class ``k`` over the samples
  given ``k`` (K,);
- per-sample row summaries (argmax, max, probability of the given label) and whether some class
  reaches its threshold (the sample is *counted*) and which (its confident-joint class);
- the **confident joint** ``C[i, j]``: counted samples given ``i`` whose confident class is
  ``j`` (K, K), rows = given label; :func:`calibrate_joint` scales it to the label counts.

Everything here reduces over samples (sums, counts, per-class means), so the same pass runs
chunk by chunk on one machine or shard by shard with the partial results added up. Values
agree exactly with cleanlab 2.9 for float32 and float64 input (float16 is computed in float32).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from workbench.compute.device import resolve_device
from workbench.core import chunks as _chunks
from workbench.core.typing import ArrayLike
from workbench.core.validation import (
    align_on_index,
    as_array,
    check_consistent_length,
    check_labels,
    check_pred_prob_values,
    pred_probs_array,
)

__all__ = [
    "FILTERS",
    "MIN_THRESHOLD",
    "MISSING_THRESHOLD",
    "PRUNE_FILTERS",
    "SLACK",
    "TINY",
    "Statistics",
    "calibrate_joint",
    "check_inputs",
    "cwe_quality",
    "keep_at_least",
    "round_preserving_row_sums",
    "set_removals",
    "statistics_pass",
    "thresholds_from_sorted",
]

TINY = 1e-100  # guards divisions by empty counts
SLACK = 1e-6  # tolerance of the confident-threshold comparison and of the "close call" rule
MIN_THRESHOLD = 2e-6  # lower bound of every confident threshold
MISSING_THRESHOLD = 2.0  # threshold of a class with no given label: nothing reaches it

#: How confident learning decides which samples to flag (cleanlab's ``filter_by``), for one
#: label per sample and, class by class, for label sets.
FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)
#: The rules that prune by the calibrated confident joint (and take ``frac_noise``,
#: ``num_to_remove_per_class``, ``min_examples_per_class``).
PRUNE_FILTERS = FILTERS[:3]


# --- input ---------------------------------------------------------------------------------------
def check_inputs(labels: ArrayLike, pred_probs: ArrayLike, *, rows: bool = False, device=None):
    """Validate ``labels`` (N,) and ``pred_probs`` (N, K); keep float32/float64 as given.

    A pandas ``pred_probs`` is aligned on the index of a pandas ``labels`` Series
    (:func:`workbench.core.validation.align_on_index`); numpy and torch inputs go by position.

    Returns ``(labels, pred_probs)``, with ``rows=True`` ``(labels, pred_probs, row_stats)``:
    on the CPU the row summaries of :func:`workbench.core.chunks.row_stats` come from the pass
    that checks the values, each block of ``pred_probs`` read from memory once for both
    (the labels are checked first, the values of a bad ``pred_probs`` raise after the pass).
    """
    # pandas inputs align on the labels' index, as everywhere (numpy / torch by position)
    pred_probs = align_on_index(labels, {"pred_probs": pred_probs})["pred_probs"]
    raw = as_array(pred_probs, "pred_probs")
    dtype = np.float64 if raw.dtype == np.float64 else np.float32
    probs = pred_probs_array(raw, "pred_probs", None, None, dtype)
    codes, _ = check_labels(labels, n_classes=probs.shape[1])
    check_consistent_length(labels=codes, pred_probs=probs)
    out, block, dev = None, None, resolve_device(device) if rows else None
    if rows and getattr(dev, "type", "cpu") == "cpu":
        out, block = _chunks.row_stats_kernel(probs, codes)
    # Without renormalisation the values are either valid as they are or an error.
    probs = check_pred_prob_values(probs, "pred_probs", False, 1e-3, dtype, also=block)
    if not rows:
        return codes, probs
    return codes, probs, out if out is not None else _chunks.row_stats(probs, codes, device=dev)


# --- the statistics pass -----------------------------------------------------------------------------
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
            boosted = r.given[sl] + r.given.dtype.type(SLACK)
            out[sl] = (a == y) | ((a < y) & (boosted > m)) | ((a > y) & (boosted >= m))

        _chunks.parallel_chunks(block, len(out), 1 << 16)
        return out


def statistics_pass(
    labels: np.ndarray, pred_probs: np.ndarray, *, device=None, rows: _chunks.RowStats | None = None
) -> Statistics:
    """Run the statistics_pass pass on validated input (private twin of the public functions);
    ``rows``: the row summaries when :func:`check_inputs` already made them."""
    n, k = pred_probs.shape
    if rows is None:
        rows = _chunks.row_stats(pred_probs, labels, device=resolve_device(device))
    counts = np.bincount(labels, minlength=k)
    key = labels.astype(np.uint16 if k <= 1 << 16 else np.uint32)
    order = np.argsort(key, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    thresholds = thresholds_from_sorted(rows.given[order], bounds, pred_probs.dtype)
    counted, guess = _chunks.confident_classes(pred_probs, labels, rows, thresholds - SLACK)
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


def thresholds_from_sorted(given_sorted, bounds, dtype) -> np.ndarray:
    """Per-class mean probability of the given label over the samples given that label.

    Means use numpy's own (pairwise) summation on each class in index order, so they are bit
    for bit those of cleanlab. A class with no sample gets threshold 2 (float64 then).
    """
    means = [
        np.mean(given_sorted[b:e]) if e > b else MISSING_THRESHOLD
        for b, e in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    missing = bool((np.diff(bounds) == 0).any())
    arr = np.array(means, dtype=np.float64 if missing else dtype)
    return np.clip(arr, MIN_THRESHOLD, None)


# --- small K×K helpers ---------------------------------------------------------------------------
def round_preserving_row_sums(matrix: np.ndarray) -> np.ndarray:
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
    off = np.flatnonzero(np.abs(total - target) > SLACK)
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
        off = off[np.abs(total[off] - target[off]) > SLACK]
    return ints.astype(int)


def calibrate_joint(joint: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Scale confident-joint rows to the given-label counts and the total to N, then round.

    The total is summed in the memory order of a column-major joint (cleanlab's layout), so
    the rounding agrees with cleanlab to the last count.
    """
    joint = np.asfortranarray(joint)
    scaled = (joint.T / np.clip(joint.sum(axis=1), TINY, None) * counts).T
    scaled = scaled / np.clip(np.sum(scaled), TINY, None) * sum(counts)
    return round_preserving_row_sums(scaled)


def keep_at_least(prune_counts: np.ndarray, n: int, frac_noise: float) -> np.ndarray:
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
    return round_preserving_row_sums(reduced.astype(int))


def set_removals(prune: np.ndarray, remove: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rescale the off-diagonal (true × given) prune counts so class ``k`` loses ``remove[k]``
    samples (cleanlab's ``num_to_remove_per_class``); the diagonal keeps the rest."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = prune / np.sum(prune, axis=1)
        noise = share.sum(axis=1) - share.diagonal()
        target = (share.T * remove / noise).T
    np.fill_diagonal(target, counts - remove)
    return round_preserving_row_sums(target)


# --- per-sample formulas -------------------------------------------------------------------------
def cwe_quality(entropy: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Confidence-weighted-entropy quality ``log(1 + x) / x`` with ``x = entropy / p[y]``.

    ``entropy`` (N,) is the normalised row entropy, ``given`` (N,) the probability of the given
    label; returns (N,) float64 in [0, 1], **low = suspicious** (cleanlab's direction).

    Where ``p[y] >= 1e-6`` and ``x >= 1e-6`` this is cleanlab's arithmetic, bit for bit.
    cleanlab clips both to 1e-6, which turns the degenerate rows upside down: a one-hot row on
    the given label (``x = 0``) gets quality 0, the most suspicious. Here the degenerate rows take
    the limits of ``log(1 + x) / x`` instead: 1 at ``x -> 0`` (a confident correct prediction is
    the cleanest possible) and 0 at ``p[y] = 0`` (``x = inf``: the most suspicious), with
    ``log1p`` below ``x = 1e-6`` and the true ``p[y]`` below ``p[y] = 1e-6``, so the quality
    keeps falling as ``x`` grows.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(given > 0, entropy / given, np.inf)
        quality = np.log(x + 1) / x  # cleanlab's formula (NaN at x = 0 and x = inf)
        small = x < 1e-6
        quality[small] = np.where(x[small] > 0, np.log1p(x[small]) / x[small], 1.0)
    quality[np.isinf(x)] = 0.0
    return quality
