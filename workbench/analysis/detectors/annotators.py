"""Several-annotator detectors: majority vote and the Dawid-Skene model of annotator errors.

N samples, K classes, M annotators. ``annotators`` is an (N, M) integer array of class
indices with -1 (or NaN) where an annotator did not label a sample. The registered detectors
compare the consensus of the annotators with the **given** label; their noise scores are
**higher = more likely mislabeled**.

Related: CROWDLAB (Goh, Tkachenko, Mueller 2022, "CROWDLAB: Supervised learning to infer
consensus labels and quality scores for data with multiple annotators") combines annotators
with a model's out-of-sample predictions; the estimators here use the annotators alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.registry import register
from workbench.core.dataset import Dataset
from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import (
    as_array,
    check_labels,
    check_number,
    check_pred_probs,
    check_rng,
)

__all__ = [
    "check_annotators",
    "majority_vote",
    "dawid_skene",
    "DawidSkeneResult",
    "AnnotatorDetector",
    "AnnotatorAgreementDetector",
    "DawidSkeneDetector",
    "annotation_indicator",
    "annotator_agreement",
    "consensus_from_tallies",
    "ds_annotator_quality",
    "ds_e_step",
    "ds_initial_posterior",
    "ds_m_step",
    "ds_m_sums",
    "vote_tallies",
]

#: Most elements of an (rows, K) vote-count block built at once; bounds memory for huge N × K.
_CHUNK_ELEMENTS = 1 << 22


# --- validation ------------------------------------------------------------------------------
def check_annotators(annotators: ArrayLike, n_classes: int | None) -> tuple[np.ndarray, int]:
    """Validate an (N, M) annotation matrix: (N, M) int64 codes with -1 where missing, and K
    (``n_classes``, or the largest label plus one)."""
    if n_classes is not None and (
        not isinstance(n_classes, (int, np.integer)) or isinstance(n_classes, bool) or n_classes < 1
    ):
        raise ValueError(f"n_classes must be a positive integer, found {n_classes!r}.")
    arr = as_array(annotators, "annotators")
    if arr.ndim != 2:
        raise ValueError(f"annotators must be 2-D of shape (N, M), found shape {arr.shape}.")
    n, m = arr.shape
    if n < 1 or m < 1:
        raise ValueError(
            f"annotators must have at least one sample and one annotator, found shape {arr.shape}."
        )
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"annotators must hold integer class indices (-1 or NaN where missing), found dtype "
            f"{arr.dtype}; encode class names first, e.g. with workbench.Dataset(annotators=...)."
        )
    codes, _ = check_labels(arr.reshape(-1), name="annotators", allow_missing=True)
    codes = codes.reshape(n, m)
    k = n_classes if n_classes is not None else max(int(codes.max()) + 1, 1)
    if codes.max() >= k:
        i = np.unravel_index(int(np.argmax(codes)), codes.shape)
        raise ValueError(
            f"annotators must hold classes 0..{k - 1} (n_classes={k}) or -1, found "
            f"{codes[i]} at index {tuple(int(j) for j in i)}."
        )
    return codes, int(k)


def _row_chunks(n: int, width: int):
    step = max(1, _CHUNK_ELEMENTS // max(width, 1))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def _vote_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """(rows, K) number of annotators choosing each class."""
    rows, m = codes.shape
    present = codes >= 0
    flat = (np.arange(rows)[:, None] * k + codes)[present]
    return np.bincount(flat, minlength=rows * k).reshape(rows, k)


# --- majority vote ---------------------------------------------------------------------------
def majority_vote(
    annotators: ArrayLike, n_classes: int | None = None, *, pred_probs: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Consensus label of several annotators by majority vote, and how strongly they agree.

    Ties are broken deterministically, in the order of
    ``cleanlab.multiannotator.get_majority_vote_label``:

    1. the tied class with the highest ``pred_probs`` (when given; compared in the precision
       they are given in, float64 included);
    2. the tied class with the fewest annotations over the whole dataset (favours the
       minority class, as cleanlab's code does);
    3. the tied class whose annotators agree best with the consensus elsewhere: every
       annotator's agreement is the share of the samples without a tie in the vote (the
       majority is one class) where they chose the majority class; an annotator with none of
       those samples gets the mean agreement of the others; a tied class scores the mean
       agreement of the sample's annotators who chose it;
    4. the lowest class index (where cleanlab draws at random).

    Parameters
    ----------
    annotators : array-like of shape (N, M)
        Class indices 0..K-1; -1 or NaN where an annotator did not label a sample.
    n_classes : int, optional
        K. Default: the largest label in ``annotators`` plus one.
    pred_probs : array-like of shape (N, K), optional
        Out-of-sample predicted probabilities, used only to break ties.

    Returns
    -------
    consensus : ndarray of shape (N,), int64
        Majority label; -1 for samples nobody labelled.
    agreement : ndarray of shape (N,), float64
        Fraction of the sample's annotators who chose the consensus label; NaN for samples
        nobody labelled.

    Examples
    --------
    >>> consensus, agreement = majority_vote([[0, 0, 1], [2, -1, 2], [-1, -1, -1]], 3)
    >>> consensus.tolist(), agreement.round(3).tolist()
    ([0, 2, -1], [0.667, 1.0, nan])
    """
    codes, k = check_annotators(annotators, n_classes)
    probs = None
    if pred_probs is not None:
        probs = check_pred_probs(pred_probs, n_samples=len(codes), n_classes=k, dtype=np.float64)
    return _majority_vote(codes, k, probs)


