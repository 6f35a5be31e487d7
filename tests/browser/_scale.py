"""The workbench on a large synthetic dataset in a real JupyterLab and headless Chromium: shared
by the real-browser tests at scale (``test_scale_in_lab.py``) and ``benchmarks/browser_scale.py``.

The kernel builds N samples in K Gaussian blobs on the map (5% of the labels flipped to another
class, pred_probs that know the true class, two detectors on them: ``self_confidence`` flags the
top 6.5% and ``margin`` the top 5%), then shows ``Workbench(session)``. The page is driven
through the mouse where the defect is about the mouse (lasso, pan, Reset view, tab clicks) and
through the kernel otherwise; the map is read back from its canvas pixels.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _lab import CHROMIUM, CHROMIUM_ARGS, RUN_IN_KERNEL_JS, LabServer

# Lab settings for a test: no "receive Jupyter news?" toast, no update check, no windowing.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

SETUP = r"""
import time, numpy as np
from workbench.core.dataset import Dataset
from workbench.analysis.detectors import DetectorResult
from workbench.session import Session
from workbench.ui import Workbench
N, K = {n}, {k}
rng = np.random.default_rng(0)
centers = rng.uniform(-10, 10, (K, 2))
true = rng.integers(0, K, N)
coords = (centers[true] + rng.normal(0, 1.3, (N, 2))).astype(np.float32)
given = true.copy()
flip = rng.random(N) < 0.05
given[flip] = (true[flip] + rng.integers(1, K, int(flip.sum()))) % K
logits = rng.normal(0, 1, (N, K)).astype(np.float32)
logits[np.arange(N), true] += 3.0
pp = np.exp(logits); pp /= pp.sum(axis=1, keepdims=True)
ds = Dataset(given, pred_probs=pp, true_labels=true, coords=coords,
             class_names=[f"class {{i}}" for i in range(K)])
p_given = pp[np.arange(N), given]
score_sc = (1.0 - p_given).astype(np.float64)
score_margin = (pp.max(axis=1) - p_given).astype(np.float64)
suggested = pp.argmax(axis=1)
results = {{
    "self_confidence": DetectorResult("self_confidence", score_sc,
                                      score_sc >= np.quantile(score_sc, 0.935), suggested),
    "margin": DetectorResult("margin", score_margin,
                             score_margin >= np.quantile(score_margin, 0.95), suggested),
}}
session = Session(ds, results=results)
session.set_detector("self_confidence")
print("ready", N, K, int(session.flags.sum()))
"""

SHOW = "wb = Workbench(session)\nwb"

_CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code')
  .map(c => [c.model.executionCount || 0,
             (c.promptNode ? c.promptNode.textContent : '').includes('*'),
             c.model.outputs.toJSON().filter(o => o.output_type === 'error')
               .map(o => o.ename + ': ' + o.evalue).join('; ')])"""

FLAG_RGB = (219, 38, 31)  # the map's "flagged" red, (0.86, 0.15, 0.12)


