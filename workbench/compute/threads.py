"""CPU thread pools while the workbench computes: one BLAS thread, and one torch thread for
small work.

A process that imports the workbench holds several thread pools: OpenMP threads of torch (its
matrix products and convolutions), and one pthreads pool per copy of OpenBLAS (numpy and scipy
each ship their own), each as large as the machine has cores. Their idle threads spin for a
while after every call before they sleep. On a machine with few cores that other processes
share (a Binder instance, a laptop running a browser), a parallel call then waits for a
thread the scheduler has not given a core, and a computation made of many small calls spends
most of its time waiting. Measured on a shared 2-core machine (fresh processes, no thread
variables set): the digits demo's ``audit`` took 5-19 s at load 3.5-6 instead of 1.4-3.3 s
with ``OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE``, most of it in HOC's L-BFGS fit (numpy
products of K×K matrices, hundreds of calls), SimiFeat's 22 kNN graphs and ReCoV. With one
more busy process on the two cores, it takes 1.6-2.9 s in this context (CPU 1.4-2.0 s), as with
the two variables (1.6-3.0 s), against 3.1-4.1 s, once 13 s, without it (CPU 3.8-10.5 s). With
no process competing, the context costs 0.15-0.4 s of 0.9-1.9 s and halves the CPU time.

:func:`limit_threads` is the context of the probes' training, HOC's fit, ReCoV's repeats, the
kNN graph and the relation graph's sums:

- numpy's and scipy's BLAS run on one thread. The workbench's heavy work is torch; what it asks
  of BLAS are small products (HOC's fit, moments, matrices of counts) where threads save
  microseconds and, on shared cores, lose milliseconds per call. One thread also makes those
  sums independent of the machine's core count.
- torch runs on one thread when a step is small (below :data:`SINGLE_THREAD_WORK`
  multiply-adds): splitting it costs more in synchronisation than it gains; and when the whole
  computation is (below :data:`SINGLE_THREAD_TOTAL`, a fraction of a second on one thread): a
  second thread saves at most half of that, and on shared cores loses seconds. The choice
  depends on the problem size only, so results stay reproducible. Larger work keeps torch's
  setting.

Both are restored on exit. The pools are process-wide: computations running in several threads
of one process at once (threaded Dask workers) share one setting, and the first to finish
restores it for the others; results do not change, only speed. What the context cannot change
is how OpenMP threads wait (``OMP_WAIT_POLICY``, read once when torch loads): on a crowded
machine, set ``OMP_WAIT_POLICY=PASSIVE`` before starting Python, or
``torch.set_num_threads(1)``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import ThreadpoolController

__all__ = ["SINGLE_THREAD_TOTAL", "SINGLE_THREAD_WORK", "limit_threads"]

#: Multiply-adds per step (a training step's forward pass) below which torch computes on one
#: CPU thread (the small problems of tests and demos). Larger steps use torch's thread setting:
#: on a quiet 2-core machine two threads train the linear probe at D=256, K=10, batch 1024
#: (13M) ~17% faster and the digits CNN (16M) ~35% faster, but on cores shared with other busy
#: processes they can be several times slower: call ``torch.set_num_threads(1)`` there.
SINGLE_THREAD_WORK = 4_000_000

#: Multiply-adds of a whole computation below which torch computes on one CPU thread: the kNN
#: graph of the digits demo (1797 × 1797 × 64, 0.2G) takes 0.02 s on one thread and 0.013 s on
#: two of a quiet 2-core machine, but SimiFeat's 22 of them took 2.5-9 s instead of 0.6 s on two
#: threads while other processes kept the cores busy.
SINGLE_THREAD_TOTAL = 1_000_000_000

# A scan of the loaded libraries costs milliseconds, the limit itself microseconds: scan again
# only after an import (a BLAS library loads with the extension module that links it).
_controller: ThreadpoolController | None = None
_scanned_at = -1


def _blas() -> ThreadpoolController:
    global _controller, _scanned_at
    if _controller is None or _scanned_at != len(sys.modules):
        _controller = ThreadpoolController().select(user_api="blas")
        _scanned_at = len(sys.modules)
    return _controller


@contextmanager
def limit_threads(
    work: float | None = None,
    device: torch.device | str | None = None,
    *,
    total: float | None = None,
) -> Iterator[None]:
    """Run the block with numpy's and scipy's BLAS on one thread, and torch on one thread when
    its work is small; restore both on exit (see the module notes for why).

    Parameters
    ----------
    work : float, optional
        Multiply-adds of one step of the block's torch computation (a training step's forward
        pass). Below :data:`SINGLE_THREAD_WORK` torch uses one thread.
    device : str or torch.device, optional
        Where the torch computation runs; None means the CPU. Elsewhere torch's CPU threads
        are left alone.
    total : float, optional
        Multiply-adds of the whole block. Below :data:`SINGLE_THREAD_TOTAL` torch uses one
        thread. With neither ``work`` nor ``total`` torch keeps its threads (only BLAS is
        limited).
    """
    on_cpu = device is None or torch.device(device).type == "cpu"
    small = (work is not None and work < SINGLE_THREAD_WORK) or (
        total is not None and total < SINGLE_THREAD_TOTAL
    )
    single = on_cpu and small
    saved = torch.get_num_threads()
    with _blas().limit(limits=1):
        if single and saved > 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if single and saved > 1:
                torch.set_num_threads(saved)
