"""Input validation: small public helpers that turn user input into checked numpy arrays.

Every helper names the argument, what was expected and what was found, and raises before any
work starts. Internal code that already holds checked arrays calls the private twins of the
public functions and does not validate twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from workbench.core import chunks as _chunks
from workbench.core.typing import ArrayLike, SeedLike

__all__ = [
    "align_on_index",
    "as_array",
    "as_float",
    "check_consistent_length",
    "check_finite",
    "check_labels",
    "check_pred_probs",
    "check_rng",
    "check_transition",
]

_INT64_MAX = np.iinfo(np.int64).max


def as_array(x: ArrayLike, name: str, *, dtype=None) -> np.ndarray:
    """Convert numpy, torch, pandas or a list to a numpy array without object dtype.

    Raises
    ------
    TypeError
        If ``x`` is None, a string, or holds Python objects (object dtype).
    """
    if x is None:
        raise TypeError(f"{name} is None; expected an array-like.")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be array-like, found a {type(x).__name__}.")
    mod = type(x).__module__
    if mod.startswith("torch"):
        x = _torch_to_numpy(x)
    elif mod.startswith("pandas"):
        x = x.to_numpy()
    try:
        arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    except ValueError as err:
        if isinstance(x, (list, tuple)):
            lengths = sorted({len(r) for r in x if isinstance(r, (list, tuple, np.ndarray))})
            if len(lengths) > 1:
                raise ValueError(
                    f"{name} is ragged: its rows have different lengths ({_show(lengths)}); "
                    "expected a rectangular array, every row of the same length."
                ) from None
        raise ValueError(f"{name} cannot be read as an array: {err}") from None
    if arr.dtype == object:
        raise TypeError(
            f"{name} has object dtype (mixed or Python objects); convert it to a numeric or "
            f"string array first, e.g. np.asarray({name}, dtype=float)."
        )
    return arr


def _torch_to_numpy(t) -> np.ndarray:
    """A tensor as numpy; dtypes numpy lacks (bfloat16, float8, complex32) become float32 /
    complex64, which hold their values exactly."""
    t = t.detach().cpu()
    try:
        return t.numpy()
    except TypeError:
        import torch  # the tensor's own library, already imported

        if t.is_complex():
            return t.to(torch.complex64).numpy()
        if t.is_floating_point():
            return t.float().numpy()
        raise


def as_float(arr: np.ndarray, name: str, dtype=np.float32) -> np.ndarray:
    """Cast a real array to ``dtype`` (float32 by default), refusing finite values that ``dtype``
    cannot hold instead of letting them become infinity.

    Raises
    ------
    ValueError
        Naming the argument, the first value too large and the largest magnitude allowed.
    """
    if arr.dtype == dtype:
        return arr
    try:
        with np.errstate(over="raise"):
            return arr.astype(dtype, copy=False)
    except FloatingPointError:
        pass
    limit = float(np.finfo(dtype).max)
    big = np.isfinite(arr) & (np.abs(arr) > limit)
    i = tuple(int(j) for j in np.argwhere(big)[0])
    raise ValueError(
        f"{name} has values too large for {np.dtype(dtype).name} (magnitudes up to {limit:.3g}): "
        f"{arr[i]:.4g} at index {i if len(i) > 1 else i[0]}. Rescale them (e.g. standardise each "
        "column) before passing them."
    )


def align_on_index(labels, signals: Mapping[str, object], *, name: str = "labels") -> dict:
    """Reorder the pandas ``signals`` to the index of pandas ``labels``; all else by position.

    The rule: when ``labels`` is a pandas Series, every pandas Series or DataFrame among
    ``signals`` is taken in the order of the labels' index (rows are matched by index value, not
    by position). Both must hold the same index values, and an index that needs reordering must
    be unique. numpy arrays, torch tensors and lists are always taken by position. When
    ``labels`` is not pandas, pandas signals are taken by position too, and must then agree on
    one index among themselves (else which one would be right is unknowable).

    Parameters
    ----------
    labels : array-like of shape (N,)
        The reference: its index when it is a pandas Series.
    signals : mapping of argument name -> value
        Values of any kind; None and non-pandas values pass through unchanged. A signal whose
        length differs from N passes through too, for the length checks to report.

    Returns
    -------
    dict of argument name -> value, pandas values reordered to the labels' index

    Raises
    ------
    ValueError
        When the index values differ, or a duplicated index makes the matching ambiguous; the
        message names both arguments and shows index values that do not match.
    """
    indexed = {k: v for k, v in signals.items() if _pandas_index(v) is not None}
    ref = _pandas_index(labels)
    if ref is None:
        if indexed:
            first, first_index = next(iter(indexed)), _pandas_index(next(iter(indexed.values())))
            for k, v in indexed.items():
                idx = _pandas_index(v)
                if len(idx) == len(first_index) and not idx.equals(first_index):
                    raise ValueError(
                        f"{first} and {k} are pandas objects with different indexes, but {name} "
                        f"is not: there is no index to align them on. Give {name} as a pandas "
                        f"Series with the index to align on, or pass {k}.to_numpy() to take its "
                        "rows by position."
                    )
        return dict(signals)
    out = dict(signals)
    for k, v in indexed.items():
        out[k] = _reindex(v, ref, k, name)
    return out


def _pandas_index(x):
    """The index of a pandas Series or DataFrame, else None."""
    if type(x).__module__.startswith("pandas") and hasattr(x, "index") and hasattr(x, "iloc"):
        return x.index
    return None


def _reindex(x, ref, name: str, ref_name: str):
    idx = x.index
    if len(idx) != len(ref) or idx.equals(ref):
        return x
    hint = (
        "pandas inputs align on their index; make the indexes match (e.g. reset_index on both "
        f"before splitting), or pass {name}.to_numpy() to take its rows by position."
    )
    for who, index in ((ref_name, ref), (name, idx)):
        dup = index.duplicated()
        if dup.any():
            shown = list(dict.fromkeys(index[dup].tolist()))
            raise ValueError(
                f"{name} and {ref_name} have different indexes, and the index of {who} has "
                f"duplicates ({_show(shown)}), so their rows cannot be matched. {hint}"
            )
    missing = ref[~ref.isin(idx)]
    if len(missing):
        extra = idx[~idx.isin(ref)]
        raise ValueError(
            f"The index of {name} does not match the index of {ref_name}: {len(missing):,} "
            f"values of {ref_name}'s index are not in {name} ({_show(missing.tolist())}), and "
            f"{len(extra):,} of {name}'s are not in {ref_name} ({_show(extra.tolist())}). {hint}"
        )
    return x.reindex(ref)


def _show(values: list, n: int = 5) -> str:
    return ", ".join(repr(v) for v in values[:n]) + (" ..." if len(values) > n else "")


def check_consistent_length(**arrays) -> int:
    """Return the shared length of the non-None arrays, or raise naming each length found."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"Inconsistent numbers of samples: {found}. All must have the same N.")
    return next(iter(lengths.values())) if lengths else 0


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ValueError if a float array holds NaN or infinity, with the first bad position."""
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains NaN or infinity (first at index {tuple(int(i) for i in bad)}); "
            "all values must be finite."
        )


def check_labels(
    labels: ArrayLike,
    *,
    name: str = "labels",
    class_names: Sequence[str] | None = None,
    n_classes: int | None = None,
    allow_missing: bool = False,
    require_dense: bool = False,
    classes_from: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Validate class labels and return them as int64 codes plus the class names.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Integer class indices 0..K-1, or strings (mapped through ``class_names``, or sorted
        unique names when ``class_names`` is None), or a pandas categorical (its codes, named
        by its categories; mapped onto ``class_names`` by category name when given).
    class_names : sequence of str, optional
        Names of the K classes, in index order (default: the categories of a pandas
        categorical, else the sorted unique names).
    n_classes : int, optional
        K when known from elsewhere (the width of ``pred_probs``).
    allow_missing : bool, default=False
        Accept -1 (or None/NaN for string and float input) as "no label" and keep it as -1.
    require_dense : bool, default=False
        When K is inferred from integer labels (no ``class_names``, no ``n_classes``), refuse
        labels that leave more than half of 0..max unused. Integer labels whose maximum + 1
        exceeds 2 N are refused either way, before anything of size K is built.
    classes_from : str, optional
        Where ``n_classes`` comes from, for messages (e.g. "the 3 columns of pred_probs").

    Returns
    -------
    codes : ndarray of shape (N,), int64
    class_names : list of str, length K
        For a pandas categorical without ``class_names``: its categories, in their order.
    """
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"class_names has duplicates: {class_names}.")
        if n_classes is not None and len(class_names) != n_classes:
            raise ValueError(
                f"class_names has {len(class_names)} names but there are {n_classes} classes."
            )
    if str(getattr(labels, "dtype", "")) == "category":
        return _categorical_codes(labels, name, class_names, n_classes, allow_missing)
    arr = _to_label_array(labels, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (N,), found shape {arr.shape}.")
    if arr.dtype.kind in "USO" or arr.dtype.kind == "T":
        codes, names = _encode_strings(arr, name, class_names, allow_missing)
    else:
        codes = _int_codes(arr, name, allow_missing)
        k = n_classes if n_classes is not None else (len(class_names) if class_names else None)
        if k is None:
            k = _inferred_k(codes, name, require_dense)
        names = class_names if class_names is not None else [str(i) for i in range(k)]
        bad = codes >= len(names)
        if bad.any():
            i = int(np.argmax(bad))
            source = classes_from or ("class_names" if class_names is not None else "n_classes")
            if n_classes is None and class_names is None:
                source = "the largest label"
            raise ValueError(
                f"{name} must lie in 0..{len(names) - 1} (K={len(names)}, from {source}), found "
                f"{codes[i]} at index {i}."
                + (
                    f" class_names needs one name per class: give {int(codes.max()) + 1} names."
                    if source == "class_names" and int(codes.max()) < 2 * max(len(codes), k)
                    else ""
                )
            )
    return codes, names


def _inferred_k(codes: np.ndarray, name: str, require_dense: bool) -> int:
    """K = max + 1 for integer codes when nothing else gives K, in O(N) memory.

    Refuses codes that cannot be class indices (max + 1 > 2 N: a typo such as 10**12, or ids)
    before anything of size K exists, and with ``require_dense`` also codes that leave more than
    half of 0..max unused.
    """
    if not codes.size or codes.max() < 0:
        return 0
    k = int(codes.max()) + 1
    if k <= 2:
        return k
    valid = codes[codes >= 0]
    if k <= 2 * codes.size:
        if not require_dense:
            return k
        present = int(np.count_nonzero(np.bincount(valid, minlength=k)))
        if 2 * present >= k:
            return k
    shown = np.unique(valid)
    found = ", ".join(str(v) for v in shown[:5].tolist()) + (" ..." if shown.size > 5 else "")
    raise ValueError(
        f"{name} holds sparse integers: values up to {k - 1} would make K={k:,} classes, but "
        f"only {shown.size:,} distinct values occur ({found}). Integer labels must be class "
        "indices 0..K-1: pass class_names= (the K names in index order; workbench-audit: "
        "--class-names), or re-encode them, e.g. codes, names = "
        f"pandas.factorize({name}); Dataset(codes, class_names=names)."
    )


def _categorical_codes(labels, name, class_names, n_classes, allow_missing):
    """Codes of a pandas categorical (Series, Categorical or CategoricalIndex): the categorical's
    own codes, named by its categories, or mapped onto ``class_names`` by category name."""
    if getattr(labels, "ndim", 1) != 1:
        raise ValueError(f"{name} must be 1-D of shape (N,), found shape {labels.shape}.")
    cat = getattr(labels, "array", labels)  # a Series' or an Index's Categorical
    codes = np.asarray(cat.codes, dtype=np.int64)
    categories = [str(c) for c in cat.categories]
    if class_names is None:
        if len(set(categories)) != len(categories):
            raise ValueError(
                f"{name} has categories that are equal as strings: {categories}; rename them."
            )
        if n_classes is not None and len(categories) != n_classes:
            raise ValueError(
                f"{name} is categorical with {len(categories)} categories but there are "
                f"{n_classes} classes; pass class_names= (the {n_classes} names in index order)."
            )
        names = categories
    else:
        lookup = {c: i for i, c in enumerate(class_names)}
        table = np.array([lookup.get(c, -2) for c in categories] + [-1], dtype=np.int64)
        codes = table[codes]  # code -1 (missing) picks the last entry, -1
        if (codes == -2).any():
            unknown = sorted({categories[c] for c in np.asarray(cat.codes)[codes == -2]})
            raise ValueError(
                f"{name} has names not in class_names: {unknown[:5]}"
                f"{' ...' if len(unknown) > 5 else ''}; class_names are {class_names}."
            )
        names = class_names
    if not allow_missing and codes.size and codes.min() < 0:
        raise ValueError(f"{name} has an empty/missing label at index {int(np.argmin(codes))}.")
    return codes, names


def _to_label_array(labels: ArrayLike, name: str) -> np.ndarray:
    mod = type(labels).__module__
    if mod.startswith("pandas"):
        s = labels
        if getattr(s, "ndim", 1) != 1:
            raise ValueError(f"{name} must be 1-D of shape (N,), found shape {s.shape}.")
        kind = getattr(s.dtype, "kind", "O")
        if s.dtype == object or str(s.dtype).startswith("str") or str(s.dtype) == "string":
            return _from_objects(s.to_numpy(dtype=object), name)
        if kind in "iuf" and s.hasnans:
            return s.to_numpy(dtype=float, na_value=np.nan)
        arr = s.to_numpy()
        return _from_objects(arr, name) if arr.dtype == object else arr
    if isinstance(labels, (list, tuple)) and any(
        v is None
        or isinstance(v, str)
        or (isinstance(v, float) and v != v)
        or (isinstance(v, int) and not -_INT64_MAX - 1 <= v <= _INT64_MAX)
        for v in labels
    ):
        return _from_objects(labels, name)
    return as_array(labels, name)


def _from_objects(values, name: str) -> np.ndarray:
    """Turn a sequence of str / numbers / None / NaN into a str array ("" = missing) or a float
    array (NaN = missing); mixed names and numbers are a TypeError."""
    n_str = n_num = 0
    for i, v in enumerate(values):
        if isinstance(v, str):
            n_str += 1
        elif v is None or (isinstance(v, (float, np.floating)) and v != v):
            continue
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
            v, (bool, np.bool_)
        ):
            n_num += 1
            if isinstance(v, int) and not -_INT64_MAX - 1 <= v <= _INT64_MAX:
                raise ValueError(_overflow_message(name, v, i))
        else:
            raise TypeError(
                f"{name} must hold integer class indices or class-name strings, found "
                f"{type(v).__name__} value {v!r}."
            )
    if n_str and n_num:
        raise TypeError(
            f"{name} mixes class-name strings and numbers ({n_str} strings, {n_num} numbers); "
            "use one or the other."
        )
    if n_str:
        return np.array([v if isinstance(v, str) else "" for v in values], dtype=str)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _overflow_message(name: str, value, index: int) -> str:
    return (
        f"{name} has values beyond the int64 range (integer overflow): {value} at index "
        f"{index}. Integer labels must be class indices 0..K-1; re-encode them, e.g. codes, "
        f"names = pandas.factorize({name}), or pass them as strings."
    )