def notebook(n: int, k: int, extra: tuple[str, ...] = ()) -> dict:
    def code(src):
        return {"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
                "execution_count": None}  # fmt: skip

    return {
        "cells": [code(SETUP.format(n=n, k=k)), code(SHOW), *(code(e) for e in extra)],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def pixels(locator) -> np.ndarray:
    """The element's screenshot as an (H, W, 3) uint8 array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"))


def map_pixels(img: np.ndarray) -> np.ndarray:
    """Bool (H, W): the pixels a point covers (not the white background)."""
    return (img < 245).any(axis=2)


def colour_share(img: np.ndarray, rgb, tol: int = 40) -> float:
    """Share of the map's (non-background) pixels within ``tol`` of colour ``rgb``."""
    near = (np.abs(img.astype(int) - np.asarray(rgb)) <= tol).all(axis=2)
    covered = map_pixels(img)
    return float(near.sum() / max(covered.sum(), 1))


class ScaleLab:
    """JupyterLab + Chromium with the workbench on N samples, K classes (a context manager).

    ``timings`` collects the seconds each step took; ``shot(name)`` saves a screenshot of the
    workbench under ``out``.
    """

    def __init__(
        self, n: int, k: int, *, out: Path, viewport=(1280, 900), run_timeout=900, extra=()
    ):
        self.n, self.k, self.out, self.extra = n, k, Path(out), tuple(extra)
        self.viewport, self.run_timeout = viewport, run_timeout
        self.timings: dict[str, float] = {}
        self.console: list[str] = []

    # --- life ----------------------------------------------------------------------------------
    def __enter__(self):
        from playwright.sync_api import sync_playwright

        self._tmp = tempfile.TemporaryDirectory(prefix="wb-scale-")
        scratch = Path(self._tmp.name)
        root = scratch / "notebooks"
        root.mkdir()
        for name, values in LAB_SETTINGS.items():
            path = scratch / "lab-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        (root / "scale.ipynb").write_text(json.dumps(notebook(self.n, self.k, self.extra)))
        self.out.mkdir(parents=True, exist_ok=True)
        self.server = LabServer(root)
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        w, h = self.viewport
        self.page = self.browser.new_page(viewport={"width": w, "height": h})
        self.page.set_default_timeout(120_000)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        try:
            self._open()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            if getattr(self, "page", None) is not None:
                (self.out / "console.log").write_text("\n".join(self.console))
            if getattr(self, "browser", None) is not None:
                self.browser.close()
            if getattr(self, "_pw", None) is not None:
                self._pw.stop()
        finally:
            self.server.stop(keep_log=self.out / "lab.log")
            self._tmp.cleanup()

    def _open(self) -> None:
        page = self.page
        page.goto(f"{self.server.url}/lab/tree/scale.ipynb?reset")
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_function(
            "(() => { const w = window.jupyterapp.shell.currentWidget; const k = w && "
            "w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return k && k.status === 'idle'; })()",
            timeout=180_000,
        )
        page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
        self._run_cell(0)
        start = time.perf_counter()
        self._run_cell(1)
        # the notebook's own (JupyterLab's "New View for Cell Output" makes a second one)
        self.wb = page.locator(".jp-NotebookPanel .wb-workbench").first
        self.wait_map_drawn()
        self.timings["map_drawn_s"] = time.perf_counter() - start
        for i in range(len(self.extra)):
            self._run_cell(2 + i)

    def cell_output(self, index: int):
        """The output area of code cell ``index``."""
        cells = self.page.locator(".jp-Notebook .jp-CodeCell")
        return cells.nth(index).locator(".jp-OutputArea")

    def _run_cell(self, index: int) -> None:
        page = self.page
        page.evaluate(
            f"(() => {{ const nb = window.jupyterapp.shell.currentWidget.content; "
            f"nb.activeCellIndex = {index}; "
            f"window.jupyterapp.commands.execute('notebook:run-cell'); }})()"
        )
        deadline = time.monotonic() + self.run_timeout
        while time.monotonic() < deadline:
            cells = page.evaluate(_CELLS)
            count, pending, error = cells[index]
            if error:
                raise RuntimeError(f"cell {index} failed: {error}")
            if count and not pending:
                return
            time.sleep(0.1)
        raise TimeoutError(f"cell {index} did not finish in {self.run_timeout} s")

    # --- kernel --------------------------------------------------------------------------------
    def run(self, code: str) -> str:
        """Run ``code`` in the notebook's kernel; what it printed."""
        text = self.page.evaluate(RUN_IN_KERNEL_JS, code)
        if "Error:" in text and "Traceback" not in code:
            raise RuntimeError(text)
        return text

    def value(self, expression: str):
        """A Python expression's value, through JSON."""
        return json.loads(self.run(f"import json as _j; print(_j.dumps({expression}))"))

    # --- map -----------------------------------------------------------------------------------
    @property
    def map_panel(self):
        """The workbench (one map in it: its toolbar buttons and canvas are unique)."""
        return self.wb

    @property
    def canvas(self):
        return self.map_panel.locator("canvas").first

    def frames(self, n: int = 2) -> None:
        """Wait for ``n`` animation frames (the map redraws within them)."""
        self.page.evaluate(
            "(n) => new Promise(r => { const f = (i) => i ? requestAnimationFrame(() => f(i - 1))"
            " : r(); f(n); })",
            n,
        )

    def wait_map_drawn(self, timeout: float = 300) -> None:
        """Until the map's canvas shows points. A map laid out while its box had no width yet
        keeps a 1-pixel canvas until the window resizes: the loop nudges it."""
        self.canvas.wait_for(state="attached", timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            box = self.canvas.bounding_box()
            if box is None or box["width"] < 10:
                self.wb.scroll_into_view_if_needed()
                self.page.evaluate("window.dispatchEvent(new Event('resize'))")
                time.sleep(0.5)
                continue
            img = pixels(self.canvas)
            if map_pixels(img).mean() > 0.02:
                return
            time.sleep(0.2)
        self.page.screenshot(path=str(self.out / "map_not_drawn.png"))
        raise TimeoutError("the map drew no points (page: map_not_drawn.png)")

    def map_image(self) -> np.ndarray:
        self.page.mouse.move(2, 2)  # no tooltip over the map
        self.frames(3)
        return pixels(self.canvas)

    def timed_python(self, code: str, done_js: str | None = None, frames: int = 3) -> float:
        """Seconds from sending ``code`` to the kernel until it ran, ``done_js`` (a JS
        expression) holds on the page, and ``frames`` animation frames later."""
        start = time.perf_counter()
        self.run(code)
        if done_js:
            self.page.wait_for_function(done_js, timeout=120_000)
        self.frames(frames)
        return time.perf_counter() - start

    def header_selected(self) -> int:
        """The number of selected samples the workbench's header shows."""
        text = self.wb.locator(".wb-selection").inner_text()
        return int(text.split(" selected")[0].split()[-1].replace(",", ""))

    def lasso(self, fractions, *, tool: bool = True) -> float:
        """A lasso with the mouse through ``fractions`` ((fx, fy) of the canvas box); the
        ``time.perf_counter()`` of the release."""
        page, panel = self.page, self.map_panel
        if tool:
            panel.locator('button[title="Activate lasso selection"]').click()
        self.canvas.scroll_into_view_if_needed()
        box = self.canvas.bounding_box()  # after the click: it may have scrolled the page
        pts = [
            (box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in fractions
        ]
        page.mouse.move(*pts[0])
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            for t in (0.25, 0.5, 0.75, 1.0):
                page.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
                page.wait_for_timeout(30)
        released = time.perf_counter()  # the release is sent: the browser handles it from here
        page.mouse.up()
        if tool:
            panel.locator('button[title="Activate pan & zoom"]').click()
        return released

    def zoom_in(self, at=(0.4, 0.4), *, turns: int = 4, delta: int = 400) -> None:
        """Zoom the map in with the mouse wheel at ``at`` ((fx, fy) of the canvas box)."""
        box = self.canvas.bounding_box()
        self.page.mouse.move(box["x"] + at[0] * box["width"], box["y"] + at[1] * box["height"])
        for _ in range(turns):
            self.page.mouse.wheel(0, -delta)
            self.page.wait_for_timeout(300)
        self.page.wait_for_timeout(1000)

    def wait_true(self, expression: str, timeout: float = 120) -> bool:
        """Poll a Python expression in the kernel until it is true; its last value."""
        deadline = time.monotonic() + timeout
        value = self.value(f"bool({expression})")
        while not value and time.monotonic() < deadline:
            time.sleep(0.05)
            value = self.value(f"bool({expression})")
        return value

    def reset_button(self):
        """The map's "Reset view" button."""
        return self.wb.get_by_role("button", name="Reset view")

    def selection_size(self) -> int:
        return int(self.run("print(session.selection.size)").strip())

    def wait_selection(self, predicate, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        size = self.selection_size()
        while time.monotonic() < deadline and not predicate(size):
            time.sleep(0.05)
            size = self.selection_size()
        return size

    def tab(self, title: str):
        """The workbench's tab button ``title``."""
        import re

        tabs = self.wb.locator(".jupyter-widget-tab").first
        return tabs.locator(".lm-TabBar-tab", has_text=re.compile(rf"^{re.escape(title)}$"))

    def tab_panel(self):
        """The visible tab's content."""
        tabs = self.wb.locator(".jupyter-widget-tab").first
        return tabs.locator(".widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)").first

    def shot(self, name: str, locator=None) -> Path:
        path = self.out / f"{name}.png"
        self.page.mouse.move(2, 2)
        self.frames(3)
        (locator or self.wb).screenshot(path=str(path))
        return path