def _majority_vote(codes: np.ndarray, k: int, pred_probs: np.ndarray | None = None):
    class_totals, hits, seen = vote_tallies(codes, k)
    return consensus_from_tallies(
        codes, k, class_totals, annotator_agreement(hits, seen), pred_probs
    )


def vote_tallies(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole-dataset statistics the tie-breaks of :func:`majority_vote` read, as sums over
    samples (so they add up over row blocks or shards).

    Parameters
    ----------
    codes : ndarray of shape (N, M), int64
        Checked annotations (:func:`check_annotators`), -1 where missing.
    k : int

    Returns
    -------
    class_totals : ndarray of shape (K,), float64
        Annotations of each class.
    hits, seen : ndarray of shape (M,), int64
        Per annotator: samples without a tie in the vote that the annotator labelled
        (``seen``), and those where they chose the majority class (``hits``).
    """
    n, m = codes.shape
    class_totals = np.bincount(codes[codes >= 0], minlength=k).astype(np.float64)
    hits = np.zeros(m, dtype=np.int64)
    seen = np.zeros(m, dtype=np.int64)
    for rows in _row_chunks(n, max(k, m)):
        block = codes[rows]
        counts = _vote_counts(block, k)
        top = counts.max(axis=1)
        tied = counts == top[:, None]
        single = (counts.sum(axis=1) > 0) & (tied.sum(axis=1) == 1)
        winner = tied.argmax(axis=1)
        given = (block >= 0) & single[:, None]
        seen += given.sum(axis=0)
        hits += (given & (block == winner[:, None])).sum(axis=0)
    return class_totals, hits, seen


def annotator_agreement(hits: np.ndarray, seen: np.ndarray) -> np.ndarray | None:
    """Each annotator's agreement with the untied consensus, ``hits / seen`` (M,), float64
    (the third tie-break of :func:`majority_vote`); an annotator with no untied sample gets
    the mean of the others. None when no annotator has one (the tie-break then does nothing)."""
    if not seen.any():
        return None
    quality = np.full(len(seen), np.nan)
    quality[seen > 0] = hits[seen > 0] / seen[seen > 0]
    quality[seen == 0] = np.mean(quality[seen > 0])
    return quality


def consensus_from_tallies(
    codes: np.ndarray,
    k: int,
    class_totals: np.ndarray,
    quality: np.ndarray | None,
    pred_probs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`majority_vote` of the rows ``codes`` (n, M) given the whole dataset's
    ``class_totals`` (K,) and ``quality`` (M,) (:func:`vote_tallies`,
    :func:`annotator_agreement`): on any row block, the rows of the whole-dataset vote.
    Returns ``consensus`` (n,) int64 (-1 where nobody labelled) and ``agreement`` (n,)
    float64 (NaN there)."""
    n, m = codes.shape
    consensus = np.full(n, -1, dtype=np.int64)
    agreement = np.full(n, np.nan)
    still_tied = []
    for rows in _row_chunks(n, max(k, m)):
        block = codes[rows]
        counts = _vote_counts(block, k)
        total = counts.sum(axis=1)
        top = counts.max(axis=1)
        has = total > 0
        tied = counts == top[:, None]
        tied = _break_ties(tied, None if pred_probs is None else pred_probs[rows], class_totals)
        consensus[rows] = np.where(has, tied.argmax(axis=1), -1)
        agreement[rows] = np.where(has, top / np.maximum(total, 1), np.nan)
        still_tied.append(np.flatnonzero(has & (tied.sum(axis=1) > 1)) + rows.start)
    still_tied = np.concatenate(still_tied) if still_tied else np.empty(0, np.int64)
    if still_tied.size and quality is not None:
        for part in _row_chunks(len(still_tied), max(k, m)):
            idx = still_tied[part]
            block = codes[idx]
            counts = _vote_counts(block, k)
            tied = counts == counts.max(axis=1, keepdims=True)
            tied = _break_ties(tied, None if pred_probs is None else pred_probs[idx], class_totals)
            present = block >= 0
            flat = (np.arange(len(idx))[:, None] * k + block)[present]
            sums = np.bincount(
                flat, weights=np.broadcast_to(quality, block.shape)[present], minlength=len(idx) * k
            ).reshape(-1, k)
            mean = np.where(tied, sums / np.maximum(counts, 1), -np.inf)
            tied &= mean == mean.max(axis=1, keepdims=True)
            consensus[idx] = tied.argmax(axis=1)
    return consensus, agreement


def _break_ties(tied: np.ndarray, pred_probs: np.ndarray | None, class_totals: np.ndarray):
    """The first two tie-breaks of :func:`majority_vote` on a (rows, K) mask of tied classes:
    highest ``pred_probs``, then fewest annotations over the dataset."""
    if pred_probs is not None:
        p = np.where(tied, pred_probs, -np.inf)
        tied &= p == p.max(axis=1, keepdims=True)
    freq = np.where(tied, class_totals, np.inf)
    return tied & (freq == freq.min(axis=1, keepdims=True))


# --- Dawid-Skene -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DawidSkeneResult:
    """What the Dawid-Skene model infers from several annotators.

    Attributes
    ----------
    posterior : ndarray of shape (N, K)
        P(true class = k | the sample's annotations). Samples nobody labelled get the class
        priors.
    consensus_labels : ndarray of shape (N,), int64
        Most probable true class; -1 for samples nobody labelled.
    confusion : ndarray of shape (M, K, K)
        Per-annotator confusion matrices, ``confusion[m, i, j] = P(annotator m says j | true
        = i)``: rows are the true class and sum to 1. Uniform rows for annotators who labelled
        nothing.
    annotator_quality : ndarray of shape (M,)
        Estimated accuracy of each annotator, ``sum_i prior[i] * confusion[m, i, i]``; NaN for
        annotators who labelled nothing.
    class_priors : ndarray of shape (K,)
        Estimated distribution of the true classes.
    n_annotations : ndarray of shape (N,), int64
        Number of annotators who labelled each sample.
    log_likelihood : list of float
        Log-likelihood of the annotations after each iteration.
    converged : bool
    """

    posterior: np.ndarray
    consensus_labels: np.ndarray
    confusion: np.ndarray
    annotator_quality: np.ndarray
    class_priors: np.ndarray
    n_annotations: np.ndarray
    log_likelihood: list = field(default_factory=list)
    converged: bool = False

    @property
    def n_iter(self) -> int:
        return len(self.log_likelihood)


_INITS = ("majority", "random")


def dawid_skene(
    annotators: ArrayLike,
    n_classes: int | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    init: str = "majority",
    smoothing: float = 0.01,
    seed: SeedLike = 0,
) -> DawidSkeneResult:
    """Infer true labels and annotator error rates by EM (Dawid and Skene 1979).

    Each annotator ``m`` has a confusion matrix ``confusion[m, i, j] = P(says j | true = i)``
    and labels samples independently given the true class. EM alternates the posterior over
    true classes (E-step) with the priors and confusion matrices it implies (M-step),
    vectorised over samples through a sparse (N, M*K) indicator of the annotations.

    Parameters
    ----------
    annotators : array-like of shape (N, M)
        Class indices 0..K-1; -1 or NaN where an annotator did not label a sample.
    n_classes : int, optional
        K. Default: the largest label in ``annotators`` plus one.
    max_iter : int, default=100
    tol : float, default=1e-6
        Stop when the log-likelihood per annotation improves by less than ``tol``.
    init : {"majority", "random"}, default="majority"
        Start from the vote fractions of every sample, or from random posteriors drawn from
        ``seed`` (to check that a fit does not depend on its start). The likelihood does not
        depend on how the true classes are named, so after a random start the classes are
        matched to the annotators' votes (Hungarian matching).
    smoothing : float, default=0.01
        Dirichlet pseudo-count added to every confusion-matrix cell and class-prior count, so
        an annotator who never saw a class gets a uniform row instead of zeros.
    seed : int or numpy.random.Generator, default=0
        Used by ``init="random"``.

    Returns
    -------
    DawidSkeneResult
        Samples nobody labelled keep the class priors as posterior and get consensus -1; they
        do not enter the estimates. Annotators who labelled nothing get uniform confusion
        rows and NaN quality. With a single annotator the model cannot tell its errors from
        the truth and mostly returns its labels.
    """
    codes, k = check_annotators(annotators, n_classes)
    if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, found {max_iter!r}.")
    for arg, val in (("tol", tol), ("smoothing", smoothing)):
        real = (int, float, np.integer, np.floating)
        if isinstance(val, bool) or not isinstance(val, real) or not 0 <= val < np.inf:
            raise ValueError(f"{arg} must be a finite non-negative number, found {val!r}.")
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}, found {init!r}.")
    return _dawid_skene(codes, k, max_iter, float(tol), init, float(smoothing), check_rng(seed))


