"""Detectors for multi-label data: every sample carries a label *set* (``Dataset.task ==
"multilabel"``, ``labels`` an (N, K) bool matrix).

Same contract as the single-label detectors: a per-sample noise score (**higher = more likely
that some class of the sample's set is wrong**), a default flag rule, and a suggested label
*set* per sample (``suggested_labels`` (N, K) of 0/1). Per-(sample, class) values sit in
``details``: ``per_class_scores`` (N, K) noise per annotation and ``per_class_flags`` (N, K)
where the detector has them.

- ``multilabel_confident_learning``: confident learning per class (cleanlab's
  ``multilabel_classification.filter.find_label_issues``, same masks);
- ``multilabel_label_quality``: pooled per-class label-quality scores (cleanlab's
  ``multilabel_classification.rank.get_label_quality_scores``);
- ``multilabel_knn_disagreement``: the neighbours' per-class votes against the given set;
- ``multilabel_annotator_agreement`` / ``multilabel_dawid_skene``: several annotators' label
  sets, per-class majority vote / per-class Dawid-Skene;
- ``multilabel_aum``: per-class area under the margin of every annotation during training
  (``trajectories["class_margin"]`` (N, K, E) of the sigmoid probe).

The per-sample loss detector ``loss_mixture`` also runs on multi-label data (per-sample summed
binary cross-entropy, recorded by the sigmoid probe).
"""

from __future__ import annotations

import numpy as np

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors.annotators import dawid_skene
from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.features import KNNDetector, resolve_metric
from workbench.analysis.detectors.registry import register
from workbench.analysis.multilabel.filter import (
    FILTERS,
    check_low_memory,
    check_options,
    confident_joint,
    low_memory_mask,
)
from workbench.analysis.multilabel.filter import per_class_mask as _per_class_mask
from workbench.analysis.multilabel.rank import check_method, make_pool, quality_pass
from workbench.core.label_sets import MULTILABEL
from workbench.core.validation import check_int, check_number

__all__ = [
    "MultilabelAUM",
    "MultilabelAnnotatorAgreement",
    "MultilabelConfidentLearning",
    "MultilabelDawidSkene",
    "MultilabelKNNDisagreement",
    "MultilabelLabelQuality",
]

MULTILABEL_REFERENCE = (
    "Thyagarajan, Snorrason, Northcutt, Mueller, 'Identifying Incorrect Annotations in "
    "Multi-Label Classification Data' (2023)"
)


def _pooled_noise(per_class_quality: np.ndarray, pooling="exponential_moving_average",
                  alpha=0.8, temperature=0.1) -> np.ndarray:  # fmt: skip
    """1 - pooled quality (N,), pooling the (N, K) per-class qualities as cleanlab does."""
    pool = make_pool(pooling, alpha, temperature)
    return 1.0 - pool(np.asarray(per_class_quality, dtype=np.float64))


def _n_errors(Y, P) -> int:
    """Samples with an annotation counted off its class's confident-joint diagonal."""
    return int(np.count_nonzero(_per_class_mask(Y, P, filter_by="confident_learning").any(1)))


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    flags = np.zeros(len(scores), bool)
    flags[np.argsort(-scores, kind="stable")[:n]] = True
    return flags


class _MultilabelDetector(Detector):
    tasks = (MULTILABEL,)
    reference = MULTILABEL_REFERENCE


