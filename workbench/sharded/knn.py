"""kNN detectors over shards on Dask by exact blockwise search: each block of queries against
every block, the torch kernel per block pair, the top-k lists merged.

N samples in S shards, D feature dimensions, k neighbours; each shard carries ``features``
(n, D) (:mod:`workbench.sharded.extras`). For every shard A, a chain of S tasks searches A's
rows against each shard B with :func:`workbench.compute.knn.knn_between` (the kernel of
:func:`workbench.compute.knn.knn_graph`: float32 tiles, candidates re-ranked in float64) and
merges the lists by (distance, index): the neighbours and distances of ``knn_graph`` over the
whole dataset, the neighbours' labels carried along. A task holds two blocks and A's running
lists: memory bounded by the shard sizes, O(S^2) tasks. The S chains run in parallel; a worker
with a GPU runs its blocks there (``device=None``: the session device of each worker).

From the merged lists, per shard: ``knn_disagreement`` (1 - the neighbours' share voting for
the given label; flags where another class leads; suggests the majority) and ``knn_outlier``
(mean distance to the k neighbours; flags above its ``quantile`` over the whole dataset, the
quantile from the largest scores gathered over shards, numpy's arithmetic). Scores, flags and
suggestions **equal** the in-memory detectors' on the concatenated shards (higher = more
likely mislabeled; for ``knn_outlier``: farther from everything).

Tasks import torch on the workers that run them.
"""

from __future__ import annotations

import numpy as np

from workbench.sharded.reductions import (
    DetectorUnavailable,
    ShardedDetectorResult,
    n_flagged,
    pick,
    quantile_over_shards,
    submit,
)
from workbench.sharded.runner import run_detector_group

__all__ = ["NAMES", "knn_detectors_sharded", "run_knn_detectors"]

#: The kNN detectors that run on shards.
NAMES = ("knn_disagreement", "knn_outlier")


# --- tasks ---------------------------------------------------------------------------------------
def shard_features(source, name: str, n_rows: int) -> np.ndarray:
    """Read and check one shard's features (n, D)."""
    from workbench.sharded.extras import read_extra

    return read_extra(source, "features", name, n_rows)


def _features(x, name: str, n_rows: int) -> np.ndarray:
    """A block's features: read here when ``x`` describes a file, else ``x`` itself."""
    from workbench.sharded.extras import NpyRows, ParquetColumn

    return shard_features(x, name, n_rows) if isinstance(x, (NpyRows, ParquetColumn)) else x


def feature_summary(x, name: str, n_rows: int) -> tuple[int, int, int]:
    """(D, all-zero rows, first such row or -1) of one shard."""
    x = _features(x, name, n_rows)
    zero = np.flatnonzero(~np.any(x != 0, axis=1))
    return int(x.shape[1]), int(zero.size), int(zero[0]) if zero.size else -1


def pair_step(acc, xa, xb, labels_b, offset_b: int, k: int, metric: str, same: bool,
              names: tuple, lengths: tuple, device, chunk_size) -> dict:  # fmt: skip
    """Search block A's rows against block B (A itself when ``same``) and merge the lists into
    ``acc`` (None at the start): ``idx`` (nA, k) global positions, ``dist`` float64, ``lab``
    the neighbours' labels, nearest first, ties by position."""
    from workbench.compute.knn import knn_between

    xa = _features(xa, names[0], lengths[0])
    xb = None if same else _features(xb, names[1], lengths[1])
    idx, dist = knn_between(xa, xb, k, metric=metric, device=device, chunk_size=chunk_size)
    new = {"idx": idx + offset_b, "dist": dist, "lab": np.asarray(labels_b)[idx]}
    if acc is None:
        return new
    both = {key: np.concatenate([acc[key], new[key]], axis=1) for key in new}
    order = np.lexsort((both["idx"], both["dist"]), axis=1)[:, :k]
    return {key: np.take_along_axis(v, order, axis=1) for key, v in both.items()}


def shard_scores(acc: dict, labels: np.ndarray, n_classes: int, weighting: str) -> dict:
    """The kNN detectors' columns of one shard from its merged lists (the outlier flags come
    once the whole-dataset threshold is known)."""
    from workbench.analysis.detectors.features import vote_of_neighbors

    dist = acc["dist"].astype(np.float32)  # the graph's float32 distances, as in memory
    vote = vote_of_neighbors(labels, acc["lab"], dist, n_classes, weighting)
    return {
        "knn_disagreement": 1.0 - vote.agreement,
        "flag_knn_disagreement": vote.majority != labels,
        "suggested_knn_disagreement": vote.majority,
        "knn_outlier": dist.mean(axis=1, dtype=np.float64),
    }


def outlier_flags(cols: dict, threshold: float) -> dict:
    return cols | {"flag_knn_outlier": cols["knn_outlier"] > threshold}


# --- the detectors -------------------------------------------------------------------------------
def _check(k, metric, weighting, quantile, names):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, found {k!r}.")
    if metric not in ("auto", "cosine", "euclidean"):
        raise ValueError(f"metric must be 'auto', 'cosine' or 'euclidean', found {metric!r}.")
    if weighting not in ("uniform", "distance"):
        raise ValueError(f"weighting must be 'uniform' or 'distance', found {weighting!r}.")
    if isinstance(quantile, (bool, np.bool_)) or not isinstance(
        quantile, (int, float, np.floating)
    ):
        raise TypeError(f"quantile must be a float in (0, 1), found {quantile!r}.")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), found {quantile}.")
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise ValueError(f"detectors must be among {list(NAMES)}, found {unknown}.")


