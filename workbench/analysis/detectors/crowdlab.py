"""CROWDLAB: consensus labels and quality scores from several annotators and a model together.

N samples, K classes, M annotators, E models. ``annotators`` is (N, M) with -1 (or NaN) where
an annotator did not label a sample; ``pred_probs`` (N, K) are a model's out-of-sample
(cross-validated) predicted probabilities, or (E, N, K) for several models (the ensemble
variant).

Goh, Tkachenko, Mueller, "CROWDLAB: Supervised learning to infer consensus labels and quality
scores for data with multiple annotators" (NeurIPS 2022 Human in the Loop Learning workshop;
arXiv:2210.06812). Every annotator's label and the model's probabilities are combined into a
posterior per sample, a weighted average whose weights say how much better than "always the
most common class" each annotator and the model agree with the consensus:

- ``a_m`` (annotator weight) = ``max(1 - (1 - agreement_m) / e, 1e-6)``, where ``agreement_m``
  is how often annotator m agrees with the other annotators of the same samples and ``e`` the
  error of always answering the most common consensus class;
- ``w`` (model weight) = ``max(1 - model_error / e, 1e-6) * sqrt(mean annotations per sample)``;
- ``post[i, k] = (w * p[i, k] + sum_m a_m * L_m(k)) / (w + sum_m a_m)``, ``L_m(k)`` = the mean
  agreement with the consensus when annotator m said k, else the rest spread over K - 1 classes.

The consensus label is the argmax of the posterior (``"best_quality"``; the majority vote on a
tie), its quality the posterior of the consensus, an annotator's quality a weighted mean of
the posterior of their labels and their agreement with the consensus. Same numbers as cleanlab
2.9's ``multiannotator.get_label_quality_multiannotator`` (``quality_method="crowdlab"``) and
``get_label_quality_multiannotator_ensemble``; unlike cleanlab, samples nobody labelled (they
keep the model's probabilities) and annotators who labelled nothing (NaN quality) are allowed.

The detector ``crowdlab`` scores the **given** label: ``1 - post[i, given]``, **higher = more
likely mislabeled**; it flags samples whose consensus differs from the given label and suggests
the consensus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.analysis.detectors.annotators import (
    AnnotatorDetector,
    check_annotators,
    majority_vote,
)
from workbench.analysis.detectors.base import DetectorResult
from workbench.analysis.detectors.registry import register
from workbench.core.dataset import Dataset
from workbench.core.typing import ArrayLike
from workbench.core.validation import as_array, check_pred_probs

__all__ = ["CONSENSUS_METHODS", "CrowdlabResult", "CrowdlabDetector", "crowdlab"]

#: How the consensus label is chosen.
CONSENSUS_METHODS = ("best_quality", "majority_vote")

_LOW = 1e-6  # cleanlab's CLIPPING_LOWER_BOUND
#: Most elements of an (rows, K) block built at once while mixing in the annotators.
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True, eq=False)
class CrowdlabResult:
    """What CROWDLAB infers.

    Attributes
    ----------
    consensus_labels : ndarray of shape (N,), int64
    consensus_quality : ndarray of shape (N,), float64
        Posterior probability of the consensus label (a *quality*: low = doubtful consensus).
    annotator_agreement : ndarray of shape (N,), float64
        Share of the sample's annotators who chose the consensus; NaN where nobody labelled.
    n_annotations : ndarray of shape (N,), int64
    posterior : ndarray of shape (N, K), float64
        The annotators and the model combined; rows sum to 1.
    label_quality : ndarray of shape (N, M), float64
        Posterior of each annotator's label (cleanlab's ``detailed_label_quality``); NaN where
        the annotator did not label the sample.
    annotator_stats : DataFrame, one row per annotator (index: annotator 0..M-1)
        ``annotator_quality``, ``agreement_with_consensus``, ``worst_class`` (-1 for an
        annotator who labelled nothing), ``num_examples_labeled``; sorted worst first, as
        cleanlab sorts it.
    model_weight : float or ndarray of shape (E,)
    annotator_weight : ndarray of shape (M,)
    """

    consensus_labels: np.ndarray
    consensus_quality: np.ndarray
    annotator_agreement: np.ndarray
    n_annotations: np.ndarray
    posterior: np.ndarray
    label_quality: np.ndarray
    annotator_stats: pd.DataFrame
    model_weight: float | np.ndarray
    annotator_weight: np.ndarray

    def label_quality_frame(self) -> pd.DataFrame:
        """cleanlab's ``label_quality`` table: ``consensus_label``, ``consensus_quality_score``,
        ``annotator_agreement``, ``num_annotations``."""
        return pd.DataFrame(
            {
                "consensus_label": self.consensus_labels,
                "consensus_quality_score": self.consensus_quality,
                "annotator_agreement": self.annotator_agreement,
                "num_annotations": self.n_annotations,
            }
        )


def crowdlab(
    annotators: ArrayLike,
    pred_probs: ArrayLike,
    *,
    consensus_method: str = "best_quality",
) -> CrowdlabResult:
    """Consensus labels, their quality and every annotator's quality (CROWDLAB).

    Parameters
    ----------
    annotators : array-like of shape (N, M)
        Class indices 0..K-1; -1 or NaN where an annotator did not label a sample. At least
        one sample needs two or more annotations (the weights come from such samples).
    pred_probs : array-like of shape (N, K), or (E, N, K) for E models
        Out-of-sample predicted probabilities; several models give the ensemble variant (each
        model weighted by its own accuracy, cleanlab's
        ``get_label_quality_multiannotator_ensemble``).
    consensus_method : {"best_quality", "majority_vote"}, default="best_quality"
        ``"best_quality"``: argmax of the posterior (the majority vote on a tie);
        ``"majority_vote"``: the majority vote (ties broken as
        :func:`workbench.analysis.detectors.annotators.majority_vote`, by the model's
        probabilities first). The ensemble variant always uses ``"best_quality"``.

    Returns
    -------
    CrowdlabResult
    """
    if consensus_method not in CONSENSUS_METHODS:
        raise ValueError(
            f"consensus_method must be one of {CONSENSUS_METHODS}, found {consensus_method!r}."
        )
    raw = as_array(pred_probs, "pred_probs")
    if raw.ndim not in (2, 3):
        raise ValueError(
            f"pred_probs must have shape (N, K) or (E, N, K) for E models, found {raw.shape}."
        )
    models = raw[None] if raw.ndim == 2 else raw
    if len(models) < 1:
        raise ValueError("pred_probs holds no model; expected shape (E, N, K) with E >= 1.")
    probs = np.stack(
        [
            check_pred_probs(p, name="pred_probs" if raw.ndim == 2 else f"pred_probs[{e}]",
                             dtype=np.float64 if raw.dtype == np.float64 else np.float32)
            for e, p in enumerate(models)
        ]
    )  # fmt: skip
    codes, k = check_annotators(annotators, probs.shape[2])
    if len(codes) != probs.shape[1]:
        raise ValueError(
            f"annotators has {len(codes)} rows but pred_probs has {probs.shape[1]} samples."
        )
    n_ann = (codes >= 0).sum(axis=1)
    if not (n_ann > 1).any():
        raise ValueError(
            "annotators must give at least one sample two or more annotations (CROWDLAB weighs "
            "annotators by their agreement with each other); found at most one per sample."
        )
    return _crowdlab(codes, probs, k, consensus_method, ensemble=raw.ndim == 3)


def _crowdlab(codes, probs, k, consensus_method, *, ensemble: bool) -> CrowdlabResult:
    n_ann = (codes >= 0).sum(axis=1)
    mean_probs = probs[0] if not ensemble else np.mean(probs, axis=0)
    vote, _ = majority_vote(codes, k, pred_probs=mean_probs)
    stats = _consensus_stats(codes, probs, n_ann, vote, k, ensemble)
    consensus = vote
    if ensemble or consensus_method == "best_quality":
        post = stats[2]
        top = post.max(axis=1, keepdims=True)
        unique = (post == top).sum(axis=1) == 1
        consensus = np.where(unique, post.argmax(axis=1), vote)
        stats = _consensus_stats(codes, probs, n_ann, consensus, k, ensemble)
    agreement, quality, post, model_weight, annotator_weight = stats
    detailed = np.full(codes.shape, np.nan)
    has = codes >= 0
    for m in range(codes.shape[1]):
        detailed[has[:, m], m] = post[has[:, m], codes[has[:, m], m]]
    weight = float(np.mean(model_weight)) if ensemble else model_weight
    table = _annotator_stats(codes, consensus, n_ann, quality, detailed, weight, annotator_weight)
    return CrowdlabResult(
        consensus_labels=consensus.astype(np.int64),
        consensus_quality=quality,
        annotator_agreement=agreement,
        n_annotations=n_ann.astype(np.int64),
        posterior=post,
        label_quality=detailed,
        annotator_stats=table,
        model_weight=model_weight,
        annotator_weight=annotator_weight,
    )


def _consensus_stats(codes, probs, n_ann, consensus, k, ensemble):
    """Agreement with ``consensus``, the posterior and weights, and the consensus quality."""
    n, m = codes.shape
    has = codes >= 0
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN for samples nobody labelled
        agreement = ((codes == consensus[:, None]) & has).sum(axis=1) / n_ann
    multi = n_ann > 1
    likely = np.mean(agreement[multi])  # P(an annotator says the consensus)
    unlikely = (1 - likely) / (k - 1)
    cons = consensus[multi]
    common = np.argmax(np.bincount(cons, minlength=k))
    base_error = np.clip(np.mean(cons != common), _LOW, None)
    adjusted = np.clip(1 - (1 - _agreement_with_annotators(codes, n_ann)) / base_error, _LOW, None)
    scale = np.sqrt(np.mean(n_ann[n_ann > 0]))
    model_weight = np.array(
        [max(1 - np.mean(np.argmax(p[multi], axis=1) != cons) / base_error, _LOW) * scale
         for p in probs]
    )  # fmt: skip
    post = np.empty((n, k), dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // max(k, 1))
    classes = np.arange(k)
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        if ensemble:
            num = np.zeros((rows.stop - start, k))
            den = np.zeros(rows.stop - start)
            for e, p in enumerate(probs):
                num += p[rows].astype(np.float64) * model_weight[e]
                den += model_weight[e]
        else:
            num = probs[0][rows] * model_weight[0]
            den = np.full(rows.stop - start, model_weight[0])
        # the sums in cleanlab's order, so that the posteriors agree to the last bit: the
        # ensemble averages models then annotators; one model adds the annotators' total last
        annotation_weight = den if ensemble else np.zeros(rows.stop - start)
        for j in range(m):
            said = has[rows, j]
            lik = np.where(codes[rows, j][said][:, None] == classes, likely, unlikely)
            num[said] += adjusted[j] * lik
            annotation_weight[said] += adjusted[j]
        total = annotation_weight if ensemble else annotation_weight + den
        post[rows] = num / total[:, None]
    quality = post[np.arange(n), consensus] if (consensus >= 0).all() else _quality(post, consensus)
    weight = model_weight if ensemble else float(model_weight[0])
    return agreement, quality, post, weight, adjusted


def _quality(post, consensus):
    out = np.full(len(consensus), np.nan)
    ok = consensus >= 0
    out[ok] = post[np.flatnonzero(ok), consensus[ok]]
    return out


def _agreement_with_annotators(codes, n_ann) -> np.ndarray:
    """Per annotator: how often the other annotators of the same samples gave the same label
    (weighted by the number of others); the mean of the others for an annotator with no
    shared sample."""
    m = codes.shape[1]
    has = codes >= 0
    out = np.full(m, np.nan)
    for j in range(m):
        rows = has[:, j]
        others = n_ann[rows] - 1
        if others.sum() == 0:
            continue
        same = ((codes[rows] == codes[rows, j][:, None]) & has[rows]).sum(axis=1) - 1
        per_sample = np.where(others > 0, same / np.maximum(others, 1), 0.0)
        out[j] = np.multiply(per_sample, others).sum() / others.sum()
    missing = np.isnan(out)
    if missing.any() and (~missing).any():
        out[missing] = np.mean(out[~missing])
    return out


def _annotator_stats(codes, consensus, n_ann, quality, detailed, model_weight, annotator_weight):
    m = codes.shape[1]
    has = codes >= 0
    labelled = has.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_quality = np.where(labelled > 0, np.nansum(detailed, axis=0) / labelled, np.nan)
        multi = n_ann > 1
        on_multi = has & multi[:, None]
        agree_multi = ((codes == consensus[:, None]) & on_multi).sum(axis=0) / on_multi.sum(axis=0)
        agree_all = ((codes == consensus[:, None]) & has).sum(axis=0) / labelled
    mean_n = np.mean(n_ann[n_ann > 0])
    adjusted_total = np.sum(annotator_weight) * (mean_n / len(annotator_weight))
    w = model_weight / (model_weight + adjusted_total)
    worst = np.array([_worst_class(codes[:, j], consensus, quality) for j in range(m)])
    table = pd.DataFrame(
        {
            "annotator_quality": w * mean_quality + (1 - w) * agree_multi,
            "agreement_with_consensus": agree_all,
            "worst_class": worst.astype(np.int64),
            "num_examples_labeled": labelled.astype(np.int64),
        }
    )
    return table.sort_values(by=["annotator_quality", "agreement_with_consensus"])


def _worst_class(labels: np.ndarray, consensus: np.ndarray, quality: np.ndarray) -> int:
    """The class this annotator agrees with the consensus least on; ties: the class they
    labelled most, then the one with the best mean consensus quality, then the lowest."""
    has = labels >= 0
    if not has.any():
        return -1
    lab, right, q = labels[has], labels[has] == consensus[has], quality[has]
    classes, inverse, counts = np.unique(lab, return_inverse=True, return_counts=True)
    accuracy = np.bincount(inverse, weights=right) / counts
    pick = accuracy == accuracy.min()
    if pick.sum() > 1:
        pick &= counts == counts[pick].max()
    if pick.sum() > 1:
        mean_q = np.bincount(inverse, weights=q) / counts
        pick &= mean_q == mean_q[pick].max()
    return int(classes[np.argmax(pick)])


@register
class CrowdlabDetector(AnnotatorDetector):
    """CROWDLAB posterior that the given label is wrong, from annotators and pred_probs.

    Score: ``1 - posterior[i, given]`` in [0, 1], the posterior combining every annotator's
    label with the model's out-of-sample probabilities (:func:`crowdlab`); **higher = more
    likely mislabeled**. Flag rule: the consensus label differs from the given label.
    Suggested label: the consensus. Samples nobody labelled keep the model's probabilities.
    With several models (``pred_probs`` given as a dict), the ensemble variant weighs each.

    Parameters
    ----------
    consensus_method : {"best_quality", "majority_vote"}, default="best_quality"
        As :func:`crowdlab`.

    Notes
    -----
    ``details``: ``consensus_labels``, ``consensus_quality``, ``annotator_agreement``,
    ``n_annotations``, ``posterior`` (N, K), ``annotator_stats`` (a DataFrame),
    ``annotator_quality`` (M,) in annotator order, ``model_weight``, ``annotator_weight``.
    The detector is unavailable without a sample labelled by two or more annotators.
    """

    name = "crowdlab"
    requires = ("annotators", "pred_probs")
    summary = "1 - CROWDLAB posterior of the given label (annotators and a model combined)."
    reference = (
        "Goh, Tkachenko, Mueller - CROWDLAB: Supervised learning to infer consensus labels and "
        "quality scores for data with multiple annotators (NeurIPS 2022 HILL workshop)"
    )

    def __init__(self, consensus_method: str = "best_quality"):
        self.consensus_method = consensus_method

    def missing(self, dataset: Dataset) -> str | None:
        reason = super().missing(dataset)
        if reason is None and not ((dataset.annotators >= 0).sum(axis=1) > 1).any():
            return "Needs a sample labelled by two or more annotators; none is."
        return reason

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        models = list(dataset.pred_probs_by_model.values())
        probs = models[0] if len(models) == 1 else np.stack(models)
        fit = crowdlab(dataset.annotators, probs, consensus_method=self.consensus_method)
        labels = dataset.labels
        score = 1.0 - fit.posterior[np.arange(len(labels)), labels]
        quality = fit.annotator_stats["annotator_quality"].sort_index().to_numpy()
        return DetectorResult(
            self.name,
            scores=np.clip(score, 0.0, 1.0),
            flags=fit.consensus_labels != labels,
            suggested_labels=fit.consensus_labels,
            params=self.get_params(),
            details={
                "consensus_labels": fit.consensus_labels,
                "consensus_quality": fit.consensus_quality,
                "annotator_agreement": fit.annotator_agreement,
                "n_annotations": fit.n_annotations,
                "posterior": fit.posterior,
                "annotator_stats": fit.annotator_stats,
                "annotator_quality": quality,
                "model_weight": fit.model_weight,
                "annotator_weight": fit.annotator_weight,
            },
        )
