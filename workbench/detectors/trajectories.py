"""Training-dynamics detectors: label-error scores from per-epoch loss, margin and predictions.

N samples, E epochs. Every function takes the per-epoch values of one trajectory kind as an
array of shape (N, E) (column ``e`` = the value after epoch ``e``, as recorded by
``workbench.compute.TrajectoryRecorder``) and returns one value per sample. The registered
detectors wrap them; their noise scores are **higher = more likely mislabeled**.

The idea behind all of them: a network fits clean samples early and consistently, and fits
mislabeled ones late, unstably, or never (it memorises them against the grain of the data).
The trajectories must come from training on the **given** labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import betaln, logsumexp

from ..dataset import Dataset
from ..typing import ArrayLike, SeedLike
from ..validation import as_array, check_finite, check_labels, check_rng
from .base import Detector, DetectorResult
from .registry import register

__all__ = [
    "area_under_margin",
    "forgetting_events",
    "datamap_statistics",
    "first_learned_epoch",
    "fit_loss_mixture",
    "LossMixture",
    "AUMDetector",
    "ForgettingEventsDetector",
    "DataMapConfidenceDetector",
    "DataMapVariabilityDetector",
    "FirstLearnedEpochDetector",
    "LossMixtureDetector",
]

#: Most elements of an (rows, E) temporary built at once; bounds memory for huge N × E.
_CHUNK_ELEMENTS = 1 << 22


# --- validation ------------------------------------------------------------------------------
def _check_values(x: ArrayLike, name: str) -> np.ndarray:
    """A finite float (N, E) array with N >= 1 and E >= 1 (float32 kept, others to float64)."""
    arr = as_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (N, E), found shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"{name} must hold real numbers, found dtype {arr.dtype}.")
    n, e = arr.shape
    if n < 1 or e < 1:
        raise ValueError(
            f"{name} must have at least one sample and one epoch, found shape (N={n}, E={e})."
        )
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64, copy=False)
    check_finite(arr, name)
    return arr


def _check_predicted(predicted: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate predicted classes (N, E) and given labels (N,), both as integer codes."""
    pred = as_array(predicted, "predicted")
    if pred.ndim != 2:
        raise ValueError(f"predicted must be 2-D of shape (N, E), found shape {pred.shape}.")
    n, e = pred.shape
    if n < 1 or e < 1:
        raise ValueError(
            f"predicted must have at least one sample and one epoch, found shape (N={n}, E={e})."
        )
    codes, _ = check_labels(labels, name="labels")
    if len(codes) != n:
        raise ValueError(f"Inconsistent numbers of samples: predicted={n}, labels={len(codes)}.")
    pred_codes, _ = check_labels(pred.reshape(-1), name="predicted")
    return pred_codes.reshape(n, e), codes