def run_knn_detectors(
    client, dataset, inputs, labels, *, names=NAMES, k: int = 10, metric: str = "auto",
    weighting: str = "uniform", quantile: float = 0.99, device=None, chunk_size=None,
) -> dict:  # fmt: skip
    """Run the kNN detectors on ``client``; ``inputs``: one features input per shard
    (:func:`workbench.sharded.extras.extra_inputs`), ``labels``: one future (or array) per
    shard of its given labels. Returns {name: :class:`ShardedDetectorResult`} whose
    ``columns`` are per-shard futures."""
    from dask.delayed import Delayed

    _check(k, metric, weighting, quantile, names)
    n, s_count = dataset.n_samples, dataset.n_shards
    if n <= k:
        raise DetectorUnavailable(f"Needs more samples than k={k} neighbours (found N={n}).")
    lengths, offsets, shard_names = dataset.lengths, dataset.offsets, dataset.names
    # Blocks described by a file are read in each task (memory bounded per task); others are
    # computed once and kept on the cluster.
    feats = [
        submit(client, shard_features, src, name, int(ln))
        if isinstance(src, (Delayed, np.ndarray)) else src
        for src, name, ln in zip(inputs, shard_names, lengths, strict=True)
    ]  # fmt: skip
    info = client.gather([client.submit(feature_summary, f, name, int(ln), pure=False)
                          for f, name, ln in zip(feats, shard_names, lengths, strict=True)])  # fmt: skip
    dims = {d for d, _, _ in info}
    if len(dims) > 1:
        raise ValueError(f"shards disagree on the number of feature columns D: {sorted(dims)}.")
    dim = dims.pop()
    zero = [(shard_names[s], row) for s, (_, z, row) in enumerate(info) if z]
    if metric == "auto":
        metric = "euclidean" if dim <= 3 or zero else "cosine"
    elif metric == "cosine" and zero:
        name, row = zero[0]
        raise ValueError(
            f"shard {name!r} row {row}: features are all zero ({sum(z for _, z, _ in info)} such "
            'rows in all); cosine distance is undefined for a zero vector. Use metric="euclidean".'
        )
    merged = []
    for a in range(s_count):
        acc = None
        for b in [a] + [b for b in range(s_count) if b != a]:
            acc = client.submit(
                pair_step, acc, feats[a], feats[b], labels[b], int(offsets[b]), int(k), metric,
                a == b, (shard_names[a], shard_names[b]), (int(lengths[a]), int(lengths[b])),
                device, chunk_size, pure=False,
            )  # fmt: skip
        merged.append(acc)
    cols = [client.submit(shard_scores, acc, y, dataset.n_classes, weighting, pure=False)
            for acc, y in zip(merged, labels, strict=True)]  # fmt: skip
    del merged
    details = {"k": int(k), "metric": metric}
    out = {}
    if "knn_outlier" in names:
        scores = [client.submit(pick, c, "knn_outlier", pure=False) for c in cols]
        threshold = quantile_over_shards(client, scores, lengths, float(quantile))
        cols = [client.submit(outlier_flags, c, threshold, pure=False) for c in cols]
        out["knn_outlier"] = ShardedDetectorResult(
            "knn_outlier",
            n_flagged(client, cols, "knn_outlier"),
            details | {"threshold": threshold, "quantile": quantile},
            columns=cols,
        )
    if "knn_disagreement" in names:
        out["knn_disagreement"] = ShardedDetectorResult(
            "knn_disagreement", n_flagged(client, cols, "knn_disagreement"),
            details | {"weighting": weighting}, columns=cols,
        )  # fmt: skip
    return out


def knn_detectors_sharded(
    dataset, *, client=None, detectors=NAMES, k: int = 10, metric: str = "auto",
    weighting: str = "uniform", quantile: float = 0.99, device=None, chunk_size=None,
    collect: bool = True, verbose: bool = False,
) -> dict:  # fmt: skip
    """``knn_disagreement`` and ``knn_outlier`` over a sharded dataset that carries
    ``features`` (:func:`workbench.sharded.extras.with_arrays`, ``features-<part>.npy`` beside
    ``.npy`` shards, or a ``features`` list column in Parquet shards).

    Parameters
    ----------
    dataset : ShardedDataset
    client : distributed.Client, optional
        Default: a ``LocalCluster`` started for the call and closed after.
    detectors : sequence of str
        Among :data:`NAMES`.
    k, metric, weighting, quantile
        As the in-memory detectors (``weighting`` is ``knn_disagreement``'s; ``quantile``
        ``knn_outlier``'s).
    device : str, optional
        Torch device of the block searches on each worker (default: the worker's session
        device, a GPU when it has one).
    chunk_size : int, optional
        Tile side of the block searches (:func:`workbench.compute.knn.knn_graph`).
    collect : bool, default=True
        Collect each detector's (N,) scores, flags and suggestions on the client.

    Returns
    -------
    dict of str to ShardedDetectorResult
    """
    names = (detectors,) if isinstance(detectors, str) else tuple(detectors)
    _check(k, metric, weighting, quantile, names)
    return run_detector_group(
        dataset, "features", run_knn_detectors, client=client, collect=collect, verbose=verbose,
        how_to_add="with workbench.sharded.with_arrays(dataset, features=...), as "
        "features-<part>.npy beside .npy shards or as a features list column in Parquet shards",
        names=names, k=k, metric=metric, weighting=weighting, quantile=quantile, device=device,
        chunk_size=chunk_size,
    )  # fmt: skip
