"""On-disk cache of computed arrays: content-hash keys, ``.npz`` files written atomically.

A key is a hash of the input arrays (dtype, shape and bytes) and of the parameters, so the
same inputs and parameters find the same file and anything different misses. Files are plain
``.npz`` read with ``allow_pickle=False``; each is written to a temporary file in the same
folder and moved into place with ``os.replace``, so an interrupted write never leaves a
half-written cache entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from workbench.core.atomic import atomic_file

__all__ = ["digest", "load_arrays", "save_arrays"]

_BLOCK = 1 << 24  # hash big arrays 16 MiB at a time (no full copy of non-contiguous input)


def digest(*arrays: np.ndarray, **params) -> str:
    """Hex digest of arrays (dtype, shape, values) and JSON-serialisable parameters."""
    h = hashlib.blake2b(digest_size=20)
    for arr in arrays:
        arr = np.asarray(arr)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        flat = arr.reshape(-1)
        step = max(1, _BLOCK // max(arr.itemsize, 1))
        for start in range(0, flat.size, step):
            h.update(np.ascontiguousarray(flat[start : start + step]).view(np.uint8))
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path``, or None when the file is absent or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError):  # truncated or foreign file: treat as a miss
        return None


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` to ``path`` (``.npz``) atomically: temporary file, then ``os.replace``."""
    path = Path(path)
    with atomic_file(path, "wb", make_folder=True) as f:
        np.savez(f, **arrays)
    return path
