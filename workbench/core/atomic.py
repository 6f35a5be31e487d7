"""Atomic file writes: nothing a user saved is ever left half-written.

The data go to a temporary file in the target's folder, are flushed and fsynced, and the
temporary file is renamed over the target (``os.replace``, atomic on POSIX and Windows). On
any failure, Ctrl-C included, the previous file stays as it was and the temporary is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path, mode: str = "wb", *, make_folder: bool = False) -> Iterator:
    """Open a temporary file for writing that replaces ``path`` when the block ends cleanly.

    Parameters
    ----------
    path : str or os.PathLike
    mode : {"wb", "w"}
        Binary, or text in UTF-8.
    make_folder : bool, default=False
        Create the folder when missing; otherwise a missing folder is a ``ValueError``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', found {mode!r}.")
    path = Path(path)
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise ValueError(f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the filesystem allows fsync on folders)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:  # some filesystems refuse it; the file's own data are already synced
        pass
    finally:
        os.close(dfd)
