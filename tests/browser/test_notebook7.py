"""The workbench in Jupyter Notebook 7 (not only JupyterLab): rendered from a three-line
notebook, its review queue answering a key, no widget errors.

Notebook 7 is built from JupyterLab's components but is its own application, with its own
page layout and widget manager set-up; this test catches a view that only works in the Lab.
"""

from __future__ import annotations

import os
import re

import nbformat
import pytest
from _lab import ARTIFACTS, LabServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_FIRST_CELL_STARTED = """() => {
  const prompt = document.querySelector('.jp-NotebookPanel .jp-InputPrompt');
  return !!prompt && /\\[(\\*|\\d+)\\]/.test(prompt.textContent);
}"""

_CELLS = [
    "import workbench as wb\n\nds = wb.load_demo(seed=0)",
    "bench = wb.open_workbench(ds)\nbench",
]


@pytest.fixture(scope="module")
def notebook_server(tmp_path_factory, chromium_path):
    root = tmp_path_factory.mktemp("nb7") / "notebooks"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in _CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "workbench.ipynb")
    server = LabServer(root, app="notebook")
    try:
        yield server
    finally:
        server.stop(keep_log=ARTIFACTS / "notebook7.log")


def test_workbench_in_notebook7(notebook_server, headless_chromium):
    page = headless_chromium.new_page(viewport={"width": 1440, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
    try:
        page.goto(f"{notebook_server.url}/notebooks/workbench.ipynb")
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
        # The kernel answers before the cells run (the status bar of Notebook 7 names it).
        page.locator(".jp-NotebookPanel-toolbar").filter(has_text=re.compile("Python 3")).wait_for(
            timeout=120_000
        )
        # Notebook 7 itself may log errors while loading its settings (seen with the test
        # server's configuration); what counts is that running the workbench adds none.
        before = len(errors)
        for attempt in range(3):  # a click right after start-up can land before the menu works
            page.get_by_role("menuitem", name="Run").click()
            page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()
            try:  # the first cell shows [*] or [1] once it is queued or has run
                page.wait_for_function(_FIRST_CELL_STARTED, timeout=30_000)
                break
            except Exception:
                if attempt == 2:
                    raise

        bench = page.locator(".wb-workbench").last
        bench.wait_for(timeout=int(os.environ.get("WORKBENCH_BROWSER_RUN_TIMEOUT", "300")) * 1000)
        assert page.locator("text=Error displaying widget").count() == 0, "a widget failed"
        tabs = bench.locator(".jupyter-widget-tab").first
        tabs.locator(".lm-TabBar-tab", has_text=re.compile("^Review$")).click()
        row = bench.locator(".wb-q-row").first
        row.wait_for(timeout=60_000)
        row.locator(".wb-q-pos").click()  # the queue takes the keyboard
        page.keyboard.press("x")
        row.locator(".wb-q-decision", has_text="remove").wait_for(timeout=30_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        bench.screenshot(path=str(ARTIFACTS / "notebook7_workbench.png"))
        assert errors[before:] == [], errors[before:]
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "FAILED-notebook7.png"), full_page=True)
        raise
    finally:
        page.close()
