"""The workbench at 200,000 samples and 20 classes (and a 100-class matrix) in a real JupyterLab
and headless Chromium: each defect of issue "a million samples and a hundred classes in the
browser" at a size that shows it, read back from the page and the canvas pixels.

Screenshots land in the run's ``test-artifacts/browser/<start>-<pid>/scale/`` (``latest/scale/``
for the newest run; git-ignored).
"""

from __future__ import annotations

import numpy as np
import pytest
from _lab import ARTIFACTS
from _scale import FLAG_RGB, ScaleLab, colour_share, map_pixels

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N, K = 200_000, 20
OUT = ARTIFACTS / "scale"
K100 = r"""
from workbench.ui.matrix import MatrixView
_r = np.random.default_rng(1)
_t = _r.integers(0, 100, 30_000)
_grp = _r.permutation(100) // 4          # hidden groups of 4 classes confused among themselves
_members = np.argsort(_grp, kind="stable").reshape(-1, 4)
_g = _t.copy(); _f = np.flatnonzero(_r.random(_t.size) < 0.15)
_g[_f] = _members[_grp[_t[_f]], _r.integers(0, 4, _f.size)]
_l = _r.normal(0, 1, (_t.size, 100)).astype(np.float32); _l[np.arange(_t.size), _t] += 3.5
_p = np.exp(_l); _p /= _p.sum(1, keepdims=True)
_s = np.linspace(0, 1, _t.size)
s100 = Session(Dataset(_g, pred_probs=_p, true_labels=_t), results={"x": DetectorResult("x", _s, _s > 0.9)})
m100 = MatrixView(s100)
m100
"""


@pytest.fixture(scope="module")
def lab(chromium_path):
    with ScaleLab(N, K, out=OUT, extra=(K100,)) as lab:
        yield lab


def red_share(lab) -> float:
    return colour_share(lab.map_image(), FLAG_RGB)


def test_flagged_and_high_score_points_stay_visible(lab):
    lab.tab("Map").click()
    flagged = lab.value("float(session.flags.mean())")
    lab.run("wb.map.set_color_by('flagged')")
    share = red_share(lab)
    lab.shot("01_map_flagged")
    assert share >= 0.1 * flagged, (share, flagged)
    assert _others(lab.map_image()) > 0.1  # the others still show around and between them
    lab.run("wb.map.set_color_by('score: self_confidence')")
    img = lab.map_image()
    lab.shot("02_map_score")
    yellow = colour_share(img, (253, 231, 37), tol=45)  # viridis' top: the highest scores
    assert yellow >= 0.1 * flagged, (yellow, flagged)


def test_only_the_highlighted_over_a_faint_background(lab):
    lab.run("wb.map.set_color_by('flagged')")
    before = lab.map_image()
    lab.wb.get_by_text("only the highlighted, over a faint background").click()
    assert lab.wait_true("wb.map.highlight_only")  # the click reached the kernel
    lab.page.wait_for_timeout(1000)  # and the new opacities the map
    after = lab.map_image()
    lab.shot("03_map_only_highlighted")
    # the others faint: fewer of them show, and those lighter
    assert _others(after) < 0.8 * _others(before)
    assert _grey_brightness(after) > _grey_brightness(before) + 4
    assert colour_share(after, FLAG_RGB) > colour_share(before, FLAG_RGB)
    lab.run("wb.map.set_highlight_only(False); wb.map.set_color_by('given label')")


def _others(img) -> float:
    """Share of the map's covered pixels that are grey: the other points (not the flagged red,
    nor the pink rims where red points blend into the white)."""
    rgb = img.astype(int)
    grey = rgb.max(axis=2) - rgb.min(axis=2) < 25
    covered = map_pixels(img)
    return float((covered & grey).sum() / max(covered.sum(), 1))


def _grey_brightness(img) -> float:
    """Mean brightness (0-255) of the grey covered pixels: higher = fainter other points."""
    rgb = img.astype(int)
    grey = (rgb.max(axis=2) - rgb.min(axis=2) < 25) & map_pixels(img)
    return float(rgb[grey].mean())


