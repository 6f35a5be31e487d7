"""Instance-dependent noise: hard samples (near another class) flip more, towards that class."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import check_rng
from workbench.noise._base import (
    _CHUNK_CELLS,
    NoisyLabels,
    _check_rate,
    _class_means,
    _distances,
    _features,
    _labels,
    _result,
)

__all__ = ["instance_dependent_noise"]


def instance_dependent_noise(
    labels: ArrayLike,
    features: ArrayLike,
    rate: float,
    *,
    n_classes: int | None = None,
    seed: SeedLike = None,
    sharpness: float = 2.0,
    temperature: float = 0.1,
) -> NoisyLabels:
    """Flip hard samples more: noise that depends on where a sample lies in feature space.

    A sample's hardness is its distance to its own class centroid divided by its distance to the
    nearest other centroid (about 1 on the boundary). Its flip probability is
    ``min(1, c × hardness ** sharpness)`` with ``c`` chosen so that the average flip probability
    is ``rate``. A flipped sample goes to another class ``j`` with probability proportional to
    ``exp(-(d_j / d_nearest - 1) / temperature)``: mostly to the nearest other class. Like the
    part-dependent noise of Xia et al. (NeurIPS 2020), the noise depends on the instance; here
    through centroid geometry, so the teaching point "ambiguous samples get mislabeled" shows.

    Parameters
    ----------
    labels : array-like of shape (N,)
    features : array-like of shape (N, D)
    rate : float in [0, 1)
        Average flip probability.
    sharpness : float, default=2.0
        How strongly flip probability grows with hardness (0 = symmetric-like noise).
    temperature : float, default=0.1
        Spread of flips over other classes (small: almost always the nearest one).

    Returns
    -------
    NoisyLabels
        With ``flip_probability`` per sample; ``expected_transition`` is the per-class average of
        the per-sample flip distributions.
    """
    rate = _check_rate(rate)
    codes, k = _labels(labels, "labels", n_classes)
    x = _features(features, len(codes))
    for name, v in (("sharpness", sharpness), ("temperature", temperature)):
        if not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a non-negative number, found {v!r}.")
    if temperature == 0:
        raise ValueError("temperature must be positive, found 0.")
    rng = check_rng(seed)
    centers = _class_means(x, codes, k)
    present = np.bincount(codes, minlength=k) > 0
    if present.sum() < 2:
        raise ValueError("instance_dependent_noise needs samples of at least 2 classes.")
    sq = (centers[present] ** 2).sum(1)
    centers_p, cls_p = centers[present], np.flatnonzero(present)
    col_of = np.full(k, -1)
    col_of[cls_p] = np.arange(len(cls_p))
    step = max(1, _CHUNK_CELLS // max(k, x.shape[1]))

    def chunk_geometry(lo):
        d = _distances(x[lo : lo + step], centers_p, sq)
        rows = np.arange(len(d))
        own = d[rows, col_of[codes[lo : lo + step]]]
        d[rows, col_of[codes[lo : lo + step]]] = np.inf
        nearest = d.min(axis=1)
        return d, own, nearest

    hardness = np.empty(len(codes))
    for lo in range(0, len(codes), step):
        _, own, nearest = chunk_geometry(lo)
        hardness[lo : lo + step] = own / np.maximum(nearest, 1e-12)
    g = hardness**sharpness
    p = _scale_to_mean(g, rate)
    noisy = codes.copy()
    expected = np.zeros((k, k))
    for lo in range(0, len(codes), step):
        d, _, nearest = chunk_geometry(lo)
        w = np.exp(-(d / np.maximum(nearest, 1e-12)[:, None] - 1.0) / temperature)
        w /= w.sum(axis=1, keepdims=True)
        pc, c = p[lo : lo + step], codes[lo : lo + step]
        dist = np.zeros((len(c), k))
        dist[:, cls_p] = w * pc[:, None]
        dist[np.arange(len(c)), c] += 1.0 - pc
        onehot = sparse.csr_matrix((np.ones(len(c)), (c, np.arange(len(c)))), shape=(k, len(c)))
        expected += onehot @ dist
        flip = rng.random(len(c)) < pc
        if flip.any():
            cum = np.cumsum(w[flip], axis=1)
            u = rng.random(int(flip.sum()))[:, None] * cum[:, -1:]
            pick = np.minimum((cum <= u).sum(axis=1), len(cls_p) - 1)
            noisy[lo + np.flatnonzero(flip)] = cls_p[pick]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected /= np.bincount(codes, minlength=k)[:, None]
    params = {"rate": rate, "sharpness": sharpness, "temperature": temperature}
    return _result(codes, noisy, expected, "instance", params, flip_probability=p)


def _scale_to_mean(g: np.ndarray, rate: float) -> np.ndarray:
    """``min(1, c g)`` with ``c`` such that its mean is ``rate`` (bisection on c)."""
    if rate == 0:
        return np.zeros_like(g)
    if not (g > 0).any():
        return np.full_like(g, rate)
    if (g > 0).mean() < rate:
        raise ValueError(
            f"rate={rate} is unreachable: only {(g > 0).mean():.1%} of samples can flip "
            "(the others sit exactly on their class centroid)."
        )
    lo, hi = 0.0, 1.0 / g[g > 0].min()
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.minimum(1.0, mid * g).mean() < rate:
            lo = mid
        else:
            hi = mid
    return np.minimum(1.0, hi * g)