def _int_codes(arr: np.ndarray, name: str, allow_missing: bool) -> np.ndarray:
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold integer class indices or strings, found dtype bool.")
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        if nan.any() and not allow_missing:
            raise ValueError(f"{name} contains NaN at index {int(np.argmax(nan))}.")
        if not np.isfinite(arr[~nan]).all() or (arr[~nan] != np.round(arr[~nan])).any():
            raise TypeError(
                f"{name} must hold integer class indices, found non-integer floats "
                f"(dtype {arr.dtype})."
            )
        huge = np.abs(np.where(nan, 0, arr)) >= np.float64(2.0**63)  # float16 cannot hold it
        if huge.any():
            i = int(np.argmax(huge))
            raise ValueError(_overflow_message(name, f"{arr[i]:.6g}", i))
        arr = np.where(nan, -1, arr)
    elif arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold integer class indices or strings, found dtype {arr.dtype}."
        )
    if arr.dtype == np.uint64 and arr.size and arr.max() > _INT64_MAX:
        i = int(np.argmax(arr))
        raise ValueError(_overflow_message(name, arr[i], i))
    codes = arr.astype(np.int64)
    low = -1 if allow_missing else 0
    if codes.size and codes.min() < low:
        i = int(np.argmin(codes))
        allowed = "0 or more (or -1 for missing)" if allow_missing else "0 or more"
        raise ValueError(f"{name} must be {allowed}, found {codes[i]} at index {i}.")
    return codes