def visible_classes(lab, img) -> int:
    # the colouring's own palette (while a selection shows, the widget's normal palette is
    # grey and the selected points are drawn with this one)
    colours = lab.value(
        "[[round(255 * c) for c in col[:3]] for col in wb.map.color_values()[1]['colors']]"
    )
    return sum(colour_share(img, c, tol=12) > 0.002 for c in colours)


def test_a_large_selection_keeps_the_map_readable(lab):
    lab.run("session.clear_selection(source='test'); wb.map.set_color_by('given label')")
    before = visible_classes(lab, lab.map_image())
    lab.run("session.select(np.arange(N), source='test')")  # "select all"
    lab.page.wait_for_timeout(1500)
    img = lab.map_image()
    lab.shot("04_map_select_all")
    assert visible_classes(lab, img) >= min(before, 15), before
    assert map_pixels(img).mean() > 0.05
    # half the map
    lab.run("session.select(np.flatnonzero(coords[:, 0] < np.median(coords[:, 0])), source='test')")
    lab.page.wait_for_timeout(1500)
    img = lab.map_image()
    lab.shot("05_map_half_selected")
    assert visible_classes(lab, img) >= min(before, 10)
    lab.run("session.clear_selection(source='test')")


_WATCH_RELEASE = """() => {
  // Which kernel messages carry a selection, and whether each left while the browser was
  // still handling the mouse release (not in a later task, after the map's next frame).
  const log = window._wbRelease = {releasing: false, sent: []};
  if (!window._wbReleaseHooked) {
    window._wbReleaseHooked = true;
    window.addEventListener('mouseup', () => { window._wbRelease.releasing = true; }, true);
    // added after the map's own handlers: runs after them (and their promise callbacks)
    window.addEventListener('mouseup', () => { window._wbRelease.releasing = false; }, false);
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      const text = typeof data === 'string' ? data
        : new TextDecoder().decode(data instanceof ArrayBuffer ? data : data.buffer || data);
      if (text.includes('"selection"') && text.includes('"comm_msg"'))
        window._wbRelease.sent.push(window._wbRelease.releasing);
      return send.call(this, data);
    };
  }
}"""


def test_a_lasso_leaves_for_the_kernel_at_the_release(lab):
    """At a million points one frame of the map takes most of a second in a software-rendered
    browser; the lasso's selection goes to the kernel while the release is handled, so the
    kernel works on it while the browser draws (jupyter-scatter's events came a task later,
    after that frame)."""
    lab.run("session.clear_selection(source='test')")
    lab.page.evaluate(_WATCH_RELEASE)
    lab.lasso([(0.3, 0.3), (0.6, 0.3), (0.6, 0.7), (0.3, 0.7), (0.31, 0.35)])
    assert lab.wait_selection(lambda s: s > 0) > 1_000
    sent = lab.page.evaluate("window._wbRelease.sent")
    assert sent and sent[0] is True, sent
    lab.run("session.clear_selection(source='test')")


_COUNT_DRAWS = """() => {
  // every frame each view of the map draws from now on, per view
  // and how many of them came after the mouse's release
  const looks = [...document.querySelectorAll('.wb-map-selection-look')];
  const draws = window._wbDraws = {all: looks.map(() => 0), atRelease: null};
  looks.forEach((look, i) => {
    const api = [...look.parentElement.querySelectorAll('div')].find(d => d.api && d.api.set).api;
    api.subscribe('draw', () => { draws.all[i] += 1; });
  });
  window.addEventListener('mouseup', () => { draws.atRelease = [...draws.all]; },
                          {capture: true, once: true});
  return looks.length;
}"""

_API = "[...look.parentElement.querySelectorAll('div')].find(d => d.api && d.api.set).api"

_VIEWS = f"""() => [...document.querySelectorAll('.wb-map-selection-look')].map(look => {{
  const api = {_API};
  return [api.get('selectedPoints').length, look.dataset.grey === 'true',
          new Set(api.get('pointColor').map(c => c.slice(0, 3).join())).size,
          look.dataset.veil === 'true'];
}})"""

