"""Label-set noise for teaching: missing labels, extra labels, per-class flips and swaps to a
class that often co-occurs, seeded, reporting the realised per-class rates.

N samples, K classes; label sets as in :mod:`workbench.core.label_sets` (an N×K 0/1 matrix or
N lists of class indices). Every simulator draws independent Bernoulli events from ``seed``
(an int or a ``numpy.random.Generator``: same seed, same result) and returns a
:class:`NoisyLabelSets` holding the noisy and true sets and the **realised** per-class rates,
counted from what was drawn:

- ``missing_rate[c]``: share of the samples truly having ``c`` whose noisy set lacks it
  (false negatives, the most common multi-label annotation error);
- ``extra_rate[c]``: share of the samples truly lacking ``c`` whose noisy set has it
  (false positives).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.core.label_sets import check_label_sets, label_set_lists
from workbench.core.typing import SeedLike
from workbench.core.validation import check_rng

__all__ = [
    "NoisyLabelSets",
    "cooccurrence_swaps",
    "extra_labels",
    "flip_labels",
    "missing_labels",
]


@dataclass(frozen=True, eq=False)
class NoisyLabelSets:
    """Label sets with simulated noise, and what was drawn.

    Attributes
    ----------
    noisy_labels, true_labels : ndarray of shape (N, K), bool
    kind : str
        Which simulator made it.
    params : dict
    """

    noisy_labels: np.ndarray
    true_labels: np.ndarray
    kind: str = "custom"
    params: dict = field(default_factory=dict)

    @property
    def changed(self) -> np.ndarray:
        """(N, K) bool: annotations that differ from the truth."""
        return self.noisy_labels != self.true_labels

    @property
    def is_noisy(self) -> np.ndarray:
        """(N,) bool: samples whose label set differs from the truth."""
        return self.changed.any(axis=1)

    @property
    def rate(self) -> float:
        """Realised share of samples with a wrong label set."""
        return float(self.is_noisy.mean())

    @property
    def missing_rate(self) -> np.ndarray:
        """(K,) realised share of true annotations removed per class (NaN: nobody has it)."""
        have = self.true_labels.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.true_labels & ~self.noisy_labels).sum(axis=0) / np.where(
                have, have, np.nan
            )

    @property
    def extra_rate(self) -> np.ndarray:
        """(K,) realised share of absent classes added per class (NaN: everybody has it)."""
        lack = (~self.true_labels).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (~self.true_labels & self.noisy_labels).sum(axis=0) / np.where(
                lack, lack, np.nan
            )

    def per_class_rates(self) -> pd.DataFrame:
        """One row per class: true count, missing / extra counts and realised rates."""
        return pd.DataFrame(
            {
                "class": np.arange(self.true_labels.shape[1]),
                "n_true": self.true_labels.sum(axis=0),
                "n_missing": (self.true_labels & ~self.noisy_labels).sum(axis=0),
                "n_extra": (~self.true_labels & self.noisy_labels).sum(axis=0),
                "missing_rate": self.missing_rate,
                "extra_rate": self.extra_rate,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per sample: index, true set, noisy set (lists of classes), is_noisy."""
        return pd.DataFrame(
            {
                "index": np.arange(len(self.true_labels)),
                "true_label": label_set_lists(self.true_labels),
                "noisy_label": label_set_lists(self.noisy_labels),
                "is_noisy": self.is_noisy,
            }
        )


def _sets(labels, n_classes) -> np.ndarray:
    Y, _ = check_label_sets(labels, n_classes=n_classes)
    return Y


def _rates(rate, k: int, name: str) -> np.ndarray:
    """A rate in [0, 1] for every class: one number or K of them."""
    arr = np.asarray(rate, dtype=float) if not isinstance(rate, (bool, np.bool_)) else None
    if arr is None or arr.ndim > 1 or (arr.ndim == 1 and len(arr) != k):
        raise ValueError(f"{name} must be a number in [0, 1] or K={k} of them, found {rate!r}.")
    if not np.all(np.isfinite(arr)) or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"{name} must lie in [0, 1], found {rate!r}.")
    return np.broadcast_to(arr, (k,)).copy()


