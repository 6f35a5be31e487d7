"""Class health: which classes are noisy, which pairs overlap, and one score for the dataset.

N samples, K classes. Everything here comes from the estimated joint distribution of given and
true labels ``Q[i, j] = P(given = i, true = j)`` (rows = **given**, sums to 1): the calibrated
confident joint divided by N (Northcutt, Jiang, Chuang, "Confident Learning", JAIR 2021). The
functions give the same numbers, in the same order, as cleanlab 2.9's
``cleanlab.dataset.rank_classes_by_label_quality``, ``find_overlapping_classes``,
``overall_label_health_score`` and ``health_summary``; the columns use our snake_case names
(listed in each docstring). ``pred_probs`` must be out-of-sample (cross-validated).

Direction: ``label_quality`` is a *quality* (low = noisy class), as in cleanlab; the overlap
tables are sorted most-overlapping first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.analysis.statistics import (
    Statistics,
    calibrate_joint,
    check_inputs,
    statistics_pass,
)
from workbench.core.typing import ArrayLike
from workbench.core.validation import as_array

__all__ = [
    "class_joint",
    "joint_from_statistics",
    "summary_from_joint",
    "confusion_order",
    "find_overlapping_classes",
    "health_summary",
    "overall_label_health_score",
    "rank_classes_by_label_quality",
]

_EPSILON = 1e-6  # cleanlab's guard of the conditional noise rates against empty classes


def joint_from_statistics(stats: Statistics) -> dict:
    """:func:`class_joint` from a statistics pass already made (e.g.
    ``workbench.analysis.derived.analysis_of(dataset).statistics()``), so a view or a report
    reads class health without a second pass over ``pred_probs``."""
    if not isinstance(stats, Statistics):
        raise TypeError(f"stats must be a Statistics, found {type(stats).__name__}.")
    joint = calibrate_joint(stats.joint_counts, stats.counts)
    return {
        "joint": joint / np.clip(float(np.sum(joint)), 1e-100, None),
        "num_label_issues": int(np.count_nonzero(stats.off_diagonal() & ~stats.close_call())),
        "n_samples": len(stats.labels),
    }


def class_joint(labels: ArrayLike, pred_probs: ArrayLike, *, device=None) -> dict:
    """The estimated joint ``P(given, true)`` and the estimated number of label errors.

    Returns
    -------
    dict
        ``joint``: ndarray of shape (K, K), float64, rows = given, sums to 1 (cleanlab's
        ``estimate_joint``); ``num_label_issues``: int, the off-diagonal samples of the
        confident joint except close calls (cleanlab's ``num_label_issues``);
        ``n_samples``: N.
    """
    y, p, rows = check_inputs(labels, pred_probs, rows=True, device=device)
    return joint_from_statistics(statistics_pass(y, p, device=device, rows=rows))


def _joint_and_n(labels, pred_probs, joint, device):
    if joint is None:
        if labels is None or pred_probs is None:
            raise ValueError("Pass labels and pred_probs, or joint= (K, K) with num_examples.")
        est = class_joint(labels, pred_probs, device=device)
        return est["joint"], est["n_samples"], est
    q = as_array(joint, "joint").astype(np.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] < 2:
        raise ValueError(f"joint must be a square (K, K) matrix with K >= 2, found {q.shape}.")
    if not np.isfinite(q).all() or (q < 0).any() or not np.isclose(q.sum(), 1.0, atol=1e-6):
        raise ValueError("joint must hold non-negative finite probabilities that sum to 1.")
    n = None if labels is None else len(as_array(labels, "labels"))
    return q, n, None


def _names(class_names, k: int) -> list[str] | None:
    if class_names is None:
        return None
    names = [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names but there are {k} classes.")
    return names


def _check_num_examples(num_examples, n):
    if num_examples is None:
        if n is None:
            raise ValueError("num_examples is needed with joint= and no labels.")
        return n
    if isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer)):
        raise TypeError(f"num_examples must be a positive int, found {num_examples!r}.")
    if num_examples < 1:
        raise ValueError(f"num_examples must be a positive int, found {num_examples}.")
    return int(num_examples)


def rank_classes_by_label_quality(
    labels: ArrayLike | None = None,
    pred_probs: ArrayLike | None = None,
    *,
    class_names: Sequence[str] | None = None,
    num_examples: int | None = None,
    joint: ArrayLike | None = None,
    device=None,
) -> pd.DataFrame:
    """Classes from the noisiest to the cleanest, by the estimated share of wrong labels.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
        Out-of-sample predicted probabilities.
    class_names : sequence of K str, optional
    num_examples : int, optional
        N, to turn probabilities into counts; default ``len(labels)``.
    joint : array-like of shape (K, K), optional
        A precomputed ``P(given, true)`` (rows = given), instead of ``labels`` and ``pred_probs``.
    device : str or torch.device, optional
        Where the statistics pass runs.

    Returns
    -------
    DataFrame, one row per class, lowest ``label_quality`` first
        (``class_name``), ``class_index``, ``label_issues`` (samples given the class whose true
        class is another), ``inverse_label_issues`` (samples of the class given another label),
        ``label_noise`` = P(true != k | given = k), ``inverse_label_noise`` = P(given != k |
        true = k), ``label_quality`` = 1 - ``label_noise``. cleanlab's columns, in order.
    """
    q, n, _ = _joint_and_n(labels, pred_probs, joint, device)
    return _rank_classes(q, _check_num_examples(num_examples, n), _names(class_names, len(q)))


def _rank_classes(q: np.ndarray, n: int, names) -> pd.DataFrame:
    given_noise = q.sum(axis=1) - q.diagonal()
    true_noise = q.sum(axis=0) - q.diagonal()
    given_cond = given_noise / np.clip(q.sum(axis=1), _EPSILON, None)
    true_cond = true_noise / np.clip(q.sum(axis=0), _EPSILON, None)
    df = pd.DataFrame(
        {
            "class_index": np.arange(len(q)),
            "label_issues": (given_noise * n).round().astype(int),
            "inverse_label_issues": (true_noise * n).round().astype(int),
            "label_noise": given_cond,
            "inverse_label_noise": true_cond,
            "label_quality": 1 - given_cond,
        }
    )
    if names is not None:
        df.insert(loc=0, column="class_name", value=names)
    return df.sort_values(by="label_quality", ascending=True).reset_index(drop=True)


def find_overlapping_classes(
    labels: ArrayLike | None = None,
    pred_probs: ArrayLike | None = None,
    *,
    asymmetric: bool = False,
    class_names: Sequence[str] | None = None,
    num_examples: int | None = None,
    joint: ArrayLike | None = None,
    device=None,
) -> pd.DataFrame:
    """Pairs of classes that are confused with each other, most overlapping first.

    A pair (a, b) overlaps by ``Q[a, b] + Q[b, a]`` (``asymmetric=False``): the estimated share
    of the dataset given one of the two labels while truly the other. Pairs at the top may be
    worth merging into one class (or their definitions sharpening).

    Parameters
    ----------
    labels, pred_probs, class_names, num_examples, joint, device
        As :func:`rank_classes_by_label_quality`.
    asymmetric : bool, default=False
        True: one row per ordered pair (given a, truly b) with ``Q[a, b]`` alone.

    Returns
    -------
    DataFrame, one row per pair, highest ``joint_probability`` first
        (``class_name_a``, ``class_name_b``), ``class_index_a``, ``class_index_b``,
        ``num_overlapping`` (samples), ``joint_probability``. cleanlab's columns, in order.
    """
    if not isinstance(asymmetric, (bool, np.bool_)):
        raise TypeError(f"asymmetric must be True or False, found {asymmetric!r}.")
    q, n, _ = _joint_and_n(labels, pred_probs, joint, device)
    n = _check_num_examples(num_examples, n)
    return _overlapping(q, n, bool(asymmetric), _names(class_names, len(q)))


def _overlapping(q: np.ndarray, n: int, asymmetric: bool, names) -> pd.DataFrame:
    k = len(q)
    a, b = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    if asymmetric:
        keep = a != b
        values = q[keep]
    else:
        keep = a < b
        values = (np.triu(q) + np.tril(q).T)[keep]
    df = pd.DataFrame(
        {"class_index_a": a[keep], "class_index_b": b[keep], "joint_probability": values}
    )
    df.insert(loc=2, column="num_overlapping", value=(values * n).round().astype(int))
    if names is not None:
        df.insert(loc=0, column="class_name_a", value=[names[i] for i in a[keep]])
        df.insert(loc=1, column="class_name_b", value=[names[i] for i in b[keep]])
    return df.sort_values(by="joint_probability", ascending=False).reset_index(drop=True)


def confusion_order(confusion: ArrayLike) -> np.ndarray:
    """A class order that puts classes confused with each other next to each other.

    Average-linkage hierarchical clustering of the classes on the symmetrised, size-normalised
    off-diagonal confusion ``S[i, j] = (C[i, j] + C[j, i]) / sqrt(n_i * n_j)`` (``n`` = row
    plus column totals), distance ``1 - S / max(S)``; the order is the dendrogram's leaves
    (optimal leaf ordering up to 200 classes). A matrix shown in this order has its confusions
    in blocks along the diagonal, at any K.

    Parameters
    ----------
    confusion : array-like of shape (K, K)
        Counts or rates; rows = given, columns = predicted (or any square matrix of how often
        class i is mistaken for class j, non-negative).

    Returns
    -------
    ndarray of shape (K,), int64
        A permutation of ``0..K-1``: position -> class index. Deterministic (no randomness).
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    c = as_array(confusion, "confusion").astype(np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"confusion must be a square (K, K) matrix, found shape {c.shape}.")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("confusion must hold non-negative finite numbers.")
    k = len(c)
    if k < 3:
        return np.arange(k, dtype=np.int64)
    sym = c + c.T
    np.fill_diagonal(sym, 0.0)
    size = c.sum(axis=0) + c.sum(axis=1)
    norm = np.sqrt(np.outer(size, size))
    s = np.divide(sym, norm, out=np.zeros_like(sym), where=norm > 0)
    top = s.max()
    d = 1.0 - (s / top if top > 0 else s)
    np.fill_diagonal(d, 0.0)
    tree = linkage(squareform(d, checks=False), method="average", optimal_ordering=k <= 200)
    return leaves_list(tree).astype(np.int64)


def overall_label_health_score(labels: ArrayLike, pred_probs: ArrayLike, *, device=None) -> float:
    """One number for the dataset: 1 - the estimated share of wrong labels, in [0, 1].

    The estimated number of errors is the off-diagonal count of the confident joint without
    close calls (cleanlab's ``num_label_issues``); a *quality*: higher = cleaner.
    """
    est = class_joint(labels, pred_probs, device=device)
    return 1.0 - est["num_label_issues"] / est["n_samples"]


def health_summary(
    labels: ArrayLike,
    pred_probs: ArrayLike,
    *,
    asymmetric: bool = False,
    class_names: Sequence[str] | None = None,
    device=None,
) -> dict:
    """Everything above from one statistics pass (cleanlab's ``health_summary``, silent).

    Returns
    -------
    dict
        ``overall_label_health_score`` (float), ``joint`` ((K, K), rows = given),
        ``classes_by_label_quality`` (:func:`rank_classes_by_label_quality`),
        ``overlapping_classes`` (:func:`find_overlapping_classes`), and
        ``num_label_issues`` (int).
    """
    if not isinstance(asymmetric, (bool, np.bool_)):
        raise TypeError(f"asymmetric must be True or False, found {asymmetric!r}.")
    return summary_from_joint(
        class_joint(labels, pred_probs, device=device), asymmetric=asymmetric,
        class_names=class_names,
    )  # fmt: skip


def summary_from_joint(est: dict, *, asymmetric: bool = False, class_names=None) -> dict:
    """:func:`health_summary` from :func:`class_joint` or :func:`joint_from_statistics`."""
    q, n = est["joint"], est["n_samples"]
    names = _names(class_names, len(q))
    return {
        "overall_label_health_score": 1.0 - est["num_label_issues"] / n,
        "joint": q,
        "classes_by_label_quality": _rank_classes(q, n, names),
        "overlapping_classes": _overlapping(q, n, bool(asymmetric), names),
        "num_label_issues": est["num_label_issues"],
    }