_VEIL_ALPHA = f"""(indices) => {{
  // the lasso veil's opacity (0-255) over each point, where the point is drawn now
  const look = document.querySelector('.wb-map-selection-look');
  const api = {_API};
  const overlay = look.parentElement.querySelector('canvas.wb-map-lasso');
  const ctx = overlay.getContext('2d');
  const dpr = overlay.width / overlay.clientWidth;
  return indices.map(i => {{
    const [x, y] = api.getScreenPosition(i);
    if (x < 2 || y < 2 || x > overlay.clientWidth - 2 || y > overlay.clientHeight - 2) return null;
    return ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data[3];
  }});
}}"""


_CAMERA_VIEW = f"""() => {{
  const look = document.querySelector('.wb-map-selection-look');
  return Array.from({_API}.get('cameraView'));
}}"""


def veil_alpha(lab, indices) -> np.ndarray:
    """The veil's opacity over ``indices``' points (those drawn outside the map's box left out)."""
    alpha = lab.page.evaluate(_VEIL_ALPHA, [int(i) for i in indices])
    return np.array([a for a in alpha if a is not None])


def sample(lab, expression: str, n: int = 60) -> list[int]:
    """Up to ``n`` indices of the kernel's ``expression`` (a boolean mask over the samples)."""
    return lab.value(
        f"np.random.default_rng(0).permutation(np.flatnonzero({expression}))[:{n}].tolist()"
    )


def test_a_lasso_shows_its_selection_without_drawing_the_points_and_a_second_view_follows(lab):
    """A lasso's selection shows at the release as a veil over the rest of the map (the
    selected points keep their colours, the others stay visible under it): no frame of the N
    points is drawn for it, and the kernel sends the map nothing back (no echo of the indices,
    no palette). A second view of the map (the same widget shown again in a new cell) shows
    the same selection the scatterplot's way, grey around the selected points."""
    lab.run("session.clear_selection(source='test'); wb.map.set_color_by('given label')")
    second = lab.page.evaluate(
        """async () => {
          const nb = window.jupyterapp.shell.currentWidget;
          const cells = nb.content.model.sharedModel;
          cells.insertCell(cells.cells.length, {cell_type: 'code', source: 'wb.map.widget'});
          nb.content.activeCellIndex = cells.cells.length - 1;
          await window.jupyterapp.commands.execute('notebook:run-cell');
          return cells.cells.length - 1;
        }"""
    )
    lab.page.wait_for_function(
        "() => [...document.querySelectorAll('.wb-map-selection-look')]"
        ".filter(l => l.dataset.linked === 'true').length === 2",
        timeout=120_000,
    )
    lab.page.wait_for_timeout(2000)  # the second view's first frames
    lab.canvas.scroll_into_view_if_needed()  # the first view's map, where the lasso is drawn
    lab.run(
        "_map_sent = []; wb.map.scatter.widget._send = "
        "lambda msg, buffers=None: _map_sent.append(sorted(msg.get('state', {})))"
    )
    try:
        lab.map_panel.locator('button[title="Activate lasso selection"]').click()
        lab.page.wait_for_timeout(500)
        assert lab.page.evaluate(_COUNT_DRAWS) == 2
        lab.lasso([(0.3, 0.3), (0.6, 0.3), (0.6, 0.7), (0.3, 0.7), (0.31, 0.35)], tool=False)
        selected = lab.wait_selection(lambda s: s > 0)
        assert selected > 1_000
        lab.page.wait_for_timeout(1500)  # the kernel's answers reach the page
        draws = lab.page.evaluate(
            "() => window._wbDraws.all.map((n, i) => n - window._wbDraws.atRelease[i])"
        )
        lab.map_panel.locator('button[title="Activate pan & zoom"]').click()
        # what the kernel sent the map's widget: the echoes of the lasso tool's clicks (and
        # the tooltip turned off and on with it) and of the lasso's polygon; no selection, no
        # palette, no opacity
        sent = {key for keys in lab.value("_map_sent") for key in keys}
        assert sent <= {"mouse_mode", "tooltip_enable", "lasso_selection_polygon"}, sent
        img = lab.map_image()
        lab.shot("11_map_lasso_veil")
        views = lab.page.evaluate(_VIEWS)
        inside = veil_alpha(lab, sample(lab, "np.isin(np.arange(N), session.selection)"))
        outside = veil_alpha(lab, sample(lab, "~np.isin(np.arange(N), session.selection)"))
    finally:
        lab.run("del wb.map.scatter.widget._send")
        lab.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.model.sharedModel.deleteCell(i)",
            second,
        )
        lab.canvas.scroll_into_view_if_needed()
        lab.run("session.clear_selection(source='test')")
    # the lasso's view: its veil, nothing selected in its scatterplot, the palette its own; the
    # second view: the selection in its scatterplot, the palette one grey
    (own_selected, own_grey, own_colours, own_veil), second_view = views
    assert (own_selected, own_grey, own_veil) == (0, False, True) and own_colours > 1, views
    assert second_view == [selected, True, 1, False], views
    # no veil over the selected points, the veil over the others
    assert (inside == 0).mean() >= 0.9 and (outside >= 150).mean() >= 0.9, (inside, outside)
    assert visible_classes(lab, img) >= 3  # the selected, in their own colours
    # after the release the lasso's view drew no frame of its points, the second view one
    assert draws == [0, 1], draws


