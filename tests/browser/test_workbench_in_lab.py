"""The quickstart notebook in a real JupyterLab, driven with the mouse and keyboard in headless
Chromium: run every cell, lasso points on the embedding map, review them in the queue with
keys, export the decisions and read them back.

Screenshots of the whole workbench and of every view land in this run's folder,
``test-artifacts/browser/<start>-<pid>/`` (``latest`` links to it; git-ignored); on a failure,
so do a screenshot of the page, the browser console and the Jupyter server log, whose tails are
in the assertion message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path

import pytest
from _lab import ARTIFACTS, next_frames, open_notebook, tail, wait_until

from workbench.decisions.log import DecisionLog

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "quickstart.ipynb"
# The quickstart computes its signals on the CPU; a busy 2-core machine needs a few minutes.
RUN_ALL_TIMEOUT_S = float(os.environ.get("WORKBENCH_BROWSER_RUN_TIMEOUT", "600"))
VIEWPORT = {"width": 1440, "height": 1500}

# State of the open notebook, read through the app Galata's settings expose as
# ``window.jupyterapp``: kernel status and, per non-empty code cell, its execution count,
# whether it is queued or running, and its error outputs.
_NOTEBOOK_STATE_JS = r"""() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const session = panel.sessionContext.session;
  const kernel = session && session.kernel;
  const cells = panel.content.widgets
    .filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim() !== '')
    .map(c => ({
      count: c.model.executionCount,
      pending: (c.promptNode ? c.promptNode.textContent : '').includes('*'),
      errors: c.model.outputs.toJSON()
        .filter(o => o.output_type === 'error')
        .map(o => o.ename + ': ' + o.evalue + '\n' + (o.traceback || []).join('\n')),
    }));
  return {kernel: kernel ? kernel.status : 'none', cells};
}"""

# The confusion matrix's largest off-diagonal cell (given label row, predicted label column)
# and where it is on the page: the first heatmap of the matrix view's figure.
_LARGEST_OFF_DIAGONAL_JS = r"""(el) => {
  const gd = el.querySelector('.js-plotly-plot');
  const trace = gd._fullData[0];
  let best = {count: -1, row: 0, col: 0};
  trace.z.forEach((row, i) => row.forEach((v, j) => {
    if (i !== j && v > best.count) best = {count: v, row: i, col: j};
  }));
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {...best, panel: trace.name,
          x: box.left + xa._offset + xa.l2p(best.col), y: box.top + ya._offset + ya.l2p(best.row)};
}"""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HEADER = re.compile(r"([\d,]+) selected · ([\d,]+) flagged by .+? · ([\d,]+) decided")
_QUEUE_TITLE = re.compile(r"^Selection: ([\d,]+) sample\(s\)")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


class Lab:
    """The test's handle on the page: console capture, failure reports, the workbench."""

    def __init__(self, page, server, root: Path):
        self.page, self.server, self.root = page, server, root
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.timings: dict[str, float] = {}
        page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

    @contextlib.contextmanager
    def step(self, name: str):
        """Run one stage; on any failure save a screenshot, the console and the server log
        in this run's artifacts folder and fail with their tails."""
        start = time.monotonic()
        try:
            yield
            self.timings[name] = round(time.monotonic() - start, 1)
        except Exception as exc:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            with contextlib.suppress(Exception):
                self.page.screenshot(path=str(ARTIFACTS / f"FAILED-{slug}.png"), full_page=True)
            console = "\n".join(self.console + [f"[pageerror] {e}" for e in self.page_errors])
            (ARTIFACTS / f"FAILED-{slug}-console.log").write_text(console)
            (ARTIFACTS / f"FAILED-{slug}-lab.log").write_text(self.server.log())
            raise AssertionError(
                f"Step {name!r} failed: {type(exc).__name__}: {exc}\n"
                f"--- browser console (tail) ---\n{tail(console, 3000)}\n"
                f"--- Jupyter server log (tail) ---\n{tail(self.server.log(), 3000)}\n"
                f"(screenshot and full logs in {ARTIFACTS})"
            ) from exc

    # --- notebook ------------------------------------------------------------------------------
    def state(self) -> dict | None:
        return self.page.evaluate(_NOTEBOOK_STATE_JS)

    def check_cell_errors(self) -> None:
        s = self.state() or {"cells": []}
        errors = [e for c in s["cells"] for e in c["errors"]]
        if errors:
            raise AssertionError("A notebook cell failed:\n" + _ANSI.sub("", errors[0])[-3000:])

    def all_cells_done(self) -> bool:
        self.check_cell_errors()
        s = self.state()
        return bool(
            s
            and s["kernel"] == "idle"
            and s["cells"]
            and all(c["count"] is not None and not c["pending"] for c in s["cells"])
        )

    def run_all_from_menu(self) -> None:
        """Run → Run All Cells, with the mouse."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

    def run_new_cell(self, source: str) -> str:
        """Append a code cell with ``source`` at the end, run it and return its text output."""
        page = self.page
        n_before = page.locator(".jp-Notebook .jp-CodeCell").count()
        page.evaluate(
            """(source) => {
              const nb = window.jupyterapp.shell.currentWidget.content;
              nb.activeCellIndex = nb.widgets.length - 1;
              nb.mode = 'command';
              return window.jupyterapp.commands.execute('notebook:insert-cell-below').then(() => {
                nb.activeCell.model.sharedModel.setSource(source);
                return window.jupyterapp.commands.execute('notebook:run-cell');
              });
            }""",
            source,
        )
        cell = page.locator(".jp-Notebook .jp-CodeCell").nth(n_before)
        wait_until(
            lambda: self.all_cells_done() and cell.locator(".jp-OutputArea-output").count(),
            timeout=60,
            what="the new cell's output",
        )
        return cell.locator(".jp-OutputArea").inner_text()

    # --- workbench -----------------------------------------------------------------------------
    @property
    def workbench(self):
        """The workbench widget (the last one in the notebook)."""
        return self.page.locator(".wb-workbench").last

    def tab(self, title: str):
        """Bring the workbench tab ``title`` to the front; returns its visible content."""
        wb = self.workbench
        tabs = wb.locator(".jupyter-widget-tab").first
        tabs.locator(".lm-TabBar-tab", has_text=re.compile(rf"^{re.escape(title)}$")).click()
        panel = tabs.locator(".widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)")
        panel.first.wait_for(state="visible")
        next_frames(self.page)  # the view laid out and painted
        return panel.first

    def header(self) -> tuple[int, int, int] | None:
        """(selected, flagged, decided) from the workbench's header line."""
        m = _HEADER.search(self.workbench.locator(".wb-selection").inner_text())
        return tuple(_int(g) for g in m.groups()) if m else None

    def wait_for_plots(self, panel, timeout: float = 60_000) -> None:
        """Wait until every plotly figure in ``panel`` has received and drawn its traces."""
        self.page.wait_for_function(
            """(el) => {
              const plots = [...el.querySelectorAll('.js-plotly-plot')];
              return plots.every(gd => gd._fullData && gd._fullData.length > 0
                                       && gd._fullLayout && gd.querySelector('.main-svg'));
            }""",
            arg=panel.element_handle(),
            timeout=timeout,
        )
        self.page.wait_for_timeout(500)  # WebGL traces draw on the next frames

    def shoot(self, locator, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        locator.scroll_into_view_if_needed()
        next_frames(self.page)
        locator.screenshot(path=str(path))
        return path


def lasso(page, map_panel, fractions) -> None:
    """Draw a lasso with the mouse on the map in ``map_panel``: pick the toolbar's lasso tool,
    drag through the points ``fractions`` ((fx, fy) of the canvas box), release (the lasso
    closes itself), and go back to pan & zoom.

    The tool, not the long press the map also offers: that one starts on a 750 ms timer, which
    a busy 2-core machine can delay past the first mouse move (which then cancels it).
    jupyter-scatter binds no key to the lasso (its key map has only Cmd = add to and Alt =
    remove from the selection), and a release within 3 px of the press point counts as a click
    that selects the single nearest point, so the last point must differ from the first."""
    canvas = map_panel.locator("canvas").first
    map_panel.locator('button[title="Activate lasso selection"]').click()
    box = canvas.bounding_box()
    pts = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in fractions]
    page.mouse.move(*pts[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        for t in (0.25, 0.5, 0.75, 1.0):  # lasso points need time and distance between them
            page.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            page.wait_for_timeout(30)
    page.mouse.up()
    map_panel.locator('button[title="Activate pan & zoom"]').click()


def test_quickstart_workbench_in_jupyterlab(lab, lab_root, headless_chromium):
    notebook = lab_root / NOTEBOOK
    assert notebook.is_file(), f"{NOTEBOOK} is missing from notebooks/"
    page = headless_chromium.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    ui = Lab(page, lab, lab_root)
    try:
        _drive(ui, page, lab_root)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        console = "\n".join(ui.console + [f"[pageerror] {e}" for e in ui.page_errors])
        (ARTIFACTS / "console.log").write_text(console)
        (ARTIFACTS / "timings.json").write_text(json.dumps(ui.timings, indent=1))
        page.close()


def _drive(ui: Lab, page, root: Path) -> None:
    with ui.step("open the notebook"):
        open_notebook(page, ui.server, NOTEBOOK)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
        webgl = page.evaluate("() => !!document.createElement('canvas').getContext('webgl')")
        assert webgl, "this Chromium gives no WebGL context (the map needs it): check its flags"
        state = ui.state()
        assert all(c["count"] is None for c in state["cells"]), (
            f"{NOTEBOOK} is saved with outputs (execution counts "
            f"{[c['count'] for c in state['cells']]}); strip them."
        )

    with ui.step("run all cells"):
        ui.run_all_from_menu()
        wait_until(
            ui.all_cells_done, timeout=RUN_ALL_TIMEOUT_S, what="every cell to finish", interval=1.0
        )
        wb = ui.workbench
        wb.wait_for(state="visible", timeout=30_000)
        canvas = ui.tab("Map").locator("canvas").first
        canvas.wait_for(state="visible")
        assert page.locator("text=Error displaying widget").count() == 0, "a widget failed"
        ui.shoot(wb, "00_workbench")

    with ui.step("lasso on the embedding map"):
        queue_title = ui.tab("Review").locator(".wb-q-title")
        before = queue_title.inner_text()
        assert before.startswith("Flagged by"), before
        assert ui.header()[0] == 0, f"something is selected before the lasso: {ui.header()}"
        map_panel = ui.tab("Map")
        page.wait_for_timeout(500)  # the map draws its points
        lasso(page, map_panel, [(0.4, 0.35), (0.6, 0.35), (0.6, 0.65), (0.4, 0.65), (0.4, 0.45)])
        selected = wait_until(
            lambda: (ui.header() or (0,))[0], timeout=30, what="a selection in the workbench header"
        )
        map_panel = ui.tab("Map")
        n_samples = _int(re.search(r"([\d,]+) samples", map_panel.inner_text()).group(1))
        assert 2 <= selected < n_samples, f"the lasso selected {selected} of {n_samples}"
        assert f"{selected:,} selected" in map_panel.inner_text()
        ui.shoot(map_panel, "01_map_lasso")

    with ui.step("the other views show the lasso selection"):
        lasso_shots = [("02_matrices_lasso", "Matrices"), ("03_trajectories_lasso", "Trajectories")]
        for name, title in lasso_shots:
            if title not in ui.workbench.locator(".lm-TabBar-tabLabel").all_inner_texts():
                continue
            panel = ui.tab(title)
            ui.wait_for_plots(panel)
            wait_until(
                lambda panel=panel: f"{selected:,} selected" in panel.inner_text(),
                timeout=30,
                what=f"{title} to say {selected:,} selected",
            )
            ui.shoot(panel, name)

    with ui.step("the review queue shows the selection"):
        queue_panel = ui.tab("Review")
        title = wait_until(
            lambda: _QUEUE_TITLE.match(queue_title.inner_text()),
            timeout=30,
            what="the queue's title to show the selection",
        )
        assert _int(title.group(1)) == selected, (title.group(0), selected, before)
        rows = queue_panel.locator(".wb-q-row")
        assert rows.count() == min(selected, 20)
        assert f"of {selected:,}" in queue_panel.locator(".wb-q-footer").inner_text()
        ui.shoot(queue_panel, "04_queue")

    with ui.step("decide with keys in the queue"):
        # The quickstart decides a few samples in code; ours come on top of those.
        decided_before = ui.header()[2]
        rows.nth(0).locator(".wb-q-pos").click()  # focuses the queue, cursor on row 1
        assert page.evaluate(
            "() => !!(document.activeElement && document.activeElement.closest('.wb-queue'))"
        ), "clicking a queue row did not give the queue the keyboard focus"
        expected, newly_decided = {}, 0
        for position, (key, action) in enumerate([("x", "remove"), ("a", "keep")]):
            if position >= selected:
                break
            row = rows.nth(position)
            wait_until(
                lambda row=row: "wb-q-focused" in (row.get_attribute("class") or ""),
                timeout=15,
                what=f"the cursor on row {position + 1}",
            )
            index = _int(row.locator(".wb-q-index").inner_text().lstrip("#"))
            newly_decided += row.locator(".wb-q-decision").inner_text() == "undecided"
            page.keyboard.press(key)  # decides, then the cursor moves to the next row
            row.locator(".wb-q-decision", has_text=action).wait_for()
            expected[index] = action
        decided = wait_until(
            lambda: ui.header()[2] == decided_before + newly_decided and ui.header()[2],
            timeout=15,
            what=f"{decided_before + newly_decided} decided in the workbench header",
        )
        assert "remove" in queue_panel.locator(".wb-q-tally").inner_text()
        ui.shoot(queue_panel, "05_queue_decided")

    with ui.step("the decisions view shows them"):
        decisions = ui.tab("Decisions")
        table = decisions.locator(".wb-dv-table")
        table.wait_for()
        latest = table.locator("tbody tr").all()[: len(expected)]  # the log is latest first
        heads = [h.inner_text().strip() for h in table.locator("thead th").all()]
        at_index, at_action = heads.index("index"), heads.index("action")
        shown = {
            _int(r.locator("td").nth(at_index).inner_text()): r.locator("td")
            .nth(at_action)
            .inner_text()
            for r in latest
        }
        assert shown == expected, (shown, expected)
        counts = dict(
            (name, _int(n))
            for n, name in re.findall(
                r"([\d,]+) (keep|remove|relabel|needs review|undecided)\b", decisions.inner_text()
            )
        )
        assert sum(v for k, v in counts.items() if k != "undecided") == decided, counts
        ui.shoot(decisions, "06_decisions")

    with ui.step("export the decisions"):
        decisions.get_by_role("button", name="JSON", exact=True).click()
        status = wait_until(
            lambda: re.search(r"Wrote ([\d,]+) decisions to (\S+)", decisions.inner_text()),
            timeout=30,
            what="the export message",
        )
        written = Path(status.group(2))
        assert written == (root / "decisions.json").resolve(), written
        assert written.is_file()
        reloaded = DecisionLog.load(written).current()
        on_file = dict(zip(reloaded["index"].tolist(), reloaded["action"], strict=True))
        assert len(on_file) == decided, (on_file, decided)
        assert {i: on_file.get(i) for i in expected} == expected, on_file

    with ui.step("read the export back in the notebook"):
        decisions.get_by_placeholder("path/to/their_decisions.json").fill("decisions.json")
        decisions.locator("button", has_text=re.compile(r"^\s*Merge\s*$")).click()  # icon + text
        merged = wait_until(
            lambda: re.search(
                r"(\d+) new decision\(s\) taken, (\d+) identical, (\d+) conflict",
                decisions.inner_text(),
            ),
            timeout=30,
            what="the merge report",
        )
        assert merged.groups() == ("0", str(decided), "0"), merged.group(0)
        out = ui.run_new_cell(
            "import json\nfrom workbench.decisions.log import DecisionLog\n"
            "_log = DecisionLog.load('decisions.json').current()\n"
            "print(json.dumps(dict(zip(map(str, _log['index'].tolist()), _log['action']))))"
        )
        in_kernel = {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}
        assert in_kernel == on_file

    with ui.step("clear the selection, then select a matrix cell with a click"):
        ui.workbench.locator("button", has_text="Clear selection").click()
        wait_until(lambda: ui.header()[0] == 0, timeout=30, what="0 selected after clearing")
        matrices = ui.tab("Matrices")
        ui.wait_for_plots(matrices)
        cell = page.evaluate(_LARGEST_OFF_DIAGONAL_JS, matrices.element_handle())
        assert cell["count"] > 0, cell
        page.mouse.click(cell["x"], cell["y"])
        wait_until(
            lambda: ui.header()[0] == cell["count"],
            timeout=30,
            what=f"the {cell['count']} samples of confusion cell {cell}",
        )
        title = wait_until(
            lambda: _QUEUE_TITLE.match(ui.tab("Review").locator(".wb-q-title").inner_text()),
            timeout=30,
            what="the queue's title to show the cell's samples",
        )
        assert _int(title.group(1)) == cell["count"], (title.group(0), cell)

    with ui.step("screenshots of the views showing the matrix cell"):
        shots = [
            ("07_detectors", "Detectors"),
            ("08_matrices_cell", "Matrices"),
            ("09_trajectories_cell", "Trajectories"),
            ("10_map_cell", "Map"),
        ]
        titles = ui.workbench.locator(".lm-TabBar-tabLabel").all_inner_texts()
        for name, title in shots:
            if title in titles:
                panel = ui.tab(title)
                ui.wait_for_plots(panel)
                ui.shoot(panel, name)
        page.screenshot(path=str(ARTIFACTS / "page.png"))

    errors = [f"[pageerror] {e}" for e in ui.page_errors]
    errors += [line for line in ui.console if line.startswith("[error]")]
    assert not errors, "Errors in the browser console:\n" + "\n".join(errors)
