"""Label-error detection from out-of-sample predicted probabilities: confident learning and
label-quality rankings, as functions and as registered detectors.

N samples, K classes. ``pred_probs`` (N, K) must be out-of-sample (cross-validated): a model that
trained on a sample is overconfident on it and hides its label error.

Every function here returns **noise** scores: higher = more likely mislabeled. cleanlab's label
*quality* scores are the opposite (low = suspicious); ours are ``1 - quality``.

Each computation is a statistics pass (per-class thresholds and confident-joint counts, reduced
over samples chunk by chunk, :func:`workbench.analysis.matrices.statistics`) followed by a per-sample pass
(scores and masks from those statistics). ``find_label_issues`` returns exactly the mask of
cleanlab 2.9's ``cleanlab.filter.find_label_issues`` for float32 and float64 input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors._confident_learning import (
    prune_by_class,
    prune_by_noise_rate,
    set_removals,
)
from workbench.analysis.detectors.base import Detector, DetectorResult
from workbench.analysis.detectors.registry import register
from workbench.analysis.statistics import (
    FILTERS,
    PRUNE_FILTERS,
    Statistics,
    calibrate_joint,
    check_inputs,
    cwe_quality,
    keep_at_least,
    statistics_pass,
)
from workbench.core import chunks as _chunks
from workbench.core.typing import ArrayLike

__all__ = [
    "FILTERS",
    "RANKINGS",
    "ensemble_noise_scores",
    "find_label_issues",
    "noise_scores",
]

#: Per-sample noise scores (Kuan & Mueller 2022).
RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
_PRUNE = PRUNE_FILTERS

CONFIDENT_LEARNING = (
    "Northcutt, Jiang, Chuang, 'Confident Learning: Estimating Uncertainty in Dataset Labels', "
    "JAIR 2021"
)
LABEL_QUALITY = (
    "Kuan, Mueller, 'Model-Agnostic Label Quality Scoring to Detect Real-World Label Errors', 2022"
)


# --- per-sample quality (cleanlab's direction) ---------------------------------------------------
def _quality(stats: Statistics, method: str, pred_probs: np.ndarray | None = None) -> np.ndarray:
    """cleanlab's label quality (low = suspicious), computed with its arithmetic and dtype."""
    r = stats.rows
    if method == "self_confidence":
        return r.given
    if method == "normalized_margin":
        return (r.given - r.other_max + 1) / 2
    return cwe_quality(_chunks.row_entropy(pred_probs), r.given)