def _dawid_skene(codes, k, max_iter, tol, init, smoothing, rng) -> DawidSkeneResult:
    n, m = codes.shape
    indicator = annotation_indicator(codes, k)
    n_annotations = np.asarray(indicator.sum(axis=1)).reshape(-1).astype(np.int64)
    labelled = n_annotations > 0
    per_annotator = np.bincount(np.nonzero(codes >= 0)[1], minlength=m)
    n_obs = max(int(n_annotations.sum()), 1)

    if init == "majority":
        post = ds_initial_posterior(codes, k)
    else:
        post = rng.dirichlet(np.ones(k), size=n)
        post[~labelled] = 1.0 / k

    trace, converged = [], False
    for _ in range(max_iter):
        priors, confusion = ds_m_step(*ds_m_sums(indicator, post, labelled, m, k), smoothing)
        post, loglik = ds_e_step(indicator, priors, confusion, labelled)
        trace.append(loglik)
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol * n_obs:
            converged = True
            break
    if init == "random":  # the likelihood ignores how true classes are named: match the votes
        post = post[:, _align_to_votes(post, codes, k)]
    priors, confusion = ds_m_step(*ds_m_sums(indicator, post, labelled, m, k), smoothing)
    post[~labelled] = priors
    consensus = np.where(labelled, post.argmax(axis=1), -1)
    return DawidSkeneResult(
        posterior=post,
        consensus_labels=consensus.astype(np.int64),
        confusion=confusion,
        annotator_quality=ds_annotator_quality(priors, confusion, per_annotator),
        class_priors=priors,
        n_annotations=n_annotations,
        log_likelihood=trace,
        converged=converged,
    )


