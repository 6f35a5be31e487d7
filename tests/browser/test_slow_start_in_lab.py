"""Widgets that start slowly still follow the kernel, in a real JupyterLab.

anywidget gives up on a model whose ES module and ``initialize`` are not ready 2 s after the
page made the model, and from then on drops every message the kernel sends to it (see
``widgets/rejoin.js``); a busy page (a 2-core machine, a million points being drawn) starts
widgets that late. Here each widget's module (told by its size) loads 4 s late, so every widget
starts late, whatever the machine; then the kernel changes each widget and its view must show
the change.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
import pytest
from _lab import (
    ARTIFACTS,
    RUN_IN_KERNEL_JS,
    open_notebook,
    run_all_cells,
    wait_until,
    write_notebook,
)

from workbench.ui._common import figure_widget
from workbench.ui.grid import GridWidget
from workbench.ui.queue import QueueWidget

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "slow_start.ipynb"
SLOW_MS = 4000  # anywidget waits 2 s

# The first ES module of each of the given sizes (UTF-8 bytes) that anywidget makes into a blob
# URL loads ``ms`` late: it is swapped for a module that waits, then hands on the widget's module.
# anywidget's 2 s clock runs from before that moment to the end of the widget's `initialize`.
# ``window.__slowStarts`` counts the modules swapped.
_SLOW_STARTS_JS = """([sizes, ms]) => {
  window.__slowStarts = 0;
  const left = new Set(sizes);
  const original = URL.createObjectURL;
  URL.createObjectURL = function (blob) {
    const url = original.call(URL, blob);
    if (!(blob instanceof Blob && left.delete(blob.size))) return url;
    window.__slowStarts += 1;
    const slow = `await new Promise((done) => setTimeout(done, ${ms}));
      export * from "${url}";
      export { default } from "${url}";`;
    return original.call(URL, new Blob([slow], { type: "text/javascript" }));
  };
}"""

SETUP = """
import plotly.graph_objects as go
from workbench.ui._common import figure_widget
from workbench.ui.grid import GridWidget
from workbench.ui.queue import QueueWidget

grid = GridWidget()
queue = QueueWidget(title="Made by the kernel")
figure = figure_widget(go.Figure(go.Bar(x=[1, 2, 3], y=[3, 1, 2])))
"""

# widget: (its class's ES module, the view once drawn, a change the kernel makes, the view's
# element that shows it, the text it shows)
CASES = {
    "grid": (
        lambda: GridWidget._esm,
        ".wb-grid",
        "grid.total = 7",
        ".wb-grid .wb-g-head",
        r"^7 selected",
    ),
    "queue": (
        lambda: QueueWidget._esm,
        ".wb-queue",
        "queue.title = 'Changed by the kernel'",
        ".wb-queue .wb-q-title",
        r"^Changed by",
    ),
    "figure": (
        lambda: figure_widget(go.Figure())._esm,
        ".js-plotly-plot .main-svg",  # drawn once plotly.js came from the kernel
        "figure.layout.title.text = 'Changed by the kernel'",
        ".js-plotly-plot .gtitle",
        r"^Changed by",
    ),
}


@pytest.fixture(scope="module")
def page(lab, lab_root, headless_chromium):
    """The Lab page of a notebook that shows a selection grid, a review queue and a plotly
    figure, each started later than anywidget waits (its module loaded 4 s late); ``console``
    collects the page's console messages and uncaught errors."""
    write_notebook(lab_root / NOTEBOOK, [SETUP, "grid", "queue", "figure"])
    page = headless_chromium.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(60_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    page.console = console
    try:
        open_notebook(page, lab, NOTEBOOK)
        sizes = [len(str(esm()).encode()) for esm, *_ in CASES.values()]
        assert len(set(sizes)) == len(sizes), sizes  # each widget's module told by its size
        page.evaluate(_SLOW_STARTS_JS, [sizes, SLOW_MS])
        run_all_cells(page)
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "slow_start_page.png"), full_page=True)
        (ARTIFACTS / "slow_start_console.log").write_text("\n".join(console))
        page.close()


def _gave_up_on(page, anywidget_id: str) -> bool:
    page.evaluate("true")  # Playwright hands on the console's messages while it is called
    return any(
        "Failed to initialize model" in line or f"anywidget gave up on {anywidget_id}" in line
        for line in page.console
    )


@pytest.mark.parametrize("widget", list(CASES))
def test_a_widget_that_started_slowly_follows_the_kernel(page, widget):
    _, drawn, change, selector, shown = CASES[widget]
    page.locator(drawn).first.wait_for(state="attached")
    anywidget_id = page.evaluate(RUN_IN_KERNEL_JS, f"print({widget}._anywidget_id, end='')")
    # the condition this test is about: anywidget gave up on the model (it says so, or the
    # page says it took over the model's messages)
    wait_until(lambda: _gave_up_on(page, anywidget_id), timeout=30, what=f"{anywidget_id} dropped")
    page.evaluate(RUN_IN_KERNEL_JS, change)
    page.locator(selector).filter(has_text=re.compile(shown)).first.wait_for(timeout=30_000)
