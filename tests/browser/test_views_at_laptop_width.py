"""The workbench in a real JupyterLab at a laptop's size (1280×800, file browser open): every
tab fits the notebook column without horizontal scrolling, a lasso on the Trajectories tab's
data map reaches the session and the header, and the review keys (undo, class picker, note)
work with a real keyboard.

A small notebook written into the test's temporary Lab folder (the digits demo with
precomputed signals: no training) keeps this quick. Screenshots of every tab land in
``test-artifacts/browser/latest/laptop_*.png`` (this run's folder).
"""

from __future__ import annotations

import json
import re

import numpy as np
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

NOTEBOOK = "laptop_width.ipynb"
VIEWPORT = {"width": 1280, "height": 800}

SETUP = r"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from workbench.analysis.detectors import DetectorResult
from workbench.core.dataset import Dataset
from workbench.session import Session
from workbench.ui import Workbench

d = load_digits()
rng = np.random.default_rng(0)
true = d.target
given = true.copy()
flip = rng.random(len(true)) < 0.12
given[flip] = (given[flip] + rng.integers(1, 10, flip.sum())) % 10
pp = np.full((len(true), 10), 0.02)
pp[np.arange(len(true)), true] = 0.82
pp = 0.6 * pp + 0.4 * rng.dirichlet(np.ones(10), len(true))
noisy = given != true
gp = np.clip(np.where(noisy, 0.15, 0.7)[:, None] + 0.3 * rng.random((len(true), 8)), 0, 1)
ds = Dataset(given, pred_probs=pp, true_labels=true, previews=list(d.images),
             coords=PCA(2, random_state=0).fit_transform(d.data),
             trajectories={"given_prob": gp, "loss": -np.log(gp + 1e-3)})
