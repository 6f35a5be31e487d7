"""Detectors from features or embeddings alone, through the k-nearest-neighbour graph.

N samples, K classes, D feature dimensions, k neighbours. No model is trained: a sample's
neighbours in feature space vote on its label (``knn_disagreement``), and its distance to them
says whether it belongs to any class at all (``knn_outlier``). Read together they separate a
*mislabeled* sample (high disagreement, ordinary outlier score: it sits inside another class)
from an *out-of-distribution* one (high outlier score: it sits far from everything).

Both detectors share one kNN graph per dataset (:meth:`workbench.analysis.derived.Analysis.knn_graph`),
computed exactly on torch (GPU when there is one).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import sparse

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.registry import register
from workbench.compute.knn import METRICS, KNNGraph
from workbench.core.dataset import Dataset
from workbench.core.typing import ArrayLike
from workbench.core.validation import check_labels

__all__ = [
    "KNNDisagreementDetector",
    "KNNOutlierDetector",
    "NeighborVote",
    "WEIGHTINGS",
    "knn_label_vote",
    "resolve_metric",
    "vote_of_neighbors",
]

#: How neighbours' votes are weighted.
WEIGHTINGS = ("uniform", "distance")

KNN_LABEL_REFERENCE = (
    "Zhu, Dong, Liu - Detecting Corrupted Labels Without Training a Model to Predict "
    "(ICML 2022); Bahri, Jiang, Gupta - Deep k-NN for Noisy Labels (ICML 2020)"
)
KNN_OUTLIER_REFERENCE = (
    "Angiulli, Pizzuti - Fast Outlier Detection in High Dimensional Spaces (PKDD 2002); "
    "Sun, Ming, Zhu, Li - Out-of-Distribution Detection with Deep Nearest Neighbors (ICML 2022)"
)


class NeighborVote(NamedTuple):
    """The neighbours' vote on every sample's label.

    Attributes
    ----------
    agreement : ndarray of shape (N,), float64
        (Weighted) fraction of the k neighbours whose label is the sample's given label.
    majority : ndarray of shape (N,), int64
        The class with the most (weighted) votes; the given label when it is among the tied
        leaders, else the lowest tied class index.
    majority_share : ndarray of shape (N,), float64
        (Weighted) fraction of the votes that went to ``majority``.
    """

    agreement: np.ndarray
    majority: np.ndarray
    majority_share: np.ndarray


def resolve_metric(metric: str, features: np.ndarray) -> str:
    """The metric to use on ``features`` (N, D): ``"auto"`` -> ``"cosine"`` when D > 3 (as
    cleanlab decides) and no row is all zeros (a zero vector has no direction), else
    ``"euclidean"``; an explicit ``"cosine"`` or ``"euclidean"`` is kept."""
    if metric == "auto":
        if features.shape[1] <= 3 or not np.any(features != 0, axis=1).all():
            return "euclidean"
        return "cosine"
    if metric not in METRICS:
        raise ValueError(f"metric must be 'auto' or one of {METRICS}, found {metric!r}.")
    return metric


def knn_label_vote(
    labels: ArrayLike,
    graph: KNNGraph,
    *,
    n_classes: int | None = None,
    weighting: str = "uniform",
) -> NeighborVote:
    """Let every sample's k nearest neighbours vote on its label.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels, integers 0..K-1.
    graph : KNNGraph
        Neighbours of the same N samples (self excluded), e.g. from
        :func:`workbench.compute.knn.knn_graph`.
    n_classes : int, optional
        K; default ``max(labels) + 1``.
    weighting : {"uniform", "distance"}, default="uniform"
        ``"distance"`` weights each neighbour by 1 / distance; where some neighbours are at
        distance 0, only those vote (scikit-learn's ``KNeighborsClassifier`` rule).

    Returns
    -------
    NeighborVote
        ``agreement``, ``majority`` and ``majority_share``, each of shape (N,).
    """
    labels, _ = check_labels(labels, n_classes=n_classes)
    if not isinstance(graph, KNNGraph):
        raise TypeError(f"graph must be a KNNGraph, found {type(graph).__name__}.")
    if graph.n_samples != len(labels):
        raise ValueError(
            f"graph has {graph.n_samples} samples but labels has {len(labels)}; build the graph "
            "from the features of the same samples."
        )
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, found {weighting!r}.")
    return _vote(labels, graph, n_classes or int(labels.max()) + 1, weighting)


def _vote(labels: np.ndarray, graph: KNNGraph, n_classes: int, weighting: str) -> NeighborVote:
    return vote_of_neighbors(labels, labels[graph.indices], graph.distances, n_classes, weighting)


def vote_of_neighbors(
    labels: np.ndarray,
    neighbor_labels: np.ndarray,
    distances: np.ndarray,
    n_classes: int,
    weighting: str = "uniform",
) -> NeighborVote:
    """:func:`knn_label_vote` from the neighbours' labels themselves (unchecked input): rows
    of samples with ``labels`` (n,), their k neighbours' labels (n, k) and distances (n, k),
    nearest first. Any block of rows gives those rows of the whole vote (used on shards)."""
    n, k = neighbor_labels.shape
    nb_labels = neighbor_labels
    if weighting == "uniform":
        w = np.ones((n, k), dtype=np.float64)
    else:
        d = distances.astype(np.float64)
        exact = d == 0
        with np.errstate(divide="ignore"):
            w = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64), 1.0 / d)
    total = w.sum(axis=1)
    agreement = (w * (nb_labels == labels[:, None])).sum(axis=1) / total
    votes = sparse.csr_matrix(
        (w.reshape(-1), nb_labels.reshape(-1), np.arange(0, n * k + 1, k)),
        shape=(n, n_classes),
    )
    votes.sum_duplicates()  # sorts classes within each row: argmax ties go to the lowest class
    top = np.asarray(votes.max(axis=1).todense()).reshape(-1)
    majority = np.asarray(votes.argmax(axis=1)).reshape(-1).astype(np.int64)
    given_leads = agreement * total >= top * (1 - 1e-12)
    majority = np.where(given_leads, labels, majority)
    share = np.where(given_leads, agreement, top / total)
    return NeighborVote(agreement, majority, share)


def _check_k(k) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be a positive int, found {k!r}.")
    if k < 1:
        raise ValueError(f"k must be a positive int, found {k}.")
    return int(k)


def _graph(dataset: Dataset, k: int, metric: str, device, progress: bool) -> tuple[KNNGraph, str]:
    metric = resolve_metric(metric, dataset.features)
    graph = analysis_of(dataset).knn_graph(k, metric, device=device, progress=progress)
    return graph, metric


class KNNDetector(Detector):
    """Base of the detectors that search ``k`` neighbours in ``features``: they also need more
    samples than neighbours (the ``k`` attribute)."""

    requires = ("features",)

    def missing(self, dataset: Dataset) -> str | None:
        reason = super().missing(dataset)
        k = getattr(self, "k", None)
        if reason is None and isinstance(k, (int, np.integer)) and dataset.n_samples <= k:
            return f"Needs more samples than k={k} neighbours (found N={dataset.n_samples})."
        return reason


@register
class KNNDisagreementDetector(KNNDetector):
    """Neighbours that disagree with the given label: 1 - the share of the k nearest
    neighbours (in feature space) that carry the same label.

    Score: ``1 - agreement``, in [0, 1]; **higher = more likely mislabeled**. Suggested label:
    the neighbours' majority class. Flag rule: the majority class is not the given label (some
    other class got strictly more votes than the given one; a tie with the given label is not
    flagged).

    Parameters
    ----------
    k : int, default=10
        Neighbours per sample (self excluded); the detector is unavailable when N <= k.
    metric : {"auto", "cosine", "euclidean"}, default="auto"
        ``"auto"``: cosine when D > 3 (as cleanlab decides) and no row is all zeros, else
        euclidean. See :func:`resolve_metric`.
    weighting : {"uniform", "distance"}, default="uniform"
        ``"distance"`` weights each neighbour's vote by 1 / distance.
    device : str, optional
        Torch device for the kNN search; default: the session device.

    Notes
    -----
    ``details`` holds ``agreement``, ``majority_share``, ``outlier_score`` (mean distance to
    the neighbours, the ``knn_outlier`` score), the resolved ``metric`` and the ``knn_graph``.
    """

    name = "knn_disagreement"
    summary = "1 - share of the k nearest neighbours in feature space that carry the given label."
    reference = KNN_LABEL_REFERENCE

    def __init__(self, k: int = 10, metric: str = "auto", weighting: str = "uniform", device=None):
        self.k = k
        self.metric = metric
        self.weighting = weighting
        self.device = device

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        k = _check_k(self.k)
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, found {self.weighting!r}.")
        graph, metric = _graph(dataset, k, self.metric, self.device, progress)
        vote = _vote(dataset.labels, graph, dataset.n_classes, self.weighting)
        return DetectorResult(
            self.name,
            scores=1.0 - vote.agreement,
            flags=vote.majority != dataset.labels,
            suggested_labels=vote.majority,
            params=self.get_params(),
            details={
                "agreement": vote.agreement,
                "majority_share": vote.majority_share,
                "outlier_score": graph.distances.mean(axis=1, dtype=np.float64),
                "metric": metric,
                "knn_graph": graph,
            },
        )


@register
class KNNOutlierDetector(KNNDetector):
    """Samples far from everything: the mean distance to the k nearest neighbours.

    Score: mean distance to the k nearest neighbours (cosine distance or L2, as ``metric``);
    **higher = farther from every class**, so more likely out of distribution rather than
    merely mislabeled (``kind`` ``"outlier"``: kept out of votes across detectors and of
    default / best-detector picks). Flag rule: score above its ``quantile`` quantile over the dataset (the
    default flags the farthest 1%). No suggested label.

    Parameters
    ----------
    k : int, default=10
        Neighbours per sample (self excluded); the detector is unavailable when N <= k.
    metric : {"auto", "cosine", "euclidean"}, default="auto"
        ``"auto"``: cosine when D > 3 (as cleanlab decides) and no row is all zeros, else
        euclidean. See :func:`resolve_metric`.
    quantile : float, default=0.99
        Flag samples whose score exceeds this quantile of all scores, in (0, 1).
    device : str, optional
        Torch device for the kNN search; default: the session device.

    Notes
    -----
    ``details`` holds ``threshold`` (the score above which samples are flagged),
    ``disagreement`` (the ``knn_disagreement`` score, uniform weights), the resolved ``metric``
    and the ``knn_graph``. A high outlier score with a low disagreement is an odd sample of its
    class; a high disagreement with an ordinary outlier score is a likely label error.
    """

    name = "knn_outlier"
    kind = "outlier"
    summary = "Mean distance to the k nearest neighbours in feature space (far from every class)."
    reference = KNN_OUTLIER_REFERENCE

    def __init__(self, k: int = 10, metric: str = "auto", quantile: float = 0.99, device=None):
        self.k = k
        self.metric = metric
        self.quantile = quantile
        self.device = device

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        k = _check_k(self.k)
        q = self.quantile
        if isinstance(q, (bool, np.bool_)) or not isinstance(q, (int, float, np.floating)):
            raise TypeError(f"quantile must be a float in (0, 1), found {q!r}.")
        if not 0 < q < 1:
            raise ValueError(f"quantile must lie in (0, 1), found {q}.")
        graph, metric = _graph(dataset, k, self.metric, self.device, progress)
        scores = graph.distances.mean(axis=1, dtype=np.float64)
        threshold = float(np.quantile(scores, q))
        vote = _vote(dataset.labels, graph, dataset.n_classes, "uniform")
        return DetectorResult(
            self.name,
            scores=scores,
            flags=scores > threshold,
            params=self.get_params(),
            details={
                "threshold": threshold,
                "disagreement": 1.0 - vote.agreement,
                "metric": metric,
                "knn_graph": graph,
            },
        )
