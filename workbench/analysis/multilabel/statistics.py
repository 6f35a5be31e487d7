"""The one-vs-rest statistics pass of multi-label confident learning, vectorised over classes.

N samples, K classes; ``Y`` (N, K) bool label sets, ``P`` (N, K) independent per-class
probabilities (out-of-sample). Class ``c`` is a binary problem: given label ``Y[:, c]`` (0/1),
probabilities ``[1 - P[:, c], P[:, c]]``, exactly cleanlab's one-vs-rest reduction. Its 2×2
statistics follow the rules of the single-label pass (:mod:`workbench.analysis.statistics`):
confident thresholds per side (:func:`~workbench.analysis.statistics.thresholds_from_sorted`,
a side nobody is given has threshold 2), the raw confident joint (rows = given, diagonal at
least 1), calibrated and turned into prune counts by the same K×K helpers
(:func:`~workbench.analysis.statistics.calibrate_joint`,
:func:`~workbench.analysis.statistics.keep_at_least`,
:func:`~workbench.analysis.statistics.set_removals`).

Classes are processed in **blocks**: a block holds its classes' columns transposed,
(B, N), so every per-sample step is one numpy operation over all B classes of the block, and
memory stays O(B·N) with B chosen from a byte budget (a few copies of 16 MiB). Blocks run on
the shared thread pool. Per-class means are numpy's own pairwise sums over each class in index
order, so thresholds, joints and masks agree bit for bit with cleanlab 2.9 on float32 and
float64 input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.analysis.statistics import SLACK, thresholds_from_sorted
from workbench.core.chunks import parallel_map
from workbench.core.label_sets import check_label_sets, check_multilabel_pred_probs

__all__ = [
    "BLOCK_BYTES",
    "ClassBlock",
    "check_inputs",
    "class_blocks",
    "confident_thresholds",
    "for_each_block",
]

#: Bytes of one (B, N) float block; a block holds a few such arrays at once.
BLOCK_BYTES = 16 << 20


@dataclass
class ClassBlock:
    """B classes, samples along the second axis.

    ``p`` (B, N): probability of each class; ``q = 1 - p`` in the same dtype (the probability
    of "not the class", cleanlab's column 0); ``y`` (B, N) bool given label sets;
    ``thresholds`` (B, 2) float64 values of the confident thresholds [not-class, class];
    ``lower`` (B, 2) float64: the values a probability must reach (``threshold - 1e-6``
    computed in the dtype cleanlab uses, float32 for float32 input unless a side is empty).
    """

    cols: np.ndarray
    p: np.ndarray
    q: np.ndarray
    y: np.ndarray
    counts: np.ndarray  # (B, 2) int64: samples without / with the class
    thresholds: np.ndarray
    lower: np.ndarray
    wide: np.ndarray  # (B,) bool: thresholds are float64 (a side is empty) for float32 input

    # --- per (class, sample) ---------------------------------------------------------------
    def confident(self):
        """``counted`` and ``guess`` (B, N) bool: some side reaches its threshold, and the
        confident side (1 = the class): the argmax where both reach (ties go to side 0)."""
        b0 = self.q >= self.lower[:, :1]
        b1 = self.p >= self.lower[:, 1:]
        guess = np.where(b0 & b1, self.p > self.q, b1)
        return b0 | b1, guess

    def joint_counts(self, counted=None, guess=None) -> np.ndarray:
        """Raw confident joint per class, (B, 2, 2) int64, rows = given, diagonal at least 1."""
        if counted is None:
            counted, guess = self.confident()
        cy, cn = counted & self.y, counted & ~self.y
        j = np.empty((len(self.cols), 2, 2), np.int64)
        j[:, 1, 1] = np.count_nonzero(cy & guess, axis=1)
        j[:, 1, 0] = np.count_nonzero(cy, axis=1) - j[:, 1, 1]
        j[:, 0, 1] = np.count_nonzero(cn & guess, axis=1)
        j[:, 0, 0] = np.count_nonzero(cn, axis=1) - j[:, 0, 1]
        j[:, 0, 0] = np.maximum(j[:, 0, 0], 1)
        j[:, 1, 1] = np.maximum(j[:, 1, 1], 1)
        return j

    def close_call(self) -> np.ndarray:
        """(B, N) bool: the given side is the binary prediction once it gets a 1e-6 head start
        (never flagged, cleanlab's ``_reduce_issues``); ties of the argmax go to side 0."""
        eps = self.p.dtype.type(SLACK)
        return np.where(self.y, self.p + eps > self.q, self.q + eps >= self.p)

    def close_call_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """:meth:`close_call` at the entries ``(rows, cols)`` only."""
        p, q, y = self.p[rows, cols], self.q[rows, cols], self.y[rows, cols]
        eps = self.p.dtype.type(SLACK)
        return np.where(y, p + eps > q, q + eps >= p)


def check_inputs(labels, pred_probs) -> tuple[np.ndarray, np.ndarray]:
    """Validate multi-label input: ``labels`` label sets (N×K 0/1 matrix or N lists of class
    indices / names), ``pred_probs`` (N, K) independent probabilities in [0, 1].

    K is the width of ``pred_probs``; every class index must lie in ``0..K-1``. float64 stays
    float64, every other dtype becomes float32. Returns ``(Y, P)``: (N, K) bool and floats.
    """
    P = check_multilabel_pred_probs(pred_probs)
    Y, _ = check_label_sets(labels, n_classes=P.shape[1])
    if len(Y) != len(P):
        raise ValueError(
            f"labels has {len(Y)} samples but pred_probs has {len(P)} rows; give one label set "
            "per row of pred_probs."
        )
    return Y, P


def class_blocks(Y: np.ndarray, P: np.ndarray, budget: int = BLOCK_BYTES) -> list[np.ndarray]:
    """Class indices split into blocks of at most ``budget`` bytes of (B, N) floats."""
    n, k = P.shape
    size = int(max(1, min(k, budget // max(1, n * P.dtype.itemsize))))
    return [np.arange(s, min(k, s + size)) for s in range(0, k, size)]


def make_block(Y: np.ndarray, P: np.ndarray, cols: np.ndarray) -> ClassBlock:
    """Gather the classes ``cols`` and run their threshold pass."""
    n = P.shape[0]
    p = np.ascontiguousarray(P[:, cols[0] : cols[-1] + 1].T)
    y = np.ascontiguousarray(Y[:, cols[0] : cols[-1] + 1].T)
    q = 1 - p
    n1 = np.count_nonzero(y, axis=1)
    counts = np.stack([n - n1, n1], axis=1).astype(np.int64)
    thresholds = np.empty((len(cols), 2), np.float64)
    lower = np.empty((len(cols), 2), np.float64)
    wide = np.zeros(len(cols), bool)
    for i in range(len(cols)):
        yi = y[i]
        given_sorted = np.concatenate([q[i][~yi], p[i][yi]])
        t = thresholds_from_sorted(given_sorted, np.array([0, counts[i, 0], n]), P.dtype)
        thresholds[i] = t
        lower[i] = t - SLACK  # in t's dtype, as cleanlab compares
        wide[i] = t.dtype != P.dtype
    return ClassBlock(cols, p, q, y, counts, thresholds, lower, wide)


def for_each_block(Y: np.ndarray, P: np.ndarray, fn, budget: int = BLOCK_BYTES) -> None:
    """Call ``fn(block)`` for every :class:`ClassBlock` of the data, on the thread pool."""
    parallel_map(lambda cols: fn(make_block(Y, P, cols)), class_blocks(Y, P, budget))


def confident_thresholds(Y: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class confident thresholds (K, 2) float64 [not-class, class] and ``wide`` (K,) bool
    (their dtype is float64 although ``P`` is float32: a side with no sample)."""
    k = P.shape[1]
    thr, wide = np.empty((k, 2)), np.zeros(k, bool)

    def one(block: ClassBlock) -> None:
        thr[block.cols], wide[block.cols] = block.thresholds, block.wide

    for_each_block(Y, P, one)
    return thr, wide
