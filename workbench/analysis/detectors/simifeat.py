"""SimiFeat: training-free label-error detection by kNN voting and ranking on features.

N samples, K classes, D feature dimensions, k neighbours, R repeats. Zhu, Dong, Liu,
"Detecting Corrupted Labels Without Training a Model to Predict" (ICML 2022). Samples close in
a good feature space tend to share their true label, so a sample's k nearest neighbours vote
on it. The paper repeats this over rounds and votes; here each of R repeats draws a random
subset of the feature dimensions, builds the kNN graph on it and flags samples:

- ``"vote"``: the neighbours' majority class is not the given label;
- ``"rank"`` (the paper's ranking rule): within each given class c, the ``n_c`` samples whose
  neighbours agree least with their label, ``n_c`` = the class's size × the share of wrong
  labels among the samples given c that HOC estimates from the features
  (:mod:`workbench.analysis.hoc`; estimated once on all features here, where the paper
  re-estimates it every round).

A sample is flagged when more than half the repeats flag it.
"""

from __future__ import annotations

import numpy as np

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors.base import DetectorResult
from workbench.analysis.detectors.features import KNNDetector, knn_label_vote, resolve_metric
from workbench.analysis.detectors.registry import register
from workbench.analysis.hoc import MAX_CLASSES, estimate_transition_hoc
from workbench.compute.knn import knn_graph
from workbench.core.dataset import Dataset
from workbench.core.validation import check_int, check_number, check_rng

__all__ = ["METHODS", "SimiFeatDetector"]

#: SimiFeat's two flag rules per repeat.
METHODS = ("rank", "vote")


def _rank_flags(labels, agreement, n_flag) -> np.ndarray:
    """Per given class c, flag the ``n_flag[c]`` samples with the lowest agreement (stable)."""
    flags = np.zeros(len(labels), bool)
    order = np.lexsort((agreement, labels))  # by class, then by agreement
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=len(n_flag)))])
    for c, m in enumerate(n_flag):
        if m > 0:
            flags[order[bounds[c] : bounds[c] + m]] = True
    return flags


@register
class SimiFeatDetector(KNNDetector):
    """SimiFeat: how consistently the k nearest neighbours, over random feature subsets,
    outvote the given label.

    Score: ``(repeats flagging the sample + mean share of neighbours with another label) /
    (R + 1)``, in [0, 1]; **higher = more likely mislabeled**, ordered by the number of
    repeats that flag the sample first. Flag rule: more than half of the ``n_repeats``
    repeats flag it (see the module docstring for ``method``). Suggested label: the majority
    class of the k nearest neighbours on all features.

    Parameters
    ----------
    k : int, default=10
        Neighbours per sample; unavailable when N <= k.
    n_repeats : int, default=21
        Rounds, each on its own random subset of the feature dimensions (odd: the vote over
        rounds never ties).
    feature_fraction : float in (0, 1], default=0.75
        Share of the D dimensions drawn per round (at least one).
    method : {"rank", "vote"}, default="rank"
    metric : {"auto", "cosine", "euclidean"}, default="auto"
        As ``knn_disagreement``, decided per subset.
    seed : int or numpy.random.Generator, default=0
        Draws the feature subsets.
    device : str, optional
        Torch device for the kNN searches.

    Notes
    -----
    ``details``: ``flag_share`` (N,) share of repeats that flag each sample,
    ``disagreement`` (N,) mean share of neighbours with another label, ``noisy_share``
    (K,) the HOC estimate of the wrong labels per given class (``"rank"``), ``metric``.
    """

    name = "simifeat"
    requires = ("features",)
    summary = (
        "Repeats, on random feature subsets, in which the k nearest neighbours outvote the label."
    )
    reference = (
        "Zhu, Dong, Liu - Detecting Corrupted Labels Without Training a Model to Predict "
        "(SimiFeat, ICML 2022)"
    )

    def __init__(
        self,
        k: int = 10,
        n_repeats: int = 21,
        feature_fraction: float = 0.75,
        method: str = "rank",
        metric: str = "auto",
        seed=0,
        device=None,
    ):
        self.k = k
        self.n_repeats = n_repeats
        self.feature_fraction = feature_fraction
        self.method = method
        self.metric = metric
        self.seed = seed
        self.device = device

    def missing(self, dataset: Dataset) -> str | None:
        reason = super().missing(dataset)
        if reason is None and self.method == "rank" and dataset.n_classes > MAX_CLASSES:
            return (
                f"Needs at most {MAX_CLASSES} classes for method='rank' (HOC), found "
                f"K={dataset.n_classes}; use method='vote'."
            )
        return reason

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        k = check_int(self.k, "k", low=2 if self.method == "rank" else 1)
        repeats = check_int(self.n_repeats, "n_repeats")
        fraction = check_number(self.feature_fraction, "feature_fraction", low=1e-12, high=1.0)
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, found {self.method!r}.")
        rng = check_rng(self.seed)
        x, labels, n_classes = dataset.features, dataset.labels, dataset.n_classes
        metric = resolve_metric(self.metric, x)
        full = analysis_of(dataset).knn_graph(k, metric, device=self.device, progress=progress)
        suggested = knn_label_vote(labels, full, n_classes=n_classes).majority
        noisy_share = None
        if self.method == "rank":
            hoc = estimate_transition_hoc(labels, full, n_classes=n_classes)
            noisy_share = hoc.noisy_share_given()
            n_flag = np.round(noisy_share * np.bincount(labels, minlength=n_classes)).astype(int)
        d = x.shape[1]
        width = max(1, int(round(fraction * d)))
        count = np.zeros(len(labels), np.int64)
        disagreement = np.zeros(len(labels))
        from tqdm.auto import tqdm

        for _ in tqdm(range(repeats), desc="simifeat", disable=not progress):
            dims = np.sort(rng.choice(d, size=width, replace=False))
            sub = np.ascontiguousarray(x[:, dims])
            graph = knn_graph(
                sub, k, metric=resolve_metric(self.metric, sub), device=self.device, progress=False
            )
            vote = knn_label_vote(labels, graph, n_classes=n_classes)
            disagreement += 1.0 - vote.agreement
            if self.method == "vote":
                count += vote.majority != labels
            else:
                count += _rank_flags(labels, vote.agreement, n_flag)
        disagreement /= repeats
        details = {
            "flag_share": count / repeats,
            "disagreement": disagreement,
            "metric": metric,
        }
        if noisy_share is not None:
            details["noisy_share"] = noisy_share
        return DetectorResult(
            self.name,
            scores=(count + disagreement) / (repeats + 1),
            flags=2 * count > repeats,
            suggested_labels=suggested,
            params=self.get_params(),
            details=details,
        )
