"""Multi-label input: label sets as an N×K 0/1 matrix, and predicted probabilities per class.

N samples, K classes. A sample carries a *set* of classes (possibly empty). In memory a label
set is one row of a boolean matrix ``Y`` of shape (N, K): ``Y[i, k]`` is True when sample ``i``
is given class ``k``. Accepted inputs:

- an N×K matrix of 0/1 (numpy, torch, a pandas DataFrame; bool, integers or floats);
- a sequence of N label sets, each a list / tuple / set / array of class indices or class names;
- a pandas Series of such lists, or of strings ``"a|b"`` (the separator is ``sep``; an empty
  string, None or NaN is the empty set).

Multi-label ``pred_probs`` are N×K *independent* per-class probabilities (each in [0, 1]; rows
need not sum to 1), out-of-sample (cross-validated) like single-label ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain

import numpy as np

from workbench.core.typing import ArrayLike
from workbench.core.validation import as_array, check_finite

__all__ = [
    "CLASS_MARGIN",
    "MULTICLASS",
    "MULTILABEL",
    "TASKS",
    "check_class_margins",
    "check_label_set_annotators",
    "check_label_sets",
    "check_multilabel_pred_probs",
    "is_label_sets",
    "label_set_lists",
    "label_set_strings",
    "multilabel_signals",
    "resolve_task",
]

#: Task names: one label per sample, or a set of labels per sample.
MULTICLASS = "multiclass"
MULTILABEL = "multilabel"
TASKS = (MULTICLASS, MULTILABEL)
#: The per-class trajectory kind of multi-label data: (N, K, E) margins of the given annotation.
CLASS_MARGIN = "class_margin"

_SET_TYPES = (list, tuple, set, frozenset, np.ndarray)


def _is_set_like(value) -> bool:
    return isinstance(value, _SET_TYPES)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_indicator_matrix(arr) -> bool:
    """A 2-D array of at least 2 columns holding only 0 and 1."""
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.dtype.kind not in "biuf":
        return False
    return arr.dtype.kind == "b" or bool(((arr == 0) | (arr == 1)).all())


def is_label_sets(labels) -> bool:
    """True when ``labels`` can only be multi-label input: a 2-D 0/1 matrix of at least two
    columns (numpy, torch, DataFrame), or a sequence / Series whose elements are lists, tuples,
    sets or arrays.

    Strings such as ``"a|b"`` are not inferred (a class name may contain the separator), nor
    is a single 0/1 column (a column vector of labels): pass ``task="multilabel"`` for them.
    """
    mod = type(labels).__module__
    if mod.startswith("pandas"):
        if labels.ndim == 2:
            return _is_indicator_matrix(labels.to_numpy())
        head = labels.head(1000) if hasattr(labels, "head") else labels[:1000]  # Categorical
        values = [v for v in head.tolist() if not _is_missing(v)]
        return bool(values) and all(_is_set_like(v) for v in values)
    if mod.startswith("torch"):
        return labels.ndim == 2 and _is_indicator_matrix(labels.detach().cpu().numpy())
    if isinstance(labels, np.ndarray):
        if labels.ndim == 2:
            return _is_indicator_matrix(labels)
        return labels.dtype == object and labels.size > 0 and _is_set_like(labels.flat[0])
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        return False
    return len(labels) > 0 and all(_is_set_like(v) for v in labels[:1000])


def check_label_sets(
    labels,
    *,
    n_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    name: str = "labels",
    sep: str = "|",
) -> tuple[np.ndarray, list[str] | None]:
    """Validate multi-label ``labels`` and return them as a boolean (N, K) matrix.

    Parameters
    ----------
    labels : (N, K) 0/1 array-like, sequence of N label sets, or pandas Series
        See the module docstring. A sample with no label is valid.
    n_classes : int, optional
        K. Required to be consistent with a matrix's width; for index lists it fixes the range
        (every index must lie in ``0..K-1``); otherwise ``max index + 1``.
    class_names : sequence of str, optional
        Names of the K classes; label sets given as names are mapped through it (an unknown
        name is an error). Without it, names found in the data are sorted.
    sep : str, default="|"
        Separator of label-set strings (``"cat|dog"``).

    Returns
    -------
    Y : ndarray of shape (N, K), bool
    class_names : list of str or None
        The names used for string label sets (or ``class_names`` as given), else None.

    Raises
    ------
    TypeError
        Elements that are neither label sets nor strings; a matrix of non-numbers.
    ValueError
        A matrix with values other than 0/1, an index outside ``0..K-1`` or not an integer, an
        unknown class name, a width other than ``n_classes``.
    """
    names = list(class_names) if class_names is not None else None
    if names is not None and n_classes is not None and len(names) != n_classes:
        raise ValueError(
            f"class_names has {len(names)} names but n_classes={n_classes}; give one name per class."
        )
    k = n_classes if n_classes is not None else (len(names) if names is not None else None)
    mod = type(labels).__module__
    if labels is None:
        raise TypeError(f"{name} is None; expected label sets (N×K 0/1 matrix or lists).")
    if isinstance(labels, (str, bytes)):
        raise TypeError(
            f"{name} must be a sequence of label sets, found a {type(labels).__name__}."
        )
    is_2d = getattr(labels, "ndim", None) == 2 or mod.startswith("torch")
    if is_2d:
        return _from_matrix(labels, k, name), names
    values = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    sets: list = values if set(map(type, values)) == {list} else []
    for i, v in enumerate(values if not sets else ()):
        if _is_missing(v):
            sets.append(())
        elif isinstance(v, str):
            sets.append(tuple(s for s in (part.strip() for part in v.split(sep)) if s))
        elif _is_set_like(v):
            sets.append(v.tolist() if isinstance(v, np.ndarray) else v)
        else:
            raise TypeError(
                f"{name}[{i}] must be a label set (list, tuple, set, array or '{sep}'-separated "
                f"string), found {type(v).__name__} {v!r}."
            )
    if not sets:
        raise ValueError(f"{name} is empty; expected at least one sample.")
    lengths = np.fromiter(map(len, sets), np.int64, len(sets))
    cols = None
    if set(map(type, chain.from_iterable(sets))) == {int}:  # the common case, in C loops
        try:
            cols = np.fromiter(chain.from_iterable(sets), np.int64, int(lengths.sum()))
        except OverflowError:  # beyond int64: the general path says which index is wrong
            cols = None
    flat = list(chain.from_iterable(sets)) if cols is None else []
    if cols is not None:
        if k is None:
            k = int(cols.max()) + 1
        if cols.min() < 0 or cols.max() >= k:
            bad = int(cols[(cols < 0) | (cols >= k)][0])
            raise ValueError(f"{name} holds class index {bad}, outside 0..{k - 1} (K={k}).")
    elif flat and all(isinstance(x, str) for x in flat):
        if names is None:
            names = sorted(set(flat))
            k = len(names) if k is None else k
            if len(names) > k:
                raise ValueError(f"{name} holds {len(names)} class names but n_classes={k}.")
        lookup = {c: j for j, c in enumerate(names)}
        unknown = sorted({x for x in flat if x not in lookup})
        if unknown:
            raise ValueError(
                f"{name} holds class names not in class_names: {unknown[:5]}"
                f"{' ...' if len(unknown) > 5 else ''}; class_names={names[:10]}."
            )
        cols = np.fromiter((lookup[x] for x in flat), np.int64, len(flat))
    else:
        cols = _indices(flat, name)
        if k is None:
            k = int(cols.max()) + 1 if cols.size else 0
        if cols.size and (cols.min() < 0 or cols.max() >= k):
            bad = int(cols[(cols < 0) | (cols >= k)][0])
            raise ValueError(f"{name} holds class index {bad}, outside 0..{k - 1} (K={k}).")
    if k == 0:
        raise ValueError(
            f"{name} has no class at all (every label set is empty); pass n_classes= or "
            "class_names= to say how many classes there are."
        )
    out = np.zeros((len(sets), k), bool)
    out.reshape(-1)[np.repeat(np.arange(len(sets)) * k, lengths) + cols] = True
    return out, names


def _indices(flat: list, name: str) -> np.ndarray:
    """Class indices of a flat list as int64; floats must be whole numbers, no bools."""
    if not flat:
        return np.empty(0, np.int64)
    try:
        arr = np.array(flat)
    except (TypeError, ValueError):
        arr = np.array(flat, dtype=object)
    if arr.dtype == object and all(
        isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in flat
    ):  # Python ints beyond 64 bits: out of range whatever K is
        big = next(x for x in flat if not -(2**63) <= x < 2**63)
        raise ValueError(f"{name} holds class index {big}, which does not fit in 64 bits.")
    if arr.dtype.kind not in "iuf" or any(x is True or x is False for x in flat):
        x = next(
            (
                x
                for x in flat
                if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.number))
            ),
            flat[0],
        )
        raise TypeError(
            f"{name} label sets must hold class indices (integers) or class names (strings), "
            f"found {type(x).__name__} {x!r}."
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(
                f"{name} class indices must be whole numbers, found {arr[arr != np.round(arr)][:1]}."
            )
    too_big = np.zeros(len(arr), bool)
    if arr.dtype.kind in "uf":
        too_big = (arr >= 2.0**63) | (arr < -(2.0**63))
    if too_big.any():
        big = flat[int(np.flatnonzero(too_big)[0])]
        raise ValueError(f"{name} holds class index {big}, which does not fit in 64 bits.")
    return arr.astype(np.int64)


def _from_matrix(labels, k: int | None, name: str) -> np.ndarray:
    arr = as_array(labels, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} as a matrix must be 2-D (N, K), found shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows; expected shape (N, K) with N >= 1.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} matrix must hold 0/1 (bool or numbers), found dtype {arr.dtype}.")
    if k is not None and arr.shape[1] != k:
        raise ValueError(f"{name} has {arr.shape[1]} columns but there are {k} classes.")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no columns; expected shape (N, K) with K >= 1.")
    if arr.dtype.kind == "b":
        return np.ascontiguousarray(arr)
    if arr.dtype.kind == "f":
        check_finite(arr, name)
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} matrix must hold only 0 and 1, found {arr[i, j]!r} at row {i}, column {j}."
        )
    return arr != 0


def check_multilabel_pred_probs(
    pred_probs: ArrayLike,
    *,
    name: str = "pred_probs",
    n_samples: int | None = None,
    n_classes: int | None = None,
) -> np.ndarray:
    """Validate multi-label predicted probabilities: (N, K), finite, each in [0, 1].

    Rows need not sum to 1 (the K probabilities are independent, e.g. K sigmoid outputs).
    They must be out-of-sample (cross-validated). float64 stays float64; every other real
    dtype becomes float32.

    Returns
    -------
    ndarray of shape (N, K), float32 or float64
    """
    arr = as_array(pred_probs, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (N, K), found shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"{name} must be real numbers, found dtype {arr.dtype}.")
    n, k = arr.shape
    if n == 0 or k == 0:
        raise ValueError(f"{name} must have N >= 1 rows and K >= 1 columns, found {arr.shape}.")
    if n_samples is not None and n != n_samples:
        raise ValueError(f"{name} has {n} rows but labels has {n_samples} samples.")
    if n_classes is not None and k != n_classes:
        raise ValueError(f"{name} has {k} columns but there are {n_classes} classes.")
    arr = arr.astype(np.float64 if arr.dtype == np.float64 else np.float32, copy=False)
    low, high = arr.min(), arr.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        check_finite(arr, name)
    if low < 0 or high > 1:
        raise ValueError(
            f"{name} must lie in [0, 1] (independent per-class probabilities), found values in "
            f"[{low:.4g}, {high:.4g}]."
        )
    return arr


def label_set_lists(label_matrix: np.ndarray) -> list[list[int]]:
    """Label sets as lists of class indices (cleanlab's multi-label format), one per row."""
    rows, cols = np.nonzero(np.asarray(label_matrix))
    bounds = np.searchsorted(rows, np.arange(len(label_matrix) + 1))
    cols = cols.tolist()
    return [cols[b:e] for b, e in zip(bounds[:-1], bounds[1:], strict=True)]


def label_set_strings(label_matrix: np.ndarray, class_names: Sequence[str], sep: str = "|"):
    """Label sets as ``"a|b"`` strings (empty string for the empty set), one per row."""
    names = [str(c) for c in class_names]
    return [sep.join(names[j] for j in row) for row in label_set_lists(label_matrix)]


def check_class_margins(values, n: int, k: int) -> np.ndarray:
    """Per-class margins per epoch, (N, K, E) finite floats (float16 kept, else float32): the
    logit of the given
    side of every annotation (positive = the model agrees with it), e.g. the ``class_margins``
    of :func:`workbench.compute.probe_multilabel.cross_val_sigmoid_probs`."""
    name = f"trajectories[{CLASS_MARGIN!r}]"
    arr = as_array(values, name)
    if arr.ndim != 3 or arr.shape[:2] != (n, k) or arr.shape[2] < 1:
        raise ValueError(f"{name} must have shape (N={n}, K={k}, E>=1), found {arr.shape}.")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, found dtype {arr.dtype}.")
    arr = arr.astype(np.float16 if arr.dtype == np.float16 else np.float32, copy=False)
    check_finite(arr, name)
    return arr


# --- datasets --------------------------------------------------------------------------------------
def resolve_task(task: str | None, labels) -> str:
    """The task of ``labels``: ``task`` when given, else :data:`MULTILABEL` when the input can
    only be label sets (:func:`is_label_sets`), else :data:`MULTICLASS`."""
    if task is None:
        return MULTILABEL if is_label_sets(labels) else MULTICLASS
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)} or None (inferred), found {task!r}.")
    if task == MULTICLASS and is_label_sets(labels):
        raise ValueError(
            "labels are label sets (lists per sample or an N×K matrix) but task='multiclass'; "
            "pass task='multilabel' or one label per sample."
        )
    return task