# The steps of the EM, public so that they run on row blocks or shards (workbench.sharded):
# the M-step reads only sums over samples (ds_m_sums adds up over blocks).
def annotation_indicator(codes: np.ndarray, k: int) -> sp.csr_matrix:
    """Sparse (N, M*K) indicator of the annotations: entry ``(n, m * K + j)`` is 1 when
    annotator m said class j for sample n."""
    n, m = codes.shape
    rows, cols = np.nonzero(codes >= 0)
    return sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols * k + codes[rows, cols])), shape=(n, m * k)
    )


def ds_initial_posterior(codes: np.ndarray, k: int) -> np.ndarray:
    """The ``init="majority"`` start of :func:`dawid_skene` on rows ``codes`` (N, M): each
    sample's vote fractions (N, K); uniform rows for samples nobody labelled."""
    n = len(codes)
    votes = np.zeros((n, k))
    for r in _row_chunks(n, k):
        votes[r] = _vote_counts(codes[r], k)
    total = votes.sum(axis=1, keepdims=True)
    post = votes / np.maximum(total, 1)
    post[total[:, 0] == 0] = 1.0 / k
    return post


def ds_m_sums(indicator, post: np.ndarray, labelled: np.ndarray, m: int, k: int):
    """The sums over samples the M-step needs: the posterior mass per class (K,) and per
    (annotator, said class, true class) (M*K, K), labelled samples only."""
    weights = post * labelled[:, None]
    return weights.sum(axis=0), np.asarray(indicator.T @ weights)


