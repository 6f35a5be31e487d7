"""ReCoV: a noise histogram from repeated cross-validation (the kernel of the ``recov`` detector).

N samples, D features, K classes, F folds, R repeats. Over R random stratified F-fold splits,
a cheap probe is fitted on every fold's complement and scored on the fold; the fold that
scores worst is the one most likely to hold more mislabeled samples, so a mislabeled sample
lands in the worst fold more often than the 1/F a clean one does. The count per sample is the
noise histogram of Chen, Ramanathan, Xu, Martel — "Cross-Validation Is All You Need: A
Statistical Approach To Label Noise Estimation" (2023); its binomial test gives the flags.

The count alone ranks samples poorly once folds are large: the worst fold holds N/F samples and
the few mislabeled ones share its blame with all the clean ones. The score therefore weighs
every landing in the worst fold by the sample's own share of that fold's loss (its held-out loss
over the fold's mean): a clean sample that merely shares the worst fold earns little, the
samples that made it the worst earn most. Summed over samples, the weights of a repeat equal the
count it hands out, so the score keeps the count's scale (about 1/F for a clean sample).

The probe is a ridge (least-squares) classifier on one-hot labels, solved in closed form: the
F folds of a repeat, and several repeats at once, are one batched Gram / solve / product, so
hundreds of repeats cost seconds for thousands of samples. The cost is about
``4 * R * N * min(D, max_dim)²`` operations (a minute on 2 CPU cores for N = 100,000 and
R = 200); the evidence per repeat also thins out as N grows (a fold's noise count varies like
sqrt(N / F)), so ReCoV suits small and medium datasets best. Features are standardised and,
above ``max_dim`` dimensions, reduced by PCA first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats

from workbench.compute.device import float64_device, resolve_device
from workbench.compute.projection import pca
from workbench.compute.threads import limit_threads
from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import (
    align_on_index,
    as_array,
    as_float,
    check_consistent_length,
    check_finite,
    check_labels,
    check_rng,
)

__all__ = ["RecovResult", "recov_scores"]

_METRICS = ("loss", "error")


@dataclass(frozen=True, eq=False)
class RecovResult:
    """The noise histogram and what it says.

    Attributes
    ----------
    scores : ndarray of shape (N,), float64
        Landings in the worst fold per repeat, each weighted by the sample's held-out loss over
        the mean loss of that fold; **higher = more likely mislabeled**. 0 for a sample never in
        the worst fold; about 1/F on average (the weights of a repeat sum to its fold size).
    worst_fold_rate : ndarray of shape (N,), float64
        ``counts / n_repeats``: the fraction of repeats in which the sample sat in the worst
        fold (the paper's statistic, unweighted); a clean sample's expectation is about 1/F.
    counts : ndarray of shape (N,), int64
        Times in the worst fold, out of ``n_repeats``.
    p_values : ndarray of shape (N,), float64
        One-sided binomial test of ``counts`` against Binomial(R, 1/F) (no label noise).
    flags : ndarray of shape (N,), bool
        Significant after Benjamini-Hochberg at false-discovery rate ``alpha``. Samples that
        are correctly labeled but hard (atypical, near a class boundary) also drag their fold
        down and can be flagged, as with every detector.
    histogram : ndarray of shape (R + 1,), int64
        Number of samples with each count 0..R (the noise histogram).
    """

    scores: np.ndarray
    worst_fold_rate: np.ndarray
    counts: np.ndarray
    p_values: np.ndarray
    flags: np.ndarray
    histogram: np.ndarray
    n_repeats: int
    n_folds: int
    device: str
    params: dict = field(default_factory=dict)


def recov_scores(
    features: ArrayLike,
    labels: ArrayLike,
    *,
    n_repeats: int = 200,
    n_folds: int = 5,
    metric: str = "loss",
    ridge: float = 1.0,
    max_dim: int = 64,
    alpha: float = 0.05,
    seed: SeedLike = 0,
    device=None,
    progress: bool = True,
) -> RecovResult:
    """Count how often each sample lands in the worst fold of repeated cross-validation.

    Score: the landings in the worst fold, each weighted by the sample's own share of that
    fold's held-out loss, per repeat (see :class:`RecovResult`); flags: the binomial test of the
    unweighted counts.

    Parameters
    ----------
    features : array-like of shape (N, D)
    labels : array-like of shape (N,)
        Given (possibly noisy) labels.
    n_repeats : int, default=200
        R, random stratified splits. The separation grows with R (a count's noise shrinks
        like 1/sqrt(R)).
    n_folds : int, default=5
        F; at most the size of the smallest class.
    metric : {"loss", "error"}, default="loss"
        How a fold is scored: mean squared error of the ridge outputs against the one-hot
        given labels, or classification error (ties broken by the loss).
    ridge : float, default=1.0
        L2 penalty of the ridge probe (the intercept is not penalised).
    max_dim : int, default=64
        Features wider than this are reduced to ``max_dim`` principal components first.
    alpha : float, default=0.05
        False-discovery rate of the flags.
    seed : int or numpy.random.Generator, default=0
        The splits; same seed, same histogram (CPU or GPU: splits are drawn on the CPU).
    device : str or torch.device, optional
        Default: the session device. On MPS (no float64) the work runs on the CPU; the
        result's ``device`` says where it ran.
    progress : bool, default=True

    Returns
    -------
    RecovResult

    Raises
    ------
    ValueError, TypeError
        Non-2-D or non-finite features, mismatched lengths, fewer than 2 classes, ``n_folds``
        above the smallest class, or non-positive ``n_repeats``.
    """
    from tqdm.auto import tqdm

    features = align_on_index(labels, {"features": features})["features"]
    x = as_array(features, "features")
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number) or x.dtype.kind in "bc":
        raise ValueError(f"features must be a real 2-D array (N, D), found {x.dtype} {x.shape}.")
    x = np.ascontiguousarray(as_float(x, "features"))
    check_finite(x, "features")
    y, names = check_labels(labels)
    n = check_consistent_length(features=x, labels=y)
    k = len(names)
    if k < 2:
        raise ValueError(f"labels must hold at least 2 classes, found K={k}.")
    for name, value, low in (("n_repeats", n_repeats, 1), ("n_folds", n_folds, 2),
                             ("max_dim", max_dim, 1)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, found {value!r}.")
        if value < low:
            raise ValueError(f"{name} must be at least {low}, found {value}.")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, found {metric!r}.")
    if not (np.isscalar(ridge) and float(ridge) > 0):
        raise ValueError(f"ridge must be a number > 0, found {ridge!r}.")
    if not (np.isscalar(alpha) and 0 < float(alpha) < 1):
        raise ValueError(f"alpha must lie in (0, 1), found {alpha!r}.")
    counts_k = np.bincount(y, minlength=k)
    present = np.flatnonzero(counts_k)  # a class with no samples has no folds to fill
    c = int(present[np.argmin(counts_k[present])])
    if counts_k[c] < n_folds:
        raise ValueError(
            f"n_folds={n_folds} is larger than the smallest class: class {names[c]!r} has "
            f"{counts_k[c]} samples."
        )
    dev = float64_device(resolve_device(device))  # float64 normal equations
    rng = check_rng(seed)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))

    xa = _design(x, max_dim, dev)  # (N + 1, D1): standardised, bias column, zero pad row
    d1 = xa.shape[1]
    yt = torch.as_tensor(y, device=dev)
    onehot = torch.zeros(n + 1, k, device=dev)
    onehot[torch.arange(n, device=dev), yt] = 1
    gram = (xa.T @ xa).double()
    cross = (xa.T @ onehot).double()
    penalty = torch.full((d1,), float(ridge), dtype=torch.float64, device=dev)
    penalty[-1] = 0  # the intercept column
    n_max = -(-n // n_folds)
    chunk = max(1, min(n_repeats, (1 << 24) // (n_folds * n_max * d1)))
    counts = torch.zeros(n + 1, dtype=torch.int64, device=dev)
    credit = torch.zeros(n + 1, dtype=torch.float64)  # on the CPU: a deterministic sum
    keys_base = torch.as_tensor(y, dtype=torch.float64)
    done = 0
    bar = tqdm(total=n_repeats, desc="ReCoV repeats", disable=not progress, leave=False)
    # batches of small per-fold products and D1×D1 solves: one thread while a fold's product
    # is small (see workbench.compute.threads)
    with limit_threads(n_max * d1 * d1, dev):
        while done < n_repeats:
            r = min(chunk, n_repeats - done)
            # Stratified folds: shuffle within each class, deal round-robin (balanced folds).
            keys = keys_base + torch.rand(r, n, generator=gen, dtype=torch.float64)
            order = torch.argsort(keys, dim=1).to(dev)  # (r, N): classes grouped, shuffled inside
            padded = torch.full((r, n_max * n_folds), n, dtype=torch.int64, device=dev)
            padded[:, :n] = order
            members = padded.view(r, n_max, n_folds).transpose(1, 2)  # (r, F, n_max), pad = N
            worst, sq = _worst_folds(xa, onehot, gram, cross, penalty, members, n, metric)
            rows = torch.arange(r, device=dev)
            landed = members[rows, worst]  # (r, n_max), pad = N
            counts.index_add_(0, landed.reshape(-1), torch.ones_like(landed).reshape(-1))
            loss = sq[rows, worst].double()  # (r, n_max): own held-out loss, 0 on pad slots
            mean = loss.sum(1, keepdim=True) / (landed != n).sum(1, keepdim=True)
            share = torch.where(mean > 0, loss / mean, (landed != n).double())
            credit.index_add_(0, landed.reshape(-1).cpu(), share.reshape(-1).cpu())
            done += r
            bar.update(r)
    bar.close()
    counts_np = counts[:n].cpu().numpy()
    return _summarise(counts_np, credit[:n].numpy() / n_repeats, n_repeats, n_folds, float(alpha),
                      str(dev), dict(metric=metric, ridge=float(ridge), max_dim=int(max_dim)))  # fmt: skip


def _design(x: np.ndarray, max_dim: int, dev: torch.device) -> torch.Tensor:
    if x.shape[1] > max_dim:
        x = pca(x, max_dim, device=dev)[0]
    xt = torch.as_tensor(x, device=dev)
    mean = xt.mean(0, dtype=torch.float64).float()
    std = xt.std(0).clamp_min(1e-12)
    std = torch.where(std > 1e-6 * (1 + mean.abs()), std, torch.ones_like(std))
    xs = (xt - mean) / std
    ones = torch.ones(len(xs), 1, device=dev)
    xa = torch.cat([xs, ones], dim=1)
    return torch.cat([xa, torch.zeros(1, xa.shape[1], device=dev)])  # pad row: index N


def _worst_folds(xa, onehot, gram, cross, penalty, members, n, metric):
    """Index of the worst-scoring fold of every repeat in the chunk, shape (r,), and every
    member's held-out squared loss, shape (r, F, n_max) (0 on pad slots)."""
    r, f, m = members.shape
    flat = members.reshape(-1)
    xf = torch.index_select(xa, 0, flat).view(r * f, m, -1)  # (rF, m, D1); pad rows are 0
    yf = torch.index_select(onehot, 0, flat).view(r * f, m, -1)  # (rF, m, K)
    xf_t = xf.transpose(1, 2)
    g_fold = torch.bmm(xf_t, xf).double()
    c_fold = torch.bmm(xf_t, yf).double()
    lhs = gram - g_fold + torch.diag(penalty)
    w = torch.linalg.solve(lhs, cross - c_fold).float()  # (rF, D1, K): fit on the complement
    pred = torch.bmm(xf, w)  # held-out outputs
    sq = ((pred - yf) ** 2).sum(-1)  # (rF, m); 0 on pad rows
    size = (members != n).sum(-1).reshape(r * f).float()
    loss = (sq.sum(1) / size).view(r, f)
    if metric == "error":
        wrong = (pred.argmax(-1) != yf.argmax(-1)) & (members.reshape(r * f, m) != n)
        err = (wrong.sum(1).float() / size).view(r, f)
        loss = err + 1e-6 * loss / (1 + loss.max())  # the loss only breaks ties
    return loss.argmax(1), sq.view(r, f, m)


def _summarise(counts, scores, n_repeats, n_folds, alpha, device, params) -> RecovResult:
    p0 = 1.0 / n_folds
    p_values = stats.binom.sf(counts - 1, n_repeats, p0)
    flags = _benjamini_hochberg(p_values, alpha)
    return RecovResult(
        scores=scores,
        worst_fold_rate=counts / n_repeats,
        counts=counts.astype(np.int64),
        p_values=p_values,
        flags=flags,
        histogram=np.bincount(counts, minlength=n_repeats + 1).astype(np.int64),
        n_repeats=int(n_repeats),
        n_folds=int(n_folds),
        device=device,
        params=params,
    )


def _benjamini_hochberg(p: np.ndarray, alpha: float) -> np.ndarray:
    n = len(p)
    order = np.argsort(p, kind="stable")
    below = p[order] <= alpha * np.arange(1, n + 1) / n
    flags = np.zeros(n, dtype=bool)
    if below.any():
        flags[order[: np.flatnonzero(below).max() + 1]] = True
    return flags
