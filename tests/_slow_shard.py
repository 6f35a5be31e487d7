"""A shard source for tests/test_sharded.py, uploaded to the Dask workers: its first read
anywhere records the reading process id in ``marker`` and pauses, so a test can kill that
worker while the task runs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SlowShard:
    inner: object  # a workbench.sharded.sources source
    marker: str
    pause: float = 1.0

    @property
    def name(self):
        return self.inner.name

    def n_rows(self):
        return self.inner.n_rows()

    def n_classes(self):
        return self.inner.n_classes()

    def read(self):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self.inner.read()
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(self.pause)
        return self.inner.read()
