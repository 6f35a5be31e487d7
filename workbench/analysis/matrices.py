"""Noise structure: confusion matrix, confident joint, estimated and true transition matrices.

N samples, K classes. Orientation, everywhere in this module:

- ``confusion_matrix``, ``confident_joint`` and ``estimate_joint``: rows = **given** label,
  columns = predicted / estimated true label (cleanlab's confident joint uses the same layout).
- transition matrices: ``T[i, j] = P(given = j | true = i)``, rows = true label, columns = given
  label, rows sum to 1. cleanlab's ``noise_matrix`` is the transpose, ``P(given = i | true = j)``.

``pred_probs`` must be out-of-sample (cross-validated) predicted probabilities. Statistics are
computed in one chunked pass (:mod:`workbench.core.chunks`) and agree exactly with cleanlab 2.9's
``cleanlab.count`` for float32 and float64 input (float16 is computed in float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.analysis.statistics import (
    TINY,
    Statistics,
    calibrate_joint,
    check_inputs,
    statistics_pass,
    thresholds_from_sorted,
)
from workbench.core import chunks as _chunks
from workbench.core.typing import ArrayLike
from workbench.core.validation import (
    as_array,
    check_consistent_length,
    check_labels,
    check_pred_probs,
)

__all__ = [
    "MATRICES",
    "MatrixDescription",
    "converged_transition_from_joint",
    "num_errors_from_statistics",
    "transition_from_joint",
    "class_noise_rates",
    "confident_joint",
    "confident_thresholds",
    "confusion_matrix",
    "estimate_joint",
    "estimate_num_errors",
    "estimate_transition_matrix",
    "transition_estimation_error",
    "true_transition_matrix",
]


@dataclass(frozen=True)
class MatrixDescription:
    """How one K×K matrix reads: the one text every view, the report and ``summary.json`` use."""

    title: str
    rows: str  #: what a row index is, e.g. "given label"
    columns: str  #: what a column index is
    cell: str  #: what cell (i, j) holds, written with i = row and j = column
    source: str  #: where the numbers come from

    @property
    def orientation(self) -> str:
        """One line: what the matrix is (its definition first where it has one), rows,
        columns and source."""
        axes = f"rows = {self.rows}, columns = {self.columns}"
        if self.cell.startswith("T["):
            return f"{self.cell}; {axes}; {self.source}"
        return f"{axes}; {self.cell}; {self.source}"


TRANSITION = "T[i, j] = P(given = j | true = i), rows sum to 1"

#: The matrices an audit computes (``AuditResult.matrices`` keys), in the orientation of this
#: module; cleanlab's ``noise_matrix`` is the transpose of the transition matrices.
MATRICES = {
    "confusion": MatrixDescription(
        title="Confusion matrix",
        rows="given label",
        columns="predicted label",
        cell="samples given label i and predicted j (counts)",
        source="predictions are the argmax of the out-of-sample pred_probs",
    ),
    "estimated_transition": MatrixDescription(
        title="Estimated noise transition matrix",
        rows="true label",
        columns="given label",
        cell=TRANSITION,
        source="estimated from pred_probs (the calibrated confident joint)",
    ),
    "hoc_transition": MatrixDescription(
        title="HOC noise transition matrix",
        rows="true label",
        columns="given label",
        cell=TRANSITION,
        source="estimated without a model from the given labels of each sample and its two "
        "nearest neighbours in feature space (HOC, Zhu, Song, Liu, ICML 2021)",
    ),
    "true_transition": MatrixDescription(
        title="True noise transition matrix",
        rows="true label",
        columns="given label",
        cell=TRANSITION,
        source="measured from the known true labels",
    ),
}


# --- public API ----------------------------------------------------------------------------------
def confusion_matrix(
    labels: ArrayLike, predicted_or_pred_probs: ArrayLike, n_classes: int | None = None
) -> np.ndarray:
    """Counts of (given label, predicted label) pairs: rows = given, columns = predicted.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels 0..K-1.
    predicted_or_pred_probs : array-like of shape (N,) or (N, K)
        Predicted labels, or predicted probabilities whose row argmax is the prediction.
    n_classes : int, optional
        K; default: the width of ``pred_probs`` or the largest label + 1.

    Returns
    -------
    ndarray of shape (K, K), int64
        ``C[i, j]`` = number of samples given ``i`` and predicted ``j``.
    """
    pred = as_array(predicted_or_pred_probs, "predicted_or_pred_probs")
    if pred.ndim == 2:
        if n_classes is not None and pred.shape[1] != n_classes:
            raise ValueError(
                f"predicted_or_pred_probs has {pred.shape[1]} columns but n_classes={n_classes}."
            )
        n_classes = pred.shape[1]
        pred = check_pred_probs(pred, renormalize=True).argmax(axis=1)
    elif pred.ndim != 1:
        raise ValueError(
            "predicted_or_pred_probs must be 1-D (N,) predicted labels or 2-D (N, K) "
            f"probabilities, found shape {pred.shape}."
        )
    if n_classes is not None and (int(n_classes) != n_classes or n_classes < 1):
        raise ValueError(f"n_classes must be a positive integer, found {n_classes!r}.")
    given, _ = check_labels(labels, n_classes=n_classes)
    predicted, _ = check_labels(pred, name="predicted_or_pred_probs", n_classes=n_classes)
    check_consistent_length(labels=given, predicted_or_pred_probs=predicted)
    k = n_classes or int(max(given.max(initial=-1), predicted.max(initial=-1)) + 1)
    return np.bincount(given * k + predicted, minlength=k * k).reshape(k, k).astype(np.int64)


def confident_thresholds(labels: ArrayLike, pred_probs: ArrayLike) -> np.ndarray:
    """Per-class confident thresholds: the mean ``pred_probs[i, k]`` over samples given ``k``.

    Returns
    -------
    ndarray of shape (K,)
        Equal to cleanlab's ``get_confident_thresholds`` (classes with no sample: 2).
    """
    y, p = check_inputs(labels, pred_probs)
    k = p.shape[1]
    order = np.argsort(y, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=k))])
    return thresholds_from_sorted(_chunks.gather_given(p, y)[order], bounds, p.dtype)


def confident_joint(
    labels: ArrayLike, pred_probs: ArrayLike, *, calibrate: bool = True, device=None
) -> np.ndarray:
    """Confident joint: counts of samples confidently in (given ``i``, true ``j``), rows = given.

    A sample counts into column ``j`` when ``pred_probs[i, j]`` reaches class ``j``'s confident
    threshold (minus 1e-6); with several such classes, the argmax. Northcutt, Jiang, Chuang,
    "Confident Learning" (JAIR 2021), equation 2.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
        Out-of-sample predicted probabilities.
    calibrate : bool, default=True
        Rescale rows to the given-label counts and the total to N (integers, row totals kept).
    device : str or torch.device, optional
        Where the pass runs; None: :func:`workbench.compute.resolve_device`.

    Returns
    -------
    ndarray of shape (K, K), int64
        Equal to cleanlab's ``compute_confident_joint(labels, pred_probs, calibrate=...)``.

    Examples
    --------
    >>> from workbench.analysis.matrices import confident_joint
    >>> confident_joint([0, 0, 0, 1, 1, 1], [[0.9, 0.1], [0.8, 0.2], [0.2, 0.8],
    ...                                      [0.1, 0.9], [0.3, 0.7], [0.95, 0.05]])
    array([[2, 1],
           [1, 2]])
    """
    y, p, rows = check_inputs(labels, pred_probs, rows=True, device=device)
    stats = statistics_pass(y, p, device=device, rows=rows)
    return calibrate_joint(stats.joint_counts, stats.counts) if calibrate else stats.joint_counts


def estimate_joint(labels: ArrayLike, pred_probs: ArrayLike, *, device=None) -> np.ndarray:
    """Estimated joint distribution ``P(given = i, true = j)``, rows = given, sums to 1.

    Returns
    -------
    ndarray of shape (K, K), float64
        The calibrated confident joint divided by N; row ``i`` sums to the share of label ``i``.
    """
    joint = confident_joint(labels, pred_probs, calibrate=True, device=device)
    return joint / np.clip(float(np.sum(joint)), TINY, None)


def transition_from_joint(joint: np.ndarray) -> np.ndarray:
    """T[i, j] = P(given = j | true = i) from a confident joint (rows given, columns true)."""
    return np.ascontiguousarray(_clip_noise_rates(_noise_and_inverse(joint)[0]).T)


def _noise_and_inverse(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's noise matrix ``P(given = i | true = j)`` (columns sum to 1) and inverse noise
    matrix ``P(true = i | given = j)`` from a confident joint, before clipping."""
    noise = joint / np.clip(joint.sum(axis=0).astype(float), TINY, None)
    inverse = joint.T / np.clip(joint.sum(axis=1).astype(float), TINY, None)
    return noise, inverse