def _optional_sets(values, name: str, k: int, class_names, sep: str):
    """Label sets where None / NaN means "unknown": int8 (N, K) with -1 rows where unknown."""
    if getattr(values, "ndim", 1) == 2 or type(values).__module__.startswith("torch"):
        arr = as_array(values, name)
        if arr.dtype.kind == "f":
            unknown = np.isnan(arr).all(axis=1) if arr.ndim == 2 else None
            partial = np.isnan(arr).any(axis=1) & ~unknown
            if partial.any():
                raise ValueError(
                    f"{name} row {int(np.argmax(partial))} is partly NaN; a label set is known "
                    "whole (0/1 everywhere) or unknown (NaN everywhere)."
                )
            arr = np.where(unknown[:, None], 0, arr)
        else:
            unknown = (
                (arr == -1).all(axis=1) if arr.dtype.kind in "iu" else np.zeros(len(arr), bool)
            )
            arr = np.where(unknown[:, None], 0, arr)
        sets, _ = check_label_sets(arr, n_classes=k, name=name)
    else:
        items = values.tolist() if hasattr(values, "tolist") else list(values)
        unknown = np.array([_is_missing(v) for v in items], bool)
        sets, _ = check_label_sets(items, n_classes=k, class_names=class_names, name=name, sep=sep)
    out = sets.astype(np.int8)
    out[unknown] = -1
    return out


