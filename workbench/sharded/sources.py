"""Sharded inputs: where each shard's ids, labels and ``pred_probs`` come from, read lazily.

N samples in S shards, K classes. A shard is read inside the Dask task that works on it, never
on the client, and checked there (labels in ``0..K-1``, ``pred_probs`` of shape (n, K), finite, in
[0, 1], rows summing to 1 within 1e-3); a bad shard raises a ``ValueError`` naming the shard and
the row. The position of a sample is its index in the concatenation of the shards in order;
its id is the user's (an ``id`` column / ``ids`` array) or, by default, that position.

Sources (all small, picklable descriptions: the data stays where it is):

- :class:`NpyShard`: ``pred_probs-*.npy`` / ``labels-*.npy`` (``ids-*.npy`` optional) files,
  memory-mapped;
- :class:`ParquetShard`: one Parquet file with an id column, a label column and the
  probabilities as K columns or one fixed-size list column;
- :class:`ZarrShard`: a row range of Zarr arrays;
- :class:`SyntheticShard`: a seeded synthetic shard generated in the task (no disk);
- blocks of user dask arrays / dataframes (:meth:`ShardedDataset.from_dask`,
  :meth:`ShardedDataset.from_dask_dataframe`): the block is computed by Dask as the task's input.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PROB_ATOL",
    "NpyShard",
    "ParquetShard",
    "ShardData",
    "SyntheticShard",
    "ZarrShard",
    "check_prob_block",
    "check_shard",
    "load_shard",
    "write_npy_shards",
]

#: Rows of ``pred_probs`` must sum to 1 within this tolerance (as the in-memory checks).
PROB_ATOL = 1e-3


@dataclass
class ShardData:
    """One shard in memory: ``ids`` (n,) or None (ids are positions), ``labels`` (n,) int64,
    ``pred_probs`` (n, K) float32 or float64."""

    ids: np.ndarray | None
    labels: np.ndarray
    pred_probs: np.ndarray


# --- sources -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NpyShard:
    """A shard stored as ``.npy`` files (memory-mapped, never pickled: ``allow_pickle=False``)."""

    name: str
    pred_probs: str
    labels: str
    ids: str | None = None
    start: int = 0
    stop: int | None = None  # rows start:stop of the files (None: to the end)
    #: (kind, path) of per-epoch training trajectories (n, E): kinds "margin", "predicted",
    #: "given_prob" (files ``trajectory_<kind>-<part>.npy`` beside the shard's)
    trajectories: tuple[tuple[str, str], ...] = ()

    def n_rows(self) -> int:
        n = _npy_shape(self.labels)[0]
        return (n if self.stop is None else min(n, self.stop)) - self.start

    def n_classes(self) -> int:
        shape = _npy_shape(self.pred_probs)
        return shape[1] if len(shape) == 2 else -1

    def read(self) -> ShardData:
        rows = slice(self.start, self.stop)
        ids = open_npy(self.ids)[rows] if self.ids else None
        labels = open_npy(self.labels)[rows]
        probs = open_npy(self.pred_probs)[rows]
        return ShardData(ids, labels, probs)

    def read_trajectories(self) -> dict[str, np.ndarray]:
        """The shard's training trajectories by kind, each (n, E), memory-mapped."""
        rows = slice(self.start, self.stop)
        return {kind: open_npy(path)[rows]
                for kind, path in self.trajectories}  # fmt: skip


#: Trajectory kinds a shard may carry, and the detector scores each gives.
TRAJECTORY_KINDS = ("margin", "predicted", "given_prob")


# numpy parses a .npy header with ``ast.literal_eval``, and CPython 3.11's AST constructor is not
# safe when threads of one process parse at once (python/cpython#106905: a spurious
# "SystemError: AST constructor recursion depth mismatch"): a Dask worker runs several tasks in
# threads, each opening shards, so header reads take turns (the data is mapped, not read, here).
_HEADER_LOCK = threading.Lock()


def open_npy(path: str | os.PathLike) -> np.ndarray:
    """The ``.npy`` file at ``path`` memory-mapped read-only (no pickle), safe to call from the
    threads of a Dask worker at once."""
    with _HEADER_LOCK:
        return np.load(path, mmap_mode="r", allow_pickle=False)


