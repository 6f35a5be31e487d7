"""JupyterLab and Chromium for the real-browser tests: start, wait, stop, collect logs.

Nothing here reaches the network: JupyterLab listens on a free localhost port with Galata's
test configuration (``jupyter_server_test_config.py``) and Chromium is Debian's
``/usr/bin/chromium`` (Playwright never downloads a browser here).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# Screenshots and logs go to a folder per test run (its start time and process id), so two runs
# in one checkout never overwrite each other's files; ``latest`` links to the newest run's.
ARTIFACTS_ROOT = ROOT / "test-artifacts" / "browser"
ARTIFACTS = ARTIFACTS_ROOT / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
KEEP_RUNS = 10
_RUN_NAME = re.compile(r"\d{8}-\d{6}-\d+")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # WebGL (the embedding map, plotly's WebGL traces) without a GPU: ANGLE on SwiftShader, the
    # CPU rasteriser. Chromium 156 still falls back to it by itself; later versions need this.
    "--enable-unsafe-swiftshader",
]


# Runs Python in the notebook's kernel from the page; returns what it printed (and an error's
# name and message).
RUN_IN_KERNEL_JS = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code});
  let text = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') text += msg.content.text;
    if (msg.header.msg_type === 'error') text += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return text;
}"""


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.3):
    """Poll ``predicate()`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def open_artifacts(keep: int = KEEP_RUNS) -> Path:
    """Make this run's ``ARTIFACTS`` folder, point ``test-artifacts/browser/latest`` at it and
    delete the run folders older than the ``keep`` newest (this one included); return it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    link, new_link = ARTIFACTS_ROOT / "latest", ARTIFACTS_ROOT / f".latest-{os.getpid()}"
    with contextlib.suppress(OSError):  # a file system without links: the folder is still named
        new_link.unlink(missing_ok=True)
        new_link.symlink_to(ARTIFACTS.name, target_is_directory=True)
        os.replace(new_link, link)  # one rename: a run beside this one never sees no link
    runs = sorted(
        p.name for p in ARTIFACTS_ROOT.iterdir() if _RUN_NAME.fullmatch(p.name) and p.is_dir()
    )
    for name in runs[:-keep]:
        if name != ARTIFACTS.name:
            shutil.rmtree(ARTIFACTS_ROOT / name, ignore_errors=True)
    return ARTIFACTS


# True once the page's current notebook has a kernel that is idle.
KERNEL_IDLE_JS = """() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel
  ?.status === 'idle'"""

# The open notebook's code cells: [execution count, queued or running, first error or ''].
_CELLS_JS = r"""() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.filter((c) => c.model.type === 'code').map((c) => {
    const err = c.model.outputs.toJSON().find((o) => o.output_type === 'error');
    return [c.model.executionCount, (c.promptNode ? c.promptNode.textContent : '').includes('*'),
            err ? err.ename + ': ' + err.evalue : ''];
  });
}"""


