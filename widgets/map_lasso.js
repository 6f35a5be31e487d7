// The map's lasso, drawn by the browser on a plain 2D canvas laid over the map. The
// scatterplot's own lasso (regl-scatterplot) redraws all N points on every mouse move while it
// is drawn, and shows its selection with a frame of the N points plus three more passes over the
// selected ones: at a million points in a browser without a GPU (WebGL on the CPU) each of those
// frames takes most of a second. Here the lasso's path is drawn on the overlay as the mouse
// moves, the points inside are found in one pass over the points at the release, the
// selection goes to the widget's model (and so to the kernel) at once, and the map shows it with
// a veil over everything outside the lasso: the selected points keep their colours, the others
// stay visible under the veil, and none of the N points is drawn again. A selection that comes
// from anywhere else (the kernel, a click on a point, another view of the same widget) takes the
// veil away and is drawn by the scatterplot, grey around the selected points (map_selection.js).
//
// The lasso tool's three shapes: "freeform" (a polygon), "rectangle" (from the press to the
// release) and "brush" (the points within half the brush's width of the stroke). The
// scatterplot's action keys hold: "merge" (Cmd/⌘) adds to the selection, "remove" (Alt/⌥)
// takes away; a press and release without a drag picks the nearest point. Double-click and
// Escape clear a lasso's selection as they clear any other.
//
// Coordinates: the scatterplot keeps each point as [x, y] in [-1, 1] (its "data" space, before
// the camera); the overlay works in CSS pixels of the canvas. A veil's shapes are kept in data
// space, so the veil follows every pan and zoom (it is drawn again in the frame that moves the
// map, from the scatterplot's synchronous "drawing" event).

const VEIL = "rgba(255, 255, 255, 0.72)"; // over the points outside a lasso: faded, still seen
const CLICK_RADIUS_PX = 6; // a click picks the nearest point this close to the mouse

// data space <-> the canvas' CSS pixels, for the scatterplot's camera now (regl-scatterplot's
// projection(1 / view aspect) x camera view x model(data aspect), as its getScreenPosition)
function cameraTransform(api, canvas) {
  const rect = canvas.getBoundingClientRect();
  const w = rect.width || 1;
  const h = rect.height || 1;
  const v = api.get("cameraView");
  const a = api.get("aspectRatio") || 1;
  const va = w / h;
  // clip = [m00 m01; m10 m11] [x y] + [t0 t1]
  const m00 = (v[0] * a) / va;
  const m01 = v[4] / va;
  const t0 = v[12] / va;
  const m10 = v[1] * a;
  const m11 = v[5];
  const t1 = v[13];
  const det = m00 * m11 - m01 * m10 || 1e-12;
  return {
    w,
    h,
    toPx: (x, y) => [
      ((m00 * x + m01 * y + t0 + 1) * w) / 2,
      ((1 - (m10 * x + m11 * y + t1)) * h) / 2,
    ],
    toData: (px, py) => {
      const cx = (2 * px) / w - 1 - t0;
      const cy = 1 - (2 * py) / h - t1;
      return [(m11 * cx - m01 * cy) / det, (m00 * cy - m10 * cx) / det];
    },
    // pixels per data unit (the camera scales both axes alike)
    scale: (Math.hypot(m10, m11) * h) / 2,
  };
}

// the ids of the points whose pixel position (px, py) passes `inside`, among those in the
// pixel box [x0, x1] x [y0, y1]; ascending. One pass over the points (the scatterplot's spatial
// index is not reachable from outside): a million take a few milliseconds.
function pointsIn(api, cam, box, inside) {
  const [x0, y0, x1, y1] = box;
  const corners = [cam.toData(x0, y0), cam.toData(x1, y0), cam.toData(x0, y1), cam.toData(x1, y1)];
  const xs = corners.map((c) => c[0]);
  const ys = corners.map((c) => c[1]);
  const [xMin, xMax, yMin, yMax] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const points = api.get("points");
  const filtered = api.get("isPointsFiltered") ? new Set(api.get("filteredPoints")) : null;
  const out = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const x = p[0];
    const y = p[1];
    if (x < xMin || x > xMax || y < yMin || y > yMax) continue;
    if (filtered && !filtered.has(i)) continue;
    const [px, py] = cam.toPx(x, y);
    if (inside(px, py)) out.push(i);
  }
  return Uint32Array.from(out);
}

