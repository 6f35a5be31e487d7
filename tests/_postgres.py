"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temporary folder,
listening on a free loopback port, trust authentication, removed afterwards.

The server binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``),
``$WORKBENCH_PG_BIN`` or ``pg_config --bindir``. initdb refuses to run as root: as root the
server runs as the ``postgres`` user (``runuser``). :func:`why_unavailable` says why a server
cannot be started here (tests skip with that reason).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def bin_dir() -> Path | None:
    candidates = [os.environ.get("WORKBENCH_PG_BIN")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def why_unavailable() -> str | None:
    """None when a server can be started, else the reason."""
    if bin_dir() is None:
        return (
            "PostgreSQL server binaries not found (install Debian's 'postgresql' package, or "
            "set WORKBENCH_PG_BIN to the folder holding initdb and pg_ctl)"
        )
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    try:
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as err:
        return f"the team store needs SQLAlchemy and psycopg ({err})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running server; ``url`` for SQLAlchemy, ``stop()`` / ``start()`` to take it down and
    up again (same data, same port)."""

    def __init__(self):
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="wb-pg-"))
        os.chmod(self.root, 0o755)
        self.data = self.root / "data"
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._call(["initdb", "-D", str(self.data), "-U", "wb", "--auth=trust", "-E", "UTF8",
                    "--no-sync", "--no-instructions"])  # fmt: skip
        self.port = _free_port()
        self.url = f"postgresql://wb@127.0.0.1:{self.port}/postgres"

    def _call(self, args: list[str]) -> None:
        cmd = [*_run_as(), str(self.bin / args[0]), *args[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stdout}{proc.stderr}")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")  # fmt: skip
        self._call(["pg_ctl", "-D", str(self.data), "-o", opts, "-w", "-t", "120",
                    "-l", str(self.root / "server.log"), "start"])  # fmt: skip

    def stop(self) -> None:
        self._call(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self._call(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server():
    """Start a server for the block; yields a :class:`Server` (``.url``)."""
    server = Server()
    try:
        server.start()
        yield server
    finally:
        server.remove()
