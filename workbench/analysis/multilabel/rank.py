"""Multi-label label-quality scores: one binary score per (sample, class), pooled per sample.

N samples, K classes; ``labels`` are label sets (see :mod:`workbench.core.label_sets`),
``pred_probs`` (N, K) independent per-class probabilities, out-of-sample (cross-validated).

Per class ``c`` the annotation ``Y[i, c]`` is scored as a binary label with probabilities
``[1 - p, p]`` (``p = pred_probs[i, c]``), by one of the label-quality methods of Kuan &
Mueller (2022): ``"self_confidence"`` (probability of the given side), ``"normalized_margin"``
(``(p_given - p_other + 1) / 2``) or ``"confidence_weighted_entropy"``; optionally on
probabilities adjusted by the per-class confident thresholds (``adjust_pred_probs``). The K
per-class qualities of a sample are pooled into one: ``"exponential_moving_average"`` of the
qualities sorted from best to worst (weight ``alpha`` on each newer, worse one) or
``"softmin"`` (softmax-weighted mean with weights ``exp(-quality / temperature)``), or any
callable ``f(scores, axis=1, **kwargs)`` reducing rows.

Direction: **our scores are noise scores, higher = more likely mislabeled**, ``1 - quality``
of cleanlab 2.9's ``multilabel_classification.rank.get_label_quality_scores`` /
``get_label_quality_scores_per_class`` (computed with cleanlab's arithmetic, so the qualities are
bit for bit equal; one deliberate difference in ``confidence_weighted_entropy``, see
:func:`workbench.analysis.statistics.cwe_quality`: rows with ``p_given < 1e-6`` or entropy
ratio below 1e-6 take the formula's limits instead of cleanlab's clipped values).
Work runs in blocks of rows, so memory stays O(rows × K) whatever N.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import xlogy

from workbench.analysis.multilabel.statistics import check_inputs, confident_thresholds
from workbench.analysis.statistics import cwe_quality
from workbench.core import chunks as _chunks
from workbench.core.typing import ArrayLike
from workbench.core.validation import check_number

__all__ = [
    "METHODS",
    "POOLINGS",
    "label_noise_scores",
    "per_class_noise_scores",
    "pool_qualities",
    "quality_pass",
]

METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
POOLINGS = ("exponential_moving_average", "softmin")
_EPSILON = 1e-6  # cleanlab's lower bound of the softmin temperature


def check_method(method: str, adjust_pred_probs: bool) -> None:
    """``method`` one of :data:`METHODS`; ``adjust_pred_probs`` a bool, not with entropy."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, found {method!r}.")
    if not isinstance(adjust_pred_probs, (bool, np.bool_)):
        raise TypeError(f"adjust_pred_probs must be True or False, found {adjust_pred_probs!r}.")
    if adjust_pred_probs and method == "confidence_weighted_entropy":
        raise ValueError(
            "adjust_pred_probs=True is not defined for method='confidence_weighted_entropy' "
            "(as in cleanlab); use self_confidence or normalized_margin, or adjust_pred_probs=False."
        )


def make_pool(pooling, alpha, temperature, kwargs=None) -> Callable[[np.ndarray], np.ndarray]:
    """Validated pooling function (n, K) qualities -> (n,) (cleanlab's ``Aggregator``)."""
    if callable(pooling):
        extra = dict(kwargs or {})
        return lambda s: np.asarray(pooling(s, axis=1, **extra), dtype=np.float64)
    if pooling == "exponential_moving_average":
        if alpha is not None:
            alpha = check_number(alpha, "alpha", low=0.0, high=1.0)
        return lambda s: _ema(s, alpha)
    if pooling == "softmin":
        temperature = check_number(temperature, "temperature", low=0.0)
        return lambda s: _softmin(s, temperature)
    raise ValueError(
        f"pooling must be one of {list(POOLINGS)} or a callable f(scores, axis=1), "
        f"found {pooling!r}."
    )


