"""CPU thread pools while the workbench computes: one BLAS thread, and one torch thread for
small work.

A process that imports the workbench holds several thread pools: OpenMP threads of torch (its
matrix products and convolutions), and one pthreads pool per copy of OpenBLAS (numpy and scipy
each ship their own), each as large as the machine has cores. Their idle threads spin for a
while after every call before they sleep. On a machine with few cores that other processes
share (a Binder instance, a laptop running a browser), a parallel call then waits for a
thread the scheduler has not given a core, and a computation made of many small calls spends
most of its time waiting. Measured on a shared 2-core machine (load 4-8, fresh processes, no
thread variables set): the digits demo's ``audit`` took 7-18 s instead of 1.4-3.3 s, most of it
in HOC's L-BFGS fit (numpy products of K×K matrices, hundreds of calls) and SimiFeat.

:func:`limit_threads` is the context every compute entry point runs in:

- numpy's and scipy's BLAS run on one thread. The workbench's heavy work is torch; what it asks
  of BLAS are small products (HOC's fit, moments, matrices of counts) where threads save
  microseconds and, on shared cores, lose milliseconds per call. One thread also makes those
  sums independent of the machine's core count.
- torch runs on one thread when a step is small (below :data:`SINGLE_THREAD_WORK`
  multiply-adds): splitting it costs more in synchronisation than it gains. The choice depends
  on the problem size only, so results stay reproducible. Larger steps keep torch's setting.

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

__all__ = ["SINGLE_THREAD_WORK", "limit_threads"]

#: Multiply-adds per step (a training step's forward pass) below which torch computes on one
#: CPU thread (the small problems of tests and demos). Larger steps use torch's thread setting:
#: on a quiet 2-core machine two threads train the linear probe at D=256, K=10, batch 1024
#: (13M) ~17% faster and the digits CNN (16M) ~35% faster, but on cores shared with other busy
#: processes they can be several times slower: call ``torch.set_num_threads(1)`` there.
SINGLE_THREAD_WORK = 4_000_000

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
    work: float | None = None, device: torch.device | str | None = None
) -> Iterator[None]:
    """Run the block with numpy's and scipy's BLAS on one thread, and torch on one thread when
    ``work`` is small; restore both on exit (see the module notes for why).

    Parameters
    ----------
    work : float, optional
        Multiply-adds of one step of the block's torch computation. Below
        :data:`SINGLE_THREAD_WORK`, and when ``device`` is the CPU, torch uses one thread.
        None: torch keeps its threads (only BLAS is limited).
    device : str or torch.device, optional
        Where the torch computation runs; None means the CPU.
    """
    on_cpu = device is None or torch.device(device).type == "cpu"
    single = work is not None and on_cpu and work < SINGLE_THREAD_WORK
    saved = torch.get_num_threads()
    with _blas().limit(limits=1):
        if single and saved > 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if single and saved > 1:
                torch.set_num_threads(saved)
