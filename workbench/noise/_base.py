"""Shared pieces of the noise simulators: the NoisyLabels result, the realised transition
matrix, input checks and the chunked geometry helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from workbench.core.typing import ArrayLike
from workbench.core.validation import as_array, as_float, check_finite, check_labels

_CHUNK_CELLS = 1 << 22  # rows × classes held at once by the chunked passes


@dataclass(frozen=True, eq=False)
class NoisyLabels:
    """Labels with simulated noise, and what was drawn.

    Attributes
    ----------
    noisy_labels : ndarray of shape (N,), int64
        The given (noisy) labels.
    true_labels : ndarray of shape (N,), int64
    is_flipped : ndarray of shape (N,), bool
        ``noisy_labels != true_labels``.
    transition : ndarray of shape (K, K), float64
        Realised ``T[i, j]``: the fraction of true-class-``i`` samples given label ``j``, counted
        from what was drawn (a row of NaN for a class with no samples).
    expected_transition : ndarray of shape (K, K), float64
        The matrix the labels were drawn from (for instance-dependent noise: its average over the
        samples of each class).
    kind : str
        Which simulator made it.
    params : dict
        Its parameters.
    flip_probability : ndarray of shape (N,), float64, or None
        Each sample's probability of being flipped, where it differs per sample.
    """

    noisy_labels: np.ndarray
    true_labels: np.ndarray
    is_flipped: np.ndarray
    transition: np.ndarray
    expected_transition: np.ndarray
    kind: str = "custom"
    params: dict = field(default_factory=dict)
    flip_probability: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return len(self.noisy_labels)

    @property
    def n_classes(self) -> int:
        return self.transition.shape[0]

    @property
    def n_flipped(self) -> int:
        return int(self.is_flipped.sum())

    @property
    def rate(self) -> float:
        """Realised fraction of flipped labels."""
        return self.n_flipped / max(self.n_samples, 1)

    def to_frame(self) -> pd.DataFrame:
        """One row per sample: index, true label, noisy label, flipped (and flip probability)."""
        df = pd.DataFrame(
            {
                "index": np.arange(self.n_samples),
                "true_label": self.true_labels,
                "noisy_label": self.noisy_labels,
                "is_flipped": self.is_flipped,
            }
        )
        if self.flip_probability is not None:
            df["flip_probability"] = self.flip_probability
        return df

    def __repr__(self) -> str:
        return (
            f"NoisyLabels({self.kind!r}, N={self.n_samples}, K={self.n_classes}, "
            f"flipped={self.n_flipped} ({self.rate:.1%}))"
        )


def realised_transition(
    true_labels: ArrayLike, noisy_labels: ArrayLike, *, n_classes: int | None = None
) -> np.ndarray:
    """The transition matrix counted from labels: ``T[i, j]`` = fraction of true-``i`` given ``j``.

    Parameters
    ----------
    true_labels, noisy_labels : array-like of shape (N,)
        Integer labels 0..K-1.
    n_classes : int, optional
        K; default the largest label + 1.

    Returns
    -------
    ndarray of shape (K, K), float64
        Rows sum to 1; a class with no true samples gets a row of NaN.
    """
    true, k = _labels(true_labels, "true_labels", n_classes, min_classes=1)
    noisy, _ = _labels(noisy_labels, "noisy_labels", k, min_classes=1)
    if len(true) != len(noisy):
        raise ValueError(
            f"true_labels and noisy_labels must have the same length, found {len(true)} and "
            f"{len(noisy)}."
        )
    return _realised(true, noisy, k)


def _realised(true: np.ndarray, noisy: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(true * k + noisy, minlength=k * k).reshape(k, k).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / totals


def _labels(labels, name, n_classes=None, *, min_classes=2):
    codes, names = check_labels(labels, name=name, n_classes=n_classes)
    k = len(names)
    if len(codes) == 0:
        raise ValueError(f"{name} is empty; expected at least one sample.")
    if k < min_classes:
        raise ValueError(f"Noise needs at least {min_classes} classes, found K={k} in {name}.")
    return codes, k


def _check_rate(rate, name="rate", *, high=1.0, inclusive_high=False) -> float:
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, found {rate!r}.")
    rate = float(rate)
    ok = 0.0 <= rate <= high if inclusive_high else 0.0 <= rate < high
    if not ok:
        bracket = "]" if inclusive_high else ")"
        raise ValueError(f"{name} must lie in [0, {high:g}{bracket}, found {rate}.")
    return rate


def _features(features, n: int) -> np.ndarray:
    x = as_array(features, "features")
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D of shape (N, D), found shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.number) or x.dtype.kind in "bc":
        raise TypeError(f"features must be real numbers, found dtype {x.dtype}.")
    if len(x) != n:
        raise ValueError(f"features has {len(x)} rows but labels has {n} samples.")
    if x.shape[1] < 1:
        raise ValueError(f"features must have at least one column, (N, D >= 1); found {x.shape}.")
    x = as_float(x, "features")
    check_finite(x, "features")
    return x


def _class_means(x: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """(K, D) means of ``x`` per class, in row chunks (no N×K or sorted copy of x)."""
    sums = np.zeros((k, x.shape[1]))
    step = max(1, _CHUNK_CELLS // max(x.shape[1], 1))
    for lo in range(0, len(x), step):
        c = codes[lo : lo + step]
        onehot = sparse.csr_matrix((np.ones(len(c)), (c, np.arange(len(c)))), shape=(k, len(c)))
        sums += onehot @ x[lo : lo + step].astype(np.float64)
    counts = np.bincount(codes, minlength=k)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def _distances(x: np.ndarray, centers: np.ndarray, sq_centers: np.ndarray) -> np.ndarray:
    xf = x.astype(np.float64)
    d2 = (xf * xf).sum(1)[:, None] - 2.0 * xf @ centers.T + sq_centers[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


def _draw_from(codes: np.ndarray, transition: np.ndarray, rng, exact: bool) -> np.ndarray:
    """Draw a label for each sample from row ``transition[codes[n]]``, class by class."""
    k = transition.shape[0]
    out = codes.copy()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(k + 1))
    for i in range(k):
        idx = order[bounds[i] : bounds[i + 1]]
        if idx.size == 0:
            continue
        if exact:  # largest-remainder counts, assigned to a random permutation of the samples
            want = transition[i] * idx.size
            counts = np.floor(want).astype(np.int64)
            short = idx.size - counts.sum()
            if short:
                counts[np.argsort(-(want - counts), kind="stable")[:short]] += 1
            out[rng.permutation(idx)] = np.repeat(np.arange(k), counts)
        else:
            cum = np.cumsum(transition[i])
            cum /= cum[-1]
            out[idx] = np.minimum(np.searchsorted(cum, rng.random(idx.size), side="right"), k - 1)
    return out


def _result(true, noisy, expected, kind, params, flip_probability=None) -> NoisyLabels:
    k = expected.shape[0]
    return NoisyLabels(
        noisy_labels=noisy,
        true_labels=true,
        is_flipped=noisy != true,
        transition=_realised(true, noisy, k),
        expected_transition=expected,
        kind=kind,
        params=params,
        flip_probability=flip_probability,
    )
