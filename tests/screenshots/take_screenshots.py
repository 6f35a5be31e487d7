"""Screenshots of the linked views (map, matrices, trajectories) and of the whole workbench in
a real JupyterLab.

Starts JupyterLab on a free port in a temporary folder (Galata's test settings: no token, the
app exposed to the page), writes a notebook that builds the digits demo with injected label
noise, runs it in headless Debian Chromium through Playwright and saves one PNG per output cell
under ``test-artifacts/screenshots/`` (git-ignored), then one per workbench tab after a
selection and a few decisions (``wb_*.png``). Then look at them.

Run: ``.venv/bin/python tests/screenshots/take_screenshots.py [--out test-artifacts/screenshots]
[--only workbench] [--size 1280x800]`` (``--only`` takes cell names; the workbench alone is
quickest; ``--size``: the browser window, default 1600x1200, where the workbench puts the map
beside the other views; at a laptop's 1280x800 they are tabs, and a cell taller than the window
is cut: ``tests/browser/test_views_at_laptop_width.py`` photographs every tab at that size).
On a loaded machine anywidget may give up starting a widget (``[anywidget] Failed to
initialize model`` in ``console.log``, a map without its canvas): run it again.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# JupyterLab and Chromium exactly as the real-browser tests start them
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from _lab import CHROMIUM, CHROMIUM_ARGS, RUN_IN_KERNEL_JS, LabServer  # noqa: E402

SETUP = r"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import cross_val_predict
from workbench.core.dataset import Dataset
from workbench.analysis.detectors import DetectorResult, run_detectors
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
    "map_colour_and_size": "m4 = EmbeddingMap(session, color_by='given label', "
    "size_by='score: given-label probability')\nm4",
    "matrix": "from workbench.ui.matrix import MatrixView\nmv = MatrixView(session)\nmv",
    "trajectories": "from workbench.ui.trajectories import TrajectoryView\n"
    "tv = TrajectoryView(session)\ntv",
    "workbench": "from workbench.ui import Workbench\nwb = Workbench(session)\nwb",
    "missing_signals": "import ipywidgets as w\n"
    "bare = Session(Dataset(y), results={'x': DetectorResult('x', score, score > 0.7)})\n"
    "w.VBox([EmbeddingMap(bare).widget, MatrixView(bare).widget, TrajectoryView(bare).widget])",
    # last, so the cells above keep their state: a lasso over most of the data
    "matrix_big_selection": "session.select(np.flatnonzero(coords[:, 0] < np.quantile("
    "coords[:, 0], 0.8)), source='demo')\nmv2 = MatrixView(session)\nmv2",
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


_CELL_STATES = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.map(c => c.model.type === 'code'
    ? [c.model.executionCount, c.promptNode ? c.promptNode.textContent.trim() : '',
       c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue).join('; ')]
    : [0, '', '']);
}"""


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_code(page, code: str) -> str:
    """Run ``code`` in the notebook's kernel and return what it printed."""
    return page.evaluate(RUN_IN_KERNEL_JS, code)


def interact(page, cells, out: Path, start: int, names: list[str]) -> list[Path]:
    """Use the views as a person would: lasso on the map, hover, select from Python. The
    screenshots are numbered from ``start`` on."""
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
    shots = [(cell, f"{cell}_after_lasso") for cell in ("map_given", "matrix", "trajectories")]
    for i, name in [(names.index(cell) + 1, shot) for cell, shot in shots if cell in names]:
        cells.nth(i).scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        path = out / f"{len(saved) + start:02d}_{name}.png"
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
    path = out / f"{len(saved) + start:02d}_map_hover.png"
    m1.screenshot(path=str(path))
    saved.append(path)
    notes.append("hover panel: " + m1.inner_text().split("Lasso:")[0][-200:].replace("\n", " "))
    run_code(page, "session.select(np.flatnonzero(ds.is_noisy), source='python')")
    page.wait_for_timeout(1500)
    path = out / f"{len(saved) + start:02d}_map_python_selection.png"
    m1.screenshot(path=str(path))
    saved.append(path)
    (out / "interaction.txt").write_text("\n".join(notes) + "\n")
    _log("; ".join(notes))
    return saved


# The workbench after a selection (the samples of one confusion cell) and a few decisions:
# 9 decisions on 7 samples, so that the export message has both numbers to tell apart.
_WORKBENCH_STATE = """
session.clear_selection(source='demo')
_flagged = np.flatnonzero(session.flags)
_sug = results[session.active].suggested_labels
for _i in _flagged[:5]:
    session.decide([_i], 'relabel', label=int(_sug[_i]) if _sug is not None and _sug[_i] >= 0 else 0)
session.decide(_flagged[5:7], 'keep')
session.decide(_flagged[:2], 'remove')
wb.matrix.select_cell('confusion', *_CELL)
print(session.selection.size, 'selected;', len(session.decisions), 'decisions on',
      sum(session.decisions.counts().values()), 'samples')
"""


