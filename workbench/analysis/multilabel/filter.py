"""Multi-label confident learning: which (sample, class) annotations look wrong.

N samples, K classes; ``labels`` are label sets (:mod:`workbench.core.label_sets`),
``pred_probs`` (N, K) independent per-class probabilities, which must be out-of-sample
(cross-validated). Every class is its own binary problem ("has class c" or not, with
probabilities ``[1 - p, p]``), handled by the confident-learning rules of Northcutt, Jiang &
Chuang (JAIR 2021) as in the single-label case; a sample is flagged when any class is.

The masks are exactly those of cleanlab 2.9's ``multilabel_classification.filter``
(``find_label_issues`` and ``find_multilabel_issues_per_class``) for every ``filter_by``,
``frac_noise``, ``num_to_remove_per_class``, ``min_examples_per_class``, ``confident_joint``
and ranking, on float32 and float64 input, computed for blocks of classes at once
(:mod:`workbench.analysis.multilabel.statistics`) instead of one binary problem after another.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workbench.analysis.multilabel.rank import check_method, make_pool, quality_pass
from workbench.analysis.multilabel.statistics import ClassBlock, check_inputs, for_each_block
from workbench.analysis.statistics import (
    FILTERS,
    MIN_THRESHOLD,
    MISSING_THRESHOLD,
    PRUNE_FILTERS,
    SLACK,
    calibrate_joint,
    keep_at_least,
    set_removals,
)
from workbench.core.typing import ArrayLike

__all__ = [
    "FILTERS",
    "LOW_MEMORY_BATCH",
    "check_low_memory",
    "check_options",
    "confident_joint",
    "find_label_issues",
    "find_label_issues_per_class",
    "low_memory_mask",
    "per_class_mask",
]

_PRUNE = PRUNE_FILTERS
_LOW = ("low_normalized_margin", "low_self_confidence")
#: Rows per batch of the ``low_memory`` threshold pass (cleanlab's ``find_label_issues_batched``).
LOW_MEMORY_BATCH = 10_000


# --- options ---------------------------------------------------------------------------------------
def check_options(k, filter_by, frac_noise, num_to_remove, min_examples, joint, ranked_by,
                   rank_by_kwargs):  # fmt: skip
    """Validate the options of :func:`find_label_issues` for K=``k`` classes before any work;
    returns ``(remove, joint, adjust)`` as arrays / bool."""
    if filter_by not in FILTERS:
        raise ValueError(f"filter_by must be one of {list(FILTERS)}, found {filter_by!r}.")
    if isinstance(frac_noise, bool) or not isinstance(frac_noise, (int, float, np.number)):
        raise TypeError(f"frac_noise must be a number in (0, 1], found {frac_noise!r}.")
    if not 0 < frac_noise <= 1:
        raise ValueError(f"frac_noise must lie in (0, 1], found {frac_noise!r}.")
    if (
        isinstance(min_examples, bool)
        or not isinstance(min_examples, (int, np.integer))
        or min_examples < 0
    ):
        raise ValueError(f"min_examples_per_class must be an integer >= 0, found {min_examples!r}.")
    if filter_by not in _PRUNE and (frac_noise != 1.0 or num_to_remove is not None):
        raise ValueError(
            f"frac_noise and num_to_remove_per_class apply only to filter_by in {list(_PRUNE)}, "
            f"found filter_by={filter_by!r}."
        )
    remove = None
    if num_to_remove is not None:
        remove = np.asarray(num_to_remove)
        if remove.shape != (k,) or remove.dtype.kind not in "iu" or (remove < 0).any():
            raise ValueError(
                f"num_to_remove_per_class must hold K={k} integers >= 0 (one per class), found "
                f"{num_to_remove!r}."
            )
        remove = remove.astype(np.int64)
    if joint is not None:
        joint = np.asarray(joint)
        if joint.shape != (k, 2, 2) or joint.dtype.kind not in "iu" or (joint < 0).any():
            raise ValueError(
                f"confident_joint must be a one-vs-rest joint of shape ({k}, 2, 2) of "
                f"non-negative integer counts (see confident_joint()), found shape {joint.shape} "
                f"and dtype {joint.dtype}."
            )
        joint = joint.astype(np.int64)
    adjust = False
    if ranked_by is not None:
        kwargs = dict(rank_by_kwargs or {})
        unknown = set(kwargs) - {"adjust_pred_probs"}
        if unknown:
            raise ValueError(
                f"rank_by_kwargs takes only 'adjust_pred_probs', found {sorted(unknown)}."
            )
        adjust = kwargs.get("adjust_pred_probs", False)
        check_method(ranked_by, adjust)
    return remove, joint, adjust


def check_low_memory(low_memory, filter_by, frac_noise, num_to_remove, min_examples, joint):
    """``low_memory`` a bool; with it, none of the confident-learning options (cleanlab ignores
    them with a warning, we refuse them)."""
    if not isinstance(low_memory, (bool, np.bool_)):
        raise TypeError(f"low_memory must be True or False, found {low_memory!r}.")
    if not low_memory:
        return
    given = {
        "filter_by": filter_by != "prune_by_noise_rate",
        "frac_noise": frac_noise != 1.0,
        "num_to_remove_per_class": num_to_remove is not None,
        "min_examples_per_class": min_examples != 1,
        "confident_joint": joint is not None,
    }
    used = [name for name, is_set in given.items() if is_set]
    if used:
        raise ValueError(
            f"low_memory=True uses cleanlab's batched rule (per class, the estimated number of "
            f"errors with the lowest label quality) and takes none of {used}; leave them at "
            "their defaults or use low_memory=False."
        )


# --- per block of classes ------------------------------------------------------------------------
def _pick(key: np.ndarray, n: int) -> np.ndarray:
    """Positions of ``np.argsort(key)[:n]`` as a boolean mask, by partition when no tie
    straddles the cut (numpy's default sort decides ties, as in cleanlab)."""
    m = len(key)
    out = np.zeros(m, bool)
    if n >= m:
        out[:] = True
        return out
    kth = np.partition(key, n - 1)[n - 1]
    below = key < kth
    at = key == kth
    if np.count_nonzero(below) + np.count_nonzero(at) == n:
        return below | at
    out[np.argsort(key)[:n]] = True
    return out


def _prune_counts(block: ClassBlock, i: int, joint, min_examples, frac_noise, remove):
    """(true × given) 2×2 prune counts of the block's class ``i`` (cleanlab's rules)."""
    c = block.cols[i]
    j = joint[c] if joint is not None else calibrate_joint(block.raw[i], block.counts[i])
    prune = keep_at_least(j.T, min_examples, frac_noise)
    if remove is not None:
        # cleanlab passes [num_to_remove_per_class[c], 0]: the count applies to side 0
        prune = set_removals(prune, np.array([remove[c], 0]), block.counts[i])
    return prune


def _block_mask(block: ClassBlock, filter_by, frac_noise, remove, min_examples, joint):
    """(B, N) bool: the annotations of the block's classes flagged by ``filter_by``
    (not the two ``low_*`` rules)."""
    counted, guess = block.confident()
    if filter_by == "confident_learning":
        mask = counted & (guess != block.y)
    elif filter_by == "predicted_neq_given":
        mask = (block.p > block.q) != block.y
    else:
        block.raw = block.joint_counts(counted, guess)
        del counted, guess
        mask = np.zeros_like(block.y)
        for i in range(len(block.cols)):
            prune = _prune_counts(block, i, joint, min_examples, frac_noise, remove)
            _prune_class(block, i, prune, filter_by, min_examples, mask[i])
    rows, cols = np.nonzero(mask)  # close calls are never flagged: test only the flagged
    close = block.close_call_at(rows, cols)
    mask[rows[close], cols[close]] = False
    return mask


def _prune_class(block, i, prune, filter_by, min_examples, out) -> None:
    """Flag the class's samples by the prune rules, side by side (given 0, given 1)."""
    y = block.y[i]
    for side in (0, 1):
        n_k = int(block.counts[i, side])
        if n_k <= max(min_examples, 1):  # too few to prune (a single sample never is)
            continue
        pos = np.flatnonzero(y) if side else np.flatnonzero(~y)
        flags = np.ones(n_k, bool)
        p, q = block.p[i][pos], block.q[i][pos]
        own, other = (p, q) if side else (q, p)
        if filter_by in ("prune_by_class", "both"):
            n_flag = n_k - int(prune[side, side])
            if n_flag < 1:
                continue
            flags &= _pick(own, n_flag)  # the lowest probabilities of the given side
        if filter_by in ("prune_by_noise_rate", "both"):
            need = int(prune[1 - side, side])
            if need <= 0:
                continue
            flags &= _pick(-(other - own), need)  # the largest margins, as cleanlab sorts
        out[pos[flags]] = True


def per_class_mask(Y, P, *, filter_by="prune_by_noise_rate", frac_noise=1.0, remove=None,
                   min_examples=1, joint=None) -> np.ndarray:  # fmt: skip
    """Private twin of :func:`find_label_issues_per_class` (mask form) on checked input."""
    n, k = P.shape
    out = np.zeros((n, k), bool)
    if filter_by in _LOW:
        pool_method = filter_by[4:]
        quality = quality_pass(Y, P, method=pool_method)
        off = per_class_mask(Y, P, filter_by="confident_learning")
        counts = np.count_nonzero(off, axis=0)
        for c in range(k):  # in the input dtype, as cleanlab sorts them
            if counts[c]:
                out[:, c] = _pick(quality[:, c].astype(P.dtype), int(counts[c]))
        return out

    def one(block: ClassBlock) -> None:
        m = _block_mask(block, filter_by, frac_noise, remove, min_examples, joint)
        out[:, block.cols[0] : block.cols[-1] + 1] = m.T

    for_each_block(Y, P, one)
    return out


def low_memory_mask(Y, P, *, method="self_confidence", batch=LOW_MEMORY_BATCH) -> np.ndarray:
    """(N, K) bool: cleanlab 2.9's ``low_memory=True`` masks, one class at a time.

    Per class the binary problem goes through cleanlab's ``find_label_issues_batched``: confident
    thresholds averaged over batches of ``batch`` rows (a side absent from the data keeps the
    floor 2e-6), the number of errors counted as the samples predicted confidently (probability
    at least threshold - 1e-6) on the other side, then that many samples with the lowest
    binary label quality of ``method``, less the close calls. Memory beyond the input: a few
    length-N vectors.
    """
    n, k = P.shape
    out = np.zeros((n, k), bool)
    for c in range(k):
        y, p = Y[:, c], np.ascontiguousarray(P[:, c])
        q = 1 - p  # cleanlab's column 0, in the input dtype
        seen, thr = np.zeros(2), np.zeros(2)
        for start in range(0, n, batch):
            rows = slice(start, start + batch)
            yb, qb, pb = y[rows], q[rows], p[rows]
            n1 = int(np.count_nonzero(yb))
            counts = np.array([len(yb) - n1, n1])
            batch_thr = np.clip(
                [np.mean(qb[~yb]) if counts[0] else MISSING_THRESHOLD,
                 np.mean(pb[yb]) if n1 else MISSING_THRESHOLD],
                a_min=MIN_THRESHOLD, a_max=None,
            )  # fmt: skip
            thr = (seen * thr + counts * batch_thr) / np.clip(seen + counts, a_min=1, a_max=None)
            thr = np.clip(thr, a_min=MIN_THRESHOLD, a_max=None)
            seen += counts
        guess = p > q  # the binary argmax (ties go to side 0)
        lower = thr - SLACK
        n_errors = int(np.count_nonzero((guess != y) & (np.where(guess, p, q) >= lower[guess * 1])))
        if n_errors == 0:
            continue
        quality = quality_pass(Y[:, c : c + 1], P[:, c : c + 1], method=method)[:, 0]
        flags = _pick(quality.astype(P.dtype), n_errors)
        eps = P.dtype.type(SLACK)  # close calls are never flagged (cleanlab's _reduce_issues)
        flags &= ~np.where(y, p + eps > q, q + eps >= p)
        out[:, c] = flags
    return out


# --- public ----------------------------------------------------------------------------------------
def find_label_issues_per_class(
    labels,
    pred_probs: ArrayLike,
    *,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: ArrayLike | None = None,
    return_indices_ranked_by: str | None = None,
    rank_by_kwargs: dict | None = None,
    low_memory: bool = False,
):
    """Which class annotations look wrong: (N, K) bool, ``[i, c]`` True when sample ``i``'s
    annotation of class ``c`` (present or absent) is flagged.

    cleanlab 2.9's ``multilabel_classification.filter.find_multilabel_issues_per_class`` as one
    matrix. With ``return_indices_ranked_by`` a list of K index arrays instead, each ordered
    by the binary label quality of that class (most suspicious first). Options as in
    :func:`find_label_issues`; with ``low_memory`` the ranked lists hold cleanlab's indices in
    this order too (cleanlab leaves them in index order).
    """
    Y, P = check_inputs(labels, pred_probs)
    remove, joint, adjust = check_options(
        P.shape[1], filter_by, frac_noise, num_to_remove_per_class, min_examples_per_class,
        confident_joint, return_indices_ranked_by, rank_by_kwargs,
    )  # fmt: skip
    check_low_memory(
        low_memory, filter_by, frac_noise, num_to_remove_per_class, min_examples_per_class,
        confident_joint,
    )  # fmt: skip
    if low_memory:
        mask = low_memory_mask(Y, P, method=return_indices_ranked_by or "self_confidence")
    else:
        mask = per_class_mask(
            Y, P, filter_by=filter_by, frac_noise=float(frac_noise), remove=remove,
            min_examples=int(min_examples_per_class), joint=joint,
        )  # fmt: skip
    if return_indices_ranked_by is None:
        return mask
    quality = quality_pass(Y, P, method=return_indices_ranked_by, adjust_pred_probs=adjust)
    out = []
    for c in range(P.shape[1]):
        idx = np.flatnonzero(mask[:, c])
        out.append(idx[np.argsort(quality[idx, c])])
    return out


def find_label_issues(
    labels,
    pred_probs: ArrayLike,
    *,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: ArrayLike | None = None,
    return_indices_ranked_by: str | None = None,
    rank_by_kwargs: dict | None = None,
    low_memory: bool = False,
) -> np.ndarray:
    """Samples whose label set likely holds an error (any class wrongly present or absent).

    Multi-label confident learning (Northcutt, Jiang, Chuang, JAIR 2021) as cleanlab 2.9's
    ``multilabel_classification.filter.find_label_issues``: same masks for every option.

    Parameters
    ----------
    labels : label sets
        An (N, K) 0/1 matrix, or N lists of class indices (or names); an empty set is valid.
    pred_probs : array-like of shape (N, K)
        Independent per-class probabilities (rows need not sum to 1), out-of-sample.
    filter_by : one of :data:`FILTERS`, default="prune_by_noise_rate"
        The rule applied to every class's binary problem (see
        :func:`workbench.analysis.detectors.pred_probs.find_label_issues`). The two ``low_*``
        rules flag, over all samples, the estimated number of erroneous samples with the
        lowest pooled self-confidence (cleanlab pools self-confidence for both).
    frac_noise : float in (0, 1], default=1.0
        Keep only this fraction of each class's estimated errors (prune rules only).
    num_to_remove_per_class : sequence of K ints, optional
        Prune rules only. As in cleanlab, class ``c``'s count applies to the samples *without*
        class ``c`` (the binary problem's side 0).
    min_examples_per_class : int, default=1
        A side of a binary problem with at most this many samples is never pruned.
    confident_joint : array-like of shape (K, 2, 2), optional
        One-vs-rest confident joints (:func:`confident_joint`), used as is by the prune rules.
    return_indices_ranked_by : {"self_confidence", "normalized_margin",
        "confidence_weighted_entropy"}, optional
        Return the flagged indices ordered by the pooled label quality of that method (EMA,
        alpha 0.8), most suspicious first, instead of the mask.
    rank_by_kwargs : dict, optional
        ``{"adjust_pred_probs": bool}`` for that ranking.
    low_memory : bool, default=False
        cleanlab's ``low_memory=True``: each class's binary problem goes through cleanlab's
        batched rule (``find_label_issues_batched``: thresholds averaged over batches of 10,000
        rows, the estimated number of errors with the lowest label quality of
        ``return_indices_ranked_by``, self-confidence by default), one class at a time, so
        memory beyond the input stays a few length-N vectors. Same masks as cleanlab's
        ``low_memory=True``. Takes none of ``filter_by``, ``frac_noise``,
        ``num_to_remove_per_class``, ``min_examples_per_class``, ``confident_joint``
        (cleanlab ignores them with a warning; here they are a ValueError).

    Returns
    -------
    ndarray of shape (N,), bool, or ndarray of int64 indices

    Notes
    -----
    With a ``low_*`` rule and a ranking, cleanlab 2.9 orders the flagged indices by scores
    computed on the flagged subset and mismatched with them (a bug); here they are ordered
    by their own pooled quality on the whole dataset, as for the other rules.

    Examples
    --------
    >>> import numpy as np
    >>> labels = [[0], [0], [0, 1], [1], [1], [0]]
    >>> pred_probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.9, 0.9],
    ...                        [0.1, 0.9], [0.2, 0.8], [0.1, 0.9]])
    >>> find_label_issues(labels, pred_probs)
    array([False, False, False, False, False,  True])
    """
    Y, P = check_inputs(labels, pred_probs)
    remove, joint, adjust = check_options(
        P.shape[1], filter_by, frac_noise, num_to_remove_per_class, min_examples_per_class,
        confident_joint, return_indices_ranked_by, rank_by_kwargs,
    )  # fmt: skip
    check_low_memory(
        low_memory, filter_by, frac_noise, num_to_remove_per_class, min_examples_per_class,
        confident_joint,
    )  # fmt: skip
    return _find_label_issues(
        Y, P, filter_by=filter_by, frac_noise=float(frac_noise), remove=remove,
        min_examples=int(min_examples_per_class), joint=joint,
        ranked_by=return_indices_ranked_by, adjust=adjust, low_memory=bool(low_memory),
    )  # fmt: skip


def _find_label_issues(Y, P, *, filter_by="prune_by_noise_rate", frac_noise=1.0, remove=None,
                       min_examples=1, joint=None, ranked_by=None, adjust=False,
                       low_memory=False) -> np.ndarray:  # fmt: skip
    if low_memory:
        mask = low_memory_mask(Y, P, method=ranked_by or "self_confidence").any(axis=1)
    elif filter_by in _LOW:
        n_errors = int(
            np.count_nonzero(per_class_mask(Y, P, filter_by="confident_learning").any(1))
        )
        pooled = quality_pass(Y, P, pool=make_pool("exponential_moving_average", 0.8, None))
        mask = _pick(pooled, n_errors) if n_errors else np.zeros(len(Y), bool)
    else:
        mask = per_class_mask(
            Y, P, filter_by=filter_by, frac_noise=frac_noise, remove=remove,
            min_examples=min_examples, joint=joint,
        ).any(axis=1)  # fmt: skip
    if ranked_by is None:
        return mask
    pool = make_pool("exponential_moving_average", 0.8, None)
    quality = quality_pass(Y, P, method=ranked_by, adjust_pred_probs=adjust, pool=pool)
    idx = np.flatnonzero(mask)
    return idx[np.argsort(quality[idx])]


def confident_joint(labels, pred_probs: ArrayLike, *, calibrate: bool = True) -> np.ndarray:
    """One-vs-rest confident joints, (K, 2, 2) int64: ``[c, given, true]`` counts of the samples
    confidently counted for class ``c`` (0 = without the class, 1 = with it), rows = given.

    With ``calibrate`` the rows of each 2×2 are scaled to the given counts and the total to N
    (cleanlab's ``count.compute_confident_joint(..., multi_label=True)``, same counts).
    """
    Y, P = check_inputs(labels, pred_probs)
    out = np.empty((P.shape[1], 2, 2), np.int64)

    def one(block: ClassBlock) -> None:
        raw = block.joint_counts()
        for i, c in enumerate(block.cols):
            out[c] = calibrate_joint(raw[i], block.counts[i]) if calibrate else raw[i]

    for_each_block(Y, P, one)
    return out