def _ema(s: np.ndarray, alpha: float | None) -> np.ndarray:
    """Exponential moving average of each row sorted from largest to smallest (cleanlab's
    arithmetic: ``ema = alpha * s_t + (1 - alpha) * ema``, starting at the largest)."""
    if alpha is None:
        alpha = float(2 / (s.shape[1] + 1))
    # (K, n) contiguous, largest first: every step reads one contiguous row
    s_sorted = np.ascontiguousarray(np.sort(s, axis=1).T[::-1])
    ema = s_sorted[0].copy()
    a, b = alpha, 1 - alpha
    tmp = np.empty_like(ema)
    for s_i in s_sorted[1:]:  # ema = alpha * s_i + (1 - alpha) * ema, in place
        np.multiply(s_i, a, out=tmp)
        ema *= b
        ema += tmp
    return ema


def _softmin(s: np.ndarray, temperature: float) -> np.ndarray:
    """Mean of each row weighted by ``softmax((1 - s) / temperature)`` (cleanlab's softmin)."""
    x = (1 - s) / max(temperature, _EPSILON)
    x = x - np.max(x, axis=1, keepdims=True)
    e = np.exp(x)
    return np.einsum("ij,ij->i", s, e / np.sum(e, axis=1, keepdims=True))


def pool_qualities(qualities: np.ndarray, *, pooling="exponential_moving_average", alpha=0.8,
                   temperature=0.1) -> np.ndarray:  # fmt: skip
    """Pool per-class qualities (N, K) (low = suspicious) into one quality per sample (N,).

    See the module docstring for ``pooling``, ``alpha`` (None: ``2 / (K + 1)``) and
    ``temperature``. Returns (N,) float64, low = suspicious.
    """
    s = np.asarray(qualities, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"qualities must be 2-D (N, K), found shape {s.shape}.")
    pool = make_pool(pooling, alpha, temperature)
    out = np.empty(len(s))

    def block(sl: slice) -> None:
        out[sl] = pool(s[sl])

    _chunks.parallel_chunks(block, len(s), _chunks.chunk_rows(s.shape[1], 8))
    return out


def quality_pass(Y, P, *, method="self_confidence", adjust_pred_probs=False, pool=None,
                 thresholds=None) -> np.ndarray:  # fmt: skip
    """Private twin of the public scores on checked ``Y`` (N, K) bool and ``P`` (N, K):
    cleanlab's per-class qualities (N, K) float64, or with ``pool`` (a :func:`make_pool`
    function) the pooled quality (N,) float64. Low = suspicious (cleanlab's direction)."""
    n, k = P.shape
    groups = [(np.arange(k), P.dtype)]
    adjust = None
    if adjust_pred_probs:
        thr, wide = thresholds if thresholds is not None else confident_thresholds(Y, P)
        # float32 input: a class with an empty side has float64 thresholds, and cleanlab's
        # adjusted probabilities are float64 there.
        groups = [(np.flatnonzero(~wide), P.dtype), (np.flatnonzero(wide), np.dtype(np.float64))]
        groups = [(cols, dtype) for cols, dtype in groups if cols.size]
        adjust = thr
    out = np.empty((n, k) if pool is None else n)

    def block(sl: slice) -> None:
        if len(groups) == 1:  # every class in one dtype: no gather, no scatter
            q_all = _class_quality(Y[sl], P[sl], method, groups[0][1], adjust)
            q_all = q_all.astype(np.float64, copy=False)
        else:
            q_all = np.empty((sl.stop - sl.start, k))
            for cols, dtype in groups:
                q_all[:, cols] = _class_quality(
                    Y[sl, cols], P[sl, cols], method, dtype, adjust[cols]
                )
        out[sl] = q_all if pool is None else pool(q_all)

    _chunks.parallel_chunks(block, n, _chunks.chunk_rows(k, 8 * 4))
    return out


