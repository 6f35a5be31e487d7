"""Neural relation graph: relation values between every pair of samples, summed blockwise (torch).

N samples, D feature dimensions, K classes. Kim, Yun, Song, "Neural Relation Graph: A Unified
Framework for Identifying Label Noise and Outlier Data" (NeurIPS 2023). With features
``x`` normalised to unit length and a model's probabilities ``p``, the kernel between two
samples is

    k(i, j) = max(<x_i, x_j>, 0) · <p_i, p_j>

(feature similarity times the compatibility of the two predictions; the paper's kernel
"cos_p"), and the **relation** between labelled samples is ``r(i, j) = k(i, j) · (+1 if
y_i = y_j else -1)``: similar samples with the same label support each other, similar
samples with different labels conflict. Relations with ``|r| <= threshold`` are dropped and
the rest raised to the power ``t`` (the temperature), keeping the sign.

- **Label reliability** ``s_i = sum_j sign(r(i, j)) |r(i, j)|^t`` (the authors' code counts the
  sample itself, ``j = i``, as they do). Samples with ``s_i / max |s| < -reg`` form the
  estimated noisy set ``S``, whose labels are taken to be wrong, so their relations change
  sign: ``s'_i = s_i - 2 sum_{j in S} sign(r(i, j)) |r(i, j)|^t`` (one refinement, as their
  code does).
- **Density** (for outliers) ``d_i = sum_{j != i} k(i, j)^t`` over every other sample
  without labels; ``1 / (d_i + 1e-6)`` is the outlier score (their OOD score; ``t = 1`` works
  best there).

The N × N matrix is never held: rows are processed in blocks of at most ``block_elements``
entries, so memory is O(N · (K + block)). The definitions and defaults (t = 4, threshold 0.03,
lambda 0.05) follow the paper and the authors' code (snu-mllab/Neural-Relation-Graph:
``relation.py`` for the kernel and the sums, ``detect.py`` for the one refinement,
``detect_ood.py`` for the outlier score).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from workbench.compute.device import resolve_device
from workbench.compute.threads import limit_threads

__all__ = ["RelationSums", "relation_sums"]

_BLOCK_ELEMENTS = 1 << 24


class RelationSums(NamedTuple):
    """Per-sample sums over the relation graph (see the module docstring).

    Attributes
    ----------
    reliability : ndarray of shape (N,), float64, or None
        ``s'``, the refined label reliability (None without labels).
    initial : ndarray of shape (N,), float64, or None
        ``s``, before the refinement.
    noisy : ndarray of shape (N,), bool, or None
        The estimated noisy set ``S``.
    support : ndarray of shape (N,), int64, or None
        The class whose samples (other than the sample itself) relate most to it.
    density : ndarray of shape (N,), float64
        ``d``, the kernel mass of every other sample.
    """

    reliability: np.ndarray | None
    initial: np.ndarray | None
    noisy: np.ndarray | None
    support: np.ndarray | None
    density: np.ndarray


def relation_sums(
    features: np.ndarray,
    pred_probs: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    power: float = 4.0,
    threshold: float = 0.03,
    reg: float = 0.05,
    block_elements: int = _BLOCK_ELEMENTS,
    device=None,
    progress: bool = True,
) -> RelationSums:
    """Sum relation values over the whole graph, block by block.

    Parameters
    ----------
    features : ndarray of shape (N, D)
        Finite; normalised to unit length here (a zero row relates to nothing).
    pred_probs : ndarray of shape (N, K)
    labels : ndarray of shape (N,), int, optional
        Without labels only ``density`` is computed.
    power : float, default=4
        The temperature ``t``.
    threshold : float, default=0.03
        Relations with ``|r| <= threshold`` are dropped (the authors' cut).
    reg : float, default=0.05
        ``lambda`` of the noisy-set estimate.
    block_elements : int
        Most kernel entries computed at once.
    device : str or torch.device, optional
    progress : bool, default=True

    Returns
    -------
    RelationSums
    """
    dev = resolve_device(device)
    n, d = np.shape(features)
    # one torch thread for a small graph (and BLAS on one thread): see workbench.compute.threads
    with limit_threads(device=dev, total=float(n) * n * (d + np.shape(pred_probs)[1])):
        return _sums(features, pred_probs, labels, power, threshold, reg, block_elements, dev,
                     progress)  # fmt: skip


def _sums(features, pred_probs, labels, power, threshold, reg, block_elements, dev,
          progress) -> RelationSums:  # fmt: skip
    """:func:`relation_sums` on the device ``dev``."""
    x = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32, device=dev)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    p = torch.as_tensor(np.ascontiguousarray(pred_probs), dtype=torch.float32, device=dev)
    n, k = p.shape
    y = (
        None
        if labels is None
        else torch.as_tensor(np.asarray(labels), dtype=torch.long, device=dev)
    )
    onehot = None if y is None else torch.nn.functional.one_hot(y, k).to(torch.float32)
    acc = torch.float64 if dev.type != "mps" else torch.float32  # MPS has no float64
    step = max(1, int(block_elements) // max(n, 1))
    self_k = (x * x).sum(dim=1).clamp_min(0) * (p * p).sum(dim=1)  # k(i, i)
    self_w = torch.where(self_k > threshold, self_k**power, torch.zeros_like(self_k))

    def powered(rows, cols_x, cols_p):
        kern = (x[rows] @ cols_x.T).clamp_min_(0) * (p[rows] @ cols_p.T)
        return torch.where(kern > threshold, kern**power, torch.zeros_like(kern))

    density = torch.empty(n, dtype=acc, device=dev)
    initial = None if y is None else torch.empty(n, dtype=acc, device=dev)
    support = None if y is None else torch.empty(n, dtype=torch.long, device=dev)
    for start in tqdm(range(0, n, step), desc="relation graph", disable=not progress):
        rows = slice(start, min(start + step, n))
        w = powered(rows, x, p)
        total = w.sum(dim=1, dtype=acc)
        density[rows] = total - self_w[rows].to(acc)
        if y is not None:
            per_class = (w @ onehot).to(acc)  # (B, K): kernel mass of each class
            same = per_class.gather(1, y[rows, None])[:, 0]
            initial[rows] = 2 * same - total
            per_class.scatter_add_(1, y[rows, None], -self_w[rows, None].to(acc))
            support[rows] = per_class.argmax(dim=1)
    if y is None:
        return RelationSums(None, None, None, None, _np(density))
    top = initial.abs().max().clamp_min(1e-300)
    noisy = initial / top < -reg
    reliability = initial.clone()
    idx = torch.nonzero(noisy)[:, 0]
    if len(idx):
        nx, npr, ny = x[idx], p[idx], onehot[idx]
        step = max(1, int(block_elements) // max(len(idx), 1))
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            w = powered(rows, nx, npr)
            per_class = (w @ ny).to(acc)
            same = per_class.gather(1, y[rows, None])[:, 0]
            reliability[rows] -= 2 * (2 * same - w.sum(dim=1, dtype=acc))
    return RelationSums(
        _np(reliability), _np(initial), noisy.cpu().numpy(), support.cpu().numpy(), _np(density)
    )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.cpu().numpy().astype(np.float64)
