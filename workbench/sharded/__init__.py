"""Sharded audits on Dask: the workbench's pred_probs engine over data that outgrows one machine.

N samples in S shards, K classes. Build a :class:`ShardedDataset` (a folder of Parquet or
``.npy`` shards, Zarr arrays, or your dask arrays / dataframes), then ``wb.audit(sharded,
client=...)`` (or :func:`audit_sharded`) runs confident learning shard by shard on a Dask
cluster: a ``LocalCluster`` started on demand, a ``distributed.Client`` you pass, or a scheduler
address. Masks equal the in-memory engine's for every ``filter_by``; per-sample scores (higher =
more likely mislabeled), flags and suggested labels are written as Parquet parts keyed by id.

Names load lazily: a Dask worker that unpickles a task of :mod:`workbench.sharded._tasks`
imports numpy and :mod:`workbench.core` only (no torch), which keeps its memory for the data.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "FILTER_BYS": "workbench.sharded.engine",
    "ShardedAuditResult": "workbench.sharded.engine",
    "audit_sharded": "workbench.sharded.engine",
    "find_label_issues_sharded": "workbench.sharded.engine",
    "ShardedDataset": "workbench.sharded.dataset",
    "cluster_client": "workbench.sharded.cluster",
    "local_cluster": "workbench.sharded.cluster",
    "write_npy_shards": "workbench.sharded.sources",
    "bounded_view": "workbench.sharded.views",
    "apply_decisions": "workbench.sharded.views",
    "with_arrays": "workbench.sharded.extras",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'workbench.sharded' has no attribute {name!r}")


def __dir__():
    return __all__


def is_sharded(obj) -> bool:
    """True for a :class:`ShardedDataset` (without importing the engine)."""
    from workbench.sharded.dataset import ShardedDataset

    return isinstance(obj, ShardedDataset)
