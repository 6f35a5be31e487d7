"""Per-shard arrays beside labels and ``pred_probs``: ``features`` (n, D) for the kNN detectors
and ``annotators`` (n, M) for the annotator detectors, read lazily where the tasks run.

N samples in S shards. Where a shard's extra array comes from:

- ``features-<part>.npy`` / ``annotators-<part>.npy`` beside the ``.npy`` shards of
  :meth:`ShardedDataset.from_npy` (found automatically);
- a fixed-size list column ``features`` / ``annotators`` in the Parquet shards of
  :meth:`ShardedDataset.from_parquet` (found automatically);
- :func:`with_arrays`: a dask array (N, ·) (its row blocks follow the shards), one ``.npy``
  file (N, ·) (memory-mapped, each task reads its rows) or a numpy array (N, ·) (shipped in
  the task graph: for tests and moderate N).

A shard's array is checked in its task: a wrong row count, NaN/inf features or an annotation
outside ``0..K-1`` raise a ``ValueError`` naming the shard (and the row).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.sharded.sources import open_npy

__all__ = ["KINDS", "NpyRows", "ParquetColumn", "extra_inputs", "read_extra", "with_arrays"]

#: The extra per-sample arrays a sharded dataset may carry.
KINDS = ("features", "annotators")


@dataclass(frozen=True)
class NpyRows:
    """Rows ``start:stop`` of one ``.npy`` file (memory-mapped, ``allow_pickle=False``)."""

    path: str
    start: int = 0
    stop: int | None = None

    def read(self) -> np.ndarray:
        return open_npy(self.path)[self.start : self.stop]


@dataclass(frozen=True)
class ParquetColumn:
    """One fixed-size list column of a Parquet shard, as an (n, width) array."""

    path: str
    column: str

    def read(self) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.parquet as pq

        col = pq.read_table(self.path, columns=[self.column]).column(self.column)
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if not pa.types.is_fixed_size_list(arr.type):
            raise ValueError(
                f"{self.path!r}: column {self.column!r} must be a fixed-size list, found type "
                f"{arr.type}."
            )
        flat = arr.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(arr), arr.type.list_size)


def with_arrays(dataset, **arrays):
    """A copy of ``dataset`` (a :class:`ShardedDataset`) carrying extra per-sample arrays.

    Parameters
    ----------
    dataset : ShardedDataset
    features, annotators : dask array, path of a ``.npy`` file, or numpy array, each (N, ·)
        ``features`` (N, D) for the kNN detectors, ``annotators`` (N, M) class indices
        (-1 where an annotator did not label a sample) for the annotator detectors.

    Returns
    -------
    ShardedDataset
        The same shards, with ``extras[kind]`` one input per shard.
    """
    from workbench.sharded.dataset import ShardedDataset

    if not isinstance(dataset, ShardedDataset):
        raise TypeError(
            f"dataset must be a workbench.sharded.ShardedDataset, found {type(dataset).__name__}."
        )
    unknown = sorted(set(arrays) - set(KINDS))
    if unknown:
        raise ValueError(f"extra arrays must be among {list(KINDS)}, found {unknown}.")
    out = copy.copy(dataset)
    out.extras = dict(getattr(dataset, "extras", {}) or {})
    for kind, value in arrays.items():
        if value is None:
            out.extras.pop(kind, None)
            continue
        out.extras[kind] = _split(value, kind, dataset)
    return out


def _split(value, kind: str, ds) -> list:
    """One input per shard from a dask array, a ``.npy`` path or a numpy array (N, ·)."""
    n, offsets = ds.n_samples, ds.offsets
    if isinstance(value, (str, Path)):
        path = Path(value)
        if path.suffix != ".npy" or not path.is_file():
            raise ValueError(f"{kind} must be a .npy file (N, ·), found {str(path)!r}.")
        shape = open_npy(path).shape
        if len(shape) != 2 or shape[0] != n:
            raise ValueError(f"{kind} in {str(path)!r} must have shape ({n}, ·), found {shape}.")
        return [
            NpyRows(str(path), int(a), int(b))
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover - dask is the sharded engine's own dependency
        da = None
    if da is not None and isinstance(value, da.Array):
        if value.ndim != 2 or value.shape[0] != n:
            raise ValueError(f"{kind} must be a dask array of shape ({n}, ·), found {value.shape}.")
        blocks = value.rechunk({0: tuple(int(x) for x in ds.lengths), 1: -1}).to_delayed()
        return list(blocks[:, 0])
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{kind} must have shape ({n}, ·), one row per sample, found {arr.shape}.")
    return [arr[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def extra_inputs(dataset, kind: str) -> list | None:
    """One input per shard for ``kind`` (see the module docstring), or None when the shards
    do not carry it (every shard must: a partial set counts as none)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, found {kind!r}.")
    given = (getattr(dataset, "extras", None) or {}).get(kind)
    if given is not None:
        return list(given)
    from workbench.sharded.sources import NpyShard, ParquetShard

    found = []
    for src in dataset.inputs:
        if isinstance(src, NpyShard):
            probs = Path(src.pred_probs)
            part = probs.name[len("pred_probs-") : -len(".npy")]
            path = probs.with_name(f"{kind}-{part}.npy")
            if not probs.name.startswith("pred_probs-") or not path.is_file():
                return None
            found.append(NpyRows(str(path), src.start, src.stop))
        elif isinstance(src, ParquetShard):
            found.append(ParquetColumn(src.path, kind))
        else:
            return None
    if found and isinstance(found[0], ParquetColumn):
        import pyarrow.parquet as pq

        if kind not in pq.read_schema(found[0].path).names:
            return None
    return found


def read_extra(source, kind: str, name: str, n_rows: int) -> np.ndarray:
    """Read and check one shard's ``kind`` array: (n_rows, width); ``ValueError`` naming the
    shard otherwise. Features come back as a float array, annotations as they are stored."""
    arr = source.read() if isinstance(source, (NpyRows, ParquetColumn)) else source
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise ValueError(
            f"shard {name!r}: {kind} must have shape ({n_rows}, ·), one row per sample, found "
            f"{arr.shape}."
        )
    if kind == "features":
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"shard {name!r}: features must be numbers, found dtype {arr.dtype}.")
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"shard {name!r} row {row}: features are not finite (NaN or inf) "
                f"({int(bad.sum())} such rows)."
            )
    return arr
