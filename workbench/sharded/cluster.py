"""Where a sharded audit runs: a Dask client given by the user, a scheduler address, or a
``LocalCluster`` started for the audit and closed after; progress while it runs.

We write no scheduler of our own: Dask places the tasks, moves the data, and retries a task
whose worker died. Any cluster Dask can deploy works the same way (``dask-kubernetes``'s
``KubeCluster``, ``distributed.SSHCluster``, ``dask-jobqueue``'s ``SLURMCluster`` ...): start
it, pass its ``Client`` (or its scheduler address) to the audit.
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["DEFAULT_MEMORY_LIMIT", "WORKER_MALLOC", "cluster_client", "in_notebook",
           "local_cluster", "wait_for"]  # fmt: skip

#: Memory limit of each worker of a LocalCluster started by the audit.
DEFAULT_MEMORY_LIMIT = "1GiB"

#: glibc settings of the worker processes of :func:`local_cluster`: keep the memory a worker
#: freed for its next task instead of returning it to the system. Dask starts its workers with
#: ``MALLOC_TRIM_THRESHOLD_`` = 64 KiB, which also fixes glibc's mmap threshold at 128 KiB:
#: every numpy temporary above that was a fresh mmap, and every free above 64 KiB went back to
#: the system. Memory new to a process costs a page fault per page, and on a virtual machine
#: (where freed memory goes back to the host) each fault costs tens of microseconds: a
#: 10^7 x 100 audit spent a third of its worker time in the kernel (2.3 of 7.5 s CPU per
#: worker; 73 s in all with Dask's settings, 12-28 s with a 512 KiB mmap threshold on the busy
#: machine). With every array up to 32 MiB (glibc's largest mmap threshold; a 250,000-row
#: shard's per-row arrays are 1-2 MB) from the heap and up to 64 MiB of free heap kept, the
#: kernel time fell to 0.75 s per worker and the audit to 15 s, same load; the largest worker
#: grew from about 585 to 616 MB resident (a shard's arrays are freed and reused, not kept). A
#: worker above 60% of its memory limit gives its freed memory back after each per-shard task
#: (``workbench.sharded._tasks.release_if_high``), so a worker holding many shards' state stays
#: below Dask's pause threshold.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": 32 << 20, "MALLOC_TRIM_THRESHOLD_": 64 << 20}


def local_cluster(n_workers: int | None = None, *, memory_limit=DEFAULT_MEMORY_LIMIT,
                  processes: bool = True, **kwargs):  # fmt: skip
    """A ``distributed.LocalCluster`` for sharded audits: ``n_workers`` workers (default one per
    core) of one thread and ``memory_limit`` each, the dashboard on a free port, and the worker
    processes started with :data:`WORKER_MALLOC` (also on restarts). ``kwargs`` go to
    ``LocalCluster``."""
    import dask
    from distributed import LocalCluster

    if n_workers is None:
        try:
            n_workers = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            n_workers = os.cpu_count() or 1
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    env.update({key: str(value) for key, value in WORKER_MALLOC.items()})
    options = {"threads_per_worker": 1, "dashboard_address": ":0"} | kwargs
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        return LocalCluster(n_workers=n_workers, memory_limit=memory_limit, processes=processes,
                            **options)  # fmt: skip


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Dask's widget progress bar), False in a terminal (tqdm)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


@contextlib.contextmanager
def cluster_client(client=None, *, scheduler: str | None = None, n_workers: int | None = None,
                   memory_limit=DEFAULT_MEMORY_LIMIT, processes: bool = True,
                   verbose: bool = True):  # fmt: skip
    """Yield a ``distributed.Client``: ``client`` itself, one connected to ``scheduler``
    (``tcp://host:8786``), or one on a new ``LocalCluster`` (``n_workers`` workers, default one
    per core, one thread each, ``memory_limit`` each) that is closed when the block ends.
    With ``verbose`` the dashboard link is printed."""
    from distributed import Client

    if client is not None and scheduler is not None:
        raise ValueError("give client= or scheduler=, not both.")
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a distributed.Client, found {type(client).__name__}.")
        _say(verbose, client)
        yield client
        return
    if scheduler is not None:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise ValueError(
                f"scheduler must be an address such as 'tcp://10.0.0.5:8786', found {scheduler!r}."
            )
        with Client(scheduler) as own:
            _say(verbose, own)
            yield own
        return
    with (
        local_cluster(n_workers, memory_limit=memory_limit, processes=processes) as cluster,
        Client(cluster) as own,
    ):
        _say(verbose, own)
        yield own


def _say(verbose: bool, client) -> None:
    if not verbose:
        return
    link = getattr(client, "dashboard_link", None)
    n = len(client.scheduler_info().get("workers", {}))
    print(f"Dask: {n} workers; dashboard: {link}", file=sys.stderr if not in_notebook() else None)


def wait_for(futures, *, progress, desc: str):
    """Wait for ``futures``; show Dask's progress bar in a notebook, tqdm in a terminal, or
    nothing (``progress`` False). Raises the first task error as Dask re-raises it."""
    from distributed import as_completed, wait

    futures = list(futures)
    if not futures:
        return futures
    if progress and in_notebook():
        from distributed import progress as dask_progress

        dask_progress(futures, notebook=True, multi=False)
        wait(futures)
    elif progress:
        from tqdm.auto import tqdm

        with tqdm(total=len(futures), desc=desc, unit="task", file=sys.stderr) as bar:
            for fut in as_completed(futures):
                bar.update(1)
                if fut.status == "error":
                    fut.result()
    else:
        wait(futures)
    for fut in futures:
        if fut.status == "error":
            fut.result()  # re-raise the task's own exception (e.g. a bad shard's ValueError)
    return futures