def ds_m_step(mass: np.ndarray, counts: np.ndarray, smoothing: float):
    """Class priors (K,) and confusion matrices (M, K, K) from the sums of :func:`ds_m_sums`."""
    k = len(mass)
    m = counts.shape[0] // k
    priors = mass + smoothing
    priors = priors / priors.sum() if priors.sum() > 0 else np.full(k, 1.0 / k)
    # counts[m * K + said, true] = sum over samples of post[true] where annotator m said `said`
    counts = counts.reshape(m, k, k).transpose(0, 2, 1) + smoothing
    totals = counts.sum(axis=2, keepdims=True)
    confusion = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 1.0 / k)
    return priors, confusion


def ds_e_step(indicator, priors: np.ndarray, confusion: np.ndarray, labelled: np.ndarray):
    """Posterior over the true classes (N, K) given priors and confusion matrices, and the
    log-likelihood of the labelled samples' annotations (a sum over samples)."""
    m, k = confusion.shape[0], confusion.shape[1]
    log_conf = np.log(np.maximum(confusion, 1e-300))  # (M, K_true, K_said)
    post = indicator @ log_conf.transpose(0, 2, 1).reshape(m * k, k)  # log-lik (N, K)
    post += np.log(np.maximum(priors, 1e-300))
    norm = _normalise_log_rows(post)
    return post, float(norm[labelled].sum())


def ds_annotator_quality(priors, confusion, per_annotator) -> np.ndarray:
    """Each annotator's accuracy ``sum_i prior[i] * confusion[m, i, i]`` (M,); NaN for
    annotators with no annotation (``per_annotator`` (M,) counts them)."""
    quality = np.einsum("i,mii->m", priors, confusion)
    quality[np.asarray(per_annotator) == 0] = np.nan
    return quality


def _normalise_log_rows(logp: np.ndarray) -> np.ndarray:
    """Turn rows of log-probabilities into probabilities in place; return each row's log-sum."""
    top = logp.max(axis=1, keepdims=True)
    logp -= top
    np.exp(logp, out=logp)
    total = logp.sum(axis=1, keepdims=True)
    logp /= total
    return (top + np.log(total))[:, 0]