def _class_quality(y, p, method, dtype, thr) -> np.ndarray:
    """Per-class qualities of one block of rows (n, B), computed in cleanlab's dtype."""
    q = 1 - p  # cleanlab's column 0 ("not the class"), in the input dtype
    if thr is not None:
        t = thr.astype(dtype)
        a0 = q.astype(dtype, copy=False) - t[:, 0]
        a1 = p.astype(dtype, copy=False) - t[:, 1]
        top = t.max(axis=1)
        a0 += top
        a1 += top
        total = a0 + a1
        a0 /= total
        a1 /= total
        q, p = a0, a1
    given = np.where(y, p, q)
    if method == "self_confidence":
        return given
    if method == "normalized_margin":
        return (given - np.where(y, q, p) + 1) / 2
    entropy = -(xlogy(q, q) + xlogy(p, p)) / np.log(2)
    return cwe_quality(entropy, given)


def _checked(labels, pred_probs, method, adjust_pred_probs):
    check_method(method, adjust_pred_probs)
    return check_inputs(labels, pred_probs)


def per_class_noise_scores(
    labels, pred_probs: ArrayLike, *, method: str = "self_confidence",
    adjust_pred_probs: bool = False,
) -> np.ndarray:  # fmt: skip
    """Noise score of every (sample, class) annotation, higher = more likely wrong.

    ``1 - cleanlab.multilabel_classification.rank.get_label_quality_scores_per_class`` (as an
    (N, K) matrix instead of cleanlab's list of K arrays).

    Parameters
    ----------
    labels : label sets, (N, K) 0/1 matrix or N lists of class indices / names
    pred_probs : array-like of shape (N, K)
        Independent per-class probabilities, out-of-sample.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
    adjust_pred_probs : bool, default=False
        Subtract each class's confident thresholds and renormalise first (not with entropy).

    Returns
    -------
    ndarray of shape (N, K), float64 in [0, 1]

    Examples
    --------
    >>> per_class_noise_scores([[1], [0, 2]], [[0.1, 0.9, 0.1], [0.4, 0.1, 0.9]]).round(2)
    array([[0.1, 0.1, 0.1],
           [0.6, 0.1, 0.1]])
    """
    Y, P = _checked(labels, pred_probs, method, adjust_pred_probs)
    return 1.0 - quality_pass(Y, P, method=method, adjust_pred_probs=adjust_pred_probs)


def label_noise_scores(
    labels, pred_probs: ArrayLike, *, method: str = "self_confidence",
    adjust_pred_probs: bool = False, pooling="exponential_moving_average",
    alpha: float | None = 0.8, temperature: float = 0.1, pooling_kwargs: dict | None = None,
) -> np.ndarray:  # fmt: skip
    """One noise score per sample, higher = more likely that *some* class is mislabeled.

    ``1 - cleanlab.multilabel_classification.rank.get_label_quality_scores(labels, pred_probs,
    method=method, adjust_pred_probs=adjust_pred_probs, aggregator_kwargs={"method": pooling,
    "alpha": alpha} / {"method": pooling, "temperature": temperature})``.

    Parameters
    ----------
    labels, pred_probs, method, adjust_pred_probs
        As in :func:`per_class_noise_scores`.
    pooling : {"exponential_moving_average", "softmin"} or callable, default EMA
        How the K per-class qualities of a sample become one (see the module docstring); a
        callable gets blocks of rows ``f(qualities, axis=1, **pooling_kwargs)``.
    alpha : float in [0, 1] or None, default=0.8
        EMA forgetting factor; None means ``2 / (K + 1)``.
    temperature : float > 0, default=0.1
        Softmin temperature.

    Returns
    -------
    ndarray of shape (N,), float64 in [0, 1], higher = more suspicious

    Examples
    --------
    >>> label_noise_scores([[1], [0, 2]], [[0.1, 0.9, 0.1], [0.4, 0.1, 0.9]]).round(3)
    array([0.1, 0.5])
    """
    Y, P = _checked(labels, pred_probs, method, adjust_pred_probs)
    pool = make_pool(pooling, alpha, temperature, pooling_kwargs)
    return 1.0 - quality_pass(Y, P, method=method, adjust_pred_probs=adjust_pred_probs, pool=pool)
