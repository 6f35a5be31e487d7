"""The per-sample pass of confident learning: which samples the prune rules flag.

N samples, K classes. Given the statistics of :func:`workbench.analysis.matrices.statistics` (per-class
thresholds, confident joint, per-row summaries) and the K×K prune counts, these functions pick
the samples to flag, exactly as cleanlab 2.9's ``find_label_issues`` does (same ties), without
a Python loop over samples and without sorting whole classes: per class, one partition of a
compact key (the best-other margin) selects candidates, and every column's threshold comes from
sorting the few candidate margins that reach the candidates' cut (vectorised partitions when
many do). Classes run on a thread pool; memory stays within one class's candidates.
"""

from __future__ import annotations

import numpy as np

from workbench.analysis.statistics import Statistics, set_removals
from workbench.core import chunks as _chunks

__all__ = ["prune_by_class", "prune_by_noise_rate", "set_removals"]

#: Largest block (bytes) of candidate margins held at once while pruning one class.
_BLOCK_BUDGET = 64 << 20


def _class_slices(stats: Statistics, min_examples: int):
    """(k, sample indices of class k in index order) for every class that may be pruned."""
    for k in range(stats.n_classes):
        b, e = stats.bounds[k], stats.bounds[k + 1]
        # A class with at most min_examples samples is kept whole, and a class of one sample
        # is never flagged by the prune rules.
        if e - b > max(min_examples, 1):
            yield k, b, e


def prune_by_class(stats: Statistics, prune: np.ndarray, min_examples: int) -> np.ndarray:
    """Per class k, flag the ``n_k - prune[k, k]`` samples with the lowest ``p[k]``."""
    mask = np.zeros(len(stats.labels), bool)
    given = stats.rows.given[stats.order]
    for k, b, e in _class_slices(stats, min_examples):
        n_flag = (e - b) - prune[k, k]
        if n_flag < 1:
            continue
        idx, vals = stats.order[b:e], given[b:e]
        if n_flag >= e - b:
            mask[idx] = True
            continue
        cut = np.partition(vals, n_flag - 1)[n_flag - 1]
        below = vals <= cut
        if np.count_nonzero(below) == n_flag:
            mask[idx[below]] = True
        else:  # ties straddle the cut: numpy's sort order decides, as in cleanlab
            mask[idx[np.argsort(vals)[:n_flag]]] = True
    return mask


def prune_by_noise_rate(p, stats: Statistics, prune: np.ndarray, min_examples: int):
    """Per class k and column j != k, flag the ``prune[j, k]`` samples given k with the largest
    margin ``p[j] - p[k]``.

    The largest margins of a class lie among its samples with the largest best-other margin
    ``g = max_{j != k} p[j] - p[k]`` (every margin of a sample is at most its ``g``), so each
    class works on its top candidates by ``g`` (one partition of a compact key) and finds all
    per-column thresholds among their margins at once. Classes run on the shared thread pool.
    """
    mask = np.zeros(len(stats.labels), bool)
    rows = stats.rows
    given, best_other = np.empty_like(rows.given), np.empty_like(rows.given)

    def by_class(sl: slice) -> None:  # p[k] and g of the samples in class order
        idx = stats.order[sl]
        given[sl] = np.take(rows.given, idx)
        best_other[sl] = np.take(rows.other_max, idx) - given[sl]

    _chunks.parallel_chunks(by_class, len(mask), 1 << 16)

    def one(item) -> None:
        k, b, e = item
        need = prune[:, k].copy()
        need[k] = 0
        cols = np.flatnonzero(need > 0)
        if cols.size == 0:
            return
        idx, need = stats.order[b:e], need[cols]
        if need.max() >= e - b:
            mask[idx] = True
        else:
            _prune_one_class(p, idx, given[b:e], best_other[b:e], cols, need, mask)

    # Large classes first so the pool stays busy; classes write disjoint parts of the mask.
    items = sorted(_class_slices(stats, min_examples), key=lambda it: it[1] - it[2])
    _chunks.parallel_map(one, items)
    return mask


def _prune_one_class(p, idx, sk, gk, cols, need, mask) -> None:
    """Flag, for each column ``cols[i]``, the ``need[i]`` largest margins of one class.

    Candidates are the samples with the largest best-other margin ``gk``; a column's threshold
    found among them is exact when it is at or above the candidates' cut (every other sample
    has all its margins below the cut). Columns that miss are retried with twice the
    candidates; most columns settle in the first round.
    """
    n_k = len(idx)
    open_ = np.ones(len(cols), bool)  # columns whose threshold is still unknown
    size = min(n_k, int(1.5 * need.sum()) + 64)
    while open_.any():
        if size < n_k:
            cut = np.partition(gk, n_k - size)[n_k - size]
            rows = np.flatnonzero(gk >= cut)
        else:
            cut, rows = None, np.arange(n_k)
        todo = np.flatnonzero(open_ & (need <= len(rows)))
        if todo.size and len(rows) * (len(todo) + p.shape[1]) * p.itemsize > _BLOCK_BUDGET:
            _prune_by_columns(p, idx, sk, rows, cols[todo], need[todo], cut, mask)
            open_[todo] = False
        elif todo.size:
            margins = _margins_by_column(p, idx[rows], sk[rows], cols[todo])
            settled, tied, top = _column_tops(margins, need[todo], cut)
            mask[idx[rows[top]]] = True
            for i in todo[tied]:  # ties straddle a threshold: rank the whole class
                _full_column(p, idx, sk, cols[i], need[i], mask)
            open_[todo[settled]] = False
        size = min(n_k, 2 * size)