def flip_labels(labels, *, missing_rate=0.0, extra_rate=0.0, n_classes: int | None = None,
                seed: SeedLike = 0) -> NoisyLabelSets:  # fmt: skip
    """Per-class flips: remove each present class ``c`` with probability ``missing_rate[c]``,
    add each absent class ``c`` with probability ``extra_rate[c]`` (numbers or K of them).

    Parameters
    ----------
    labels : label sets (the truth)
    missing_rate, extra_rate : float or sequence of K floats in [0, 1]
    n_classes : int, optional
        K when ``labels`` are lists of indices that do not show every class.
    seed : int or numpy.random.Generator

    Returns
    -------
    NoisyLabelSets
    """
    true = _sets(labels, n_classes)
    k = true.shape[1]
    miss, extra = _rates(missing_rate, k, "missing_rate"), _rates(extra_rate, k, "extra_rate")
    rng = check_rng(seed)
    draw = rng.random(true.shape)
    noisy = np.where(true, draw >= miss, draw < extra)
    params = {"missing_rate": missing_rate, "extra_rate": extra_rate}
    return NoisyLabelSets(noisy, true, "per_class_flips", params)


def missing_labels(labels, rate=0.1, *, n_classes: int | None = None,
                   seed: SeedLike = 0) -> NoisyLabelSets:  # fmt: skip
    """Missing labels (false negatives): every present class is dropped with probability
    ``rate`` (a number or K of them); absent classes stay absent."""
    out = flip_labels(labels, missing_rate=rate, n_classes=n_classes, seed=seed)
    return NoisyLabelSets(out.noisy_labels, out.true_labels, "missing_labels", {"rate": rate})


def extra_labels(labels, rate=0.02, *, n_classes: int | None = None,
                 seed: SeedLike = 0) -> NoisyLabelSets:  # fmt: skip
    """Extra labels (false positives): every absent class is added with probability ``rate``
    (a number or K of them); present classes stay."""
    out = flip_labels(labels, extra_rate=rate, n_classes=n_classes, seed=seed)
    return NoisyLabelSets(out.noisy_labels, out.true_labels, "extra_labels", {"rate": rate})


def cooccurrence_swaps(labels, rate=0.1, *, n_classes: int | None = None,
                       seed: SeedLike = 0) -> NoisyLabelSets:  # fmt: skip
    """Swaps to a co-occurring class: with probability ``rate`` a sample with at least one
    class and one absent class has one of its classes ``c`` (uniformly chosen) replaced by an
    absent class ``d``, drawn with probability proportional to how often ``c`` and ``d``
    co-occur in the true sets (uniformly among the absent classes when ``c`` co-occurs with
    none of them). The common real-world error: "dog" tagged where "wolf" was meant.
    """
    true = _sets(labels, n_classes)
    n, k = true.shape
    if isinstance(rate, (bool, np.bool_)) or not np.isscalar(rate) or not 0 <= float(rate) <= 1:
        raise ValueError(f"rate must be a number in [0, 1], found {rate!r}.")
    rng = check_rng(seed)
    counts = true.astype(np.float64)
    co = counts.T @ counts  # (K, K) co-occurrence counts
    np.fill_diagonal(co, 0.0)
    noisy = true.copy()
    n_true = true.sum(axis=1)
    eligible = np.flatnonzero((n_true > 0) & (n_true < k))
    chosen = eligible[rng.random(len(eligible)) < float(rate)]
    for i in chosen:
        present = np.flatnonzero(true[i])
        c = present[rng.integers(len(present))]
        absent = np.flatnonzero(~true[i])
        weights = co[c, absent]
        p = weights / weights.sum() if weights.sum() > 0 else None
        d = absent[rng.choice(len(absent), p=p)]
        noisy[i, c], noisy[i, d] = False, True
    return NoisyLabelSets(noisy, true, "cooccurrence_swaps", {"rate": rate})