def check_label_set_annotators(annotators, n: int, class_names, sep: str = "|") -> np.ndarray:
    """Label sets from M annotators as int8 (N, M, K): 1 / 0 where annotator ``m`` gave / did
    not give class ``k`` to sample ``i``, -1 along K where ``m`` did not label ``i``.

    ``annotators``: an (N, M, K) array of 0/1 (-1 or NaN for a whole set not given), or a
    DataFrame / dict / list of M columns of N label sets (None or NaN where not given).
    """
    k = len(class_names)
    name = "annotators"
    if isinstance(annotators, np.ndarray) or type(annotators).__module__.startswith("torch"):
        arr = as_array(annotators, name)
        if arr.ndim != 3 or arr.shape[0] != n or arr.shape[2] != k:
            raise ValueError(
                f"{name} as an array must have shape (N={n}, M, K={k}) of 0/1 (-1 where an "
                f"annotator did not label a sample), found {arr.shape}."
            )
        cols = [arr[:, m, :] for m in range(arr.shape[1])]
        names = [f"{name}[:, {m}]" for m in range(arr.shape[1])]
    else:
        if type(annotators).__module__.startswith("pandas"):
            items = [(str(c), annotators[c]) for c in annotators.columns]
        elif isinstance(annotators, dict):
            items = [(str(c), v) for c, v in annotators.items()]
        elif isinstance(annotators, Sequence) and not isinstance(annotators, (str, bytes)):
            items = [(str(m), v) for m, v in enumerate(annotators)]
        else:
            raise TypeError(
                f"{name} for label sets must be an (N, M, K) array or M columns of label sets "
                f"(DataFrame, dict or list), found {type(annotators).__name__}."
            )
        cols = [v for _, v in items]
        names = [f"{name}[{c!r}]" for c, _ in items]
    if not cols:
        raise ValueError(f"{name} holds no annotator; give at least one column of label sets.")
    out = np.empty((n, len(cols), k), np.int8)
    for m, (col, col_name) in enumerate(zip(cols, names, strict=True)):
        if len(col) != n:
            raise ValueError(f"{col_name} has {len(col)} label sets, expected N={n}.")
        out[:, m, :] = _optional_sets(col, col_name, k, class_names, sep)
    return out