def _row_chunks(n: int, e: int):
    step = max(1, _CHUNK_ELEMENTS // max(e, 1))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


# --- area under the margin -------------------------------------------------------------------
def area_under_margin(margins: ArrayLike) -> np.ndarray:
    """Area under the margin (AUM) of every sample (Pleiss et al. 2020).

    Parameters
    ----------
    margins : array-like of shape (N, E)
        Per-epoch margin: logit of the given label minus the largest other logit.

    Returns
    -------
    ndarray of shape (N,), float64
        Mean margin over the epochs. **Low (negative) = likely mislabeled**: the model kept
        preferring another class. The ``aum`` detector's noise score is ``-AUM``.

    Examples
    --------
    >>> area_under_margin([[1.0, 3.0], [-2.0, 0.0]])
    array([ 2., -1.])
    """
    return _area_under_margin(_check_values(margins, "margins"))


def _area_under_margin(margins: np.ndarray) -> np.ndarray:
    return margins.mean(axis=1, dtype=np.float64)


# --- forgetting events -----------------------------------------------------------------------
def forgetting_events(predicted: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Number of forgetting events of every sample (Toneva et al. 2019).

    A forgetting event is a transition from learned (predicted class == given label after
    epoch ``t``) to not learned (predicted != given after epoch ``t + 1``).

    Parameters
    ----------
    predicted : array-like of shape (N, E)
        Predicted class after each epoch.
    labels : array-like of shape (N,)
        Given labels.

    Returns
    -------
    ndarray of shape (N,), int64
        Forgetting count per sample. **Convention:** a sample that is never learned (never
        predicted as its given label in any epoch) counts as maximally forgettable and gets
        ``E``, more than any achievable count (at most ``E // 2``). Higher = more likely
        mislabeled.

    Examples
    --------
    >>> forgetting_events([[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], [1, 1, 1])
    array([2, 0, 4])
    """
    pred, codes = _check_predicted(predicted, labels)
    return _forgetting_events(pred, codes)


def _forgetting_events(pred: np.ndarray, codes: np.ndarray) -> np.ndarray:
    n, e = pred.shape
    out = np.empty(n, dtype=np.int64)
    for rows in _row_chunks(n, e):
        correct = pred[rows] == codes[rows, None]
        counts = (correct[:, :-1] & ~correct[:, 1:]).sum(axis=1)
        out[rows] = np.where(correct.any(axis=1), counts, e)
    return out


# --- data maps -------------------------------------------------------------------------------
def datamap_statistics(given_prob: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Data-map coordinates of every sample (Swayamdipta et al. 2020, "Dataset Cartography").

    Parameters
    ----------
    given_prob : array-like of shape (N, E)
        Probability the model gives the given label after each epoch, in [0, 1].

    Returns
    -------
    confidence : ndarray of shape (N,), float64
        Mean over epochs. Low confidence ("hard to learn") = likely mislabeled.
    variability : ndarray of shape (N,), float64
        Standard deviation over epochs (population, ``ddof=0``). High = "ambiguous": the
        model kept changing its mind. Mislabeled samples usually have low confidence *and*
        low variability; high variability marks ambiguity, not label errors.

    Examples
    --------
    >>> conf, var = datamap_statistics([[0.2, 0.4], [1.0, 1.0]])
    >>> conf.round(6).tolist(), var.round(6).tolist()
    ([0.3, 1.0], [0.1, 0.0])
    """
    prob = _check_values(given_prob, "given_prob")
    if prob.min() < 0 or prob.max() > 1 + 1e-3:
        raise ValueError(
            f"given_prob must lie in [0, 1], found values in [{prob.min():.4g}, {prob.max():.4g}]."
        )
    return _datamap_statistics(prob)


def _datamap_statistics(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, e = prob.shape
    confidence = np.empty(n)
    variability = np.empty(n)
    for rows in _row_chunks(n, e):
        chunk = prob[rows].astype(np.float64)
        confidence[rows] = chunk.mean(axis=1)
        variability[rows] = chunk.std(axis=1)
    return confidence, variability


# --- first learned epoch ---------------------------------------------------------------------
def first_learned_epoch(
    predicted: ArrayLike, labels: ArrayLike, *, k: int | None = None
) -> np.ndarray:
    """Epoch from which every sample counts as learned (Yuan et al. 2023, "Late Stopping").

    Parameters
    ----------
    predicted : array-like of shape (N, E)
        Predicted class after each epoch (epochs numbered 0..E-1).
    labels : array-like of shape (N,)
        Given labels.
    k : int, optional
        None (default): the first epoch ``e`` such that the prediction equals the given label
        in every epoch from ``e`` to the end. An integer: the paper's "first k-epoch learning",
        the first epoch starting a run of ``k`` consecutive epochs predicted correctly.

    Returns
    -------
    ndarray of shape (N,), int64
        The epoch in 0..E-1, or ``E`` when the sample is never learned in that sense.
        Late (high) = likely mislabeled; the detector scores ``epoch / E`` in [0, 1].

    Examples
    --------
    >>> first_learned_epoch([[0, 1, 1], [1, 0, 1], [0, 0, 0]], [1, 1, 1])
    array([1, 2, 3])
    >>> first_learned_epoch([[1, 1, 0], [0, 1, 1], [1, 0, 1]], [1, 1, 1], k=2)
    array([0, 1, 3])
    """
    if k is not None and (not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1):
        raise ValueError(f"k must be None or a positive integer, found {k!r}.")
    pred, codes = _check_predicted(predicted, labels)
    return _first_learned_epoch(pred, codes, k)


def _first_learned_epoch(pred: np.ndarray, codes: np.ndarray, k: int | None) -> np.ndarray:
    n, e = pred.shape
    out = np.empty(n, dtype=np.int64)
    epochs = np.arange(e)
    for rows in _row_chunks(n, e):
        correct = pred[rows] == codes[rows, None]
        if k is None:
            last_wrong = np.where(correct, -1, epochs).max(axis=1)
            out[rows] = last_wrong + 1
        elif k > e:
            out[rows] = e
        else:
            csum = np.zeros((correct.shape[0], e + 1), dtype=np.int32)
            np.cumsum(correct, axis=1, out=csum[:, 1:])
            full = (csum[:, k:] - csum[:, :-k]) == k  # run of k correct epochs starting at s
            out[rows] = np.where(full.any(axis=1), full.argmax(axis=1), e)
    return out


# --- mixture model on per-sample loss --------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LossMixture:
    """A two-component mixture fitted to per-sample losses (component 0 clean, 1 noisy).

    Attributes
    ----------
    posterior : ndarray of shape (N,)
        Posterior probability of the high-loss (noisy) component, in [0, 1].
    family : {"gaussian", "beta"}
    means : ndarray of shape (2,)
        Component means in the units of the input losses (clean first).
    weights : ndarray of shape (2,)
        Mixing weights (clean first); ``weights[1]`` estimates the noise rate.
    params : ndarray of shape (2, 2)
        Per component (mean, std) on the [0, 1]-normalised losses for "gaussian", (alpha, beta)
        for "beta".
    log_likelihood : list of float
        Mean log-likelihood per sample after each EM iteration of the best start.
    converged : bool
    degenerate : bool
        True when every loss is the same; then the posterior is 0 everywhere (one cluster,
        nothing stands out as high-loss).
    """

    posterior: np.ndarray
    family: str
    means: np.ndarray
    weights: np.ndarray
    params: np.ndarray
    log_likelihood: list = field(default_factory=list)
    converged: bool = True
    degenerate: bool = False


_EPS = 1e-4  # Beta support clipping, as Arazo et al.
_VAR_FLOOR = 5e-4  # variance floor on [0, 1]-normalised losses (DivideMix's reg_covar)


def fit_loss_mixture(
    losses: ArrayLike,
    *,
    family: str = "gaussian",
    max_iter: int = 200,
    tol: float = 1e-6,
    n_init: int = 1,
    monotone: bool = True,
    seed: SeedLike = 0,
) -> LossMixture:
    """Fit a two-component mixture to per-sample losses by EM (Arazo et al. 2019; DivideMix).

    Losses are min-max normalised to [0, 1] first (and clipped to [1e-4, 1 - 1e-4] for the
    Beta family). Small-loss samples are taken as clean, the component with the larger mean as
    the noisy one.

    Parameters
    ----------
    losses : array-like of shape (N,)
        One loss per sample (e.g. the mean over epochs of the training loss).
    family : {"gaussian", "beta"}, default="gaussian"
        Gaussian components as DivideMix, or Beta components as Arazo et al. (M-step by
        weighted moments).
    max_iter : int, default=200
    tol : float, default=1e-6
        Stop when the mean log-likelihood per sample improves by less than ``tol``.
    n_init : int, default=1
        Number of starts; the first splits the samples at the median loss, the others start
        from random responsibilities drawn from ``seed``. The start with the highest
        likelihood wins.
    monotone : bool, default=True
        Correct the tails so the posterior does not fall as the loss grows: below the clean
        mean a sample is never more suspicious than one with a higher loss (a wide high-loss
        Gaussian otherwise claims the very lowest losses), above the noisy mean never less.
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    LossMixture
        ``posterior`` is the probability of the high-loss component: higher = more likely
        mislabeled.
    """
    if family not in ("gaussian", "beta"):
        raise ValueError(f"family must be 'gaussian' or 'beta', found {family!r}.")
    for arg, val in (("max_iter", max_iter), ("n_init", n_init)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < 1:
            raise ValueError(f"{arg} must be a positive integer, found {val!r}.")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, found {tol!r}.")
    arr = as_array(losses, "losses")
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"losses must be 1-D of shape (N,) with N >= 1, found shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"losses must hold real numbers, found dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    check_finite(arr, "losses")
    rng = check_rng(seed)
    return _fit_loss_mixture(arr, family, max_iter, tol, n_init, monotone, rng)


def _fit_loss_mixture(x, family, max_iter, tol, n_init, monotone, rng) -> LossMixture:
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    if span <= 1e-12 * max(1.0, abs(hi)):
        return LossMixture(
            posterior=np.zeros(len(x)),
            family=family,
            means=np.array([lo, lo]),
            weights=np.array([1.0, 0.0]),
            params=np.full((2, 2), np.nan),
            degenerate=True,
        )
    z = (x - lo) / span
    if family == "beta":
        z = np.clip(z, _EPS, 1 - _EPS)
    best = None
    for i in range(n_init):
        if i == 0:
            resp = (z > np.median(z)).astype(np.float64)
            if resp.sum() == 0:  # more than half the samples share the top value
                resp = (z >= np.median(z)).astype(np.float64)
        else:
            resp = rng.random(len(z))
        fit = _em(z, np.stack([1 - resp, resp], axis=1), family, max_iter, tol)
        if best is None or fit[-1][-1] > best[-1][-1]:
            best = fit
    post, weights, params, converged, trace = best
    order = np.argsort(_component_means(params, family))
    post, weights, params = post[:, order], weights[order], params[order]
    noisy = post[:, 1]
    means = _component_means(params, family)
    if monotone:
        noisy = _monotone_tails(z, noisy, means)
    return LossMixture(
        posterior=np.clip(noisy, 0.0, 1.0),
        family=family,
        means=lo + span * _component_means(params, family),
        weights=weights,
        params=params,
        log_likelihood=trace,
        converged=converged,
    )


def _monotone_tails(z: np.ndarray, noisy: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Remove the tail artefacts of a two-component fit so the posterior rises with the loss.

    Below the clean mean, a sample gets at most the smallest posterior between it and that
    mean (a wide noisy component no longer claims the lowest losses); above the noisy mean, at
    least the largest posterior between that mean and it (a wide clean component no longer
    claims the highest losses). Between the two means the fitted posterior is kept.
    """
    order = np.argsort(z, kind="stable")
    zs, ps = z[order], noisy[order].copy()
    low = zs <= means[0]  # a prefix of the sorted samples
    if low.any():
        ps[low] = np.minimum.accumulate(ps[low][::-1])[::-1]
    high = zs >= means[1]  # a suffix
    if high.any():
        ps[high] = np.maximum.accumulate(ps[high])
    out = np.empty_like(noisy)
    out[order] = ps
    return out


def _component_means(params: np.ndarray, family: str) -> np.ndarray:
    if family == "gaussian":
        return params[:, 0].copy()
    return params[:, 0] / params.sum(axis=1)


def _em(z, resp, family, max_iter, tol):
    trace, converged = [], False
    for _ in range(max_iter):
        weights, params = _m_step(z, resp, family)
        log_joint = np.log(np.maximum(weights, 1e-300)) + _log_density(z, params, family)
        norm = logsumexp(log_joint, axis=1)
        resp = np.exp(log_joint - norm[:, None])
        trace.append(float(norm.mean()))
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol:
            converged = True
            break
    return resp, weights, params, converged, trace


def _m_step(z, resp, family):
    total = resp.sum(axis=0) + 1e-12
    weights = total / total.sum()
    mean = (resp * z[:, None]).sum(axis=0) / total
    var = (resp * (z[:, None] - mean) ** 2).sum(axis=0) / total + _VAR_FLOOR
    if family == "gaussian":
        return weights, np.stack([mean, np.sqrt(var)], axis=1)
    mean = np.clip(mean, _EPS, 1 - _EPS)
    var = np.minimum(var, mean * (1 - mean) * (1 - 1e-6))  # keep alpha, beta positive
    common = mean * (1 - mean) / var - 1
    return weights, np.stack([mean * common, (1 - mean) * common], axis=1)


def _log_density(z, params, family):
    if family == "gaussian":
        mu, sd = params[:, 0], params[:, 1]
        return -0.5 * ((z[:, None] - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
    a, b = params[:, 0], params[:, 1]
    return (a - 1) * np.log(z)[:, None] + (b - 1) * np.log1p(-z)[:, None] - betaln(a, b)


def _per_sample_loss(loss: np.ndarray, last_epochs: int | None) -> np.ndarray:
    if last_epochs is not None:
        loss = loss[:, -last_epochs:]
    return loss.mean(axis=1, dtype=np.float64)


# --- detectors -------------------------------------------------------------------------------
def _check_threshold(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, found {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, found {value!r}.")
    return float(value)


@register
class AUMDetector(Detector):
    """Area under the margin: samples whose given label the model kept ranking below another.

    Parameters
    ----------
    threshold : float, default=0.0
        Flag samples with AUM < ``threshold``. The default 0 flags samples whose given-label
        logit was, on average over training, below the largest other logit. (Pleiss et al.
        calibrate the threshold with deliberately mislabeled "threshold samples", which needs
        a second training run; this rule needs none.)
    """

    name = "aum"
    requires = ("trajectories.margin",)
    summary = "Minus the mean over epochs of the margin (given-label logit - largest other logit)."
    reference = (
        "Pleiss et al. - Identifying Mislabeled Data using the Area Under the Margin Ranking "
        "(NeurIPS 2020)"
    )

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold

    def _score(self, dataset: Dataset) -> DetectorResult:
        threshold = _check_threshold(self.threshold, "threshold")
        aum = _area_under_margin(dataset.trajectories["margin"])
        return DetectorResult(
            self.name,
            scores=-aum,
            flags=aum < threshold,
            params=self.get_params(),
            details={"aum": aum},
        )


@register
class ForgettingEventsDetector(Detector):
    """Forgetting events: how often a sample went from learned to not learned.

    Never-learned samples score ``E`` (above any achievable count), see
    :func:`forgetting_events`.

    Parameters
    ----------
    min_events : int, optional
        Also flag samples forgotten at least ``min_events`` times. None (default) flags only
        the never-learned samples: how often a clean sample flickers grows with the number of
        epochs and the noise of SGD, so no fixed count suits every training run.
    """

    name = "forgetting_events"
    requires = ("trajectories.predicted",)
    summary = "Number of learned -> forgotten transitions over epochs; never learned counts as E."
    reference = (
        "Toneva et al. - An Empirical Study of Example Forgetting during Deep Neural Network "
        "Learning (ICLR 2019)"
    )

    def __init__(self, min_events: int | None = None):
        self.min_events = min_events

    def _score(self, dataset: Dataset) -> DetectorResult:
        m = self.min_events
        if m is not None and (not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 1):
            raise ValueError(f"min_events must be None or a positive integer, found {m!r}.")
        pred = dataset.trajectories["predicted"]
        counts = _forgetting_events(pred, dataset.labels)
        never = counts == pred.shape[1]  # E is out of reach of any real count
        flags = never if m is None else never | (counts >= m)
        return DetectorResult(
            self.name,
            scores=counts.astype(np.float64),
            flags=flags,
            params=self.get_params(),
            details={"forgetting_events": counts, "never_learned": never},
        )


def _datamap_details(dataset: Dataset) -> dict:
    confidence, variability = _datamap_statistics(dataset.trajectories["given_prob"])
    details = {"confidence": confidence, "variability": variability}
    if "predicted" in dataset.trajectories:  # Swayamdipta's third coordinate
        pred = dataset.trajectories["predicted"]
        details["correctness"] = np.concatenate(
            [(pred[r] == dataset.labels[r, None]).mean(axis=1) for r in _row_chunks(*pred.shape)]
        )
    return details


@register
class DataMapConfidenceDetector(Detector):
    """Data-map confidence: samples in the "hard-to-learn" region are likely mislabeled.

    Parameters
    ----------
    threshold : float, default=0.5
        Flag samples whose mean given-label probability is below ``threshold``.
    """

    name = "datamap_confidence"
    requires = ("trajectories.given_prob",)
    summary = "1 - mean over epochs of the probability of the given label."
    reference = (
        "Swayamdipta et al. - Dataset Cartography: Mapping and Diagnosing Datasets with "
        "Training Dynamics (EMNLP 2020)"
    )

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def _score(self, dataset: Dataset) -> DetectorResult:
        threshold = _check_threshold(self.threshold, "threshold")
        details = _datamap_details(dataset)
        return DetectorResult(
            self.name,
            scores=1.0 - details["confidence"],
            flags=details["confidence"] < threshold,
            params=self.get_params(),
            details=details,
        )


@register
class DataMapVariabilityDetector(Detector):
    """Data-map variability: the "ambiguous" samples the model kept changing its mind on.

    This ranks **ambiguity, not label errors**: a mislabeled sample that the model never fits
    has low confidence and *low* variability, so on injected noise this score can rank noisy
    samples below clean ones. Use it to separate ambiguous samples (worth a look: unclear
    instances, overlapping classes) from the hard-to-learn ones ``datamap_confidence`` finds.

    Parameters
    ----------
    threshold : float, default=0.2
        Flag samples whose given-label probability has a standard deviation over epochs of at
        least ``threshold`` (a swing of +-0.2 around its mean).
    """

    name = "datamap_variability"
    requires = ("trajectories.given_prob",)
    summary = (
        "Std over epochs of the probability of the given label: ambiguity, not a label-error "
        "score on its own."
    )
    reference = DataMapConfidenceDetector.reference

    def __init__(self, threshold: float = 0.2):
        self.threshold = threshold

    def _score(self, dataset: Dataset) -> DetectorResult:
        threshold = _check_threshold(self.threshold, "threshold")
        details = _datamap_details(dataset)
        return DetectorResult(
            self.name,
            scores=details["variability"],
            flags=details["variability"] >= threshold,
            params=self.get_params(),
            details=details,
        )


@register
class FirstLearnedEpochDetector(Detector):
    """First epoch from which a sample stays learned, as a fraction of training.

    Parameters
    ----------
    k : int, optional
        None: learned from that epoch to the end; an integer: first run of ``k`` consecutive
        correct epochs (see :func:`first_learned_epoch`).
    flag_after : float, default=0.9
        Flag samples first learned after this fraction of the epochs, or never. With the
        default ``k=None`` a clean sample the model still flickers on near the end also counts
        as learned late, so the default keeps to the last tenth of training.
    """

    name = "first_learned_epoch"
    requires = ("trajectories.predicted",)
    summary = "Epoch from which the prediction stays equal to the given label, divided by E."
    reference = (
        "Yuan et al. - Late Stopping: Avoiding Confidently Learning from Mislabeled Examples "
        "(ICCV 2023)"
    )

    def __init__(self, k: int | None = None, flag_after: float = 0.9):
        self.k = k
        self.flag_after = flag_after

    def _score(self, dataset: Dataset) -> DetectorResult:
        flag_after = _check_threshold(self.flag_after, "flag_after")
        k = self.k
        if k is not None and (not isinstance(k, (int, np.integer)) or k < 1):
            raise ValueError(f"k must be None or a positive integer, found {k!r}.")
        pred = dataset.trajectories["predicted"]
        epoch = _first_learned_epoch(pred, dataset.labels, k)
        score = epoch / pred.shape[1]
        return DetectorResult(
            self.name,
            scores=score,
            flags=score > flag_after,
            params=self.get_params(),
            details={"first_learned_epoch": epoch, "n_epochs": pred.shape[1]},
        )


@register
class LossMixtureDetector(Detector):
    """Two-component mixture on per-sample loss: posterior of the high-loss component.

    Parameters
    ----------
    family : {"gaussian", "beta"}, default="gaussian"
        Gaussian as DivideMix, Beta as Arazo et al.
    last_epochs : int, optional
        Average the loss over the last ``last_epochs`` epochs only (1 = the final epoch, as
        DivideMix does during training); None averages over every epoch, which is steadier.
    threshold : float, default=0.5
        Flag samples whose posterior of the high-loss component exceeds ``threshold``.
    seed : int, default=0
    """

    name = "loss_mixture"
    requires = ("trajectories.loss",)
    summary = "Posterior of the high-loss component of a 2-component mixture on per-sample loss."
    reference = (
        "Arazo et al. - Unsupervised Label Noise Modeling and Loss Correction (ICML 2019); "
        "Li et al. - DivideMix (ICLR 2020)"
    )

    def __init__(
        self,
        family: str = "gaussian",
        last_epochs: int | None = None,
        threshold: float = 0.5,
        seed: int = 0,
    ):
        self.family = family
        self.last_epochs = last_epochs
        self.threshold = threshold
        self.seed = seed

    def _score(self, dataset: Dataset) -> DetectorResult:
        threshold = _check_threshold(self.threshold, "threshold")
        last = self.last_epochs
        if last is not None and (not isinstance(last, (int, np.integer)) or last < 1):
            raise ValueError(f"last_epochs must be None or a positive integer, found {last!r}.")
        losses = _per_sample_loss(dataset.trajectories["loss"], last)
        fit = fit_loss_mixture(losses, family=self.family, seed=self.seed)
        return DetectorResult(
            self.name,
            scores=fit.posterior,
            flags=fit.posterior > threshold,
            params=self.get_params(),
            details={
                "loss": losses,
                "means": fit.means,
                "weights": fit.weights,
                "estimated_noise_rate": float(fit.weights[1]),
                "converged": fit.converged,
                "degenerate": fit.degenerate,
            },
        )
