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

import numpy as np

from workbench.analysis.detectors._loss_mixture import LossMixture, fit_loss_mixture
from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.registry import register
from workbench.core.dataset import Dataset
from workbench.core.typing import ArrayLike
from workbench.core.validation import as_array, check_finite, check_int, check_labels, check_number

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
def _check_2d(x: ArrayLike, name: str) -> np.ndarray:
    arr = as_array(x, name)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        found = f"(N={arr.shape[0]}, E={arr.shape[1]})" if arr.ndim == 2 else str(arr.shape)
        raise ValueError(f"{name} must be 2-D of shape (N, E) with N, E >= 1, found {found}.")
    return arr


def _check_values(x: ArrayLike, name: str) -> np.ndarray:
    """A finite float (N, E) array with N >= 1 and E >= 1 (float32 kept, others to float64)."""
    arr = _check_2d(x, name)
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"{name} must hold real numbers, found dtype {arr.dtype}.")
    arr = arr if arr.dtype == np.float32 else arr.astype(np.float64, copy=False)
    check_finite(arr, name)
    return arr


def _check_predicted(predicted: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate predicted classes (N, E) and given labels (N,), both as integer codes."""
    pred = _check_2d(predicted, "predicted")
    codes, _ = check_labels(labels, name="labels")
    if len(codes) != len(pred):
        raise ValueError(
            f"Inconsistent numbers of samples: predicted={len(pred)}, labels={len(codes)}."
        )
    pred_codes, _ = check_labels(pred.reshape(-1), name="predicted")
    return pred_codes.reshape(pred.shape), codes


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
    k = check_int(k, "k", optional=True)
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


def _per_sample_loss(loss: np.ndarray, last_epochs: int | None) -> np.ndarray:
    if last_epochs is not None:
        loss = loss[:, -last_epochs:]
    return loss.mean(axis=1, dtype=np.float64)


# --- detectors -------------------------------------------------------------------------------
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

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        threshold = check_number(self.threshold, "threshold")
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

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        m = check_int(self.min_events, "min_events", optional=True)
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

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        threshold = check_number(self.threshold, "threshold")
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

    ``kind = "ambiguity"``: the score ranks **ambiguity, not label errors** (higher = more
    ambiguous). On the data map of Swayamdipta et al. (2020), x = variability and y =
    confidence over epochs, high variability is the "ambiguous" region; mislabeled samples sit
    in the "hard-to-learn" region of low confidence *and low* variability, since the model never
    fits them. On injected noise this score therefore ranks noisy samples *below* clean ones
    (AUROC under 0.5). Use it to find ambiguous samples (worth a look: unclear instances,
    overlapping classes); for label errors use ``datamap_confidence``. It is left out of votes
    across detectors and of default / best-detector picks.

    Score: std over epochs of the given label's probability, shape (N,), in [0, 0.5].

    Parameters
    ----------
    threshold : float, default=0.2
        Flag samples whose given-label probability has a standard deviation over epochs of at
        least ``threshold`` (a swing of +-0.2 around its mean).
    """

    name = "datamap_variability"
    kind = "ambiguity"
    requires = ("trajectories.given_prob",)
    summary = (
        "Ambiguity, not label errors: std over epochs of the probability of the given label "
        "(the data map's ambiguous region; noisy labels have low confidence and low variability)."
    )
    reference = DataMapConfidenceDetector.reference

    def __init__(self, threshold: float = 0.2):
        self.threshold = threshold

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        threshold = check_number(self.threshold, "threshold")
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

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        flag_after = check_number(self.flag_after, "flag_after")
        k = check_int(self.k, "k", optional=True)
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
    tasks = ("multiclass", "multilabel")  # per-sample loss: summed BCE on label sets
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

    def _score(self, dataset: Dataset, *, progress: bool) -> DetectorResult:
        threshold = check_number(self.threshold, "threshold")
        last = check_int(self.last_epochs, "last_epochs", optional=True)
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
