"""The ReCoV detector: repeated cross-validation noise histogram, on the kernel in
:mod:`workbench.compute.recov`."""

from __future__ import annotations

import numpy as np

from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.registry import register
from workbench.compute.recov import recov_scores

__all__ = ["ReCoV"]


@register
class ReCoV(Detector):
    """Repeated cross-validation noise histogram (``recov``); see :func:`recov_scores`.

    Score: landings in the worst fold per repeat, each weighted by the sample's share of that
    fold's held-out loss (higher = more likely mislabeled; about 1/F for a clean sample). Flags:
    the unweighted counts significant against the no-noise binomial after Benjamini-Hochberg.
    Unavailable when a class has fewer than ``n_folds`` samples (the folds are stratified).
    """

    name = "recov"
    requires = ("features",)
    summary = (
        "How often a sample lands in the worst-scoring fold over repeated random "
        "cross-validation splits (mislabeled samples drag their fold down), each time weighted "
        "by its own share of that fold's loss."
    )
    reference = (
        'Chen, Ramanathan, Xu, Martel — "Cross-Validation Is All You Need: A Statistical '
        'Approach To Label Noise Estimation" (2023)'
    )

    def __init__(self, n_repeats: int = 200, n_folds: int = 5, metric: str = "loss",
                 alpha: float = 0.05, seed: int = 0, device=None):  # fmt: skip
        self.n_repeats = n_repeats
        self.n_folds = n_folds
        self.metric = metric
        self.alpha = alpha
        self.seed = seed
        self.device = device

    def missing(self, dataset) -> str | None:
        reason = super().missing(dataset)
        folds = self.n_folds
        if reason is None and isinstance(folds, (int, np.integer)) and not isinstance(folds, bool):
            counts = np.bincount(dataset.labels, minlength=dataset.n_classes)
            present = np.flatnonzero(counts)  # a class with no samples has no folds to fill
            c = int(present[np.argmin(counts[present])])
            if counts[c] < folds:
                return (
                    f"Needs at least n_folds={folds} samples in every class with samples, for "
                    f"stratified folds; class {dataset.class_names[c]!r} has {counts[c]}."
                )
        return reason

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        res = recov_scores(
            dataset.features, dataset.labels, n_repeats=self.n_repeats, n_folds=self.n_folds,
            metric=self.metric, alpha=self.alpha, seed=self.seed, device=self.device,
            progress=progress,
        )  # fmt: skip
        return DetectorResult(
            detector=self.name,
            scores=res.scores,
            flags=res.flags,
            params=self.get_params(),
            details=dict(
                worst_fold_rate=res.worst_fold_rate,
                counts=res.counts,
                p_values=res.p_values,
                histogram=res.histogram,
                expected_score=1.0 / self.n_folds,
                device=res.device,
            ),  # fmt: skip
        )
