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
    "MULTILABEL",
    "check_label_sets",
    "check_multilabel_pred_probs",
    "is_label_sets",
    "label_set_lists",
    "label_set_strings",
]

#: The task name of multi-label data.
MULTILABEL = "multilabel"

_SET_TYPES = (list, tuple, set, frozenset, np.ndarray)


def _is_set_like(value) -> bool:
    return isinstance(value, _SET_TYPES)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_label_sets(labels) -> bool:
    """True when ``labels`` can only be multi-label input: a 2-D array / DataFrame, or a
    sequence / Series whose elements are lists, tuples, sets or arrays.

    Strings such as ``"a|b"`` are not inferred (a class name may contain the separator): pass
    ``task="multilabel"`` for them.
    """
    mod = type(labels).__module__
    if mod.startswith("pandas"):
        if labels.ndim == 2:
            return True
        values = [v for v in labels.head(1000).tolist() if not _is_missing(v)]
        return bool(values) and all(_is_set_like(v) for v in values)
    if mod.startswith("torch") or isinstance(labels, np.ndarray):
        return labels.ndim == 2 or (
            labels.dtype == object and labels.size > 0 and _is_set_like(labels.flat[0])
        )
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
    sets: list = values if all(type(v) is list for v in values) else []
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
    lengths = np.fromiter((len(s) for s in sets), np.int64, len(sets))
    flat = list(chain.from_iterable(sets))
    if flat and all(isinstance(x, str) for x in flat):
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
    out[np.repeat(np.arange(len(sets)), lengths), cols] = True
    return out, names


def _indices(flat: list, name: str) -> np.ndarray:
    """Class indices of a flat list as int64; floats must be whole numbers, no bools."""
    if not flat:
        return np.empty(0, np.int64)
    try:
        arr = np.array(flat)
    except (TypeError, ValueError):
        arr = np.array(flat, dtype=object)
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
