"""The workbench on a multi-label dataset in a real JupyterLab at a laptop's width (1280 px):
it opens on label sets (tags derived from the digits), and the review queue toggles a class,
takes the suggested set and saves with the keyboard, the decision reaching the kernel's log as
a label-set edit.

Screenshots land in ``test-artifacts/browser/latest/multilabel_*.png`` (this run's folder).
"""

from __future__ import annotations

import json

import pytest
from _lab import (
    ARTIFACTS,
    RUN_IN_KERNEL_JS,
    open_notebook,
    run_all_cells,
    wait_for_workbench,
    wait_until,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "multilabel_workbench.ipynb"
VIEWPORT = {"width": 1280, "height": 900}

# The notebook's multi-label demo (tags of the digits, missing and extra tags simulated), with
# per-class probabilities made from the truth (no training, so the test stays quick).
SETUP = r"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from workbench.core.dataset import Dataset
from workbench.noise.multilabel import flip_labels
from workbench.ui import Workbench

d = load_digits()
tags = ["even", "prime", "loop", "large", "straight"]
members = {"even": {0, 2, 4, 6, 8}, "prime": {2, 3, 5, 7}, "loop": {0, 6, 8, 9},
           "large": {5, 6, 7, 8, 9}, "straight": {1, 4, 7}}
true = np.stack([np.isin(d.target, sorted(members[t])) for t in tags], axis=1)
given = flip_labels(true, missing_rate=0.12, extra_rate=0.03, seed=0).noisy_labels
rng = np.random.default_rng(0)
probs = np.clip(true * 0.65 + rng.random(true.shape) * 0.35, 0, 1)
ds = Dataset(given, class_names=tags, pred_probs=probs, true_labels=true,
             previews=list(d.images), coords=PCA(2, random_state=0).fit_transform(d.data))
wb = Workbench(ds)
"""


@pytest.fixture(scope="module")
def workbench_page(lab, lab_root, headless_chromium):
    """The Lab page of a notebook that shows the workbench on multi-label data, its cells run;
    ``errors`` collects the page's uncaught JavaScript errors."""
    write_notebook(lab_root / NOTEBOOK, [SETUP, "wb"])
    page = headless_chromium.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
    try:
        open_notebook(page, lab, NOTEBOOK)
        run_all_cells(page)
        wait_for_workbench(page)
        page.errors = errors
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "multilabel_page.png"))
        page.close()


def run(page, code: str) -> str:
    return page.evaluate(RUN_IN_KERNEL_JS, code)


def tab(page, title: str):
    tabs = page.locator(".wb-workbench").last.locator(".jupyter-widget-tab").first
    tabs.locator(".lm-TabBar-tab", has_text=title).first.click()
    panel = tabs.locator(".widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)").first
    panel.wait_for(state="visible")
    return panel


def test_workbench_opens_on_label_sets(workbench_page):
    workbench = workbench_page.locator(".wb-workbench").last
    assert "5 classes" in workbench.locator(".wb-summary").inner_text()
    titles = workbench.locator(".lm-TabBar-tab").all_inner_texts()
    assert [t.strip() for t in titles] == ["Map", "Detectors", "Review", "Matrices", "Decisions"]
    menu = workbench.locator("select").first
    options = [o.replace("\xa0", " ") for o in menu.locator("option").all_inner_texts()]
    assert options[0] == "label count" and "has: prime" in options, options
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workbench.screenshot(path=str(ARTIFACTS / "multilabel_map.png"))
    panel = tab(workbench_page, "Matrices")
    workbench_page.wait_for_function(
        "(el) => el.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
        arg=panel.element_handle(), timeout=240_000,
    )  # fmt: skip
    workbench_page.wait_for_timeout(800)
    panel.screenshot(path=str(ARTIFACTS / "multilabel_matrices.png"))
    panel = tab(workbench_page, "Detectors")  # precision and recall against the true label sets
    workbench_page.wait_for_function(
        "(el) => el.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
        arg=panel.element_handle(), timeout=240_000,
    )  # fmt: skip
    workbench_page.wait_for_timeout(800)
    assert "recall" in panel.inner_text()
    panel.screenshot(path=str(ARTIFACTS / "multilabel_detectors.png"))
    assert workbench_page.errors == []


def test_review_toggles_a_class_with_the_keyboard(workbench_page):
    panel = tab(workbench_page, "Review")
    queue = panel.locator(".wb-lsq").first
    queue.wait_for(state="visible")
    queue.locator(".wb-lsq-legend").click()  # focus the queue, as a reviewer does
    code = "_w = wb.queue.widget; print(json.dumps([_w.index, _w.given, _w.working, _w.suggested]))"
    state = json.loads(run(workbench_page, f"import json\n{code}"))
    index, given, working, suggested = state
    assert working == given
    assert queue.locator("img.wb-lsq-preview").count() == 1  # the digit under review
    toggle = queue.locator(".wb-lsq-toggle").nth(1)
    before = toggle.get_attribute("aria-pressed")
    workbench_page.keyboard.press("1")  # toggles class 1, "prime"
    wait_until(lambda: toggle.get_attribute("aria-pressed") != before, timeout=15,
               what="the prime toggle to flip")  # fmt: skip
    working_now = "print(json.dumps(wb.queue.widget.working))"
    flipped = json.loads(run(workbench_page, working_now))
    assert flipped[1] != working[1] and flipped[:1] + flipped[2:] == working[:1] + working[2:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "multilabel_review.png"))
    workbench_page.keyboard.press("s")  # take the suggested set
    wait_until(
        lambda: json.loads(run(workbench_page, working_now)) == suggested,
        timeout=15, what="the suggested set",
    )  # fmt: skip
    workbench_page.keyboard.press("Enter")  # save and move on
    wait_until(
        lambda: run(workbench_page, f"print(wb.queue.widget.index != {index})").strip() == "True",
        timeout=15, what="the next sample",
    )  # fmt: skip
    out = run(
        workbench_page, f"print(wb.session.decisions.label_sets(ds.labels)[{index}].tolist())"
    )
    assert json.loads(out.replace("True", "true").replace("False", "false")) == suggested
    assert "1 decided" in workbench_page.locator(".wb-workbench .wb-selection").last.inner_text()
    workbench_page.keyboard.press("u")  # undo: back to that sample, nothing decided
    queue.locator(".wb-lsq-message", has_text=f"Undone: sample {index}").wait_for()
    assert "0 decided" in workbench_page.locator(".wb-workbench .wb-selection").last.inner_text()
    assert workbench_page.errors == []