def multilabel_signals(
    labels, *, class_names=None, pred_probs=None, annotators=None, true_labels=None,
    sep: str = "|",
) -> dict:  # fmt: skip
    """Check the label-dependent inputs of a multi-label dataset together.

    ``labels``: label sets (see :func:`check_label_sets`); K is the width of ``pred_probs``,
    else ``len(class_names)``, else found in the labels. ``pred_probs``: (N, K) or a dict of
    name -> (N, K) independent per-class probabilities (several models are averaged).
    ``true_labels``: label sets with None / NaN (or a -1 row) where unknown.

    Returns a dict with ``labels`` (N, K) bool, ``class_names`` (K str), ``pred_probs``
    (N, K) or None, ``pred_probs_by_model`` dict, ``annotators`` (N, M, K) int8 or None and
    ``true_labels`` (N, K) int8 (-1 rows unknown) or None.
    """
    models = {}
    if pred_probs is not None:
        raw = pred_probs if isinstance(pred_probs, dict) else {"model": pred_probs}
        if not raw:
            raise ValueError("pred_probs is an empty dict; give at least one model's N×K array.")
        models = {
            str(m): check_multilabel_pred_probs(
                p, name=f"pred_probs[{m!r}]" if isinstance(pred_probs, dict) else "pred_probs"
            )
            for m, p in raw.items()
        }
        widths = {m: p.shape for m, p in models.items()}
        if len({s[1] for s in widths.values()}) > 1:
            raise ValueError(f"pred_probs models disagree on K: {widths}.")
    k = next(iter(models.values())).shape[1] if models else None
    names = [str(c) for c in class_names] if class_names is not None else None
    if names is not None and k is not None and len(names) != k:
        raise ValueError(
            f"pred_probs has {k} columns but class_names has {len(names)} names; give one "
            "pred_probs column per class, in class_names order."
        )
    Y, found = check_label_sets(labels, n_classes=k, class_names=names, sep=sep)
    n, k = Y.shape
    if n < 2:
        raise ValueError(f"labels must hold at least 2 samples, found {n}.")
    names = found if found is not None else [str(c) for c in range(k)]
    for m, p in models.items():
        if len(p) != n:
            arg = f"pred_probs[{m!r}]" if len(models) > 1 else "pred_probs"
            raise ValueError(f"{arg} has {len(p)} rows but labels has {n} samples.")
    mean = None
    if models:
        checked = list(models.values())
        mean = checked[0] if len(checked) == 1 else np.mean(checked, axis=0, dtype=np.float32)
    truth = None
    if true_labels is not None:
        if len(true_labels) != n:
            raise ValueError(f"true_labels has {len(true_labels)} label sets but labels has {n}.")
        truth = _optional_sets(true_labels, "true_labels", k, names, sep)
    votes = None if annotators is None else check_label_set_annotators(annotators, n, names, sep)
    return {
        "labels": Y,
        "class_names": names,
        "pred_probs": mean,
        "pred_probs_by_model": models,
        "annotators": votes,
        "true_labels": truth,
    }
