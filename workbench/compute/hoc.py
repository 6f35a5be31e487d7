"""HOC: fit a noise-transition matrix to high-order consensus statistics (torch).

K classes. Given the empirical label statistics of every sample and its two nearest
neighbours (first, second and third order, from
:func:`workbench.analysis.hoc.consensus_statistics`), find the true-class prior ``p`` (K,)
and the transition matrix ``T[i, j] = P(given = j | true = i)`` (K, K, rows sum to 1) whose
implied statistics match them best. Under 2-NN clusterability (a sample and its two nearest
neighbours share the true class) the implied statistics are

- ``c1[j] = sum_i p[i] T[i, j]``
- ``c2[j, l] = sum_i p[i] T[i, j] T[i, l]``
- ``c3[j, l, m] = sum_i p[i] T[i, j] T[i, l] T[i, m]``

(Zhu, Song, Liu, "Clusterability as an Alternative to Anchor Points When Learning with Noisy
Labels", ICML 2021). The loss is the sum of the squared Frobenius norms of
the three differences (the authors' code sums the norms themselves; squared, the loss is
smooth at its minimum and a quasi-Newton method converges); ``T`` and ``p`` are row-wise
softmaxes of free parameters. Deterministic: the start is ``T`` with logits 5 on the diagonal (a mostly clean
matrix) and a uniform ``p``; the true classes are then named so that the most samples keep
their label (the fit cannot tell a permutation of the true classes apart).

The problem holds K² + K numbers whatever N is (N only enters the statistics, counted in
:mod:`workbench.analysis.hoc` from the kNN graph, which runs on torch), so it is solved on the
CPU with the exact gradient and L-BFGS (scipy): a few hundred evaluations of K³ operations,
where an autograd loop of Adam steps spends its time in per-operation overhead.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize

from workbench.compute.threads import limit_threads

__all__ = ["HOCFit", "fit_hoc", "hoc_loss"]


class HOCFit(NamedTuple):
    """The fitted model: ``transition`` (K, K), rows = true class, ``prior`` (K,), the final
    ``loss`` and whether the optimiser ``converged``."""

    transition: np.ndarray
    prior: np.ndarray
    loss: float
    converged: bool


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def hoc_loss(params: np.ndarray, e1: np.ndarray, e2: np.ndarray, e3: np.ndarray):
    """The HOC loss (sum of squared Frobenius norms) and its gradient at ``params`` = (logits
    of T (K*K), logits of p (K))."""
    k = len(e1)
    t = _softmax(params[: k * k].reshape(k, k), 1)
    p = _softmax(params[k * k :], 0)
    pt = p[:, None] * t
    tt = (t[:, :, None] * t[:, None, :]).reshape(k, k * k)  # tt[i, (l, m)] = t[i, l] t[i, m]
    c1 = p @ t
    c2 = pt.T @ t
    c3 = (pt.T @ tt).reshape(k, k, k)
    loss, grads = 0.0, []
    for c, e in ((c1, e1), (c2, e2), (c3, e3)):
        d = c - e
        loss += float((d * d).sum())
        grads.append(2.0 * d)
    g1, g2, g3 = grads
    s2 = g2 + g2.T
    s3 = g3 + g3.transpose(1, 0, 2) + g3.transpose(2, 0, 1)  # s3[j, l, m] += g3[l, m, j]
    # d loss / d t[i, j] and d loss / d p[i]
    dt = p[:, None] * (g1[None, :] + t @ s2.T + tt @ s3.reshape(k, k * k).T)
    dp = t @ g1 + ((t @ g2) * t).sum(axis=1) + ((tt @ g3.reshape(k, k * k).T) * t).sum(axis=1)
    da = t * (dt - (dt * t).sum(axis=1, keepdims=True))
    db = p * (dp - (dp * p).sum())
    return loss, np.concatenate([da.reshape(-1), db])


def fit_hoc(
    first: np.ndarray,
    second: np.ndarray,
    third: np.ndarray,
    *,
    max_iter: int = 1000,
) -> HOCFit:
    """Transition matrix and true-class prior that reproduce consensus statistics.

    Parameters
    ----------
    first, second, third : ndarray of shape (K,), (K, K), (K, K, K)
        Empirical probabilities of a sample's given label, of the labels of a sample and its
        nearest neighbour, and of a sample and its two nearest neighbours.
    max_iter : int, default=1000
        Most L-BFGS iterations (the estimate of noisy statistics settles long before; exact
        statistics converge sooner).

    Returns
    -------
    HOCFit
    """
    e1, e2, e3 = (np.asarray(a, dtype=np.float64) for a in (first, second, third))
    k = len(e1)
    start = np.concatenate([(5.0 * np.eye(k)).reshape(-1), np.zeros(k)])
    # scaled by the loss at the start, so that the stopping rule is relative whatever the size
    # of the statistics (the loss of exact statistics tends to 0)
    scale = 1.0 / max(hoc_loss(start, e1, e2, e3)[0], 1e-300)

    def scaled(params):
        loss, grad = hoc_loss(params, e1, e2, e3)
        return loss * scale, grad * scale

    # hundreds of small BLAS products: on one thread (see workbench.compute.threads)
    with limit_threads():
        res = minimize(
            scaled, start, jac=True, method="L-BFGS-B",
            options={"maxiter": int(max_iter), "ftol": 1e-10, "gtol": 1e-10},
        )  # fmt: skip
    t = _softmax(res.x[: k * k].reshape(k, k), 1)
    p = _softmax(res.x[k * k :], 0)
    # the statistics do not depend on how the true classes are named: any permutation of the
    # rows of T (and of p) fits equally well; name them so that most samples keep their label
    rows, cols = linear_sum_assignment(p[:, None] * t, maximize=True)
    order = np.empty(k, dtype=np.int64)
    order[cols] = rows
    return HOCFit(t[order], p[order], float(res.fun / scale), bool(res.success))