_LASSO_TYPE = "wb.map.scatter.widget.lasso_type = {!r}"

_NEAR_STROKE = f"""([path, radius, bits]) => {{
  // points certainly within / certainly beyond the brush (1.5 px either side of its edge) and
  // whether the kernel has each selected: [inside but unselected, beyond but selected, inside]
  const look = document.querySelector('.wb-map-selection-look');
  const api = {_API};
  const mask = Uint8Array.from(atob(bits), c => c.charCodeAt(0));
  const n = api.get('points').length;
  let missed = 0, extra = 0, inside = 0;
  for (let i = 0; i < n; i++) {{
    const [x, y] = api.getScreenPosition(i);
    let d = Infinity;
    for (let k = 1; k < path.length; k++) {{
      const [ax, ay] = path[k - 1], [bx, by] = path[k];
      const dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
      const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / l2));
      d = Math.min(d, Math.hypot(x - ax - t * dx, y - ay - t * dy));
    }}
    const selected = (mask[i >> 3] >> (7 - (i & 7))) & 1;
    if (d <= radius - 1.5) {{ inside += 1; if (!selected) missed += 1; }}
    if (d > radius + 1.5 && selected) extra += 1;
  }}
  return [missed, extra, inside];
}}"""


def test_each_lasso_shape_selects_what_it_covers(lab):
    """Freeform and rectangle: exactly the samples whose coordinates lie inside the polygon the
    lasso reports (in data space, the kernel's own test); brush: the points within half the
    brush's width of its stroke."""
    lab.run("session.clear_selection(source='test')")
    lab.map_panel.locator('button[title="Activate lasso selection"]').click()
    inside = (
        "(lambda p: np.flatnonzero(__import__('matplotlib.path').path.Path(p)"
        ".contains_points(coords)))(np.asarray(wb.map.scatter.widget.lasso_selection_polygon))"
    )
    try:
        for shape, path in [
            ("freeform", [(0.3, 0.3), (0.62, 0.35), (0.5, 0.7), (0.33, 0.62), (0.31, 0.35)]),
            ("rectangle", [(0.35, 0.3), (0.5, 0.45), (0.6, 0.7)]),
        ]:
            lab.run(_LASSO_TYPE.format(shape))
            lab.run("session.clear_selection(source='test')")
            lab.lasso(path, tool=False)
            selected = lab.wait_selection(lambda s: s > 0)
            expected, differ = lab.value(
                f"(lambda e: [int(e.size), int(np.setxor1d(e, session.selection).size)])({inside})"
            )
            assert selected > 1_000 and expected == selected and differ == 0, (shape, selected)
        lab.run(_LASSO_TYPE.format("brush"))
        lab.run("session.clear_selection(source='test')")
        fractions = [(0.3, 0.4), (0.5, 0.45), (0.6, 0.6)]
        box = lab.canvas.bounding_box()
        lab.lasso(fractions, tool=False)
        lab.wait_selection(lambda s: s > 0)
        lab.shot("12_map_brush")
        path = [(fx * box["width"], fy * box["height"]) for fx, fy in fractions]
        brush = lab.value("wb.map.scatter.widget.lasso_brush_size")
        bits = lab.value(
            "__import__('base64').b64encode(np.packbits(np.isin(np.arange(N), "
            "session.selection))).decode()"
        )
        missed, extra, covered = lab.page.evaluate(_NEAR_STROKE, [path, brush / 2, bits])
        assert covered > 500 and missed == 0 and extra == 0, (missed, extra, covered)
    finally:
        lab.run(_LASSO_TYPE.format("freeform"))
        lab.map_panel.locator('button[title="Activate pan & zoom"]').click()
        lab.run("session.clear_selection(source='test')")