@register
class MultilabelConfidentLearning(_MultilabelDetector):
    """Confident learning on every class's binary problem ("has class c" or not).

    Flags: cleanlab's multi-label ``find_label_issues`` mask for ``filter_by`` (any class of
    the sample flagged). Score: the pooled self-confidence noise (cleanlab's default label
    quality, EMA pooling) plus 1 for flagged samples, so ``score >= 1`` reproduces the flags.
    Suggested set: the given set with every flagged annotation toggled (a flagged present
    class removed, a flagged absent class added).

    Parameters
    ----------
    filter_by : one of ``workbench.analysis.multilabel.FILTERS``, default="prune_by_noise_rate"
    frac_noise : float in (0, 1], default=1.0
    min_examples_per_class : int, default=1
    low_memory : bool, default=False
        The flags of cleanlab's ``low_memory=True`` instead (its batched rule, class by class;
        ``filter_by`` and the other options then stay at their defaults); see
        :func:`workbench.analysis.multilabel.find_label_issues`.

    Notes
    -----
    ``details``: ``per_class_flags`` (N, K), ``per_class_scores`` (N, K) self-confidence noise
    of each annotation, ``confident_joint`` (K, 2, 2), ``estimated_num_errors``.
    """

    name = "multilabel_confident_learning"
    requires = ("pred_probs",)
    summary = "Confident learning per class on label sets: some annotation of the set looks wrong."

    def __init__(self, filter_by: str = "prune_by_noise_rate", frac_noise: float = 1.0,
                 min_examples_per_class: int = 1, low_memory: bool = False):  # fmt: skip
        self.filter_by = filter_by
        self.frac_noise = frac_noise
        self.min_examples_per_class = min_examples_per_class
        self.low_memory = low_memory

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        Y, P = dataset.labels, dataset.pred_probs
        check_options(P.shape[1], self.filter_by, self.frac_noise, None,
                      self.min_examples_per_class, None, None, None)  # fmt: skip
        check_low_memory(self.low_memory, self.filter_by, self.frac_noise, None,
                         self.min_examples_per_class, None)  # fmt: skip
        if self.low_memory:
            per_class = low_memory_mask(Y, P)
        else:
            per_class = _per_class_mask(
                Y, P, filter_by=self.filter_by, frac_noise=float(self.frac_noise),
                min_examples=int(self.min_examples_per_class),
            )  # fmt: skip
        quality = quality_pass(Y, P)
        if self.filter_by in FILTERS[-2:]:  # the low_* rules pick samples, not annotations
            flags = _top(_pooled_noise(quality), _n_errors(Y, P))
        else:
            flags = per_class.any(axis=1)
        noise = _pooled_noise(quality)
        return DetectorResult(
            self.name, noise + flags, flags, (Y ^ per_class).astype(np.int64),
            params=self.get_params(),
            details={
                "per_class_flags": per_class, "per_class_scores": 1.0 - quality,
                "confident_joint": confident_joint(Y, P), "estimated_num_errors": _n_errors(Y, P),
            },
        )  # fmt: skip


@register
class MultilabelLabelQuality(_MultilabelDetector):
    """Pooled label-quality noise: per class a binary label-quality score of the annotation
    (``method``), pooled over the K classes of the sample (``pooling``).

    Score: ``1 - cleanlab.multilabel_classification.rank.get_label_quality_scores``. Flags: the
    ``estimated_num_errors`` highest scores (samples with an annotation counted off the
    diagonal of its class's confident joint), or ``score >= threshold`` when given. Suggested
    set: the classes predicted with probability above 0.5.

    Parameters
    ----------
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
    adjust_pred_probs : bool, default=False
    pooling : {"exponential_moving_average", "softmin"}, default EMA
    alpha : float or None, default=0.8
    temperature : float, default=0.1
    threshold : float, optional
    """

    name = "multilabel_label_quality"
    requires = ("pred_probs",)
    summary = "1 - label quality per class, pooled over the sample's classes (EMA by default)."

    def __init__(self, method: str = "self_confidence", adjust_pred_probs: bool = False,
                 pooling: str = "exponential_moving_average", alpha: float | None = 0.8,
                 temperature: float = 0.1, threshold: float | None = None):  # fmt: skip
        self.method = method
        self.adjust_pred_probs = adjust_pred_probs
        self.pooling = pooling
        self.alpha = alpha
        self.temperature = temperature
        self.threshold = threshold

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        check_method(self.method, self.adjust_pred_probs)
        Y, P = dataset.labels, dataset.pred_probs
        quality = quality_pass(Y, P, method=self.method, adjust_pred_probs=self.adjust_pred_probs)
        scores = _pooled_noise(quality, self.pooling, self.alpha, self.temperature)
        n_errors = _n_errors(Y, P)
        if self.threshold is None:
            flags = _top(scores, n_errors)
        else:
            flags = scores >= check_number(self.threshold, "threshold")
        return DetectorResult(
            self.name, scores, flags, (P > 0.5).astype(np.int64), params=self.get_params(),
            details={"per_class_scores": 1.0 - quality, "estimated_num_errors": n_errors},
        )  # fmt: skip


