"""Neural relation graph detectors: label errors and outliers from features and probabilities.

N samples, K classes. Kim, Yun, Song, "Neural Relation Graph: A Unified Framework for
Identifying Label Noise and Outlier Data" (NeurIPS 2023). One graph relates every pair of
samples by ``k(i, j) = max(<x_i, x_j>, 0) · <p_i, p_j>`` (unit-length features ``x``,
out-of-sample probabilities ``p``), signed +1 / -1 by whether their labels agree; the
definitions and the blockwise computation are in :mod:`workbench.compute.relation`.

- ``relation_graph`` (label errors): a sample whose strong relations are mostly conflicts
  (similar samples with other labels) has a low reliability ``s'``; its noise score is
  ``-s' / max |s'|`` in [-1, 1], **higher = more likely mislabeled**.
- ``relation_graph_outlier`` (``kind`` ``"outlier"``): a sample that relates to nothing has
  a small kernel mass ``d``; its score is ``1 / (d + 1e-6)``, **higher = farther from the
  data**.
"""

from __future__ import annotations

import numpy as np

from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.registry import register
from workbench.compute.relation import relation_sums
from workbench.core.dataset import Dataset
from workbench.core.validation import check_number

__all__ = ["RelationGraphDetector", "RelationGraphOutlierDetector"]

REFERENCE = (
    "Kim, Yun, Song - Neural Relation Graph: A Unified Framework for Identifying Label Noise "
    "and Outlier Data (NeurIPS 2023)"
)


#: Default largest N: the kernel sums N² pairs (about a minute on a laptop CPU at 100,000).
MAX_SAMPLES = 100_000


class _RelationDetector(Detector):
    """Shared by the relation-graph detectors: features and pred_probs, and N within
    ``max_samples`` (the cost grows as N²)."""

    requires = ("features", "pred_probs")
    reference = REFERENCE

    def missing(self, dataset: Dataset) -> str | None:
        reason = super().missing(dataset)
        limit = getattr(self, "max_samples", None)
        if reason is None and isinstance(limit, (int, np.integer)) and dataset.n_samples > limit:
            return (
                f"Needs at most max_samples={limit} samples: it sums N² relations (found "
                f"N={dataset.n_samples}; raise max_samples or pass None to run it anyway)."
            )
        return reason


@register
class RelationGraphDetector(_RelationDetector):
    """Neural relation graph label reliability: conflicting relations to similar samples.

    Score: ``-s' / max |s'|`` in [-1, 1] (:mod:`workbench.compute.relation`); **higher = more
    likely mislabeled**. Flag rule: ``s' / max |s'| < -reg``, the method's own estimate of
    the noisy set, after its refinement. Suggested label: the class whose other samples
    relate most strongly to the sample.

    Parameters
    ----------
    power : float, default=4
        The kernel temperature ``t`` (the authors' default for label noise).
    threshold : float, default=0.03
        Relations with ``|r| <= threshold`` are dropped.
    reg : float, default=0.05
        ``lambda``: the flag threshold on the normalised reliability.
    max_samples : int or None, default=100000
        Unavailable above this N (the cost grows as N²); None: no limit.
    device : str, optional
        Torch device; default: the session device.

    Notes
    -----
    ``details``: ``reliability`` (``s'``), ``initial`` (``s`` before the refinement),
    ``initial_noisy`` (the estimated noisy set used by the refinement), ``density``.
    """

    name = "relation_graph"
    summary = "Conflicting relations to similar samples with confident, compatible predictions."

    def __init__(
        self,
        power: float = 4.0,
        threshold: float = 0.03,
        reg: float = 0.05,
        max_samples: int | None = MAX_SAMPLES,
        device=None,
    ):
        self.power = power
        self.threshold = threshold
        self.reg = reg
        self.max_samples = max_samples
        self.device = device

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        power = check_number(self.power, "power", low=1e-6)
        threshold = check_number(self.threshold, "threshold", low=0.0)
        reg = check_number(self.reg, "reg", low=0.0, high=1.0)
        sums = relation_sums(
            dataset.features, dataset.pred_probs, dataset.labels, power=power,
            threshold=threshold, reg=reg, device=self.device, progress=progress,
        )  # fmt: skip
        top = np.abs(sums.reliability).max()
        normalised = sums.reliability / top if top > 0 else np.zeros_like(sums.reliability)
        return DetectorResult(
            self.name,
            scores=-normalised,
            flags=normalised < -reg,
            suggested_labels=sums.support,
            params=self.get_params(),
            details={
                "reliability": sums.reliability,
                "initial": sums.initial,
                "initial_noisy": sums.noisy,
                "density": sums.density,
            },
        )


@register
class RelationGraphOutlierDetector(_RelationDetector):
    """Neural relation graph outlier score: how little kernel mass relates the sample to the
    others (``kind`` ``"outlier"``).

    Score: ``1 / (d + 1e-6)``, ``d = sum_{j != i} k(i, j)^t`` over thresholded kernel values;
    **higher = farther from the data**. Flag rule: score above its ``quantile`` quantile
    (default: the most isolated 1%). No suggested label.

    Parameters
    ----------
    power : float, default=1
        The temperature ``t`` (1 is what the authors recommend for outliers).
    threshold : float, default=0.03
    quantile : float in (0, 1), default=0.99
    max_samples : int or None, default=100000
        As ``relation_graph``.
    device : str, optional
    """

    name = "relation_graph_outlier"
    kind = "outlier"
    summary = "1 / kernel mass of the relations to every other sample (relates to nothing)."

    def __init__(
        self,
        power: float = 1.0,
        threshold: float = 0.03,
        quantile: float = 0.99,
        max_samples: int | None = MAX_SAMPLES,
        device=None,
    ):
        self.power = power
        self.threshold = threshold
        self.quantile = quantile
        self.max_samples = max_samples
        self.device = device

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        power = check_number(self.power, "power", low=1e-6)
        threshold = check_number(self.threshold, "threshold", low=0.0)
        q = check_number(self.quantile, "quantile", low=0.0, high=1.0)
        if not 0 < q < 1:
            raise ValueError(f"quantile must lie in (0, 1), found {q}.")
        sums = relation_sums(
            dataset.features, dataset.pred_probs, None, power=power, threshold=threshold,
            device=self.device, progress=progress,
        )  # fmt: skip
        scores = 1.0 / (np.maximum(sums.density, 0.0) + 1e-6)
        cut = float(np.quantile(scores, q))
        return DetectorResult(
            self.name,
            scores=scores,
            flags=scores > cut,
            params=self.get_params(),
            details={"density": sums.density, "threshold": cut},
        )
