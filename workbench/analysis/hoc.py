"""HOC transition-matrix estimation: the noise-transition matrix from the labels of every sample
and its two nearest neighbours, without a trained model.

N samples, K classes, D feature dimensions. Zhu, Song, Liu, "Clusterability as an
Alternative to Anchor Points When Learning with Noisy Labels" (ICML 2021): if a sample and its
two nearest neighbours in a good feature space share their true class (2-NN clusterability),
the frequencies of their given-label triples determine the true-class prior ``p`` and the
transition matrix ``T[i, j] = P(given = j | true = i)`` (rows = true class, rows sum to 1; the
orientation used everywhere here). :func:`consensus_statistics` counts the triples,
:func:`workbench.compute.hoc.fit_hoc` fits ``p`` and ``T`` to them.

Compare with the confident-joint estimate (:func:`workbench.analysis.matrices.
estimate_transition_matrix`), which needs out-of-sample ``pred_probs``; HOC needs features.
Memory and time grow as K³ (the third-order statistics): K up to :data:`MAX_CLASSES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.compute.hoc import fit_hoc
from workbench.compute.knn import KNNGraph
from workbench.core.typing import ArrayLike
from workbench.core.validation import check_int, check_labels

__all__ = [
    "HOCResult",
    "MAX_CLASSES",
    "consensus_statistics",
    "dataset_transition_hoc",
    "estimate_transition_hoc",
]

#: Largest K for HOC (the third-order statistics hold K³ numbers).
MAX_CLASSES = 200


@dataclass(frozen=True, eq=False)
class HOCResult:
    """A HOC estimate.

    Attributes
    ----------
    transition : ndarray of shape (K, K), float64
        ``T[i, j] = P(given = j | true = i)``, rows = true class, rows sum to 1.
    prior : ndarray of shape (K,), float64
        Estimated distribution of the true classes.
    loss : float
        Sum of the squared Frobenius norms between the fitted and the empirical statistics.
    statistics : tuple of ndarray
        The empirical first-, second- and third-order statistics (K,), (K, K), (K, K, K).
    """

    transition: np.ndarray
    prior: np.ndarray
    loss: float
    statistics: tuple

    def noisy_share_given(self) -> np.ndarray:
        """(K,) estimated P(true != k | given = k): the share of wrong labels among the samples
        given each class."""
        joint = self.prior[:, None] * self.transition  # P(true = i, given = j)
        given = joint.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(given > 0, 1.0 - np.diagonal(joint) / given, 0.0)


def consensus_statistics(labels: ArrayLike, graph: KNNGraph, n_classes: int | None = None):
    """Frequencies of the given labels of every sample and its two nearest neighbours.

    Parameters
    ----------
    labels : array-like of shape (N,)
    graph : KNNGraph
        At least 2 neighbours per sample (self excluded); the first two columns are used.
    n_classes : int, optional

    Returns
    -------
    first : ndarray of shape (K,)
        P(label of a sample = j).
    second : ndarray of shape (K, K)
        P(label of a sample = j, label of its nearest neighbour = l).
    third : ndarray of shape (K, K, K)
        P(sample = j, nearest = l, second nearest = m).
    """
    y, names = check_labels(labels, n_classes=n_classes)
    k = n_classes or len(names)
    if not isinstance(graph, KNNGraph):
        raise TypeError(f"graph must be a KNNGraph, found {type(graph).__name__}.")
    if graph.n_samples != len(y) or graph.n_neighbors < 2:
        raise ValueError(
            f"graph must hold at least 2 neighbours of each of the {len(y)} samples, found "
            f"N={graph.n_samples}, k={graph.n_neighbors}."
        )
    return _statistics(y, graph.indices[:, :2], k)


def _statistics(y: np.ndarray, nn: np.ndarray, k: int):
    n = len(y)
    a, b, c = y, y[nn[:, 0]], y[nn[:, 1]]
    first = np.bincount(a, minlength=k) / n
    second = np.bincount(a * k + b, minlength=k * k).reshape(k, k) / n
    third = np.bincount((a * k + b) * k + c, minlength=k**3).reshape(k, k, k) / n
    return first, second, third


def estimate_transition_hoc(
    labels: ArrayLike,
    graph: KNNGraph,
    *,
    n_classes: int | None = None,
    max_iter: int = 1000,
) -> HOCResult:
    """Estimate the transition matrix and true-class prior by HOC.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given (noisy) labels.
    graph : KNNGraph
        Nearest neighbours of the same samples in a feature space where neighbours tend to
        share their true class (e.g. :func:`workbench.compute.knn.knn_graph` of embeddings);
        k >= 2.
    n_classes : int, optional
        K; default ``max(labels) + 1``.
    max_iter : int, default=1000
        Most iterations of the fit (L-BFGS).

    Returns
    -------
    HOCResult

    Examples
    --------
    >>> import numpy as np
    >>> from workbench.compute.knn import knn_graph
    >>> rng = np.random.default_rng(0)
    >>> true = np.repeat([0, 1], 200)
    >>> x = rng.normal(size=(400, 2)) + 6 * true[:, None]
    >>> given = np.where(rng.random(400) < 0.2, 1 - true, true)
    >>> g = knn_graph(x, 2, metric="euclidean", progress=False)
    >>> estimate_transition_hoc(given, g).transition.round(1)
    array([[0.8, 0.2],
           [0.2, 0.8]])
    """
    y, names = check_labels(labels, n_classes=n_classes)
    k = int(n_classes or len(names))
    if k > MAX_CLASSES:
        raise ValueError(
            f"HOC holds K³ statistics; K={k} classes exceeds the limit of {MAX_CLASSES}."
        )
    max_iter = check_int(max_iter, "max_iter")
    stats = consensus_statistics(y, graph, k)
    fit = fit_hoc(*stats, max_iter=max_iter)
    return HOCResult(fit.transition, fit.prior, fit.loss, stats)


def dataset_transition_hoc(
    dataset, *, n_neighbors: int = 10, metric: str = "auto", device=None, progress: bool = False
) -> HOCResult:
    """:func:`estimate_transition_hoc` on a :class:`~workbench.core.dataset.Dataset`'s features,
    through the kNN graph the detectors share (:func:`workbench.analysis.derived.analysis_of`):
    what a view or a report shows beside the confident-joint estimate and the true matrix.

    ``metric="auto"`` decides as ``knn_disagreement`` does (cosine when D > 3 and no row is
    all zeros). Computed once per dataset, ``n_neighbors`` and metric (kept in the dataset's
    shared analysis while its labels and features stay the same objects). Raises ValueError
    when the dataset has no features or fewer than 3 samples.
    """
    from workbench.analysis.derived import analysis_of
    from workbench.analysis.detectors.features import resolve_metric

    if dataset.features is None:
        raise ValueError("HOC needs features; pass features=(N, D) to Dataset.")
    if dataset.n_samples < 3:
        raise ValueError(f"HOC needs at least 3 samples, found N={dataset.n_samples}.")
    k = min(check_int(n_neighbors, "n_neighbors", low=2), dataset.n_samples - 1)
    metric = resolve_metric(metric, dataset.features)
    analysis = analysis_of(dataset)

    def compute():
        graph = analysis.knn_graph(k, metric, device=device, progress=progress)
        return estimate_transition_hoc(dataset.labels, graph, n_classes=dataset.n_classes)

    return analysis.cached(("hoc", k, metric), (dataset.labels, dataset.features), compute)
