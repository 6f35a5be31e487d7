"""A dataset split into shards that are read where Dask runs the work: :class:`ShardedDataset`.

N samples in S shards (row ranges, in order), K classes. Building one reads only metadata
(file headers, Parquet footers, array shapes); every shard is read and checked inside the task
that works on it (:mod:`workbench.sharded.sources`). ``pred_probs`` must be out-of-sample
(cross-validated), as everywhere in the workbench.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workbench.sharded import sources as _src

__all__ = ["ShardedDataset"]


class ShardedDataset:
    """Labels and out-of-sample ``pred_probs`` in S shards, read lazily by Dask tasks.

    Build it with one of the constructors: :meth:`from_npy`, :meth:`from_npy_files`, :meth:`from_parquet`,
    :meth:`from_zarr`, :meth:`from_dask`, :meth:`from_dask_dataframe`, :meth:`synthetic`.
    ``wb.audit(sharded, client=...)`` audits it on a Dask cluster.

    Attributes
    ----------
    names : list of str, shape (S,)
        Shard names, used in every error message.
    lengths : ndarray of shape (S,), int64
        Rows per shard; ``offsets`` (S + 1,) their cumulative sums (global positions).
    n_classes : int
        K.
    class_names : list of str or None
    """

    def __init__(self, inputs: Sequence, names: Sequence[str], lengths, n_classes: int,
                 *, class_names: Sequence[str] | None = None):  # fmt: skip
        lengths = np.asarray(lengths, dtype=np.int64)
        if not len(inputs):
            raise ValueError("a sharded dataset needs at least one shard, found none.")
        if len(inputs) != len(names) or len(lengths) != len(inputs):
            raise ValueError(
                f"inputs, names and lengths must have one entry per shard, found "
                f"{len(inputs)}, {len(names)} and {len(lengths)}."
            )
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
            raise TypeError(f"n_classes must be an int, found {n_classes!r}.")
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, found {n_classes}.")
        if class_names is not None and len(class_names) != n_classes:
            raise ValueError(
                f"class_names must hold K={n_classes} names, found {len(class_names)}."
            )
        self.inputs = list(inputs)
        self.names = [str(n) for n in names]
        self.lengths = lengths
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.n_classes = int(n_classes)
        self.class_names = list(class_names) if class_names is not None else None

    # --- sizes ---------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_shards(self) -> int:
        return len(self.inputs)

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (
            f"ShardedDataset(n_samples={self.n_samples:,}, n_classes={self.n_classes}, "
            f"n_shards={self.n_shards})"
        )

    # --- constructors --------------------------------------------------------------------------
    @classmethod
    def _from_sources(cls, sources, n_classes, class_names) -> ShardedDataset:
        if n_classes is None:
            n_classes = sources[0].n_classes()
            if n_classes < 2:
                raise ValueError(
                    f"shard {sources[0].name!r}: pred_probs must be (n, K) with K >= 2 "
                    "probability columns; give n_classes= when it cannot be read from the files."
                )
        lengths = [s.n_rows() for s in sources]
        return cls(sources, [s.name for s in sources], lengths, n_classes, class_names=class_names)

    @classmethod
    def from_npy(cls, folder, *, n_classes=None, class_names=None) -> ShardedDataset:
        """A folder of ``pred_probs-<part>.npy`` (n, K) and ``labels-<part>.npy`` (n,) files,
        ``ids-<part>.npy`` optional; shards in the sorted order of ``<part>``
        (:func:`workbench.sharded.write_npy_shards` writes them)."""
        return cls._from_sources(_src.npy_sources(folder), n_classes, class_names)

    @classmethod
    def from_folder(cls, folder, *, label_column="label", id_column="id", prob_columns=None,
                    class_names=None) -> ShardedDataset:  # fmt: skip
        """A folder of ``.npy`` shards (:meth:`from_npy`) or of Parquet files
        (:meth:`from_parquet`), whichever it holds."""
        from pathlib import Path

        path = Path(folder)
        if not path.is_dir():
            raise ValueError(f"a sharded dataset needs a folder of shards, found {str(path)!r}.")
        if any(path.glob("pred_probs-*.npy")):
            return cls.from_npy(path, class_names=class_names)
        if any(path.glob("*.parquet")):
            return cls.from_parquet(path, label_column=label_column, id_column=id_column,
                                    prob_columns=prob_columns, class_names=class_names)  # fmt: skip
        raise ValueError(
            f"{str(path)!r} holds neither pred_probs-<part>.npy / labels-<part>.npy shards nor "
            ".parquet files."
        )

    @classmethod
    def from_npy_files(cls, labels, pred_probs, *, rows_per_shard: int, ids=None,
                       class_names=None) -> ShardedDataset:  # fmt: skip
        """One ``labels`` (N,) and one ``pred_probs`` (N, K) ``.npy`` file (``ids`` (N,)
        optional), memory-mapped and read in row ranges of ``rows_per_shard`` rows."""
        found = _src.npy_file_sources(labels, pred_probs, rows_per_shard=rows_per_shard, ids=ids)
        return cls._from_sources(found, None, class_names)

    @classmethod
    def from_parquet(
        cls, folder, *, label_column="label", id_column="id", prob_columns=None,
        list_column=None, n_classes=None, class_names=None,
    ) -> ShardedDataset:  # fmt: skip
        """A folder of Parquet files (one shard each, sorted by name) with an id column
        (optional), a label column, and the probabilities as K columns (``prob_columns``, or
        found as ``p0..``, ``prob_0..``) or one fixed-size list column (``list_column``,
        ``pred_probs`` by default when present)."""
        found = _src.parquet_sources(
            folder, label_column=label_column, id_column=id_column,
            prob_columns=prob_columns, list_column=list_column,
        )  # fmt: skip
        return cls._from_sources(found, n_classes, class_names)

    @classmethod
    def from_zarr(cls, store, *, rows_per_shard: int, pred_probs="pred_probs", labels="labels",
                  ids=None, n_classes=None, class_names=None) -> ShardedDataset:  # fmt: skip
        """Zarr arrays ``pred_probs`` (N, K), ``labels`` (N,), ``ids`` (N,) optional, in a store
        (path), read in shards of ``rows_per_shard`` rows (a multiple of the Zarr chunk rows
        reads each chunk once)."""
        found = _src.zarr_sources(
            store, rows_per_shard=rows_per_shard, pred_probs=pred_probs, labels=labels, ids=ids
        )
        return cls._from_sources(found, n_classes, class_names)

    @classmethod
    def synthetic(cls, n_samples: int, n_classes: int, *, n_shards: int = 8, noise: float = 0.1,
                  accuracy: float = 0.9, seed: int = 0) -> ShardedDataset:  # fmt: skip
        """A seeded synthetic dataset generated inside the tasks (nothing on disk, nothing on
        the client): see :class:`workbench.sharded.sources.SyntheticShard`."""
        for name, v in (("n_samples", n_samples), ("n_classes", n_classes), ("n_shards", n_shards)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, found {v!r}.")
        if not 0 <= noise < 1:
            raise ValueError(f"noise must lie in [0, 1), found {noise!r}.")
        if not 0 <= accuracy <= 1:
            raise ValueError(f"accuracy must lie in [0, 1], found {accuracy!r}.")
        bounds = np.linspace(0, n_samples, n_shards + 1).astype(np.int64)
        shards = [
            _src.SyntheticShard(f"synthetic-{i:05d}", int(b - a), int(n_classes), int(seed), i,
                                float(noise), float(accuracy))
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        ]  # fmt: skip
        return cls._from_sources(shards, int(n_classes), None)

    def write_npy(self, folder, *, client=None, progress: bool = False) -> ShardedDataset:
        """Write every shard once as ``.npy`` files in ``folder`` (``labels-<part>.npy`` int64,
        ``pred_probs-<part>.npy`` in its dtype, ``ids-<part>.npy`` when the shard has ids),
        each shard read (generated, for :meth:`synthetic`) and written by one task on a worker;
        nothing passes through the client. Returns the dataset of those files, memory-mapped by
        every later pass (an audit reads each shard several times: a synthetic or computed
        shard would be made again each time).

        ``client``: a ``distributed.Client`` (default: a ``LocalCluster`` for the call).
        ``folder`` must be reachable by every worker.
        """
        from pathlib import Path

        from workbench.sharded import _tasks
        from workbench.sharded.cluster import cluster_client, wait_for
        from workbench.sharded.reductions import submit

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"folder must be a folder, found the file {str(folder)!r}.")
        folder.mkdir(parents=True, exist_ok=True)
        with cluster_client(client, verbose=False) as c:
            futs = [
                submit(c, _tasks.write_npy_part, inp, name, self.n_classes, str(folder),
                       f"{s:05d}")
                for s, (inp, name) in enumerate(zip(self.inputs, self.names, strict=True))
            ]  # fmt: skip
            wait_for(futs, progress=progress, desc="write shards")
            c.gather(futs)
        return ShardedDataset.from_npy(folder, n_classes=self.n_classes,
                                       class_names=self.class_names)  # fmt: skip

    @classmethod
    def from_dask(cls, labels, pred_probs, *, ids=None, class_names=None) -> ShardedDataset:
        """Dask arrays ``labels`` (N,) and ``pred_probs`` (N, K) (``ids`` (N,) optional): one
        shard per row block of ``pred_probs``. Blocks are computed by Dask inside each pass;
        ``persist()`` them first when they are expensive to compute."""
        import dask
        import dask.array as da

        for name, arr, nd in (("labels", labels, 1), ("pred_probs", pred_probs, 2)):
            if not isinstance(arr, da.Array):
                raise TypeError(f"{name} must be a dask array, found {type(arr).__name__}.")
            if arr.ndim != nd:
                raise ValueError(f"{name} must be {nd}-D, found shape {arr.shape}.")
        if np.isnan(pred_probs.shape[0]) or np.isnan(labels.shape[0]):
            raise ValueError(
                "labels and pred_probs need known chunk sizes; call compute_chunk_sizes() first."
            )
        if labels.shape[0] != pred_probs.shape[0]:
            raise ValueError(
                f"labels has {labels.shape[0]} rows but pred_probs has {pred_probs.shape[0]}."
            )
        probs = pred_probs.rechunk({1: -1}) if len(pred_probs.chunks[1]) > 1 else pred_probs
        row_chunks = probs.chunks[0]
        labels = labels.rechunk((row_chunks,))
        blocks_p = probs.to_delayed()[:, 0]
        blocks_y = labels.to_delayed()
        if ids is not None:
            if not isinstance(ids, da.Array) or ids.shape != labels.shape:
                raise ValueError(f"ids must be a dask array of shape {labels.shape}.")
            blocks_i = ids.rechunk((row_chunks,)).to_delayed()
        else:
            blocks_i = [None] * len(blocks_y)
        inputs = [
            dask.delayed(tuple)([i, y, p])
            for i, y, p in zip(blocks_i, blocks_y, blocks_p, strict=True)
        ]
        names = [f"block {b}" for b in range(len(inputs))]
        return cls(inputs, names, row_chunks, int(probs.shape[1]), class_names=class_names)

    @classmethod
    def from_dask_dataframe(cls, frame, *, label_column="label", id_column=None,
                            prob_columns=None, list_column=None, class_names=None,
                            n_classes=None) -> ShardedDataset:  # fmt: skip
        """A dask DataFrame, one shard per partition: a label column, an optional id column,
        the probabilities as K columns or one list column (``n_classes`` then required)."""
        import dask
        import dask.dataframe as dd

        if not isinstance(frame, dd.DataFrame):
            raise TypeError(f"frame must be a dask DataFrame, found {type(frame).__name__}.")
        if (prob_columns is None) == (list_column is None):
            raise ValueError("give exactly one of prob_columns= (K columns) or list_column=.")
        missing = [c for c in [label_column, id_column, list_column, *(prob_columns or [])]
                   if c is not None and c not in frame.columns]  # fmt: skip
        if missing:
            raise ValueError(f"frame has no columns {missing}; columns: {list(frame.columns)}.")
        k = len(prob_columns) if prob_columns is not None else n_classes
        if k is None:
            raise ValueError("list_column= needs n_classes=.")
        lengths = frame.map_partitions(len).compute()
        cols = list(prob_columns) if prob_columns is not None else None
        inputs = [
            dask.delayed(_frame_block)(part, label_column, id_column, cols, list_column)
            for part in frame.to_delayed()
        ]
        names = [f"partition {i}" for i in range(len(inputs))]
        return cls(inputs, names, list(lengths), int(k), class_names=class_names)


def _frame_block(part, label_column, id_column, prob_columns, list_column):
    """(ids, labels, pred_probs) of one pandas partition."""
    ids = part[id_column].to_numpy() if id_column is not None else None
    labels = part[label_column].to_numpy()
    if prob_columns is not None:
        probs = part[prob_columns].to_numpy()
    else:
        probs = np.stack(part[list_column].to_numpy()) if len(part) else np.empty((0, 0))
    return ids, labels, probs
