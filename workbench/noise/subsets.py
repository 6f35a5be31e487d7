"""Noise that changes which samples are in the data: a long-tailed class profile, and samples
from outside the label set given in-set labels (open-set noise)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import as_array, check_rng
from workbench.noise._base import (
    _CHUNK_CELLS,
    NoisyLabels,
    _class_means,
    _distances,
    _features,
    _labels,
)

__all__ = ["LongTailed", "OpenSetNoise", "long_tailed", "open_set_noise"]


@dataclass(frozen=True, eq=False)
class LongTailed:
    """A long-tailed subsample, optionally with noise applied after subsampling.

    Attributes
    ----------
    indices : ndarray of shape (n,), int64
        Positions of the kept samples in the original data, ascending.
    true_labels : ndarray of shape (n,), int64
        Their (clean) labels.
    class_counts : ndarray of shape (K,), int64
        Kept samples per class.
    noise : NoisyLabels or None
        Noise drawn on the kept samples (positions 0..n-1 of the subsample).
    """

    indices: np.ndarray
    true_labels: np.ndarray
    class_counts: np.ndarray
    noise: NoisyLabels | None = None

    @property
    def noisy_labels(self) -> np.ndarray:
        """The given labels of the subsample (the true labels when no noise was applied)."""
        return self.true_labels if self.noise is None else self.noise.noisy_labels

    @property
    def imbalance(self) -> float:
        """Realised largest / smallest class count."""
        return float(self.class_counts.max() / self.class_counts.min())


@dataclass(frozen=True, eq=False)
class OpenSetNoise:
    """Samples from outside the kept classes, given labels of kept classes.

    Class indices of ``noisy_labels`` and ``true_labels`` are in the NEW index space 0..K'-1
    (position in ``kept_classes``); ``original_labels`` are in the original 0..K-1.

    Attributes
    ----------
    indices : ndarray of shape (n,), int64
        Positions of the kept samples in the original data, ascending.
    noisy_labels : ndarray of shape (n,), int64
        Given labels, all in 0..K'-1.
    true_labels : ndarray of shape (n,), int64
        True labels in 0..K'-1, and -1 for open-set samples (their class is none of the K').
    original_labels : ndarray of shape (n,), int64
    is_open_set : ndarray of shape (n,), bool
    kept_classes : ndarray of shape (K',), int64
        Original indices of the classes kept (new class ``c`` is original ``kept_classes[c]``).
    outside_classes : ndarray of shape (K - K',), int64
    """

    indices: np.ndarray
    noisy_labels: np.ndarray
    true_labels: np.ndarray
    original_labels: np.ndarray
    is_open_set: np.ndarray
    kept_classes: np.ndarray
    outside_classes: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_open(self) -> int:
        return int(self.is_open_set.sum())


def long_tailed(
    labels: ArrayLike,
    imbalance_ratio: float,
    *,
    n_classes: int | None = None,
    order: Sequence[int] | None = None,
    noise: Callable[..., NoisyLabels] | None = None,
    seed: SeedLike = None,
) -> LongTailed:
    """Subsample to an exponential long-tailed class profile, optionally adding noise after.

    The class at position ``r`` of ``order`` keeps ``n_max × imbalance_ratio ** (-r / (K-1))``
    samples, with ``n_max`` as large as the available samples allow; largest / smallest ≈
    ``imbalance_ratio`` (up to rounding).

    Parameters
    ----------
    labels : array-like of shape (N,)
        True labels 0..K-1; every class needs samples.
    imbalance_ratio : float >= 1
    order : sequence of K class indices, optional
        Classes from the largest to the smallest; default 0, 1, ..., K-1.
    noise : callable, optional
        Applied to the kept labels as ``noise(labels, seed=rng)``, e.g.
        ``functools.partial(symmetric_noise, rate=0.2)``.

    Returns
    -------
    LongTailed
    """
    codes, k = _labels(labels, "labels", n_classes)
    if isinstance(imbalance_ratio, (bool, np.bool_)) or not isinstance(
        imbalance_ratio, (int, float, np.number)
    ):
        raise TypeError(f"imbalance_ratio must be a number, found {imbalance_ratio!r}.")
    if not np.isfinite(imbalance_ratio) or imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be a finite number >= 1, found {imbalance_ratio}.")
    if order is None:
        order_arr = np.arange(k)
    else:
        order_arr = as_array(order, "order")
        if order_arr.dtype.kind not in "iu" or sorted(order_arr.tolist()) != list(range(k)):
            raise ValueError(f"order must be a permutation of 0..{k - 1}, found {order!r}.")
    if noise is not None and not callable(noise):
        raise TypeError(f"noise must be a callable returning NoisyLabels, found {noise!r}.")
    avail = np.bincount(codes, minlength=k)
    if (avail == 0).any():
        raise ValueError(f"Classes with no samples: {np.flatnonzero(avail == 0).tolist()}.")
    decay = float(imbalance_ratio) ** (-np.arange(k) / (k - 1))
    n_max = float(np.min(avail[order_arr] / decay))
    if n_max / imbalance_ratio < 0.5:
        raise ValueError(
            f"imbalance_ratio={imbalance_ratio} is too large for these class sizes: the largest "
            f"class could keep only {n_max:.0f} samples, leaving the smallest none."
        )
    target = np.empty(k, dtype=np.int64)
    target[order_arr] = np.clip(np.floor(n_max * decay + 1e-9 + 0.5), 1, None).astype(np.int64)
    target = np.minimum(target, avail)
    rng = check_rng(seed)
    keep = [rng.choice(np.flatnonzero(codes == c), size=target[c], replace=False) for c in range(k)]
    indices = np.sort(np.concatenate(keep))
    kept = codes[indices]
    result = noise(kept, seed=rng) if noise is not None else None
    if result is not None and not isinstance(result, NoisyLabels):
        raise TypeError(f"noise must return NoisyLabels, returned {type(result).__name__}.")
    return LongTailed(indices, kept, np.bincount(kept, minlength=k), result)


def open_set_noise(
    labels: ArrayLike,
    n_open: int | None = None,
    *,
    outside_classes: int | Sequence[int] = 1,
    features: ArrayLike | None = None,
    n_classes: int | None = None,
    seed: SeedLike = None,
) -> OpenSetNoise:
    """Hold some classes out as "outside the label set" and give their samples in-set labels.

    The kept classes are re-indexed 0..K'-1. Outside samples (``n_open`` of them, at random;
    the rest are dropped) get the label of the nearest kept-class centroid when ``features`` are
    given (the realistic case: a look-alike class), otherwise a kept class drawn uniformly.

    Parameters
    ----------
    labels : array-like of shape (N,)
        True labels 0..K-1.
    n_open : int, optional
        How many outside samples to keep; default all of them.
    outside_classes : int or sequence of int, default=1
        How many classes to hold out (chosen at random), or which.
    features : array-like of shape (N, D), optional

    Returns
    -------
    OpenSetNoise
    """
    codes, k = _labels(labels, "labels", n_classes)
    rng = check_rng(seed)
    if isinstance(outside_classes, (int, np.integer)) and not isinstance(outside_classes, bool):
        if not 1 <= outside_classes <= k - 2:
            raise ValueError(
                f"outside_classes must hold out 1..{k - 2} of the K={k} classes (two must "
                f"remain), found {outside_classes}."
            )
        outside = np.sort(rng.choice(k, size=int(outside_classes), replace=False))
    else:
        outside = np.unique(as_array(outside_classes, "outside_classes"))
        if outside.dtype.kind not in "iu" or outside.size == 0 or outside.min() < 0:
            raise ValueError(f"outside_classes must be class indices, found {outside_classes!r}.")
        if outside.max() >= k or outside.size > k - 2:
            raise ValueError(
                f"outside_classes must be classes in 0..{k - 1} leaving at least 2, found "
                f"{outside.tolist()}."
            )
    kept_classes = np.setdiff1d(np.arange(k), outside)
    x = _features(features, len(codes)) if features is not None else None
    is_out = np.isin(codes, outside)
    out_idx = np.flatnonzero(is_out)
    if n_open is None:
        n_open = out_idx.size
    if isinstance(n_open, (bool, np.bool_)) or not isinstance(n_open, (int, np.integer)):
        raise TypeError(f"n_open must be an int, found {n_open!r}.")
    if not 0 <= n_open <= out_idx.size:
        raise ValueError(
            f"n_open must lie in 0..{out_idx.size} (the samples of outside classes "
            f"{outside.tolist()}), found {n_open}."
        )
    chosen = np.sort(rng.choice(out_idx, size=int(n_open), replace=False))
    indices = np.sort(np.concatenate([np.flatnonzero(~is_out), chosen]))
    new_of = np.full(k, -1)
    new_of[kept_classes] = np.arange(kept_classes.size)
    original = codes[indices]
    open_mask = is_out[indices]
    true = new_of[original]
    noisy = true.copy()
    if x is not None:
        centers = _class_means(x, codes, k)[kept_classes]
        sq = (centers**2).sum(1)
        rows = indices[open_mask]
        step = max(1, _CHUNK_CELLS // max(kept_classes.size, x.shape[1]))
        picks = [
            _distances(x[rows[lo : lo + step]], centers, sq).argmin(axis=1)
            for lo in range(0, rows.size, step)
        ]
        noisy[open_mask] = np.concatenate(picks) if picks else []
    else:
        noisy[open_mask] = rng.integers(0, kept_classes.size, size=int(open_mask.sum()))
    params = {"assign": "nearest" if x is not None else "random", "n_open": int(n_open)}
    return OpenSetNoise(indices, noisy, true, original, open_mask, kept_classes, outside, params)