def _clip_noise_rates(noise: np.ndarray) -> np.ndarray:
    """Off-diagonal rates clipped to [0, 0.9999], the diagonal kept, columns renormalised to
    sum to 1 (cleanlab's ``clip_noise_rates``)."""
    diag = np.diagonal(noise).copy()
    noise = np.clip(noise, 0, 0.9999)
    np.fill_diagonal(noise, diag)
    return noise / np.clip(noise.sum(axis=0), TINY, None)


def _clip_to_sum_one(x: np.ndarray, low: float) -> np.ndarray:
    x = np.clip(x, low, 1.0)
    return x * 1.0 / np.clip(np.sum(x), TINY, None)


def converged_transition_from_joint(joint: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """:func:`transition_from_joint` after cleanlab's ``converge_latent_estimates``.

    The true-class prior ``py`` (``py_method="cnt"``), the noise matrix and its inverse are
    recomputed from one another (3 rounds of 5) until they agree algebraically, with the same
    operations in the same order as ``cleanlab.count.estimate_latent``. ``counts`` (K,) are the
    given-label counts.
    """
    ps = counts / float(np.sum(counts))
    noise, inverse = _noise_and_inverse(joint)

    def prior(noise, inverse):  # py_method="cnt"
        py = inverse.diagonal() / np.clip(noise.diagonal(), TINY, None) * ps
        return _clip_to_sum_one(py, 1e-6)

    py = prior(noise, inverse)
    noise, inverse = _clip_noise_rates(noise), _clip_noise_rates(inverse)
    for _ in range(3):
        for _ in range(5):
            inverse = _clip_noise_rates((noise * py).T / np.clip(ps, TINY, None))
            py = prior(noise, inverse)
        noise = _clip_noise_rates((inverse * ps).T / np.clip(py, TINY, None))
    return np.ascontiguousarray(_clip_noise_rates(noise).T)


def estimate_transition_matrix(
    labels: ArrayLike,
    pred_probs: ArrayLike,
    *,
    converge_latent_estimates: bool = False,
    device=None,
) -> np.ndarray:
    """Estimated noise-transition matrix ``T[i, j] = P(given = j | true = i)``.

    Rows = true label, columns = given label, rows sum to 1. Computed from the calibrated
    confident joint: each true-label column of the joint divided by its total, off-diagonal
    rates clipped below 0.9999, rows renormalised. A class that no sample is labelled with
    has an all-zero row, its rates undefined (as cleanlab's ``noise_matrix`` column).

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
        Out-of-sample predicted probabilities.
    converge_latent_estimates : bool, default=False
        False: the transpose of cleanlab's ``noise_matrix`` from
        ``estimate_py_and_noise_matrices_from_probabilities(labels, pred_probs,
        converge_latent_estimates=False)``. True: the matrix, its inverse and the true-class
        prior are also made to agree algebraically, as cleanlab does by default
        (``converge_latent_estimates=True``): the transpose of that ``noise_matrix``. The two
        differ where clipping bites (a true class with almost no samples, rates near 1);
        elsewhere they agree up to rounding.
    device : str or torch.device, optional
        Where the statistics pass runs.

    Returns
    -------
    ndarray of shape (K, K), float64

    Examples
    --------
    >>> from workbench.analysis.matrices import estimate_transition_matrix
    >>> estimate_transition_matrix([0, 0, 0, 1, 1, 1], [[0.9, 0.1], [0.8, 0.2], [0.2, 0.8],
    ...                                                 [0.1, 0.9], [0.3, 0.7], [0.95, 0.05]])
    array([[0.66666667, 0.33333333],
           [0.33333333, 0.66666667]])
    """
    if not isinstance(converge_latent_estimates, (bool, np.bool_)):
        raise TypeError(
            f"converge_latent_estimates must be True or False, found {converge_latent_estimates!r}."
        )
    y, p, rows = check_inputs(labels, pred_probs, rows=True, device=device)
    stats = statistics_pass(y, p, device=device, rows=rows)
    joint = calibrate_joint(stats.joint_counts, stats.counts)
    if converge_latent_estimates:
        return converged_transition_from_joint(joint, stats.counts)
    return transition_from_joint(joint)


def class_noise_rates(
    labels: ArrayLike, pred_probs: ArrayLike, *, class_names=None, device=None
) -> pd.DataFrame:
    """Per-class estimated noise, from the calibrated confident joint.

    Returns
    -------
    DataFrame with one row per class and columns
        ``class``, ``n_given``; ``estimated_errors`` (samples given the class whose true label
        is another); ``noise_rate_given`` = P(true != k | given = k);
        ``flip_rate_true`` = P(given != k | true = k) = 1 - T[k, k].
    """
    y, p, rows = check_inputs(labels, pred_probs, rows=True, device=device)
    stats = statistics_pass(y, p, device=device, rows=rows)
    joint = calibrate_joint(stats.joint_counts, stats.counts)
    t = transition_from_joint(joint)
    n_given = stats.counts
    errors = joint.sum(axis=1) - joint.diagonal()
    k = len(n_given)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names but there are {k} classes.")
    return pd.DataFrame(
        {
            "class": names,
            "n_given": n_given,
            "estimated_errors": errors,
            "noise_rate_given": errors / np.maximum(n_given, 1),
            "flip_rate_true": 1.0 - t.diagonal(),
        }
    )


def estimate_num_errors(labels: ArrayLike, pred_probs: ArrayLike, *, device=None) -> int:
    """Estimated number of label errors: samples in the off-diagonal of the confident joint,
    except those whose given label is the prediction within 1e-6.

    Equal to cleanlab's ``num_label_issues`` (default ``estimation_method="off_diagonal"``).
    """
    y, p, rows = check_inputs(labels, pred_probs, rows=True, device=device)
    return num_errors_from_statistics(statistics_pass(y, p, device=device, rows=rows))


def num_errors_from_statistics(stats: Statistics) -> int:
    """:func:`estimate_num_errors` from a statistics pass already made."""
    return int(np.count_nonzero(stats.off_diagonal() & ~stats.close_call()))


def true_transition_matrix(
    true_labels: ArrayLike, given_labels: ArrayLike, n_classes: int | None = None
) -> np.ndarray:
    """Empirical transition matrix ``T[i, j] = P(given = j | true = i)`` from known labels.

    Rows = true label, columns = given label; a class that never occurs as a true label gets a
    row of NaN (no evidence).

    Returns
    -------
    ndarray of shape (K, K), float64
    """
    counts = confusion_matrix(true_labels, given_labels, n_classes).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)


