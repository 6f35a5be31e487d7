"""Sharded audits on Dask: the workbench's pred_probs engine over data that outgrows one machine.

N samples in S shards, K classes. Build a :class:`ShardedDataset` (a folder of Parquet or
``.npy`` shards, Zarr arrays, or your dask arrays / dataframes), then ``wb.audit(sharded,
client=...)`` (or :func:`audit_sharded`) runs confident learning shard by shard on a Dask
cluster: a ``LocalCluster`` started on demand, a ``distributed.Client`` you pass, or a scheduler
address. Masks equal the in-memory engine's for every ``filter_by``; per-sample scores (higher =
more likely mislabeled), flags and suggested labels are written as Parquet parts keyed by id.
"""

from workbench.sharded.cluster import cluster_client
from workbench.sharded.dataset import ShardedDataset
from workbench.sharded.engine import (
    FILTER_BYS,
    ShardedAuditResult,
    audit_sharded,
    find_label_issues_sharded,
)
from workbench.sharded.sources import write_npy_shards

__all__ = [
    "FILTER_BYS",
    "ShardedAuditResult",
    "ShardedDataset",
    "audit_sharded",
    "cluster_client",
    "find_label_issues_sharded",
    "write_npy_shards",
]