@register
class MultilabelKNNDisagreement(_MultilabelDetector, KNNDetector):
    """The k nearest neighbours (in feature space) vote per class: the share of neighbours
    that carry class ``c`` against the sample's own annotation of ``c``.

    Per-class score: ``|given - share|`` (0 = every neighbour agrees). Score: those pooled over
    the K classes like label qualities (EMA of ``1 - |given - share|``, alpha 0.8), higher =
    more suspicious. Flags: some class where a strict majority of the neighbours disagrees
    with the given annotation. Suggested set: the neighbours' strict majority per class (the
    given annotation where they tie).

    Parameters
    ----------
    k : int, default=10
    metric : {"auto", "cosine", "euclidean"}, default="auto"
    device : str, optional
    """

    name = "multilabel_knn_disagreement"
    requires = ("features",)
    summary = "Neighbours' per-class votes against the given label set."
    reference = (
        "Zhu, Dong, Liu - Detecting Corrupted Labels Without Training a Model to Predict "
        "(ICML 2022); Bahri et al. - Deep k-NN for Noisy Labels (ICML 2020)"
    )

    def __init__(self, k: int = 10, metric: str = "auto", device=None):
        self.k = k
        self.metric = metric
        self.device = device

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        k = check_int(self.k, "k")
        metric = resolve_metric(self.metric, dataset.features)
        graph = analysis_of(dataset).knn_graph(k, metric, device=self.device, progress=progress)
        Y = dataset.labels
        share = np.empty(Y.shape)
        for start in range(0, len(Y), 4096):  # (rows, k, K) at a time
            stop = min(len(Y), start + 4096)
            share[start:stop] = Y[graph.indices[start:stop]].mean(axis=1)
        disagree = np.abs(Y - share)
        majority = np.where(share > 0.5, True, np.where(share < 0.5, False, Y))
        per_class_flags = majority != Y
        return DetectorResult(
            self.name, _pooled_noise(1.0 - disagree), per_class_flags.any(axis=1),
            majority.astype(np.int64), params=self.get_params(),
            details={"per_class_scores": disagree, "per_class_flags": per_class_flags,
                     "neighbour_share": share, "metric": metric, "knn_graph": graph},
        )  # fmt: skip


@register
class MultilabelAUM(_MultilabelDetector):
    """Per-class area under the margin: for every annotation, the mean over epochs of the
    logit of its given side (positive = the model being trained agrees with it), from the
    per-class margins a sigmoid probe records (``trajectories["class_margin"]``, N×K×E).

    Per-class noise: ``sigmoid(-AUM)`` (0.5 at AUM 0, towards 1 the more the training model
    disagrees with the annotation throughout). Score: those pooled like label qualities (EMA of
    ``sigmoid(AUM)``, alpha 0.8). Flags: some annotation with ``AUM < threshold`` (default 0:
    on average over training the model sided against it). Suggested set: the given set with
    those annotations toggled.

    Parameters
    ----------
    threshold : float, default=0.0
    """

    name = "multilabel_aum"
    requires = ("trajectories.class_margin",)
    summary = "Per-class area under the margin of every annotation, pooled over the sample."
    reference = "Pleiss et al. - Identifying Mislabeled Data using the Area Under the Margin (NeurIPS 2020), per class"

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        threshold = check_number(self.threshold, "threshold")
        margins = dataset.trajectories["class_margin"]
        aum = np.empty(margins.shape[:2])
        for start in range(0, len(aum), 8192):  # (rows, K, E) at a time, in float64
            aum[start : start + 8192] = margins[start : start + 8192].mean(axis=2, dtype=np.float64)
        agree = 1.0 / (1.0 + np.exp(-aum))
        per_class_flags = aum < threshold
        return DetectorResult(
            self.name, _pooled_noise(agree), per_class_flags.any(axis=1),
            (dataset.labels ^ per_class_flags).astype(np.int64), params=self.get_params(),
            details={"per_class_scores": 1.0 - agree, "per_class_flags": per_class_flags,
                     "aum": aum},
        )  # fmt: skip


