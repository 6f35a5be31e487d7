"""Near and exact duplicates from the kNN graph of the features.

N samples, D feature dimensions, k neighbours. Two samples are **near duplicates** when one is
among the other's k nearest neighbours at a distance below ``threshold`` times the median
distance of every sample to its nearest neighbour (cleanlab Datalab's ``near_duplicate``
rule, on the same graph and threshold the same sets). Duplicates are not label errors in
themselves: they inflate a test score when they cross a train / test split (leakage) and
weigh a sample twice in training. A duplicate pair with **different labels** is another
matter: at least one of the two labels is wrong.

The detector ``near_duplicate`` (``kind`` ``"duplicate"``) scores every sample by how close its
nearest neighbour is, ``exp(-d_1 / median d_1)`` in (0, 1] (1 = an exact copy; **higher = more
likely a duplicate**; this is 1 - Datalab's ``near_duplicate_score``) and flags the members
of near-duplicate sets. Gröger et al., "Intrinsic Self-Supervision for Data Quality Audits"
(SelfClean, NeurIPS 2024), on why duplicates matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.features import resolve_metric
from workbench.analysis.detectors.registry import register
from workbench.compute.knn import KNNGraph
from workbench.core.dataset import Dataset
from workbench.core.validation import check_int, check_number

__all__ = ["NearDuplicates", "NearDuplicateDetector", "near_duplicates"]

#: Smallest median nearest-neighbour distance used as the unit (cleanlab's EPSILON): a dataset
#: of mostly exact copies still has a positive radius.
MIN_MEDIAN = 1e-6


@dataclass(frozen=True, eq=False)
class NearDuplicates:
    """The near-duplicate structure of a dataset.

    Attributes
    ----------
    scores : ndarray of shape (N,), float64
        ``exp(-d_1 / median)``, d_1 the distance to the nearest neighbour: 1 for an exact
        copy, higher = more likely a duplicate.
    flags : ndarray of shape (N,), bool
        Member of a near-duplicate pair.
    pairs : ndarray of shape (P, 2), int64
        Every near-duplicate pair once, ``i < j``, sorted.
    pair_distances : ndarray of shape (P,), float64
    group : ndarray of shape (N,), int64
        Connected components of the pairs: samples linked by a chain of near duplicates share
        an id 0..G-1; -1 for samples without a near duplicate.
    radius : float
        ``threshold * median``: pairs closer than this are near duplicates.
    median_nn_distance : float
        Median distance to the nearest neighbour (at least :data:`MIN_MEDIAN`).
    """

    scores: np.ndarray
    flags: np.ndarray
    pairs: np.ndarray
    pair_distances: np.ndarray
    group: np.ndarray
    radius: float
    median_nn_distance: float

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if self.group.size else 0

    def sets(self) -> list[np.ndarray]:
        """Per sample, its near duplicates (sorted indices; empty for most samples): the
        ``near_duplicate_sets`` of cleanlab Datalab, each sorted."""
        n = len(self.scores)
        adj = _adjacency(self.pairs, n)
        return [adj.indices[adj.indptr[i] : adj.indptr[i + 1]].copy() for i in range(n)]


def near_duplicates(graph: KNNGraph, threshold: float = 0.13) -> NearDuplicates:
    """Near-duplicate pairs, groups and scores from a kNN graph.

    Parameters
    ----------
    graph : KNNGraph
        Neighbours of the N samples (self excluded), e.g. from
        :func:`workbench.compute.knn.knn_graph`; only pairs inside it can be found, so a sample
        with more than k copies links to k of them (the groups still join them all).
    threshold : float, default=0.13
        Pairs closer than ``threshold`` × the median nearest-neighbour distance are near
        duplicates (Datalab's default); 0 finds nothing, exact copies need ``threshold > 0``.

    Returns
    -------
    NearDuplicates
    """
    if not isinstance(graph, KNNGraph):
        raise TypeError(f"graph must be a KNNGraph, found {type(graph).__name__}.")
    threshold = check_number(threshold, "threshold", low=0.0)
    return _near_duplicates(graph, threshold)


def _near_duplicates(graph: KNNGraph, threshold: float) -> NearDuplicates:
    n = graph.n_samples
    nearest = graph.distances[:, 0].astype(np.float64)
    # the same expressions as Datalab, in the graph's dtype, so the same pairs fall inside
    median_d = max(np.median(graph.distances[:, 0]), MIN_MEDIAN)
    radius = threshold * median_d
    close = graph.distances < radius
    median = float(median_d)
    rows = np.repeat(np.arange(n), graph.n_neighbors)[close.reshape(-1)]
    cols = graph.indices[close]
    dist = graph.distances[close].astype(np.float64)
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    key = lo * n + hi
    key, first = np.unique(key, return_index=True)
    pairs = np.stack([key // n, key % n], axis=1).astype(np.int64)
    flags = np.zeros(n, bool)
    flags[pairs.reshape(-1)] = True
    group = np.full(n, -1, dtype=np.int64)
    if len(pairs):
        _, comp = connected_components(_adjacency(pairs, n), directed=False)
        members = np.flatnonzero(flags)
        # number the groups 0..G-1 in order of their first member
        _, renum = np.unique(comp[members], return_inverse=True)
        first_member = np.full(renum.max() + 1, n)
        np.minimum.at(first_member, renum, members)
        order = np.empty_like(first_member)
        order[np.argsort(first_member)] = np.arange(len(first_member))
        group[members] = order[renum]
    scores = np.exp(-nearest / median)
    scores[np.isclose(nearest, 0)] = 1.0  # Datalab's rule: a (numerically) exact copy
    return NearDuplicates(
        scores=scores,
        flags=flags,
        pairs=pairs,
        pair_distances=dist[first],
        group=group,
        radius=float(radius),
        median_nn_distance=median,
    )


def _adjacency(pairs: np.ndarray, n: int) -> sparse.csr_matrix:
    ones = np.ones(2 * len(pairs), dtype=np.int8)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    adj = sparse.csr_matrix((ones, (both[:, 0], both[:, 1])), shape=(n, n))
    adj.sort_indices()
    return adj


def _splits(dataset: Dataset, split) -> np.ndarray | None:
    """The split of every sample, as codes (N,), from a ``metadata`` column name."""
    if split is None:
        return None
    if not isinstance(split, str):
        raise TypeError(f"split must be None or the name of a metadata column, found {split!r}.")
    if dataset.metadata is None or split not in dataset.metadata.columns:
        have = [] if dataset.metadata is None else [str(c) for c in dataset.metadata.columns]
        raise ValueError(
            f"split={split!r} must name a column of the dataset's metadata; found columns {have}."
        )
    column = dataset.metadata[split]
    codes = np.asarray(column.astype("category").cat.codes, dtype=np.int64)
    return codes


@register
class NearDuplicateDetector(Detector):
    """Near and exact duplicates in feature space (not label errors; ``kind`` ``"duplicate"``).

    Score: ``exp(-d_1 / median d_1)`` in (0, 1], d_1 the distance to the nearest neighbour;
    1 for an exact copy; **higher = more likely a duplicate**. Flag rule: the sample has a
    near duplicate (a neighbour closer than ``threshold`` × the median nearest-neighbour
    distance), the sets of cleanlab Datalab's ``near_duplicate`` issue on the same graph. No
    suggested label.

    Parameters
    ----------
    k : int, default=10
        Neighbours searched per sample; the detector is unavailable when N <= k.
    threshold : float, default=0.13
        Relative to the median nearest-neighbour distance (Datalab's default).
    metric : {"auto", "cosine", "euclidean"}, default="auto"
        As ``knn_disagreement``: cosine when D > 3 and no row is all zeros.
    split : str, optional
        Name of a ``metadata`` column holding each sample's split (train / test / ...): pairs
        across splits are reported as leakage.
    device : str, optional
        Torch device for the kNN search; default: the session device.

    Notes
    -----
    ``details``: ``pairs`` (P, 2) and ``pair_distances`` (P,); ``pair_labels_differ`` (P,)
    bool, a duplicate with two labels (one of them is wrong); ``conflicting_label`` (N,) bool,
    the samples in such a pair; ``pair_exact`` (P,) and ``exact`` (N,) bool, pairs with
    identical features and their members;
    ``group`` (N,) the duplicate group (-1: none); ``radius``, ``median_nn_distance``,
    ``metric``; with ``split``: ``pair_crosses_split`` (P,) bool and ``leaking`` (N,) bool.
    """

    name = "near_duplicate"
    kind = "duplicate"
    requires = ("features",)
    summary = "Closeness of the nearest neighbour in feature space: near or exact copies."
    reference = (
        "Near-duplicate sets as cleanlab Datalab's near_duplicate issue; Gröger et al. - "
        "Intrinsic Self-Supervision for Data Quality Audits (SelfClean, NeurIPS 2024)"
    )

    def __init__(
        self,
        k: int = 10,
        threshold: float = 0.13,
        metric: str = "auto",
        split: str | None = None,
        device=None,
    ):
        self.k = k
        self.threshold = threshold
        self.metric = metric
        self.split = split
        self.device = device

    def missing(self, dataset: Dataset) -> str | None:
        reason = super().missing(dataset)
        k = self.k
        if reason is None and isinstance(k, (int, np.integer)) and dataset.n_samples <= k:
            return f"Needs more samples than k={k} neighbours (found N={dataset.n_samples})."
        split = self.split
        have = [] if dataset.metadata is None else [str(c) for c in dataset.metadata.columns]
        if reason is None and isinstance(split, str) and split not in have:
            return (
                f"Needs a metadata column {split!r} holding each sample's split (split={split!r}; "
                f"found metadata columns {have})."
            )
        return reason

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        k = check_int(self.k, "k")
        threshold = check_number(self.threshold, "threshold", low=0.0)
        splits = _splits(dataset, self.split)
        metric = resolve_metric(self.metric, dataset.features)
        graph = analysis_of(dataset).knn_graph(k, metric, device=self.device, progress=progress)
        dup = _near_duplicates(graph, threshold)
        labels = dataset.labels
        differ = labels[dup.pairs[:, 0]] != labels[dup.pairs[:, 1]]
        conflicting = np.zeros(len(labels), bool)
        conflicting[dup.pairs[differ].reshape(-1)] = True
        x = dataset.features
        pair_exact = np.zeros(len(dup.pairs), bool)
        for start in range(0, len(dup.pairs), 4096):  # bounded: 4096 pairs of rows at a time
            a, b = dup.pairs[start : start + 4096].T
            pair_exact[start : start + 4096] = (x[a] == x[b]).all(axis=1)
        exact = np.zeros(len(labels), bool)
        exact[dup.pairs[pair_exact].reshape(-1)] = True
        details = {
            "pairs": dup.pairs,
            "pair_distances": dup.pair_distances,
            "pair_labels_differ": differ,
            "conflicting_label": conflicting,
            "pair_exact": pair_exact,
            "exact": exact,
            "group": dup.group,
            "radius": dup.radius,
            "median_nn_distance": dup.median_nn_distance,
            "metric": metric,
        }
        if splits is not None:
            crosses = splits[dup.pairs[:, 0]] != splits[dup.pairs[:, 1]]
            leaking = np.zeros(len(labels), bool)
            leaking[dup.pairs[crosses].reshape(-1)] = True
            details.update(pair_crosses_split=crosses, leaking=leaking)
        return DetectorResult(
            self.name,
            scores=dup.scores,
            flags=dup.flags,
            params=self.get_params(),
            details=details,
        )