score = 1 - pp[np.arange(len(given)), given]
results = {
    "cl_prune_by_noise_rate": DetectorResult("cl_prune_by_noise_rate", score, score > 0.5,
                                             pp.argmax(axis=1)),
    "weak": DetectorResult("weak", rng.random(len(given)) + noisy, rng.random(len(given)) > 0.9),
}
wb = Workbench(ds, results=results)
"""

# Everything in the workbench that reaches past the right edge of the notebook's output area,
# and every box that scrolls sideways.
_OVERFLOW_JS = r"""(wb) => {
  const area = wb.closest('.jp-OutputArea-output') || wb.parentElement;
  const right = area.getBoundingClientRect().right;
  const name = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
    ? '.' + el.className.trim().split(/\s+/).slice(0, 3).join('.') : '');
  const past = [], scrolls = [];
  for (const el of wb.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (el.closest('.lm-mod-hidden, [hidden]')) continue;
    if (el.closest('.modebar-container, .hoverlayer, datalist')) continue;
    if (r.right > right + 1) past.push(`${name(el)} ends at ${Math.round(r.right)} > ${Math.round(right)}`);
    const style = getComputedStyle(el);
    if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1)
      scrolls.push(`${name(el)} scrolls sideways: ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return {right, areaWidth: area.getBoundingClientRect().width, past: past.slice(0, 12),
          scrolls: scrolls.slice(0, 12)};
}"""

# plotly figures per tab (the map is WebGL, not plotly)
_PLOTS = {"Detectors": 2, "Matrices": 1, "Trajectories": 2}
_HEADER = re.compile(r"([\d,]+) selected · ([\d,]+) flagged by .+? · ([\d,]+) decided")


class Page:
    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"{e}\n{e.stack}"))

    def run(self, code: str) -> str:
        return self.page.evaluate(RUN_IN_KERNEL_JS, code)

    @property
    def workbench(self):
        return self.page.locator(".wb-workbench").last

    def tab(self, title: str):
        tabs = self.workbench.locator(".jupyter-widget-tab").first
        tabs.locator(".lm-TabBar-tab", has_text=re.compile(rf"^{re.escape(title)}$")).click()
        panel = tabs.locator(".widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)").first
        panel.wait_for(state="visible")
        # every figure the tab holds drawn with its data (minutes on a busy 2-core machine)
        self.page.wait_for_function(
            """([el, n]) => {
                 const plots = [...el.querySelectorAll('.js-plotly-plot')];
                 return plots.length >= n && plots.every(
                   gd => gd._fullData && gd._fullData.length && gd.querySelector('.main-svg'));
               }""",
            arg=[panel.element_handle(), _PLOTS.get(title, 0)],
            timeout=240_000,
        )
        self.page.wait_for_timeout(800)
        return panel

    def header(self) -> tuple[int, int, int] | None:
        m = _HEADER.search(self.workbench.locator(".wb-selection").inner_text())
        return tuple(int(g.replace(",", "")) for g in m.groups()) if m else None

    def shoot(self, locator, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        locator.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture(scope="module")
def ui(lab, lab_root, headless_chromium):
    write_notebook(lab_root / NOTEBOOK, [SETUP, "wb"])
    page = headless_chromium.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    p = Page(page)
    try:
        open_notebook(page, lab, NOTEBOOK)
        # the file browser stays open, as a user has it; the news toast is answered
        assert page.locator(".jp-FileBrowser").first.is_visible()
        run_all_cells(page)
        wait_for_workbench(page)
        yield p
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "laptop_page.png"))
        page.close()


def test_every_tab_fits_the_notebook_column(ui):
    report = {}
    for title in ["Map", "Detectors", "Review", "Matrices", "Trajectories", "Decisions"]:
        panel = ui.tab(title)
        ui.page.mouse.move(2, 2)
        out = ui.page.evaluate(_OVERFLOW_JS, ui.workbench.element_handle())
        ui.shoot(ui.workbench, f"laptop_{title.lower()}")
        report[title] = out
        assert panel.is_visible()
    bad = {t: r["past"] + r["scrolls"] for t, r in report.items() if r["past"] or r["scrolls"]}
    assert not bad, json.dumps(bad, indent=1)
    width = report["Map"]["areaWidth"]
    assert 800 <= width <= 1000, f"the output area is {width} px wide, not a laptop's column"
    # the figures shared one plotly.js, asked for once and sent once by the kernel
    page = ui.page.evaluate(
        """() => { const s = globalThis[Symbol.for('workbench.plotly.widgetbundle')] || {};
                   return [s.loads, s.requests, s.answers]; }"""
    )
    sent = ui.run(
        "print(sum(getattr(_w, 'bundles_sent', 0) for _w in "
        "__import__('ipywidgets').widgets.widget._instances.values()))"
    )
    assert page == [1, 1, 1] and sent.strip() == "1", (page, sent)
    assert ui.errors == []


def test_lasso_on_the_trajectories_data_map_selects_everywhere(ui):
    ui.run("wb.session.clear_selection()")
    panel = ui.tab("Trajectories")
    wait_until(lambda: ui.header() and ui.header()[0] == 0, timeout=20, what="0 selected")
    data_map = panel.locator(".js-plotly-plot").nth(1)
    data_map.scroll_into_view_if_needed()
    box = data_map.locator(".nsewdrag").first.bounding_box()
    pts = [(0.03, 0.55), (0.97, 0.55), (0.97, 0.97), (0.03, 0.97), (0.03, 0.6)]
    ui.page.mouse.move(box["x"] + pts[0][0] * box["width"], box["y"] + pts[0][1] * box["height"])
    ui.page.mouse.down()
    for fx, fy in pts[1:]:
        ui.page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=10)
        ui.page.wait_for_timeout(30)
    ui.page.mouse.up()
    selected = wait_until(
        lambda: (ui.header() or (0,))[0], timeout=30, what="a selection in the header"
    )
    kernel = ui.run("print(wb.session.selection.size, wb.session.selection_source)").split()
    assert kernel == [str(selected), "trajectories"], (kernel, selected)
    assert 10 < selected < 1797
    assert f"{selected:,} selected" in panel.inner_text()
    ui.shoot(panel, "laptop_trajectories_lasso")
    # shown again (a second display of the figure): no error
    out = ui.run(
        "from IPython.display import display\ndisplay(wb.trajectories.data_map)\n"
        "print(len(wb.trajectories.data_map.to_json()) > 0)"
    )
    assert out.strip().endswith("True") and "Error" not in out, out
    ui.run("wb.session.clear_selection()")


def test_review_keys_undo_pick_a_class_and_note(ui):
    panel = ui.tab("Review")
    rows = panel.locator(".wb-q-row")
    rows.first.locator(".wb-q-pos").click()  # focus the queue, cursor on row 1
    first = int(rows.nth(0).locator(".wb-q-index").inner_text().lstrip("#"))
    ui.page.keyboard.press("x")
    rows.nth(0).locator(".wb-q-decision", has_text="remove").wait_for()
    wait_until(lambda: "wb-q-focused" in rows.nth(1).get_attribute("class"), timeout=15,
               what="the cursor on row 2")  # fmt: skip
    ui.page.keyboard.press("u")
    wait_until(lambda: "wb-q-focused" in rows.nth(0).get_attribute("class"), timeout=15,
               what="the cursor back on row 1 after undo")  # fmt: skip
    assert rows.nth(0).locator(".wb-q-decision").inner_text() == "undecided"
    # every digit key names its class
    digits = panel.locator(".wb-q-digits .wb-q-legend-item").all_inner_texts()
    assert [t.split() for t in digits][:3] == [["0", "0"], ["1", "1"], ["2", "2"]]
    # n: a note, filed with the next decision
    ui.page.keyboard.press("n")
    focused = ui.page.evaluate("document.activeElement.className")
    assert focused == "wb-q-note", focused
    ui.page.keyboard.type("smudged scan")
    wait_until(
        lambda: ui.run("print(wb.queue.widget.note)").strip() == "smudged scan",
        timeout=15,
        what="the note in the kernel",
    )
    ui.page.keyboard.press("Enter")
    # c: type-to-filter class box on the current row
    ui.page.keyboard.press("c")
    focused = ui.page.evaluate("document.activeElement.className")
    assert focused == "wb-q-picker", focused
    ui.page.keyboard.type("7")
    ui.page.keyboard.press("Enter")
    rows.nth(0).locator(".wb-q-decision", has_text="relabel → 7").wait_for()
    out = ui.run(
        f"_c = wb.session.decisions.current().set_index('index').loc[{first}]\n"
        "print(_c['action'], _c['label_name'], '|', _c['note'])"
    )
    assert out.strip() == "relabel 7 | smudged scan", out
    ui.shoot(panel, "laptop_review_keys")
    assert ui.errors == []


_THRESHOLD_LINE_JS = r"""(panel) => {
  const gd = [...panel.querySelectorAll('.js-plotly-plot')].find(
    (g) => (g._fullLayout.xaxis.title.text || '').includes('noise score'));
  gd.scrollIntoView({block: 'center'});  // the tab is taller than a laptop's window
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const line = gd._fullLayout.shapes[0].x0;
  return {x: box.left + xa._offset + xa.l2p(line), y: box.top + ya._offset + ya._length * 0.6,
          line, pxPerUnit: xa._m};
}"""


def test_drag_the_histograms_threshold_line(ui):
    ui.run("wb.session.set_threshold('default')")
    panel = ui.tab("Detectors")
    before = ui.header()[1]
    line = ui.page.evaluate(_THRESHOLD_LINE_JS, panel.element_handle())
    ui.page.mouse.move(line["x"], line["y"])
    ui.page.mouse.down()
    for step in range(1, 11):  # 80 px to the left: a lower threshold, more flagged
        ui.page.mouse.move(line["x"] - 8 * step, line["y"])
        ui.page.wait_for_timeout(30)
    ui.page.mouse.up()
    flagged = wait_until(
        lambda: ui.header()[1] != before and ui.header()[1], timeout=60, what="a new threshold"
    )
    mode, value = ui.run("print(*wb.session.threshold)").split()
    assert mode == "score" and float(value) < line["line"] and flagged > before
    assert flagged == int(ui.run(f"print(int((wb.session.result.scores >= {value}).sum()))"))
    ui.shoot(panel, "laptop_detectors_histogram_drag")
    ui.run("wb.session.set_threshold('default')")


def test_queue_filters_and_find_by_id(ui):
    panel = ui.tab("Review")
    panel.locator("select.wb-q-filter_given").select_option("3")
    title = panel.locator(".wb-q-title")
    wait_until(lambda: "filtered: given 3" in title.inner_text(), timeout=30, what="the filter")
    givens = {t.split()[0] for t in panel.locator(".wb-q-given").all_inner_texts()}
    assert givens == {"3"}, givens
    panel.locator("select.wb-q-filter_given").select_option("-1")
    wait_until(lambda: "filtered" not in title.inner_text(), timeout=30, what="no filter")
    target = panel.locator(".wb-q-row").nth(4).locator(".wb-q-index").inner_text().lstrip("#")
    find = panel.locator(".wb-q-find")
    find.fill(target)
    find.press("Enter")
    rows = panel.locator(".wb-q-row")
    wait_until(
        lambda: "wb-q-focused" in (rows.nth(4).get_attribute("class") or ""),
        timeout=30,
        what=f"the cursor on sample {target}",
    )
    assert f"Found sample {target} at row 5" in panel.locator(".wb-q-message").inner_text()
    ui.shoot(panel, "laptop_review_filters")
    assert ui.errors == []


# jupyter-scatter's tooltip: the one absolutely placed, rounded box that ignores the mouse
_TOOLTIP_JS = r"""(el) => {
  const t = [...el.querySelectorAll('div')].find(
    (d) => d.style.borderRadius === '0.2rem' && d.style.pointerEvents === 'none');
  return t ? {opacity: parseFloat(getComputedStyle(t).opacity), text: t.innerText} : null;
}"""


def _neutral_share(img) -> tuple[float, float]:
    """Shares of the map's covered pixels that are grey (r = g = b) and coloured."""
    from _scale import map_pixels

    covered = map_pixels(img)
    rgb = img.astype(int)
    neutral = (np.ptp(rgb, axis=2) <= 10) & covered
    n = max(int(covered.sum()), 1)
    return float(neutral.sum() / n), float((covered & ~neutral).sum() / n)


def test_map_legend_above_the_points_and_grey_outside_a_selection(ui):
    """The legend box hid points (now a row above the map); while a selection is shown the
    others stay visible, in grey, and the selected keep their colours."""
    from _scale import pixels

    ui.run("wb.session.clear_selection(); wb.map.set_color_by('given label')")
    panel = ui.tab("Map")
    canvas = panel.locator("canvas").first
    legend = panel.locator(".wb-map-legend")
    assert "given label" in legend.inner_text()
    lb, cb = legend.bounding_box(), canvas.bounding_box()
    assert lb["y"] + lb["height"] <= cb["y"] + 1, (lb, cb)  # above the plot, not over it
    ui.page.mouse.move(2, 2)
    ui.page.wait_for_timeout(500)
    grey_before, coloured_before = _neutral_share(pixels(canvas))
    assert coloured_before > 0.9, (grey_before, coloured_before)
    ui.run("wb.session.select(np.flatnonzero(ds.labels == 0), source='python')")
    wait_until(
        lambda: "not selected" in legend.inner_text(), timeout=30, what="the selection legend"
    )
    ui.page.wait_for_timeout(1500)
    grey, coloured = _neutral_share(pixels(canvas))
    ui.shoot(panel, "laptop_map_selection_grey")
    # about a tenth selected: most points grey, the selected ones still in colour
    assert grey > 0.5 and 0.02 < coloured < 0.5, (grey, coloured)
    ui.run("wb.session.clear_selection()")
    assert ui.errors == []


def test_map_tooltip_shows_the_id_and_never_covers_a_lasso(ui):
    ui.run("wb.session.clear_selection(); wb.map.set_color_by('given label')")
    panel = ui.tab("Map")
    canvas = panel.locator("canvas").first
    box = canvas.bounding_box()
    page = ui.page
    # pan & zoom: hovering a point shows its id in the tooltip (a sweep until the side
    # panel says a point is hovered)
    ui.run("wb.map._hovered = None; wb.map._update_panel()")
    side = panel.locator(".wb-map-panel").first
    spot = None
    for fy in (0.5, 0.4, 0.6, 0.3, 0.7):
        for fx in (0.5, 0.4, 0.6, 0.3, 0.7, 0.45, 0.55):
            x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
            page.mouse.move(x, y, steps=2)
            page.wait_for_timeout(250)
            if side.count() and "hovered" in side.inner_text():
                spot = (x, y)
                break
        if spot:
            break
    assert spot, "no point under the mouse near the map's centre"
    tip = wait_until(
        lambda: (
            (t := page.evaluate(_TOOLTIP_JS, panel.element_handle())) and t["opacity"] > 0.9 and t
        ),
        timeout=30,
        what="the tooltip",
    )
    hovered_id = ui.run("print(wb.map.id_text(wb.map._hovered))").strip()
    assert re.search(rf"^Id\s+{re.escape(hovered_id)}$", tip["text"], re.M), (tip, hovered_id)
    assert "suggested" not in tip["text"]  # the side panel's, not the tooltip's
    assert f"id {hovered_id}" in panel.locator(".wb-map-panel").inner_text()
    page.mouse.move(2, 2)
    # the lasso tool: hover a point, press at once (the tooltip was scheduled by the hover)
    # and drag slowly for more than a second; no tooltip over the lasso
    panel.locator('button[title="Activate lasso selection"]').click()
    wait_until(
        lambda: ui.run("print(wb.map.scatter.widget.tooltip_enable)").strip() == "False",
        timeout=30,
        what="no tooltips in lasso mode",
    )
    page.mouse.move(*spot, steps=2)
    page.wait_for_timeout(150)
    page.mouse.down()
    seen = []
    path = [(60, 0), (60, 60), (0, 60), (-10, 10)]
    x0, y0 = spot
    for dx, dy in path:
        for t in (0.25, 0.5, 0.75, 1.0):
            page.mouse.move(x0 + t * dx, y0 + t * dy)
            page.wait_for_timeout(90)
            tip = page.evaluate(_TOOLTIP_JS, panel.element_handle())
            seen.append(tip["opacity"] if tip else 0.0)
        x0, y0 = x0 + dx, y0 + dy
    page.mouse.up()
    assert max(seen) < 0.05, seen
    selected = wait_until(
        lambda: (ui.header() or (0,))[0], timeout=30, what="the lasso's selection"
    )
    assert selected > 0
    panel.locator('button[title="Activate pan & zoom"]').click()
    wait_until(
        lambda: ui.run("print(wb.map.scatter.widget.tooltip_enable)").strip() == "True",
        timeout=30,
        what="tooltips back in pan & zoom mode",
    )
    ui.run("wb.session.clear_selection()")
    assert ui.errors == []


_HISTOGRAM_JS = r"""(panel) => {
  const gd = [...panel.querySelectorAll('.js-plotly-plot')].find(
    (g) => g._fullLayout && (g._fullLayout.xaxis.title.text || '').includes('noise score'));
  if (!gd) return null;
  const ya = gd._fullLayout.yaxis;
  const bars = [...gd.querySelectorAll('.barlayer .trace')].map(
    (tr) => [...tr.querySelectorAll('.point path')].map((p) => p.getBBox().height));
  return {y: gd._fullData.map((t) => Array.from(t.y)), bars, pxPerSample: ya._m,
          line: gd._fullLayout.shapes[0].x0};
}"""


# Everything in the map's column (beside the tabs) that reaches into the tabs
_INTO_THE_TABS_JS = r"""(wb) => {
  const tabs = wb.querySelector('.jupyter-widget-tab');
  const left = tabs.getBoundingClientRect().left;
  const column = tabs.parentElement.firstElementChild;
  return [...column.querySelectorAll('*')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.right > left + 1
      && !el.closest('.lm-mod-hidden, [hidden], .modebar-container, .hoverlayer');
  }).slice(0, 12).map((el) => `${el.tagName.toLowerCase()}.${el.className}`
    + ` ends at ${Math.round(el.getBoundingClientRect().right)} > ${Math.round(left)}`);
}"""


@pytest.mark.parametrize("width", [1600, 1900])
def test_map_beside_the_tabs_in_a_wide_output_area(ui, width):
    """At 1600 and 1900 px with the file browser closed the map stands left of the other
    views and every tab beside it fits without horizontal scrolling; back at the laptop's
    size the map is a tab again."""
    page = ui.page
    page.set_viewport_size({"width": width, "height": 1000})
    page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
    report = {}
    try:
        wait_until(
            lambda: ui.run("print(wb.side_by_side)").strip() == "True",
            timeout=30,
            what="the map beside the tabs",
        )
        ui.page.wait_for_timeout(1500)
        canvas = ui.workbench.locator("canvas").first.bounding_box()
        bar = ui.workbench.locator(".lm-TabBar").first.bounding_box()
        assert canvas["x"] + canvas["width"] <= bar["x"] + 1, (canvas, bar)  # map on the left
        for title in ["Detectors", "Review", "Matrices", "Trajectories", "Decisions"]:
            ui.tab(title)
            ui.page.mouse.move(2, 2)
            report[title] = page.evaluate(_OVERFLOW_JS, ui.workbench.element_handle())
            report[title]["past"] += page.evaluate(_INTO_THE_TABS_JS, ui.workbench.element_handle())
            ui.shoot(ui.workbench, f"wide_{width}_{title.lower()}")
        ui.tab("Detectors")
        ui.shoot(ui.workbench, "wide_side_by_side" if width == 1900 else f"wide_{width}")
    finally:
        page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
        page.set_viewport_size(VIEWPORT)
    bad = {t: r["past"] + r["scrolls"] for t, r in report.items() if r["past"] or r["scrolls"]}
    assert not bad, json.dumps(bad, indent=1)
    wait_until(
        lambda: ui.run("print(wb.side_by_side)").strip() == "False",
        timeout=30,
        what="the map back in its tab",
    )
    panel = ui.tab("Detectors")  # views shown before are still drawn
    assert panel.locator(".js-plotly-plot").count() >= 2
    assert ui.errors == [], "\n---\n".join(ui.errors)


def _histogram_check(ui):
    """``check(panel, what)``: the browser's score histogram (data, line and bar heights in
    pixels) becomes what the kernel holds within a minute."""
    page = ui.page

    def kernel_counts():
        out = ui.run(
            "import json; print(json.dumps([[int(v) for v in t.y] for t in "
            "wb.panel.histogram.data] + [wb.panel.histogram.layout.shapes[0].x0]))"
        )
        *ys, line = json.loads(out.strip().splitlines()[-1])
        return ys, line

    def check(panel, what):
        ys, line = kernel_counts()
        shown = wait_until(
            lambda: (
                (h := page.evaluate(_HISTOGRAM_JS, panel.element_handle())) and h["y"] == ys and h
            ),
            timeout=60,
            what=f"the browser's histogram {what}",
        )
        assert shown["line"] == pytest.approx(line)
        for trace, heights in zip(ys, shown["bars"], strict=True):  # drawn bar heights
            drawn = [h for h in heights if h > 0]
            expected = [v * abs(shown["pxPerSample"]) for v in trace if v > 0]
            assert np.allclose(sorted(drawn), sorted(expected), atol=1.5), what

    return check


def test_histogram_follows_the_kernel_after_its_views_are_drawn_anew(ui):
    """Moving the map beside the tabs and back draws every view anew. plotly's own widget
    kept each removed view listening to its model (through the model-wide FigureModel): each
    change then threw in it and the new view's listener never ran. The figures' module gives
    every view its own FigureModel on the view's model, which anywidget clears with it."""
    page = ui.page
    check = _histogram_check(ui)
    ui.run("wb.session.set_threshold('default')")
    ui.tab("Detectors")
    page.set_viewport_size({"width": 1900, "height": 1000})
    page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
    try:
        wait_until(
            lambda: ui.run("print(wb.side_by_side)").strip() == "True",
            timeout=30,
            what="the map beside the tabs",
        )
        page.wait_for_timeout(1500)
    finally:
        page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
        page.set_viewport_size(VIEWPORT)
    wait_until(
        lambda: ui.run("print(wb.side_by_side)").strip() == "False",
        timeout=30,
        what="the map back in its tab",
    )
    panel = ui.tab("Detectors")
    ui.run("wb.session.set_threshold('top_k', 150)")
    try:
        check(panel, "after its views were drawn anew")
    finally:
        ui.run("wb.session.set_threshold('default')")


def test_histogram_bars_after_a_threshold_change_and_a_page_reload(ui):
    """The browser kept old bar heights of the score histogram: what it draws (data and
    bar heights in pixels) is what the kernel holds after a reload (which draws the widget
    from the state the kernel hands a new page), then after a change and a change while its
    tab is hidden. Last in the module: it reloads the page (the views start anew)."""
    page = ui.page
    check = _histogram_check(ui)

    # built with the default rule, changed since: a new page must draw the change
    ui.run("wb.session.set_threshold('score', float(np.quantile(wb.session.result.scores, 0.5)))")
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(2000)
    page.reload()
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
        "window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel?.status"
        " === 'idle'",
        timeout=180_000,
    )
    # The reloaded page draws the output from the widgets restored from the kernel; where it
    # drew before they were restored ("model not found"), run the display cell again, as a
    # user would: either way every widget in the browser is a new one made from the kernel's
    # state.
    try:
        ui.workbench.wait_for(timeout=60_000)
    except Exception:
        page.evaluate(
            "() => { const nb = window.jupyterapp.shell.currentWidget.content; "
            "nb.activeCellIndex = 1; "
            "return window.jupyterapp.commands.execute('notebook:run-cell'); }"
        )
        ui.workbench.wait_for(timeout=180_000)
    panel = ui.tab("Detectors")
    check(panel, "after a page reload")
    ui.shoot(panel, "laptop_detectors_histogram_reload")
    ui.run("wb.session.set_threshold('top_k', 100)")
    check(panel, "after a threshold change")
    ui.run("wb.select_tab('Map')")  # changed while hidden, then shown again
    ui.run("wb.session.set_threshold('top_k', 120)")
    panel = ui.tab("Detectors")
    check(panel, "after a change while hidden")
    # anywidget reports a model whose code took over 2 s to start (the reloaded page loads
    # every widget's code at once on busy cores) and goes on starting it: the views work
    from _scale import map_pixels, pixels

    canvas = ui.tab("Map").locator("canvas").first
    wait_until(
        lambda: map_pixels(pixels(canvas)).mean() > 0.02, timeout=120, what="the map redrawn"
    )
    slow = "[anywidget] Failed to initialize model."
    others = [e for e in ui.errors if not e.startswith(slow)]
    assert others == [], "\n---\n".join(others)