def test_action_keys_add_and_take_away_and_the_veil_follows_pan_and_zoom(lab):
    """Cmd (the scatterplot's "merge" key) adds a lasso to the selection, Alt ("remove") takes
    one away; the veil shows the result, and moves with the map when it is zoomed."""
    lab.run("session.clear_selection(source='test'); _polys = []")
    polygon = (
        "__import__('matplotlib.path').path.Path(np.asarray(_polys[{}])).contains_points(coords)"
    )
    lab.map_panel.locator('button[title="Activate lasso selection"]').click()
    try:
        previous = 0
        for key, path in [
            (None, [(0.3, 0.3), (0.45, 0.3), (0.45, 0.6), (0.3, 0.6)]),
            ("Meta", [(0.5, 0.3), (0.65, 0.3), (0.65, 0.6), (0.5, 0.6)]),
            ("Alt", [(0.25, 0.4), (0.7, 0.4), (0.7, 0.5), (0.25, 0.5)]),
        ]:
            if key:
                lab.page.keyboard.down(key)
            lab.lasso(path, tool=False)
            if key:
                lab.page.keyboard.up(key)
            previous = lab.wait_selection(lambda s, p=previous: s != p)
            lab.run("_polys.append(np.asarray(wb.map.scatter.widget.lasso_selection_polygon))")
        lab.shot("13_map_lasso_add_remove")
        expected = f"({polygon.format(0)} | {polygon.format(1)}) & ~{polygon.format(2)}"
        differ = lab.value(f"int(np.setxor1d(np.flatnonzero({expected}), session.selection).size)")
        assert previous > 1_000 and differ == 0, (previous, differ)
        assert (
            lab.page.evaluate("() => document.querySelector('.wb-map-selection-look').dataset.veil")
            == "true"
        )
        chosen = "np.isin(np.arange(N), session.selection)"
        view = _CAMERA_VIEW
        for step in ("as drawn", "zoomed"):
            inside = veil_alpha(lab, sample(lab, chosen))
            taken = veil_alpha(lab, sample(lab, f"~{chosen} & {polygon.format(2)}"))
            assert (inside == 0).mean() >= 0.9, (step, inside)
            assert (taken >= 150).mean() >= 0.9, (step, taken)
            if step == "as drawn":
                lab.map_panel.locator('button[title="Activate pan & zoom"]').click()
                before = lab.page.evaluate(view)
                lab.zoom_in((0.45, 0.45), turns=3, delta=300)
                assert lab.page.evaluate(view)[0] > 1.5 * before[0]  # the map zoomed in
        lab.shot("14_map_lasso_zoomed")
    finally:
        lab.map_panel.locator('button[title="Activate pan & zoom"]').click()
        lab.reset_button().click()
        lab.run("session.clear_selection(source='test')")


def test_double_click_escape_and_other_selections_take_the_veil_away(lab):
    lasso = [(0.3, 0.3), (0.6, 0.3), (0.6, 0.7), (0.3, 0.7)]
    look = lab.page.locator(".wb-map-selection-look").first
    for clear in ("double-click", "Escape", "a selection from the kernel"):
        lab.run("session.clear_selection(source='test')")
        lab.lasso(lasso)
        assert lab.wait_selection(lambda s: s > 0) > 1_000
        assert look.get_attribute("data-veil") == "true"
        if clear == "double-click":
            # a corner of the map with no points under it (a click on a point selects it)
            box = lab.canvas.bounding_box()
            lab.page.mouse.dblclick(box["x"] + 0.9 * box["width"], box["y"] + 0.1 * box["height"])
        elif clear == "Escape":
            lab.page.keyboard.press("Escape")
        else:
            lab.run("session.select(np.arange(100), source='test')")
        size = lab.wait_selection(lambda s: s in (0, 100))
        assert size == (100 if clear.startswith("a selection") else 0), clear
        lab.page.wait_for_function(
            "() => document.querySelector('.wb-map-selection-look').dataset.veil === 'false'"
        )
        assert veil_alpha(lab, sample(lab, "np.arange(N) >= 100")).max() == 0, clear
        if size:  # the scatterplot draws it, grey around the selected points
            assert look.get_attribute("data-grey") == "true"
    lab.run("session.clear_selection(source='test')")