def _npy_shape(path: str) -> tuple[int, ...]:
    return open_npy(path).shape


@dataclass(frozen=True)
class ParquetShard:
    """One Parquet file: ``id_column`` (optional), ``label_column``, and the probabilities as
    the K columns ``prob_columns`` or the fixed-size list column ``list_column``."""

    name: str
    path: str
    label_column: str = "label"
    id_column: str | None = "id"
    prob_columns: tuple[str, ...] | None = None
    list_column: str | None = None

    def n_rows(self) -> int:
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.path).metadata.num_rows

    def n_classes(self) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.prob_columns is not None:
            return len(self.prob_columns)
        field = pq.read_schema(self.path).field(self.list_column)
        if not pa.types.is_fixed_size_list(field.type):
            return -1
        return field.type.list_size

    def read(self) -> ShardData:
        import pyarrow.parquet as pq

        cols = [self.label_column]
        if self.id_column is not None:
            cols.append(self.id_column)
        cols += list(self.prob_columns) if self.prob_columns else [self.list_column]
        try:
            table = pq.read_table(self.path, columns=cols)
        except (KeyError, ValueError) as err:  # a missing column
            raise ValueError(f"shard {self.name!r}: cannot read columns {cols}: {err}") from None
        labels = table.column(self.label_column).to_numpy()
        ids = table.column(self.id_column).to_numpy() if self.id_column is not None else None
        if self.prob_columns:
            probs = np.column_stack([table.column(c).to_numpy() for c in self.prob_columns])
        else:
            probs = _fixed_size_list(table.column(self.list_column), self.name, self.list_column)
        return ShardData(ids, labels, probs)


def _fixed_size_list(column, name: str, col: str) -> np.ndarray:
    """(n, K) view of a fixed-size list column (one flat buffer, no per-row Python)."""
    import pyarrow as pa

    arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not pa.types.is_fixed_size_list(arr.type):
        raise ValueError(
            f"shard {name!r}: column {col!r} must be a fixed-size list of K probabilities, "
            f"found type {arr.type}."
        )
    if arr.null_count:
        row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"shard {name!r} row {row}: {col!r} is missing (null).")
    k = arr.type.list_size
    flat = arr.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(arr), k)


@dataclass(frozen=True)
class ZarrShard:
    """Rows ``start:stop`` of Zarr arrays (a store path and array names in it)."""

    name: str
    store: str
    start: int
    stop: int
    pred_probs: str = "pred_probs"
    labels: str = "labels"
    ids: str | None = None

    def n_rows(self) -> int:
        return self.stop - self.start

    def n_classes(self) -> int:
        import zarr

        shape = zarr.open_array(self.store, path=self.pred_probs, mode="r").shape
        return shape[1] if len(shape) == 2 else -1

    def read(self) -> ShardData:
        import zarr

        def part(path):
            return zarr.open_array(self.store, path=path, mode="r")[self.start : self.stop]

        ids = part(self.ids) if self.ids else None
        return ShardData(ids, part(self.labels), part(self.pred_probs))