def _state(page) -> dict:
    code = ("import json; _w = wb.queue.widget\n"
            "print(json.dumps({'position': _w.position, 'index': _w.index, 'total': _w.total, "
            "'page': _w.page, 'n_selected': _w.n_selected, 'message': _w.message}))")  # fmt: skip
    return json.loads(run(page, code))


def test_review_pages_marks_rows_and_takes_suggested_sets_in_bulk(workbench_page):
    panel = tab(workbench_page, "Review")
    queue = panel.locator(".wb-lsq").first
    queue.wait_for(state="visible")
    queue.locator(".wb-lsq-legend").click()  # focus the queue
    workbench_page.keyboard.press("Home")
    wait_until(lambda: _state(workbench_page)["position"] == 0, timeout=15, what="the first sample")
    rows = queue.locator("tr.wb-lsq-row")
    total = _state(workbench_page)["total"]
    assert total > 40, total  # enough flagged samples for three pages
    wait_until(lambda: rows.count() == 20, timeout=15, what="a page of 20 rows")
    current = queue.locator("tr.wb-lsq-current")
    assert current.get_attribute("data-position") == "0"
    workbench_page.keyboard.press("j")  # the cursor moves down the page
    wait_until(lambda: current.get_attribute("data-position") == "1", timeout=15,
               what="the cursor on row 2")  # fmt: skip
    workbench_page.keyboard.press("PageDown")  # and pages on
    wait_until(lambda: current.get_attribute("data-position") == "21", timeout=15,
               what="the cursor a page further")  # fmt: skip
    assert queue.locator(".wb-lsq-page").inner_text().startswith("page 2 / ")
    assert rows.first.get_attribute("data-position") == "20"
    workbench_page.keyboard.press("PageUp")
    wait_until(lambda: _state(workbench_page)["page"] == 0, timeout=15, what="the first page")
    # mark the sample under review (space) and the 4th row (its box), then a note
    here = _state(workbench_page)["position"]
    assert here in (1, 2)  # PageUp keeps the row on the page
    workbench_page.keyboard.press("Space")
    wait_until(lambda: _state(workbench_page)["n_selected"] == 1, timeout=15, what="one marked row")
    rows.nth(3).locator("input.wb-lsq-mark").click()
    wait_until(
        lambda: _state(workbench_page)["n_selected"] == 2, timeout=15, what="two marked rows"
    )
    assert "2 marked" in queue.locator(".wb-lsq-marked").inner_text()
    marked = json.loads(run(workbench_page, "print(json.dumps(sorted(wb.queue.selected)))"))
    workbench_page.keyboard.press("n")  # the note box takes the keys
    note = queue.locator("input.wb-lsq-note")
    wait_until(lambda: note.evaluate("(el) => document.activeElement === el"), timeout=15,
               what="the note box focused")  # fmt: skip
    workbench_page.keyboard.type("checked in bulk")
    workbench_page.keyboard.press("Enter")  # back to the queue
    note_now = "print(wb.queue.widget.note)"
    wait_until(lambda: run(workbench_page, note_now).strip() == "checked in bulk", timeout=15,
               what="the note in the kernel")  # fmt: skip
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "multilabel_review_page.png"))
    queue.locator("button.wb-lsq-bulk-suggested").click()
    taken = "Suggested sets taken: 2 samples"
    wait_until(lambda: taken in _state(workbench_page)["message"], timeout=15,
               what="the bulk decision")  # fmt: skip
    check = (
        "import json; _e = wb.session.decisions.label_sets(ds.labels)\n"
        "_c = wb.session.decisions.current().set_index('index')\n"
        f"print(json.dumps([bool((_e[i] == wb.queue.queue.suggested[i]).all()) for i in {marked}]"
        f" + [str(_c.loc[i, 'note']) for i in {marked}]))"
    )
    expected = [True, True, "checked in bulk", "checked in bulk"]
    assert json.loads(run(workbench_page, check)) == expected
    decided = queue.locator("tr.wb-lsq-selected")
    assert decided.count() == 0  # the marks are cleared
    cells = [queue.locator(f"tr.wb-lsq-row[data-position='{p}'] .wb-lsq-decision").inner_text()
             for p in (here, 3)]  # fmt: skip
    assert all(c.startswith(("edit →", "keep")) for c in cells), cells
    workbench_page.keyboard.press("u")  # one undo takes both back
    queue.locator(".wb-lsq-message", has_text="Undone: 2 samples").wait_for()
    assert run(workbench_page, "print(len(wb.session.decisions.current()))").strip() == "0"
    assert workbench_page.errors == []
