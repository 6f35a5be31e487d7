"""Benchmark: the workbench in a real browser at N = 1,000,000 and 100,000 samples, K = 20.

Starts JupyterLab (on a free localhost port, in a temporary folder) and Debian's headless
Chromium (``/usr/bin/chromium``, WebGL on the CPU) through Playwright, exactly as the
real-browser tests do (``tests/browser/_scale.py``), builds a synthetic dataset in the kernel
(K Gaussian blobs, 5% of the labels flipped, pred_probs, two detectors) and shows
``Workbench(session)``. Per N, in seconds, wall clock as the user sees it:

- ``map_drawn_s``: from running the ``wb`` cell to the map's points on the canvas;
- ``colour_change_s``: colour by "flagged" until the flagged red is on the canvas;
- ``flagged_visible``: the share of the map's pixels in the flagged red is at least a tenth of
  the share of flagged samples (both reported: ``red_pixel_share``, ``flagged_share``);
- ``lasso_100k_s``: a mouse lasso with the lasso tool over about a tenth of the points, from
  the release until the header shows the count (``lasso_selected``) and two frames later;
  ``lasso_kernel_s``: from the release until the kernel has handled the selection (every
  view updated); its split in the browser: ``lasso_sent_s`` (from the release until the
  selection left for the kernel: the lasso's point-in-polygon test and the message),
  ``lasso_frame_s`` (until the map's first frame of its points after the release; null when
  none was drawn) and ``lasso_frames`` (how many frames of the map's points were drawn from the
  release until the end of ``lasso_100k_s``: 0 when the lasso's selection shows as a veil over
  the rest, drawn on its own canvas, ``lasso_veil``);
- ``reset_view_ok``: zoomed in with the mouse wheel, "Reset view" brings back the first view;
- ``detectors_tab_s``: a click on the Detectors tab until its first chart is drawn
  (``detectors_tab_first_text_s``: until anything shows there, the building message;
  ``plotly_loads``: how many times the page evaluated plotly.js for its figures, 1 when they
  share it);
- ``switch_detector_s``: the active detector changed until the header names it;
- ``map_frame_s``: one redraw of the map's points (median of 3), what every change on the map
  costs at least in this browser (WebGL on the CPU);
- ``load_average``: the machine's 1-minute load average before and after (other processes on
  the same cores slow every step).

Run: ``.venv/bin/python benchmarks/browser_scale.py [--n 1000000 100000] [--k 20]``. Screenshots
land in ``test-artifacts/browser_scale/``. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from _scale import FLAG_RGB, ScaleLab, colour_share  # noqa: E402

_TAB_TIMES = """async () => {
  const t0 = performance.now();
  const tabs = document.querySelector('.wb-workbench .jupyter-widget-tab');
  let first = null;
  for (;;) {
    const p = tabs.querySelector('.widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)');
    if (first === null && p && p.innerText.trim()) first = performance.now() - t0;
    if (p && p.querySelector('.js-plotly-plot .main-svg')) break;
    if (performance.now() - t0 > 300000) break;
    await new Promise(r => setTimeout(r, 20));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [first / 1000, (performance.now() - t0) / 1000];
}"""


_FRAME = """async () => {
  const api = [...document.querySelectorAll('.wb-workbench div')].find(d => d.api && d.api.redraw).api;
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await new Promise(r => { api.subscribe('draw', r, 1); api.redraw(); });
    times.push((performance.now() - t0) / 1000);
  }
  return times.sort((a, b) => a - b)[1];
}"""


_WATCH_LASSO = """() => {
  // the lasso's release, when its selection left for the kernel, the map's frames after it
  const log = window._wbLasso = {release: null, sent: null, draws: []};
  const api = [...document.querySelectorAll('.wb-workbench div')].find(d => d.api && d.api.redraw).api;
  api.subscribe('draw', () => { if (log.release !== null) log.draws.push(performance.now()); });
  window.addEventListener('mouseup', () => { log.release = performance.now(); },
                          {capture: true, once: true});
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (log.release !== null && log.sent === null) log.sent = performance.now();
    return send.call(this, data);
  };
}"""


def measure(n: int, k: int, out: Path) -> dict:
    res: dict = {"n": n, "k": k, "load_average": [round(os.getloadavg()[0], 1)]}
    with ScaleLab(n, k, out=out / f"n{n}", viewport=(1440, 900)) as lab:
        res["map_drawn_s"] = round(lab.timings["map_drawn_s"], 2)
        lab.page.mouse.move(2, 2)
        res["map_frame_s"] = round(lab.page.evaluate(_FRAME), 2)
        lab.shot("01_map_given")

        # colour by flagged, until the red is on the canvas
        flagged = lab.value("float(session.flags.mean())")
        start = time.perf_counter()
        lab.run("wb.map.set_color_by('flagged')")
        share = 0.0
        while time.perf_counter() - start < 120:
            share = colour_share(lab.map_image(), FLAG_RGB)
            if share > 0.1 * flagged:
                break
        res["colour_change_s"] = round(time.perf_counter() - start, 2)
        lab.page.wait_for_timeout(1000)
        share = colour_share(lab.map_image(), FLAG_RGB)
        res.update(
            red_pixel_share=round(share, 4),
            flagged_share=round(flagged, 4),
            flagged_visible=bool(share >= 0.1 * flagged),
        )
        lab.shot("02_map_flagged")
        lab.run("wb.map.set_color_by('given label')")

        # a lasso over about a tenth of the points
        lab.run(
            "import time as _time; _handled = []; wb.map.scatter.widget.observe("
            "lambda _c: _handled.append(_time.time()), names='selection')"
        )
        lab.map_panel.locator('button[title="Activate lasso selection"]').click()
        lab.page.evaluate(_WATCH_LASSO)
        # the tool is switched back after the measure (that click is no part of the lasso)
        start = lab.lasso(
            [(0.42, 0.42), (0.56, 0.42), (0.56, 0.56), (0.42, 0.56), (0.43, 0.45)], tool=False
        )
        released_wall = time.time() - (time.perf_counter() - start)
        lab.page.wait_for_function(
            "() => { const t = document.querySelector('.wb-workbench .wb-selection');"
            " return t && !/^0 selected/.test(t.innerText.trim()); }",
            timeout=120_000,
        )
        lab.frames(2)
        res["lasso_100k_s"] = round(time.perf_counter() - start, 2)
        watched = lab.page.evaluate("() => window._wbLasso")
        res["lasso_sent_s"] = round((watched["sent"] - watched["release"]) / 1000, 2)
        draws = watched["draws"]
        res["lasso_frame_s"] = round((draws[0] - watched["release"]) / 1000, 2) if draws else None
        res["lasso_frames"] = len(draws)
        res["lasso_veil"] = lab.page.evaluate(
            "() => document.querySelector('.wb-map-selection-look').dataset.veil === 'true'"
        )
        res["lasso_selected"] = lab.header_selected()
        res["lasso_kernel_s"] = round(lab.value("_handled[0]") - released_wall, 2)
        lab.map_panel.locator('button[title="Activate pan & zoom"]').click()
        lab.shot("03_map_lasso")
        lab.run("session.clear_selection(source='benchmark')")

        # Reset view after zooming in with the wheel
        lab.page.wait_for_timeout(500)
        first = lab.map_image().astype(int)
        lab.zoom_in()
        zoomed = lab.map_image().astype(int)
        lab.reset_button().click()
        lab.page.wait_for_timeout(2000)
        back = lab.map_image().astype(int)
        moved, left = float(np.abs(zoomed - first).mean()), float(np.abs(back - first).mean())
        res["reset_view_ok"] = bool(moved > 5 and left < 0.2 * moved)
        res["reset_view_pixel_diff"] = [round(moved, 2), round(left, 2)]

        # the Detectors tab, first time
        lab.tab("Detectors").click()
        first_text, drawn = lab.page.evaluate(_TAB_TIMES)
        res["detectors_tab_first_text_s"] = round(first_text, 2)
        res["detectors_tab_s"] = round(drawn, 2)
        res["plotly_loads"] = lab.page.evaluate(
            "() => (globalThis[Symbol.for('workbench.plotly.widgetbundle')] || {}).loads ?? 0"
        )
        lab.shot("04_detectors")

        # switch the active detector
        start = time.perf_counter()
        lab.run("session.set_detector('margin')")
        lab.page.wait_for_function(
            "() => /flagged by margin/.test("
            "document.querySelector('.wb-workbench .wb-selection').innerText)",
            timeout=120_000,
        )
        lab.frames(2)
        res["switch_detector_s"] = round(time.perf_counter() - start, 2)
        lab.shot("05_detectors_switched")
        res["kernel_rss_gb"] = round(
            lab.value("__import__('resource').getrusage(0).ru_maxrss") / 1e6, 2
        )
    res["load_average"].append(round(os.getloadavg()[0], 1))
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1_000_000, 100_000])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "browser_scale")
    args = parser.parse_args()
    results = {}
    for n in args.n:
        results[str(n)] = measure(n, args.k, args.out)
        print(f"N = {n:,}:", json.dumps(results[str(n)]), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
