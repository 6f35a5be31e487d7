"""Screenshots of the linked views (map, matrices, trajectories) in a real JupyterLab.

Starts JupyterLab on a free port in a temporary folder (Galata's test settings: no token, the
app exposed to the page), writes a notebook that builds the digits demo with injected label
noise, runs it in headless Debian Chromium through Playwright and saves one PNG per output cell
under ``test-artifacts/screenshots/`` (git-ignored). Then look at them.

Run: ``.venv/bin/python tests/screenshots/take_screenshots.py [--out test-artifacts/screenshots]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SETUP = r"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import cross_val_predict
from workbench.dataset import Dataset
from workbench.detectors import DetectorResult, run_detectors
from workbench.session import Session

digits = load_digits()
X, y_true = digits.data / 16.0, digits.target
rng = np.random.default_rng(0)
y = y_true.copy()
flip = rng.random(len(y)) < 0.12
y[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
pp = cross_val_predict(LogisticRegression(max_iter=300), X, y, cv=5, method="predict_proba")

# per-epoch training signals from a linear model trained on the noisy labels
clf = SGDClassifier(loss="log_loss", random_state=0, alpha=1e-3)
given_prob, loss, margin, predicted = [], [], [], []
for epoch in range(12):
    clf.partial_fit(X, y, classes=np.arange(10))
    p = clf.predict_proba(X)
    g = p[np.arange(len(y)), y]
    other = np.where(np.eye(10, dtype=bool)[y], -np.inf, p).max(axis=1)
    given_prob.append(g); loss.append(-np.log(np.clip(g, 1e-6, 1))); margin.append(g - other)
    predicted.append(p.argmax(axis=1))
traj = {k: np.stack(v, axis=1) for k, v in
        dict(given_prob=given_prob, loss=loss, margin=margin, predicted=predicted).items()}
coords = PCA(n_components=2, random_state=0).fit_transform(X)
ds = Dataset(y, class_names=[str(i) for i in range(10)], pred_probs=pp, features=X,
             coords=coords, trajectories=traj, true_labels=y_true, previews=list(digits.images))
results = run_detectors(ds, progress=False)
score = 1 - pp[np.arange(len(y)), y]
results = {"given-label probability": DetectorResult(
    "given-label probability", score, score > 0.7, pp.argmax(axis=1)), **results}
session = Session(ds, results=results)
print(ds, sorted(session.results), int(session.flags.sum()), "flagged")
"""

CELLS = {
    "map_given": "from workbench.ui.map import EmbeddingMap\n"
    "m1 = EmbeddingMap(session, color_by='given label')\nm1",
    "map_flagged_selected": "session.select(np.flatnonzero(session.flags)[:60], source='demo')\n"
    "m2 = EmbeddingMap(session, color_by='flagged')\nm2",
    "map_score": "m3 = EmbeddingMap(session, color_by='score: given-label probability')\nm3",
    "matrix": "from workbench.ui.matrix import MatrixView\nmv = MatrixView(session)\nmv",
    "trajectories": "from workbench.ui.trajectories import TrajectoryView\n"
    "tv = TrajectoryView(session)\ntv",
    "missing_signals": "import ipywidgets as w\n"
    "bare = Session(Dataset(y), results={'x': DetectorResult('x', score, score > 0.7)})\n"
    "w.VBox([EmbeddingMap(bare).widget, MatrixView(bare).widget, TrajectoryView(bare).widget])",
}