def _align_to_votes(post: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Column order of ``post`` that best matches the annotators' votes (Hungarian matching)."""
    from scipy.optimize import linear_sum_assignment

    overlap = np.zeros((k, k))  # overlap[i, j] = sum_n post[n, i] * votes[n, j]
    for r in _row_chunks(len(codes), k):
        overlap += post[r].T @ _vote_counts(codes[r], k)
    true_idx, vote_idx = linear_sum_assignment(overlap, maximize=True)
    order = np.empty(k, dtype=np.int64)
    order[vote_idx] = true_idx
    return order


# --- detectors -------------------------------------------------------------------------------
class AnnotatorDetector(Detector):
    """Shared by the detectors that read ``annotators``: they need at least one annotation.

    A sample nobody labelled has no evidence against its label: it scores 0 (the least
    suspicious score), is never flagged and gets no suggestion (-1).
    """

    requires = ("annotators",)

    def missing(self, dataset: Dataset) -> str | None:
        reason = super().missing(dataset)
        if reason is None and not (dataset.annotators >= 0).any():
            return "Needs at least one annotation; annotators is -1 (missing) everywhere."
        return reason


@register
class AnnotatorAgreementDetector(AnnotatorDetector):
    """Share of the annotators who disagree with the given label.

    Samples nobody labelled score 0 (no evidence against their label), are never flagged and
    get no suggestion (-1). The detector is unavailable when nobody labelled anything.

    Parameters
    ----------
    threshold : float, default=0.5
        Flag samples where more than this share of the annotators disagree with the given
        label (the default: fewer than half agree, the rule of Northcutt et al.'s crowd
        verification).
    """

    name = "annotator_agreement"
    summary = "1 - fraction of the sample's annotators who chose the given label."
    reference = (
        "Majority vote of several annotators; Northcutt, Athalye, Mueller - Pervasive Label "
        "Errors in Test Sets Destabilize Machine Learning Benchmarks (NeurIPS 2021)"
    )

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        threshold = check_number(self.threshold, "threshold", low=0, high=1)
        codes, labels, k = dataset.annotators, dataset.labels, dataset.n_classes
        consensus, agreement = _majority_vote(codes, k)
        n_annotations = (codes >= 0).sum(axis=1)
        for_given = (codes == labels[:, None]).sum(axis=1)
        has = n_annotations > 0
        score = np.where(has, 1.0 - for_given / np.maximum(n_annotations, 1), 0.0)
        return DetectorResult(
            self.name,
            scores=score,
            flags=has & (score > threshold),
            suggested_labels=consensus,
            params=self.get_params(),
            details={
                "consensus_labels": consensus,
                "agreement": agreement,
                "n_annotations": n_annotations,
                "votes_for_given": for_given,
            },
        )


@register
class DawidSkeneDetector(AnnotatorDetector):
    """Posterior probability, under the Dawid-Skene model, that the given label is wrong.

    Parameters
    ----------
    max_iter, tol, init, smoothing, seed
        As :func:`dawid_skene`.

    Samples nobody labelled score 0 (no evidence against their label; their posterior in
    ``details`` is the class priors), are never flagged and get no suggestion (-1). The
    detector is unavailable when nobody labelled anything. Flags: samples whose consensus
    differs from the given label.
    """

    name = "dawid_skene"
    summary = "1 - posterior of the given label under a per-annotator confusion-matrix model."
    reference = (
        "Dawid, Skene - Maximum Likelihood Estimation of Observer Error-Rates Using the EM "
        "Algorithm (1979); related: Goh, Tkachenko, Mueller - CROWDLAB (2022)"
    )

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-6,
        init: str = "majority",
        smoothing: float = 0.01,
        seed: int = 0,
    ):
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.smoothing = smoothing
        self.seed = seed

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        fit = dawid_skene(
            dataset.annotators,
            dataset.n_classes,
            max_iter=self.max_iter,
            tol=self.tol,
            init=self.init,
            smoothing=self.smoothing,
            seed=self.seed,
        )
        labels = dataset.labels
        has = fit.n_annotations > 0
        score = np.where(has, 1.0 - fit.posterior[np.arange(len(labels)), labels], 0.0)
        return DetectorResult(
            self.name,
            scores=score,
            flags=has & (fit.consensus_labels != labels),
            suggested_labels=fit.consensus_labels,
            params=self.get_params(),
            details={
                "annotator_quality": fit.annotator_quality,
                "confusion": fit.confusion,
                "class_priors": fit.class_priors,
                "posterior": fit.posterior,
                "consensus_labels": fit.consensus_labels,
                "n_annotations": fit.n_annotations,
                "log_likelihood": fit.log_likelihood,
                "converged": fit.converged,
            },
        )
