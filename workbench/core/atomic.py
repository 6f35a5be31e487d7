"""Atomic file writes: nothing a user saved is ever left half-written.

The data go to a temporary file in the target's folder, are flushed and fsynced, and the
temporary file is renamed over the target (``os.replace``, atomic on POSIX and Windows). On
any failure, Ctrl-C included, the previous file stays as it was and the temporary is removed.

The file keeps the mode of the file it replaces (a shared 0664 decisions file stays readable to
colleagues); a new file gets the umask's default, like any file the user creates. Temporary
files are named ``.<target>.<host>-<pid>.<random>.tmp``: a process killed mid-write (kill -9,
power loss) leaves one behind, and the next write to the same target removes it once its
process is gone (same host) or it is older than :data:`STALE_AFTER_S` (any host).
"""

from __future__ import annotations

import os
import re
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LEGACY_STALE_AFTER_S",
    "STALE_AFTER_S",
    "atomic_file",
    "clean_stale_temporaries",
    "default_mode",
    "temp_prefix",
]

#: A temporary file of another host's writer counts as stale after this many seconds.
STALE_AFTER_S = 24 * 3600
#: A temporary file named by an earlier version (no owner in its name) counts as stale after
#: this many seconds.
LEGACY_STALE_AFTER_S = 3600
_LEGACY = re.compile(r"[a-z0-9_]{8}")


def _age(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except OSError:
        return 0.0


def _remove(tmp: Path, removed: list) -> None:
    import shutil

    try:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
        removed.append(tmp)
    except OSError:
        pass


def _host() -> str:
    name = socket.gethostname() or "host"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]


def temp_prefix(name: str) -> str:
    """The prefix of this process's temporary files for target ``name`` (ends with a dot)."""
    return f".{name}.{_host()}-{os.getpid()}."


def default_mode(*, folder: bool = False) -> int:
    """The mode a new file (or folder) gets under the current umask: 0o666 (0o777) & ~umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return (0o777 if folder else 0o666) & ~mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is someone else's, or cannot tell: keep it
    return True


def clean_stale_temporaries(path) -> list[Path]:
    """Remove temporary files (or folders) that an earlier, killed write to ``path`` left.

    Only names this module (or :meth:`AuditResult.write`) makes are touched:
    ``.<name>.<host>-<pid>.<random>.tmp``, removed when ``<host>`` is this machine and
    ``<pid>`` no longer runs, or when it is older than :data:`STALE_AFTER_S`; and the
    ``.<name>.<8 random characters>.tmp`` of earlier versions once older than
    :data:`LEGACY_STALE_AFTER_S`. Returns what was
    removed; errors (a file another process just removed) are ignored.
    """
    path = Path(path)
    removed = []
    host, now = _host(), time.time()
    try:
        candidates = list(path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        middle = tmp.name[len(path.name) + 2 : -len(".tmp")]
        owner, _, _ = middle.rpartition(".")
        who, _, pid_text = owner.rpartition("-")
        if not who or not pid_text.isdigit():
            # earlier versions named them .<name>.<8 random characters>.tmp (no owner): removed
            # once older than any write takes
            if _LEGACY.fullmatch(middle) and _age(tmp, now) > LEGACY_STALE_AFTER_S:
                _remove(tmp, removed)
            continue
        try:
            age = now - tmp.lstat().st_mtime
        except OSError:
            continue
        mine = who == host
        if (mine and int(pid_text) == os.getpid()) or (
            mine and _pid_alive(int(pid_text)) and age < STALE_AFTER_S
        ):
            continue
        if not mine and age < STALE_AFTER_S:
            continue
        _remove(tmp, removed)
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def target_mode(path: Path) -> int:
    """The mode a file written to ``path`` should get: the existing file's permission bits,
    else the umask's default for a new file."""
    try:
        st = os.stat(path)
    except OSError:
        return default_mode()
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else default_mode()


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

    The written file keeps the permission bits of the file it replaces; a new file gets
    ``0o666 & ~umask``. Stale temporaries of earlier killed writes to ``path`` are removed
    (see :func:`clean_stale_temporaries`).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', found {mode!r}.")
    path = Path(path)
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise ValueError(f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist.")
    clean_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            if hasattr(os, "fchmod"):  # POSIX
                os.fchmod(f.fileno(), target_mode(path))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
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