def _encode_strings(arr, name, class_names, allow_missing):
    arr = arr.astype(str)
    present, inverse = np.unique(arr, return_inverse=True)
    has_missing = bool(present.size) and present[0] == ""
    if has_missing and not allow_missing:
        raise ValueError(f"{name} has an empty/missing label at index {int(np.argmax(arr == ''))}.")
    present = present[1:] if has_missing else present
    names = list(class_names) if class_names is not None else [str(v) for v in present]
    unknown = sorted(set(present.tolist()) - set(names))
    if unknown:
        raise ValueError(
            f"{name} has names not in class_names: {unknown[:5]}"
            f"{' ...' if len(unknown) > 5 else ''}; class_names are {names}."
        )
    lookup = {c: i for i, c in enumerate(names)}
    table = np.array(
        ([-1] if has_missing else []) + [lookup[v] for v in present.tolist()], dtype=np.int64
    )
    return table[inverse.reshape(-1)], names


def check_pred_probs(
    pred_probs: ArrayLike,
    *,
    name: str = "pred_probs",
    n_samples: int | None = None,
    n_classes: int | None = None,
    renormalize: bool = False,
    atol: float = 1e-3,
    dtype=np.float32,
) -> np.ndarray:
    """Validate out-of-sample predicted probabilities of shape (N, K).

    ``pred_probs`` must be out-of-sample (cross-validated): probabilities from a model that saw
    a sample in training are overconfident on it and hide its label error.

    Parameters
    ----------
    renormalize : bool, default=False
        Divide each row by its sum when rows do not sum to 1 within ``atol`` (they must still be
        non-negative with a positive sum). Without it such rows are an error.

    Returns
    -------
    ndarray of shape (N, K), float32 by default
    """
    arr = pred_probs_array(pred_probs, name, n_samples, n_classes, dtype)
    return check_pred_prob_values(arr, name, renormalize, atol, dtype)