def shoot_workbench(page, cells, index: int, out: Path) -> list[Path]:
    """One screenshot of the workbench per tab, after a selection and some decisions; the
    header's detector summary opened in one of them; and the export message."""
    saved = []
    cell = cells.nth(index)
    wb = cell.locator(".wb-workbench").first
    # the largest off-diagonal confusion cell (given i, predicted j)
    cell_ij = run_code(
        page,
        "_m = wb.matrix.matrix('confusion', 'counts').copy(); np.fill_diagonal(_m, -1)\n"
        "_CELL = tuple(int(v) for v in np.unravel_index(np.argmax(_m), _m.shape)); print(_CELL)",
    )
    _log(f"workbench: confusion cell {cell_ij.strip()}; " + run_code(page, _WORKBENCH_STATE))
    for title in ["Map", "Detectors", "Review", "Matrices", "Trajectories", "Decisions"]:
        run_code(page, f"wb.select_tab({title!r})")
        page.wait_for_timeout(2500 if title in ("Map", "Matrices", "Detectors") else 1500)
        if title == "Decisions":
            wb.get_by_role("button", name="JSON", exact=True).click()
            page.wait_for_timeout(1500)
        wb.scroll_into_view_if_needed()
        page.mouse.move(5, 5)
        page.wait_for_timeout(300)
        path = out / f"wb_{len(saved) + 1:02d}_{title.lower()}.png"
        wb.screenshot(path=str(path))
        saved.append(path)
        _log(f"saved {path.name}")
    (out / "workbench.txt").write_text(wb.inner_text())
    run_code(page, "wb.select_tab('Review')")
    page.wait_for_timeout(1000)
    wb.locator(".wb-q-row .wb-q-more").nth(1).click()  # every detector's score, row 2
    page.wait_for_timeout(500)
    path = out / "wb_03b_review_scores_open.png"
    wb.locator(".wb-queue").screenshot(path=str(path))
    saved.append(path)
    wb.locator("summary").first.click()  # the header's detector summary opens
    page.wait_for_timeout(500)
    path = out / "wb_07_header_opened.png"
    wb.screenshot(path=str(path))
    saved.append(path)
    wb.locator("summary").first.click()
    # For the README: the map after a lasso-like selection of a mixed region.
    run_code(
        page,
        "_c = coords[session.flags].mean(axis=0); _r = 0.6 * coords.std()\n"
        "session.select(np.flatnonzero(np.hypot(*(coords - _c).T) < _r), source='demo')\n"
        "wb.select_tab('Map')",
    )
    page.wait_for_timeout(2500)
    wb.scroll_into_view_if_needed()
    page.mouse.move(5, 5)
    path = out / "wb_00_workbench_map_selection.png"
    wb.screenshot(path=str(path))
    saved.append(path)
    return saved


def shoot(
    port: int,
    out: Path,
    names: list[str],
    timeout_s: float = 300,
    interactive: bool = True,
    size: tuple[int, int] = (1600, 1200),
) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
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
            page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
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
            if interactive and "map_given" in names and "trajectories" in names:
                saved += interact(page, cells, out, start=len(names) + 1, names=names)
            if "workbench" in names:
                saved += shoot_workbench(page, cells, names.index("workbench") + 1, out)
        finally:
            page.screenshot(path=str(out / "page.png"))
            (out / "console.log").write_text("\n".join(logs))
            browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "screenshots")
    parser.add_argument("--only", nargs="+", choices=list(CELLS), help="cells to render")
    parser.add_argument(
        "--size", default="1600x1200", help="browser window, WIDTHxHEIGHT (default 1600x1200)"
    )
    args = parser.parse_args()
    cells = {k: v for k, v in CELLS.items() if not args.only or k in args.only}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still stop JupyterLab
    with tempfile.TemporaryDirectory(prefix="wb-shots-") as tmp:
        root = Path(tmp) / "notebooks"
        root.mkdir()
        (root / "views.ipynb").write_text(json.dumps(notebook(cells)))
        server = LabServer(root)
        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
            saved = shoot(server.port, args.out, list(cells), size=(width, height))
        finally:
            server.stop(keep_log=args.out / "lab.log")
            if (root / "views.ipynb").exists():
                (args.out / "views.ipynb").write_bytes((root / "views.ipynb").read_bytes())
    for path in saved:
        print(path)


if __name__ == "__main__":
    main()