def transition_estimation_error(estimated: ArrayLike, true: ArrayLike) -> dict[str, float]:
    """How far an estimated transition matrix is from the true one.

    Both in the orientation ``T[i, j] = P(given = j | true = i)``. Rows of ``true`` that are NaN
    (classes never seen as true labels) are left out.

    Returns
    -------
    dict
        ``mae``: mean absolute error over the compared entries; ``frobenius``: Frobenius norm of
        the difference; ``max_abs``: largest absolute difference; ``rows``: rows compared.
    """
    est = as_array(estimated, "estimated").astype(np.float64)
    tru = as_array(true, "true").astype(np.float64)
    for name, arr in (("estimated", est), ("true", tru)):
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{name} must be a square (K, K) matrix, found shape {arr.shape}.")
    if est.shape != tru.shape:
        raise ValueError(f"estimated has shape {est.shape} but true has shape {tru.shape}.")
    keep = ~np.isnan(tru).any(axis=1)
    if not np.isfinite(est[keep]).all():
        raise ValueError("estimated contains NaN or infinity in a row that true defines.")
    diff = est[keep] - tru[keep]
    if diff.size == 0:
        raise ValueError("true has no row without NaN; nothing to compare.")
    return {
        "mae": float(np.abs(diff).mean()),
        "frobenius": float(np.sqrt((diff**2).sum())),
        "max_abs": float(np.abs(diff).max()),
        "rows": int(keep.sum()),
    }