@dataclass(frozen=True)
class SyntheticShard:
    """A seeded synthetic shard generated where it is read (no disk): ``n`` samples of K classes
    with a true class drawn uniformly, a given label flipped to a uniform other class with
    probability ``noise``, and probabilities peaked (by a random amount, so no two rows are
    alike) on the true class with ``accuracy`` chance (else on a random class), over a
    background row drawn from a pool of random rows. Same ``seed`` and ``index``, same shard."""

    name: str
    n: int
    k: int
    seed: int
    index: int
    noise: float = 0.1
    accuracy: float = 0.9

    def n_rows(self) -> int:
        return self.n

    def n_classes(self) -> int:
        return self.k

    def read(self) -> ShardData:
        return ShardData(None, *self.generate()[:2])

    def generate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(given labels (n,), pred_probs (n, K) float32, true labels (n,))``."""
        rng = np.random.default_rng([self.seed, self.index])
        n, k = self.n, self.k
        true = rng.integers(0, k, n)
        flip = rng.random(n) < self.noise
        given = np.where(flip, (true + rng.integers(1, k, n)) % k, true)
        peak = np.where(rng.random(n) < self.accuracy, true, rng.integers(0, k, n))
        # Background rows from a pool of 1,024 random rows (a long tail of small values):
        # drawing N × K fresh numbers would cost most of the time of an audit.
        pool = rng.random((1024, k), dtype=np.float32)
        pool *= pool
        pool *= pool
        probs = np.take(pool, rng.integers(0, len(pool), n), axis=0)
        rows = np.arange(n)
        probs[rows, peak] += rng.uniform(0.5, 4.0, n).astype(np.float32) * k / 5
        probs /= probs.sum(axis=1, keepdims=True)
        return given.astype(np.int64), probs, true.astype(np.int64)


# --- checks --------------------------------------------------------------------------------------
def _where(name: str, row: int, ids) -> str:
    shown = f" (id {ids[row]!r})" if ids is not None else ""
    return f"shard {name!r} row {row}{shown}"


def check_shard(data: ShardData, name: str, n_classes: int, *, rows: bool = True) -> ShardData:
    """Check one shard; return labels as int64 and ``pred_probs`` as float32/float64 arrays.

    Raises ``ValueError`` naming the shard, the row (and its id) and what was wrong. With
    ``rows=False`` the values of ``pred_probs`` are left to the caller
    (:func:`check_prob_block` on each block it reads anyway).
    """
    labels = np.asarray(data.labels)
    probs = np.asarray(data.pred_probs)
    ids = None if data.ids is None else np.asarray(data.ids)
    n = len(labels)
    if labels.ndim != 1:
        raise ValueError(f"shard {name!r}: labels must be 1-D, found shape {labels.shape}.")
    if probs.ndim != 2 or probs.shape != (n, n_classes):
        raise ValueError(
            f"shard {name!r}: pred_probs must have shape ({n}, {n_classes}) (one row per label, "
            f"K={n_classes} columns), found {probs.shape}."
        )
    if ids is not None and ids.shape != (n,):
        raise ValueError(f"shard {name!r}: ids must have shape ({n},), found {ids.shape}.")
    if labels.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
        if bad.size:
            raise ValueError(
                f"{_where(name, int(bad[0]), ids)}: label must be an integer class in "
                f"0..{n_classes - 1}, found {labels[bad[0]].item()!r} ({bad.size} such rows)."
            )
    elif labels.dtype.kind not in "iu":
        raise ValueError(
            f"shard {name!r}: labels must be integer classes 0..{n_classes - 1}, found dtype "
            f"{labels.dtype}."
        )
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise ValueError(
            f"{_where(name, int(bad[0]), ids)}: label {labels[bad[0]].item()!r} is outside "
            f"0..{n_classes - 1} ({bad.size} such rows)."
        )
    labels = labels.astype(np.int64, copy=False)
    if probs.dtype.kind != "f":
        raise ValueError(f"shard {name!r}: pred_probs must be floats, found dtype {probs.dtype}.")
    if probs.dtype not in (np.float32, np.float64):
        probs = probs.astype(np.float32)
    probs = np.ascontiguousarray(probs)
    if rows:
        _check_prob_rows(probs, name, ids)
    return ShardData(ids, labels, probs)


def _check_prob_rows(probs: np.ndarray, name: str, ids) -> None:
    """Finite, in [0, 1], rows summing to 1 within :data:`PROB_ATOL`: block by block."""
    step = max(1, (4 << 20) // max(1, probs.shape[1] * probs.itemsize))
    for start in range(0, len(probs), step):
        check_prob_block(probs[start : start + step], start, name, ids)


def check_prob_block(x: np.ndarray, start: int, name: str, ids) -> None:
    """Check rows ``start..start+len(x)-1`` of a shard's ``pred_probs`` (finite, >= 0, summing to
    1 within :data:`PROB_ATOL`); raise a ``ValueError`` naming the shard and the first bad row.

    Row sums in the input dtype, as one matrix-vector product (BLAS: about 20x numpy's
    row-by-row ``sum(axis=1)`` at K = 100; summed in any order, K <= 10^4 float32 entries
    totalling 1 are off by at most K * 2^-24 < 6e-4, inside the tolerance; numpy's pairwise sum
    above that); the sign by one minimum of the block.
    """
    x = np.asarray(x)
    if x.shape[1] <= 10_000 and x.dtype in (np.float32, np.float64):
        sums = x @ np.ones(x.shape[1], x.dtype)
    else:
        sums = x.sum(axis=1)
    bad = ~np.isfinite(sums) | (np.abs(sums - 1) > PROB_ATOL)
    if x.size and not x.min() >= 0:  # also true for a NaN (caught by its sum too)
        bad |= x.min(axis=1) < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = x[i]
        if not np.isfinite(row).all():
            what = "is not finite (NaN or inf)"
        elif row.min() < 0 or row.max() > 1 + PROB_ATOL:
            what = f"has values outside [0, 1] ({row.min():.4g} to {row.max():.4g})"
        else:
            what = f"sums to {float(sums[i]):.6g}, expected 1 within {PROB_ATOL}"
        raise ValueError(
            f"{_where(name, start + i, ids)}: pred_probs {what} "
            f"({int(bad.sum())} bad rows in this block)."
        )


def load_shard(
    source, name: str, n_classes: int, *, check: bool = True, check_rows: bool = True
) -> ShardData:
    """Read a source (or take in-memory block arrays) and, with ``check``, validate it
    (``check_rows=False``: all but the values of ``pred_probs``, see :func:`check_shard`)."""
    if isinstance(source, ShardData):
        data = source
    elif isinstance(source, tuple):  # (ids, labels, pred_probs) blocks of dask collections
        data = ShardData(*source)
    else:
        data = source.read()
    if check:
        return check_shard(data, name, n_classes, rows=check_rows)
    labels = np.asarray(data.labels).astype(np.int64, copy=False)
    probs = np.asarray(data.pred_probs)
    if probs.dtype not in (np.float32, np.float64):
        probs = probs.astype(np.float32)
    return ShardData(data.ids, labels, np.ascontiguousarray(probs))


# --- folders -------------------------------------------------------------------------------------
def npy_sources(folder) -> list[NpyShard]:
    """The shards of a folder of ``pred_probs-<part>.npy`` / ``labels-<part>.npy`` (and
    optionally ``ids-<part>.npy``) files, in the sorted order of ``<part>``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"path must be a folder of .npy shards, found {str(folder)!r}.")
    probs = sorted(glob.glob(os.path.join(glob.escape(str(folder)), "pred_probs-*.npy")))
    if not probs:
        raise ValueError(
            f"{str(folder)!r} holds no pred_probs-<part>.npy files (with labels-<part>.npy "
            "beside each; write them with workbench.sharded.write_npy_shards)."
        )
    out = []
    for p in probs:
        part = os.path.basename(p)[len("pred_probs-") : -len(".npy")]
        labels = folder / f"labels-{part}.npy"
        if not labels.exists():
            raise ValueError(f"shard {part!r}: {str(labels)!r} is missing (labels of {p!r}).")
        ids = folder / f"ids-{part}.npy"
        traj = tuple((kind, str(folder / f"trajectory_{kind}-{part}.npy"))
                     for kind in TRAJECTORY_KINDS
                     if (folder / f"trajectory_{kind}-{part}.npy").exists())  # fmt: skip
        out.append(NpyShard(part, p, str(labels), str(ids) if ids.exists() else None,
                            trajectories=traj))  # fmt: skip
    return out


