"""Several annotators: each labels a subset of the samples through its own confusion matrix;
spammers answer uniformly at random."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import as_array, check_rng, check_transition
from workbench.noise._base import _CHUNK_CELLS, _draw_from, _labels, _realised

__all__ = ["SimulatedAnnotators", "simulate_annotators"]


@dataclass(frozen=True, eq=False)
class SimulatedAnnotators:
    """Labels from M simulated annotators.

    Attributes
    ----------
    labels : ndarray of shape (N, M), int64
        Annotator ``m``'s label for sample ``n``; -1 where ``m`` did not label ``n``.
    confusion : ndarray of shape (M, K, K), float64
        The matrix each annotator answered from: ``confusion[m, i, j] = P(m says j | true = i)``.
    is_spammer : ndarray of shape (M,), bool
        Spammers answer uniformly at random.
    true_labels : ndarray of shape (N,), int64
    """

    labels: np.ndarray
    confusion: np.ndarray
    is_spammer: np.ndarray
    true_labels: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def realised_confusion(self) -> np.ndarray:
        """(M, K, K): each annotator's confusion counted from the labels drawn (NaN rows for
        classes the annotator never saw)."""
        k = self.confusion.shape[1]
        out = np.empty(self.confusion.shape)
        for m in range(self.labels.shape[1]):
            seen = self.labels[:, m] >= 0
            out[m] = _realised(self.true_labels[seen], self.labels[seen, m], k)
        return out

    @property
    def accuracy(self) -> np.ndarray:
        """(M,): realised fraction of correct answers per annotator (NaN if none given)."""
        seen = self.labels >= 0
        right = (self.labels == self.true_labels[:, None]) & seen
        with np.errstate(invalid="ignore", divide="ignore"):
            return right.sum(axis=0) / seen.sum(axis=0)

    def majority_vote(self, *, seed: SeedLike = None) -> np.ndarray:
        """(N,) int64: the most frequent label per sample, ties broken at random (-1 if none)."""
        rng = check_rng(seed)
        n, k = self.labels.shape[0], self.confusion.shape[1]
        out = np.empty(n, dtype=np.int64)
        step = max(1, _CHUNK_CELLS // k)
        for lo in range(0, n, step):
            block = self.labels[lo : lo + step]
            rows, cols = np.nonzero(block >= 0)
            counts = np.zeros((len(block), k))
            np.add.at(counts, (rows, block[rows, cols]), 1.0)
            counts += rng.random(counts.shape) * 0.5  # random tie-break, never beats a real vote
            vote = counts.argmax(axis=1)
            vote[counts.max(axis=1) < 1] = -1
            out[lo : lo + step] = vote
        return out


def simulate_annotators(
    true_labels: ArrayLike,
    n_annotators: int,
    *,
    accuracy: float | Sequence[float] | None = None,
    confusion: ArrayLike | None = None,
    n_spammers: int = 0,
    labels_per_sample: int | None = None,
    n_classes: int | None = None,
    seed: SeedLike = None,
) -> SimulatedAnnotators:
    """Simulate M annotators labelling N samples, some of them spammers.

    Parameters
    ----------
    true_labels : array-like of shape (N,)
    n_annotators : int
        M >= 1.
    accuracy : float or sequence of M floats, default=0.8
        Probability that an annotator gives the true label; errors are spread uniformly over the
        other classes. Not together with ``confusion``.
    confusion : array-like of shape (K, K) or (M, K, K), optional
        ``confusion[m, i, j] = P(annotator m says j | true = i)``, rows summing to 1.
    n_spammers : int, default=0
        How many annotators (placed at random) answer uniformly at random instead.
    labels_per_sample : int, optional
        How many annotators label each sample (chosen at random); the other entries are -1.
        Default: every annotator labels every sample.

    Returns
    -------
    SimulatedAnnotators
    """
    codes, k = _labels(true_labels, "true_labels", n_classes)
    if isinstance(n_annotators, (bool, np.bool_)) or not isinstance(
        n_annotators, (int, np.integer)
    ):
        raise TypeError(f"n_annotators must be an int, found {n_annotators!r}.")
    m = int(n_annotators)
    if m < 1:
        raise ValueError(f"n_annotators must be at least 1, found {m}.")
    if not isinstance(n_spammers, (int, np.integer)) or not 0 <= n_spammers <= m:
        raise ValueError(f"n_spammers must be an int in 0..{m}, found {n_spammers!r}.")
    r = m if labels_per_sample is None else labels_per_sample
    if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, np.integer)) or not 1 <= r <= m:
        raise ValueError(
            f"labels_per_sample must be an int in 1..{m}, found {labels_per_sample!r}."
        )
    if confusion is not None and accuracy is not None:
        raise ValueError("Give accuracy or confusion, not both.")
    if confusion is not None:
        conf = as_array(confusion, "confusion")
        if conf.ndim == 2:
            conf = np.broadcast_to(check_transition(conf, name="confusion", n_classes=k), (m, k, k))
        elif conf.ndim == 3 and conf.shape[0] == m:
            conf = np.stack(
                [
                    check_transition(c, name=f"confusion[{i}]", n_classes=k)
                    for i, c in enumerate(conf)
                ]
            )
        else:
            raise ValueError(
                f"confusion must have shape (K, K) or (M={m}, K={k}, K={k}), found {conf.shape}."
            )
        conf = np.array(conf, dtype=np.float64)
    else:
        acc = np.asarray(0.8 if accuracy is None else accuracy, dtype=float)
        if acc.shape not in ((), (m,)):
            raise ValueError(f"accuracy must be a float or M={m} floats, found shape {acc.shape}.")
        acc = np.broadcast_to(acc, (m,))
        if not np.isfinite(acc).all() or (acc < 0).any() or (acc > 1).any():
            raise ValueError(f"accuracy must lie in [0, 1], found {acc.tolist()}.")
        conf = np.empty((m, k, k))
        conf[:] = ((1 - acc) / (k - 1))[:, None, None]
        conf[:, np.arange(k), np.arange(k)] = acc[:, None]
    rng = check_rng(seed)
    is_spammer = np.zeros(m, dtype=bool)
    is_spammer[rng.choice(m, size=int(n_spammers), replace=False)] = True
    conf[is_spammer] = 1.0 / k
    n = len(codes)
    labeled = np.ones((n, m), dtype=bool)
    if r < m:
        step = max(1, _CHUNK_CELLS // m)
        for lo in range(0, n, step):
            keys = rng.random((min(step, n - lo), m))
            labeled[lo : lo + step] = keys <= np.partition(keys, r - 1, axis=1)[:, r - 1 : r]
    out = np.full((n, m), -1, dtype=np.int64)
    for j in range(m):
        rows = np.flatnonzero(labeled[:, j])
        out[rows, j] = _draw_from(codes[rows], conf[j], rng, exact=False)
    params = {"n_spammers": int(n_spammers), "labels_per_sample": int(r)}
    return SimulatedAnnotators(out, conf, is_spammer, codes, params)
