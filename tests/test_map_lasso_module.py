"""The map lasso's geometry (``widgets/map_lasso.js``), run in Node: the camera's data <-> pixel
transform against regl-scatterplot's own formula, the polygon and brush tests, the add / take
away of a selection, and the points found against a brute-force pass. The browser behaviour is
tested in ``tests/browser/test_scale_in_lab.py``."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from workbench.ui._common import asset_path

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

_CHECKS = r"""
const assert = (ok, what) => { if (!ok) throw new Error(what); };
const close = (a, b, tol = 1e-9) => Math.abs(a - b) <= tol;

// a camera zoomed 2.5x, panned, on a 600 x 300 canvas, data aspect 1.3
const view = new Float32Array(16);
view[0] = 2.5; view[5] = 2.5; view[10] = 1; view[15] = 1; view[12] = 0.4; view[13] = -0.2;
const canvas = { getBoundingClientRect: () => ({ width: 600, height: 300, left: 0, top: 0 }) };
let seed = 7;
const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
const points = Array.from({ length: 5000 }, () => [rand(), rand(), 0, 0]);
const api = {
  get: (key) => ({ cameraView: view, aspectRatio: 1.3, points, isPointsFiltered: false })[key],
};
const cam = cameraTransform(api, canvas);

// regl-scatterplot's getScreenPosition: projection(1/view aspect) x view x model(data aspect)
const screen = ([x, y]) => {
  const cx = (view[0] * 1.3 * x + view[4] * y + view[12]) / 2;
  const cy = view[1] * 1.3 * x + view[5] * y + view[13];
  return [(600 * (cx + 1)) / 2, 300 * (0.5 - cy / 2)];
};
for (const p of points.slice(0, 50)) {
  const [px, py] = cam.toPx(p[0], p[1]);
  const [sx, sy] = screen(p);
  assert(close(px, sx, 1e-4) && close(py, sy, 1e-4), `toPx ${px},${py} vs ${sx},${sy}`);
  const [x, y] = cam.toData(px, py);
  assert(close(x, p[0], 1e-6) && close(y, p[1], 1e-6), "toData(toPx(p)) == p");
}
assert(close(cam.scale, (2.5 * 300) / 2, 1e-4), `pixels per data unit ${cam.scale}`);
// and turned by 0.3 rad (every term of the 2 x 2 part)
const turned = Float32Array.from(view);
[turned[0], turned[1], turned[4], turned[5]] = [2.5 * Math.cos(0.3), 2.5 * Math.sin(0.3), -2.5 * Math.sin(0.3), 2.5 * Math.cos(0.3)];
const camT = cameraTransform({ get: (k) => (k === "cameraView" ? turned : api.get(k)) }, canvas);
for (const p of points.slice(0, 50)) {
  const cx = (turned[0] * 1.3 * p[0] + turned[4] * p[1] + turned[12]) / 2;
  const cy = turned[1] * 1.3 * p[0] + turned[5] * p[1] + turned[13];
  const [px, py] = camT.toPx(p[0], p[1]);
  assert(close(px, (600 * (cx + 1)) / 2, 1e-4) && close(py, 300 * (0.5 - cy / 2), 1e-4), "turned toPx");
  const [x, y] = camT.toData(px, py);
  assert(close(x, p[0], 1e-6) && close(y, p[1], 1e-6), "turned toData(toPx(p)) == p");
}

// polygons: even-odd, concave
const square = insidePolygon([[0, 0], [10, 0], [10, 10], [0, 10]]);
assert(square(5, 5) && !square(11, 5) && !square(5, -1), "square");
const notch = insidePolygon([[0, 0], [10, 0], [10, 10], [5, 3], [0, 10]]);
assert(notch(2, 2) && notch(8, 5) && !notch(5, 8), "concave");

// the brush: within the radius of any segment, end caps round
const brush = nearStroke([[0, 0], [10, 0], [10, 10]], 2);
assert(brush(5, 1.9) && !brush(5, 2.1) && brush(11.9, 5) && !brush(12.1, 5), "segments");
assert(brush(-1.4, -1.4) && !brush(-1.5, -1.5), "round cap");
assert(nearStroke([[3, 3]], 1)(3.5, 3.5) && !nearStroke([[3, 3]], 1)(4, 4), "a dot");

// add to / take away from a selection
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const cur = Uint32Array.of(1, 4, 7);
assert(same(Array.from(combine(cur, Uint32Array.of(2, 4), "replace", 10)), [2, 4]), "replace");
assert(same(Array.from(combine(cur, Uint32Array.of(2, 4), "merge", 10)), [1, 2, 4, 7]), "merge");
assert(same(Array.from(combine(cur, Uint32Array.of(2, 4), "remove", 10)), [1, 7]), "remove");

// the points in a pixel polygon, against a pass over all of them
const poly = [[100, 40], [420, 60], [380, 260], [150, 200], [260, 140]];
const found = Array.from(pointsIn(api, cam, bounds(poly, 0), insidePolygon(poly)));
const inside = insidePolygon(poly);
const brute = points.flatMap((p, i) => (inside(...screen(p)) ? [i] : []));
assert(found.length > 100 && same(found, brute), `points in polygon ${found.length} vs ${brute.length}`);
// filtered points are never selected
const apiF = { get: (k) => (k === "isPointsFiltered" ? true : k === "filteredPoints" ? brute.slice(0, 10) : api.get(k)) };
assert(same(Array.from(pointsIn(apiF, cam, bounds(poly, 0), inside)), brute.slice(0, 10)), "filter");

// a selection as the widget keeps it, and back
const sel = Uint32Array.of(3, 9, 12);
assert(same(Array.from(indicesOf(serialised(sel))), [3, 9, 12]), "serialised");
assert(indicesOf(null).length === 0 && same(Array.from(indicesOf([5, 6])), [5, 6]), "plain");
console.log("ok");
"""


def test_lasso_geometry_in_node(tmp_path):
    module = tmp_path / "map_lasso_checks.mjs"
    module.write_text(asset_path("map_lasso.js").read_text(encoding="utf-8") + _CHECKS)
    proc = subprocess.run(["node", str(module)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