function insidePolygon(poly) {
  // even-odd rule, the polygon closed by its last and first vertex
  const n = poly.length;
  return (x, y) => {
    let inside = false;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const [xi, yi] = poly[i];
      const [xj, yj] = poly[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  };
}

function nearStroke(path, radius) {
  const r2 = radius * radius;
  return (x, y) => {
    if (path.length === 1) return (x - path[0][0]) ** 2 + (y - path[0][1]) ** 2 <= r2;
    for (let i = 1; i < path.length; i++) {
      const [ax, ay] = path[i - 1];
      const [bx, by] = path[i];
      const dx = bx - ax;
      const dy = by - ay;
      const len2 = dx * dx + dy * dy;
      const t = len2 ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2)) : 0;
      if ((x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= r2) return true;
    }
    return false;
  };
}

function bounds(path, pad) {
  const xs = path.map((p) => p[0]);
  const ys = path.map((p) => p[1]);
  return [Math.min(...xs) - pad, Math.min(...ys) - pad, Math.max(...xs) + pad, Math.max(...ys) + pad];
}

function rectangle([x0, y0], [x1, y1]) {
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ];
}

// a selection as jupyter-scatter's widget keeps it: uint32 indices in a DataView
function indicesOf(value) {
  if (!value) return new Uint32Array(0);
  if (value.view && value.view.buffer) {
    const { buffer, byteOffset, byteLength } = value.view;
    return new Uint32Array(buffer, byteOffset, byteLength / 4);
  }
  return Uint32Array.from(value);
}

function serialised(indices) {
  return { view: new DataView(indices.buffer, indices.byteOffset, indices.byteLength), dtype: "uint32", shape: [indices.length] };
}

function combine(current, picked, mode, n) {
  if (mode === "replace") return picked;
  const mask = new Uint8Array(n);
  for (const i of current) mask[i] = 1;
  for (const i of picked) mask[i] = mode === "merge" ? 1 : 0;
  let count = 0;
  for (let i = 0; i < n; i++) count += mask[i];
  const out = new Uint32Array(count);
  for (let i = 0, k = 0; i < n; i++) if (mask[i]) out[k++] = i;
  return out;
}