def pred_probs_array(pred_probs, name, n_samples, n_classes, dtype) -> np.ndarray:
    """The shape and dtype checks of :func:`check_pred_probs`: no pass over the values."""
    arr = as_array(pred_probs, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (N, K), found shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"{name} must be real numbers, found dtype {arr.dtype}.")
    n, k = arr.shape
    if n == 0:
        raise ValueError(f"{name} has no rows; expected shape (N, K) with N >= 1.")
    if n_samples is not None and n != n_samples:
        raise ValueError(f"{name} has {n} rows but labels has {n_samples} samples.")
    if n_classes is not None and k != n_classes:
        raise ValueError(f"{name} has {k} columns but there are {n_classes} classes.")
    if k < 2:
        raise ValueError(
            f"{name} must have at least 2 columns (one per class), found shape {arr.shape}. For a "
            "binary model's probability p of class 1, pass np.column_stack([1 - p, p])."
        )
    try:
        return as_float(arr, name, dtype)
    except ValueError:
        i = np.unravel_index(int(np.nanargmax(np.abs(arr))), arr.shape)
        raise ValueError(
            f"{name} must lie in [0, 1], found {arr[i]:.4g} at index {tuple(map(int, i))}."
        ) from None


def check_pred_prob_values(arr, name, renormalize, atol, dtype, also=None) -> np.ndarray:
    """The value checks of :func:`check_pred_probs` on ``arr`` from :func:`pred_probs_array`;
    ``also`` as in :func:`_scan`."""
    low, near_one = _scan(arr, atol, also)
    if not np.isfinite(low):  # NaN reaches the minimum, and so does -inf
        check_finite(arr, name)
    if near_one and low >= 0:
        # Every row sums to 1 within atol and no entry is negative, so no entry exceeds
        # 1 + atol and none is infinite: the maximum need not be read.
        return arr
    high = arr.max()
    if not np.isfinite(high):
        check_finite(arr, name)
    if low < 0 or high > 1 + atol:
        raise ValueError(f"{name} must lie in [0, 1], found values in [{low:.4g}, {high:.4g}].")
    sums = arr.sum(axis=1, dtype=np.float64)
    off = np.abs(sums - 1) > atol
    if off.any():
        i = int(np.argmax(off))
        if not renormalize:
            raise ValueError(
                f"{name} rows must sum to 1 (within {atol}), row {i} sums to {sums[i]:.6g} "
                f"({int(off.sum())} rows off). Pass renormalize=True to divide each row by its sum."
            )
        if (sums <= 0).any():
            raise ValueError(f"{name} has a row summing to 0 (row {int(np.argmin(sums))}).")
        arr = (arr / sums[:, None]).astype(dtype, copy=False)
    return arr