def _margins_by_column(p, sub_idx, sub_s, cols) -> np.ndarray:
    """Margins ``p[i, j] - p[i, k]`` as a C-ordered (len(cols), len(sub_idx)) block."""
    if 4 * len(cols) >= p.shape[1]:
        margins = np.take(p, sub_idx, axis=0).T[cols]  # np.take: faster than p[sub_idx]
    elif p.flags.c_contiguous:  # few columns: gather them straight into rows
        margins = p.reshape(-1)[sub_idx[None, :] * p.shape[1] + cols[:, None]]
    else:
        margins = np.ascontiguousarray(p[np.ix_(sub_idx, cols)].T)
    margins -= sub_s
    return margins


def _column_tops(margins: np.ndarray, need: np.ndarray, cut):
    """The ``need[i]`` largest values of every row ``i`` of ``margins`` that has at least that
    many at or above ``cut`` (a settled row; every row when ``cut`` is None).

    A settled row whose ``need[i]``-th value equals the next one is tied: ties straddle the
    threshold, and numpy's sort order over the whole class must decide.

    Returns
    -------
    settled, tied : ndarray of shape (len(need),), bool
    top : ndarray of int
        Column positions in ``margins`` of the top values of the settled, untied rows.
    """
    reach = margins >= cut if cut is not None else None
    if reach is None or 8 * np.count_nonzero(reach) > margins.size:
        # Many values reach the cut: one partition per row (grouped by need).
        thresh, tied = _column_thresholds(margins, need)
        settled = thresh >= cut if cut is not None else np.ones(len(need), bool)
        tied &= settled
        bar = np.where(settled & ~tied, thresh, np.inf).astype(margins.dtype)
        return settled, tied, np.flatnonzero((margins >= bar[:, None]).any(axis=0))
    # Few values reach the cut (the usual first round): sort just those, by row and then
    # largest first (the stable radix sort by row keeps the value order).
    reach = np.flatnonzero(reach)
    row, pos = np.divmod(reach, margins.shape[1])
    value = margins.reshape(-1)[reach]
    order = np.argsort(-value)
    key = row.astype(np.uint16) if len(need) <= 1 << 16 else row
    order = order[np.argsort(key[order], kind="stable")]
    row, pos, value = row[order], pos[order], value[order]
    count = np.bincount(row, minlength=len(need))
    start = np.cumsum(count) - count
    settled = count >= need
    last = (start + need - 1)[settled]
    tied = np.zeros(len(need), bool)
    nxt = np.minimum(last + 1, len(value) - 1)
    tied[settled] = (count > need)[settled] & (value[nxt] == value[last])
    rank = np.arange(len(row)) - start[row]
    return settled, tied, pos[(settled & ~tied)[row] & (rank < need[row])]


def _column_thresholds(margins: np.ndarray, need: np.ndarray):
    """Per row ``i`` of ``margins``, its ``need[i]``-th largest value and whether that value is
    tied with the next one (ties straddling the cut).

    Rows are grouped by ``need`` rounded up to a power of four, so each group is one partition
    plus a sort of its top entries: O(n) per row plus O(need log need).
    """
    n = margins.shape[1]
    thresh = np.empty(len(need), margins.dtype)
    tied = np.zeros(len(need), bool)
    width = np.minimum(n, 1 << (2 * np.ceil(np.log2(need) / 2).astype(np.int64)))
    for w in np.unique(width):
        sel = np.flatnonzero(width == w)
        c, ar = need[sel], np.arange(len(sel))
        if w < n:
            # One kth (several are far slower): the w + 1 largest end up after n - w - 1.
            top = np.partition(margins[sel], n - w - 1, axis=1)[:, n - w - 1 :]
            top.sort(axis=1)  # the w + 1 largest, ascending
            thresh[sel] = top[ar, w + 1 - c]
            tied[sel] = top[ar, w - c] == thresh[sel]
        else:
            top = np.sort(margins[sel], axis=1)
            thresh[sel] = top[ar, n - c]
            tied[sel] = (c < n) & (top[ar, np.maximum(n - c - 1, 0)] == thresh[sel])
    return thresh, tied


def _prune_by_columns(p, idx, sk, rows, cols, need, cut, mask) -> None:
    """Column-at-a-time variant for very large classes (memory stays O(n_k))."""
    sub_idx, sub_s = idx[rows], sk[rows]
    for j, n_flag in zip(cols, need, strict=True):
        margin = p[sub_idx, j] - sub_s
        enough = cut is None or np.count_nonzero(margin >= cut) >= n_flag
        if not (enough and _top_of_column(margin, sub_idx, n_flag, mask)):
            _full_column(p, idx, sk, j, n_flag, mask)


def _top_of_column(margin, sub_idx, n_flag, mask) -> bool:
    """Flag the ``n_flag`` largest margins; False (nothing flagged) when ties straddle the cut."""
    thresh = np.partition(margin, len(margin) - n_flag)[len(margin) - n_flag]
    above = margin >= thresh
    if np.count_nonzero(above) != n_flag:
        return False
    mask[sub_idx[above]] = True
    return True


def _full_column(p, idx, sk, j, n_flag, mask) -> None:
    """Flag the ``n_flag`` samples of the class with the largest ``p[j] - p[k]``. When ties
    straddle the cut, rank the whole class with numpy's default sort, exactly as cleanlab
    does, so the same tied samples are chosen."""
    margin = p[idx, j] - sk
    if not _top_of_column(margin, idx, n_flag, mask):
        mask[idx[np.argsort(-margin)[:n_flag]]] = True