def test_a_click_with_the_lasso_tool_picks_the_nearest_point(lab):
    lab.run("session.clear_selection(source='test')")
    lab.map_panel.locator('button[title="Activate lasso selection"]').click()
    box = lab.canvas.bounding_box()
    lab.page.evaluate(
        """() => window.addEventListener('mousedown', (e) => {
          const r = e.target.getBoundingClientRect();
          window._wbPress = [e.clientX - r.left, e.clientY - r.top];
        }, {capture: true, once: true})"""
    )
    lab.page.mouse.click(box["x"] + 0.47 * box["width"], box["y"] + 0.52 * box["height"])
    lab.map_panel.locator('button[title="Activate pan & zoom"]').click()
    assert lab.wait_selection(lambda s: s > 0) == 1
    nearest = lab.page.evaluate(
        f"""() => {{
          const look = document.querySelector('.wb-map-selection-look');
          const api = {_API};
          const [px, py] = window._wbPress;
          let best = -1, bestD = Infinity;
          for (let i = 0; i < api.get('points').length; i++) {{
            const [x, y] = api.getScreenPosition(i);
            const d = (x - px) ** 2 + (y - py) ** 2;
            if (d < bestD) [best, bestD] = [i, d];
          }}
          return best;
        }}"""
    )
    assert lab.value("session.selection.tolist()") == [nearest]
    lab.run("session.clear_selection(source='test')")


def test_a_colour_change_draws_one_frame(lab):
    """A change the kernel sends the map (here the colouring: palette, domain, the colour
    column, the draw order) is drawn in one frame of the N points, not one frame and then
    another for regl-scatterplot's own redraw after each of its settings."""
    lab.run("session.clear_selection(source='test'); wb.map.set_color_by('given label')")
    lab.page.mouse.move(2, 2)  # no point hovered (leaving one draws a frame)
    lab.page.wait_for_timeout(1500)
    assert lab.page.evaluate(_COUNT_DRAWS) == 1
    lab.run("wb.map.set_color_by('flagged')")
    flagged = lab.value("float(session.flags.mean())")
    assert red_share(lab) >= 0.1 * flagged
    lab.page.wait_for_timeout(1500)
    draws = lab.page.evaluate("() => window._wbDraws.all")
    lab.run("wb.map.set_color_by('given label')")
    assert draws == [1], draws


def test_a_slow_pan_never_becomes_a_lasso(lab):
    lab.run("session.clear_selection(source='test')")
    lab.lasso([(0.3, 0.3), (0.6, 0.3), (0.6, 0.7), (0.3, 0.7), (0.31, 0.35)])
    selected = lab.wait_selection(lambda s: s > 0)
    assert selected > 1_000
    # pan & zoom is active again (lasso() clicked it); a slow drag: press, hold, creep
    box = lab.canvas.bounding_box()
    x, y = box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"]
    lab.page.mouse.move(x, y)
    lab.page.mouse.down()
    lab.page.wait_for_timeout(1500)  # longer than the 750 ms long press that started a lasso
    for i in range(40):
        lab.page.mouse.move(x + 2 * i, y + i)
        lab.page.wait_for_timeout(50)
    lab.page.mouse.up()
    lab.page.wait_for_timeout(1500)
    assert lab.selection_size() == selected
    assert lab.header_selected() == selected
    lab.run("session.clear_selection(source='test')")


