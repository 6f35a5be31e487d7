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

from dataclasses import dataclass

import numpy as np

from workbench.analysis.derived import analysis_of
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
from workbench.core.validation import as_array, check_int, check_number

__all__ = [
    "MultilabelAUM",
    "MultilabelAnnotatorAgreement",
    "MultilabelConfidentLearning",
    "MultilabelDawidSkene",
    "MultilabelKNNDisagreement",
    "MultilabelLabelQuality",
    "PerClassDawidSkeneResult",
    "per_class_dawid_skene",
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


# --- Dawid-Skene on every class at once -------------------------------------------------------
#: Most (class, sample, annotator) cells of ``annotators`` that one block of classes holds: the
#: pattern keys and the sort behind them cost about 40 bytes per (class, sample) cell, so a block
#: stays near 100 MB (N = 1,000,000, M = 5: two classes a block).
_DS_BLOCK_CELLS = 1 << 24


@dataclass
class PerClassDawidSkeneResult:
    """Binary Dawid-Skene fits of every class of multi-label annotations.

    Attributes
    ----------
    posterior : ndarray of shape (N, K)
        P(sample truly has class c | its annotations of c); samples nobody labelled for class
        c get the class prior ``class_priors[c, 1]``.
    confusion : ndarray of shape (K, M, 2, 2)
        ``confusion[c, m, i, j] = P(annotator m says j | truth i)`` for class c (0 = lacks,
        1 = has); rows sum to 1, uniform for an annotator who labelled nothing for c.
    annotator_quality : ndarray of shape (K, M)
        ``sum_i class_priors[c, i] * confusion[c, m, i, i]``; NaN where m labelled nothing
        for c.
    class_priors : ndarray of shape (K, 2)
        Estimated P(lacks c), P(has c).
    log_likelihood : ndarray of shape (K, max(n_iter))
        Log-likelihood of class c's annotations after each of its iterations, NaN after its
        last one.
    n_iter : ndarray of shape (K,), int64
    converged : ndarray of shape (K,), bool
    n_votes : ndarray of shape (K, 2), int64
        Annotations saying "lacks c" and "has c".
    """

    posterior: np.ndarray
    confusion: np.ndarray
    annotator_quality: np.ndarray
    class_priors: np.ndarray
    log_likelihood: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    n_votes: np.ndarray


def per_class_dawid_skene(annotators, *, max_iter: int = 100, tol: float = 1e-6,
                          smoothing: float = 0.01, progress: bool = False,
                          ) -> PerClassDawidSkeneResult:  # fmt: skip
    """Dawid-Skene on every class's binary problem ("has c" or not), all classes in one EM.

    Gives what :func:`~workbench.analysis.detectors.annotators.dawid_skene` gives run on each
    class alone (``dawid_skene(annotators[:, :, c], 2, init="majority")``, same start, same
    steps, same stopping rule per class; equal to rounding, about 1e-12): each class stops on
    its own rule and is frozen while the others go on.

    The posterior depends on a sample only through its pattern of annotations of the class
    (one of at most 3^M: each annotator says 0, 1 or nothing), so the EM runs on the distinct
    (class, pattern) pairs weighted by how many samples share them, visiting only their
    annotations: an iteration costs O(annotations of the distinct pairs), at most what
    ``dawid_skene`` spends per class, and far less when patterns repeat (3 annotators: at most
    27 per class whatever N). Finding the patterns is one pass over the annotations. Classes
    go through in blocks of about ``2**24`` (class, sample, annotator) cells, so memory beyond
    the inputs and the (N, K) posterior stays near 100 MB at any N × K.

    Parameters
    ----------
    annotators : array-like of shape (N, M, K)
        1 / 0 where annotator m gave / did not give class c to sample n; -1 where m did not
        label n (for one class or, as :class:`~workbench.core.dataset.Dataset` stores it, for
        the whole set).
    max_iter : int, default=100
    tol : float, default=1e-6
        Class c stops when its log-likelihood per annotation improves by less than ``tol``.
    smoothing : float, default=0.01
        Dirichlet pseudo-count on every confusion cell and class-prior count.
    progress : bool, default=False
        A progress bar over the blocks of classes.

    Returns
    -------
    PerClassDawidSkeneResult
    """
    votes = as_array(annotators, "annotators")
    if votes.ndim != 3 or 0 in votes.shape:
        raise ValueError(
            f"annotators must have shape (N, M, K) with N, M, K >= 1, found {votes.shape}."
        )
    if votes.dtype.kind not in "biuf":
        raise TypeError(f"annotators must hold 1, 0 or -1 (missing), found dtype {votes.dtype}.")
    bad = (votes < -1) | (votes > 1)
    if votes.dtype.kind == "f":
        bad |= votes != np.round(votes)  # fractions, and NaN
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        raise ValueError(f"annotators must hold 1, 0 or -1 (missing), found {votes[i]} at {i}.")
    max_iter = check_int(max_iter, "max_iter")
    tol = check_number(tol, "tol", low=0)
    smoothing = check_number(smoothing, "smoothing", low=0)
    n, m, k = votes.shape
    block = max(1, _DS_BLOCK_CELLS // (n * max(m, 8)))
    from tqdm.auto import tqdm

    posterior, fits = np.empty((n, k)), []
    for lo in tqdm(range(0, k, block), desc="dawid-skene", disable=not progress):
        codes = votes[:, :, lo : lo + block].astype(np.int8).transpose(2, 0, 1)  # (k', N, M)
        fit = _dawid_skene_block(codes, max_iter, tol, smoothing)
        posterior[:, lo : lo + block] = fit.pop("posterior").T
        fits.append(fit)
    traces = [t for f in fits for t in f.pop("log_likelihood")]
    trace = np.full((k, max(len(t) for t in traces)), np.nan)
    for c, t in enumerate(traces):
        trace[c, : len(t)] = t
    out = {key: np.concatenate([f[key] for f in fits]) for key in fits[0]}
    return PerClassDawidSkeneResult(posterior=posterior, log_likelihood=trace, **out)


def _patterns(codes: np.ndarray):
    """The distinct (class, annotation pattern) rows of ``codes`` (k', N, M): their codes
    (U, M), class (U,), number of samples (U,) and, per (class, sample), its row (k' * N,)."""
    kc, n, m = codes.shape
    flat = codes.reshape(kc * n, m)
    if m * np.log(3) + np.log(kc) < 62 * np.log(2):  # (class, pattern) fits an int64 key
        key = np.repeat(np.arange(kc, dtype=np.int64) * 3**m, n)
        for j in range(m):
            key += (flat[:, j].astype(np.int64) + 1) * 3**j
        if 3**m <= n:  # a dense table of every possible pattern is no bigger than the data
            count = np.bincount(key, minlength=kc * 3**m)
            keys = np.flatnonzero(count)
            row = np.empty(len(count), np.int64)
            row[keys] = np.arange(len(keys))
            first = np.empty(len(keys), np.int64)
            first[row[key]] = np.arange(len(key))  # some sample of each pattern
            return flat[first], first // n, count[keys].astype(np.float64), row[key]
        _, first, inverse, count = np.unique(key, return_index=True, return_inverse=True,
                                             return_counts=True)  # fmt: skip
    else:  # more annotators than an int64 key holds: compare whole rows
        cls = np.repeat(np.arange(kc, dtype=np.promote_types(np.min_scalar_type(kc), np.int8)), n)
        rows = np.concatenate([cls[:, None], flat], axis=1)
        _, first, inverse, count = np.unique(rows, axis=0, return_index=True,
                                             return_inverse=True, return_counts=True)  # fmt: skip
    return flat[first], first // n, count.astype(np.float64), inverse.reshape(-1)


class _PatternEM:
    """Dawid-Skene's steps on distinct (class, annotation pattern) rows, kept as their
    annotations: ``rows``, ``annotator``, ``said`` (one entry per annotation, by row then
    annotator), ``cls`` (U,) each row's class 0..k-1, ``weight`` (U,) the number of samples with
    that pattern for that class. Only annotations are stored and visited, so many annotators
    who each labelled a few samples cost what their annotations cost."""

    def __init__(self, rows, annotator, said, cls, weight, k: int, m: int, smoothing: float):
        self.rows, self.annotator, self.said = rows, annotator, said
        self.cls, self.weight, self.k, self.m, self.smoothing = cls, weight, k, m, smoothing
        self.labelled = np.bincount(rows, minlength=len(cls)) > 0
        # (class, annotator, said) of every annotation: its confusion count; x2 + true: its
        # cell of the confusions (class, annotator, true, said) flattened
        self.cell = (cls[rows] * m + annotator) * 2 + said
        self.said_cell = (cls[rows] * m + annotator) * 4 + said

    def subset(self, keep: np.ndarray):
        """The rows of the classes where ``keep`` (k,) holds, renumbered; and which rows."""
        rows = keep[self.cls]
        renumber_row = np.cumsum(rows) - 1
        entries = rows[self.rows]
        sub = _PatternEM(
            renumber_row[self.rows[entries]], self.annotator[entries], self.said[entries],
            (np.cumsum(keep) - 1)[self.cls[rows]], self.weight[rows], int(keep.sum()), self.m,
            self.smoothing,
        )  # fmt: skip
        return sub, rows

    def m_step(self, post: np.ndarray):
        """Class priors (k, 2) and confusions (k, M, true, said) from posteriors (U, 2)."""
        k, m, s = self.k, self.m, self.smoothing
        mass = post * (self.weight * self.labelled)[:, None]
        priors = np.stack([np.bincount(self.cls, mass[:, t], minlength=k) for t in (0, 1)], 1)
        counts = np.stack(  # [class, annotator, said, true]
            [np.bincount(self.cell, mass[self.rows, t], minlength=k * m * 2) for t in (0, 1)], 1
        ).reshape(k, m, 2, 2)
        priors = priors + s
        total = priors.sum(axis=1, keepdims=True)
        priors = np.where(total > 0, priors / np.where(total > 0, total, 1), 0.5)
        counts = counts.transpose(0, 1, 3, 2) + s
        total = counts.sum(axis=3, keepdims=True)
        return priors, np.where(total > 0, counts / np.where(total > 0, total, 1), 0.5)

    def e_step(self, priors: np.ndarray, confusion: np.ndarray):
        """Posteriors (U, 2) and each class's log-likelihood of its annotations (k,)."""
        log_conf = np.log(np.maximum(confusion, 1e-300)).reshape(-1)
        # each row's annotations summed in annotator order, as dawid_skene's sparse product
        logp = np.zeros((len(self.cls), 2))
        for t in (0, 1):
            logp[:, t] = np.bincount(self.rows, log_conf[self.said_cell + 2 * t], len(self.cls))
        logp += np.log(np.maximum(priors, 1e-300))[self.cls]
        top = np.maximum(logp[:, 0], logp[:, 1])  # what logp.max(axis=1) gives, faster
        post = np.exp(logp - top[:, None])
        total = post[:, 0] + post[:, 1]
        post /= total[:, None]
        norm = top + np.log(total)
        loglik = np.bincount(self.cls, self.weight * norm * self.labelled, minlength=self.k)
        return post, loglik


def _dawid_skene_block(codes: np.ndarray, max_iter: int, tol: float, smoothing: float) -> dict:
    """:func:`per_class_dawid_skene` on one block of classes, ``codes`` (k', N, M) int8."""
    kc, n, m = codes.shape
    said, cls, weight, inverse = _patterns(codes)
    seen = said >= 0
    rows, annotator = np.nonzero(seen)
    full = em = _PatternEM(rows, annotator, said[seen], cls, weight, kc, m, smoothing)
    n_seen = seen.sum(axis=1)
    n_obs = np.maximum(np.bincount(cls, weight * n_seen, minlength=kc), 1)
    # the majority start: each sample's vote fractions, uniform where nobody labelled it
    ones = (said == 1).sum(axis=1)
    post = np.stack([n_seen - ones, ones], axis=1) / np.maximum(n_seen, 1)[:, None]
    post[~full.labelled] = 0.5

    final = np.empty_like(post)
    trace = np.full((max_iter, kc), np.nan)
    n_iter = np.zeros(kc, np.int64)
    converged = np.zeros(kc, bool)
    classes, place = np.arange(kc), np.arange(len(said))  # em's classes and rows, in full
    for it in range(max_iter):
        post, loglik = em.e_step(*em.m_step(post))
        trace[it, classes] = loglik
        n_iter[classes] += 1
        done = np.zeros(len(classes), bool)
        if it > 0:
            done = np.abs(loglik - trace[it - 1, classes]) < tol * n_obs[classes]
            converged[classes[done]] = True
        if it == max_iter - 1:
            done[:] = True
        if done.any():  # freeze the finished classes; the others go on without them
            finished = done[em.cls]
            final[place[finished]] = post[finished]
            if done.all():
                break
            em, keep = em.subset(~done)
            post, place, classes = post[keep], place[keep], classes[~done]
    priors, confusion = full.m_step(final)
    post1 = np.where(full.labelled, final[:, 1], priors[cls, 1])
    quality = np.einsum("ci,cmii->cm", priors, confusion)
    votes = np.bincount(cls[rows] * 2 + said[seen], weight[rows], minlength=kc * 2)
    per_annotator = np.bincount(cls[rows] * m + annotator, weight[rows], minlength=kc * m)
    quality[per_annotator.reshape(kc, m) == 0] = np.nan
    return {
        "posterior": post1[inverse].reshape(kc, n),
        "confusion": confusion,
        "annotator_quality": quality,
        "class_priors": priors,
        "log_likelihood": [trace[: n_iter[c], c] for c in range(kc)],
        "n_iter": n_iter,
        "converged": converged,
        "n_votes": votes.reshape(kc, 2).astype(np.int64),
    }


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
    ``confusion`` (K, M, 2, 2), ``annotator_quality`` (K, M), ``n_iter`` and ``converged``
    (K,). Classes where every annotation says the same get that side as posterior (0 or 1)
    without a fit. All classes are fitted in one EM: :func:`per_class_dawid_skene`.

    Parameters
    ----------
    max_iter : int, default=100
    seed : int, default=0
        Unused: the EM starts from the annotators' vote fractions; kept so that existing
        calls keep working.
    """

    name = "multilabel_dawid_skene"
    summary = "Per-class Dawid-Skene posterior of the given annotation (1 - pooled)."

    def __init__(self, max_iter: int = 100, seed: int = 0):
        self.max_iter = max_iter
        self.seed = seed

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        fit = per_class_dawid_skene(dataset.annotators, max_iter=self.max_iter, progress=progress)
        posterior, confusion, quality = fit.posterior, fit.confusion, fit.annotator_quality
        unanimous = (fit.n_votes == 0).any(axis=1)  # nothing for EM to weigh against
        posterior[:, unanimous] = (fit.n_votes[unanimous, 1] > 0).astype(np.float64)
        confusion[unanimous], quality[unanimous] = 0.5, np.nan
        Y = dataset.labels
        agree = np.where(Y, posterior, 1.0 - posterior)
        consensus = np.where(posterior > 0.5, True, np.where(posterior < 0.5, False, Y))
        details = {"posterior": posterior, "confusion": confusion, "annotator_quality": quality,
                   "n_iter": fit.n_iter, "converged": fit.converged}  # fmt: skip
        return self._result(dataset, agree, consensus, details)
