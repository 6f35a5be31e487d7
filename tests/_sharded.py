"""What the sharded test modules share: a LocalCluster client (two workers of one thread, in
this process) for their module-wide ``client`` fixture, and a synthetic sharded dataset's
arrays."""

from __future__ import annotations

import numpy as np


def in_process_client():
    """Body of a module's ``client`` fixture:
    ``client = pytest.fixture(scope="module", name="client")(in_process_client)``."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
        as cluster,
        Client(cluster) as c,
    ):  # fmt: skip
        yield c


def synthetic_arrays(ds):
    """(labels (N,), pred_probs (N, K)) of a ``ShardedDataset.synthetic`` dataset."""
    parts = [s.generate() for s in ds.inputs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