class _AnnotatorSets(_MultilabelDetector):
    requires = ("annotators",)
    reference = (
        "Dawid, Skene - Maximum Likelihood Estimation of Observer Error-Rates Using the EM "
        "Algorithm (1979), applied to each class"
    )

    def missing(self, dataset) -> str | None:
        reason = super().missing(dataset)
        if reason is None and not (dataset.annotators >= 0).any():
            return "Needs at least one annotation; annotators is -1 (missing) everywhere."
        return reason

    def _result(self, dataset, agree: np.ndarray, consensus: np.ndarray, details: dict):
        """Scores from per-class agreement (N, K) with the given set; samples nobody labelled
        score 0 and keep their given set."""
        Y = dataset.labels
        labelled = (dataset.annotators >= 0).all(axis=2).any(axis=1)
        scores = np.where(labelled, _pooled_noise(agree), 0.0)
        consensus = np.where(labelled[:, None], consensus, Y)
        per_class_flags = consensus != Y
        details = {"per_class_scores": 1.0 - agree, "per_class_flags": per_class_flags, **details}
        return DetectorResult(
            self.name, scores, per_class_flags.any(axis=1), consensus.astype(np.int64),
            params=self.get_params(), details=details,
        )  # fmt: skip


@register
class MultilabelAnnotatorAgreement(_AnnotatorSets):
    """Per-class majority of several annotators' label sets against the given set.

    Per class: the share of the sample's annotators whose set agrees with the given annotation
    (has the class when it is given, lacks it when it is not). Score: 1 - those shares pooled
    (EMA, alpha 0.8). Flags: some class where a strict majority disagrees. Suggested set: the
    per-class strict majority (the given annotation on ties). Samples nobody labelled score 0.
    """

    name = "multilabel_annotator_agreement"
    summary = "Per-class majority vote of the annotators' label sets against the given set."

    def __init__(self):
        pass

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        votes = dataset.annotators  # (N, M, K), -1 where not labelled
        labelled = (votes >= 0).all(axis=2)
        n_votes = labelled.sum(axis=1)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n_votes > 0, (votes == 1).sum(axis=1) / np.maximum(n_votes, 1), 0.5)
        Y = dataset.labels
        agree = np.where(Y, share, 1.0 - share)
        consensus = np.where(share > 0.5, True, np.where(share < 0.5, False, Y))
        return self._result(dataset, agree, consensus, {"vote_share": share})


@register
class MultilabelDawidSkene(_AnnotatorSets):
    """Per-class Dawid-Skene: for every class, an EM model of each annotator's 2×2 error
    rates (saying "has c" / "lacks c" given the truth), giving ``P(sample has c)``.

    Per-class agreement: the posterior probability of the given annotation. Score: 1 - those
    pooled (EMA, alpha 0.8). Flags: some class whose posterior favours the other side (> 0.5).
    Suggested set: the classes with posterior above 0.5. ``details``: ``posterior`` (N, K),
    ``confusion`` (K, M, 2, 2), ``annotator_quality`` (K, M).
    """

    name = "multilabel_dawid_skene"
    summary = "Per-class Dawid-Skene posterior of the given annotation (1 - pooled)."

    def __init__(self, max_iter: int = 100, seed: int = 0):
        self.max_iter = max_iter
        self.seed = seed

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        votes = dataset.annotators
        n, m, k = votes.shape
        posterior = np.full((n, k), 0.5)
        confusion = np.full((k, m, 2, 2), 0.5)
        quality = np.full((k, m), np.nan)
        for c in range(k):
            codes = votes[:, :, c].astype(np.int64)  # 0/1, -1 where not labelled
            if not (codes == 1).any() or not (codes == 0).any():
                posterior[:, c] = float((codes == 1).any())  # everyone agrees on class c
                continue
            fit = dawid_skene(codes, 2, max_iter=self.max_iter, seed=self.seed)
            posterior[:, c] = fit.posterior[:, 1]
            confusion[c], quality[c] = fit.confusion, fit.annotator_quality
        Y = dataset.labels
        agree = np.where(Y, posterior, 1.0 - posterior)
        consensus = np.where(posterior > 0.5, True, np.where(posterior < 0.5, False, Y))
        details = {"posterior": posterior, "confusion": confusion, "annotator_quality": quality}
        return self._result(dataset, agree, consensus, details)
