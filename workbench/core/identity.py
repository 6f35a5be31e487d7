"""Sample identity: every sample has an id (the user's key: a file name, a database key, a
DataFrame index; by default its position 0..N-1) and a dataset fingerprint ties decisions and
results to the data they were made on.

Ids are unique ints or strings. The fingerprint is a SHA-256 of the ids, the labels and the
class names, so a reordered, subset or relabelled dataset has a different fingerprint.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

__all__ = ["ID_KINDS", "check_ids", "fingerprint", "id_kind", "id_positions", "resolve_ids"]

#: How a dataset names its samples: by position, or by int / str ids the user gave.
ID_KINDS = ("position", "int", "str")


def check_ids(ids, n: int, *, name: str = "ids") -> np.ndarray | None:
    """Validate sample ids: N unique ints or N unique strings, none missing.

    Parameters
    ----------
    ids : array-like of shape (N,), pandas Index or Series, or None
        None means positions 0..N-1.
    n : int
        N, the number of samples.

    Returns
    -------
    ndarray of shape (N,) or None
        int64 for integer ids, object (str) for string ids; None for positions.

    Raises
    ------
    ValueError
        Wrong length, missing values or duplicates (the duplicated values are named).
    TypeError
        Ids that are neither all ints nor all strings (floats, mixed, objects).
    """
    if ids is None:
        return None
    if isinstance(ids, (pd.Index, pd.Series)):
        values = ids.to_numpy()
    elif isinstance(ids, (str, bytes)) or np.isscalar(ids):
        raise TypeError(f"{name} must be an array-like of N ids, found {type(ids).__name__}.")
    else:
        values = np.asarray(list(ids) if not hasattr(ids, "__len__") else ids, dtype=object)
        if values.ndim != 1:
            values = np.asarray(ids)
    if values.ndim != 1 or len(values) != n:
        raise ValueError(f"{name} must have shape (N={n},), found shape {np.shape(values)}.")
    if values.dtype.kind in "iu":
        if values.dtype.kind == "u" and len(values) and values.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name}: integer ids must fit in 64 bits.")
        out = values.astype(np.int64)
    else:
        obj = values if values.dtype == object else values.astype(object)
        missing = pd.isna(obj)
        if missing.any():
            raise ValueError(
                f"{name} must not have missing values; found one at positions "
                f"{np.flatnonzero(missing)[:10].tolist()}."
            )
        # pandas' inferred kind is one C pass; bools are their own kind, not ints
        inferred = pd.api.types.infer_dtype(obj, skipna=False)
        if inferred == "integer":
            try:
                out = np.asarray(obj.tolist(), dtype=np.int64)
            except OverflowError:
                raise ValueError(f"{name}: integer ids must fit in 64 bits.") from None
        elif inferred == "string":
            out = obj
        else:
            kinds = sorted({type(v).__name__ for v in obj[:100_000]})
            raise TypeError(
                f"{name} must be all ints or all strings, found values of types {kinds[:5]}; "
                "convert them (e.g. ids.astype(str))."
            )
    index = pd.Index(out)
    if not index.is_unique:
        dup = index[index.duplicated()].unique()
        raise ValueError(
            f"{name} must be unique; {len(dup)} value(s) occur more than once: "
            f"{[v.item() if hasattr(v, 'item') else v for v in dup[:10]]}"
            f"{' ...' if len(dup) > 10 else ''}."
        )
    return out


def id_kind(ids: np.ndarray | None) -> str:
    """``"position"``, ``"int"`` or ``"str"`` (see :data:`ID_KINDS`)."""
    if ids is None:
        return "position"
    return "int" if ids.dtype.kind in "iu" else "str"


def fingerprint(ids: np.ndarray | None, labels: np.ndarray, class_names) -> str:
    """SHA-256 (hex) of the ids, the labels (int64 codes) and the class names."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in class_names], ensure_ascii=False).encode())
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    h.update(f"|labels:{len(labels)}|".encode())
    h.update(labels.tobytes())
    kind = id_kind(ids)
    h.update(f"|ids:{kind}|".encode())
    if kind == "int":
        h.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    elif kind == "str":
        # each id as its 8-byte little-endian length then its UTF-8 bytes, laid out by numpy
        for start in range(0, len(ids), 262_144):
            encoded = [v.encode("utf-8", "surrogatepass") for v in ids[start : start + 262_144]]
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            ends = np.cumsum(lengths + 8)
            record = np.zeros(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
            prefix_at = (ends - lengths - 8)[:, None] + np.arange(8)
            record[prefix_at] = lengths.astype("<u8").view(np.uint8).reshape(-1, 8)
            is_text = np.ones(len(record), dtype=bool)
            is_text[prefix_at] = False
            record[is_text] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
            h.update(record.tobytes())
    return h.hexdigest()


def id_positions(ids: np.ndarray | None, n: int, wanted) -> np.ndarray:
    """Positions of the ``wanted`` ids in a dataset with ``ids`` (N of them); -1 where absent.

    For position ids, a wanted id is its own position when it is an int in 0..N-1.
    """
    wanted = np.asarray(wanted, dtype=object)
    if ids is None:
        out = np.full(len(wanted), -1, dtype=np.int64)
        for j, v in enumerate(wanted):
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < n:
                out[j] = int(v)
        return out
    if not len(wanted):
        return np.empty(0, dtype=np.int64)
    known = None
    if ids.dtype == object:  # a log read without its dataset knows only the decided samples' ids
        known = np.flatnonzero(~pd.isna(ids))
        ids = ids[known]
        if len(ids) and all(isinstance(v, (int, np.integer)) for v in ids[:1]):
            ids = ids.astype(np.int64)
    table = pd.Index(ids)
    try:
        query = pd.Index(wanted, dtype=object).astype(table.dtype)
        found = np.asarray(table.get_indexer(query), dtype=np.int64)
    except (TypeError, ValueError, OverflowError):  # e.g. a string asked of int ids
        lookup = {v: i for i, v in enumerate(ids.tolist())}
        found = np.asarray([lookup.get(v, -1) for v in wanted.tolist()], dtype=np.int64)
    if known is not None:
        found = np.where(found >= 0, known[np.maximum(found, 0)], -1)
    return found


def resolve_ids(ids, n: int, *, labels=None, metadata=None) -> np.ndarray | None:
    """The ids of a :class:`~workbench.core.dataset.Dataset`, validated by :func:`check_ids`.

    ``ids`` is None (positions), an array-like of N ids, ``"index"`` (the pandas index of
    ``labels``, else of ``metadata``) or the name of a ``metadata`` column.
    """
    if not isinstance(ids, str):
        return check_ids(ids, n)
    if ids == "index":
        for source in (labels, metadata):
            if isinstance(source, (pd.Series, pd.DataFrame)):
                return check_ids(source.index, n, name="ids (the index)")
        raise ValueError(
            "ids='index' takes the pandas index of labels (a Series) or of metadata (a "
            f"DataFrame); labels is a {type(labels).__name__} and there is no metadata frame."
        )
    if isinstance(metadata, pd.DataFrame) and ids in metadata.columns:
        return check_ids(metadata[ids], n, name=f"ids (metadata column {ids!r})")
    columns = list(metadata.columns)[:20] if isinstance(metadata, pd.DataFrame) else []
    raise ValueError(
        f"ids={ids!r} must be 'index' or a column of metadata (columns: {columns}), or an "
        "array-like of N ids."
    )
