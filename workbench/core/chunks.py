"""Chunked passes over an (N, K) probability matrix with bounded memory.

N samples, K classes. Work is done on blocks of rows (a few MB each, so a block stays in the
CPU cache) by a small thread pool on the CPU (numpy releases the GIL in the loops used here), or
block by block with torch on a GPU. No pass allocates more than a few blocks at a time, so a
1,000,000 × 1,000 input never needs an extra N × K copy.

The per-row kernel :func:`row_stats` (given-label probability, argmax, best other class) feeds
every pred_probs score; :func:`confident_classes` adds each row's confident-joint class, comparing
class by class only the few rows whose argmax is not confident.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RowStats",
    "chunk_rows",
    "confident_classes",
    "gather_given",
    "iter_slices",
    "n_workers",
    "parallel_chunks",
    "parallel_map",
    "row_entropy",
    "row_stats",
    "row_stats_kernel",
]

#: Bytes of one block of rows: small enough for the L2/L3 cache, large enough to amortise calls.
BLOCK_BYTES = 2 << 20


def n_workers() -> int:
    """Threads to use for CPU passes: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def chunk_rows(n_cols: int, itemsize: int, budget_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block so that one block of ``n_cols`` items of ``itemsize`` bytes fits the budget."""
    return max(1, int(budget_bytes // max(1, n_cols * itemsize)))


def iter_slices(n: int, rows: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``rows`` rows covering ``0..n-1``."""
    for start in range(0, n, rows):
        yield slice(start, min(n, start + rows))


#: The thread pool shared by every pass: (process id, workers, pool). Starting threads for each
#: pass costs a few milliseconds per call (more on a busy machine); the pool is made once per
#: process (again after a fork: a child has none of its parent's threads).
_POOL: tuple[int, int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()
_IN_POOL = threading.local()


def _shared_pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
            if _POOL is not None and _POOL[0] == os.getpid():
                _POOL[2].shutdown(wait=False)  # its threads end once their work is done
            _POOL = (os.getpid(), workers, ThreadPoolExecutor(workers, "workbench-chunks"))
        return _POOL[2]


def parallel_map(fn: Callable, items: Sequence, workers: int | None = None) -> None:
    """Call ``fn(item)`` for every item on the shared thread pool, in order of submission
    (each thread takes the next item when it is free); nothing is returned.

    Called from inside a pool thread (a nested pass), the items run one after the other in
    that thread: waiting on the pool from its own threads could deadlock it.
    """
    workers = min(workers or n_workers(), len(items))
    if workers <= 1 or getattr(_IN_POOL, "active", False):
        for item in items:
            fn(item)
        return

    def run(item):
        _IN_POOL.active = True
        try:
            fn(item)
        finally:
            _IN_POOL.active = False

    pool = _shared_pool(workers)
    for fut in [pool.submit(run, item) for item in items]:
        fut.result()


def parallel_chunks(fn: Callable[[slice], None], n: int, rows: int, workers: int | None = None):
    """Call ``fn(slice)`` on every block of ``rows`` rows, spread over the shared thread pool.

    Each thread takes a contiguous run of blocks, so per-thread scratch buffers can be reused.
    ``fn`` writes its results into preallocated outputs; nothing is returned.
    """
    slices = list(iter_slices(n, rows))
    workers = min(workers or n_workers(), len(slices))
    groups = np.array_split(np.arange(len(slices)), max(workers, 1))

    def run(group):
        for i in group:
            fn(slices[i])

    parallel_map(run, groups, workers)


@dataclass
class RowStats:
    """Per-row summaries of ``pred_probs`` (all arrays of shape (N,)).

    Attributes
    ----------
    given : probability of the given label, ``pred_probs[i, labels[i]]`` (input dtype)
    argmax : first index of the row maximum (int64)
    max : the row maximum (input dtype)
    other : first index of the largest probability among the classes other than the given one
    other_max : that probability (input dtype)
    """

    given: np.ndarray
    argmax: np.ndarray
    max: np.ndarray
    other: np.ndarray
    other_max: np.ndarray


def gather_given(pred_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``pred_probs[i, labels[i]]`` for every row, in the input dtype, without an N×K copy."""
    n, k = pred_probs.shape
    if pred_probs.flags.c_contiguous:
        return pred_probs.reshape(-1)[np.arange(n, dtype=np.int64) * k + labels]
    return pred_probs[np.arange(n), labels]


def row_stats(
    pred_probs: np.ndarray, labels: np.ndarray, *, device=None, workers: int | None = None
) -> RowStats:
    """One pass over ``pred_probs`` computing :class:`RowStats`.

    Parameters
    ----------
    pred_probs : ndarray of shape (N, K), float32 or float64
    labels : ndarray of shape (N,), int64 in 0..K-1
    device : torch.device, optional
        A non-CPU device runs the blocks with torch there; None or CPU uses numpy threads.
    """
    n, rows = len(pred_probs), chunk_rows(pred_probs.shape[1], pred_probs.dtype.itemsize)
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        out = _empty_row_stats(pred_probs)
        for sl in iter_slices(n, max(rows, 1 << 15)):
            _block_torch(pred_probs[sl], labels[sl], out, sl, device)
        return out
    out, block = row_stats_kernel(pred_probs, labels)
    parallel_chunks(block, n, rows, workers)
    return out


def row_stats_kernel(pred_probs: np.ndarray, labels: np.ndarray):
    """The CPU work of :func:`row_stats` as ``(out, block)``: calling ``block(sl)`` for every
    block of :func:`chunk_rows` rows, from any thread, fills ``out``.

    For a pass that already reads each block for another purpose (the value checks of
    ``pred_probs``): calling ``block`` right after it, in the same thread, finds the block in
    the cache instead of reading it from memory again.
    """
    k, out = pred_probs.shape[1], _empty_row_stats(pred_probs)
    rows = chunk_rows(k, pred_probs.dtype.itemsize)
    scratch: dict[int, np.ndarray] = {}

    def block(sl: slice) -> None:
        buf = scratch.get(threading.get_ident())
        if buf is None:
            buf = scratch[threading.get_ident()] = np.empty((rows, k), pred_probs.dtype)
        _block_numpy(pred_probs[sl], labels[sl], out, sl, buf)

    return out, block


def _empty_row_stats(pred_probs: np.ndarray) -> RowStats:
    n, dtype = len(pred_probs), pred_probs.dtype
    return RowStats(
        given=np.empty(n, dtype),
        argmax=np.empty(n, np.int64),
        max=np.empty(n, dtype),
        other=np.empty(n, np.int64),
        other_max=np.empty(n, dtype),
    )


def _finish(s, y, a2, m2, out: RowStats, sl: slice) -> None:
    # The row argmax (first index of the maximum) follows from the best other class: the
    # given label wins when it is larger, or equal and earlier.
    given_wins = (s > m2) | ((s == m2) & (y < a2))
    out.given[sl], out.other[sl], out.other_max[sl] = s, a2, m2
    out.argmax[sl] = np.where(given_wins, y, a2)
    out.max[sl] = np.where(given_wins, s, m2)


def _block_numpy(x, y, out: RowStats, sl: slice, buf: np.ndarray) -> None:
    x = np.ascontiguousarray(x)
    n, k = x.shape
    base = np.arange(n, dtype=np.int64) * k
    flat = x.reshape(-1)
    # Best class other than the given one: blank the given label in a scratch copy.
    b = buf[:n]
    np.copyto(b, x)
    b.reshape(-1)[base + y] = -np.inf
    a2 = b.argmax(axis=1)
    _finish(flat[base + y], y, a2, flat[base + a2], out, sl)


def _block_torch(x, y, out: RowStats, sl: slice, device) -> None:
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x)).to(device, non_blocking=True)
    yt = torch.from_numpy(np.ascontiguousarray(y)).to(device)
    s = xt.gather(1, yt[:, None])[:, 0]
    m2, a2 = xt.scatter(1, yt[:, None], float("-inf")).max(dim=1)  # first index, as numpy
    _finish(s.cpu().numpy(), y, a2.cpu().numpy(), m2.cpu().numpy(), out, sl)


def confident_classes(
    pred_probs: np.ndarray,
    labels: np.ndarray,
    rows: RowStats,
    thresholds: np.ndarray,
    *,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The confident-joint class of every row (Northcutt et al., JAIR 2021, eq. 2).

    Class ``j`` is confident for row ``i`` when ``pred_probs[i, j] >= thresholds[j]`` (compared
    in the promoted dtype of both). A row with several confident classes goes to its argmax,
    with one to that class, with none nowhere.

    Returns
    -------
    counted : ndarray of shape (N,), bool
        At least one class is confident.
    guess : ndarray of shape (N,), int64
        The row's class (its argmax where ``counted`` is False).
    """
    n, k = pred_probs.shape
    if thresholds.dtype != pred_probs.dtype:
        thresholds = thresholds.astype(np.result_type(thresholds, pred_probs), copy=False)
    lowest = thresholds.min()
    counted, guess = np.empty(n, bool), np.empty(n, np.int64)

    def block(sl: slice) -> None:
        a, m = rows.argmax[sl], rows.max[sl]
        # A row whose argmax class is confident goes to it whatever else is confident. Of the
        # other rows, those whose entries outside the argmax are all below every threshold
        # have no confident class: every entry is at most the maximum, and where the argmax is
        # the given label, every other entry is at most the runner-up. Only the rest (usually
        # a few percent of the rows) are compared class by class.
        hit = m >= thresholds[a]
        bound = np.where(a == labels[sl], rows.other_max[sl], m)
        rest = np.flatnonzero(~hit & (bound >= lowest))
        guess[sl] = a
        for part in iter_slices(len(rest), chunk_rows(k, pred_probs.dtype.itemsize)):
            idx = rest[part]
            # Confident entries are rare here: one flat nonzero, not per-row loops (and
            # np.take gathers whole rows faster than fancy indexing).
            found = np.flatnonzero(np.take(pred_probs, idx + sl.start, axis=0) >= thresholds)
            row, col = np.divmod(found, k)
            n_conf = np.bincount(row, minlength=len(idx))
            first = np.full(len(idx), -1, np.int64)
            first[row[::-1]] = col[::-1]  # the lowest column of each row wins
            hit[idx] = n_conf > 0
            guess[idx + sl.start] = np.where(n_conf == 1, first, a[idx])
        counted[sl] = hit

    # Blocks of 64k rows; the rows compared class by class are read a cache-sized part at a time.
    parallel_chunks(block, n, 1 << 16, workers)
    return counted, guess


def row_entropy(pred_probs: np.ndarray, *, workers: int | None = None) -> np.ndarray:
    """Normalised entropy ``-sum_j p_j log p_j / log K`` of every row, shape (N,), float64.

    Row sums are taken in the input dtype, then divided by ``log K`` in float64 (as cleanlab).
    """
    from scipy.special import xlogy

    n, k = pred_probs.shape
    out = np.empty(n, np.float64)
    norm = np.log(k)

    def block(sl: slice) -> None:
        x = pred_probs[sl]
        out[sl] = -np.sum(xlogy(x, x), axis=1) / norm

    parallel_chunks(block, n, chunk_rows(k, pred_probs.dtype.itemsize), workers)
    return out
