"""The small pieces the sharded detectors share: their result type, Dask plumbing (tasks whose
arguments may be blocks of dask collections, tree reductions) and exact selections over shards
(the m smallest or largest values, a quantile with numpy's arithmetic).

N samples in S shards. Selections send each shard's share of the values asked for plus a margin,
then ask again only the shards that may hide more: exact, O(values asked) on the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.sharded._tasks import add, pick

__all__ = [
    "DetectorUnavailable",
    "ShardedDetectorResult",
    "extreme_values",
    "n_flagged",
    "pick",
    "quantile_of_order_statistics",
    "quantile_over_shards",
    "shard_labels",
    "submit",
    "tree_sum",
]


@dataclass
class ShardedDetectorResult:
    """One detector's result over a sharded dataset.

    Attributes
    ----------
    name : str
        The in-memory detector it equals (``"dawid_skene"``, ``"knn_disagreement"``, ...).
    n_flagged : int
    details : dict
        Whole-dataset numbers (annotator quality, confusion matrices, thresholds ...).
    scores, flags, suggested_labels : ndarray (N,) or None
        Collected on the client only when asked (``collect=True``); otherwise the columns
        ``<name>``, ``flag_<name>`` and ``suggested_<name>`` of the audit's Parquet parts.
    columns : list
        One future per shard of its columns {column name: (n,) array} (internal: the audit
        writes them; dropped once written).
    """

    name: str
    n_flagged: int = 0
    details: dict = field(default_factory=dict)
    scores: np.ndarray | None = None
    flags: np.ndarray | None = None
    suggested_labels: np.ndarray | None = None
    columns: list = field(default_factory=list, repr=False)

    def collect(self, client) -> ShardedDetectorResult:
        """Fill ``scores``, ``flags``, ``suggested_labels`` from the per-shard columns
        (O(N) memory on the client)."""
        parts = client.gather(self.columns)
        self.scores = np.concatenate([p[self.name] for p in parts])
        self.flags = np.concatenate([p[f"flag_{self.name}"] for p in parts])
        key = f"suggested_{self.name}"
        if key in parts[0]:
            self.suggested_labels = np.concatenate([p[key] for p in parts])
        return self


class DetectorUnavailable(ValueError):
    """The data cannot support a detector (no annotation at all; no more samples than k)."""


# --- dask plumbing -------------------------------------------------------------------------------
def submit(client, fn, *args, **kwargs):
    """``client.submit(fn, *args)``; when an argument is a dask ``Delayed`` (a block of a user's
    dask collection) it is computed on the cluster as the task's input."""
    from dask.delayed import Delayed, delayed

    if any(isinstance(a, Delayed) for a in args):
        return client.compute(delayed(fn, pure=False)(*args, **kwargs))
    return client.submit(fn, *args, pure=False, **kwargs)


def tree_sum(client, futures, every: int = 8):
    """Sum futures (arrays or numbers) by a tree reduction, ``every`` parts per node."""
    futures = list(futures)
    while len(futures) > 1:
        futures = [
            client.submit(add, *futures[i : i + every], pure=False)
            for i in range(0, len(futures), every)
        ]
    return futures[0]


def shard_labels(source, name: str, k: int) -> np.ndarray:
    """The given labels of one shard (checked)."""
    from workbench.sharded.sources import load_shard

    return load_shard(source, name, k, check=True).labels


def n_flagged(client, columns, name: str) -> int:
    """Samples flagged by detector ``name`` over shards; ``columns``: one future per shard of
    its columns (``flag_<name>`` among them)."""
    return int(sum(client.gather([client.submit(count_flags, c, name, pure=False)
                                  for c in columns])))  # fmt: skip


def merge_columns(*parts: dict) -> dict:
    """One shard's columns of several detectors in one dict."""
    out: dict = {}
    for part in parts:
        out.update(part)
    return out


def count_flags(columns: dict, name: str) -> int:
    return int(np.count_nonzero(columns[f"flag_{name}"]))


# --- exact selections over shards ------------------------------------------------------------
def smallest(q: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` smallest values of ``q`` (all when fewer), ascending."""
    m = min(int(m), len(q))
    if m <= 0:
        return q[:0].copy()
    part = np.partition(q, m - 1)[:m] if m < len(q) else q.copy()
    return np.sort(part)


def largest(q: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` largest values of ``q`` (all when fewer), descending."""
    return -smallest(-np.asarray(q), m)


def extreme_values(client, values, lengths, count: int, *, top: bool = False) -> np.ndarray:
    """The ``count`` smallest values (ascending; with ``top`` the largest, descending) over
    shards, exactly: ``values`` one future per shard of its (n,) values, ``lengths`` (S,).

    Each shard sends its share of ``count`` plus a margin; a shard that may hide a value
    beyond the merged cut is asked for ``count`` (so at most two rounds). O(count) memory on
    the client."""
    lengths = np.asarray(lengths, np.int64)
    count = int(min(count, lengths.sum()))
    if count <= 0:
        return np.empty(0)
    fn = largest if top else smallest
    share = count * lengths / max(int(lengths.sum()), 1)
    m = np.minimum(np.ceil(1.25 * share + 4 * np.sqrt(share) + 8).astype(np.int64), count)
    m = np.minimum(m, lengths)
    got = client.gather([client.submit(fn, v, int(ms), pure=False)
                         for v, ms in zip(values, m, strict=True)])  # fmt: skip
    while True:  # at most twice: a re-asked shard sends `count` values, enough for any cut
        merged = np.sort(np.concatenate(got))
        if top:
            merged = merged[::-1]
        if len(merged) < count:
            cut = -np.inf if top else np.inf
        else:
            cut = merged[count - 1]
        unsafe = [s for s, g in enumerate(got) if len(g) < lengths[s]
                  and (len(g) == 0 or (g[-1] > cut if top else g[-1] < cut))]  # fmt: skip
        if not unsafe:
            return merged[:count]
        more = client.gather([client.submit(fn, values[s], int(min(count, lengths[s])),
                                            pure=False) for s in unsafe])  # fmt: skip
        for s, g in zip(unsafe, more, strict=True):
            got[s] = g


def quantile_of_order_statistics(n: int, q: float, lower, upper) -> float:
    """``np.quantile(x, q)`` (method "linear") of an array ``x`` of ``n`` values from the two
    order statistics it reads: ``lower`` = sorted(x)[i], ``upper`` = sorted(x)[i + 1] with
    ``i = floor(q * (n - 1))`` (``upper`` unused when i = n - 1); numpy's arithmetic, so the
    same float."""
    v = (n - 1) * q  # numpy's virtual index of method "linear"
    if v >= n - 1:
        return float(lower)
    i = np.floor(v)
    gamma = v - i
    a, b = np.float64(lower), np.float64(upper)
    diff = b - a
    if gamma >= 0.5:
        return float(b - diff * (1 - gamma))
    return float(a + diff * gamma)


def quantile_over_shards(client, values, lengths, q: float) -> float:
    """``np.quantile`` of the concatenated shard values at ``q``, from the largest
    ``n - floor(q * (n - 1))`` values (O((1 - q) N) on the client)."""
    n = int(np.sum(lengths))
    v = (n - 1) * q
    i = min(int(np.floor(v)), n - 1)
    tail = extreme_values(client, values, lengths, n - i, top=True)  # descending
    lower = tail[n - 1 - i]
    upper = tail[n - 2 - i] if i + 1 <= n - 1 else lower
    return quantile_of_order_statistics(n, q, lower, upper)