def npy_file_sources(labels, pred_probs, *, rows_per_shard: int, ids=None) -> list[NpyShard]:
    """Row ranges of ``rows_per_shard`` rows of one ``labels`` (N,) and one ``pred_probs``
    (N, K) ``.npy`` file (memory-mapped: each task reads only its rows)."""
    if isinstance(rows_per_shard, bool) or not isinstance(rows_per_shard, (int, np.integer)):
        raise TypeError(f"rows_per_shard must be an int, found {rows_per_shard!r}.")
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be >= 1, found {rows_per_shard}.")
    n = _npy_shape(str(labels))[0]
    if _npy_shape(str(pred_probs))[0] != n:
        raise ValueError(
            f"{str(pred_probs)!r} has {_npy_shape(str(pred_probs))[0]} rows but {str(labels)!r} "
            f"has {n}."
        )
    return [
        NpyShard(f"rows {a}-{min(n, a + rows_per_shard) - 1}", str(pred_probs), str(labels),
                 str(ids) if ids is not None else None, a, min(n, a + rows_per_shard))
        for a in range(0, n, rows_per_shard)
    ]  # fmt: skip


def parquet_sources(
    folder,
    *,
    label_column: str = "label",
    id_column: str | None = "id",
    prob_columns: Sequence[str] | None = None,
    list_column: str | None = None,
) -> list[ParquetShard]:
    """The shards of a folder of ``*.parquet`` files (sorted by name). Without ``prob_columns``
    or ``list_column``: the list column ``pred_probs`` when there is one, else the columns
    named ``p0, p1, ...`` / ``prob_0, ...`` found in the first file's schema."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"path must be a folder of Parquet shards, found {str(folder)!r}.")
    paths = sorted(str(p) for p in folder.glob("*.parquet"))
    if not paths:
        raise ValueError(f"{str(folder)!r} holds no .parquet files.")
    schema = pq.read_schema(paths[0])
    names = list(schema.names)
    if prob_columns is None and list_column is None:
        if "pred_probs" in names:
            list_column = "pred_probs"
        else:
            for prefix in ("p", "prob_", "pred_probs_"):
                cols = [c for c in names if c.startswith(prefix) and c[len(prefix) :].isdigit()]
                if cols:
                    prob_columns = sorted(cols, key=lambda c: int(c[len(prefix) :]))
                    break
        if prob_columns is None and list_column is None:
            raise ValueError(
                f"{paths[0]!r}: no probabilities found; give list_column= (a fixed-size list "
                f"column) or prob_columns= (K columns). Columns: {names}."
            )
    for col in [label_column] + ([id_column] if id_column else []):
        if col not in names:
            if col == id_column and id_column == "id":
                id_column = None  # the default id column is optional
                continue
            raise ValueError(f"{paths[0]!r}: no column {col!r}; columns: {names}.")
    cols = tuple(prob_columns) if prob_columns is not None else None
    return [
        ParquetShard(Path(p).stem, p, label_column, id_column, cols, list_column) for p in paths
    ]


def zarr_sources(
    store, *, rows_per_shard: int, pred_probs="pred_probs", labels="labels", ids=None
) -> list[ZarrShard]:
    """Row ranges of ``rows_per_shard`` rows of the Zarr arrays in ``store``."""
    import zarr

    n = zarr.open_array(str(store), path=labels, mode="r").shape[0]
    if isinstance(rows_per_shard, bool) or not isinstance(rows_per_shard, (int, np.integer)):
        raise TypeError(f"rows_per_shard must be an int, found {rows_per_shard!r}.")
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be >= 1, found {rows_per_shard}.")
    return [
        ZarrShard(f"rows {a}-{min(n, a + rows_per_shard) - 1}", str(store), a,
                  min(n, a + rows_per_shard), pred_probs, labels, ids)
        for a in range(0, n, rows_per_shard)
    ]  # fmt: skip


def write_npy_shards(folder, labels, pred_probs, *, ids=None, trajectories=None,
                     n_shards: int = 8) -> list[str]:  # fmt: skip
    """Write ``labels`` (N,) and ``pred_probs`` (N, K) as ``n_shards`` row ranges of ``.npy``
    files in ``folder`` (created), readable with :meth:`ShardedDataset.from_npy`;
    ``trajectories`` (optional): {kind: (N, E)} with kinds of :data:`TRAJECTORY_KINDS`.
    Returns the part names."""
    from workbench.core.atomic import atomic_file

    labels, pred_probs = np.asarray(labels), np.asarray(pred_probs)
    n = len(labels)
    if pred_probs.ndim != 2 or len(pred_probs) != n:
        raise ValueError(
            f"pred_probs must have shape ({n}, K), one row per label, found {pred_probs.shape}."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, n, n_shards + 1).astype(int)
    parts = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        part = f"{i:05d}"
        arrays = {"labels": labels[a:b], "pred_probs": pred_probs[a:b]}
        if ids is not None:
            arrays["ids"] = np.asarray(ids)[a:b]
        for kind, arr in (trajectories or {}).items():
            if kind not in TRAJECTORY_KINDS:
                raise ValueError(f"trajectory kinds are {list(TRAJECTORY_KINDS)}, found {kind!r}.")
            arrays[f"trajectory_{kind}"] = np.asarray(arr)[a:b]
        for key, arr in arrays.items():
            with atomic_file(folder / f"{key}-{part}.npy") as f:
                np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
        parts.append(part)
    return parts
