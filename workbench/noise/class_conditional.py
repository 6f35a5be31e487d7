"""Class-conditional noise: every sample of true class i flips with the same row T[i, :].

``T[i, j] = P(given = j | true = i)``, rows sum to 1 (cleanlab's ``noise_matrix`` is ``T.T``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import as_array, check_rng, check_transition
from workbench.noise._base import NoisyLabels, _check_rate, _draw_from, _labels, _result

__all__ = [
    "noise_from_transition",
    "symmetric_noise",
    "pair_flip_noise",
    "random_transition_matrix",
]


def noise_from_transition(
    labels: ArrayLike, transition: ArrayLike, *, seed: SeedLike = None, exact: bool = False
) -> NoisyLabels:
    """Draw noisy labels from any transition matrix ``T[i, j] = P(given = j | true = i)``.

    Parameters
    ----------
    labels : array-like of shape (N,)
        True labels 0..K-1.
    transition : array-like of shape (K, K)
        Row-stochastic matrix (cleanlab's ``noise_matrix`` is its transpose).
    seed : int or numpy.random.Generator, optional
    exact : bool, default=False
        False: each sample draws independently from its row. True: each class gets exactly the
        counts ``T[i] × n_i`` (largest-remainder rounding), so the realised matrix is as close to
        ``transition`` as the class sizes allow.

    Returns
    -------
    NoisyLabels
        ``transition`` is the realised matrix; ``expected_transition`` the one given.
    """
    t = check_transition(transition)
    codes, _ = _labels(labels, "labels", t.shape[0])
    noisy = _draw_from(codes, t, check_rng(seed), exact)
    return _result(codes, noisy, t, "transition", {"exact": exact})


def symmetric_noise(
    labels: ArrayLike,
    rate: float,
    *,
    n_classes: int | None = None,
    seed: SeedLike = None,
    exact: bool = False,
) -> NoisyLabels:
    """Flip a fraction ``rate`` of labels to a class drawn uniformly among the other K-1.

    ``T = (1 - rate) I + rate / (K - 1) (1 - I)``. See :func:`noise_from_transition` for
    ``exact``. ``rate`` lies in [0, 1); ``n_classes`` defaults to the largest label + 1.

    Examples
    --------
    >>> import numpy as np
    >>> from workbench.noise import symmetric_noise
    >>> result = symmetric_noise(np.repeat(np.arange(4), 250), 0.2, seed=0)
    >>> result
    NoisyLabels('symmetric', N=1000, K=4, flipped=192 (19.2%))
    >>> result.transition[0].round(2)  # realised: row "true = 0"
    array([0.73, 0.09, 0.09, 0.09])
    """
    rate = _check_rate(rate)
    codes, k = _labels(labels, "labels", n_classes)
    t = np.full((k, k), rate / (k - 1))
    np.fill_diagonal(t, 1.0 - rate)
    noisy = _draw_from(codes, t, check_rng(seed), exact)
    return _result(codes, noisy, t, "symmetric", {"rate": rate, "exact": exact})


def pair_flip_noise(
    labels: ArrayLike,
    rate: float,
    *,
    mapping: Sequence[int] | Mapping[int, int] | None = None,
    n_classes: int | None = None,
    seed: SeedLike = None,
    exact: bool = False,
) -> NoisyLabels:
    """Flip a fraction ``rate`` of each class to one partner class (class i -> i+1 mod K).

    Parameters
    ----------
    mapping : sequence of K ints, or dict class -> class, optional
        Where each class flips to; default ``i -> (i + 1) % K``. In a dict, classes left out
        never flip; a class mapped to itself never flips.
    """
    rate = _check_rate(rate)
    codes, k = _labels(labels, "labels", n_classes)
    if mapping is None:
        target = (np.arange(k) + 1) % k
    elif isinstance(mapping, Mapping):
        target = np.arange(k)
        for src, dst in mapping.items():
            for name, v in (("key", src), ("value", dst)):
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                    raise TypeError(f"mapping {name}s must be class indices, found {v!r}.")
                if not 0 <= v < k:
                    raise ValueError(f"mapping {name} {v} is outside 0..{k - 1} (K={k}).")
            target[src] = dst
    else:
        target = as_array(mapping, "mapping")
        if target.shape != (k,) or target.dtype.kind not in "iu":
            raise ValueError(
                f"mapping must be K={k} integer class indices, found shape {target.shape} and "
                f"dtype {target.dtype}."
            )
        if target.min() < 0 or target.max() >= k:
            raise ValueError(f"mapping must hold classes 0..{k - 1}, found {target.tolist()}.")
    t = np.eye(k)
    src = np.flatnonzero(target != np.arange(k))
    t[src, src] = 1.0 - rate
    t[src, target[src]] = rate
    noisy = _draw_from(codes, t, check_rng(seed), exact)
    return _result(codes, noisy, t, "pair", {"rate": rate, "mapping": target.tolist()})


def _fill(mass: float, weights: np.ndarray, caps: np.ndarray) -> np.ndarray | None:
    """Split ``mass`` in proportion to ``weights`` without exceeding ``caps``; None if it
    cannot fit."""
    x = np.zeros_like(caps)
    free = (caps > 0) & (weights > 0)
    remaining = mass
    while remaining > 1e-15:
        if not free.any():
            return None if remaining > 1e-12 else x
        idx = np.flatnonzero(free)
        share = remaining * weights[idx] / weights[idx].sum()
        room = caps[idx] - x[idx]
        over = share >= room
        if not over.any():
            x[idx] += share
            break
        x[idx[over]] = caps[idx[over]]
        remaining -= room[over].sum()
        free[idx[over]] = False
    return x


def random_transition_matrix(
    n_classes: int,
    trace: float,
    *,
    seed: SeedLike = None,
    py: ArrayLike | None = None,
    valid: bool = False,
    max_off_diagonal: float = 1.0,
    frac_zero_off_diagonal: float = 0.0,
    min_diagonal: float = 0.0,
    max_diagonal: float = 1.0,
    max_iter: int = 1000,
) -> np.ndarray:
    """A random transition matrix ``T[i, j] = P(given = j | true = i)`` with a given trace.

    The diagonal (the probability that each class keeps its label) sums exactly to ``trace``;
    the noise ``1 - T[i, i]`` of each row is spread at random over the other classes.

    Parameters
    ----------
    n_classes : int
        K >= 2.
    trace : float
        Sum of the diagonal, in [K × min_diagonal, K × max_diagonal]. The average noise rate is
        ``1 - trace / K``.
    py : array-like of shape (K,), optional
        Prior of the true classes; used by ``valid`` (default uniform).
    valid : bool, default=False
        Require that learning stays possible: every class stays the plurality of its own given
        labels (``py[j] T[j, j] > py[i] T[i, j]`` for all i != j) and given and true labels are
        positively correlated per class (``P(given = j) < T[j, j]``, the condition cleanlab's
        ``noise_matrix_is_valid`` checks). Needs ``trace > 1``.
    max_off_diagonal : float, default=1.0
        Largest allowed off-diagonal entry.
    frac_zero_off_diagonal : float, default=0.0
        At least this fraction of the K(K-1) off-diagonal entries is zero (sparse noise).
    min_diagonal, max_diagonal : float, default=0.0 and 1.0
        Bounds of each diagonal entry.
    max_iter : int, default=1000
        Attempts before giving up on an infeasible combination.

    Returns
    -------
    ndarray of shape (K, K), float64, rows summing to 1.

    Raises
    ------
    ValueError
        For out-of-range arguments, or when no matrix satisfying them was found.

    Examples
    --------
    >>> from workbench.noise import random_transition_matrix
    >>> t = random_transition_matrix(3, 2.4, seed=0, valid=True)
    >>> float(t.trace()), t.sum(axis=1).round(12).tolist()
    (2.4, [1.0, 1.0, 1.0])
    """
    if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, (int, np.integer)):
        raise TypeError(f"n_classes must be an int, found {n_classes!r}.")
    k = int(n_classes)
    if k < 2:
        raise ValueError(f"n_classes must be at least 2, found {k}.")
    min_diagonal = _check_rate(min_diagonal, "min_diagonal", inclusive_high=True)
    max_diagonal = _check_rate(max_diagonal, "max_diagonal", inclusive_high=True)
    max_off = _check_rate(max_off_diagonal, "max_off_diagonal", inclusive_high=True)
    frac_zero = _check_rate(frac_zero_off_diagonal, "frac_zero_off_diagonal")
    trace = _check_rate(trace, "trace", high=float(k), inclusive_high=True)
    if min_diagonal > max_diagonal:
        raise ValueError(f"min_diagonal={min_diagonal} exceeds max_diagonal={max_diagonal}.")
    if not k * min_diagonal - 1e-12 <= trace <= k * max_diagonal + 1e-12:
        raise ValueError(
            f"trace={trace} is impossible with diagonal entries in [{min_diagonal}, "
            f"{max_diagonal}]: it must lie in [{k * min_diagonal:g}, {k * max_diagonal:g}]."
        )
    if valid and trace <= 1:
        raise ValueError(f"valid=True needs trace > 1 (learnable noise), found trace={trace}.")
    if py is None:
        prior = np.full(k, 1.0 / k)
    else:
        prior = as_array(py, "py").astype(np.float64)
        if prior.shape != (k,) or not np.isfinite(prior).all() or (prior <= 0).any():
            raise ValueError(f"py must be K={k} positive probabilities, found {prior!r}.")
        if abs(prior.sum() - 1) > 1e-6:
            raise ValueError(f"py must sum to 1, found {prior.sum():.6g}.")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, found {max_iter!r}.")
    rng = check_rng(seed)
    off = ~np.eye(k, dtype=bool)
    n_zero = int(round(frac_zero * k * (k - 1)))
    for _ in range(max_iter):
        diag = _fill(
            trace - k * min_diagonal,
            rng.exponential(size=k),
            np.full(k, max_diagonal - min_diagonal),
        )
        if diag is None:
            continue
        diag += min_diagonal
        caps = np.where(off, max_off, 0.0)
        if valid:  # plurality of each given column: py_i T[i, j] < py_j T[j, j]
            caps = np.minimum(caps, (1 - 1e-9) * prior[None, :] * diag[None, :] / prior[:, None])
        if n_zero:
            cells = np.flatnonzero(off.ravel())
            caps.ravel()[rng.choice(cells, size=n_zero, replace=False)] = 0.0
        t = np.diag(diag)
        for i in range(k):
            row = _fill(1.0 - diag[i], rng.exponential(size=k), caps[i])
            if row is None:
                break
            t[i] += row
        else:
            if not valid or _is_valid(t, prior):
                return t
    raise ValueError(
        f"No {k}×{k} transition matrix with trace={trace} satisfying the constraints "
        f"(valid={valid}, max_off_diagonal={max_off}, frac_zero_off_diagonal={frac_zero}) was "
        f"found in {max_iter} attempts; relax them (raise trace or max_off_diagonal, lower the "
        "sparsity)."
    )


def _is_valid(t: np.ndarray, prior: np.ndarray) -> bool:
    joint = prior[:, None] * t  # P(true = i, given = j)
    diag = np.diag(joint)
    others = np.where(np.eye(len(t), dtype=bool), -np.inf, joint).max(axis=0)
    return bool((diag > others).all() and (joint.sum(axis=0) < np.diag(t)).all())
