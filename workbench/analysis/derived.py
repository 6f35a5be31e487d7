"""One home for the quantities derived from a dataset: computed on first use, kept, shared.

:func:`analysis_of` gives the one :class:`Analysis` of a :class:`~workbench.core.dataset.Dataset`
object. The detectors read their kNN graph and statistics pass from it, the audit pipeline its
matrices and quality, the session and the views the same objects, so nothing is computed twice
and every view shows the numbers the report shows.

Each cached quantity remembers the array it was computed from and is recomputed when that
array is replaced (``Dataset`` signals are replaced, never edited in place); a value is stored
only once its computation has finished, so an interrupted one leaves nothing behind.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from workbench.analysis.statistics import Statistics, calibrate_joint, statistics_pass
from workbench.core.dataset import Dataset

__all__ = ["Analysis", "analysis_of", "MAX_CURVE_POINTS"]

#: Points a precision-recall curve keeps at most (views and reports need no more; N can be 1e6+).
MAX_CURVE_POINTS = 2_000

_ANALYSES: weakref.WeakKeyDictionary[Dataset, Analysis] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def analysis_of(dataset: Dataset) -> Analysis:
    """The :class:`Analysis` of ``dataset`` (one per dataset object, dies with it)."""
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a workbench.Dataset, found {type(dataset).__name__}.")
    with _LOCK:
        analysis = _ANALYSES.get(dataset)
        if analysis is None:
            analysis = _ANALYSES[dataset] = Analysis(dataset)
    return analysis


class Analysis:
    """Derived quantities of one dataset, each computed once (see the module docstring).

    Use :func:`analysis_of` rather than the constructor, so that every reader shares one.

    Orientation of the matrices (as everywhere): ``confusion[i, j]`` counts samples given ``i``
    and predicted ``j``; transition matrices ``T[i, j] = P(given = j | true = i)``, rows sum to 1.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._memo: dict = {}

    # --- memo ----------------------------------------------------------------------------------
    def _cached(self, key, sources: tuple, compute):
        """``compute()`` once per ``key`` while the ``sources`` arrays are the same objects."""
        hit = self._memo.get(key)
        if hit is not None and len(hit[0]) == len(sources):
            if all(a is b for a, b in zip(hit[0], sources, strict=True)):
                return hit[1]
        value = compute()
        self._memo[key] = (sources, value)
        return value

    def cached(self, key, sources: tuple, compute):
        """``compute()`` once per ``key`` while the ``sources`` arrays are the same objects:
        the memo for quantities computed in modules that import this one (e.g. the HOC
        estimate, :func:`workbench.analysis.hoc.dataset_transition_hoc`), kept apart from the
        quantities defined here."""
        return self._cached(("external", key), tuple(sources), compute)

    # --- truth ---------------------------------------------------------------------------------
    @property
    def known_truth(self) -> np.ndarray | None:
        """Boolean (N,): the samples whose true label (multi-label: whole true label set) is
        known; None without true labels."""
        ds = self.dataset
        if ds.true_labels is None:
            return None
        if ds.is_multilabel:  # (N, K) true sets, -1 where unknown
            return self._cached("known", (ds.true_labels,), lambda: (ds.true_labels >= 0).all(1))
        return self._cached("known", (ds.true_labels,), lambda: ds.true_labels >= 0)

    @property
    def quality_reason(self) -> str | None:
        """Why precision and recall cannot be measured here; None when they can (true labels
        known for some samples, and among them both mislabeled and correct ones)."""
        ds, known = self.dataset, self.known_truth
        if known is None or not known.any():
            return (
                "Precision, recall and the detectors' curves need the true labels (known for "
                "simulated noise or after human review)."
            )
        noisy = ds.is_noisy[known]
        if not noisy.any():
            return "Precision and recall are undefined: no known sample is mislabeled."
        if noisy.all():
            return "Precision and recall are undefined: every known sample is mislabeled."
        return None

    # --- pred_probs ----------------------------------------------------------------------------
    def statistics(self, *, device=None) -> Statistics:
        """The statistics pass over ``labels`` and ``pred_probs`` (:mod:`.statistics`)."""
        ds = self.dataset
        if ds.pred_probs is None:
            raise ValueError("dataset has no pred_probs; pass pred_probs=(N, K) to Dataset.")
        return self._cached(
            "statistics",
            (ds.labels, ds.pred_probs),
            lambda: statistics_pass(ds.labels, ds.pred_probs, device=device),
        )

    def matrices(self, *, device=None) -> dict[str, np.ndarray]:
        """K×K matrices: ``confusion`` (given × argmax prediction, counts),
        ``estimated_transition`` (from the calibrated confident joint), both with pred_probs;
        ``true_counts`` (true × given, counts) and ``true_transition`` with known true labels."""
        from workbench.analysis import matrices as m

        ds, out = self.dataset, {}
        k = ds.n_classes
        if ds.pred_probs is not None:

            def from_probs():
                predicted = self.predicted
                stats = self.statistics(device=device)
                joint = calibrate_joint(stats.joint_counts, stats.counts)
                return {
                    "confusion": np.asarray(m.confusion_matrix(ds.labels, predicted, k)),
                    "estimated_transition": np.asarray(
                        m.transition_from_joint(joint), dtype=np.float64
                    ),
                }

            out.update(self._cached("probs_matrices", (ds.labels, ds.pred_probs), from_probs))
        known = self.known_truth
        if known is not None and known.any():

            def from_truth():
                true, given = ds.true_labels[known], ds.labels[known]
                return {
                    "true_counts": np.asarray(m.confusion_matrix(true, given, k)),
                    "true_transition": np.asarray(
                        m.true_transition_matrix(true, given, k), dtype=np.float64
                    ),
                }

            out.update(self._cached("truth_matrices", (ds.labels, ds.true_labels), from_truth))
        return out

    def class_joint(self, *, device=None) -> np.ndarray:
        """K×K estimated ``P(given = i, true = j)`` (rows = given, sums to 1): the calibrated
        confident joint over N (:func:`workbench.analysis.class_health.class_joint`), from the
        one statistics pass."""
        return self._class_statistics(device)["joint"]

    def _class_statistics(self, device=None) -> dict:
        """:func:`workbench.analysis.class_health.joint_from_statistics` of the one pass."""
        from workbench.analysis.class_health import joint_from_statistics

        ds = self.dataset
        stats = self.statistics(device=device)
        return self._cached(
            "class_statistics", (ds.labels, ds.pred_probs), lambda: joint_from_statistics(stats)
        )

    def class_order(self, *, device=None) -> np.ndarray:
        """Int64 (K,): classes ordered so that confused ones sit together (position -> class;
        :func:`workbench.analysis.class_health.confusion_order` of the confusion matrix)."""
        from workbench.analysis.class_health import confusion_order

        ds = self.dataset
        return self._cached(
            "class_order",
            (ds.labels, ds.pred_probs),
            lambda: confusion_order(self.matrices(device=device)["confusion"]),
        )

    def confused_pairs(self, *, device=None):
        """Pairs of classes, most confused first (any K): a DataFrame, one row per pair a < b.

        Columns: ``class_index_a``, ``class_index_b``, ``a_as_b`` / ``b_as_a`` (samples given
        a and predicted b / given b and predicted a, from the confusion matrix),
        ``num_overlapping`` (estimated samples given one of the two labels while truly the
        other, :func:`workbench.analysis.class_health.find_overlapping_classes` on
        :meth:`class_joint`), ``noise_rate`` (that number over the samples given a or b;
        higher = noisier pair). Sorted by ``num_overlapping``, then the confusion counts.
        """
        from workbench.analysis.class_health import find_overlapping_classes

        ds = self.dataset

        def compute():
            pairs = find_overlapping_classes(
                joint=self.class_joint(device=device), num_examples=ds.n_samples
            )
            a = pairs["class_index_a"].to_numpy()
            b = pairs["class_index_b"].to_numpy()
            confusion = np.asarray(self.matrices(device=device)["confusion"])
            given = np.bincount(ds.labels, minlength=ds.n_classes)
            out = pairs[["class_index_a", "class_index_b", "num_overlapping"]].copy()
            out.insert(2, "a_as_b", confusion[a, b].astype(np.int64))
            out.insert(3, "b_as_a", confusion[b, a].astype(np.int64))
            total = given[a] + given[b]
            out["noise_rate"] = np.divide(
                out["num_overlapping"].to_numpy(float),
                total,
                out=np.zeros(len(out)),
                where=total > 0,
            )
            confused = out["a_as_b"] + out["b_as_a"]
            order = np.lexsort((-confused.to_numpy(), -out["num_overlapping"].to_numpy()))
            return out.iloc[order].reset_index(drop=True)

        return self._cached("confused_pairs", (ds.labels, ds.pred_probs), compute)

    def class_health(self, *, device=None) -> dict:
        """Class health from the one statistics pass: the dict of
        :func:`workbench.analysis.class_health.health_summary` (``overall_label_health_score``,
        ``joint``, ``classes_by_label_quality`` with class names, lowest quality first,
        ``overlapping_classes`` most overlapping first, ``num_label_issues``); needs pred_probs."""
        from workbench.analysis.class_health import summary_from_joint

        ds = self.dataset
        joint = self._class_statistics(device)
        return self._cached(
            "class_health",
            (ds.labels, ds.pred_probs),
            lambda: summary_from_joint(joint, class_names=list(ds.class_names)),
        )

    @property
    def predicted(self) -> np.ndarray:
        """Int64 (N,): the argmax of ``pred_probs`` (first maximum)."""
        ds = self.dataset
        if ds.pred_probs is None:
            raise ValueError("dataset has no pred_probs; pass pred_probs=(N, K) to Dataset.")
        return self._cached(
            "predicted",
            (ds.pred_probs,),
            lambda: np.argmax(ds.pred_probs, axis=1).astype(np.int64),
        )

    def estimated_num_errors(self, *, device=None) -> int | None:
        """Label errors estimated from the calibrated confident joint (off-diagonal total);
        None without pred_probs."""
        if self.dataset.pred_probs is None:
            return None
        from workbench.analysis.matrices import num_errors_from_statistics

        ds = self.dataset
        return self._cached(
            "n_errors",
            (ds.labels, ds.pred_probs),
            lambda: num_errors_from_statistics(self.statistics(device=device)),
        )

    # --- features ------------------------------------------------------------------------------
    def knn_graph(self, n_neighbors: int = 10, metric: str = "cosine", *, device=None,
                  progress: bool = True):  # fmt: skip
        """The kNN graph of ``features`` (:func:`workbench.compute.knn.knn_graph`), searched once
        per metric: a graph with at least ``n_neighbors`` neighbours is reused (its first
        columns), so every detector that needs neighbours shares one search."""
        from workbench.compute.knn import METRICS, knn_graph

        ds = self.dataset
        if ds.features is None:
            raise ValueError("dataset has no features; pass features=(N, D) array to Dataset.")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, found {metric!r}.")
        hit = self._memo.get(("knn", metric))
        if hit is not None and hit[0][0] is ds.features:
            graph = hit[1]
            if isinstance(n_neighbors, (int, np.integer)) and 1 <= n_neighbors <= graph.n_neighbors:
                return graph.truncate(int(n_neighbors))
        graph = knn_graph(ds.features, n_neighbors, metric=metric, device=device, progress=progress)
        self._memo[("knn", metric)] = ((ds.features,), graph)
        return graph

    # --- detector quality (needs known truth) ---------------------------------------------------
    def _truth_for(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reason = self.quality_reason
        if reason is not None:
            raise ValueError(reason)
        known = self.known_truth
        return np.asarray(scores)[known], self.dataset.is_noisy[known]

    def pr_curve(self, name: str, scores: np.ndarray, *, max_points: int = MAX_CURVE_POINTS):
        """``(precision, recall)`` of the noise scores ``scores`` (N,) of detector ``name`` over
        every threshold, on the samples with known truth, thinned to at most ``max_points``
        points (the first and last kept; a curve need not hold N points)."""
        from workbench.analysis.metrics import pr_curve

        def compute():
            s, noisy = self._truth_for(scores)
            precision, recall, *_ = pr_curve(s, noisy)
            precision, recall = np.asarray(precision, float), np.asarray(recall, float)
            if len(precision) > max_points:
                keep = np.unique(np.linspace(0, len(precision) - 1, max_points).round().astype(int))
                precision, recall = precision[keep], recall[keep]
            return precision, recall

        return self._cached(("pr", name, max_points), (scores, self.dataset.true_labels), compute)

    def average_precision(self, name: str, scores: np.ndarray) -> float:
        """Average precision of ``scores`` against the known truth (higher = better ranking)."""
        from workbench.analysis.metrics import average_precision

        def compute():
            s, noisy = self._truth_for(scores)
            return float(average_precision(s, noisy))

        return self._cached(("ap", name), (scores, self.dataset.true_labels), compute)

    def evaluate(self, results: dict) -> object:
        """:func:`workbench.analysis.metrics.evaluate` of ``results`` on the known samples
        (a DataFrame, one row per detector); None when quality cannot be measured."""
        if self.quality_reason is not None:
            return None
        from workbench.analysis.metrics import evaluate

        known = self.known_truth
        sub = results if known.all() else {n: r.subset(known) for n, r in results.items()}
        return evaluate(sub, self.dataset.is_noisy[known])
