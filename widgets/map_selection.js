// The embedding map's selection look, applied in the browser: while points are selected, every
// other point turns grey (and fades a little more when the selection is large), in the same
// frame that draws the selection. The kernel sends neither the grey palette nor anything else
// after a lasso: at a million points one frame of the map costs half a second in a
// software-rendered browser. For the same reason every setting of the scatterplot (from
// jupyter-scatter or from here) is drawn in the one frame that shows it (drawOnce below).
//
// One of these sits beside each view of jupyter-scatter's widget (`scatter`, a widget reference)
// and finds that view's regl-scatterplot instance in the row they share (jupyter-scatter keeps it
// as `.api` on its container). The widget's `color` trait is always the colouring's own palette
// (the selected points are drawn with it); the grey palette, of the same length, replaces it in
// the scatterplot whenever the widget's selection or colours change, in each view on its own.
// A lasso drawn in this view (map_lasso.js, which travels in this module) shows its own
// selection with a veil over the rest instead: no palette is set, none of the N points is drawn
// again for it. Nothing else is drawn here.

function selectedCount(value) {
  if (!value) return 0;
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return value.length;
  if (Array.isArray(value.shape)) return value.shape[0] || 0; // {view, dtype, shape}
  if (value.view && value.view.byteLength !== undefined) return value.view.byteLength / 4;
  return 0;
}

// regl-scatterplot's set() asks for one more frame on the animation frame after the next (it
// redraws there): every setting jupyter-scatter or this module makes cost a second frame of all
// the points after the one that shows it. The scatterplot's set() is wrapped so that this
// request runs at once: the frame that shows a change is the only one. A change of the
// canvas' size keeps the extra frame (the page lays itself out first).
function drawOnce(api) {
  if (api.wbDrawOnce) return;
  const set = api.set;
  api.set = (props = {}) => {
    if (!props || props.width !== undefined || props.height !== undefined) return set(props);
    const raf = window.requestAnimationFrame;
    window.requestAnimationFrame = (callback) => {
      queueMicrotask(() => callback(performance.now()));
      return 0;
    };
    try {
      return set(props);
    } finally {
      window.requestAnimationFrame = raf;
    }
  };
  api.wbDrawOnce = true;
}

function findScatterplot(row) {
  for (const div of row.querySelectorAll("div")) {
    const api = div.api;
    if (api && typeof api.set === "function" && typeof api.subscribe === "function") {
      if (!api.get("isDestroyed")) return api;
    }
  }
  return null;
}

export default {
  initialize({ model }) {
    rejoinIfDropped(model); // widgets/rejoin.js
  },
  async render({ model, el }) {
    el.style.display = "none";
    el.classList.add("wb-map-selection-look");
    const ref = String(model.get("scatter") || "");
    const scatter = await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""));
    let api = null;
    let lasso = null; // this view's lasso (map_lasso.js)
    let stopped = false;
    let frame = 0;
    let shownGrey = false;
    const apply = () => {
      if (stopped || !api) return;
      const value = scatter.get("selection");
      // a lasso of this view shows its selection with its veil, the points keep their colours
      const veiled = lasso !== null && lasso.owns(value);
      if (!veiled && lasso) lasso.clear();
      const n = selectedCount(value);
      const grey = n > 0 && !veiled;
      // nothing to set (no frame of the N points) while neither the grey nor a restore is due:
      // jupyter-scatter sets the colouring's own palette itself
      if (grey || shownGrey) {
        const own = scatter.get("color");
        const many = Array.isArray(own) && own.length > 0 && Array.isArray(own[0]);
        const others = model.get("grey");
        const palette = grey ? (many ? own.map(() => others) : others) : own;
        api.set({
          pointColor: palette,
          opacityInactiveScale:
            n > model.get("large") ? model.get("fade_large") : model.get("fade_small"),
        });
      }
      shownGrey = grey;
      el.dataset.selected = String(n);
      el.dataset.grey = String(grey);
      el.dataset.veil = String(veiled);
    };
    // After every other handler of the same change (jupyter-scatter's own sets the normal
    // palette back on a colour change), before the next frame.
    const later = () => queueMicrotask(apply);
    // jupyter-scatter creates its scatterplot after its view is attached: look on each frame.
    const find = () => {
      if (stopped) return;
      const row = el.parentElement;
      api = row ? findScatterplot(row) : null;
      if (api) {
        drawOnce(api);
        lasso = mapLasso(api, scatter, apply, () => {
          // jupyter-scatter drew its view anew: link to the new scatterplot when it is there
          api = lasso = null;
          shownGrey = false;
          el.dataset.linked = "false";
          frame = requestAnimationFrame(find);
        });
        el.dataset.linked = "true";
        apply();
      } else {
        frame = requestAnimationFrame(find);
      }
    };
    const events = "change:selection change:color";
    scatter.on(events, later);
    model.on("change:grey", later);
    model.on("change:large", later);
    model.on("change:fade_large", later);
    model.on("change:fade_small", later);
    find();
    return () => {
      stopped = true;
      cancelAnimationFrame(frame);
      if (lasso) lasso.detach();
      scatter.off(events, later);
    };
  },
};
