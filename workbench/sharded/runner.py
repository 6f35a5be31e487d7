"""The driver every group of sharded detectors on an extra input shares
(:mod:`workbench.sharded.annotators`, :mod:`workbench.sharded.knn`): checks, a cluster when
none is given, the labels per shard, the group's run, the results collected on the client."""

from __future__ import annotations

from workbench.sharded.cluster import cluster_client
from workbench.sharded.dataset import ShardedDataset
from workbench.sharded.extras import extra_inputs
from workbench.sharded.reductions import shard_labels, submit

__all__ = ["run_detector_group"]


def run_detector_group(dataset, kind: str, run, *, client, collect: bool, verbose: bool,
                       how_to_add: str, **options) -> dict:  # fmt: skip
    """The driver every group of sharded detectors on an extra input (``kind``:
    ``"annotators"``, ``"features"``) shares: check ``dataset``, find the input on every shard
    (else a ``ValueError`` saying ``how_to_add`` it), start a cluster unless ``client`` is
    given, read each shard's labels there, ``run(client, dataset, inputs, labels, **options)``
    (the group's ``run_*_detectors``), then collect each result's (N,) arrays on the client
    when ``collect``. Returns {name: :class:`ShardedDetectorResult`}, ``columns`` dropped."""
    if not isinstance(dataset, ShardedDataset):
        raise TypeError(
            f"dataset must be a workbench.sharded.ShardedDataset, found {type(dataset).__name__}."
        )
    inputs = extra_inputs(dataset, kind)
    if inputs is None:
        raise ValueError(f"the shards carry no {kind}: add them {how_to_add}.")
    with cluster_client(client, verbose=verbose) as c:
        labels = [submit(c, shard_labels, src, name, dataset.n_classes)
                  for src, name in zip(dataset.inputs, dataset.names, strict=True)]  # fmt: skip
        out = run(c, dataset, inputs, labels, **options)
        for res in out.values():
            if collect:
                res.collect(c)
            res.columns = []
    return out
