"""Two-component mixture on per-sample losses, fitted by EM: small loss = clean, large = noisy.

The public names are re-exported by ``workbench.analysis.detectors.trajectories``; the
``loss_mixture`` detector there wraps :func:`fit_loss_mixture`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import betaln

from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import as_array, check_finite, check_rng

__all__ = ["LossMixture", "fit_loss_mixture"]


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
    max_iter: int = 100,
    tol: float = 1e-5,
    n_init: int = 1,
    monotone: bool = True,
    max_fit_samples: int | None = 200_000,
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
    max_iter : int, default=100
    tol : float, default=1e-5
        Stop when the mean log-likelihood per sample changes by less than ``tol`` (the
        variance floor, 5e-4 on the normalised losses as DivideMix's ``reg_covar``, makes the
        fit a penalised one, so on unimodal losses the likelihood can drift slowly).
    n_init : int, default=1
        Number of starts; the first splits the samples at the median loss, the others start
        from random responsibilities drawn from ``seed``. The start with the highest
        likelihood wins.
    monotone : bool, default=True
        Correct the tails so the posterior does not fall as the loss grows: below the clean
        mean a sample is never more suspicious than one with a higher loss (a wide high-loss
        Gaussian otherwise claims the very lowest losses), above the noisy mean never less.
    max_fit_samples : int or None, default=200000
        Fit EM on a random subset of at most this many losses (drawn from ``seed``), then
        compute the posterior of every sample; None fits on all. Two components of a 1-D
        mixture are pinned down long before N = 200,000, and each EM step costs O(N).
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    LossMixture
        ``posterior`` is the probability of the high-loss component: higher = more likely
        mislabeled.
    """
    if family not in ("gaussian", "beta"):
        raise ValueError(f"family must be 'gaussian' or 'beta', found {family!r}.")
    if max_fit_samples is not None:
        _check_count(max_fit_samples, "max_fit_samples")
    _check_count(max_iter, "max_iter")
    _check_count(n_init, "n_init")
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
    return _fit_loss_mixture(arr, family, max_iter, tol, n_init, monotone, max_fit_samples, rng)


def _check_count(val, arg: str) -> None:
    if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
        raise ValueError(f"{arg} must be a positive integer, found {val!r}.")


def _fit_loss_mixture(
    x, family, max_iter, tol, n_init, monotone, max_fit_samples, rng
) -> LossMixture:
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
    zfit = z
    if max_fit_samples is not None and len(z) > max_fit_samples:
        zfit = z[np.sort(rng.choice(len(z), size=max_fit_samples, replace=False))]
    best = None
    for i in range(n_init):
        if i == 0:
            resp = (zfit > np.median(zfit)).astype(np.float64)
            if resp.sum() == 0:  # more than half the samples share the top value
                resp = (zfit >= np.median(zfit)).astype(np.float64)
        else:
            resp = rng.random(len(zfit))
        fit = _em(zfit, resp, family, max_iter, tol)
        if best is None or fit[-1][-1] > best[-1][-1]:
            best = fit
    weights, params, converged, trace = best
    if _component_means(params, family)[1] < _component_means(params, family)[0]:
        weights, params = weights[::-1], params[::-1]
    noisy = _e_step(z, weights, params, family)[0]
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
    """EM on responsibilities ``resp`` (N,) of component 1; every step is a few passes of N."""
    logs = (np.log(z), np.log1p(-z)) if family == "beta" else None
    trace, converged = [], False
    for _ in range(max_iter):
        weights, params = _m_step(z, resp, family)
        resp, mean_ll = _e_step(z, weights, params, family, logs)
        trace.append(mean_ll)
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol:
            converged = True
            break
    return weights, params, converged, trace


def _e_step(z, weights, params, family, logs=None):
    """Posterior of component 1 (N,) and the mean log-likelihood per sample."""
    if family == "beta" and logs is None:
        logs = (np.log(z), np.log1p(-z))
    log0, log1 = (
        np.log(max(w, 1e-300)) + _log_density(z, p, family, logs)
        for w, p in zip(weights, params, strict=True)
    )
    norm = np.logaddexp(log0, log1)
    return np.exp(log1 - norm), float(norm.mean())


def _m_step(z, resp, family):
    n1 = float(resp.sum())
    totals = np.array([len(z) - n1, n1]) + 1e-12
    weights = totals / totals.sum()
    # einsum, not `@`: a threaded BLAS dot is many times slower on a busy machine
    s1 = float(np.einsum("i,i->", resp, z))
    mean = np.array([z.sum() - s1, s1]) / totals
    var = (
        np.array(
            [
                float(np.einsum("i,i->", 1 - resp, (z - mean[0]) ** 2)),
                float(np.einsum("i,i->", resp, (z - mean[1]) ** 2)),
            ]
        )
        / totals
        + _VAR_FLOOR
    )
    if family == "gaussian":
        return weights, np.stack([mean, np.sqrt(var)], axis=1)
    mean = np.clip(mean, _EPS, 1 - _EPS)
    var = np.minimum(var, mean * (1 - mean) * (1 - 1e-6))  # keep alpha, beta positive
    common = mean * (1 - mean) / var - 1
    return weights, np.stack([mean * common, (1 - mean) * common], axis=1)


def _log_density(z, param, family, logs):
    if family == "gaussian":
        mu, sd = param
        return -0.5 * ((z - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
    a, b = param
    return (a - 1) * logs[0] + (b - 1) * logs[1] - betaln(a, b)
