"""The selection grid: previews of the selected samples, most suspicious first; a click opens
one and moves the workbench's review queue there."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _ui_sessions import browser_send, digits_session, text_session

from workbench.ui import Workbench
from workbench.ui.grid import SelectionGrid


def test_tiles_follow_the_selection_most_suspicious_first():
    s = digits_session()
    g = SelectionGrid(s, max_items=5)
    w = g.widget
    assert w.total == 0 and w.items == []
    chosen = np.arange(0, 200, 3)
    s.select(chosen, source="map")
    order = chosen[np.argsort(-s.result.scores[chosen], kind="stable")]
    assert g.items.tolist() == order[:5].tolist() and w.total == len(chosen)
    first = w.items[0]
    assert first["index"] == order[0] and first["preview"].startswith("data:image/png")
    assert first["given"] == s.dataset.class_names[s.dataset.labels[order[0]]]
    assert first["score"] == pytest.approx(s.result.scores[order[0]])
    s.set_detector("weak")  # sorted by the active detector
    assert g.items[0] == chosen[np.argmax(s.result.scores[chosen])] and w.active == "weak"
    s.clear_selection()
    assert w.items == [] and w.total == 0


def test_a_click_opens_the_sample_and_moves_the_queue():
    pytest.importorskip("jscatter")
    from workbench.session import Session

    base = digits_session()
    coords = np.random.default_rng(0).normal(size=(base.dataset.n_samples, 2))
    s = Session(base.dataset.with_signals(coords=coords), results=base.results)
    wb = Workbench(s)
    _ = wb.widget  # the map tab: map and grid
    box = wb._boxes["Map"].children[0]
    assert wb.grid.widget in box.children
    chosen = np.flatnonzero(s.flags)[:30]
    s.select(chosen, source="map")
    target = int(wb.grid.items[4])
    browser_send(wb.grid.widget, {"type": "open", "index": target})
    assert wb.grid.widget.opened["index"] == target
    assert wb.grid.widget.opened["preview"].startswith("data:image/png")
    assert wb.queue.current == target
    before = dict(wb.grid.widget.opened)
    for bad in ({"type": "open", "index": "x"}, {"type": "open", "index": 10**9}, {"type": "?"}):
        browser_send(wb.grid.widget, bad)
    assert wb.grid.widget.opened == before and wb.queue.current == target
    s.select([0, 1], source="map")  # the opened sample left the selection
    assert wb.grid.widget.opened == {} or wb.grid.widget.opened["index"] in (0, 1)


def test_text_previews_and_bad_options():
    s = text_session()
    s.select(np.arange(10), source="map")
    g = SelectionGrid(s)
    assert g.widget.items[0]["preview_kind"] == "text"
    with pytest.raises(ValueError, match="max_items"):
        SelectionGrid(s, max_items=0)
    with pytest.raises(TypeError, match="on_open"):
        SelectionGrid(s, on_open=3)
    with pytest.raises(ValueError, match="index must be an int"):
        g.open(-1)


_STUB = """
async ([esm, state]) => {
  const listeners = {};
  const sent = [];
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; (listeners["change:" + k] || []).forEach((f) => f()); },
    save_changes: () => {},
    send: (m) => sent.push(m),
    on: (names, f) => names.split(" ").forEach((n) => (listeners[n] = listeners[n] || []).push(f)),
    off: (names, f) => names.split(" ").forEach((n) => (listeners[n] = (listeners[n] || []).filter((g) => g !== f))),
  };
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const mod = await import(url);
  const el = document.createElement("div");
  document.body.append(el);
  mod.default.render({ model, el });
  const tiles = el.querySelectorAll(".wb-g-tile");
  tiles[2].click();
  const img = el.querySelector(".wb-g-img");
  return { n: tiles.length, head: el.querySelector(".wb-g-head").textContent, sent,
           loaded: img ? img.complete && img.naturalWidth > 0 : false };
}
"""


@pytest.mark.browser
def test_es_module_in_headless_chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    s = digits_session()
    g = SelectionGrid(s, max_items=8)
    s.select(np.arange(40), source="map")
    state = {k: v for k, v in g.widget.get_state().items() if not k.startswith("_")}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto("about:blank")
            out = page.evaluate(_STUB, [g.widget._esm, state])
        finally:
            browser.close()
    assert errors == []
    assert out["n"] == 8 and out["head"].startswith("40 selected, most suspicious first")
    assert out["sent"] == [{"type": "open", "index": int(g.items[2])}]
    browser_send(g.widget, out["sent"][0])  # replayed into Python
    assert g.widget.opened["index"] == int(g.items[2])