def test_reset_view_zooms_back_out(lab):
    lab.run("session.clear_selection(source='test')")
    lab.reset_button().click()
    lab.page.wait_for_timeout(1000)
    start = lab.map_image().astype(int)
    lab.zoom_in()
    zoomed = lab.map_image().astype(int)
    assert np.abs(zoomed - start).mean() > 5  # the view moved
    lab.reset_button().click()
    lab.page.wait_for_timeout(1500)
    back = lab.map_image().astype(int)
    lab.shot("06_map_after_reset")
    assert np.abs(back - start).mean() < 0.2 * np.abs(zoomed - start).mean()


def test_the_detectors_tab_shows_progress_while_it_builds(lab):
    lab.tab("Detectors").click()
    texts = lab.page.evaluate(
        """async () => {
          const seen = [];
          const tabs = document.querySelector('.wb-workbench .jupyter-widget-tab');
          for (let i = 0; i < 1200; i++) {
            const p = tabs.querySelector('.widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)');
            const text = p ? p.innerText.trim() : '';
            seen.push(text.slice(0, 60));
            if (p && p.querySelector('.js-plotly-plot .main-svg')) break;
            await new Promise(r => setTimeout(r, 50));
          }
          return seen;
        }"""
    )
    # blank only until the kernel answers the click, then never again until the charts
    shown = texts[next(i for i, t in enumerate(texts) if t) :]
    assert shown and all(shown), texts[:5]
    # the building message while the kernel builds the view; a build quicker than one poll
    # (50 ms: plotly.js is no longer sent with each figure) goes from the previous tab's
    # content straight to the charts
    building = [t for t in texts if t.startswith("Building the Detectors view for 200,000")]
    assert building or len(shown) <= 2, texts[:8]
    lab.shot("07_detectors")
    # the curves the panel draws are bounded (analysis_of(ds).pr_curve: <= 2,000 points)
    panel = lab.tab_panel()
    lab.page.wait_for_function(
        """(el) => [...el.querySelectorAll('.js-plotly-plot')].some(
             gd => gd._fullData && gd._fullData.some(t => t.x && t.x.length))""",
        arg=panel.element_handle(),
    )
    longest = panel.evaluate(
        """(el) => Math.max(...[...el.querySelectorAll('.js-plotly-plot')]
             .flatMap(gd => (gd._fullData || []).map(t => (t.x || []).length)))"""
    )
    assert 0 < longest <= 2_000
    # every plotly figure on the page (the tab's two, the 100-class matrix's) shares one
    # plotly.js: the page evaluated it once
    n_figures = lab.page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")
    assert n_figures >= 3, n_figures
    page = lab.page.evaluate(
        """() => { const s = globalThis[Symbol.for('workbench.plotly.widgetbundle')] || {};
                   return {loads: s.loads, requests: s.requests, answers: s.answers}; }"""
    )
    assert page["loads"] == 1, page
    # the first figure's request was answered: the page asked once, the kernel sent the
    # bundle once (a request that came while the figure was being made went unanswered, and
    # the next figure asked again 5 s later)
    sent = lab.value(
        "sum(getattr(_w, 'bundles_sent', 0) for _w in "
        "__import__('ipywidgets').widgets.widget._instances.values())"
    )
    assert page["requests"] == page["answers"] == sent == 1, (page, sent)


_NUMBERS_JS = r"""(el) => {
  const gd = el.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, k = gd._fullData[0].z.length;
  const cell = xa._length / k;
  const texts = [...gd.querySelectorAll('.cartesianlayer .subplot.xy text')]
    .filter(t => /^[\d,.–]+$/.test(t.textContent)).map(t => t.getBoundingClientRect())
    .map(r => ({l: r.left, r: r.right, t: r.top, b: r.bottom, w: r.width}));
  const ticks = [...gd.querySelectorAll('.yaxislayer-above .ytick text')]
    .map(t => t.getBoundingClientRect().right);
  const left = gd.getBoundingClientRect().left + xa._offset;
  return {cell, k, texts, tickRight: Math.max(...ticks), left};
}"""


def _overlaps(boxes) -> int:
    n = 0
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a["l"] < b["r"] - 0.5 and b["l"] < a["r"] - 0.5 and a["t"] < b["b"] - 0.5:
                n += b["t"] < a["b"] - 0.5
    return n


