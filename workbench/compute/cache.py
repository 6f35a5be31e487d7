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
import zipfile
import zlib
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


def load_arrays(
    path: str | os.PathLike, shapes: dict[str, tuple[int, ...]] | None = None
) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path``, or None when the file is absent or unreadable.

    Anything that is not a plain ``.npz`` of numeric or string arrays is a miss, never an
    error: a truncated or foreign file, a zip archive with other members, a member that is not
    a ``.npy`` array, pickled objects.

    Parameters
    ----------
    path : str or os.PathLike
    shapes : dict of str to tuple of int, optional
        The arrays the caller expects and their shapes. A file whose members differ is a miss,
        decided from the ``.npy`` headers before any array data are read, so a foreign file
        costs bounded work whatever it claims to hold.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        if shapes is not None and not _headers_match(path, shapes):
            return None
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a bare .npy, not an archive
            return None
        with data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        return None  # truncated, foreign or damaged file: a miss
    if not all(isinstance(a, np.ndarray) and a.dtype.kind in "biufcUS" for a in arrays.values()):
        return None  # a member that is not a .npy array comes back as raw bytes
    return arrays


def _headers_match(path: Path, shapes: dict[str, tuple[int, ...]]) -> bool:
    """Whether the archive at ``path`` holds exactly the arrays ``shapes`` names, with those
    shapes (read from the ``.npy`` headers only)."""
    with zipfile.ZipFile(path) as archive:
        if sorted(archive.namelist()) != sorted(f"{name}.npy" for name in shapes):
            return False
        for name, shape in shapes.items():
            with archive.open(f"{name}.npy") as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    found, _, _ = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    found, _, _ = np.lib.format.read_array_header_2_0(member)
                else:
                    return False
            if tuple(found) != tuple(shape):
                return False
    return True


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` to ``path`` (``.npz``) atomically: temporary file, then ``os.replace``."""
    path = Path(path)
    with atomic_file(path, "wb", make_folder=True) as f:
        np.savez(f, **arrays)
    return path