def next_frames(page, n: int = 2) -> None:
    """Return once the page has drawn ``n`` more animation frames: what was laid out before
    the call has been painted (a wait on the page, not on the clock)."""
    page.evaluate(
        """(n) => new Promise((done) => {
             const step = (left) => left ? requestAnimationFrame(() => step(left - 1)) : done();
             step(n);
           })""",
        n,
    )


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook (nbformat 4, no outputs, the python3 kernel) of code ``cells`` at ``path``."""
    code = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    nb = {
        "cells": [{**code, "source": c} for c in cells],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


def open_notebook(page, server: LabServer, name: str) -> None:
    """Open notebook ``name`` (relative to the server's root) in ``page`` and wait until its
    kernel is idle. Only that notebook: ``?reset`` starts from an empty workspace (a server
    shared by several tests would otherwise reopen the notebooks an earlier page had open)."""
    page.goto(f"{server.url}/lab/tree/{name}?reset", timeout=120_000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=180_000)


def run_all_cells(page, *, timeout: float = 300) -> None:
    """Run every cell of the open notebook (the Run All command) and wait until each code cell
    has run and the kernel is idle again; a cell's error fails with its name and message."""
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def done():
        cells = page.evaluate(_CELLS_JS)
        errors = [e for _, _, e in cells if e]
        if errors:
            raise AssertionError(f"a notebook cell failed: {errors[0][-3000:]}")
        return all(count and not pending for count, pending, _ in cells) and page.evaluate(
            KERNEL_IDLE_JS
        )

    wait_until(done, timeout=timeout, what="every cell to run", interval=0.5)


def wait_for_workbench(page, *, timeout_ms: float = 120_000):
    """The last workbench on the page once its tabs and the first tab's map are drawn;
    returns its locator."""
    workbench = page.locator(".wb-workbench").last
    workbench.locator(".lm-TabBar-tab").first.wait_for(state="visible", timeout=timeout_ms)
    workbench.locator("canvas").first.wait_for(state="visible", timeout=timeout_ms)
    return workbench


def free_port() -> int:
    """A TCP port free on localhost right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(text: str, n: int = 4000) -> str:
    """The last ``n`` characters of ``text``, marked when cut."""
    return text if len(text) <= n else "[...]\n" + text[-n:]


class LabServer:
    """JupyterLab (the venv's ``jupyter lab``) serving ``root`` on a free localhost port;
    with ``app="notebook"``, Jupyter Notebook 7 instead.

    The server runs in its own process group, so :meth:`stop` ends it with its kernels.
    Its output goes to ``root/../lab.log``; ``env``: more environment variables for the server
    and the kernels it starts.
    """

    def __init__(
        self,
        root: Path,
        *,
        start_timeout: float = 120.0,
        app: str = "lab",
        env: dict[str, str] | None = None,
    ):
        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        scratch = self.root.parent
        self.log_path = scratch / "lab.log"
        tmp = scratch / "tmp"
        tmp.mkdir(exist_ok=True)
        jupyter = Path(sys.executable).with_name("jupyter")
        cmd = [
            str(jupyter),
            app,
            "--no-browser",
            f"--config={HERE / 'jupyter_server_test_config.py'}",
            f"--port={self.port}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.port_retries=0",
            "--allow-root",
        ]
        env = dict(
            os.environ,
            TMPDIR=str(tmp),
            JUPYTERLAB_GALATA_ROOT_DIR=str(self.root),
            JUPYTERLAB_SETTINGS_DIR=str(scratch / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(scratch / "lab-workspaces"),
            JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
            IPYTHONDIR=str(scratch / "ipython"),
            PYTHONPATH=os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
            **(env or {}),
        )
        env.pop("JUPYTER_CONFIG_DIR", None)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            self._wait(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode} before answering; "
                    f"its log ends:\n{tail(self.log())}"
                )
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        raise RuntimeError(
            f"JupyterLab did not answer {self.url}/api/status within {timeout:.0f} s; its log "
            f"ends:\n{tail(self.log())}"
        )

    def log(self) -> str:
        """Everything the server wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def shutdown_kernels(self) -> None:
        """Shut down every kernel of the server (through its REST API) and wait until none is
        left, so the next test starts on a quiet server."""
        for kernel in self._api("GET", "/api/kernels"):
            self._api("DELETE", f"/api/kernels/{kernel['id']}")
        wait_until(lambda: not self._api("GET", "/api/kernels"), timeout=60, what="no kernels")

    def _api(self, method: str, path: str):
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=60) as r:
            body = r.read()
        return json.loads(body) if body else None

    def stop(self, *, keep_log: Path | None = None) -> None:
        """End the server and its kernels; ``keep_log``: where to copy its log (folders made).

        The kernels are shut down through the server first: quicker than the server's own
        shutdown of live kernels on a signal (2.4 s against 4.8 s with one kernel)."""
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.shutdown_kernels()
        stop_process_group(self.proc)
        self._log.close()
        if keep_log is not None:
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            keep_log.write_text(self.log())


def stop_process_group(proc: subprocess.Popen) -> None:
    """End a process started with ``start_new_session=True`` and everything in its group
    (SIGTERM, then SIGKILL after 15 s; the group is killed at the end in any case)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
    # Children (kernels, a server started by make) share the group; make sure none is left.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