def notebook(cells: dict[str, str]) -> dict:
    def code(src):
        return {
            "cell_type": "code",
            "metadata": {},
            "source": src,
            "outputs": [],
            "execution_count": None,
        }

    return {
        "cells": [code(SETUP)] + [code(src) for src in cells.values()],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, port: int) -> subprocess.Popen:
    import jupyterlab

    ext = Path(jupyterlab.__file__).parent / "galata"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--allow-root",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--LabApp.expose_app_in_browser=True",
        f"--LabServerApp.extra_labextensions_path={ext}",
        f"--LabApp.workspaces_dir={root / '.workspaces'}",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = open(root / "lab.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/api/status"
    for _ in range(120):
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    stop(proc)
    tail = (root / "lab.log").read_text()[-3000:]
    raise RuntimeError(f"JupyterLab did not start within 60 s; its log ends:\n{tail}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


_CELL_STATES = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.map(c => c.model.type === 'code'
    ? [c.model.executionCount, c.promptNode ? c.promptNode.textContent.trim() : '',
       c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue).join('; ')]
    : [0, '', '']);
}"""


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


_RUN = """async (code) => {
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


def run_code(page, code: str) -> str:
    """Run ``code`` in the notebook's kernel and return what it printed."""
    return page.evaluate(_RUN, code)


def interact(page, cells, out: Path) -> list[Path]:
    """Use the views as a person would: lasso on the map, hover, select from Python."""
    saved, notes = [], []
    m1 = cells.nth(1)
    m1.scroll_into_view_if_needed()
    run_code(page, "session.clear_selection(source='demo'); m1.scatter.widget.mouse_mode = 'lasso'")
    page.wait_for_timeout(1000)
    box = m1.locator("canvas").first.bounding_box()
    cx, cy, r = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55, 60
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    # End away from the start: a release within a few pixels of the press counts as a click.
    for x, y in [(cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r / 3)]:
        page.mouse.move(x, y, steps=12)
    page.mouse.up()
    page.wait_for_timeout(1500)
    notes.append(
        "after a lasso on map 1: "
        + run_code(
            page,
            "print(session.selection.size, session.selection_source, "
            "m2.scatter.widget.selection.size, len(tv.lines.data[0].x))",
        )
    )
    page.mouse.move(5, 5)  # off the map: no tooltip over the lassoed points
    page.wait_for_timeout(500)
    for i, name in [
        (1, "map_after_lasso"),
        (4, "matrix_after_lasso"),
        (5, "trajectories_after_lasso"),
    ]:
        cells.nth(i).scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        path = out / f"{len(saved) + 7:02d}_{name}.png"
        cells.nth(i).screenshot(path=str(path))
        saved.append(path)
    run_code(page, "m1.scatter.widget.mouse_mode = 'panZoom'")
    m1.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    for dx in range(-40, 41, 4):  # sweep until the tooltip shows a sample
        page.mouse.move(cx + dx, cy + dx / 2, steps=3)
        page.wait_for_timeout(300)
        if "hovered" in m1.inner_text():
            break
    page.wait_for_timeout(1200)
    path = out / f"{len(saved) + 7:02d}_map_hover.png"
    m1.screenshot(path=str(path))
    saved.append(path)
    notes.append("hover panel: " + m1.inner_text().split("Lasso:")[0][-200:].replace("\n", " "))
    run_code(page, "session.select(np.flatnonzero(ds.is_noisy), source='python')")
    page.wait_for_timeout(1500)
    path = out / f"{len(saved) + 7:02d}_map_python_selection.png"
    m1.screenshot(path=str(path))
    saved.append(path)
    (out / "interaction.txt").write_text("\n".join(notes) + "\n")
    _log("; ".join(notes))
    return saved


def shoot(
    port: int, out: Path, names: list[str], timeout_s: float = 300, interactive: bool = True
) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(20_000)
        logs = []
        page.on("console", lambda m: logs.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
        try:
            page.goto(f"http://127.0.0.1:{port}/lab/tree/views.ipynb?reset")
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell", timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            page.wait_for_function(
                "window.jupyterapp.shell.currentWidget && "
                "window.jupyterapp.shell.currentWidget.sessionContext && "
                "window.jupyterapp.shell.currentWidget.sessionContext.session && "
                "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel && "
                "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
                " === 'idle'",
                timeout=120_000,
            )
            _log("kernel idle; running all cells")
            news = page.get_by_role("button", name="No", exact=True)  # the news prompt
            if news.count():
                news.first.click()
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            deadline = time.time() + timeout_s
            states = []
            while time.time() < deadline:
                states = page.evaluate(_CELL_STATES)
                errors = [s[2] for s in states if s[2]]
                if errors:
                    _log(f"cell error: {errors}")
                    break
                if states and all(s[0] for s in states) and not any("*" in s[1] for s in states):
                    break
                time.sleep(2)
            _log(f"cells: {states}")
            page.wait_for_timeout(6000)  # WebGL and plotly draw
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            (out / "setup_output.txt").write_text(
                cells.nth(0).locator(".jp-OutputArea").inner_text()
            )
            for i, name in enumerate(names, start=1):
                cell = cells.nth(i)
                cell.scroll_into_view_if_needed()
                page.wait_for_timeout(2000)
                path = out / f"{i:02d}_{name}.png"
                cell.screenshot(path=str(path))
                saved.append(path)
                _log(f"saved {path.name}")
            if interactive:
                saved += interact(page, cells, out)
        finally:
            page.screenshot(path=str(out / "page.png"))
            (out / "console.log").write_text("\n".join(logs))
            browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "screenshots")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still stop JupyterLab
    with tempfile.TemporaryDirectory(prefix="wb-shots-") as tmp:
        root = Path(tmp)
        (root / "views.ipynb").write_text(json.dumps(notebook(CELLS)))
        port = free_port()
        proc = start_lab(root, port)
        try:
            saved = shoot(port, args.out, list(CELLS))
        finally:
            stop(proc)
            if (root / "views.ipynb").exists():
                (args.out / "views.ipynb").write_bytes((root / "views.ipynb").read_bytes())
            log = (root / "lab.log").read_text()
            (args.out / "lab.log").parent.mkdir(parents=True, exist_ok=True)
            (args.out / "lab.log").write_text(log)
    for path in saved:
        print(path)


if __name__ == "__main__":
    main()