function sameIndices(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function rgba(colour, alpha) {
  const c = Array.isArray(colour) ? colour : [0, 0, 0, 1];
  const [r, g, b] = c.map((x) => Math.round(255 * x));
  return `rgba(${r}, ${g}, ${b}, ${alpha ?? c[3] ?? 1})`;
}

// The lasso of one view: `api` (its regl-scatterplot), `scatter` (jupyter-scatter's widget model,
// shared by every view of the widget), `onSelect()` after each selection it made, `onGone()`
// once the scatterplot is destroyed (jupyter-scatter drew its view anew: the lasso has detached
// itself). Returns {owns(value), clear(), detach()}.
function mapLasso(api, scatter, onSelect, onGone) {
  const canvas = api.get("canvas");
  const host = canvas.parentElement;
  const overlay = document.createElement("canvas");
  overlay.className = "wb-map-lasso";
  Object.assign(overlay.style, { position: "absolute", pointerEvents: "none" });
  host.insertBefore(overlay, canvas.nextSibling);

  let drag = null; // the lasso being drawn: {type, path (px), brush (px)}
  let veil = null; // {value (the widget's selection it shows), indices, shapes (data space)}
  let lastView = "";
  let swallowClick = false;

  const actionKey = (event, action) => {
    const key = (api.get("actionKeyMap") || {})[action];
    return (
      (key === "alt" && event.altKey) ||
      ((key === "cmd" || key === "meta") && event.metaKey) ||
      (key === "ctrl" && event.ctrlKey) ||
      (key === "shift" && event.shiftKey)
    );
  };
  const modeOf = (event) =>
    actionKey(event, "merge") ? "merge" : actionKey(event, "remove") ? "remove" : "replace";

  const place = () => {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (overlay.width !== Math.round(w * dpr) || overlay.height !== Math.round(h * dpr)) {
      overlay.width = Math.round(w * dpr);
      overlay.height = Math.round(h * dpr);
    }
    Object.assign(overlay.style, {
      left: `${canvas.offsetLeft}px`,
      top: `${canvas.offsetTop}px`,
      width: `${w}px`,
      height: `${h}px`,
    });
  };

  const trace = (ctx, cam, shape) => {
    ctx.beginPath();
    shape.points.forEach(([x, y], i) => {
      const [px, py] = cam.toPx(x, y);
      if (i) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
    });
    if (shape.kind === "polygon") ctx.closePath();
  };

  const paint = () => {
    place();
    const ctx = overlay.getContext("2d");
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    const cam = cameraTransform(api, canvas);
    const lassoColour = api.get("lassoColor");
    if (veil) {
      ctx.globalCompositeOperation = "source-over";
      ctx.fillStyle = VEIL;
      ctx.fillRect(0, 0, cam.w, cam.h);
      for (const shape of veil.shapes) {
        // cut the shape out of the veil, then (to take away) lay the veil in it again
        ctx.globalCompositeOperation = "destination-out";
        ctx.fillStyle = ctx.strokeStyle = "#000"; // opaque: cuts the veil away whole
        trace(ctx, cam, shape);
        ctx.lineCap = ctx.lineJoin = "round";
        if (shape.kind === "polygon") ctx.fill();
        else {
          ctx.lineWidth = shape.width * cam.scale;
          ctx.stroke();
        }
        if (shape.remove) {
          ctx.globalCompositeOperation = "source-over";
          ctx.fillStyle = ctx.strokeStyle = VEIL;
          if (shape.kind === "polygon") ctx.fill();
          else ctx.stroke();
        }
      }
      ctx.globalCompositeOperation = "source-over";
      ctx.strokeStyle = rgba(lassoColour, 0.8);
      ctx.lineWidth = 1;
      for (const shape of veil.shapes) {
        if (shape.kind !== "polygon" || shape.remove) continue;
        trace(ctx, cam, shape);
        ctx.stroke();
      }
    }
    if (drag && drag.path.length > 1) {
      ctx.globalCompositeOperation = "source-over";
      ctx.strokeStyle = rgba(lassoColour);
      ctx.fillStyle = rgba(lassoColour, 0.15);
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      const path = drag.type === "rectangle" ? rectangle(drag.path[0], drag.path.at(-1)) : drag.path;
      path.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (drag.type === "brush") {
        ctx.strokeStyle = rgba(lassoColour, 0.25);
        ctx.lineWidth = drag.brush;
        ctx.stroke();
      } else {
        ctx.closePath();
        ctx.fill();
        ctx.lineWidth = api.get("lassoLineWidth") || 2;
        ctx.stroke();
      }
    }
  };
  let painting = 0;
  const paintSoon = () => {
    if (!painting) painting = requestAnimationFrame(() => ((painting = 0), paint()));
  };

  const select = (indices, shape, mode) => {
    const n = api.get("points").length;
    const current = indicesOf(scatter.get("selection"));
    const result = combine(current, indices, mode, n);
    const value = serialised(result);
    // a veil shows the lasso's selection when it is built of lassos only
    const shapes = mode === "replace" ? [] : veil && veil.value === scatter.get("selection") ? veil.shapes : null;
    // before the model changes: jupyter-scatter hands the change to the scatterplot at once
    veil = shape && shapes && result.length ? { value, indices: result, shapes: [...shapes, shape] } : null;
    scatter.set("selection", value);
    // the model keeps its value when the indices are the same (no change, nothing sent)
    if (veil) veil.value = scatter.get("selection");
    if (shape && shape.kind !== "polygon") scatter.set("lasso_selection_polygon", null);
    if (shape && shape.kind === "polygon") {
      const xs = api.get("xScale");
      const ys = api.get("yScale");
      const cam = cameraTransform(api, canvas);
      if (xs && ys) {
        const flat = new Float32Array(
          shape.points.flatMap(([x, y]) => {
            const [px, py] = cam.toPx(x, y);
            return [xs.invert(px), ys.invert(py)];
          }),
        );
        scatter.set("lasso_selection_polygon", {
          view: new DataView(flat.buffer),
          dtype: "float32",
          shape: [shape.points.length, 2],
        });
      }
    }
    scatter.save_changes();
    paint();
    onSelect();
  };

  const pick = (x, y, mode) => {
    const cam = cameraTransform(api, canvas);
    const r = CLICK_RADIUS_PX;
    const near = pointsIn(api, cam, [x - r, y - r, x + r, y + r], () => true);
    const points = api.get("points");
    let best = -1;
    let bestD = r * r;
    for (const i of near) {
      const [px, py] = cam.toPx(points[i][0], points[i][1]);
      const d = (px - x) ** 2 + (py - y) ** 2;
      if (d <= bestD) [best, bestD] = [i, d];
    }
    if (best >= 0) select(Uint32Array.of(best), null, mode);
  };

  const finish = (event) => {
    const cam = cameraTransform(api, canvas);
    const { type, path, brush } = drag;
    const mode = modeOf(event);
    const moved = Math.hypot(path.at(-1)[0] - path[0][0], path.at(-1)[1] - path[0][1]);
    const far = path.some(([x, y]) => Math.hypot(x - path[0][0], y - path[0][1]) >= 3);
    if (!far || (type === "rectangle" && moved < 3)) {
      pick(path[0][0], path[0][1], mode);
      return;
    }
    let shape;
    let indices;
    if (type === "brush") {
      const r = brush / 2;
      indices = pointsIn(api, cam, bounds(path, r), nearStroke(path, r));
      shape = { kind: "stroke", width: brush / cam.scale };
      shape.points = path.map(([x, y]) => cam.toData(x, y));
    } else {
      const poly = type === "rectangle" ? rectangle(path[0], path.at(-1)) : path;
      if (poly.length < 3) return;
      indices = pointsIn(api, cam, bounds(poly, 0), insidePolygon(poly));
      shape = { kind: "polygon", points: poly.map(([x, y]) => cam.toData(x, y)) };
    }
    shape.remove = mode === "remove";
    select(indices, shape, mode);
  };

  const position = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  };
  const onMove = (event) => {
    if (!drag) return;
    // the scatterplot would hover (a frame of all points) under a lasso being drawn
    event.stopPropagation();
    const p = position(event);
    const last = drag.path.at(-1);
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 2) drag.path.push(p);
    paintSoon();
  };
  const onUp = (event) => {
    window.removeEventListener("mousemove", onMove, true);
    window.removeEventListener("mouseup", onUp, true);
    if (!drag) return;
    swallowClick = true; // the click that follows is this lasso's, not a click on a point
    setTimeout(() => (swallowClick = false), 0);
    try {
      finish(event);
    } finally {
      drag = null;
      paintSoon();
    }
  };
  const onDown = (event) => {
    if (event.button !== 0 || !api.get("isPointsDrawn")) return;
    if (scatter.get("mouse_mode") !== "lasso" && !actionKey(event, "lasso")) return;
    // the scatterplot and its camera never see this press: no lasso of theirs, no pan
    event.stopPropagation();
    event.preventDefault();
    drag = {
      type: api.get("lassoType") || "freeform",
      brush: api.get("lassoBrushSize") || 24,
      path: [position(event)],
    };
    window.addEventListener("mousemove", onMove, true);
    window.addEventListener("mouseup", onUp, true);
  };
  const clearSelection = () => {
    select(new Uint32Array(0), null, "replace");
  };
  const onClick = (event) => {
    if (swallowClick) {
      event.stopPropagation();
      swallowClick = false;
      return;
    }
    // the scatterplot adds a click to its own selection, which holds nothing while a veil
    // shows a lasso's: to add or take away, this view picks the point itself
    const mode = modeOf(event);
    if (veil && mode !== "replace") {
      event.stopPropagation();
      pick(...position(event), mode);
    }
  };
  const onDblClick = () => {
    if (veil && api.get("deselectOnDblClick") !== false) clearSelection();
  };
  const onKeyUp = (event) => {
    if (event.key === "Escape" && veil && api.get("deselectOnEscape") !== false) clearSelection();
  };
  host.addEventListener("mousedown", onDown, true);
  host.addEventListener("click", onClick, true);
  host.addEventListener("dblclick", onDblClick, true);
  window.addEventListener("keyup", onKeyUp);

  // jupyter-scatter hands every change of the widget's selection to the scatterplot: the
  // lasso's own is shown by the veil, not drawn again (a stale selection of the scatterplot's
  // goes).
  const select0 = api.select;
  api.select = (points, options) => {
    if (veil && sameIndices(Uint32Array.from(points), veil.indices)) {
      if (api.get("selectedPoints").length) api.deselect({ preventEvent: true });
      return;
    }
    return select0(points, options);
  };
  // pans and zooms: the veil moves in the frame that moves the map
  const drawing = api.subscribe("drawing", () => {
    if (!veil) return;
    const view = String(api.get("cameraView"));
    if (view !== lastView) {
      lastView = view;
      paint();
    }
  });
  const resized = new ResizeObserver(() => paintSoon());
  resized.observe(canvas);
  paint();

  let detached = false;
  const detach = () => {
    if (detached) return;
    detached = true;
    cancelAnimationFrame(painting);
    host.removeEventListener("mousedown", onDown, true);
    host.removeEventListener("click", onClick, true);
    host.removeEventListener("dblclick", onDblClick, true);
    window.removeEventListener("keyup", onKeyUp);
    window.removeEventListener("mousemove", onMove, true);
    window.removeEventListener("mouseup", onUp, true);
    resized.disconnect();
    api.unsubscribe(drawing);
    api.select = select0;
    overlay.remove();
  };
  // a destroyed scatterplot has no camera: nothing more is painted or picked over it
  api.subscribe("destroy", () => {
    detach();
    onGone();
  }, 1);

  return {
    owns: (value) => veil !== null && value === veil.value,
    clear: () => {
      if (veil) {
        veil = null;
        paint();
      }
    },
    detach,
  };
}