def _scan(arr: np.ndarray, atol: float, also=None) -> tuple[float, bool]:
    """One chunked, threaded pass over ``arr`` (N, K): its minimum, and whether every row sums
    to 1 within ``atol`` for sure. ``also(sl)``, when given, runs on every block of
    :func:`workbench.core.chunks.chunk_rows` rows right after it is checked, in the same thread.

    Each block is read from memory once and both reductions run on it while it is in the
    cache (separate ``min``, ``max`` and matrix-vector passes each read all of ``arr``, and
    BLAS threads spinning after the product slow the next pass down). The row sums are taken
    in the array's dtype: their rounding error is below ``slack``, so rows within
    ``atol - slack`` of 1 are within ``atol`` exactly; False means the exact float64 sums must
    decide (also when ``slack`` is too large for the screen to be of use, i.e. K in the
    thousands in float32). NaN propagates to the minimum.
    """
    n, k = arr.shape
    slack = 2 * k * np.finfo(arr.dtype).eps * (1 + atol)
    rows = _chunks.chunk_rows(k, arr.dtype.itemsize)
    lows = np.empty(-(-n // rows), arr.dtype)
    far = np.zeros(len(lows), bool)

    def block(sl: slice) -> None:
        x, i = arr[sl], sl.start // rows
        lows[i] = x.min()
        far[i] = (np.abs(np.einsum("ij->i", x) - 1) > atol - slack).any()
        if also is not None:
            also(sl)

    _chunks.parallel_chunks(block, n, rows)
    return lows.min(), bool(slack < atol / 2 and not far.any())


def check_number(value, name: str, *, low: float | None = None, high: float | None = None) -> float:
    """A real number (not a bool), finite, within ``[low, high]`` where given; as float.

    TypeError for a non-number, ValueError naming ``name`` and the range otherwise.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a number, found {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, found {value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        where = (
            f"lie in [{low}, {high}]" if low is not None and high is not None
            else f"be at least {low}" if low is not None else f"be at most {high}"
        )  # fmt: skip
        raise ValueError(f"{name} must {where}, found {value!r}.")
    return float(value)


def check_int(value, name: str, *, low: int = 1, optional: bool = False) -> int | None:
    """An integer (not a bool) of at least ``low``; None passes when ``optional``."""
    if optional and value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        expected = f"None or an integer >= {low}" if optional else f"an integer >= {low}"
        raise TypeError(f"{name} must be {expected}, found {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, found {value!r}.")
    return int(value)


def check_rng(seed: SeedLike) -> np.random.Generator:
    """Return a numpy Generator from a seed, a Generator, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, found {seed!r}.")
    if isinstance(seed, (int, np.integer)) and seed < 0:
        raise ValueError(f"seed must be a non-negative integer, found {seed}.")
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy.random.Generator or None, found {seed!r}.")


def check_transition(
    transition: ArrayLike,
    *,
    name: str = "transition",
    n_classes: int | None = None,
    atol: float = 1e-6,
) -> np.ndarray:
    """Validate a noise-transition matrix ``T[i, j] = P(given = j | true = i)``.

    Rows must be probability distributions (non-negative, summing to 1 within ``atol``).
    cleanlab's ``noise_matrix`` is the transpose (its columns sum to 1): pass ``noise_matrix.T``.

    Returns
    -------
    ndarray of shape (K, K), float64, rows renormalised to sum to exactly 1
    """
    arr = as_array(transition, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square (K, K) matrix, found shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"{name} must be real numbers, found dtype {arr.dtype}.")
    k = arr.shape[0]
    if n_classes is not None and k != n_classes:
        raise ValueError(f"{name} has shape {arr.shape} but there are {n_classes} classes.")
    if k < 2:
        raise ValueError(f"{name} must be at least 2×2 (K >= 2 classes), found shape {arr.shape}.")
    arr = arr.astype(np.float64)
    check_finite(arr, name)
    if arr.min() < 0:
        i, j = np.unravel_index(int(np.argmin(arr)), arr.shape)
        raise ValueError(f"{name} must be non-negative, found {arr[i, j]:.4g} at ({i}, {j}).")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1) > atol
    if off.any():
        i = int(np.argmax(off))
        hint = (
            " Its columns sum to 1: cleanlab's noise_matrix is the transpose, pass it as .T."
            if np.allclose(arr.sum(axis=0), 1, atol=atol)
            else ""
        )
        raise ValueError(
            f"{name} rows must sum to 1 (T[i, j] = P(given = j | true = i)); row {i} sums to "
            f"{sums[i]:.6g}.{hint}"
        )
    return arr / sums[:, None]