def test_matrices_at_20_classes_are_readable(lab):
    lab.tab("Matrices").click()
    panel = lab.tab_panel()
    panel.locator(".js-plotly-plot .main-svg").first.wait_for()
    lab.page.wait_for_timeout(1500)
    lab.shot("08_matrices_k20")
    info = panel.evaluate(_NUMBERS_JS)
    assert info["k"] == 20 and info["texts"], info["k"]
    assert all(t["w"] <= info["cell"] for t in info["texts"])  # every number inside its cell
    assert _overlaps(info["texts"]) == 0  # no numbers run together
    assert info["tickRight"] < info["left"] - 2  # class names clear of the first column
    # the ranked pairs: a click selects the samples confused between the top pair
    button = panel.locator("button", has_text="samples").first
    n = int(button.inner_text().split()[0].replace(",", ""))
    button.click()
    assert lab.wait_selection(lambda s: s == n) == n
    assert lab.header_selected() == n
    lab.run("session.clear_selection(source='test')")


def test_a_matrix_of_100_classes_clusters_and_lists_pairs(lab):
    out = lab.cell_output(2)
    out.scroll_into_view_if_needed()
    out.locator(".js-plotly-plot .main-svg").first.wait_for()
    lab.page.wait_for_timeout(1500)
    lab.shot("09_matrix_k100", out)
    info = out.evaluate(_NUMBERS_JS)
    assert info["k"] == 100
    assert _overlaps(info["texts"]) == 0 and all(t["w"] <= info["cell"] for t in info["texts"])
    # clustered: neighbours on the axes share a hidden group far more often than by chance
    same = lab.value("float((_grp[m100.order[1:]] == _grp[m100.order[:-1]]).mean())")
    assert same > 0.5
    assert "Most confused class pairs" in out.inner_text()
    button = out.locator("button", has_text="samples").first
    n = int(button.inner_text().split()[0].replace(",", ""))
    button.click()
    assert lab.wait_true(f"int(s100.selection.size) == {n}")
    pair = lab.value("[int(v) for v in m100.confused_pairs().iloc[0, 2:4]]")
    assert lab.value(f"int(_grp[{pair[0]}] == _grp[{pair[1]}])") == 1


_FOCUSED_GEOMETRY = """(panel) => {
  const list = panel.querySelector('.wb-q-list');
  const head = list.querySelector('.wb-q-colhead').getBoundingClientRect();
  const row = list.querySelector('.wb-q-focused');
  const box = row.getBoundingClientRect();
  const view = list.getBoundingClientRect();
  return {pos: Number(row.querySelector('.wb-q-pos').textContent), top: box.top,
          bottom: box.bottom, headBottom: head.bottom, listBottom: view.bottom,
          scrolls: list.scrollHeight > list.clientHeight};
}"""


def focused_row(lab, panel, position: int) -> dict:
    """The focused queue row's geometry, once it is row ``position`` (1-based)."""
    lab.page.wait_for_function(
        "([el, p]) => { const r = el.querySelector('.wb-q-focused .wb-q-pos');"
        " return r && Number(r.textContent) === p; }",
        arg=[panel.element_handle(), position],
    )
    lab.frames(2)
    return panel.evaluate(_FOCUSED_GEOMETRY)


def test_the_focused_row_stays_below_the_column_captions(lab):
    """Twenty-two keyboard decisions: the queue pages on after the twentieth, and every focused
    row, the first of the new page included, shows whole below the sticky column captions (it
    sat half under them)."""
    lab.run("session.clear_selection(source='test')")
    lab.tab("Review").click()
    panel = lab.tab_panel()
    panel.locator(".wb-q-row").first.wait_for()
    panel.locator(".wb-q-row").first.locator(".wb-q-pos").click()  # keys go to the queue
    seen = [focused_row(lab, panel, 1)]
    for i in range(22):
        lab.page.keyboard.press("a")  # keep, and on to the next row
        seen.append(focused_row(lab, panel, i + 2))
    lab.shot("10_queue_after_22_decisions", panel)
    assert seen[20]["scrolls"]  # the page is taller than the list: it scrolls
    for row in seen:
        assert row["top"] >= row["headBottom"] - 1, row  # not under the captions
        assert row["bottom"] <= row["listBottom"] + 1, row  # nor below the list's end