def _check_choice(value, name: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, found {value!r}.")


def noise_scores(
    labels: ArrayLike, pred_probs: ArrayLike, *, method: str = "normalized_margin", device=None
) -> np.ndarray:
    """Per-sample noise score, higher = more likely mislabeled (Kuan & Mueller 2022).

    With ``p = pred_probs[i]`` and ``y = labels[i]``:

    - ``"self_confidence"``: ``1 - p[y]``;
    - ``"normalized_margin"``: ``1 - (p[y] - max_{j != y} p[j] + 1) / 2``;
    - ``"confidence_weighted_entropy"``: ``1 - log(1 + x) / x`` with
      ``x = entropy(p) / log(K) / p[y]``: 0 for a one-hot row on the given label, 1 where
      ``p[y] = 0`` (e.g. a one-hot row on another class).

    Each is exactly ``1 - cleanlab.rank.get_label_quality_scores(labels, pred_probs,
    method=method)`` (cleanlab's quality is low for suspicious samples; ours is high), with one
    deliberate difference: cleanlab clips ``p[y]`` and ``x`` at 1e-6 in
    ``confidence_weighted_entropy``, which scores a one-hot row on the given label as the most
    suspicious (noise 1). We use the limits instead, so rows with ``p[y] < 1e-6`` or
    ``x < 1e-6`` differ from cleanlab (see :func:`workbench.analysis.statistics.cwe_quality`);
    every other row is identical.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
        Out-of-sample predicted probabilities.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}

    Returns
    -------
    ndarray of shape (N,), float64, in [0, 1]

    Examples
    --------
    >>> from workbench.analysis.detectors.pred_probs import noise_scores
    >>> noise_scores([0, 1], [[0.9, 0.1], [0.8, 0.2]], method="self_confidence").round(2)
    array([0.1, 0.8])
    """
    _check_choice(method, "method", RANKINGS)
    y, p, rows = check_inputs(labels, pred_probs, rows=True, device=device)
    return 1.0 - _quality(_light_statistics(y, p, rows=rows), method, p).astype(np.float64)


def _light_statistics(y, p, device=None, rows=None) -> Statistics:
    """Row summaries without the confident joint (enough for the rankings)."""
    from workbench.compute.device import resolve_device

    if rows is None:
        rows = _chunks.row_stats(p, y, device=resolve_device(device))
    empty = np.empty(0, np.int64)
    counts = np.bincount(y, minlength=p.shape[1])
    return Statistics(y, counts, empty, empty, empty, rows, empty, empty, empty)


def ensemble_noise_scores(
    labels: ArrayLike,
    pred_probs_list: Sequence[ArrayLike],
    *,
    method: str = "normalized_margin",
    weight_by: str = "accuracy",
    weights: ArrayLike | None = None,
    device=None,
) -> np.ndarray:
    """Noise score from several models: one minus the weighted mean of their label qualities.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs_list : sequence of array-likes of shape (N, K)
        Out-of-sample probabilities of each model (at least one).
    method : one of :data:`RANKINGS`
    weight_by : {"accuracy", "uniform", "custom"}, default="accuracy"
        Model weights: proportional to each model's accuracy on the given labels, equal, or
        ``weights`` (normalised to sum to 1).

    Returns
    -------
    ndarray of shape (N,), float64
        Equal to ``1 - cleanlab.rank.get_label_quality_ensemble_scores(...)`` with the same
        ``method`` and ``weight_ensemble_members_by`` (custom weights summing to 1).
    """
    _check_choice(method, "method", RANKINGS)
    _check_choice(weight_by, "weight_by", ("accuracy", "uniform", "custom"))
    if isinstance(pred_probs_list, (str, bytes)) or not isinstance(pred_probs_list, Sequence):
        raise TypeError(
            "pred_probs_list must be a list of (N, K) arrays, found "
            f"{type(pred_probs_list).__name__}."
        )
    if len(pred_probs_list) == 0:
        raise ValueError("pred_probs_list is empty; give at least one model's (N, K) array.")
    prepared = [check_inputs(labels, p) for p in pred_probs_list]
    shapes = {p.shape for _, p in prepared}
    if len(shapes) > 1:
        raise ValueError(f"pred_probs_list arrays disagree on shape: {sorted(shapes)}.")
    w = None
    if weight_by == "custom":
        if weights is None:
            raise ValueError("weight_by='custom' needs weights, one per model.")
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(prepared) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(
                f"weights must be {len(prepared)} non-negative numbers with a positive sum, "
                f"found {weights!r}."
            )
    elif weights is not None:
        raise ValueError(f"weights are only used with weight_by='custom', found {weight_by!r}.")
    return _ensemble(prepared, method, weight_by, w, device)


def _ensemble(prepared, method, weight_by, w, device) -> np.ndarray:
    qualities, accuracies = [], []
    for y, p in prepared:
        stats = _light_statistics(y, p, device)
        qualities.append(_quality(stats, method, p))
        accuracies.append(np.mean(stats.rows.argmax == y))
    if weight_by == "uniform":
        w = np.full(len(prepared), 1.0 / len(prepared))
    elif weight_by == "accuracy":
        w = np.array(accuracies) / sum(accuracies)
    else:
        w = w / w.sum()
    return 1.0 - (np.vstack(qualities).T * w).sum(axis=1)


def _check_options(filter_by, frac_noise, min_examples_per_class, num_to_remove_per_class=None):
    _check_choice(filter_by, "filter_by", FILTERS)
    if isinstance(frac_noise, bool) or not isinstance(frac_noise, (int, float, np.number)):
        raise TypeError(f"frac_noise must be a number in (0, 1], found {frac_noise!r}.")
    if not 0 < frac_noise <= 1:
        raise ValueError(f"frac_noise must lie in (0, 1], found {frac_noise!r}.")
    if (
        isinstance(min_examples_per_class, bool)
        or not isinstance(min_examples_per_class, (int, np.integer))
        or min_examples_per_class < 0
    ):
        raise ValueError(
            f"min_examples_per_class must be an integer >= 0, found {min_examples_per_class!r}."
        )
    if filter_by not in _PRUNE and (frac_noise != 1.0 or num_to_remove_per_class is not None):
        raise ValueError(
            f"frac_noise and num_to_remove_per_class apply only to filter_by in {list(_PRUNE)}, "
            f"found filter_by={filter_by!r}."
        )


# --- find_label_issues ---------------------------------------------------------------------------
def find_label_issues(
    labels: ArrayLike,
    pred_probs: ArrayLike,
    *,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: int | Sequence[int] | None = None,
    min_examples_per_class: int = 1,
    return_indices_ranked_by: str | None = None,
    confident_joint: ArrayLike | None = None,
    device=None,
) -> np.ndarray:
    """Find likely label errors with confident learning (Northcutt, Jiang, Chuang, JAIR 2021).

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels 0..K-1.
    pred_probs : array-like of shape (N, K)
        Out-of-sample (cross-validated) predicted probabilities.
    filter_by : one of :data:`FILTERS`, default="prune_by_noise_rate"
        ``"prune_by_noise_rate"``: for every off-diagonal cell (given ``k``, true ``j``) of the
        calibrated confident joint, flag that many samples given ``k`` with the largest
        ``p[j] - p[k]``; ``"prune_by_class"``: per class, flag the samples with the lowest
        ``p[k]``, as many as the class's estimated errors; ``"both"``: flagged by both;
        ``"confident_learning"``: the samples counted off the diagonal of the confident joint;
        ``"predicted_neq_given"``: argmax differs from the given label;
        ``"low_self_confidence"`` / ``"low_normalized_margin"``: the estimated number of errors
        with the lowest label quality. Samples whose given label is the prediction within 1e-6
        are never flagged (except by the two ``low_*`` rules).
    frac_noise : float in (0, 1], default=1.0
        Keep only this fraction of each off-diagonal count (prune rules only).
    num_to_remove_per_class : int or sequence of K ints, optional
        Flag this many per class (prune rules only); one int applies to every class, as in
        cleanlab. With ``"prune_by_noise_rate"`` a class may lose one more or one fewer
        (rounding), as in cleanlab.
    min_examples_per_class : int, default=1
        Classes with at most this many samples are never pruned.
    return_indices_ranked_by : one of :data:`RANKINGS`, optional
        Return the flagged indices, most suspicious first, instead of the mask.
    confident_joint : array-like of shape (K, K), optional
        A precomputed confident joint (rows = given) for the prune rules, used as is.
    device : str or torch.device, optional
        Where the statistics pass runs.

    Returns
    -------
    ndarray of shape (N,), bool, or ndarray of int64 indices
        Equal to ``cleanlab.filter.find_label_issues`` with the same arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from workbench.analysis.detectors.pred_probs import find_label_issues
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> pred_probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8],
    ...                        [0.1, 0.9], [0.3, 0.7], [0.95, 0.05]])
    >>> find_label_issues(labels, pred_probs)
    array([False, False,  True, False, False,  True])
    >>> find_label_issues(labels, pred_probs, return_indices_ranked_by="normalized_margin")
    array([5, 2])
    """
    _check_options(filter_by, frac_noise, min_examples_per_class, num_to_remove_per_class)
    if return_indices_ranked_by is not None:
        _check_choice(return_indices_ranked_by, "return_indices_ranked_by", RANKINGS)
    y, p, rows = check_inputs(labels, pred_probs, rows=True, device=device)
    k = p.shape[1]
    remove = None
    if num_to_remove_per_class is not None:
        remove = np.asarray(num_to_remove_per_class)
        if remove.ndim == 0 and remove.dtype.kind in "iu":  # one count for every class
            remove = np.full(k, remove, dtype=np.int64)
        if remove.shape != (k,) or remove.dtype.kind not in "iu" or (remove < 0).any():
            raise ValueError(
                f"num_to_remove_per_class must be an integer >= 0 or hold K={k} integers "
                f">= 0, found {num_to_remove_per_class!r}."
            )
    joint = None
    if confident_joint is not None and filter_by in _PRUNE:
        joint = np.asarray(confident_joint)
        if joint.shape != (k, k) or joint.dtype.kind not in "iu" or (joint < 0).any():
            raise ValueError(
                f"confident_joint must be a ({k}, {k}) matrix of non-negative integer counts, "
                f"found shape {joint.shape} and dtype {joint.dtype}."
            )
    return _find_label_issues(
        y, p, filter_by=filter_by, frac_noise=float(frac_noise), num_to_remove=remove,
        min_examples=int(min_examples_per_class), ranked_by=return_indices_ranked_by,
        joint=joint, device=device, stats=statistics_pass(y, p, device=device, rows=rows),
    )  # fmt: skip


def _find_label_issues(
    y, p, *, filter_by="prune_by_noise_rate", frac_noise=1.0, num_to_remove=None,
    min_examples=1, ranked_by=None, joint=None, device=None, stats=None,
) -> np.ndarray:  # fmt: skip
    stats = stats if stats is not None else statistics_pass(y, p, device=device)
    if filter_by in ("low_self_confidence", "low_normalized_margin"):
        quality = _quality(stats, filter_by[4:])
        n_errors = int(np.count_nonzero(stats.off_diagonal() & ~stats.close_call()))
        mask = np.zeros(len(y), bool)
        mask[np.argsort(quality)[:n_errors]] = True
    else:
        if filter_by in _PRUNE:
            if joint is None:
                joint = calibrate_joint(stats.joint_counts, stats.counts)
            prune = keep_at_least(joint.T, min_examples, frac_noise)
            if num_to_remove is not None:
                prune = set_removals(prune, num_to_remove, stats.counts)
        if filter_by == "confident_learning":
            mask = stats.off_diagonal()
        elif filter_by == "predicted_neq_given":
            mask = stats.rows.argmax != y
        elif filter_by == "prune_by_class":
            mask = prune_by_class(stats, prune, min_examples)
        elif filter_by == "prune_by_noise_rate":
            mask = prune_by_noise_rate(p, stats, prune, min_examples)
        else:
            mask = prune_by_class(stats, prune, min_examples)
            mask &= prune_by_noise_rate(p, stats, prune, min_examples)
        mask &= ~stats.close_call()
    if ranked_by is None:
        return mask
    idx = np.flatnonzero(mask)
    return idx[np.argsort(_quality(stats, ranked_by, p)[mask])]


# --- detectors -----------------------------------------------------------------------------------
def _suggested(stats: Statistics, flags: np.ndarray, *, confident: bool = False) -> np.ndarray:
    """argmax of pred_probs; a flagged sample whose argmax is its given label gets the
    runner-up instead; with ``confident``, samples counted off the confident joint's diagonal
    get their confident-joint class."""
    r, y = stats.rows, stats.labels
    out = r.argmax.copy()
    swap = flags & (out == y)
    out[swap] = r.other[swap]
    if confident:
        cell = stats.off_diagonal()
        out[cell] = stats.guess[cell]
    return out


def _top_n(quality: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of the ``n`` lowest qualities (numpy's default sort breaks ties)."""
    flags = np.zeros(len(quality), bool)
    flags[np.argsort(quality)[:n]] = True
    return flags


class _PredProbsDetector(Detector):
    requires = ("pred_probs",)
    reference = CONFIDENT_LEARNING

    def _statistics(self, dataset) -> Statistics:
        # one pass per dataset, shared by every pred_probs detector, the matrices and views
        return analysis_of(dataset).statistics(device=self.device)


class _ConfidentLearning(_PredProbsDetector):
    """Flags = cleanlab's ``find_label_issues`` mask for ``filter_by``; score = the normalized
    margin noise score ``(1 + max_{j != y} p[j] - p[y]) / 2`` plus 1 for flagged samples, so
    ``score >= 1`` exactly reproduces the flags and the ranking is confident-learning
    membership first, then normalized margin (the ranking Northcutt et al. use to order
    candidate label errors). Suggested label: the confident-joint class for samples counted off
    its diagonal, else the argmax (the runner-up when the argmax is the given label)."""

    filter_by: str = "prune_by_noise_rate"

    def __init__(self, frac_noise: float = 1.0, min_examples_per_class: int = 1, device=None):
        self.frac_noise = frac_noise
        self.min_examples_per_class = min_examples_per_class
        self.device = device

    def _options(self) -> dict:
        return {"frac_noise": float(self.frac_noise), "min_examples": self.min_examples_per_class}

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        y, p = dataset.labels, dataset.pred_probs
        if self.filter_by in _PRUNE:
            _check_options(self.filter_by, self.frac_noise, self.min_examples_per_class)
        stats = self._statistics(dataset)
        flags = _find_label_issues(y, p, filter_by=self.filter_by, stats=stats, **self._options())
        margin = 1.0 - _quality(stats, "normalized_margin").astype(np.float64)
        joint = calibrate_joint(stats.joint_counts, stats.counts)
        return DetectorResult(
            self.name, margin + flags, flags, _suggested(stats, flags, confident=True),
            params=self.get_params(),
            details={
                "thresholds": stats.thresholds, "confident_joint": joint,
                "estimated_num_errors": int(np.count_nonzero(
                    stats.off_diagonal() & ~stats.close_call())),
            },
        )  # fmt: skip


@register
class ConfidentLearningPruneByNoiseRate(_ConfidentLearning):
    name = "cl_prune_by_noise_rate"
    filter_by = "prune_by_noise_rate"
    summary = (
        "Confident learning: for each (given, true) cell of the confident joint, flags that many "
        "samples with the largest margin of the true class over the given one."
    )


@register
class ConfidentLearningPruneByClass(_ConfidentLearning):
    name = "cl_prune_by_class"
    filter_by = "prune_by_class"
    summary = (
        "Confident learning: per class, flags as many samples as the confident joint estimates "
        "mislabeled, those with the lowest probability of their given label."
    )


@register
class ConfidentLearningBoth(_ConfidentLearning):
    name = "cl_both"
    filter_by = "both"
    summary = "Confident learning: flagged by both prune_by_noise_rate and prune_by_class."


class _ConfidentLearningPlain(_ConfidentLearning):
    def __init__(self, device=None):
        self.device = device

    def _options(self) -> dict:
        return {}


@register
class ConfidentLearningOffDiagonal(_ConfidentLearningPlain):
    name = "cl_confident_learning"
    filter_by = "confident_learning"
    summary = (
        "Confident learning: flags the samples counted off the diagonal of the confident joint "
        "(confidently predicted to be another class than the given one)."
    )


@register
class PredictedNeqGiven(_ConfidentLearningPlain):
    name = "cl_predicted_neq_given"
    filter_by = "predicted_neq_given"
    summary = "Baseline: flags samples whose predicted class (argmax) differs from the given label."


class _Ranking(_PredProbsDetector):
    """Score = a label-quality noise score; flags = the ``estimated_num_errors`` highest scores
    (cleanlab's ``low_*`` filter rule), or ``score >= threshold`` when a threshold is given."""

    method: str = "self_confidence"
    reference = LABEL_QUALITY

    def __init__(self, threshold: float | None = None, device=None):
        self.threshold = threshold
        self.device = device

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        if self.threshold is not None and not np.isfinite(float(self.threshold)):
            raise ValueError(
                f"threshold must be a finite number or None, found {self.threshold!r}."
            )
        stats = self._statistics(dataset)
        quality = _quality(stats, self.method, dataset.pred_probs)
        scores = 1.0 - quality.astype(np.float64)
        n_errors = int(np.count_nonzero(stats.off_diagonal() & ~stats.close_call()))
        flags = _top_n(quality, n_errors) if self.threshold is None else scores >= self.threshold
        return DetectorResult(
            self.name, scores, flags, _suggested(stats, flags), params=self.get_params(),
            details={"estimated_num_errors": n_errors},
        )  # fmt: skip


@register
class SelfConfidence(_Ranking):
    name = "self_confidence"
    method = "self_confidence"
    summary = "1 - the predicted probability of the given label."


@register
class NormalizedMargin(_Ranking):
    name = "normalized_margin"
    method = "normalized_margin"
    summary = (
        "How far the best other class beats the given label: (1 + max other p - p[given]) / 2."
    )


@register
class ConfidenceWeightedEntropy(_Ranking):
    name = "confidence_weighted_entropy"
    method = "confidence_weighted_entropy"
    summary = "Normalised entropy of the prediction divided by the probability of the given label."


@register
class Ensemble(_PredProbsDetector):
    """Noise score averaged over several models' pred_probs (weighted by accuracy by default);
    flags the estimated number of errors (from the models' mean pred_probs) with top scores."""

    name = "ensemble"
    requires = ("pred_probs_ensemble",)
    reference = LABEL_QUALITY
    summary = "A label-quality noise score averaged over several models (accuracy-weighted)."

    def __init__(self, method="normalized_margin", weight_by="accuracy", threshold=None,
                 device=None):  # fmt: skip
        self.method = method
        self.weight_by = weight_by
        self.threshold = threshold
        self.device = device

    def _score(self, dataset, *, progress: bool) -> DetectorResult:
        _check_choice(self.method, "method", RANKINGS)
        _check_choice(self.weight_by, "weight_by", ("accuracy", "uniform"))
        models = dataset.pred_probs_by_model
        prepared = [(dataset.labels, p) for p in models.values()]
        scores = _ensemble(prepared, self.method, self.weight_by, None, self.device)
        stats = self._statistics(dataset)
        n_errors = int(np.count_nonzero(stats.off_diagonal() & ~stats.close_call()))
        flags = _top_n(-scores, n_errors) if self.threshold is None else scores >= self.threshold
        return DetectorResult(
            self.name, scores, flags, _suggested(stats, flags), params=self.get_params(),
            details={"estimated_num_errors": n_errors, "models": list(models)},
        )  # fmt: skip
